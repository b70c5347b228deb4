#!/usr/bin/env python3
"""scripts/bench_sink.py PORT DELAY_MS: an asyncio HTTP/1.1 destination for scripts/bench
that answers every request with 200 after DELAY_MS, on keep-alive connections, without a
thread per request (so 1,000 requests can wait at once). Prints "ready" when listening."""
import asyncio
import sys

PORT = int(sys.argv[1])
DELAY = int(sys.argv[2]) / 1000.0
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(DELAY)
            writer.write(REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", PORT, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())

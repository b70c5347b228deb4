"""Hostile input: the ingress never crashes and never queues half a job;
each bad request gets a clear 4xx (JSON) or a closed connection, and others are served
meanwhile."""

import json
import socket
import threading
import time

from harness import check, expect_error, meta


def _raw(port, data, timeout=10, read=True):
    """Send raw bytes; return (status or None, body bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close before reading everything: that is allowed
        if not read:
            return None, b"", False
        buf = b""
        closed = False
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                if length is not None and len(body) >= length:
                    break
        status = None
        if buf.startswith(b"HTTP/1."):
            status = int(buf.split(b" ", 2)[1])
        return status, buf.partition(b"\r\n\r\n")[2], closed
    finally:
        s.close()


def _clear_4xx_or_closed(status, body, closed, what):
    if status is None:
        check(closed, "%s: neither an answer nor a closed connection" % what)
        return
    check(400 <= status < 500, "%s: status %r" % (what, status))
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    check(isinstance(j, dict) and isinstance(j.get("error"), str),
          "%s: %d without a JSON error: %r" % (what, status, body[:200]))


def _alive(env, b):
    r = env.hook(b, body=b'{"ok":1}')
    check(r.status == 202, "the ingress stopped serving: %r" % r)
    return r.json()["event_id"]


@meta(est=8, timeout=90)
def test_bad_bodies_and_http(env):
    env.start_ingress({"HOOKBRIDGE_MAX_BODY": "1048576"})
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", payload={"a": "$payload.a"})
    plain = env.create_bridge(outbound_url="http://127.0.0.1:9/y")
    port = env.public_port
    path = "/hooks/" + b["endpoint"]
    good = [_alive(env, b)]

    # bodies
    for body, what in ((b'{"a":', "truncated json"), (b'{"a":1} tail', "trailing garbage"),
                       (b'{"a":"\xff\xfe"}', "invalid utf-8"),
                       (b'{"a":"\xed\xa0\x80"}', "utf-8 surrogate"),
                       (b"[" * 65 + b"]" * 65, "nesting 65"),
                       (b'{"a":"x\x00y"}', "nul byte")):
        j = expect_error(env.hook(b, body=body), 400, "invalid_json", what)
        check(j.get("message"), "%s: no message" % what)
    r = env.hook(b, body=b"[" * 64 + b"]" * 64)
    check(r.status == 202, "nesting 64 refused: %r" % r)
    good.append(r.json()["event_id"])
    # a body that says it is JSON must be JSON even when the bridge only forwards it
    expect_error(env.hook(plain, body=b"{nope"), 400, "invalid_json")
    r = env.hook(plain, body=b"{nope", content_type="text/plain")
    check(r.status == 202, "a text body was refused: %r" % r)
    good.append(r.json()["event_id"])

    # 10 MB body: a JSON 413 or a closed connection, never a crash
    big = b"x" * (10 * 1024 * 1024)
    status, body, closed = _raw(port, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                b"text/plain\r\nContent-Length: %d\r\n\r\n" % (path.encode(),
                                                                               len(big)) + big)
    _clear_4xx_or_closed(status, body, closed, "10 MB body")
    check(status in (None, 413), "10 MB body: status %r" % status)
    # chunked body over the limit
    chunk = b"%x\r\n%s\r\n" % (512 * 1024, b"y" * 512 * 1024)
    status, body, closed = _raw(port, b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                b"chunked\r\n\r\n" % path.encode() + chunk * 3 + b"0\r\n\r\n")
    _clear_4xx_or_closed(status, body, closed, "chunked 1.5 MB body")

    # headers
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    status, body, closed = _raw(port, b"POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 2\r\n"
                                b"\r\n{}" % (path.encode(), many))
    _clear_4xx_or_closed(status, body, closed, "1,000 headers")
    long_line = b"X-Long: " + b"a" * (64 * 1024) + b"\r\n"
    status, body, closed = _raw(port, b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(),
                                                                               long_line))
    _clear_4xx_or_closed(status, body, closed, "64 KB header line")
    # request lines of garbage
    status, body, closed = _raw(port, b"GET / HTTP/9.9\r\n\r\n", timeout=5)
    check(status == 505 or closed, "an unknown HTTP version: %r" % status)
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
                 b"GARBAGE\r\n\r\n", b"GET\r\n\r\n",
                 b"POST /hooks/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST /hooks/x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
                 b"\r\n\r\n0\r\n\r\n", b"G" * 70000):
        status, body, closed = _raw(port, junk, timeout=5)
        _clear_4xx_or_closed(status, body, closed, "garbage %r" % junk[:30])
    good.append(_alive(env, b))
    # nothing half-queued: exactly the accepted requests are in Redis
    ready = env.redis.client("LLEN", "hb:queue:ready")
    check(ready == len(good), "ready holds %d jobs, accepted %d" % (ready, len(good)))
    jobs = env.redis.client("KEYS", "hb:job:*") or []
    check(len(jobs) == len(good), "%d job hashes for %d accepted" % (len(jobs), len(good)))
    check(env.ingress.alive(), "the ingress died")


@meta(est=15, timeout=90)
def test_slow_and_idle_clients(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    port = env.public_port
    # slowloris: one byte a second; a timeout must close it
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    req = b"POST /hooks/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" % b["endpoint"].encode()
    t0 = time.time()
    closed_after = None
    for i in range(40):
        try:
            s.sendall(req[i % len(req):i % len(req) + 1])
        except OSError:
            closed_after = time.time() - t0
            break
        # meanwhile the ingress serves others
        if i == 2:
            check(env.hook(b).status == 202, "not served while a slow client trickles")
        s.settimeout(1.0)
        try:
            data = s.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                closed_after = time.time() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed_after = time.time() - t0
            break
    s.close()
    check(closed_after is not None, "a client sending a byte a second was never cut off")
    env.note("slow client cut off after %.1f s" % closed_after)
    check(closed_after < 35, "slow client held on for %.1f s" % closed_after)

    # thousands of idle connections: the ingress keeps serving
    idle = []
    try:
        for _ in range(2000):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            idle.append(c)
        time.sleep(0.5)
        t1 = time.time()
        ok = 0
        for _ in range(20):
            if env.hook(b, timeout=10).status == 202:
                ok += 1
        check(ok == 20, "only %d of 20 requests answered beside 2,000 idle connections" % ok)
        env.note("20 requests beside 2,000 idle connections took %.2f s" % (time.time() - t1))
    finally:
        for c in idle:
            c.close()
    check(env.ingress.alive(), "the ingress died")
    check(env.hook(b).status == 202, "not serving after the idle connections went away")


@meta(est=4)
def test_many_concurrent_bad_and_good(env):
    """Bad requests from many threads at once beside good ones: every good one is queued,
    no bad one is, the ingress stays up."""
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", schema={"type": "object"})
    goods, errors = [], []

    def good():
        for _ in range(20):
            r = env.hook(b, body=b'{"k":1}')
            if r.status == 202:
                goods.append(r.json()["event_id"])
            else:
                errors.append(r)

    def bad():
        for i in range(20):
            body = [b"[1]", b"{", b"\xff", b"[" * 100 + b"]" * 100][i % 4]
            r = env.hook(b, body=body)
            if r.status != 400:
                errors.append(r)

    ts = [threading.Thread(target=f) for f in (good, bad, good, bad, bad)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, "unexpected answers: %r" % errors[:3])
    check(env.redis.client("LLEN", "hb:queue:ready") == len(goods) == 40, "queued %r"
          % env.redis.client("LLEN", "hb:queue:ready"))

"""A destination for the integration tests: a threaded HTTP/1.1 server that records every
request and answers as the test tells it to.

    sink = Sink()                       # listens on 127.0.0.1, a free port
    sink.respond(always(200))           # the default
    sink.respond(sequence([500, 500, 200]))          # per event id, by attempt
    sink.respond(always(200, delay=0.2))             # sleep 200 ms, then 200
    sink.respond(sequence([Reply(429, headers={"Retry-After": "3"}), 200]))
    sink.respond(always(CLOSE))         # read the request, close without answering
    sink.url("/path")                   # http://127.0.0.1:PORT/path
    sink.requests / sink.by_event(id) / sink.counts() / sink.max_inflight

Standard library only. Keep-alive is supported (protocol HTTP/1.1, Content-Length on
every answer), as are chunked request bodies and Expect: 100-continue. Many connections
at once: one thread per connection and a deep listen backlog.

Run it on its own to poke at it by hand: python3 sink.py [PORT] [MODE...]
"""

import collections
import http.server
import socket
import socketserver
import sys
import threading
import time


class Reply:
    """How to answer one request. delay is in seconds; close=True answers nothing."""

    def __init__(self, status=200, headers=None, body=b"ok", delay=0.0, close=False):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else body
        self.delay = delay
        self.close = close

    def __repr__(self):
        if self.close:
            return "Reply(CLOSE)"
        return "Reply(%d, delay=%s)" % (self.status, self.delay)


CLOSE = Reply(close=True)


def _as_reply(r):
    if isinstance(r, Reply):
        return r
    if isinstance(r, int):
        return Reply(r)
    raise TypeError("a reply is a Reply or an int status, not %r" % (r,))


def always(reply=200, delay=None):
    """Answer every request the same way."""
    r = _as_reply(reply)
    if delay is not None:
        r = Reply(r.status, r.headers, r.body, delay, r.close)
    return lambda req: r


def sequence(replies, key="event"):
    """Answer the n-th request of one event id (key="event") or of the whole sink
    (key="global") with replies[n]; the last one repeats."""
    rs = [_as_reply(r) for r in replies]
    if not rs:
        raise ValueError("empty sequence")

    def responder(req):
        n = req.nth_for_event if key == "event" else req.index
        return rs[min(n, len(rs) - 1)]

    return responder


class Request:
    """One request as the sink saw it."""

    def __init__(self, index, method, path, headers, body, t_start):
        self.index = index  # 0-based over the whole sink
        self.method = method
        self.path = path
        self.header_list = headers  # [(name, value), ...] as received
        self.headers = {k.lower(): v for k, v in headers}  # last one wins
        self.body = body
        self.t_start = t_start  # time.time() when the request (headers + body) was read
        self.t_end = None  # when the answer was written (None: never answered)
        self.answered = None  # the Reply sent, or None
        self.error = None  # exception while answering (client gone), if any
        self.event_id = self.headers.get("x-hookbridge-event-id")
        self.attempt = self.headers.get("x-hookbridge-attempt")
        self.nth_for_event = 0  # filled in by the sink

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def completed(self):
        """Answered in full with a 2xx (what the worker should count as delivered)."""
        return (self.answered is not None and not self.answered.close and self.error is None
                and 200 <= self.answered.status < 300)

    def __repr__(self):
        return "<%s %s event=%s attempt=%s>" % (self.method, self.path, self.event_id,
                                                self.attempt)


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients (workers) that time out or get killed close connections under us: quiet.
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hbsink/1"
    timeout = 120  # idle keep-alive connections go away eventually

    def log_message(self, *args):
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        sink = self.server.sink
        body = self._read_body()
        req = sink._record(self.command, self.path, list(self.headers.items()), body)
        try:
            try:
                reply = _as_reply(sink._responder(req))
            except Exception as e:  # a bad responder must not hang the worker
                reply = Reply(599, body=("sink responder failed: %r" % (e,)).encode())
            if reply.delay:
                sink._release.wait(reply.delay)
            if reply.close:
                self.close_connection = True
                req.answered = reply
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            try:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
                self.wfile.flush()
                req.answered = reply
            except OSError as e:
                req.error = e
                self.close_connection = True
        finally:
            req.t_end = time.time()
            sink._done(req)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Sink:
    def __init__(self, host="127.0.0.1", port=0, responder=None):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._release = threading.Event()
        self.requests = []
        self._per_event = collections.defaultdict(list)
        self.inflight = 0
        self.max_inflight = 0
        self._inflight_reqs = set()
        self._responder = responder or always(200)
        self.server = _Server((host, port), _Handler)
        self.server.sink = self
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    # -- configuration --------------------------------------------------------------------
    def respond(self, responder):
        """Set how to answer from now on: always(...), sequence(...), or any
        function(Request) -> Reply | int."""
        self._responder = responder

    def url(self, path="/"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    # -- recording ------------------------------------------------------------------------
    def _record(self, method, path, headers, body):
        with self._cond:
            req = Request(len(self.requests), method, path, headers, body, time.time())
            if req.event_id is not None:
                lst = self._per_event[req.event_id]
                req.nth_for_event = len(lst)
                lst.append(req)
            self.requests.append(req)
            self.inflight += 1
            self._inflight_reqs.add(req)
            if self.inflight > self.max_inflight:
                self.max_inflight = self.inflight
            self._cond.notify_all()
            return req

    def _done(self, req):
        with self._cond:
            self.inflight -= 1
            self._inflight_reqs.discard(req)
            self._cond.notify_all()

    def snapshot(self):
        with self._lock:
            return list(self.requests)

    def by_event(self, event_id):
        with self._lock:
            return list(self._per_event.get(event_id, ()))

    def counts(self):
        """{event id: number of requests seen}"""
        with self._lock:
            return {k: len(v) for k, v in self._per_event.items()}

    def delivered_ids(self):
        """Event ids that got at least one complete 2xx answer."""
        with self._lock:
            return {k for k, v in self._per_event.items() if any(r.completed for r in v)}

    def inflight_requests(self):
        with self._lock:
            return list(self._inflight_reqs)

    def wait_for(self, pred, timeout, what="condition"):
        """Wait until pred(sink) is true; raise AssertionError after timeout seconds."""
        deadline = time.time() + timeout
        while not pred(self):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("sink: timed out after %ss waiting for %s (%d requests "
                                     "seen)" % (timeout, what, len(self.requests)))
            with self._cond:
                self._cond.wait(min(left, 0.1))

    def wait_requests(self, n, timeout=30):
        self.wait_for(lambda s: len(s.requests) >= n, timeout, "%d requests" % n)
        return self.snapshot()

    # -- end --------------------------------------------------------------------------------
    def release(self):
        """Cut every pending and future delay short (used at teardown)."""
        self._responder = always(200)
        self._release.set()

    def stop(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


def _main(argv):
    port = int(argv[1]) if len(argv) > 1 else 0
    mode = argv[2:] or ["200"]
    replies = []
    for m in mode:
        if m == "close":
            replies.append(CLOSE)
        elif m.startswith("sleep"):
            replies.append(Reply(200, delay=int(m[5:]) / 1000.0))
        else:
            replies.append(Reply(int(m)))
    s = Sink(port=port, responder=sequence(replies, key="global"))
    print("sink listening on", s.url(), "answers", replies, flush=True)
    try:
        while True:
            time.sleep(1)
            print("%d requests, %d in flight, max %d" % (len(s.requests), s.inflight,
                                                         s.max_inflight), flush=True)
    except KeyboardInterrupt:
        s.stop()


if __name__ == "__main__":
    _main(sys.argv)

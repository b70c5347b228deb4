"""Outbound delivery by the worker: forwarding, retries, timeouts, Retry-After, delays,
recorded attempts."""

import time

from harness import check, header_get, meta
from sink import CLOSE, Reply, always, sequence


def _setup(env, responder=None, worker_env=None):
    env.start_ingress()
    sink = env.sink(responder)
    env.start_worker(worker_env)
    return sink


@meta(est=5)
def test_delivery_forwards_request(env):
    sink = _setup(env, always(Reply(200, headers={"X-Sink-Reply": "hello"},
                                    body=b"sink says hi")))
    url = sink.url("/dest/path?x=1")
    b = env.create_bridge(outbound_url=url, method="PUT",
                          headers={"X-Static": "static value", "X-Other": "2"})
    body = b'{ "a" : 1,\n  "b": "\xc3\xa9\xe2\x82\xac",\t"c": [1, 2.50, null] }\r\n'
    ctype = "application/json; charset=utf-8"
    t0 = time.time()
    eid = env.send(b, body=body, content_type=ctype, headers={"X-Inbound-Only": "1"})
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
    reqs = sink.by_event(eid)
    check(len(reqs) == 1, "sink saw %d requests for the event, expected 1" % len(reqs))
    q = reqs[0]
    check(q.method == "PUT", "method %r, bridge says PUT" % q.method)
    check(q.path == "/dest/path?x=1", "path %r" % q.path)
    check(q.body == body, "body changed on the way: %r != %r" % (q.body, body))
    check(q.header("Content-Type") == ctype, "Content-Type %r, sent %r"
          % (q.header("Content-Type"), ctype))
    check(q.header("X-Static") == "static value" and q.header("X-Other") == "2",
          "static headers missing: %r" % q.header_list)
    check((q.header("User-Agent") or "").startswith("hookbridge/"), "User-Agent %r"
          % q.header("User-Agent"))
    check(q.header("X-Hookbridge-Event-Id") == eid, "X-Hookbridge-Event-Id %r, expected %s"
          % (q.header("X-Hookbridge-Event-Id"), eid))
    check(q.header("X-Hookbridge-Attempt") == "1", "X-Hookbridge-Attempt %r"
          % q.header("X-Hookbridge-Attempt"))
    check(q.t_start >= t0, "clock")

    check(ev.get("status") == "delivered", "event status %r" % ev.get("status"))
    atts = ev.get("attempts") or []
    check(len(atts) == 1, "attempts: %r" % atts)
    a = atts[0]
    check(a.get("n") == 1, "attempt n %r" % a.get("n"))
    check(a.get("status") == 200, "attempt status %r" % a.get("status"))
    check(a.get("error") is None, "attempt error %r" % a.get("error"))
    check(isinstance(a.get("started_at"), str), "started_at %r" % a.get("started_at"))
    check(isinstance(a.get("duration_ms"), (int, float)) and a["duration_ms"] >= 0,
          "duration_ms %r" % a.get("duration_ms"))
    resp = a.get("response") or {}
    check(header_get(resp.get("headers"), "X-Sink-Reply") == "hello",
          "response headers not recorded: %r" % resp.get("headers"))
    check(resp.get("body") == "sink says hi", "response body %r" % resp.get("body"))
    check(resp.get("truncated") is False, "truncated %r" % resp.get("truncated"))
    out = ev.get("outbound") or {}
    check(out.get("method") == "PUT" and out.get("url") == url, "outbound %r" % out)
    check(ev.get("next_attempt_at") is None, "next_attempt_at %r" % ev.get("next_attempt_at"))

    # a text body and a GET bridge
    b2 = env.create_bridge(outbound_url=sink.url("/get"), method="GET")
    eid2 = env.send(b2, body=b"plain text\nline 2", content_type="text/plain")
    env.wait_event(eid2, {"delivered"}, timeout=30)
    q2 = sink.by_event(eid2)[0]
    check(q2.method == "GET" and q2.path == "/get", "GET bridge: %r" % q2)


@meta(est=5)
def test_delivery_binary_body(env):
    sink = _setup(env)
    b = env.create_bridge(outbound_url=sink.url("/bin"))
    body = bytes(range(256)) * 4 + b"\x00\xff\x00"
    eid = env.send(b, body=body, content_type="application/octet-stream")
    env.wait_event(eid, {"delivered"}, timeout=30)
    q = sink.by_event(eid)[0]
    check(q.body == body, "binary body changed: %d bytes in, %d out, first diff at %s" % (
        len(body), len(q.body),
        next((i for i, (x, y) in enumerate(zip(body, q.body)) if x != y), "end")))
    check(q.header("Content-Type") == "application/octet-stream", "Content-Type %r"
          % q.header("Content-Type"))


@meta(est=6)
def test_delivery_retry_then_success(env):
    sink = _setup(env, sequence([Reply(500, body=b"boom"), 200]))
    b = env.create_bridge(outbound_url=sink.url("/r"), retries=3, retry_delays=[1])
    eid = env.send(b)
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
    reqs = sink.by_event(eid)
    check(len(reqs) == 2, "sink saw %d requests, expected 2" % len(reqs))
    check([r.attempt for r in reqs] == ["1", "2"], "X-Hookbridge-Attempt: %r"
          % [r.attempt for r in reqs])
    gap = reqs[1].t_start - reqs[0].t_start
    check(gap >= 0.9, "retry came %.2fs after the first attempt, retry_delays says 1s" % gap)
    check(ev.get("status") == "delivered", "status %r" % ev.get("status"))
    atts = ev.get("attempts") or []
    check([a.get("status") for a in atts] == [500, 200], "attempt statuses %r"
          % [a.get("status") for a in atts])
    check([a.get("n") for a in atts] == [1, 2], "attempt n %r" % [a.get("n") for a in atts])
    check((atts[0].get("response") or {}).get("body") == "boom", "failed attempt's body %r"
          % atts[0].get("response"))


@meta(est=6)
def test_delivery_retries_exhausted(env):
    sink = _setup(env, always(500))
    b = env.create_bridge(outbound_url=sink.url("/f"), retries=2, retry_delays=[1])
    eid = env.send(b)
    ev = env.wait_event(eid, {"failed", "delivered"}, timeout=30)
    check(ev.get("status") == "failed", "status %r" % ev.get("status"))
    atts = ev.get("attempts") or []
    check(len(atts) == 3, "%d attempts recorded, expected 3 (1 + 2 retries)" % len(atts))
    check(all(a.get("status") == 500 for a in atts), "statuses %r"
          % [a.get("status") for a in atts])
    check(ev.get("next_attempt_at") is None, "failed with a next_attempt_at")
    # no fourth attempt comes later
    time.sleep(2.5)
    reqs = sink.by_event(eid)
    check(len(reqs) == 3, "sink saw %d requests, expected exactly 3" % len(reqs))
    check([r.attempt for r in reqs] == ["1", "2", "3"], "attempt headers %r"
          % [r.attempt for r in reqs])
    check(len(env.event(eid).get("attempts") or []) == 3, "attempts grew after failed")

    # retries 0: one attempt, then failed
    b0 = env.create_bridge(outbound_url=sink.url("/f0"), retries=0)
    eid0 = env.send(b0)
    ev0 = env.wait_event(eid0, {"failed", "delivered"}, timeout=30)
    check(ev0.get("status") == "failed" and len(ev0.get("attempts") or []) == 1,
          "retries 0: %r" % ev0)


@meta(est=6)
def test_delivery_timeout_is_failure(env):
    sink = _setup(env, always(200, delay=2.0))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=1, retry_delays=[1],
                          timeout_ms=500)
    eid = env.send(b)
    ev = env.wait_event(eid, {"failed", "delivered"}, timeout=30)
    check(ev.get("status") == "failed", "status %r (the sink answers after 2s, timeout_ms 500)"
          % ev.get("status"))
    atts = ev.get("attempts") or []
    check(len(atts) == 2, "attempts %d, expected 2" % len(atts))
    for a in atts:
        check(isinstance(a.get("error"), str) and a["error"].strip(),
              "a timed-out attempt has no error string: %r" % a)
        check(a.get("status") in (None, 0), "a timed-out attempt has status %r"
              % a.get("status"))
        d = a.get("duration_ms")
        check(isinstance(d, (int, float)) and 300 <= d < 1900,
              "timed-out attempt duration_ms %r, expected about 500" % d)
    check(len(sink.by_event(eid)) == 2, "sink saw %d requests" % len(sink.by_event(eid)))


@meta(est=6)
def test_delivery_connection_closed_and_redirect(env):
    sink = _setup(env)

    def responder(req):
        if req.path.startswith("/close"):
            return CLOSE if req.nth_for_event == 0 else Reply(200)
        if req.path.startswith("/redir"):
            if req.nth_for_event == 0:
                return Reply(302, headers={"Location": sink.url("/elsewhere")})
            return Reply(200)
        return Reply(201)

    sink.respond(responder)
    bc = env.create_bridge(outbound_url=sink.url("/close"), retries=1, retry_delays=[1])
    br = env.create_bridge(outbound_url=sink.url("/redir"), retries=1, retry_delays=[1])
    e1 = env.send(bc)
    e2 = env.send(br)
    ev1 = env.wait_event(e1, {"delivered", "failed"}, timeout=30)
    ev2 = env.wait_event(e2, {"delivered", "failed"}, timeout=30)
    a1 = ev1.get("attempts") or []
    check(ev1.get("status") == "delivered" and len(a1) == 2,
          "closed connection then 200: status %r, %d attempts" % (ev1.get("status"), len(a1)))
    check(isinstance(a1[0].get("error"), str) and a1[0]["error"].strip(),
          "a closed connection recorded no error: %r" % a1[0])
    a2 = ev2.get("attempts") or []
    check(ev2.get("status") == "delivered" and len(a2) == 2,
          "302 then 200: status %r, %d attempts" % (ev2.get("status"), len(a2)))
    check(a2[0].get("status") == 302, "302 recorded as %r" % a2[0].get("status"))
    check(not any(r.path == "/elsewhere" for r in sink.snapshot()), "a redirect was followed")


@meta(est=8)
def test_delivery_retry_after_honoured(env):
    sink = _setup(env)

    def responder(req):
        status = 429 if req.path == "/429" else 503
        if req.nth_for_event == 0:
            return Reply(status, headers={"Retry-After": "3"})
        return Reply(200)

    sink.respond(responder)
    _check_retry_waited(env, sink, ("/429", "/503"), 2.8, "Retry-After: 3")


def _check_retry_waited(env, sink, paths, min_gap, what):
    """One event per path to a bridge with retry_delays [1], whose first answer (from the
    sink's responder) asks for a longer wait: each is delivered at its second attempt, at
    least min_gap seconds after the first."""
    ids = []
    for path in paths:
        b = env.create_bridge(outbound_url=sink.url(path), retries=3, retry_delays=[1])
        ids.append((path, env.send(b)))
    for path, eid in ids:
        ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
        check(ev.get("status") == "delivered", "%s: status %r" % (path, ev.get("status")))
        reqs = sink.by_event(eid)
        check(len(reqs) == 2, "%s: %d requests" % (path, len(reqs)))
        gap = reqs[1].t_start - reqs[0].t_end
        check(gap >= min_gap, "%s with %s retried after %.2fs (retry_delays [1])"
              % (path, what, gap))


@meta(est=10)
def test_delivery_retry_after_date_forms(env):
    """Retry-After as an HTTP-date in each of RFC 9110's three forms is honoured."""
    sink = _setup(env)
    forms = {
        "/imf": "%a, %d %b %Y %H:%M:%S GMT",
        "/rfc850": "%A, %d-%b-%y %H:%M:%S GMT",
        "/asctime": "%a %b %e %H:%M:%S %Y",
    }

    def responder(req):
        if req.nth_for_event == 0:
            when = time.gmtime(time.time() + 5)
            return Reply(503, headers={"Retry-After": time.strftime(forms[req.path], when)})
        return Reply(200)

    sink.respond(responder)
    _check_retry_waited(env, sink, forms, 3.0, "a Retry-After date 5 s ahead")


@meta(est=6)
def test_delivery_delay_seconds(env):
    sink = _setup(env)
    b = env.create_bridge(outbound_url=sink.url("/later"), delay_seconds=2)
    t0 = time.time()
    r = env.hook(b)
    check(r.status == 202 and r.json().get("status") == "scheduled", "hook: %r" % r)
    eid = r.json()["event_id"]
    ev = env.event(eid)
    check(ev.get("status") == "scheduled", "status right after 202: %r" % ev.get("status"))
    check(ev.get("next_attempt_at") is not None, "scheduled event without next_attempt_at")
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
    check(ev.get("status") == "delivered", "status %r" % ev.get("status"))
    reqs = sink.by_event(eid)
    check(len(reqs) == 1, "%d requests" % len(reqs))
    wait = reqs[0].t_start - t0
    check(wait >= 1.95, "first attempt %.2fs after the hook, delay_seconds is 2" % wait)
    env.note("first attempt %.2fs after the hook (delay_seconds 2)" % wait)


@meta(est=5)
def test_delivery_response_body_truncated(env):
    big = (b"0123456789abcdef" * 8192)[:100 * 1024]  # 100 KiB
    sink = _setup(env, always(Reply(200, body=big)))
    b = env.create_bridge(outbound_url=sink.url("/big"))
    eid = env.send(b)
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
    check(ev.get("status") == "delivered", "status %r" % ev.get("status"))
    resp = (ev.get("attempts") or [{}])[0].get("response") or {}
    check(resp.get("truncated") is True, "truncated %r for a 100 KiB body" % resp.get("truncated"))
    body = resp.get("body")
    check(isinstance(body, str) and 60000 <= len(body) <= 65536,
          "stored body length %r, expected up to 64 KiB" % (len(body) if body else body))
    check(big.decode().startswith(body), "stored body is not a prefix of the response")

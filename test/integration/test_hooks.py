"""ANY /hooks/{endpoint} on the public listener."""

import re
import time

from harness import check, expect_error, http_request, meta

EVT_RE = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")


@meta(est=3)
def test_hook_any_method_queued(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    seen = set()
    for method, body, ctype in (("POST", b'{"a":1}', "application/json"),
                                ("PUT", b'{"b":2}', "application/json"), ("GET", None, None),
                                ("PATCH", b"x=1", "text/plain"), ("DELETE", None, None)):
        t0 = time.time()
        r = env.hook(b, body=body, method=method, query="q=1&r=two", content_type=ctype)
        check(r.status == 202, "%s /hooks: expected 202, got %r" % (method, r))
        j = r.json()
        check(EVT_RE.match(j.get("event_id") or ""), "%s: event_id %r" % (method, j))
        check(j.get("status") == "queued", "%s: status %r, expected queued" % (method, j))
        check(j["event_id"] not in seen, "event id repeats")
        seen.add(j["event_id"])
        # visible at once; no worker runs, so it must still be queued
        ev = env.event(j["event_id"])
        check(ev.get("id") == j["event_id"], "event id: %r" % ev.get("id"))
        check(ev.get("bridge_id") == b["id"], "event bridge_id: %r" % ev.get("bridge_id"))
        check(ev.get("status") == "queued", "%s: event status %r right after 202"
              % (method, ev.get("status")))
        req = ev.get("request") or {}
        check(req.get("method") == method, "event request.method %r, sent %s"
              % (req.get("method"), method))
        check(req.get("path") == "/hooks/" + b["endpoint"], "event request.path %r"
              % req.get("path"))
        check((req.get("query") or {}).get("r") in ("two", ["two"]), "event request.query %r"
              % req.get("query"))
        check(isinstance(ev.get("received_at"), str), "received_at: %r" % ev.get("received_at"))
        check(ev.get("attempts") in ([], None), "attempts before delivery: %r"
              % ev.get("attempts"))
        check(time.time() - t0 < 10, "slow 202")
    n = env.redis.client("LLEN", "hb:queue:ready")
    check(n == 5, "hb:queue:ready holds %r jobs, expected 5" % n)


@meta(est=3)
def test_hook_delay_is_scheduled(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=60)
    r = env.hook(b)
    check(r.status == 202, "hook: %r" % r)
    j = r.json()
    check(j.get("status") == "scheduled", "status %r, expected scheduled" % j)
    ev = env.event(j["event_id"])
    check(ev.get("status") == "scheduled", "event status %r" % ev.get("status"))
    check(env.redis.client("ZCARD", "hb:queue:scheduled") == 1, "not in hb:queue:scheduled")
    check(env.redis.client("LLEN", "hb:queue:ready") == 0, "a delayed job is ready")


@meta(est=3)
def test_hook_unknown_and_inactive(env):
    env.start_ingress()
    for path in ("/hooks/doesnotexist0000000000000000000", "/hooks/", "/hooks",
                 "/hooks/a/b", "/nothing"):
        r = http_request(env.public_port, "POST", path, b"{}",
                         {"Content-Type": "application/json"})
        expect_error(r, 404, "not_found" if path.startswith("/hooks/d") else None,
                     "POST %s" % path)
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    r = env.api("POST", "/api/bridges/%s/deactivate" % b["id"])
    check(r.status == 200, "deactivate: %r" % r)
    for method in ("POST", "GET"):
        r = env.hook(b, method=method)
        expect_error(r, 503, "bridge_inactive", "%s to a deactivated bridge" % method)
        check(r.header("Retry-After") == "60", "Retry-After %r, expected 60"
              % r.header("Retry-After"))
    # created inactive: same
    b2 = env.create_bridge(outbound_url="http://127.0.0.1:9/x", active=False)
    expect_error(env.hook(b2), 503, "bridge_inactive", "created inactive")
    check(env.redis.client("LLEN", "hb:queue:ready") == 0, "refused hooks queued something")
    r = env.api("POST", "/api/bridges/%s/activate" % b["id"])
    check(r.status == 200, "activate: %r" % r)
    env.send(b)
    check(env.redis.client("LLEN", "hb:queue:ready") == 1, "accepted hook not queued")


@meta(est=3)
def test_hook_body_too_large(env):
    env.start_ingress({"HOOKBRIDGE_MAX_BODY": "1024"})
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.send(b, body=b"a" * 1024, content_type="text/plain")
    for size in (1025, 64 * 1024):
        r = env.hook(b, body=b"a" * size, content_type="text/plain")
        expect_error(r, 413, "payload_too_large", "body of %d bytes" % size)
    # unknown endpoint is checked first
    r = env.hook("nosuchendpoint00000000000000", body=b"a" * 2000)
    expect_error(r, 404, "not_found", "oversized body to an unknown endpoint")
    check(env.redis.client("LLEN", "hb:queue:ready") == 1, "413 bodies were queued")
    # the ingress is fine afterwards
    env.send(b, body=b"{}")


@meta(est=12, timeout=90)
def test_hook_redis_down_then_back(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.send(b)
    env.redis.stop()
    # never a 202 without Redis
    for i in range(3):
        r = env.hook(b, body=b'{"while":"down"}')
        expect_error(r, 503, "queue_unavailable", "hook #%d with Redis down" % i)
        check(r.header("Retry-After") == "5", "Retry-After %r, expected 5"
              % r.header("Retry-After"))
    # unknown endpoint still 404 (bridges are in SQLite), and the admin API still answers
    expect_error(env.hook("nosuchendpoint00000000000000"), 404, "not_found",
                 "unknown endpoint with Redis down")
    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.status == 200, "admin API with Redis down: %r" % r)
    deadline = time.time() + 10
    while True:
        r = http_request(env.admin_port, "GET", "/healthz")
        if r.status == 503:
            break
        check(time.time() < deadline, "/healthz with Redis down: %r, expected 503" % r)
        time.sleep(0.1)
    check(env.ingress.alive(), "the ingress died when Redis went away")

    env.redis.start()
    t0 = time.time()
    while True:
        r = env.hook(b, body=b'{"after":"restart"}')
        if r.status == 202:
            break
        expect_error(r, 503, "queue_unavailable", "hook while Redis comes back")
        check(time.time() - t0 < 15, "no 202 within 15s of Redis coming back")
        time.sleep(0.2)
    env.note("202 again %.1fs after Redis restarted" % (time.time() - t0))
    eid = r.json()["event_id"]
    check(env.event(eid).get("status") == "queued", "event after reconnect")
    r = http_request(env.admin_port, "GET", "/healthz")
    check(r.status == 200, "/healthz after Redis is back: %r" % r)
    # the first job survived the restart (AOF), and the 503s queued nothing
    n = env.redis.client("LLEN", "hb:queue:ready")
    check(n == 2, "hb:queue:ready holds %r, expected 2 (one before, one after)" % n)


@meta(est=2)
def test_hook_headers_as_stored(env):
    """Inbound headers in the event: names lower-cased, a repeated header's values joined
    with ", " in order, credentials redacted, quotes and backslashes kept."""
    import json
    import socket
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    body = b'{"a":1}'
    raw = ("POST /hooks/%s HTTP/1.1\r\nHost: x\r\nX-Tag: one\r\nContent-Type: application/json\r\n"
           "x-TAG: two\r\nCookie: sid=secret-cookie\r\nAuthorization: Bearer secret-token\r\n"
           "X-Quote: say \"hi\" \\o/\r\nX-Tag: three\r\nContent-Length: %d\r\n"
           "Connection: close\r\n\r\n" % (b["endpoint"], len(body))).encode() + body
    s = socket.create_connection(("127.0.0.1", env.public_port), timeout=10)
    s.sendall(raw)
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    check(resp.startswith(b"HTTP/1.1 202"), "hook: %r" % resp[:200])
    eid = json.loads(resp.split(b"\r\n\r\n", 1)[1])["event_id"]
    hs = env.event(eid)["request"]["headers"]
    check(hs.get("x-tag") == "one, two, three", "repeated header: %r" % hs)
    check(hs.get("cookie") == "[redacted]" and hs.get("authorization") == "[redacted]",
          "credentials: %r" % hs)
    check(hs.get("x-quote") == 'say "hi" \\o/', "quoted value: %r" % hs.get("x-quote"))
    check(list(hs) == ["host", "x-tag", "content-type", "cookie", "authorization", "x-quote",
                       "content-length", "connection"], "names, once each, in order: %r" % list(hs))
    import os
    if env.store == "sqlite":
        text = b"".join(open(f, "rb").read() for f in (env.db, env.db + "-wal")
                        if os.path.exists(f))
    else:
        text = "\n".join(r[0] for r in env.sql("SELECT data FROM events")).encode()
    check(b"secret-token" not in text and b"secret-cookie" not in text, "a credential is stored")

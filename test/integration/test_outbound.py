"""Outbound requests are what the bridge says, and nothing else (issue 11): framing headers
refused at save, dot-segment values encoded and URLs sent as recorded, proxies from the
environment ignored, rendered requests capped (rendered_too_large), headers whose references
are all missing left out, and an abort while an attempt is on the wire ending the event
aborted with that attempt recorded."""

import json
import time

from harness import check, expect_error, header_get, meta
from sink import Reply, always


RESERVED = ["Content-Length", "content-length", "TRANSFER-ENCODING", "Host", "Connection",
            "Upgrade", "TE", "Trailer", "Keep-Alive", "Expect", "Proxy-Authorization",
            "proxy-connection"]


def _stack(env, responder=None, worker_env=None):
    env.start_ingress()
    sink = env.sink(responder)
    env.start_worker(worker_env)
    return sink


def _wait_job_gone(env, eid, timeout=20):
    """Wait until the worker acknowledged the event's last attempt (its job is deleted)."""
    deadline = time.time() + timeout
    while env.redis.client("EXISTS", "hb:job:" + eid):
        check(time.time() < deadline, "job %s still in redis after %ss" % (eid, timeout))
        time.sleep(0.05)


@meta(est=3)
def test_framing_headers_refused(env):
    env.start_ingress()
    url = "http://127.0.0.1:9/x"
    for name in RESERVED:
        r = env.api("POST", "/api/bridges", {"outbound_url": url, "headers": {name: "5"}})
        j = expect_error(r, 400, what="POST headers %r" % name)
        check(name in j.get("message", "") or name in r.text,
              "the 400 for %r does not name it: %r" % (name, r))
        check("headers" in r.text, "the 400 for %r does not name the field: %r" % (name, r))
    b = env.create_bridge(outbound_url=url, headers={"X-Content-Length": "5", "Hosts": "a"})
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"headers": {"X-A": "1",
                                                                "Content-Length": "5"}})
    expect_error(r, 400, what="PATCH Content-Length")
    check("Content-Length" in r.text, "PATCH 400 does not name the header: %r" % r)
    got = env.api("GET", "/api/bridges/" + b["id"]).json()
    check(got["headers"] == {"X-Content-Length": "5", "Hosts": "a"},
          "a refused PATCH changed the headers: %r" % got["headers"])


@meta(est=4)
def test_url_dot_segments_sent_as_recorded(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/api/v1/customers/$payload.cid/notes"))
    cases = {"..": "/api/v1/customers/%2E%2E/notes", ".": "/api/v1/customers/%2E/notes",
             "a.b": "/api/v1/customers/a.b/notes", "../x": "/api/v1/customers/..%2Fx/notes"}
    ids = {env.send(b, body=json.dumps({"cid": cid})): path for cid, path in cases.items()}
    # Dot-segments the admin wrote go out as written too: the recorded URL is what was sent.
    lit = env.create_bridge(outbound_url=sink.url("/a/./b/../c/$payload.cid"))
    ids[env.send(lit, body='{"cid":"x"}')] = "/a/./b/../c/x"
    for eid, path in ids.items():
        ev = env.wait_event(eid, {"delivered", "failed"})
        check(ev["status"] == "delivered", "%s: %r" % (eid, ev["attempts"]))
        reqs = sink.by_event(eid)
        check(len(reqs) == 1, "%s: %d requests" % (eid, len(reqs)))
        check(reqs[0].path == path, "request line path %r, expected %r" % (reqs[0].path, path))
        check(ev["outbound"]["url"] == sink.url(path),
              "recorded url %r, sent %r" % (ev["outbound"]["url"], reqs[0].path))
    check(not [r for r in sink.requests if r.path.startswith("/api/v1/notes")],
          "a request climbed out of /customers/")


@meta(est=4)
def test_environment_proxy_ignored(env):
    env.start_ingress()
    sink = env.sink()
    proxy = env.sink()
    purl = proxy.url("/")
    env.start_worker({"http_proxy": purl, "HTTP_PROXY": purl, "https_proxy": purl,
                      "HTTPS_PROXY": purl, "all_proxy": purl, "ALL_PROXY": purl,
                      "no_proxy": None, "NO_PROXY": None})
    b = env.create_bridge(outbound_url=sink.url("/direct"))
    eid = env.send(b)
    ev = env.wait_event(eid, {"delivered", "failed"})
    check(ev["status"] == "delivered", "status %r: %r" % (ev["status"], ev["attempts"]))
    check([r.path for r in sink.by_event(eid)] == ["/direct"],
          "destination saw %r" % [r.path for r in sink.requests])
    check(not proxy.requests, "the environment's proxy got %d requests: %r"
          % (len(proxy.requests), proxy.requests[:3]))


@meta(timeout=120, est=12)
def test_rendered_too_large(env):
    sink = _stack(env)
    # ~1 MB inbound body, under the ingress's default --max-body (1 MiB)
    big = json.dumps({"x": "abcdefgh" * 125000})
    check(len(big) < 1048576, "body too large for the test")
    many = env.create_bridge(outbound_url=sink.url("/many"), payload={"all": "${payload}" * 64},
                             retries=3)
    whole = env.create_bridge(outbound_url=sink.url("/whole"), payload=["$payload"] * 64,
                              retries=3)
    url = env.create_bridge(outbound_url=sink.url("/u/$payload.x"))
    hdr = env.create_bridge(outbound_url=sink.url("/h"), headers={"X-Big": "$payload.x"})
    other = env.create_bridge(outbound_url=sink.url("/other"), payload={"n": "$payload.n"})
    big_ids = [env.send(x, body=big) for x in (many, whole, url, hdr)]
    small = [env.send(other, body='{"n":%d}' % i) for i in range(5)]
    for eid in big_ids:
        ev = env.wait_event(eid, {"delivered", "failed"}, timeout=60)
        check(ev["status"] == "failed", "%s: status %r" % (eid, ev["status"]))
        check(len(ev["attempts"]) == 1, "retried: %r" % json.dumps(ev["attempts"])[:300])
        check(ev["attempts"][0]["error"] == "rendered_too_large",
              "error %r" % ev["attempts"][0]["error"])
        check(ev["next_attempt_at"] is None, "next_attempt_at %r" % ev["next_attempt_at"])
    env.wait_events(small, {"delivered"}, timeout=30)
    check(not [r for r in sink.requests if r.path != "/other"],
          "a too-large request was sent: %r" % [r.path[:40] for r in sink.requests][:5])
    for p in env.procs:
        check(p.alive(), "%s died" % p.name)
    # A rendering under the cap is delivered.
    fine = env.create_bridge(outbound_url=sink.url("/fine"), payload={"a": "${payload}" * 3})
    eid = env.send(fine, body=big)
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=60)
    check(ev["status"] == "delivered", "3 copies: %r" % json.dumps(ev["attempts"])[:300])
    check(len(sink.by_event(eid)[0].body) > 3 * len(big), "body not rendered in full")


@meta(est=6)
def test_rendered_cap_from_max_body_env(env):
    """The worker takes its cap from HOOKBRIDGE_MAX_BODY: 4 x 1000 bytes here."""
    sink = _stack(env, worker_env={"HOOKBRIDGE_MAX_BODY": "1000"})
    b = env.create_bridge(outbound_url=sink.url("/cap"), payload={"a": "${payload}" * 3})
    over = env.send(b, body=json.dumps({"x": "y" * 1500}))
    under = env.send(b, body=json.dumps({"x": "y" * 1000}))
    ev = env.wait_event(over, {"delivered", "failed"})
    check(ev["status"] == "failed" and ev["attempts"][0]["error"] == "rendered_too_large",
          "over the cap: %r %r" % (ev["status"], ev["attempts"]))
    ev = env.wait_event(under, {"delivered", "failed"})
    check(ev["status"] == "delivered", "under the cap: %r" % ev["attempts"])


@meta(est=4)
def test_header_with_missing_references_left_out(env):
    sink = _stack(env)
    b = env.create_bridge(
        outbound_url=sink.url("/h"),
        headers={"X-Customer": "$payload.cid", "Authorization": "Bearer $payload.token",
                 "X-Both": "${payload.cid}${payload.token}", "X-Partial": "${payload.cid}/$payload.name",
                 "X-Empty": "", "X-Literal": "static", "Content-Type": "$payload.ct",
                 "X-Null": "$payload.none"},
        payload={"name": "$payload.name"})
    eid = env.send(b, body='{"name":"Ann","none":null}')
    ev = env.wait_event(eid, {"delivered", "failed"})
    check(ev["status"] == "delivered", "status %r" % ev["attempts"])
    q = sink.by_event(eid)[0]
    for gone in ("X-Customer", "Authorization", "X-Both", "X-Empty"):
        check(q.header(gone) is None, "%s sent as %r" % (gone, q.header(gone)))
        check(header_get(ev["outbound"]["headers"], gone) is None,
              "%s recorded: %r" % (gone, ev["outbound"]["headers"]))
    check(q.header("X-Partial") == "/Ann", "X-Partial %r" % q.header("X-Partial"))
    check(q.header("X-Literal") == "static", "X-Literal %r" % q.header("X-Literal"))
    check(q.header("X-Null") == "null", "X-Null %r" % q.header("X-Null"))
    # Content-Type left out by the bridge: the body's own type is sent, not curl's default
    check(q.header("Content-Type") == "application/json", "Content-Type %r"
          % q.header("Content-Type"))
    check(header_get(ev["outbound"]["headers"], "X-Partial") == "/Ann",
          "recorded %r" % ev["outbound"]["headers"])


@meta(est=8)
def test_abort_while_on_the_wire(env):
    sink = _stack(env, always(Reply(200, delay=2)))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=3, retry_delays=[1])
    eid = env.send(b)
    sink.wait_requests(1, timeout=15)
    r = env.api("POST", "/api/bridges/%s/abort" % b["id"])
    check(r.status == 200 and r.json() == {"aborted": 1}, "abort %r" % r)
    _wait_job_gone(env, eid)
    ev = env.event(eid)
    check(ev["status"] == "aborted", "status %r after the attempt finished" % ev["status"])
    check(len(ev["attempts"]) == 1 and ev["attempts"][0]["status"] == 200,
          "attempts %r" % json.dumps(ev["attempts"])[:400])
    check(ev["next_attempt_at"] is None, "next_attempt_at %r" % ev["next_attempt_at"])
    time.sleep(1.5)
    check(env.event(eid)["status"] == "aborted", "status changed later")
    check(len(sink.requests) == 1, "sink saw %d requests" % len(sink.requests))
    evs = env.all_events(bridge_id=b["id"], status="delivered")
    check(not evs, "listed as delivered: %r" % evs)


@meta(est=8)
def test_abort_while_on_the_wire_no_retry(env):
    sink = _stack(env, always(Reply(500, delay=2)))
    b = env.create_bridge(outbound_url=sink.url("/fail"), retries=3, retry_delays=[1])
    eid = env.send(b)
    sink.wait_requests(1, timeout=15)
    r = env.api("POST", "/api/bridges/%s/abort" % b["id"])
    check(r.json() == {"aborted": 1}, "abort %r" % r)
    _wait_job_gone(env, eid)
    ev = env.event(eid)
    check(ev["status"] == "aborted", "status %r" % ev["status"])
    check(len(ev["attempts"]) == 1 and ev["attempts"][0]["status"] == 500,
          "attempts %r" % json.dumps(ev["attempts"])[:400])
    check(ev["next_attempt_at"] is None, "next_attempt_at %r" % ev["next_attempt_at"])
    time.sleep(2.5)  # the retry would have been due after 1 s
    check(len(sink.requests) == 1, "retried after the abort: %d requests" % len(sink.requests))
    check(env.event(eid)["status"] == "aborted", "status changed later")


@meta(est=6)
def test_delete_while_on_the_wire(env):
    sink = _stack(env, always(Reply(200, delay=2)))
    b = env.create_bridge(outbound_url=sink.url("/del"))
    eid = env.send(b)
    sink.wait_requests(1, timeout=15)
    r = env.api("DELETE", "/api/bridges/" + b["id"])
    check(r.status == 204, "delete %r" % r)
    _wait_job_gone(env, eid)
    ev = env.event(eid)
    check(ev["status"] == "aborted", "status %r" % ev["status"])
    check(len(ev["attempts"]) == 1 and ev["attempts"][0]["status"] == 200,
          "attempts %r" % json.dumps(ev["attempts"])[:400])

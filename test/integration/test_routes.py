"""Routes: one inbound request, several destinations (issue 14). Each route is filtered,
rendered, delayed, retried and recorded on its own; the event's status is derived from
its deliveries; a route already delivered is never sent again when another is retried or
recovered after a worker is killed; bridges without routes behave as they always did."""

import json
import os
import subprocess
import time

from harness import check, expect_error, http_request, meta
from sink import Reply, always, sequence


def _routes(sink):
    return [
        {"name": "crm", "outbound_url": sink.url("/crm"),
         "payload": {"note": "job ${payload.job.id} done"}},
        {"name": "ledger", "outbound_url": sink.url("/ledger"), "method": "PUT",
         "payload": {"total": "$payload.job.total"}},
        {"name": "mail", "outbound_url": sink.url("/mail"),
         "filter": {"$payload.job.total": {"$gte": 1000}}},
    ]


def _by_route(ev):
    return {d["route"]: d for d in ev.get("deliveries") or []}


@meta(est=6)
def test_routes_three_destinations_own_payloads_one_filtered(env):
    env.start_ingress()
    sink = env.sink(always(200))
    env.start_worker()
    b = env.create_bridge(name="fan", routes=_routes(sink))
    check("outbound_url" not in b and len(b.get("routes") or []) == 3, "bridge %r" % b)
    eid = env.send(b, body=json.dumps({"job": {"id": 7, "total": 120}}))
    ev = env.wait_event(eid, {"delivered", "failed", "filtered"}, timeout=30)
    check(ev["status"] == "delivered", "status %r" % ev["status"])
    d = _by_route(ev)
    check(list(d) == ["crm", "ledger", "mail"], "deliveries %r" % list(d))
    check(d["crm"]["status"] == "delivered" and d["ledger"]["status"] == "delivered",
          "deliveries %r" % d)
    check(d["mail"]["status"] == "filtered" and d["mail"]["attempts"] == [],
          "the filtered route: %r" % d["mail"])
    reqs = sink.by_event(eid)
    paths = sorted(r.path for r in reqs)
    check(paths == ["/crm", "/ledger"], "sink saw %r" % paths)
    for r in reqs:
        route = r.path.strip("/")
        check(r.header("X-Hookbridge-Route") == route, "%s: X-Hookbridge-Route %r"
              % (r.path, r.header("X-Hookbridge-Route")))
        check(r.header("X-Hookbridge-Event-Id") == eid, "event id header %r"
              % r.header("X-Hookbridge-Event-Id"))
    crm = [r for r in reqs if r.path == "/crm"][0]
    ledger = [r for r in reqs if r.path == "/ledger"][0]
    check(json.loads(crm.body) == {"note": "job 7 done"}, "crm body %r" % crm.body)
    check(ledger.method == "PUT" and json.loads(ledger.body) == {"total": 120},
          "ledger %s %r" % (ledger.method, ledger.body))
    # the top level mirrors the first route
    check(ev["attempts"] == d["crm"]["attempts"] and ev["outbound"] == d["crm"]["outbound"],
          "top level does not mirror the first route: %r" % ev)
    check(d["ledger"]["outbound"]["url"] == sink.url("/ledger"), "ledger outbound %r"
          % d["ledger"]["outbound"])
    # /metrics counts each route's outcome
    want = ['hookbridge_route_deliveries_total{bridge_id="%s",route="%s",status="%s"} 1'
            % (b["id"], r, st) for r, st in
            (("crm", "delivered"), ("ledger", "delivered"), ("mail", "filtered"))]
    deadline = time.time() + 15
    while True:
        text = http_request(env.admin_port, "GET", "/metrics").text
        if all(w in text for w in want) or time.time() > deadline:
            break
        time.sleep(0.2)
    for w in want:
        check(w in text, "/metrics lacks %s" % w)
    # the event with deliveries matches schemas/event.schema.json
    path = os.path.join(env.dir, "events.jsonl")
    with open(path, "w") as fh:
        fh.write(json.dumps(ev) + "\n")
    tool = os.path.join(os.environ.get("HB_UNIT", "build/asan/test"), "schema_check")
    schema = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "event.schema.json")
    r = subprocess.run([tool, schema, path], capture_output=True, text=True)
    check(r.returncode == 0, "event does not match the schema:\n%s%s" % (r.stdout, r.stderr))


@meta(est=10)
def test_routes_failing_route_retried_delivered_route_not_resent(env):
    env.start_ingress()

    flaky_seen = []

    def responder(req):
        if req.path == "/flaky":
            flaky_seen.append(req)
            return Reply(500) if len(flaky_seen) == 1 else Reply(200)
        return Reply(200)

    sink = env.sink(responder)
    env.start_worker()
    b = env.create_bridge(routes=[
        {"name": "ok", "outbound_url": sink.url("/ok")},
        {"name": "flaky", "outbound_url": sink.url("/flaky"), "retry_delays": [2]},
    ])
    eid = env.send(b)
    ev = env.wait_event(eid, {"retrying"}, timeout=20)
    d = _by_route(ev)
    check(d["ok"]["status"] == "delivered" and d["flaky"]["status"] == "retrying",
          "while retrying: %r" % d)
    check(d["flaky"]["next_attempt_at"] is not None, "next_attempt_at %r" % d["flaky"])
    ev = env.wait_event(eid, {"delivered", "failed"}, timeout=30)
    check(ev["status"] == "delivered", "status %r" % ev["status"])
    d = _by_route(ev)
    check(len(d["flaky"]["attempts"]) == 2 and len(d["ok"]["attempts"]) == 1,
          "attempts: %r" % d)
    time.sleep(0.5)
    oks = [r for r in sink.by_event(eid) if r.path == "/ok"]
    check(len(oks) == 1, "the delivered route was sent %d times" % len(oks))
    check(env.redis.client("EXISTS", "hb:job:" + eid) == 0, "job left in redis")


@meta(est=6)
def test_routes_derived_status(env):
    env.start_ingress()

    def responder(req):
        return Reply(500) if req.path == "/bad" else Reply(200)

    sink = env.sink(responder)
    env.start_worker()
    b = env.create_bridge(routes=[
        {"name": "good", "outbound_url": sink.url("/good")},
        {"name": "bad", "outbound_url": sink.url("/bad"), "retries": 0},
    ])
    eid = env.send(b)
    ev = env.wait_event(eid, {"failed", "delivered"}, timeout=20)
    time.sleep(0.3)
    ev = env.event(eid)
    d = _by_route(ev)
    check(ev["status"] == "failed", "delivered + failed should be failed: %r" % ev["status"])
    check(d["good"]["status"] == "delivered" and d["bad"]["status"] == "failed", "%r" % d)
    # all routes filtered -> filtered
    b2 = env.create_bridge(routes=[
        {"name": "a", "outbound_url": sink.url("/a"), "filter": {"$payload.x": 1}},
        {"name": "b", "outbound_url": sink.url("/b"), "filter": {"$payload.x": 2}},
    ])
    eid2 = env.send(b2, body=b'{"x": 3}')
    ev2 = env.wait_event(eid2, {"filtered", "delivered"}, timeout=20)
    check(ev2["status"] == "filtered", "status %r" % ev2["status"])
    # a delayed route keeps the event scheduled while the other is delivered
    b3 = env.create_bridge(routes=[
        {"name": "now", "outbound_url": sink.url("/now")},
        {"name": "later", "outbound_url": sink.url("/later"), "delay_seconds": 3600},
    ])
    eid3 = env.send(b3)
    deadline = time.time() + 20
    while True:
        ev3 = env.event(eid3)
        d3 = _by_route(ev3)
        if d3.get("now", {}).get("status") == "delivered":
            break
        check(time.time() < deadline, "route now not delivered: %r" % ev3)
        time.sleep(0.1)
    check(ev3["status"] == "scheduled", "delivered + scheduled should be scheduled: %r"
          % ev3["status"])
    check(d3["later"]["status"] == "queued" or d3["later"]["status"] == "scheduled",
          "later: %r" % d3["later"])


@meta(est=4)
def test_routes_validation_and_old_bridges_unchanged(env):
    env.start_ingress()
    sink = env.sink(always(200))
    env.start_worker()
    url = sink.url("/x")
    cases = [
        ({"outbound_url": url, "routes": [{"name": "a", "outbound_url": url}]}, "outbound_url"),
        ({"routes": []}, "routes"),
        ({"routes": [{"name": "a", "outbound_url": url}, {"name": "b", "outbound_url": "x"}]},
         "routes[1].outbound_url"),
        ({"routes": [{"name": "a", "outbound_url": url}, {"name": "a", "outbound_url": url}]},
         "routes[1].name"),
        ({"routes": [{"name": "Bad Name", "outbound_url": url}]}, "routes[0].name"),
        ({"routes": [{"name": "a"}]}, "routes[0].outbound_url"),
        ({"routes": [{"name": "a", "outbound_url": url, "env": {}}]}, "routes[0].env"),
        ({"routes": [{"name": "r%d" % i, "outbound_url": url} for i in range(17)]}, "routes"),
    ]
    for body, field in cases:
        r = env.api("POST", "/api/bridges", body)
        expect_error(r, 400, what=json.dumps(body)[:80])
        msg = r.json().get("message", "")
        check(field in msg, "%s: message %r does not name %s" % (json.dumps(body)[:80], msg,
                                                                   field))
    # a bridge without routes: no routes member, events without deliveries, no change
    b = env.create_bridge(outbound_url=url, signing_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    check("routes" not in b and b["outbound_url"] == url, "old-style bridge %r" % b)
    eid = env.send(b)
    ev = env.wait_event(eid, {"delivered"}, timeout=20)
    check("deliveries" not in ev, "an event of a bridge without routes has deliveries: %r" % ev)
    q = sink.by_event(eid)[0]
    check(q.header("X-Hookbridge-Route") == "default", "route header %r"
          % q.header("X-Hookbridge-Route"))
    # secrets per route are write-only; a PATCH of what GET shows keeps them
    b2 = env.create_bridge(routes=[{"name": "s", "outbound_url": url,
                                    "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}])
    check(b2["routes"][0]["signing_secret"] == "********", "secret shown: %r" % b2)
    r = env.api("PATCH", "/api/bridges/" + b2["id"], {"routes": b2["routes"]})
    check(r.status == 200, "PATCH back: %r" % r)
    eid2 = env.send(b2)
    env.wait_event(eid2, {"delivered"}, timeout=20)
    check(sink.by_event(eid2)[0].header("webhook-signature"), "route request not signed")


@meta(est=45, timeout=150)
def test_routes_worker_sigkill_every_route_delivered_once_done(env):
    n = 40
    env.start_ingress()
    sink = env.sink(always(200, delay=0.3))
    b = env.create_bridge(routes=[
        {"name": "a", "outbound_url": sink.url("/a")},
        {"name": "b", "outbound_url": sink.url("/b")},
        {"name": "c", "outbound_url": sink.url("/c")},
    ])
    ids = env.send_many(b, n)
    w1 = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "8"})
    sink.wait_for(lambda s: len(s.requests) >= 20, 60, "20 requests from worker1")
    inflight = {(r.event_id, r.path) for r in sink.inflight_requests()}
    w1.kill()
    check(inflight, "nothing was in flight when worker1 was killed")
    # A route is done once its acknowledgement took it off the bridge's pending set; one
    # answered but not yet acknowledged may be sent again (at least once), a done one never.
    pending = set(env.redis.client("SMEMBERS", "hb:bridge:%s:pending" % b["id"]) or [])
    pending = {p.decode() if isinstance(p, bytes) else p for p in pending}
    done_before = {(eid, "/" + r) for eid in ids for r in ("a", "b", "c")
                   if eid not in pending and "%s/%s" % (eid, r) not in pending}
    check(done_before, "no route was done before the kill")
    env.start_worker()
    env.wait_events(ids, {"delivered"}, timeout=90)
    for eid in ids:
        ev = env.event(eid)
        st = {d["route"]: d["status"] for d in ev.get("deliveries") or []}
        check(st == {"a": "delivered", "b": "delivered", "c": "delivered"},
              "%s deliveries %r" % (eid, st))
    # every (event, route) reached the sink; one delivered before the kill was never resent
    seen = {}
    for r in sink.snapshot():
        seen.setdefault((r.event_id, r.path), []).append(r)
    for eid in ids:
        for p in ("/a", "/b", "/c"):
            check((eid, p) in seen, "%s %s never reached the sink" % (eid, p))
    for key in done_before:
        check(len(seen[key]) == 1, "%s %s delivered before the kill was sent %d times"
              % (key[0], key[1], len(seen[key])))
    deadline = time.time() + 10
    while True:
        left = [k for k in (env.redis.client("KEYS", "hb:*") or [])
                if any(x in (k.decode() if isinstance(k, bytes) else k)
                       for x in (":job:", ":pending", "queue:"))]
        if not left or time.time() > deadline:
            break
        time.sleep(0.2)
    check(not left, "queue keys left in redis: %r" % left)


@meta(est=8)
def test_routes_replay_abort_retry_by_route(env):
    env.start_ingress()

    def responder(req):
        return Reply(500) if req.path == "/slow" else Reply(200)

    sink = env.sink(responder)
    env.start_worker()
    b = env.create_bridge(routes=[
        {"name": "fast", "outbound_url": sink.url("/fast")},
        {"name": "slow", "outbound_url": sink.url("/slow"), "retry_delays": [3600]},
    ])
    eid = env.send(b)
    ev = env.wait_event(eid, {"retrying"}, timeout=20)
    # unknown and malformed routes
    r = env.api("POST", "/api/events/%s/abort?route=nope" % eid)
    expect_error(r, 404, "route_not_found")
    r = env.api("POST", "/api/events/%s/abort?route=Bad%%20Name" % eid)
    expect_error(r, 400, "invalid_parameter")
    # the delivered route cannot be aborted or retried
    r = env.api("POST", "/api/events/%s/abort?route=fast" % eid)
    expect_error(r, 409, "not_abortable")
    # retry the retrying route now: one more attempt at once
    n_slow = len([q for q in sink.by_event(eid) if q.path == "/slow"])
    r = env.api("POST", "/api/events/%s/retry?route=slow" % eid)
    check(r.status == 202, "retry ?route=slow: %r" % r)
    sink.wait_for(lambda s: len([q for q in s.by_event(eid) if q.path == "/slow"]) > n_slow,
                  20, "the retried route to be attempted")
    env.wait_event(eid, {"retrying"}, timeout=20)
    deadline = time.time() + 20
    while len(_by_route(env.event(eid))["slow"]["attempts"]) < 2:
        check(time.time() < deadline, "second attempt not recorded")
        time.sleep(0.1)
    # abort only the retrying route: the event ends aborted (delivered + aborted)
    r = env.api("POST", "/api/events/%s/abort?route=slow" % eid)
    check(r.status == 200, "abort ?route=slow: %r" % r)
    ev = env.wait_event(eid, {"aborted"}, timeout=20)
    d = _by_route(ev)
    check(d["fast"]["status"] == "delivered" and d["slow"]["status"] == "aborted", "%r" % d)
    check(len([q for q in sink.by_event(eid) if q.path == "/fast"]) == 1, "fast resent")
    # replay to one route only
    r = env.api("POST", "/api/events/%s/replay?route=fast" % eid)
    check(r.status == 202, "replay ?route=fast: %r" % r)
    new = r.json()["event_id"]
    ev2 = env.wait_event(new, {"delivered"}, timeout=20)
    check([x["route"] for x in ev2.get("deliveries") or []] == ["fast"],
          "replay to one route: %r" % ev2.get("deliveries"))
    check([q.path for q in sink.by_event(new)] == ["/fast"], "replay sent %r"
          % [q.path for q in sink.by_event(new)])
    r = env.api("POST", "/api/events/%s/replay?route=nope" % eid)
    expect_error(r, 404, "route_not_found")
    # a bridge without routes: ?route=default is the whole event
    b2 = env.create_bridge(outbound_url=sink.url("/fast"))
    e2 = env.send(b2)
    env.wait_event(e2, {"delivered"}, timeout=20)
    r = env.api("POST", "/api/events/%s/replay?route=default" % e2)
    check(r.status == 202, "replay ?route=default: %r" % r)
    r = env.api("POST", "/api/events/%s/replay?route=other" % e2)
    expect_error(r, 404, "route_not_found")


@meta(est=15, timeout=90)
def test_routes_bridge_abort_one_route(env):
    """POST /api/bridges/{id}/abort?route=name aborts that route's pending deliveries
    (retrying and queued ones) and nothing else: the other route's deliveries still arrive,
    the aborted route is never called again, and each event ends "aborted" (delivered +
    aborted), read back from the store."""
    env.start_ingress()

    def responder(req):
        return Reply(500) if req.path == "/slow" else Reply(200)

    sink = env.sink(responder)
    b = env.create_bridge(routes=[
        {"name": "fast", "outbound_url": sink.url("/fast")},
        {"name": "slow", "outbound_url": sink.url("/slow"), "retry_delays": [3600]},
    ])
    other = env.create_bridge(routes=[
        {"name": "slow", "outbound_url": sink.url("/slow"), "retry_delays": [3600]},
    ])
    w = env.start_worker()
    retrying = [env.send(b) for _ in range(4)]
    other_id = env.send(other)
    for e in retrying + [other_id]:
        env.wait_event(e, {"retrying"}, timeout=20)
    w.terminate()
    # with no worker, these wait in the ready list for both routes (not yet fanned out)
    queued = [env.send(b) for _ in range(3)]
    delayed = env.create_bridge(routes=[
        {"name": "fast", "outbound_url": sink.url("/fast")},
        {"name": "later", "outbound_url": sink.url("/later"), "delay_seconds": 3600},
    ])
    de = env.send(delayed)
    # parameters checked first
    r = env.api("POST", "/api/bridges/%s/abort?route=nope" % b["id"])
    expect_error(r, 404, "route_not_found")
    r = env.api("POST", "/api/bridges/%s/abort?route=Bad%%20Name" % b["id"])
    expect_error(r, 400, "invalid_parameter")
    n_slow = len([q for q in sink.requests if q.path == "/slow"])
    r = env.api("POST", "/api/bridges/%s/abort?route=slow" % b["id"])
    check(r.status == 200 and r.json() == {"aborted": 7}, "abort ?route=slow: %r" % r)
    r = env.api("POST", "/api/bridges/%s/abort?route=slow" % b["id"])
    check(r.status == 200 and r.json() == {"aborted": 0}, "again: nothing left: %r" % r)
    r = env.api("POST", "/api/bridges/%s/abort?route=later" % delayed["id"])
    check(r.status == 200 and r.json() == {"aborted": 1}, "abort ?route=later: %r" % r)
    env.start_worker()
    # the delayed route, marked before its event was fanned out, is recorded at once
    d = _by_route(env.wait_event(de, {"aborted"}, timeout=20))
    check(d["fast"]["status"] == "delivered" and d["later"]["status"] == "aborted", "%r" % d)
    for e in retrying + queued:
        ev = env.wait_event(e, {"aborted"}, timeout=20)
        d = _by_route(ev)
        check(d["fast"]["status"] == "delivered" and d["slow"]["status"] == "aborted",
              "event %s: %r" % (e, {k: v["status"] for k, v in d.items()}))
        check(d["slow"]["next_attempt_at"] is None, "no next attempt: %r" % d["slow"])
        check(len([q for q in sink.by_event(e) if q.path == "/fast"]) == 1, "fast sent once")
    for e in queued:
        check(_by_route(env.event(e))["slow"]["attempts"] == [], "a queued route never sent")
    time.sleep(0.5)
    check(len([q for q in sink.requests if q.path == "/slow"]) == n_slow,
          "the aborted route was called again")
    # the other bridge's route of the same name goes on
    check(env.event(other_id)["status"] == "retrying", "other bridge untouched")
    r = env.api("POST", "/api/events/%s/retry" % other_id)
    check(r.status == 202, "the other bridge's event is still retryable: %r" % r)
    sink.wait_for(lambda s: len([q for q in s.by_event(other_id)]) == 2, 20,
                  "the other bridge's second attempt")
    # a bridge without routes takes route=default: the whole bridge
    plain = env.create_bridge(outbound_url=sink.url("/slow"), retry_delays=[3600])
    pe = env.send(plain)
    env.wait_event(pe, {"retrying"}, timeout=20)
    r = env.api("POST", "/api/bridges/%s/abort?route=fast" % plain["id"])
    expect_error(r, 404, "route_not_found")
    r = env.api("POST", "/api/bridges/%s/abort?route=default" % plain["id"])
    check(r.status == 200 and r.json() == {"aborted": 1}, "route=default: %r" % r)
    check(env.event(pe)["status"] == "aborted", "whole event aborted")


@meta(est=12, timeout=90)
def test_routes_bridge_abort_route_behind_open_circuit(env):
    """A route whose destination is down: its circuit opens and its backlog waits for it.
    Aborting that route records its deliveries aborted at once (not after open_seconds),
    while the bridge's other route delivers every event."""
    env.start_ingress()

    def responder(req):
        return Reply(500) if req.path == "/down" else Reply(200)

    sink = env.sink(responder)
    b = env.create_bridge(routes=[
        {"name": "up", "outbound_url": sink.url("/up")},
        {"name": "down", "outbound_url": sink.url("/down"), "retries": 5,
         "retry_delays": [1], "circuit": {"failures": 2, "open_seconds": 600}},
    ])
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "2"})
    ids = env.send_many(b, 20)
    key = "hb:flow:wait:%s:down:circuit" % b["id"]
    deadline = time.time() + 20
    while env.redis.client("LLEN", key) < 10:
        check(time.time() < deadline, "the down route's backlog waits for its open circuit: %r"
              % env.redis.client("LLEN", key))
        time.sleep(0.1)
    n_down = len([q for q in sink.requests if q.path == "/down"])
    r = env.api("POST", "/api/bridges/%s/abort?route=down" % b["id"])
    check(r.status == 200 and r.json()["aborted"] >= 10, "abort ?route=down: %r" % r)
    t0 = time.time()
    for e in ids:
        ev = env.wait_event(e, {"aborted"}, timeout=20)
        d = _by_route(ev)
        check(set(d) == {"up", "down"}, "event %s: %r" % (e, ev))
        check(d["up"]["status"] == "delivered" and d["down"]["status"] == "aborted",
              "event %s: %r" % (e, {k: v["status"] for k, v in d.items()}))
    env.note("20 deliveries behind an open circuit recorded aborted %.1fs after the abort"
             % (time.time() - t0))
    check(env.redis.client("LLEN", key) == 0, "nothing left waiting for the circuit")
    check(len([q for q in sink.requests if q.path == "/down"]) == n_down,
          "the aborted route was called again")
    check(len([q for q in sink.requests if q.path == "/up"]) == 20, "each up delivery once")

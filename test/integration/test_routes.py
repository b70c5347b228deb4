"""Routes: one inbound request, several destinations (issue 14). Each route is filtered,
rendered, delayed, retried and recorded on its own; the event's status is derived from
its deliveries; a route already delivered is never sent again when another is retried or
recovered after a worker is killed; bridges without routes behave as they always did."""

import json
import time

from harness import check, expect_error, meta
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

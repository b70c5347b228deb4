"""POST /api/events/replay: replay every event a filter matches (bridge_id, status, since,
until, route; at least one), in received order, without holding up the ingress loop:
202 {"replayed": n, "skipped": k}."""

import threading
import time

from harness import check, expect_error, http_request, meta

DEAD = "http://127.0.0.1:9/x"  # nothing listens: every attempt fails at once


def replays_of(env, bridge_id):
    """{replay_of: new event id} of the replays among the bridge's events."""
    out = {}
    for s in env.all_events(limit=1000, bridge_id=bridge_id):
        ev = env.event(s["id"]) if "replay_of" not in s else s
        if ev.get("replay_of"):
            out[ev["replay_of"]] = s["id"]
    return out


@meta(est=8)
def test_bulk_replay_refuses_bad_filters(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url=DEAD, retries=0, circuit=None)
    expect_error(env.api("POST", "/api/events/replay", {}), 400, "filter_required",
                 "no filter at all")
    expect_error(env.api("POST", "/api/events/replay", {"dry_run": True}), 400,
                 "filter_required", "dry_run is no filter")
    for body, what in (({"bridge_id": "nope"}, "bad bridge id"),
                       ({"status": "failed"}, "status not an array"),
                       ({"status": []}, "empty status"),
                       ({"status": ["lost"]}, "unknown status"),
                       ({"since": "yesterday"}, "bad since"),
                       ({"until": 5}, "until not a string"),
                       ({"route": "Not A Route"}, "bad route name"),
                       ({"bridge_id": b["id"], "colour": "red"}, "unknown field"),
                       ({"bridge_id": b["id"], "dry_run": "yes"}, "dry_run not a boolean")):
        expect_error(env.api("POST", "/api/events/replay", body), 400, "invalid_parameter", what)
    expect_error(env.api("POST", "/api/events/replay", "[1]"), 400, "invalid_json",
                 "not an object")
    r = env.api("GET", "/api/events/replay")
    check(r.status == 405 and r.header("Allow") == "POST", "GET: %r" % r)
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"]}, token=None)
    check(r.status == 401, "no token: %r" % r)

    # Nothing matches: 202 with zero.
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"]})
    check(r.status == 202 and r.json() == {"replayed": 0, "skipped": 0}, "empty set: %r" % r)

    env.start_worker()
    first = [env.send(b) for _ in range(3)]
    env.wait_events(first, ("failed",), timeout=30)
    mid = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1)) + "Z"
    time.sleep(1.2)
    later = [env.send(b) for _ in range(2)]
    env.wait_events(later, ("failed",), timeout=30)
    # The replays below are new events that fail as fast as the worker writes them: `end`
    # keeps them out of the `since` set, whether or not they have failed by then.
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1)) + "Z"
    time.sleep(1.2)

    # dry_run counts and replays nothing.
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"], "dry_run": True})
    check(r.status == 200 and r.json() == {"matching": 5}, "dry run: %r" % r)

    # until: only the first three; since: only the later two; a route the events do not
    # have: none; the implicit route "default": all five.
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"], "until": mid})
    check(r.status == 202 and r.json()["replayed"] == 3, "until: %r" % r)
    r = env.api("POST", "/api/events/replay", {"status": ["failed"], "since": mid, "until": end})
    check(r.status == 202 and r.json()["replayed"] == 2, "since: %r" % r)
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"], "route": "billing"})
    check(r.status == 202 and r.json()["replayed"] == 0, "other route: %r" % r)
    got = replays_of(env, b["id"])
    check(sorted(got) == sorted(first + later), "replayed each once: %r" % got)

    # The replays are ordinary events with replay_of; replaying "failed" and "queued" ones
    # of the bridge now also takes the replays (those made so far are below the bound).
    r = env.api("POST", "/api/events/replay",
                {"bridge_id": b["id"], "status": ["failed", "queued", "retrying"],
                 "route": "default"})
    check(r.status == 202 and r.json()["replayed"] == 10, "all ten: %r" % r)


@meta(est=8)
def test_bulk_replay_skips_deleted_bridges_and_says_when_redis_fails(env):
    env.start_ingress()
    gone = env.create_bridge(outbound_url=DEAD, retries=0, circuit=None)
    kept = env.create_bridge(outbound_url=DEAD, retries=0, circuit=None)
    env.start_worker()
    ids = [env.send(gone), env.send(kept), env.send(gone)]
    env.wait_events(ids, ("failed",), timeout=30)
    r = env.api("DELETE", "/api/bridges/" + gone["id"])
    check(r.status == 204, "delete: %r" % r)
    # The deleted bridge's two events are skipped, the other one replayed.
    r = env.api("POST", "/api/events/replay", {"status": ["failed"]})
    check(r.status == 202 and r.json() == {"replayed": 1, "skipped": 2}, "skipped: %r" % r)

    # Without Redis nothing can be queued: 503, saying how far it got.
    env.redis.stop()
    r = env.api("POST", "/api/events/replay", {"bridge_id": kept["id"]})
    check(r.status == 503 and r.json().get("error") == "queue_unavailable", "no redis: %r" % r)
    check("0 of" in r.json().get("message", ""), "message: %r" % r.json())
    env.redis.start()


@meta(est=40, weight=2)
def test_bulk_replay_in_received_order_while_healthz_stays_fast(env):
    env.start_ingress()
    dead = env.create_bridge(outbound_url=DEAD, retries=0, circuit=None)
    sink = env.sink()
    other = env.create_bridge(outbound_url=sink.url(), retries=0)
    env.start_worker()
    n = 600
    ids = env.send_many(dead, n)
    good = env.send_many(other, 20)
    env.wait_events(ids, ("failed",), timeout=120)
    env.wait_events(good, ("delivered",), timeout=60)

    # /healthz polled all along the bulk replay.
    done = threading.Event()
    lat = []
    during = []
    answer = {}

    def poll():
        while not done.is_set():
            t0 = time.monotonic()
            r = http_request(env.admin_port, "GET", "/healthz", timeout=10)
            t1 = time.monotonic()
            check(r.status == 200, "healthz: %r" % r)
            lat.append(t1 - t0)
            if "start" in answer and "end" not in answer:
                during.append(t1 - t0)
            time.sleep(0.005)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.1)
    answer["start"] = time.monotonic()
    r = env.api("POST", "/api/events/replay", {"status": ["failed"], "bridge_id": dead["id"]},
                timeout=120)
    answer["end"] = time.monotonic()
    time.sleep(0.1)
    done.set()
    t.join()
    took = answer["end"] - answer["start"]
    check(r.status == 202 and r.json() == {"replayed": n, "skipped": 0},
          "bulk replay: %r" % r)
    env.note("bulk replay of %d events answered in %.0f ms; /healthz %d times meanwhile, "
             "slowest %.0f ms" % (n, took * 1000, len(during), max(during or [0]) * 1000))
    check(max(lat) < 0.5, "healthz took up to %.0f ms" % (max(lat) * 1000))
    if took > 0.3:
        check(len(during) >= 2, "healthz answered %d times in a %.0f ms replay"
              % (len(during), took * 1000))

    # One replay per failed event, none of the delivered bridge's, and the new events'
    # ids sort as the events they replay were received.
    got = replays_of(env, dead["id"])
    check(len(got) == n and set(got) == set(ids), "%d replays for %d events" % (len(got), n))
    originals = sorted(got)
    new_ids = [got[o] for o in originals]
    check(new_ids == sorted(new_ids), "replays are not in received order")
    check(not replays_of(env, other["id"]), "the other bridge's events were replayed")
    env.wait_events(new_ids[:5] + new_ids[-5:], ("failed",), timeout=60)


@meta(est=10)
def test_bulk_replay_of_one_route_sends_that_route_only(env):
    """`route` in a bulk replay of a bridge with routes replays each event to that route
    alone: the other route's destination gets nothing new."""
    env.start_ingress()
    sink = env.sink()
    b = env.create_bridge(routes=[{"name": "ledger", "outbound_url": sink.url("/ledger")},
                                  {"name": "crm", "outbound_url": sink.url("/crm")}])
    env.start_worker()
    ids = [env.send(b) for _ in range(3)]
    env.wait_events(ids, ("delivered",), timeout=30)
    check(len(sink.requests) == 6, "6 first deliveries, got %d" % len(sink.requests))
    r = env.api("POST", "/api/events/replay", {"bridge_id": b["id"], "route": "crm"})
    check(r.status == 202 and r.json().get("replayed") == 3, "bulk replay: %r" % r)
    deadline = time.time() + 20
    while time.time() < deadline and len(sink.requests) < 9:
        time.sleep(0.1)
    time.sleep(1.0)  # anything sent to the other route would arrive meanwhile
    paths = sorted(q.path for q in sink.requests)
    check(paths.count("/crm") == 6 and paths.count("/ledger") == 3,
          "crm replayed alone: %r" % paths)

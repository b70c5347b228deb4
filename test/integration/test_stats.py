"""GET /api/stats: queue depths and live workers from Redis, event totals from SQLite."""

import time

from harness import check, meta
from sink import always


@meta(est=4)
def test_stats_queue_workers_events(env):
    env.start_ingress()
    sink = env.sink(always(200))
    now = env.create_bridge(outbound_url=sink.url("/now"))
    later = env.create_bridge(outbound_url=sink.url("/later"), delay_seconds=600)
    ids = [env.send(now), env.send(now)]
    env.send(later)
    r = env.api("GET", "/api/stats")
    check(r.status == 200, "stats: %r" % r)
    s = r.json()
    check(s["queue"] == {"ready": 2, "scheduled": 1, "in_flight": 0}, "queue: %r" % s["queue"])
    check(s["workers"]["live"] == 0, "workers: %r" % s["workers"])
    check(s["events"].get("queued") == 2 and s["events"].get("scheduled") == 1
          and s["events"]["total"] == 3, "events: %r" % s["events"])
    env.start_worker()
    env.wait_events(ids, ("delivered",))
    deadline = time.time() + 10
    while time.time() < deadline:
        s = env.api("GET", "/api/stats").json()
        if s["workers"]["live"] == 1 and s["queue"]["ready"] == 0:
            break
        time.sleep(0.1)
    check(s["workers"]["live"] == 1, "a running worker is not counted: %r" % s)
    check(s["queue"]["ready"] == 0 and s["queue"]["scheduled"] == 1, "queue after: %r" % s)
    check(s["events"].get("delivered") == 2, "events after: %r" % s["events"])
    r = env.api("GET", "/api/stats", token=False)
    check(r.status == 401, "stats without token: %r" % r)

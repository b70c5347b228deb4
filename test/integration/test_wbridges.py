"""The worker's cache of parsed bridges (worker/wbridges.c): a bridge is read at most once a
second per worker, a change reaches deliveries within about a second, a deleted bridge still
ends its jobs aborted, thousands of bridges drain, and an entry replaced while a delivery
that holds it is in flight is freed only when that delivery ends (ASan)."""

import time

from harness import check, meta
from sink import Reply, always


def _sink_of(env, sinks, eid, timeout=20):
    """Which of `sinks` received event `eid` (its index)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for i, s in enumerate(sinks):
            if eid in s.delivered_ids():
                return i
        time.sleep(0.02)
    return None


@meta(est=10, timeout=60)
def test_worker_reads_a_bridge_row_at_most_once_a_second(env):
    env.need_sqlite("changes the bridge row behind the admin API")
    env.start_ingress()
    a, b2 = env.sink(always(200)), env.sink(always(200))
    b = env.create_bridge(outbound_url=a.url("/a"), retries=0)
    w = env.start_worker()
    check(_sink_of(env, [a, b2], env.send(b)) == 0, "first event not delivered to sink a")
    # The row changes behind every cache (no admin API call, so no process hears of it):
    # the worker, which has just read it, keeps its copy for up to a second.
    env.sql("UPDATE bridges SET data = json_set(data, '$.outbound_url', '%s') WHERE id = '%s'"
            % (b2.url("/b"), b["id"]))
    t0 = time.time()
    second = env.send(b)
    got = _sink_of(env, [a, b2], second)
    took = time.time() - t0
    if took < 0.8:
        check(got == 0, "event sent %.2f s after the row changed went to the new url: the "
              "worker read the bridge again for it" % took)
    time.sleep(1.2)
    check(_sink_of(env, [a, b2], env.send(b)) == 1, "change not seen after more than a second")
    check(w.alive(), "worker died")


@meta(est=15, timeout=90)
def test_patch_reaches_deliveries_within_a_second_while_one_is_in_flight(env):
    env.start_ingress()
    slow = env.sink(always(Reply(200, delay=2.5)))
    new = env.sink(always(200))
    b = env.create_bridge(outbound_url=slow.url("/slow"), retries=0)
    w = env.start_worker()
    first = env.send(b)
    slow.wait_requests(1, 20)
    # The delivery in flight holds the cached bridge; the PATCH then the next jobs replace
    # that entry while it is still out (ASan: no use after free, no leak).
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"outbound_url": new.url("/new")})
    check(r.status == 200, "PATCH: %r" % r)
    patched = time.time()
    time.sleep(1.1)
    ids = [env.send(b) for _ in range(5)]
    for eid in ids:
        check(_sink_of(env, [slow, new], eid) == 1,
              "event sent %.1f s after the PATCH not at the new url" % (time.time() - patched))
    env.wait_event(first, "delivered", 20)
    check(w.alive(), "worker died")
    w.terminate()
    check(not w.sanitizer_lines(), "sanitizer report at exit:\n%s" % "\n".join(
        w.sanitizer_lines()))


@meta(est=15, timeout=90)
def test_delete_ends_pending_jobs_aborted_despite_the_cache(env):
    env.start_ingress()
    sink = env.sink(always(200))
    b = env.create_bridge(outbound_url=sink.url("/d"), retries=0)
    env.start_worker()
    env.wait_event(env.send(b), "delivered", 20)  # the worker now holds the bridge
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"delay_seconds": 2})
    check(r.status == 200, "PATCH: %r" % r)
    time.sleep(1.1)  # the PATCH reached the ingress
    pending = [env.send(b) for _ in range(3)]
    r = env.api("DELETE", "/api/bridges/" + b["id"])
    check(r.status == 204, "DELETE: %r" % r)
    for eid in pending:
        ev = env.wait_event(eid, ("aborted", "delivered", "failed"), 30)
        check(ev["status"] == "aborted", "job of a deleted bridge ended %r" % ev["status"])
    check(not (set(pending) & sink.delivered_ids()), "a deleted bridge's job was delivered")


@meta(est=60, timeout=240)
def test_a_thousand_bridges_drain(env):
    n = 1000
    env.start_ingress()
    sinks = [env.sink(always(200)) for _ in range(4)]
    bridges = [env.create_bridge(outbound_url=sinks[i % 4].url("/m%d" % i), retries=0)
               for i in range(n)]
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    ids = {}
    for rnd in range(2):
        for i, b in enumerate(bridges):
            ids[env.send(b)] = i
    env.wait_events(list(ids), ("delivered",), timeout=180)
    for eid, i in ids.items():
        check(eid in sinks[i % 4].delivered_ids(), "event of bridge %d at the wrong sink" % i)
    check(w.alive(), "worker died")
    w.terminate()
    check(not w.sanitizer_lines(), "sanitizer report at exit:\n%s" % "\n".join(
        w.sanitizer_lines()))

"""Where event rows come from (common/record.h): the ingress writes none when it accepts;
a delivery, a reader listing events, or the workers' sweep of waiting events writes it."""

import time

from harness import check, meta
from sink import always

UNRECORDED = "hb:events:unrecorded"


def _rows(env, where="true"):
    """Event rows as {id: status}, on either store."""
    return {r[0]: r[1] for r in env.sql("SELECT id, status FROM events WHERE " + where)}


@meta(est=3)
def test_accepting_writes_no_row_a_list_writes_them(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    ids = []
    for i in range(3):
        ids.append(env.send(b, body=b'{"i":%d}' % i))
        time.sleep(0.003)  # distinct milliseconds: newest first is one order
    time.sleep(0.2)  # anything batched would have been committed by now
    check(_rows(env) == {}, "the ingress wrote rows on accepting: %r" % _rows(env))
    check(env.redis.client("LLEN", UNRECORDED) == 3, "ids not on the unrecorded list")
    # One event by id comes from its job.
    ev = env.event(ids[0])
    check(ev["status"] == "scheduled" and ev["request"]["body"] == {"i": 0}, "GET: %r" % ev)
    # So can a replay, from the same job.
    r = env.api("POST", "/api/events/%s/replay" % ids[0])
    check(r.status == 202 and r.json().get("replay_of") == ids[0], "replay before its row: %r" % r)
    replayed = r.json()["event_id"]
    check(env.event(replayed)["request"]["body"] == {"i": 0}, "replayed request differs")
    env.redis.client("DEL", "hb:job:" + replayed)  # out of the way of the checks below
    env.redis.client("LREM", UNRECORDED, 0, replayed)
    # A list shows them all at once, newest first, and leaves their rows behind.
    r = env.list_events(bridge_id=b["id"])
    got = [e["id"] for e in r.json()["events"]]
    check(got == list(reversed(ids)), "list: %r, want %r" % (got, list(reversed(ids))))
    check(_rows(env) == {i: "scheduled" for i in ids}, "rows: %r" % _rows(env))
    check(env.redis.client("LLEN", UNRECORDED) == 0, "unrecorded list not emptied")
    # The rows hold the whole event, as GET showed it from the job.
    check(env.event(ids[0]) == ev, "stored event differs from the job's")


@meta(est=10)
def test_workers_record_waiting_events_and_empty_the_list(env):
    env.start_ingress()
    sink = env.sink(always(200))
    now = env.create_bridge(outbound_url=sink.url("/now"))
    later = env.create_bridge(outbound_url=sink.url("/later"), delay_seconds=600)
    env.start_worker()
    delivered = [env.send(now) for _ in range(5)]
    waiting = env.send(later)
    # Delivered events get their row from their delivery, with no reader asking.
    deadline = time.time() + 20
    while time.time() < deadline and len(_rows(env, "status = 'delivered'")) < 5:
        time.sleep(0.05)
    check(set(_rows(env, "status = 'delivered'")) == set(delivered),
          "delivered rows: %r" % _rows(env))
    # The waiting one is written by the workers' sweep once it is a few seconds old, and
    # every id leaves the unrecorded list. Nothing here lists events (which would write
    # the row itself): only SQLite and Redis are read.
    deadline = time.time() + 15
    while time.time() < deadline and (waiting not in _rows(env)
                                      or env.redis.client("LLEN", UNRECORDED) != 0):
        time.sleep(0.2)
    check(_rows(env, "id = '%s'" % waiting) == {waiting: "scheduled"},
          "waiting event not recorded by the sweep: %r" % _rows(env))
    check(env.redis.client("LLEN", UNRECORDED) == 0,
          "unrecorded list not emptied: %r" % env.redis.client("LRANGE", UNRECORDED, 0, -1))
    check(len(sink.requests) == 5, "sink got %d requests" % len(sink.requests))


@meta(est=15)
def test_sweep_leaves_a_draining_backlog_to_its_deliveries(env):
    # A backlog the worker drains in about 6.5 s (4 at a time, 200 ms each): its events grow
    # older than the sweep's 5 s while they wait, but the worker reaches each of them well
    # within the sweep's reach (10 s of its drain), so each gets one row, from its
    # delivery, and none is written "queued" first (worker/sweep.c).
    env.start_ingress()
    sink = env.sink(always(200, delay=0.2))
    b = env.create_bridge(outbound_url=sink.url("/drain"), retries=0)
    ids = [env.send(b) for _ in range(130)]
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "4"})
    waiting_rows = set()
    deadline = time.time() + 90
    while time.time() < deadline:
        rows = _rows(env)
        waiting_rows |= {i for i, s in rows.items() if s != "delivered"}
        if len(rows) == len(ids) and all(s == "delivered" for s in rows.values()):
            break
        time.sleep(0.05)
    check(set(_rows(env, "status = 'delivered'")) == set(ids),
          "not all delivered: %d rows" % len(_rows(env)))
    check(not waiting_rows, "the sweep wrote %d rows of events about to be delivered" %
          len(waiting_rows))
    check(len(sink.requests) == len(ids), "sink got %d requests" % len(sink.requests))
    # The delivered ids still leave the unrecorded list (their jobs are gone).
    deadline = time.time() + 15
    while time.time() < deadline and env.redis.client("LLEN", UNRECORDED) != 0:
        time.sleep(0.2)
    check(env.redis.client("LLEN", UNRECORDED) == 0, "unrecorded list not emptied")


@meta(est=12)
def test_sweep_records_a_backlog_the_worker_does_not_reach(env):
    # The destination hangs: the worker delivers nothing, so nothing it holds or has yet to
    # take is "about to be delivered", and the sweep writes every waiting event's row.
    env.start_ingress()
    sink = env.sink(always(200, delay=60))
    b = env.create_bridge(outbound_url=sink.url("/stuck"), retries=0)
    ids = [env.send(b) for _ in range(5)]
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "1"})
    deadline = time.time() + 15
    while time.time() < deadline and len(_rows(env)) < len(ids):
        time.sleep(0.2)
    check(_rows(env) == {i: "queued" for i in ids}, "rows: %r" % _rows(env))

"""--retention-days: workers delete older events in small batches (SPEC Configuration); on
PostgreSQL whole day partitions older than the cutoff are detached and dropped."""

import json
import time

from harness import check, meta


def _count(env, where):
    return int(env.sql("SELECT count(*) FROM events WHERE " + where)[0][0])


def _insert_old(env, bridge_id, old_ms, n):
    """n delivered events with ids of time 0 (1970-01-01), received `old_ms`."""
    values = []
    for i in range(n):
        eid = "evt_00000000000000000000%04d" % i
        data = json.dumps({"id": eid, "status": "delivered"})
        values.append("('%s', '%s', 'delivered', %d, %d, '%s')"
                      % (eid, bridge_id, old_ms, old_ms, data))
    if env.store == "postgres":
        # A day the store did not create ahead: the partition of 1970-01-01.
        env.sql("CREATE TABLE events_19700101 PARTITION OF events "
                "FOR VALUES FROM ('evt_0') TO ('evt_00002JCQ00')")
    env.sql("INSERT INTO events (id, bridge_id, status, received_at, updated_at, data) VALUES "
            + ", ".join(values))


@meta(est=5)
def test_retention_deletes_old_events_only(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    fresh = env.send(b)  # scheduled far ahead: stays, it is new
    env.wait_event(fresh, {"scheduled"})
    env.list_events()  # writes its row
    old_ms = int(time.time() * 1000) - 3 * 86400 * 1000
    _insert_old(env, b["id"], old_ms, 1200)  # more than one batch
    check(_count(env, "true") == 1201, "setup")
    env.start_worker({"HOOKBRIDGE_RETENTION_DAYS": "2"})
    deadline = time.time() + 20
    while time.time() < deadline and _count(env, "received_at < %d" % (old_ms + 1)) > 0:
        time.sleep(0.1)
    check(_count(env, "received_at < %d" % (old_ms + 1)) == 0, "old events not deleted")
    check(_count(env, "id = '%s'" % fresh) == 1, "a recent event was deleted")
    if env.store == "postgres":
        left = env.sql("SELECT count(*) FROM pg_class WHERE relname = 'events_19700101'")
        check(left[0][0] == "0", "the old day's partition was not dropped")
        parts = env.sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        check(int(parts[0][0]) >= 7, "partitions ahead: %r" % parts)


@meta(est=3)
def test_retention_zero_keeps_everything(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    env.send(b)
    env.list_events()  # writes its row
    env.sql("UPDATE events SET received_at = 0")
    env.start_worker({"HOOKBRIDGE_RETENTION_DAYS": "0"})
    time.sleep(2.5)
    check(_count(env, "true") == 1, "retention 0 deleted events")

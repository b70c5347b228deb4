"""--retention-days: workers delete older events in small batches (SPEC Configuration)."""

import json
import sqlite3
import time

from harness import check, meta


def _count(db, where):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM events WHERE " + where).fetchone()[0]
    finally:
        con.close()


@meta(est=5)
def test_retention_deletes_old_events_only(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    fresh = env.send(b)  # scheduled far ahead: stays, it is new
    env.wait_event(fresh, {"scheduled"})
    env.list_events()  # writes its row
    old_ms = int(time.time() * 1000) - 3 * 86400 * 1000
    con = sqlite3.connect(env.db, timeout=10)
    rows = []
    for i in range(1200):  # more than one batch
        eid = "evt_00000000000000000000%04d" % i
        rows.append((eid, b["id"], "delivered", old_ms, old_ms,
                     json.dumps({"id": eid, "status": "delivered"})))
    con.executemany("INSERT INTO events (id, bridge_id, status, received_at, updated_at, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    check(_count(env.db, "1") == 1201, "setup")
    env.start_worker({"HOOKBRIDGE_RETENTION_DAYS": "2"})
    deadline = time.time() + 20
    while time.time() < deadline and _count(env.db, "received_at < %d" % (old_ms + 1)) > 0:
        time.sleep(0.1)
    check(_count(env.db, "received_at < %d" % (old_ms + 1)) == 0, "old events not deleted")
    check(_count(env.db, "id = '%s'" % fresh) == 1, "a recent event was deleted")


@meta(est=3)
def test_retention_zero_keeps_everything(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    env.send(b)
    env.list_events()  # writes its row
    con = sqlite3.connect(env.db, timeout=10)
    con.execute("UPDATE events SET received_at = 0")
    con.commit()
    con.close()
    env.start_worker({"HOOKBRIDGE_RETENTION_DAYS": "0"})
    time.sleep(2.5)
    check(_count(env.db, "1") == 1, "retention 0 deleted events")

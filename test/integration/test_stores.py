"""The stores themselves (README "The store"): processes starting at once on a fresh
database apply each migration once; a SQLite file made before migrations existed upgrades
in place and its old events become searchable; with PostgreSQL, ingress and worker get
over a server restart (their connections are opened again); one event write the database
refuses holds back no other event of the worker's batch (the batch is written item by item
then), and lands once the database takes it."""

import json
import os
import sqlite3
import time

from harness import PostgresServer, check, meta, skip

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas",
                          "migrations")


def _versions(store):
    names = sorted(os.listdir(os.path.join(MIGRATIONS, store)))
    return [int(n.split("_", 1)[0]) for n in names if n.endswith(".sql")]


@meta(est=4)
def test_processes_starting_at_once_migrate_once(env):
    # An ingress and three workers on a database nobody opened yet, all at the same moment.
    procs = [env.start_ingress(wait=False)]
    procs += [env.start_worker(wait=False) for _ in range(3)]
    env.wait_ready(procs[0])
    deadline = time.time() + 20
    for p in procs[1:]:
        while "worker started" not in p.text():
            check(p.alive(), "%s exited at start:\n%s" % (p.name, p.tail(20)))
            check(time.time() < deadline, "%s did not start:\n%s" % (p.name, p.tail(20)))
            time.sleep(0.05)
    rows = env.sql("SELECT version FROM schema_migrations ORDER BY version")
    want = _versions(env.store)
    check([int(r[0]) for r in rows] == want, "schema_migrations %r, want %r" % (rows, want))
    if env.store == "postgres":
        parts = env.sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        check(int(parts[0][0]) >= 8, "partitions yesterday .. 7 days ahead: %r" % parts)
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    env.send(b)


@meta(est=3)
def test_sqlite_file_from_before_migrations_upgrades(env):
    env.need_sqlite("a SQLite file made by an older hookbridge")
    # The schema as hookbridge made it before migrations: 001 is that file.
    con = sqlite3.connect(env.db)
    with open(os.path.join(MIGRATIONS, "sqlite", "001_base.sql")) as f:
        con.executescript(f.read())
    eid = "evt_01JF0000000000000000000001"
    ev = {"id": eid, "bridge_id": "brg_01JF0000000000000000000001", "status": "delivered",
          "received_at": "2024-12-16T00:00:00.000Z",
          "request": {"method": "POST", "path": "/hooks/x", "query": {}, "headers": {},
                      "body": {"order": "A-10023"}},
          "outbound": None, "attempts": [], "next_attempt_at": None, "replay_of": None}
    con.execute("INSERT INTO events VALUES (?, ?, 'delivered', 1, 1, ?)",
                (eid, ev["bridge_id"], json.dumps(ev)))
    con.commit()
    con.close()
    env.start_ingress()
    r = env.api("GET", "/api/events?q=a-10023")
    check(r.status == 200 and [e["id"] for e in r.json()["events"]] == [eid],
          "the old event found by q after the upgrade: %r" % r)
    rows = env.sql("SELECT version FROM schema_migrations ORDER BY version")
    check([r[0] for r in rows] == _versions("sqlite"), "versions %r" % rows)


@meta(est=10, timeout=120)
def test_postgres_restart_is_survived(env):
    if env.store != "postgres":
        skip("PostgreSQL only (HB_STORE=postgres)")
    # A server of this test's own: restarting the run's shared one would hit other tests.
    own = PostgresServer(os.path.join(env.dir, "own"))
    os.makedirs(os.path.join(env.dir, "own"), exist_ok=True)
    own.start()
    try:
        env.db = own.createdb("restart")
        env.start_ingress()
        env.start_worker()
        sink = env.sink()
        b = env.create_bridge(outbound_url=sink.url("/r"))
        first = env.send(b)
        env.wait_event(first, {"delivered"})
        own.restart()
        time.sleep(0.5)
        second = env.send(b)
        env.wait_event(second, {"delivered"}, timeout=30)
        r = env.api("GET", "/api/events?limit=5")
        check(r.status == 200 and {first, second} <= {e["id"] for e in r.json()["events"]},
              "list after the restart: %r" % r)
        check(env.api("PATCH", "/api/bridges/" + b["id"], {"name": "after"}).status == 200,
              "bridge write after the restart")
    finally:
        # Stopped while their database is still up; teardown then finds them ended.
        for p in env.procs:
            if p.alive():
                p.terminate(timeout=25)
        own.stop()


# A row the database refuses: a constraint on the body (PostgreSQL's `body` column) or a
# trigger on the event JSON (SQLite), standing for any write that fails for one event only.
_POISON_ON = {
    "postgres": "ALTER TABLE events ADD CONSTRAINT hb_test_poison "
                "CHECK (body IS NULL OR body NOT LIKE '%poison%')",
    "sqlite": "CREATE TRIGGER hb_test_poison BEFORE INSERT ON events "
              "WHEN NEW.data LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poison'); END",
}
_POISON_OFF = {
    "postgres": "ALTER TABLE events DROP CONSTRAINT hb_test_poison",
    "sqlite": "DROP TRIGGER hb_test_poison",
}


def _stored(env):
    return {r[0]: r[1] for r in env.sql("SELECT id, status FROM events")}


@meta(est=8, timeout=120)
def test_refused_event_write_holds_back_no_other(env):
    sink = env.sink()
    env.start_ingress()
    b = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
    env.sql(_POISON_ON[env.store])
    bad = env.send(b, body=b'{"poison":true}')
    good = env.send_many(b, 40)
    # All 41 queued before the worker starts: they are delivered, and their writes batched,
    # together.
    env.start_worker()
    deadline = time.time() + 30
    while True:
        rows = _stored(env)
        written = [i for i in good if rows.get(i) == "delivered"]
        if len(written) == len(good):
            break
        check(time.time() < deadline,
              "%d of %d events stored as delivered while one event's write is refused"
              % (len(written), len(good)))
        time.sleep(0.2)
    check(bad not in rows, "the refused event is stored: %r" % rows.get(bad))
    # The refused write stayed queued: it lands once the database takes it.
    env.sql(_POISON_OFF[env.store])
    deadline = time.time() + 15
    while _stored(env).get(bad) != "delivered":
        check(time.time() < deadline, "the once-refused event is not stored after 15 s")
        time.sleep(0.2)

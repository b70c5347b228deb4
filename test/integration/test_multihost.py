"""Multi-host (issue 17, SPEC "Stores and scale-out"): two ingresses and three workers that
share nothing but Redis and PostgreSQL (no file: the store is a postgres:// URL), load sent
through both ingresses, one worker SIGKILLed mid-delivery. Every accepted event ends
delivered, and the only events the destination saw twice are ones in flight at the kill
(those the killed worker held: its --concurrency on the wire plus the answered ones whose
outcome was not committed yet). Runs in the PostgreSQL run of the suite."""

import json
import threading
import time

from harness import check, free_port, http_request, meta, skip
from sink import always

CONCURRENCY = 8


def _start_second_ingress(env):
    public, admin = free_port(), free_port()
    p = env.start_ingress({"HOOKBRIDGE_LISTEN": "127.0.0.1:%d" % public,
                           "HOOKBRIDGE_ADMIN_LISTEN": "127.0.0.1:%d" % admin},
                          wait=False, name="ingress2")
    deadline = time.time() + 20
    while True:
        check(p.alive(), "ingress2 exited at start:\n%s" % p.tail(20))
        try:
            if http_request(admin, "GET", "/healthz", timeout=2).status == 200:
                return public, admin
        except OSError:
            pass
        check(time.time() < deadline, "ingress2 not ready")
        time.sleep(0.05)


@meta(est=45, timeout=180, weight=2)
def test_two_ingresses_three_workers_one_killed(env):
    if env.store != "postgres":
        skip("multi-host runs on PostgreSQL only (HB_STORE=postgres): workers on other hosts "
             "cannot share a SQLite file")
    env.start_ingress()
    public2, admin2 = _start_second_ingress(env)
    sink = env.sink(always(200, delay=0.05))
    b = env.create_bridge(outbound_url=sink.url("/multi"))
    workers = [env.start_worker({"HOOKBRIDGE_CONCURRENCY": str(CONCURRENCY)}) for _ in range(3)]

    ids, errors = [], []
    lock = threading.Lock()

    def load(port, n):
        for i in range(n):
            try:
                r = http_request(port, "POST", "/hooks/" + b["endpoint"], b'{"n":%d}' % i,
                                 {"Content-Type": "application/json"})
                if r.status == 202:
                    with lock:
                        ids.append(r.json()["event_id"])
                else:
                    errors.append(r.status)
            except OSError as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=load, args=(port, 150))
               for port in (env.public_port, public2) for _ in range(2)]
    for t in threads:
        t.start()
    sink.wait_for(lambda s: len(s.requests) >= 100, 60, "100 requests at the sink")
    workers[0].kill()
    t_kill = time.time()
    # What the killed worker held: on the wire, or answered and not yet committed (a job
    # leaves its in-flight list only once its outcome is in the store).
    name = next(json.loads(line)["worker"] for line in workers[0].text().splitlines()
                if '"worker started"' in line)
    inflight_at_kill = set(env.redis.client("LRANGE", "hb:queue:inflight:" + name, 0, -1) or [])
    for t in threads:
        t.join(60)
    check(not errors, "requests not accepted: %r" % errors[:5])
    check(len(ids) == 600, "accepted %d of 600" % len(ids))
    env.note("killed worker1 holding %d jobs" % len(inflight_at_kill))

    # The killed worker's jobs come back once its heartbeat is 30 s old.
    sink.wait_for(lambda s: set(ids) <= s.delivered_ids(), 120, "all 600 delivered")
    env.note("all delivered %.1fs after the kill" % (time.time() - t_kill))
    # Read through both ingresses: one database behind them.
    env.wait_events(ids, {"delivered"}, timeout=60)
    for eid in ids[:20]:
        r = http_request(admin2, "GET", "/api/events/" + eid,
                         headers={"Authorization": "Bearer " + env.token})
        check(r.status == 200 and r.json()["status"] == "delivered",
              "ingress2 reads %s: %r" % (eid, r))
    time.sleep(0.5)
    dup = {k for k, v in sink.counts().items() if v > 1}
    check(dup <= inflight_at_kill, "sent twice without being in flight at the kill: %r"
          % sorted(dup - inflight_at_kill)[:5])
    env.note("%d events sent twice (in flight at the kill)" % len(dup))
    check(all(w.alive() for w in workers[1:]), "a surviving worker died")

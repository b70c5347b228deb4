"""One worker draining a backlog: acknowledgements sent in batches (one script call for the
jobs a turn of the loop finished), all delivered, released and nothing lost on SIGKILL."""

import time

from harness import check, meta
from sink import always


def _queued_total(env):
    r = env.redis.client
    n = r("LLEN", "hb:queue:ready") + r("ZCARD", "hb:queue:scheduled")
    for k in r("KEYS", "hb:queue:inflight:*") or []:
        n += r("LLEN", k)
    return n


def _calls(env, cmd):
    for line in env.redis.client("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_%s:" % cmd):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def _delivered(env):
    return int(env.sql("SELECT count(*) FROM events WHERE status = 'delivered'")[0][0])


def _wait_empty(env, timeout=15):
    deadline = time.time() + timeout
    while _queued_total(env) and time.time() < deadline:
        time.sleep(0.1)


@meta(est=20, timeout=120)
def test_acks_of_a_backlog_are_batched_and_all_land(env):
    n = 600
    env.start_ingress()
    sink = env.sink(always(200))
    b = env.create_bridge(outbound_url=sink.url("/batch"), retries=0)
    ids = env.send_many(b, n)
    env.redis.client("CONFIG", "RESETSTAT")
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    # Waited for in the store, not through the API (whose reads are scripts too).
    deadline = time.time() + 90
    while _delivered(env) < n and time.time() < deadline:
        time.sleep(0.1)
    _wait_empty(env)
    evals = _calls(env, "eval")
    # Fairness (worker/gate.c) may park jobs of the route while the backlog lasts, when its
    # attempts are slow on a loaded machine: a park and a pull are two scripts a job, and
    # each pull is the one HSET of a drain of successes ('fair_pulled'). Not counted.
    hsets = _calls(env, "hset")
    env.note("%d EVAL and %d HSET calls for %d deliveries" % (evals, hsets, n))
    evals -= 2 * hsets
    check(_delivered(env) == n, "%d of %d delivered" % (_delivered(env), n))
    r = env.redis.client
    check(_queued_total(env) == 0, "jobs left in Redis: %d" % _queued_total(env))
    check(not r("KEYS", "hb:job:*"), "job hashes left: %d" % len(r("KEYS", "hb:job:*")))
    check(r("SCARD", "hb:bridge:%s:pending" % b["id"]) == 0, "pending set not empty")
    check(not (set(ids) - sink.delivered_ids()), "events never answered 2xx at the sink")
    # One ack a job was one EVAL a job (plus the fetch scripts): batched, a commit of
    # hundreds of outcomes is a few calls.
    check(evals < n / 2, "%d EVAL calls for %d deliveries: acks not batched" % (evals, n))
    check(w.alive(), "worker died")


@meta(est=50, timeout=150)
def test_worker_sigkill_while_acks_are_batched_loses_nothing(env):
    n = 2000
    env.start_ingress()
    sink = env.sink(always(200))
    b = env.create_bridge(outbound_url=sink.url("/kill"), retries=0)
    ids = env.send_many(b, n, threads=16)
    w1 = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    # Killed mid-drain: outcomes committed and acks on their way, others in flight.
    sink.wait_for(lambda s: len(s.requests) >= 400, 60, "400 requests from worker1")
    w1.kill()
    done_at_kill = len(sink.delivered_ids())
    check(done_at_kill < n, "worker1 finished everything before it was killed")
    env.note("killed worker1 with %d answered" % done_at_kill)
    w2 = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    # The killed worker's jobs come back once its heartbeat is 30 s old.
    env.wait_events(ids, {"delivered"}, timeout=120)
    missing = set(ids) - sink.delivered_ids()
    check(not missing, "%d events delivered in the API but never answered 2xx" % len(missing))
    _wait_empty(env, 20)
    check(_queued_total(env) == 0, "jobs left in Redis: %d" % _queued_total(env))
    check(not env.redis.client("KEYS", "hb:job:*"), "job hashes left in Redis")
    check(w2.alive(), "worker2 died")


@meta(est=25, timeout=120)
def test_queue_scripts_go_by_evalsha_and_come_back_after_a_script_flush(env):
    # The fetch and ack scripts are sent by their SHA1 (EVALSHA), not with their whole
    # text each call; when Redis has lost its script cache (SCRIPT FLUSH here, a restart or
    # a failover in production) the NOSCRIPT answer sends the same call again as an EVAL:
    # nothing is lost or delivered twice.
    n = 300
    env.start_ingress()
    sink = env.sink(always(200))
    b = env.create_bridge(outbound_url=sink.url("/sha"), retries=0)
    first = env.send_many(b, n)
    r = env.redis.client
    r("CONFIG", "RESETSTAT")
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    deadline = time.time() + 60
    while _delivered(env) < n and time.time() < deadline:
        time.sleep(0.1)
    check(_delivered(env) == n, "%d of %d delivered" % (_delivered(env), n))
    evalsha = _calls(env, "evalsha")
    env.note("%d EVALSHA, %d EVAL calls for %d deliveries" % (evalsha, _calls(env, "eval"), n))
    # At least a fetch and an ack batch each, by SHA.
    check(evalsha >= 2, "%d EVALSHA calls: the worker's scripts still go as EVAL" % evalsha)
    r("SCRIPT", "FLUSH")
    second = env.send_many(b, n)
    deadline = time.time() + 60
    while _delivered(env) < 2 * n and time.time() < deadline:
        time.sleep(0.1)
    check(_delivered(env) == 2 * n, "%d of %d delivered after SCRIPT FLUSH" % (_delivered(env), 2 * n))
    _wait_empty(env)
    check(_queued_total(env) == 0, "jobs left in Redis: %d" % _queued_total(env))
    check(not r("KEYS", "hb:job:*"), "job hashes left in Redis")
    missing = set(first + second) - sink.delivered_ids()
    check(not missing, "%d events never answered 2xx at the sink" % len(missing))
    dup = len(sink.requests) - len(sink.delivered_ids())
    check(dup == 0, "%d requests sent twice" % dup)
    log = w.text()
    check("script failed" not in log, "a script failed: %s" % w.tail(10))
    check(w.alive(), "worker died")

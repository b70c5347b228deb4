"""Requests accepted in one turn of the ingress's loop share one Redis transaction
(ingress/enqueue.c): each still gets its own 202, its own job, and only once Redis holds it."""

import json
import signal
import socket
import time

from harness import check, meta
from sink import always


def _request(endpoint, body, port):
    head = ("POST /hooks/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % (endpoint, port, len(body)))
    return head.encode() + body


def _send_all(env, endpoint, bodies, timeout=30):
    """Open a connection per body, then write every request in one go, so that the ingress
    reads many of them in the same loop turn. Returns the sockets."""
    socks = [socket.create_connection(("127.0.0.1", env.public_port), timeout=timeout)
             for _ in bodies]
    for s, body in zip(socks, bodies):
        s.sendall(_request(endpoint, body, env.public_port))
    return socks


def _read_all(socks):
    """Each socket's answer, in order: [(status, json or None)]."""
    out = []
    for s in socks:
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head else 0
        try:
            out.append((status, json.loads(rest) if rest else None))
        except ValueError:
            out.append((status, None))
    return out


def _burst(env, endpoint, bodies):
    return _read_all(_send_all(env, endpoint, bodies))


def _exec_calls(env):
    for line in env.redis.client("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_exec:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


def _check_queue_whole(env):
    """Every job hash is queued (ready list, pending set, unrecorded list) and every queued
    id has its hash: a batch is written wholly or not at all."""
    r = env.redis.client
    keys = r("KEYS", "hb:job:*") or []
    ready = set(r("LRANGE", "hb:queue:ready", "0", "-1") or [])
    unrecorded = set(r("LRANGE", "hb:events:unrecorded", "0", "-1") or [])
    for k in keys:
        eid = k[len("hb:job:"):]
        bridge = r("HGET", k, "bridge_id")
        check(bridge and r("HGET", k, "body") is not None and r("HGET", k, "request"),
              "job %s is missing fields" % eid)
        check(eid in ready, "job %s has a hash but is not in the ready list" % eid)
        check(eid in unrecorded, "job %s is not in the unrecorded list" % eid)
        check(r("SISMEMBER", "hb:bridge:%s:pending" % bridge, eid) == 1,
              "job %s is not in its bridge's pending set" % eid)
    for eid in ready:
        check(r("EXISTS", "hb:job:" + eid) == 1, "queued id %s has no job hash" % eid)
    return len(keys)


@meta(timeout=120, est=15)
def test_batch_many_requests_each_own_event(env):
    """200 requests written at once: each its own 202 and event id, all delivered with their
    own body; Redis ran fewer transactions than requests (they were batched)."""
    env.start_ingress()
    sink = env.sink(always(200))
    b = env.create_bridge(outbound_url=sink.url("/batch"))
    env.send(b)
    env.redis.client("CONFIG", "RESETSTAT")
    n = 200
    bodies = [json.dumps({"n": i}).encode() for i in range(n)]
    answers = _burst(env, b["endpoint"], bodies)
    statuses = [s for s, _ in answers]
    check(statuses == [202] * n, "expected %d x 202, got %r" % (n, sorted(set(statuses))))
    ids = [j["event_id"] for _, j in answers]
    check(len(set(ids)) == n, "%d distinct event ids for %d requests" % (len(set(ids)), n))
    execs = _exec_calls(env)
    check(0 < execs < n, "%d transactions for %d requests: not batched" % (execs, n))
    check(_check_queue_whole(env) == n + 1, "not every request's job is in Redis")
    env.start_worker()
    env.wait_events(ids, ("delivered",), timeout=60)
    for i, eid in enumerate(ids):
        got = sink.by_event(eid)
        check(got and json.loads(got[0].body) == {"n": i},
              "event %s was delivered with the wrong body: %r" % (eid, got and got[0].body))


@meta(timeout=120, est=20)
def test_batch_over_its_caps(env):
    """More requests in one turn than a batch holds (256), and more bytes (4 MiB): every
    request still answered 202 with its own queued job."""
    env.start_ingress({"HOOKBRIDGE_MAX_BODY": str(2 << 20)})
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    n = 600
    answers = _burst(env, b["endpoint"], [json.dumps({"n": i}).encode() for i in range(n)])
    check([s for s, _ in answers] == [202] * n, "over the count cap: %r" %
          sorted(set(s for s, _ in answers)))
    check(len({j["event_id"] for _, j in answers}) == n, "over the count cap: ids not distinct")
    big = [json.dumps({"n": i, "pad": "x" * (1 << 20)}).encode() for i in range(6)]
    answers = _burst(env, b["endpoint"], big)
    check([s for s, _ in answers] == [202] * 6, "over the byte cap: %r" % [s for s, _ in answers])
    for (_, j), body in zip(answers, big):
        stored = env.redis.client("HGET", "hb:job:" + j["event_id"], "body")
        check(stored is not None and len(stored) == len(body),
              "job %s: body of %s bytes, sent %d" % (j["event_id"], stored and len(stored),
                                                    len(body)))
    check(_check_queue_whole(env) == n + 6, "not every request's job is in Redis")
    # The same for the script's batch: dedup keys, 300 requests (over 256).
    d = env.create_bridge(outbound_url="http://127.0.0.1:9/x",
                          dedup={"key": "$payload.k", "window_seconds": 60})
    answers = _burst(env, d["endpoint"], [json.dumps({"k": "G-%d" % i}).encode()
                                          for i in range(300)])
    check([s for s, _ in answers] == [202] * 300, "script batch over the cap: %r" %
          sorted(set(s for s, _ in answers)))
    check(len({j["event_id"] for _, j in answers}) == 300, "script batch: ids not distinct")
    check(_check_queue_whole(env) == n + 6 + 300, "not every dedup request's job is in Redis")


@meta(timeout=120, est=20)
def test_batch_redis_lost_answers_all_503(env):
    """Redis stops answering with a batch on its way, then dies: every request of the batch
    is answered 503 and Redis holds no part of a job."""
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.send(b)
    env.redis.proc.send_signal(signal.SIGSTOP)
    socks = _send_all(env, b["endpoint"], [json.dumps({"n": i}).encode() for i in range(40)])
    time.sleep(1.0)  # the ingress has read them all and sent their transaction
    env.redis.proc.send_signal(signal.SIGKILL)
    env.redis.proc.wait()
    answers = _read_all(socks)
    check([s for s, _ in answers] == [503] * 40,
          "expected 40 x 503 with Redis killed, got %r" % [s for s, _ in answers])
    check(all(j and j.get("error") == "queue_unavailable" for _, j in answers),
          "503 without queue_unavailable: %r" % answers[0][1])
    # Redis never ran the transaction: after a restart (AOF) none of its jobs is there.
    env.redis.client.close()
    env.redis.start()
    deadline = time.time() + 15
    while env.hook(b).status != 202:
        check(time.time() < deadline, "no 202 after Redis came back")
        time.sleep(0.2)
    _check_queue_whole(env)
    for k in env.redis.client("KEYS", "hb:job:*") or []:
        check('"n"' not in (env.redis.client("HGET", k, "body") or ""),
              "a job of the failed batch is in Redis: %s" % k)


def _calls(env, cmd):
    for line in env.redis.client("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_%s:" % cmd):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


@meta(est=5)
def test_dedup_by_evalsha_survives_script_flush(env):
    """The dedup / Idempotency-Key script goes by EVALSHA; after SCRIPT FLUSH (as after a
    Redis restart or a failover) the NOSCRIPT answer is retried as EVAL, and duplicates are
    still found."""
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/d",
                          dedup={"key": "$payload.orderid", "window_seconds": 60})
    first = env.hook(b, body=b'{"orderid":"E-1","n":1}')
    check(first.status == 202, "first: %r" % first)
    for i in range(3):
        r = env.hook(b, body=b'{"orderid":"E-1","n":2}')
        check(r.status == 202 and r.json()["event_id"] == first.json()["event_id"] and
              r.header("Idempotent-Replayed") == "true", "duplicate #%d: %r" % (i, r))
    sha_calls = _calls(env, "evalsha")
    check(sha_calls >= 3, "the script went by EVALSHA %d times for 4 requests" % sha_calls)
    evals = _calls(env, "eval")
    check(evals <= 1, "the script was sent whole %d times (EVAL)" % evals)
    env.redis.client("SCRIPT", "FLUSH")
    r = env.hook(b, body=b'{"orderid":"E-1","n":3}')
    check(r.status == 202 and r.json()["event_id"] == first.json()["event_id"] and
          r.header("Idempotent-Replayed") == "true", "duplicate after SCRIPT FLUSH: %r" % r)
    fresh = env.hook(b, body=b'{"orderid":"E-2"}')
    check(fresh.status == 202 and fresh.json()["event_id"] != first.json()["event_id"],
          "new key after SCRIPT FLUSH: %r" % fresh)
    env.redis.client("SCRIPT", "FLUSH")
    k1 = env.hook(b, body=b'{"x":1}', headers={"Idempotency-Key": "k-1"})
    k2 = env.hook(b, body=b'{"x":1}', headers={"Idempotency-Key": "k-1"})
    check(k1.status == 202 and k2.status == 202 and
          k2.json()["event_id"] == k1.json()["event_id"], "Idempotency-Key: %r %r" % (k1, k2))
    check(env.redis.client("LLEN", "hb:queue:ready") == 3, "queued %r" %
          env.redis.client("LLEN", "hb:queue:ready"))


@meta(timeout=60, est=5)
def test_dedup_batch_duplicates_in_one_script(env):
    """Conditional requests of one turn share one script call; duplicates within the same
    call are found as across calls: 60 requests on 12 keys queue 12 events."""
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/d",
                          dedup={"key": "$payload.orderid", "window_seconds": 60})
    env.redis.client("CONFIG", "RESETSTAT")
    bodies = [json.dumps({"orderid": "F-%d" % (i % 12), "n": i}).encode() for i in range(60)]
    answers = _burst(env, b["endpoint"], bodies)
    check([s for s, _ in answers] == [202] * 60, "statuses %r" % [s for s, _ in answers])
    by_key = {}
    for body, (_, j) in zip(bodies, answers):
        by_key.setdefault(json.loads(body)["orderid"], set()).add(j["event_id"])
    check(len(by_key) == 12 and all(len(v) == 1 for v in by_key.values()),
          "one event id per key expected: %r" % {k: len(v) for k, v in by_key.items()})
    check(env.redis.client("LLEN", "hb:queue:ready") == 12, "queued %r" %
          env.redis.client("LLEN", "hb:queue:ready"))
    calls = _calls(env, "evalsha") + _calls(env, "eval")
    check(0 < calls < 60, "%d script calls for 60 requests: not batched" % calls)
    _check_queue_whole(env)

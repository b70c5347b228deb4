"""POST /api/events/{id}/abort and /retry: abort a queued, scheduled or retrying event (409
not_abortable otherwise, 404 unknown); retry a scheduled or retrying one now (202; 409
otherwise)."""

import time

from harness import check, expect_error, meta

DEAD = "http://127.0.0.1:9/x"  # nothing listens: every attempt fails at once


@meta(est=6)
def test_abort_queued_and_retrying_events(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url=DEAD, retry_delays=[60, 60])
    # queued: no worker yet
    q = env.send(b)
    r = env.api("POST", "/api/events/%s/abort" % q)
    check(r.status == 200, "abort queued: %r" % r)
    check(r.json().get("id") == q and r.json().get("status") == "aborted", "body: %r" % r.json())
    expect_error(env.api("POST", "/api/events/%s/abort" % q), 409, "not_abortable",
                 "abort twice")
    env.start_worker()
    ev = env.wait_event(q, "aborted", timeout=15)
    check(not ev.get("attempts"), "an aborted queued event has no attempt: %r" % ev)

    # retrying: one failed attempt, the next due in a minute
    e = env.send(b)
    env.wait_event(e, "retrying", timeout=15)
    r = env.api("POST", "/api/events/%s/abort" % e)
    check(r.status == 200 and r.json().get("status") == "aborted", "abort retrying: %r" % r)
    ev = env.wait_event(e, "aborted", timeout=10)
    check(len(ev.get("attempts") or []) == 1, "the attempt is kept: %r" % ev)
    expect_error(env.api("POST", "/api/events/%s/abort" % e), 409, "not_abortable",
                 "abort an aborted event")
    expect_error(env.api("POST", "/api/events/evt_01JZZZZZZZZZZZZZZZZZZZZZZZ/abort"), 404,
                 "not_found", "abort unknown")
    r = env.api("GET", "/api/events/%s/abort" % e)
    check(r.status == 405, "GET abort: %r" % r)


@meta(est=6)
def test_retry_now_moves_a_retrying_event_to_an_attempt(env):
    env.start_ingress()
    env.start_worker()
    b = env.create_bridge(outbound_url=DEAD, retries=1, retry_delays=[60])
    e = env.send(b)
    ev = env.wait_event(e, "retrying", timeout=15)
    check(len(ev.get("attempts") or []) == 1, "one attempt so far: %r" % ev)
    r = env.api("POST", "/api/events/%s/retry" % e)
    check(r.status == 202, "retry: %r" % r)
    t0 = time.time()
    ev = env.wait_event(e, "failed", timeout=15)
    check(time.time() - t0 < 15 and len(ev.get("attempts") or []) == 2,
          "attempted again at once: %r" % ev)
    expect_error(env.api("POST", "/api/events/%s/retry" % e), 409, "not_retryable",
                 "retry a failed event")
    expect_error(env.api("POST", "/api/events/evt_01JZZZZZZZZZZZZZZZZZZZZZZZ/retry"), 404,
                 "not_found", "retry unknown")


@meta(est=8)
def test_abort_while_an_attempt_is_on_the_wire(env):
    from sink import Reply, always
    env.start_ingress()
    env.start_worker()
    sink = env.sink(always(Reply(503, delay=2.0)))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retry_delays=[60, 60])
    e = env.send(b)
    sink.wait_requests(1, timeout=15)
    r = env.api("POST", "/api/events/%s/abort" % e)
    check(r.status == 200 and r.json().get("status") == "aborted", "abort in flight: %r" % r)
    deadline = time.time() + 20
    while env.redis.client("EXISTS", "hb:job:" + e):  # the worker acknowledged the attempt
        check(time.time() < deadline, "job %s still in redis" % e)
        time.sleep(0.05)
    ev = env.event(e)
    check(ev.get("status") == "aborted", "status after the attempt finished: %r" % ev)
    attempts = ev.get("attempts") or []
    check(len(attempts) == 1 and attempts[0].get("status") == 503,
          "the attempt on the wire is finished and kept: %r" % ev)
    time.sleep(0.5)
    check(len(sink.requests) == 1, "sink saw %d requests" % len(sink.requests))

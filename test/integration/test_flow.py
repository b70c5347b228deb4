"""Flow control (issue 14, SPEC "Flow control"): rate_limit, max_concurrency, circuit,
pause/resume, and what an event shows while it waits. Real Redis, real workers, real sinks
that count arrivals per window and requests in flight."""

import datetime
import json
import os
import subprocess
import threading
import time

from harness import REPO, check, expect_error, meta
from sink import Reply, always


def _calls(env, *cmds):
    """Calls of the commands `cmds` since the last CONFIG RESETSTAT (INFO commandstats)."""
    n = 0
    for line in env.redis.client("INFO", "commandstats").splitlines():
        for c in cmds:
            if line.startswith("cmdstat_%s:" % c):
                n += int(line.split("calls=")[1].split(",")[0])
    return n


def _script_calls(env):
    """Script calls, by text (EVAL) or by SHA1 (EVALSHA, as worker/gate.c sends them)."""
    return _calls(env, "eval", "evalsha")


def sliding_max(times, window):
    """The most arrivals in any window of `window` seconds (closed on the left)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _iso_s(iso):
    """Seconds since the epoch of an ISO 8601 time as the API writes it."""
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class GateGrants:
    """The starts flow control granted, on Redis's clock: a MONITOR of the gate script
    (worker/gate.c, common/flow.c), which RPUSHes each start it lets through onto the
    `...:started` list of its limit. The id of the entry is the gate call's ARGV[1] (after
    its 13 keys); MONITOR shows a script call before the commands it runs."""

    def __init__(self, env):
        self.mon = subprocess.Popen(["stdbuf", "-oL", "redis-cli", "-p", str(env.redis.port),
                                     "monitor"], stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        # Read all the time: a MONITOR that nobody reads is cut off by Redis's output limit.
        for line in self.mon.stdout:
            if "EVAL" in line or ':started" ' in line:
                self.lines.append(line)

    def stop(self):
        """{event id: grant time (s)} of every start granted, and the list of all of them."""
        self.mon.terminate()
        self.mon.wait(10)
        self.reader.join(10)
        by_id, times, cur = {}, [], None
        for line in self.lines:
            if "[0 lua]" not in line:
                args = line.split('" "')
                cur = args[16].split("/")[0] if len(args) > 16 and args[2] == "13" else None
            elif '"RPUSH"' in line:
                t = int(line.rsplit('"', 2)[-2]) / 1000.0
                times.append(t)
                if cur is not None:
                    by_id[cur] = t
        return by_id, times


@meta(est=5)
def test_flow_fields_validated_and_shown(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    check(b["deliveries"] == "running", "a new bridge shows deliveries running: %r" % b)
    check(b["circuit"] == {"failures": 10, "open_seconds": 60},
          "circuit is on by default: %r" % b.get("circuit"))
    check(b["rate_limit"] is None and b["max_concurrency"] is None, "no limits by default")
    bad = [
        ({"rate_limit": {"requests": 0, "per_seconds": 60}}, "rate_limit"),
        ({"rate_limit": {"requests": 5}}, "rate_limit"),
        ({"rate_limit": {"requests": 5, "per_seconds": 1, "key": "${nope.x}"}}, "rate_limit"),
        ({"rate_limit": {"requests": 5, "per_seconds": 1, "burst": 3}}, "rate_limit"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": "3"}, "max_concurrency"),
        ({"circuit": {"failures": 0}}, "circuit"),
        ({"circuit": {"open_seconds": 1.5}}, "circuit"),
        ({"circuit": 5}, "circuit"),
    ]
    for body, field in bad:
        r = env.api("PATCH", "/api/bridges/" + b["id"], body)
        expect_error(r, 400, "invalid_bridge", "PATCH %r" % body)
        check(r.json().get("field") == field, "PATCH %r: field %r, expected %r"
              % (body, r.json().get("field"), field))
    r = env.api("PATCH", "/api/bridges/" + b["id"], {
        "rate_limit": {"requests": 60, "per_seconds": 60, "key": "xero:${headers.x-tenant}"},
        "max_concurrency": 5, "circuit": {"failures": 3}})
    check(r.status == 200, "valid flow fields: %r" % r)
    got = r.json()
    check(got["rate_limit"] == {"requests": 60, "per_seconds": 60,
                                "key": "xero:${headers.x-tenant}"}, "rate_limit %r" % got)
    check(got["max_concurrency"] == 5, "max_concurrency %r" % got)
    check(got["circuit"] == {"failures": 3, "open_seconds": 60}, "circuit %r" % got)
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"circuit": None, "max_concurrency": None})
    check(r.json()["circuit"] is None and r.json()["max_concurrency"] is None,
          "null turns them off: %r" % r.json())
    # what a GET shows can be PATCHed back unchanged
    r2 = env.api("PATCH", "/api/bridges/" + b["id"], r.json())
    check(r2.status == 200, "PATCH of a GET's answer: %r" % r2)
    r = env.api("POST", "/api/bridges/" + b["id"] + "/pause")
    check(r.status == 200 and r.json()["deliveries"] == "paused", "pause: %r" % r)
    check(env.api("GET", "/api/bridges/" + b["id"]).json()["deliveries"] == "paused",
          "GET shows paused")
    r = env.api("POST", "/api/bridges/" + b["id"] + "/resume")
    check(r.status == 200 and r.json()["deliveries"] == "running", "resume: %r" % r)
    r = env.api("GET", "/api/bridges/" + b["id"] + "/pause")
    check(r.status == 405, "GET /pause: %r" % r)
    r = env.api("POST", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ/pause")
    check(r.status == 404, "pause of an unknown bridge: %r" % r)


@meta(est=15, timeout=90)
def test_flow_pause_resume_in_order(env):
    env.start_ingress()
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "1"})
    r = env.api("POST", "/api/bridges/" + b["id"] + "/pause")
    check(r.status == 200, "pause: %r" % r)
    ids = [env.send(b, body=('{"n":%d}' % i).encode()) for i in range(20)]
    deadline = time.time() + 15
    while time.time() < deadline:
        n = env.redis.client("LLEN", "hb:flow:wait:%s:paused" % b["id"])
        if n == 20:
            break
        time.sleep(0.1)
    check(n == 20, "20 jobs parked in hb:flow:wait:{bridge}:paused, found %r" % n)
    time.sleep(1.0)
    check(len(sink.requests) == 0, "paused: %d requests reached the sink" % len(sink.requests))
    for eid in (ids[0], ids[-1]):
        ev = env.event(eid)
        check(ev["status"] == "queued", "a paused event stays queued: %r" % ev["status"])
        check(ev.get("waiting") == "paused", "event shows waiting paused: %r" % ev.get("waiting"))
        check(ev["attempts"] == [], "no attempt while paused: %r" % ev["attempts"])
    st = env.api("GET", "/api/stats").json()
    check(st.get("waiting", {}).get("paused") == 20, "/api/stats waiting: %r" % st.get("waiting"))
    e = dict(os.environ, HOOKBRIDGE_REDIS_URL=env.redis.url)
    out = subprocess.run([os.path.join(REPO, "scripts", "inspect")], env=e, capture_output=True,
                         text=True, timeout=30)
    check(out.returncode == 0 and "paused: 20" in out.stdout and b["id"] in out.stdout,
          "scripts/inspect shows the paused backlog:\n%s%s" % (out.stdout, out.stderr))
    r = env.api("POST", "/api/bridges/" + b["id"] + "/resume")
    check(r.status == 200 and r.json()["deliveries"] == "running", "resume: %r" % r)
    env.wait_events(ids, {"delivered"}, timeout=30)
    order = [q.event_id for q in sink.requests]
    check(order == ids, "resume releases in order: got %s, sent %s" % (order, ids))
    ev = env.event(ids[0])
    check(len(ev["attempts"]) == 1 and "waiting" not in ev, "one attempt, no wait: %r" % ev)


@meta(est=25, timeout=120, weight=2)
def test_flow_rate_limit_across_two_workers(env):
    env.start_ingress()
    sink = env.sink()
    per, n_req, total = 2, 5, 25
    b = env.create_bridge(outbound_url=sink.url("/rl"),
                          rate_limit={"requests": n_req, "per_seconds": per})
    ids = env.send_many(b, total)
    grants = GateGrants(env)
    t0 = time.time()
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "16"})
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "16"})
    # while the backlog waits, its events say why and until when
    time.sleep(1.0)
    seen = None
    for eid in ids:
        ev = env.event(eid)
        if ev.get("waiting") == "rate_limit":
            seen = ev
            break
    check(seen is not None, "some event shows waiting rate_limit")
    check(seen["status"] in ("queued", "scheduled") and seen["next_attempt_at"],
          "a rate-limited event stays queued/scheduled with next_attempt_at: %r" % seen)
    check(seen["attempts"] == [], "waiting is not an attempt: %r" % seen["attempts"])
    env.wait_events(ids, {"delivered"}, timeout=60)
    elapsed = time.time() - t0
    granted, all_grants = grants.stop()
    times = [q.t_start for q in sink.requests]
    check(len(times) == total, "%d requests for %d events (no extra attempts)"
          % (len(times), total))
    # Three clocks, three measures. The limit holds where flow control decides, on Redis's
    # clock, across workers and hosts (SPEC "Flow control"): the starts it granted, exactly.
    # An attempt then starts in its worker a little after its grant (the reply's way back
    # and that worker's loop), and reaches the sink a little after that (loopback, and the
    # sink's thread reading it): a start that is late by d can share a window with starts
    # that are not, so each later measure is checked in a window shortened by the delays
    # measured in this run (the starts of any n+1 attempts are `per` apart, so their
    # arrivals are at least `per` - max delay apart). Under load these delays reached 100 and
    # 250 ms, which is what made a `per` window at the sink see 7-10 arrivals; the gate
    # spaces grants by `per` + 2 % for the usual few milliseconds.
    started = {}
    for eid in ids:
        ev = env.event(eid)
        check(len(ev["attempts"]) == 1, "one attempt each: %r" % ev["attempts"])
        started[eid] = _iso_s(ev["attempts"][0]["started_at"])
    arrived = {q.event_id: q.t_start for q in sink.requests}
    check(set(granted) == set(ids), "every attempt was let through by the gate: %d of %d "
          "granted" % (len(set(granted) & set(ids)), total))
    check(len(all_grants) == total, "%d starts granted for %d attempts" % (len(all_grants), total))
    g_worst = sliding_max(all_grants, per)
    # started_at has millisecond resolution: 1 ms of slack on each side
    lag = max(started[e] - granted[e] for e in ids) + 0.002
    wire = max(arrived[e] - started[e] for e in ids) + 0.002
    w_worst = sliding_max(list(started.values()), per - lag)
    worst = sliding_max(times, per - lag - wire)
    t_min = min(all_grants)
    env.note("granted: %s" % " ".join("%.2f" % (t - t_min) for t in sorted(all_grants)))
    env.note("%d events at %d/%ds: all delivered in %.1fs, busiest %ds window: %d granted; "
             "%d started in %.3fs (grant to start up to %.0f ms); %d arrived in %.3fs (start "
             "to arrival up to %.0f ms)" % (total, n_req, per, elapsed, per, g_worst, w_worst,
                                            per - lag, lag * 1000, worst, per - lag - wire,
                                            wire * 1000))
    check(g_worst <= n_req, "a %ds window saw %d starts granted, limit %d"
          % (per, g_worst, n_req))
    # The shortened windows must still hold n+1 starts' spacing to mean anything. Under load
    # 12 on 2 cores (ASan, 5 tests at once) the delays reached 526 ms (a worker's loop) and
    # 565 ms (the sink's thread).
    check(lag + wire <= per * 3 / 4, "attempts start and arrive within %.0f ms of their grant: "
          "%.0f + %.0f ms" % (per * 750, lag * 1000, wire * 1000))
    check(w_worst <= n_req, "a %.3fs window saw %d attempts started, limit %d"
          % (per - lag, w_worst, n_req))
    check(worst <= n_req, "a %.3fs window saw %d arrivals, limit %d"
          % (per - lag - wire, worst, n_req))
    span = max(times) - min(times)
    ideal = (total / n_req - 1) * per
    check(span >= ideal - 0.5, "the backlog is spread over the windows: span %.1fs, "
          "expected about %.1fs" % (span, ideal))
    check(span <= ideal + 4, "no long stall: span %.1fs for an ideal %.1fs" % (span, ideal))
    # a second route (another bridge) is not slowed by this backlog
    sink2 = env.sink()
    b2 = env.create_bridge(outbound_url=sink2.url("/other"))
    ids = env.send_many(b, 20)
    t1 = time.time()
    other = [env.send(b2) for _ in range(5)]
    env.wait_events(other, {"delivered"}, timeout=10)
    check(time.time() - t1 < 3, "other bridge delivered in %.1fs behind a rate-limited backlog"
          % (time.time() - t1))


@meta(est=20, timeout=120, weight=2)
def test_flow_max_concurrency_across_two_workers(env):
    env.start_ingress()
    sink = env.sink(always(200, delay=0.4))
    b = env.create_bridge(outbound_url=sink.url("/c"), max_concurrency=3)
    ids = env.send_many(b, 30)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "16"})
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "16"})
    seen_wait = False
    deadline = time.time() + 5
    while time.time() < deadline and not seen_wait:
        st = env.api("GET", "/api/stats").json()
        seen_wait = st.get("waiting", {}).get("concurrency", 0) > 0
        time.sleep(0.1)
    check(seen_wait, "/api/stats shows jobs waiting for concurrency")
    env.wait_events(ids, {"delivered"}, timeout=60)
    env.note("max in flight at the sink: %d (limit 3)" % sink.max_inflight)
    check(sink.max_inflight <= 3, "%d in flight at once, max_concurrency 3" % sink.max_inflight)
    check(sink.max_inflight == 3, "the limit is used: peak %d" % sink.max_inflight)
    check(len(sink.requests) == 30, "one attempt each: %d requests" % len(sink.requests))


@meta(est=40, timeout=120, weight=2)
def test_flow_concurrency_lease_released_after_sigkill(env):
    env.start_ingress()
    hang = threading.Event()

    def responder(req):
        if req.index == 0:
            hang.wait(60)  # the first request never gets an answer from this sink
        return Reply(200)

    sink = env.sink(responder)
    b = env.create_bridge(outbound_url=sink.url("/k"), max_concurrency=1, timeout_ms=120000,
                          circuit=None)
    first = env.send(b)
    w1 = env.start_worker()
    sink.wait_requests(1, 20)
    second = env.send(b)
    w2 = env.start_worker()
    time.sleep(1.0)
    check(len(sink.requests) == 1, "the second waits for the only slot")
    check(env.event(second).get("waiting") == "concurrency",
          "the second shows waiting concurrency: %r" % env.event(second))
    w1.kill()
    t0 = time.time()
    env.wait_event(second, {"delivered"}, timeout=35)
    took = time.time() - t0
    env.note("slot of a SIGKILLed worker came back after %.1fs" % took)
    check(took <= 30, "lease released %.1fs after SIGKILL, expected within 30 s" % took)
    hang.set()
    env.wait_event(first, {"delivered"}, timeout=60)
    del w2


@meta(est=30, timeout=120)
def test_flow_circuit_opens_probes_and_closes(env):
    env.start_ingress()
    notices = env.sink()
    state = {"fail": True}

    def responder(req):
        return Reply(500) if state["fail"] else Reply(200)

    sink = env.sink(responder)
    b = env.create_bridge(outbound_url=sink.url("/cb"), retries=5, retry_delays=[1],
                          circuit={"failures": 3, "open_seconds": 3},
                          notify_url=notices.url("/notify"))
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "1"})
    ids = [env.send(b) for _ in range(3)]
    sink.wait_requests(3, 15)
    notices.wait_for(lambda s: len(s.requests) >= 1, 10, "a circuit_opened notice")
    t_open = time.time()
    opened = json.loads(notices.requests[0].body)
    check(opened["type"] == "circuit_opened" and opened["bridge_id"] == b["id"]
          and opened["route"] == "default", "opened notice: %r" % opened)
    more = env.send(b)
    time.sleep(1.0)
    ev = env.event(more)
    check(ev.get("waiting") == "circuit", "an event waits for the circuit: %r" % ev)
    check(ev["attempts"] == [], "waiting while open is not an attempt: %r" % ev["attempts"])
    check(len(sink.requests) == 3, "no call while open: %d" % len(sink.requests))
    # the probe comes after open_seconds and fails: open again, with a second notice
    sink.wait_requests(4, 10)
    t_probe = sink.requests[3].t_start
    check(t_probe - t_open >= 2.5, "probe %.1fs after opening, open_seconds 3"
          % (t_probe - t_open))
    time.sleep(0.5)
    check(len(sink.requests) == 4, "one probe only: %d requests" % len(sink.requests))
    notices.wait_for(lambda s: len(s.requests) >= 2, 10, "a second circuit_opened")
    check(json.loads(notices.requests[1].body)["type"] == "circuit_opened", "reopened")
    state["fail"] = False
    t_reopen = time.time()
    notices.wait_for(lambda s: len(s.requests) >= 3, 15, "a circuit_closed notice")
    closed = json.loads(notices.requests[2].body)
    check(closed["type"] == "circuit_closed", "closed notice: %r" % closed)
    check(time.time() - t_reopen >= 1.5, "the next probe waited open_seconds again")
    env.wait_events(ids + [more], {"delivered"}, timeout=30)
    # every attempt made was a real call: waiting added none
    made = sum(len(env.event(e)["attempts"]) for e in ids + [more])
    check(made == len(sink.requests), "%d attempts recorded, %d calls at the sink"
          % (made, len(sink.requests)))
    deadline = time.time() + 5
    while time.time() < deadline:
        m = env.api("GET", "/metrics", token=None).text
        if 'transition="closed"} 1' in m:
            break
        time.sleep(0.2)
    m = env.api("GET", "/metrics", token=None).text
    check('hookbridge_circuit_transitions_total{transition="opened"} 2' in m
          and 'hookbridge_circuit_transitions_total{transition="closed"} 1' in m,
          "metrics count the transitions:\n%s"
          % "\n".join(l for l in m.splitlines() if "circuit" in l))


@meta(est=15, timeout=90)
def test_flow_fairness_slow_route_does_not_starve_instant(env):
    """One worker at --concurrency 4: a backlog for a destination answering after 3 s,
    queued first, takes at most half the slots while the other route's events wait."""
    env.start_ingress()
    slow = env.sink(always(200, delay=3.0))
    fast = env.sink()
    bs = env.create_bridge(outbound_url=slow.url("/slow"), retries=0)
    bf = env.create_bridge(outbound_url=fast.url("/fast"), retries=0)
    slow_ids = env.send_many(bs, 20)
    fast_ids = [env.send(bf) for _ in range(10)]
    t0 = time.time()
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "4"})
    env.wait_events(fast_ids, {"delivered"}, timeout=30)
    took = time.time() - t0
    t_fast_done = max(q.t_start for q in fast.requests)
    # each slow request lasts 3 s: those started before the last instant one are all held
    held = len([q for q in slow.requests if q.t_start <= t_fast_done])
    env.note("10 instant events behind 20 slow ones: delivered in %.1fs; slow requests held "
             "meanwhile %d; slow peak in flight %d" % (took, held, slow.max_inflight))
    check(held <= 2, "the slow route held %d of 4 slots while others waited" % held)
    slow.wait_for(lambda s: s.max_inflight >= 3, 20, "the slow route alone using more slots")
    check(took < 3.0, "instant events waited %.1fs behind the slow route" % took)
    # alone, the slow route may use every slot
    env.wait_events(slow_ids, {"delivered"}, timeout=60)


@meta(est=20, timeout=120)
def test_flow_lone_slow_route_backlog_walked_uses_whole_worker(env):
    """A slow route alone with a backlog (issue 18): its share is half of --concurrency only
    while something else waits, so the backlog in front is parked in a few calls (the walk
    in flow_lua_fair_park), not taken and parked one job at a time at Redis round-trip speed
    while the route is held to half; then it uses every slot, and each job goes once."""
    env.start_ingress()
    sink = env.sink(always(200, delay=0.2))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=0)
    ids = env.send_many(b, 400)
    env.redis.client("CONFIG", "RESETSTAT")
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "10"})
    deadline = time.time() + 30
    while int(env.redis.client("LLEN", "hb:queue:ready")) > 0:
        check(time.time() < deadline, "the ready list never emptied")
        time.sleep(0.02)
    evals = _script_calls(env)
    env.note("400 jobs of a lone 200 ms route left the ready list with %d EVAL calls" % evals)
    # one park call a job would be about 400 (plus the fetches)
    check(evals < 100, "%d EVAL calls to clear a backlog of 400 for one route" % evals)
    env.wait_events(ids, {"delivered"}, timeout=90)
    check(sink.max_inflight > 5, "peak in flight %d of 10: held to half while alone"
          % sink.max_inflight)
    counts = [len(sink.by_event(i)) for i in ids]
    check(set(counts) == {1}, "each job delivered once: %r" % sorted(set(counts)))


@meta(est=25, timeout=120)
def test_flow_fair_list_pulled_back_in_batches(env):
    """A lone slow route's backlog, walked into its fair list, comes back into the worker
    several jobs a script call (flow_lua_fair_pull), not one call a job: the pull-back of
    1,200 jobs costs far fewer calls than jobs, every job is delivered exactly once, and
    nothing is left in the fair list or in flight."""
    n, conc = 1200, 60
    env.start_ingress()
    sink = env.sink(always(200, delay=0.3))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=0)
    ids = env.send_many(b, n, threads=16)
    fair = "hb:flow:wait:%s:default:fair" % b["id"]
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": str(conc)})
    deadline = time.time() + 30
    while int(env.redis.client("LLEN", "hb:queue:ready")) > 0:
        check(time.time() < deadline, "the ready list never emptied")
        time.sleep(0.01)
    env.redis.client("CONFIG", "RESETSTAT")
    walked = int(env.redis.client("LLEN", fair))
    check(walked > n - 4 * conc, "the backlog was walked into the fair list: %d" % walked)
    env.wait_events(ids, {"delivered"}, timeout=90)
    # Each pull call writes the route's 'fair_pulled' once (and a drain of successes makes
    # no other HSET): before the batched pull that was one call a job.
    pulls = _calls(env, "hset")
    scripts = _script_calls(env)
    env.note("%d jobs pulled back from the fair list with %d pull calls (%d script calls in "
             "all); peak in flight at the sink %d of %d"
             % (walked, pulls, scripts, sink.max_inflight, conc))
    check(pulls * 2 < walked, "%d pull calls for %d parked jobs: not batched" % (pulls, walked))
    check(sink.max_inflight > conc * 3 // 4, "peak in flight %d of %d: the pulled jobs did not "
          "fill the worker" % (sink.max_inflight, conc))
    counts = [len(sink.by_event(i)) for i in ids]
    check(set(counts) == {1}, "each job delivered once: %r" % sorted(set(counts)))
    r = env.redis.client
    check(int(r("LLEN", fair)) == 0, "jobs left in the fair list: %d" % int(r("LLEN", fair)))
    deadline = time.time() + 10
    while any(int(r("LLEN", k)) for k in r("KEYS", "hb:queue:inflight:*") or []):
        check(time.time() < deadline, "jobs left in flight after all were delivered")
        time.sleep(0.1)
    check("did not hold" not in w.text(), "an entry was only delivered as an orphan")


@meta(est=15, timeout=90)
def test_flow_gate_scripts_by_evalsha_survive_script_flush(env):
    """The worker's flow-control scripts go by EVALSHA (rconn_evalsha): a max_concurrency
    route asks the gate script at each attempt and releases its lease after it. After
    SCRIPT FLUSH (as after a Redis restart or a failover) the NOSCRIPT answer goes again as
    an EVAL, and every event is still delivered exactly once within the limit."""
    env.start_ingress()
    sink = env.sink(always(200, delay=0.05))
    b = env.create_bridge(outbound_url=sink.url("/lim"), retries=0, max_concurrency=2)
    first = env.send_many(b, 10)
    env.redis.client("CONFIG", "RESETSTAT")
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "8"})
    env.wait_events(first, {"delivered"}, timeout=30)
    check(_calls(env, "evalsha") >= 20, "gate and done scripts by EVALSHA: %d calls"
          % _calls(env, "evalsha"))
    for _ in range(2):
        env.redis.client("SCRIPT", "FLUSH")
        more = env.send_many(b, 10)
        env.wait_events(more, {"delivered"}, timeout=30)
        first += more
    failed = 0
    for line in env.redis.client("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_evalsha:"):
            failed = int(line.split("failed_calls=")[1].split(",")[0])
    env.note("%d EVALSHA calls answered NOSCRIPT after two SCRIPT FLUSHes" % failed)
    check(failed >= 2, "no NOSCRIPT seen after SCRIPT FLUSH: %d" % failed)
    counts = [len(sink.by_event(i)) for i in first]
    check(set(counts) == {1}, "each job delivered once: %r" % sorted(set(counts)))
    check(sink.max_inflight <= 2, "max in flight %d, limit 2" % sink.max_inflight)


@meta(est=20, timeout=120)
def test_flow_idle_worker_pulls_from_another_workers_fair_list(env):
    """A backlog one worker walked into its fair list is shared: a second worker started
    later, with nothing queued for it, pulls from that list within a sweep or two (it used
    to get none of it while the first kept pulling), and each job goes once."""
    env.start_ingress()
    sink = env.sink(always(200, delay=0.5))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=0)
    ids = env.send_many(b, 300)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "4"}, name="worker1")
    deadline = time.time() + 20
    while int(env.redis.client("LLEN", "hb:queue:ready")) > 0:
        check(time.time() < deadline, "the ready list never emptied")
        time.sleep(0.02)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "40"}, name="worker2")
    t0 = time.time()
    # worker1 alone: 4 in flight, 8 jobs a second; with worker2 up to 44
    sink.wait_for(lambda s: s.inflight > 20, 6, "the second worker pulling the parked jobs")
    env.note("the second worker had jobs from the first's fair list within %.1fs"
             % (time.time() - t0))
    env.wait_events(ids, {"delivered"}, timeout=60)
    counts = [len(sink.by_event(i)) for i in ids]
    check(set(counts) == {1}, "each job delivered once: %r" % sorted(set(counts)))


@meta(est=30, timeout=150)
def test_flow_walked_backlog_of_a_killed_worker_delivered_by_another(env):
    """The backlog a worker walked into its fair list is not lost when that worker is
    SIGKILLed: each entry is in one list at every moment, and the sweep of another worker
    puts the list back on the queue; every event is delivered."""
    env.start_ingress()
    sink = env.sink(always(200, delay=0.5))
    b = env.create_bridge(outbound_url=sink.url("/slow"), retries=0)
    ids = env.send_many(b, 200)
    w1 = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "4"})
    fair = "hb:flow:wait:%s:default:fair" % b["id"]
    deadline = time.time() + 20
    while int(env.redis.client("LLEN", "hb:queue:ready")) > 0:
        check(time.time() < deadline, "the ready list never emptied")
        time.sleep(0.02)
    walked = int(env.redis.client("LLEN", fair))
    w1.kill()
    env.note("%d entries in the fair list when the worker was killed" % walked)
    check(walked > 150, "the backlog was walked into the fair list: %d" % walked)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "50"})
    env.wait_events(ids, {"delivered"}, timeout=100)
    counts = [len(sink.by_event(i)) for i in ids]
    check(min(counts) >= 1, "every event delivered")


@meta(est=15, timeout=90)
def test_flow_per_route_limits_of_a_bridge_with_routes(env):
    """Flow control is per route: a rate-limited route of a bridge with routes is spread
    over its windows while the bridge's other route delivers at once, and each route's
    request is made exactly once."""
    env.start_ingress()
    sink = env.sink()
    per, n_req, total = 2, 3, 9
    b = env.create_bridge(routes=[
        {"name": "limited", "outbound_url": sink.url("/limited"),
         "rate_limit": {"requests": n_req, "per_seconds": per}},
        {"name": "free", "outbound_url": sink.url("/free")},
    ])
    check(b["routes"][0]["rate_limit"] == {"requests": n_req, "per_seconds": per},
          "the route shows its rate_limit: %r" % b["routes"][0])
    check("rate_limit" not in b, "no top-level flow fields on a bridge with routes: %r" % b)
    bad = env.api("POST", "/api/bridges", {"routes": [
        {"name": "x", "outbound_url": sink.url("/x"), "max_concurrency": 0}]})
    expect_error(bad, 400, what="max_concurrency 0 in a route")
    check("routes[0].max_concurrency" in bad.json().get("message", "") or
          "routes[0].max_concurrency" in json.dumps(bad.json()), "the 400 names the route field: %r"
          % bad.json())
    ids = env.send_many(b, total)
    t0 = time.time()
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "16"})
    env.wait_events(ids, {"delivered"}, timeout=60)
    # Every entry was handled where it was taken: none waited for the worker's orphan check
    # (a fairness pull of an "evt_…/route" entry once went unread and sat in flight).
    check("did not hold" not in w.text(), "an entry was only delivered as an orphan")
    free = [q.t_start for q in sink.requests if q.path == "/free"]
    limited = [q.t_start for q in sink.requests if q.path == "/limited"]
    check(len(limited) == total and len(free) == total,
          "one request per route and event: %d limited, %d free" % (len(limited), len(free)))
    worst = sliding_max(limited, per)
    check(worst <= n_req, "a %ds window saw %d starts on the limited route, limit %d"
          % (per, worst, n_req))
    span = max(limited) - min(limited)
    ideal = (total / n_req - 1) * per
    check(span >= ideal - 0.5, "the limited route is spread: span %.1fs, ideal %.1fs"
          % (span, ideal))
    check(max(free) < max(limited) - per,
          "the free route is not held back by the limited one: free done at %.1fs, limited "
          "at %.1fs" % (max(free) - t0, max(limited) - t0))
    env.note("free route done at %.1fs; limited route spread over %.1fs"
             % (max(free) - t0, span))
    ev = env.event(ids[0])
    check(sorted(d["route"] for d in ev["deliveries"]) == ["free", "limited"] and
          all(len(d["attempts"]) == 1 for d in ev["deliveries"]),
          "each delivery has one attempt: %r" % ev["deliveries"])


@meta(est=10, timeout=60)
def test_flow_waiting_shown_in_event_list(env):
    """The list's summaries say what an event waits for, as GET /api/events/{id} does:
    "paused" for a paused bridge's backlog, "rate_limit" with the wait's end as
    next_attempt_at; events that wait for nothing carry no "waiting"."""
    env.start_ingress()
    sink = env.sink()
    bp = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
    br = env.create_bridge(outbound_url=sink.url("/r"), retries=0,
                           rate_limit={"requests": 1, "per_seconds": 60})
    bd = env.create_bridge(outbound_url=sink.url("/d"), retries=0)
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "4"})
    check(env.api("POST", "/api/bridges/" + bp["id"] + "/pause").status == 200, "pause")
    paused = [env.send(bp) for _ in range(3)]
    limited = [env.send(br) for _ in range(3)]
    done = env.send(bd)
    env.wait_event(done, {"delivered"}, timeout=20)
    deadline = time.time() + 15
    while env.redis.client("LLEN", "hb:flow:wait:%s:paused" % bp["id"]) != 3:
        check(time.time() < deadline, "3 jobs parked for the paused bridge")
        time.sleep(0.1)
    while not any(env.event(e).get("waiting") == "rate_limit" for e in limited):
        check(time.time() < deadline, "a rate-limited event shows waiting on its own")
        time.sleep(0.1)
    r = env.api("GET", "/api/events?limit=100")
    check(r.status == 200, "list: %r" % r)
    by_id = {s["id"]: s for s in r.json()["events"]}
    for e in paused:
        check(by_id[e].get("waiting") == "paused", "list shows paused: %r" % by_id[e])
        check(by_id[e]["status"] == "queued", "a paused event stays queued: %r" % by_id[e])
    waiting_rl = [by_id[e] for e in limited if by_id[e].get("waiting") == "rate_limit"]
    check(len(waiting_rl) >= 1, "list shows rate_limit: %r" % [by_id[e] for e in limited])
    for s in waiting_rl:
        one = env.event(s["id"])
        check(one.get("waiting") == s["waiting"] and one["next_attempt_at"] == s["next_attempt_at"]
              and s["next_attempt_at"], "list and event agree: %r vs %r" % (s, one))
    check("waiting" not in by_id[done], "a delivered event waits for nothing: %r" % by_id[done])
    # filtered by bridge, the page still reads its waits
    r = env.api("GET", "/api/events?bridge_id=%s&status=queued" % bp["id"])
    check([s.get("waiting") for s in r.json()["events"]] == ["paused"] * 3,
          "bridge page: %r" % r.json())


@meta(est=15, timeout=90)
def test_flow_open_circuit_backlog_parked_in_batches(env):
    """A backlog for a destination whose circuit is open is parked a batch per call, not
    one gate call per job: 400 jobs taken by one worker cost far fewer than 400 scripts in
    Redis, and each still shows "waiting":"circuit" and is never attempted."""
    env.start_ingress()
    sink = env.sink(always(500))
    b = env.create_bridge(outbound_url=sink.url("/down"), retries=0,
                          circuit={"failures": 1, "open_seconds": 600})
    w = env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    first = env.send(b)
    env.wait_event(first, {"failed"}, timeout=20)
    w.terminate()
    ids = env.send_many(b, 400)
    key = "hb:flow:wait:%s:default:circuit" % b["id"]
    env.redis.client("CONFIG", "RESETSTAT")
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    deadline = time.time() + 30
    while int(env.redis.client("LLEN", key)) < 400:
        check(time.time() < deadline, "400 jobs parked for the circuit: %r"
              % env.redis.client("LLEN", key))
        time.sleep(0.05)
    evals = _script_calls(env)
    env.note("400 jobs parked for an open circuit with %d EVAL calls" % evals)
    # the first batch taken asks the gate job by job (the new worker has not heard of the
    # circuit yet); the rest go in batches
    check(evals < 350, "%d EVAL calls to park 400 jobs (one gate call a job: over 700)" % evals)
    check(len(sink.requests) == 1, "no call while open: %d" % len(sink.requests))
    page = env.api("GET", "/api/events?bridge_id=%s&status=queued&limit=1000" % b["id"]).json()
    waiting = [s.get("waiting") for s in page["events"]]
    check(len(waiting) == 400 and set(waiting) == {"circuit"}, "waiting: %r"
          % sorted(set(map(str, waiting))))
    check(all(s["next_attempt_at"] for s in page["events"]), "the circuit's end is shown")

"""Many requests in flight from one worker."""

import time

from harness import check, meta
from sink import always

N = 1000


@meta(est=40, timeout=240, weight=3)
def test_concurrency_many_in_flight(env):
    env.start_ingress()
    sink = env.sink(always(200, delay=0.2))
    b = env.create_bridge(outbound_url=sink.url("/slow"))
    # queue everything first, with no worker, so the worker has a backlog to draw from
    t0 = time.time()
    ids = env.send_many(b, N, threads=8)
    t_enqueue = time.time() - t0
    ready = env.redis.client("LLEN", "hb:queue:ready")
    check(ready == N, "hb:queue:ready holds %r, expected %d" % (ready, N))

    t1 = time.time()
    env.start_worker({"HOOKBRIDGE_CONCURRENCY": "64"})
    sink.wait_for(lambda s: len(s.delivered_ids()) >= N, 180, "%d delivered ids" % N)
    t_sink = time.time() - t1
    env.wait_events(ids, {"delivered"}, timeout=60)
    t_all = time.time() - t1
    env.note("enqueue %d: %.1fs; sink got all %d in %.1fs (ideal 0.2s x %d / 64 = %.1fs); "
             "all delivered in the API after %.1fs; peak in flight %d"
             % (N, t_enqueue, N, t_sink, N, 0.2 * N / 64, t_all, sink.max_inflight))
    check(sink.max_inflight >= 50, "peak in flight at the sink was %d, expected >= 50 with "
          "HOOKBRIDGE_CONCURRENCY=64" % sink.max_inflight)
    check(sink.max_inflight <= 64, "peak in flight %d exceeds HOOKBRIDGE_CONCURRENCY=64"
          % sink.max_inflight)
    counts = sink.counts()
    check(set(counts) == set(ids), "sink saw %d ids, sent %d" % (len(counts), len(ids)))

"""GET /metrics: Prometheus text from counters shared in Redis (SPEC Admin API)."""

import time

from harness import check, http_request, meta
from sink import always


@meta(est=4)
def test_metrics_counts_requests_events_attempts(env):
    env.start_ingress()
    ok = env.sink(always(200))
    bad = env.sink(always(500))
    b1 = env.create_bridge(outbound_url=ok.url("/ok"))
    b2 = env.create_bridge(outbound_url=bad.url("/bad"), retries=0)
    ids = [env.send(b1), env.send(b1), env.send(b2)]
    r = env.public("POST", "/hooks/nosuchendpoint0000000000000000", body=b"{}")
    check(r.status == 404, "unknown endpoint: %r" % r)
    env.start_worker()
    env.wait_events(ids, ("delivered", "failed"))
    want = [
        'hookbridge_requests_total{bridge_id="%s",code="202"} 2' % b1["id"],
        'hookbridge_requests_total{bridge_id="%s",code="202"} 1' % b2["id"],
        'hookbridge_requests_total{bridge_id="-",code="404"} 1',
        'hookbridge_events_total{status="delivered"} 2',
        'hookbridge_events_total{status="failed"} 1',
        'hookbridge_delivery_attempts_total{result="success"} 2',
        'hookbridge_delivery_attempts_total{result="failure"} 1',
        'hookbridge_delivery_latency_seconds_count 2',
        'hookbridge_destination_response_seconds_count 3',
        'hookbridge_queue_depth{state="ready"} 0',
        'hookbridge_workers 1',
    ]
    deadline = time.time() + 15
    text = ""
    while time.time() < deadline:
        r = http_request(env.admin_port, "GET", "/metrics")  # no token needed
        check(r.status == 200, "/metrics: %r" % r)
        text = r.text
        if all(w in text.splitlines() for w in want):
            break
        time.sleep(0.2)
    missing = [w for w in want if w not in text.splitlines()]
    check(not missing, "missing from /metrics: %r\n%s" % (missing, text))
    check('hookbridge_delivery_latency_seconds_bucket{le="+Inf"} 2' in text, "histogram +Inf")
    check("# TYPE hookbridge_delivery_latency_seconds histogram" in text, "histogram TYPE")

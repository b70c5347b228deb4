"""--reuseport: several ingress processes share one port (SPEC Configuration)."""

import time

from harness import check, meta
from sink import always


@meta(est=4)
def test_two_ingresses_share_the_port(env):
    a = env.start_ingress({"HOOKBRIDGE_REUSEPORT": "1"}, name="ingress1")
    b = env.start_ingress({"HOOKBRIDGE_REUSEPORT": "1"}, name="ingress2")
    time.sleep(0.3)
    check(a.alive() and b.alive(), "an ingress with --reuseport could not share the port")
    sink = env.sink(always(200))
    br = env.create_bridge(outbound_url=sink.url("/shared"))
    ids = env.send_many(br, 200, threads=8)
    env.start_worker()
    env.wait_events(ids, ("delivered",))
    # The kernel spreads connections over both listeners; each must have answered some.
    for p in (a, b):
        n = p.text().count('"status":202')
        check(n > 0, "%s answered no hooks" % p.name)


@meta(est=2)
def test_second_ingress_without_reuseport_refused(env):
    env.start_ingress(name="ingress1")
    p = env.start_ingress(name="ingress2", wait=False)
    deadline = time.time() + 10
    while p.alive() and time.time() < deadline:
        time.sleep(0.05)
    check(not p.alive() and p.returncode != 0, "a second ingress bound a taken port")
    p.accounted = True
    check("listen" in p.text(), "no line naming the listen address: %r" % p.text()[-300:])

"""Destinations (SPEC "Destinations"): --proxy, tls, email, oauth2, against real peers on
loopback (peers.py)."""

from harness import check, meta
from peers import CertAuthority, ForwardProxy, TLSServer


@meta(est=6)
def test_proxy_is_the_one_outbound_proxy(env):
    env.start_ingress()
    sink = env.sink()
    proxy = ForwardProxy()
    decoy = ForwardProxy()  # what the environment names: must never be used
    try:
        b = env.create_bridge(outbound_url=sink.url("/via"), retries=0)
        env.start_worker({"HOOKBRIDGE_PROXY": proxy.url, "http_proxy": decoy.url,
                          "HTTP_PROXY": decoy.url, "ALL_PROXY": decoy.url,
                          "no_proxy": "127.0.0.1,localhost"})
        eid = env.send(b)
        env.wait_event(eid, {"delivered"})
        check(len(sink.requests) == 1, "sink got %d requests" % len(sink.requests))
        check(any("/via" in p for _, p in proxy.seen), "the proxy saw %r" % proxy.seen)
        check(not decoy.seen, "the environment's proxy was used: %r" % decoy.seen)
    finally:
        proxy.close()
        decoy.close()


@meta(est=6)
def test_proxy_with_deny_private_checks_the_destination(env):
    env.start_ingress()
    sink = env.sink()
    # The proxy answers itself: a public destination need not exist to prove it was let
    # through, while the proxy's own loopback address is allowed.
    proxy = ForwardProxy(answer=200)
    try:
        private = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
        by_name = env.create_bridge(outbound_url="http://localhost:%d/p" % sink.port, retries=0)
        public = env.create_bridge(outbound_url="http://93.184.216.34/public", retries=0)
        env.start_worker({"HOOKBRIDGE_PROXY": proxy.url, "HOOKBRIDGE_DENY_PRIVATE": "1"})
        for bridge in (private, by_name):
            eid = env.send(bridge)
            ev = env.wait_event(eid, {"failed", "delivered"})
            check(ev["status"] == "failed", "a loopback destination was allowed via the proxy")
            err = ev["attempts"][-1].get("error") or ""
            check("HOOKBRIDGE_DENY_PRIVATE" in err and "loopback" in err, "error %r" % err)
        check(not sink.requests, "the sink was reached")
        check(not proxy.seen, "the proxy was asked for a private destination: %r" % proxy.seen)
        eid = env.send(public)
        ev = env.wait_event(eid, {"failed", "delivered"})
        check(ev["status"] == "delivered", "public destination: %r" % ev["attempts"])
        check(proxy.seen == [("POST", "http://93.184.216.34/public")], "proxy saw %r" % proxy.seen)
    finally:
        proxy.close()


@meta(est=3)
def test_proxy_flag_is_checked_and_worker_only(env):
    import subprocess
    from harness import bin_dir
    import os
    worker = os.path.join(bin_dir(), "hookbridge-worker")
    ingress = os.path.join(bin_dir(), "hookbridge-ingress")
    out = subprocess.run([worker, "--proxy", "htp://user:pw@proxy:3128"], env=env.base_env(),
                         capture_output=True, text=True, timeout=20)
    check(out.returncode != 0 and "HOOKBRIDGE_PROXY" in out.stderr, "worker: %r" % out.stderr)
    check("pw" not in out.stderr, "the proxy's password was printed: %r" % out.stderr)
    out = subprocess.run([ingress, "--proxy", "http://proxy:3128"], env=env.base_env(),
                         capture_output=True, text=True, timeout=20)
    check(out.returncode != 0 and "--proxy" in out.stderr, "ingress: %r" % out.stderr)
    out = subprocess.run([worker, "--help"], env=env.base_env(), capture_output=True,
                         text=True, timeout=20)
    check("--proxy" in out.stdout and "HOOKBRIDGE_PROXY" in out.stdout, out.stdout)

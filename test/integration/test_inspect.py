"""scripts/inspect: the queue summary a user reads during an incident."""

import os
import subprocess

from harness import REPO, check, meta


@meta(est=3)
def test_inspect_summary(env):
    env.start_ingress()
    now = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    later = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=120)
    eid = env.send(now)
    env.send(now)
    env.send(later)
    env.redis.client("ZADD", "hb:workers", "1", "deadhost:1:x")
    env.redis.client("LPUSH", "hb:queue:inflight:deadhost:1:x", "evt_gone")
    e = dict(os.environ, HOOKBRIDGE_REDIS_URL=env.redis.url)
    out = subprocess.run([os.path.join(REPO, "scripts", "inspect"), eid], env=e,
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "inspect failed: %s" % out.stderr)
    t = out.stdout
    check("ready:      2" in t, "ready depth missing:\n" + t)
    check("scheduled:  1" in t, "scheduled depth missing:\n" + t)
    check("unrecorded: 3" in t, "unrecorded depth missing:\n" + t)
    check("next due:" in t, "next due missing:\n" + t)
    check("deadhost:1:x" in t and "dead" in t and "holding 1" in t, "workers missing:\n" + t)
    check("bridge_id" in t and now["id"] in t, "job data missing:\n" + t)

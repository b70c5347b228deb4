#!/usr/bin/env python3
"""The docker-compose stack, built and run for real.

    python3 test/docker/test_compose.py [--keep] [NAME...]

Where a Docker engine answers (../shared/tools/docker-local sets one up on a Debian host
without Docker Hub), this builds the image from the working tree and runs the stack under a
project name of its own, on free host ports:
  - `up` on the SQLite store with 3 workers: a bridge made through the admin port delivers a
    webhook to a sink on this host, and 3 workers report heartbeats;
  - a worker killed with SIGKILL comes back by the restart policy;
  - `down` then `up` again: bridges and events are still there (named volumes);
  - `--profile postgres up`: the same on the PostgreSQL services.
Without an engine or the base images it says "skipped" and why. Ends with the line
"N passed, N failed[, N skipped]" that test/run adds up. --keep leaves the stack running.
"""

import base64
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE_IMAGES = ("debian:bookworm-slim", "redis:7-bookworm")


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(argv, timeout=600, cwd=None, env=None, ok=True):
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok and p.returncode != 0:
        raise Failure("%s failed (rc %d):\n%s" % (" ".join(argv), p.returncode,
                                                  (p.stdout + p.stderr)[-3000:]))
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_cmd():
    """`docker compose` (v2) where the plugin exists, else Debian 12's docker-compose 1.29:
    the README's commands work with both."""
    if shutil.which("docker") and run(["docker", "compose", "version"], 30, ok=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise Skip("neither `docker compose` nor docker-compose is installed")


class Sink:
    """An HTTP server on every address of this host, recording what it receives."""

    def __init__(self):
        self.got = []
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                sink.got.append((self.path, dict(self.headers), self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("0.0.0.0", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout=60):
        deadline = time.time() + timeout
        while len(self.got) < n and time.time() < deadline:
            time.sleep(0.2)
        return len(self.got) >= n

    def close(self):
        self.srv.shutdown()


class Stack:
    def __init__(self, keep=False):
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="hb-compose-")
        self.project = "hbtest%d" % os.getpid()
        self.compose = compose_cmd()
        self.token = secrets.token_urlsafe(24)
        self.ports = {k: free_port() for k in
                      ("HB_PUBLIC_PORT", "HB_ADMIN_PORT", "HB_PG_PUBLIC_PORT", "HB_PG_ADMIN_PORT")}
        # The tracked files as they are in the working tree: what a clone would build.
        files = run(["git", "ls-files", "-co", "--exclude-standard"], 60, cwd=REPO).stdout.split()
        for f in files:
            src = os.path.join(REPO, f)
            if f.startswith("test/") or not os.path.isfile(src):
                continue
            dst = os.path.join(self.dir, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
        with open(os.path.join(self.dir, ".env.example")) as f:
            env = f.read()
        env = env.replace("HOOKBRIDGE_SECRET_KEY=\n", "HOOKBRIDGE_SECRET_KEY=%s\n" %
                          base64.b64encode(os.urandom(32)).decode())
        env = env.replace("HOOKBRIDGE_ADMIN_TOKEN=\n", "HOOKBRIDGE_ADMIN_TOKEN=%s\n" % self.token)
        env = env.replace("HOOKBRIDGE_PUBLIC_URL=http://localhost:8080",
                          "HOOKBRIDGE_PUBLIC_URL=http://localhost:%d" % self.ports["HB_PUBLIC_PORT"])
        env += "".join("%s=%d\n" % kv for kv in self.ports.items())
        with open(os.path.join(self.dir, ".env"), "w") as f:
            f.write(env)

    def dc(self, *args, timeout=900, ok=True):
        return run(self.compose + ["-p", self.project] + list(args), timeout, cwd=self.dir, ok=ok)

    def container(self, service, index=1):
        out = self.dc("ps", "-q", service).stdout.split()
        check(len(out) >= index, "no container %d of %s" % (index, service))
        return sorted(out)[index - 1]

    def gateway(self):
        net = "%s_default" % self.project
        return run(["docker", "network", "inspect", "-f",
                    "{{(index .IPAM.Config 0).Gateway}}", net], 30).stdout.strip()

    def down(self):
        if not self.keep:
            self.dc("--profile", "postgres", "down", "-v", "--remove-orphans", timeout=300,
                    ok=False)
            shutil.rmtree(self.dir, ignore_errors=True)


def api(port, method, path, body=None, token=None, timeout=10):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        data = e.read()
        try:
            return e.code, json.loads(data)
        except ValueError:
            return e.code, data


def wait_healthy(port, timeout=120):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            status, _ = api(port, "GET", "/healthz", timeout=3)
            if status == 200:
                return
            last = status
        except OSError as e:
            last = e
        time.sleep(1)
    raise Failure("the ingress on port %d was not healthy within %d s (last: %r)" %
                  (port, timeout, last))


def wait_event(port, token, event_id, want="delivered", timeout=60):
    deadline = time.time() + timeout
    ev = None
    while time.time() < deadline:
        status, ev = api(port, "GET", "/api/events/" + event_id, token=token)
        if status == 200 and ev.get("status") == want:
            return ev
        time.sleep(0.5)
    raise Failure("event %s not %s within %d s: %r" % (event_id, want, timeout, ev))


def deliver_one(stack, sink, admin, public, label):
    """A bridge to the host's sink, one webhook through the public port, delivered."""
    url = "http://%s:%d/%s" % (stack.gateway(), sink.port, label)
    status, bridge = api(admin, "POST", "/api/bridges",
                         {"name": label, "outbound_url": url}, token=stack.token)
    check(status == 201, "create bridge on %s: %r %r" % (label, status, bridge))
    before = len(sink.got)
    status, acc = api(public, "POST", "/hooks/" + bridge["endpoint"], {"order": label})
    check(status == 202, "webhook on %s: %r %r" % (label, status, acc))
    wait_event(admin, stack.token, acc["event_id"])
    check(sink.wait(before + 1), "the sink got nothing for %s" % label)
    path, headers, body = sink.got[-1]
    check(path == "/" + label and json.loads(body) == {"order": label},
          "the sink got %r %r" % (path, body))
    return bridge["id"], acc["event_id"]


def live_workers(stack, admin, n, timeout=60):
    deadline = time.time() + timeout
    stats = None
    while time.time() < deadline:
        _, stats = api(admin, "GET", "/api/stats", token=stack.token)
        count = (stats.get("workers") or {}).get("live", 0) if isinstance(stats, dict) else 0
        if count >= n:
            return count
        time.sleep(1)
    raise Failure("fewer than %d live workers within %d s: %r" % (n, timeout, stats))


def test_sqlite_stack(stack, sink):
    admin, public = stack.ports["HB_ADMIN_PORT"], stack.ports["HB_PUBLIC_PORT"]
    stack.dc("build")
    stack.dc("up", "-d", "--scale", "worker=3")
    wait_healthy(admin)
    bridge_id, event_id = deliver_one(stack, sink, admin, public, "sqlite")
    live_workers(stack, admin, 3)

    # A worker that crashes comes back by itself (restart: unless-stopped). SIGKILL from
    # the host, as the kernel's OOM killer would: `docker kill` counts as a manual stop.
    cid = stack.container("worker", 1)
    pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", cid], 30).stdout.strip()
    os.kill(int(pid), 9)
    deadline = time.time() + 60
    state = ""
    while time.time() < deadline:
        state = run(["docker", "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", cid],
                    30).stdout.split()
        if state[0] == "running" and int(state[1]) >= 1:
            break
        time.sleep(1)
    check(state[0] == "running" and int(state[1]) >= 1,
          "the killed worker did not come back: %r" % state)

    # Restart the whole stack: the named volumes keep bridges and events.
    stack.dc("down")
    stack.dc("up", "-d", "--scale", "worker=3")
    wait_healthy(admin)
    status, bridge = api(admin, "GET", "/api/bridges/" + bridge_id, token=stack.token)
    check(status == 200, "bridge lost over a restart: %r %r" % (status, bridge))
    status, ev = api(admin, "GET", "/api/events/" + event_id, token=stack.token)
    check(status == 200 and ev["status"] == "delivered",
          "event lost over a restart: %r %r" % (status, ev))
    deliver_one(stack, sink, admin, public, "sqlite-again")

    # The data volume belongs to the image's fixed user and is not world-readable.
    out = stack.dc("exec", "-T", "ingress", "stat", "-c", "%u %a", "/data").stdout.split()
    check(out == ["10001", "700"], "/data is %r, want uid 10001 mode 700" % out)


def test_postgres_profile(stack, sink):
    admin, public = stack.ports["HB_PG_ADMIN_PORT"], stack.ports["HB_PG_PUBLIC_PORT"]
    stack.dc("--profile", "postgres", "build")
    stack.dc("--profile", "postgres", "up", "-d")
    wait_healthy(admin, timeout=180)
    bridge_id, event_id = deliver_one(stack, sink, admin, public, "postgres")
    stack.dc("--profile", "postgres", "down")
    stack.dc("--profile", "postgres", "up", "-d")
    wait_healthy(admin, timeout=180)
    status, ev = api(admin, "GET", "/api/events/" + event_id, token=stack.token)
    check(status == 200 and ev["status"] == "delivered",
          "postgres event lost over a restart: %r %r" % (status, ev))


def preflight():
    if not shutil.which("docker"):
        raise Skip("no docker client (../shared/tools/docker-local installs and starts one)")
    if run(["docker", "version"], 30, ok=False).returncode != 0:
        raise Skip("no Docker engine answers (../shared/tools/docker-local starts one)")
    missing = [i for i in BASE_IMAGES
               if run(["docker", "image", "inspect", i], 30, ok=False).returncode != 0]
    for image in missing:
        if run(["docker", "pull", image], 120, ok=False).returncode != 0:
            raise Skip("base image %s is missing and cannot be pulled "
                       "(../shared/tools/docker-local builds it)" % image)
    compose_cmd()


def main():
    keep = "--keep" in sys.argv
    tests = [test_sqlite_stack, test_postgres_profile]
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    if only:
        tests = [t for t in tests if any(o in t.__name__ for o in only)]
    try:
        preflight()
    except Skip as e:
        print("SKIP docker compose tests: %s" % e)
        print("0 passed, 0 failed, %d skipped" % len(tests))
        return 0
    passed = failed = 0
    stack = Stack(keep)
    sink = Sink()
    try:
        for t in tests:
            t0 = time.time()
            try:
                t(stack, sink)
                passed += 1
                print("PASS %s (%.0fs)" % (t.__name__, time.time() - t0))
            except Exception as e:  # a failure of one case is reported, the next still runs
                failed += 1
                print("FAIL %s: %s" % (t.__name__, e))
                logs = stack.dc("--profile", "postgres", "logs", "--tail", "20", ok=False)
                print(logs.stdout[-4000:])
            sys.stdout.flush()
    finally:
        sink.close()
        stack.down()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Configuration and operations (issue 11): one `make run` stack per data folder, the
public URL derived from --listen, flags of the other binary refused and each binary's
--help, the store's file modes, short admin tokens refused, new jwt bridges requiring exp."""

import base64
import hashlib
import hmac
import json
import os
import signal
import stat
import subprocess
import time

from harness import (REPO, bin_dir, check, expect_error, fail, free_port, http_request, meta)


# -- scripts/run ----------------------------------------------------------------------------

class RunScript:
    """scripts/run in a session of its own, so that whatever it started can be killed."""

    def __init__(self, env, data, name):
        self.log_path = os.path.join(env.dir, name + ".log")
        self.public_port = free_port()
        self.admin_port = free_port()
        e = {k: v for k, v in os.environ.items() if not k.startswith("HOOKBRIDGE_")}
        e.update({"HOOKBRIDGE_DATA_DIR": data, "HB_BIN": os.path.abspath(bin_dir()),
                  "HOOKBRIDGE_LISTEN": "127.0.0.1:%d" % self.public_port,
                  "HOOKBRIDGE_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin_port,
                  "HOOKBRIDGE_SHUTDOWN_TIMEOUT": "5"})
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen([os.path.join(REPO, "scripts", "run")], env=e,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.popen.pid

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.popen.poll() is not None:
                fail("scripts/run exited (rc %s):\n%s" % (self.popen.returncode, self.text()))
            try:
                if http_request(self.admin_port, "GET", "/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        fail("scripts/run not healthy within %ss:\n%s" % (timeout, self.text()))

    def kill_all(self):
        """Whatever is left of the stack (only what this script started: its session)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.popen.wait()


@meta(est=12, timeout=120)
def test_run_refuses_a_second_stack_on_the_same_data(env):
    data = os.path.join(env.dir, "data")
    first = RunScript(env, data, "run1")
    second = third = None
    try:
        first.wait_healthy()
        sock = os.path.join(data, "redis.sock")
        check(os.path.exists(sock), "no redis.sock in %s" % data)
        with open(os.path.join(data, "run.pid")) as f:
            check(f.read().strip() == str(first.pid), "run.pid does not name the first stack")

        second = RunScript(env, data, "run2")
        try:
            rc = second.popen.wait(20)
        except subprocess.TimeoutExpired:
            fail("a second scripts/run on the same data kept running:\n%s" % second.text())
        check(rc != 0, "the second scripts/run exited 0:\n%s" % second.text())
        out = second.text()
        check(str(first.pid) in out and "another hookbridge stack" in out,
              "the refusal does not name pid %d: %r" % (first.pid, out))
        check("redis" not in out.lower().replace("redis.sock", ""),
              "the second run started something: %r" % out)
        # the first stack is untouched: its socket, its Redis, its ingress
        check(os.path.exists(sock), "the second run removed the first stack's socket")
        r = http_request(first.admin_port, "GET", "/healthz", timeout=5)
        check(r.status == 200, "the first stack is unhealthy after the refusal: %r" % r)

        first.popen.send_signal(signal.SIGTERM)
        try:
            rc = first.popen.wait(30)
        except subprocess.TimeoutExpired:
            fail("scripts/run did not stop on SIGTERM:\n%s" % first.text())
        check(rc == 0 and "stopped" in first.text(), "first stop: rc %s\n%s" % (rc, first.text()))
        check(not os.path.exists(os.path.join(data, "run.pid")), "run.pid left behind")

        # a pid file left by a stack that is gone (killed) does not block the next start
        with open(os.path.join(data, "run.pid"), "w") as f:
            f.write("999999\n")
        third = RunScript(env, data, "run3")
        third.wait_healthy()
        third.popen.send_signal(signal.SIGTERM)
        check(third.popen.wait(30) == 0, "third stop:\n%s" % third.text())
    finally:
        for s in (first, second, third):
            if s is not None:
                s.kill_all()


# -- public URL -----------------------------------------------------------------------------

@meta(est=2)
def test_public_url_follows_listen(env):
    env.start_ingress({"HOOKBRIDGE_PUBLIC_URL": None})
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    want = "http://127.0.0.1:%d/hooks/%s" % (env.public_port, b["endpoint"])
    check(b.get("inbound_url") == want, "inbound_url %r, want %r" % (b.get("inbound_url"), want))
    # and the URL it names works
    r = env.hook(b)
    check(r.status == 202, "POST to the inbound_url's path: %r" % r)


# -- flags ----------------------------------------------------------------------------------

def _run(env, binary, args, extra=None, timeout=20):
    return subprocess.run([os.path.join(bin_dir(), binary)] + list(args),
                          env=env.base_env(extra), capture_output=True, text=True,
                          timeout=timeout)


@meta(est=3)
def test_flags_of_the_other_binary_stop_it(env):
    cases = [("hookbridge-worker", ["--listen", "127.0.0.1:1"], "--listen", "hookbridge-ingress"),
             ("hookbridge-worker", ["--max-body=10"], "--max-body", "hookbridge-ingress"),
             ("hookbridge-worker", ["--public-url", "http://x"], "--public-url",
              "hookbridge-ingress"),
             ("hookbridge-ingress", ["--concurrency", "4"], "--concurrency", "hookbridge-worker"),
             ("hookbridge-ingress", ["--retention-days=3"], "--retention-days",
              "hookbridge-worker")]
    for binary, args, flag, owner in cases:
        out = _run(env, binary, args)
        check(out.returncode != 0, "%s %r started" % (binary, args))
        lines = [l for l in out.stderr.splitlines() if l.strip()]
        check(len(lines) == 1 and flag in lines[0] and owner in lines[0],
              "%s %r: want one line naming %s and %s, got %r" % (binary, args, flag, owner,
                                                                 out.stderr))


@meta(est=2)
def test_help_lists_each_binarys_own_flags(env):
    ingress = _run(env, "hookbridge-ingress", ["--help"]).stdout
    worker = _run(env, "hookbridge-worker", ["--help"]).stdout
    check(ingress != worker, "both binaries print the same --help")
    for text, mine, theirs in (
            (ingress, ["--listen", "HOOKBRIDGE_LISTEN", "0.0.0.0:8080", "--max-body", "1048576",
                       "--admin-listen", "127.0.0.1:8081", "--redis", "HOOKBRIDGE_ADMIN_TOKEN"],
             ["--concurrency", "--retention-days", "--deny-private", "--proxy"]),
            (worker, ["--concurrency", "HOOKBRIDGE_CONCURRENCY", "64", "--retention-days",
                      "--deny-private", "--proxy", "HOOKBRIDGE_PROXY", "--redis", "--db",
                      "data/hookbridge.db"],
             ["--listen", "--max-body", "--public-url", "--reuseport"])):
        for m in mine:
            check(m in text, "--help lacks %s:\n%s" % (m, text))
        for t in theirs:
            check(t not in text, "--help lists %s of the other binary:\n%s" % (t, text))


# -- deployment defaults --------------------------------------------------------------------

@meta(est=3)
def test_short_admin_token_stops_the_ingress(env):
    for tok in ("x", "fifteen-chars-x"):
        out = _run(env, "hookbridge-ingress", [], {
            "HOOKBRIDGE_ADMIN_TOKEN": tok,
            "HOOKBRIDGE_LISTEN": "127.0.0.1:%d" % env.public_port,
            "HOOKBRIDGE_ADMIN_LISTEN": "127.0.0.1:%d" % env.admin_port})
        check(out.returncode != 0, "ingress started with a %d-character token" % len(tok))
        check("HOOKBRIDGE_ADMIN_TOKEN" in out.stderr and tok not in out.stderr,
              "the line should name HOOKBRIDGE_ADMIN_TOKEN, not the value: %r" % out.stderr)
    # sixteen is enough, and the worker does not care
    env.start_ingress({"HOOKBRIDGE_ADMIN_TOKEN": "sixteen-chars-xx"})
    r = env.api("GET", "/api/bridges", token="sixteen-chars-xx")
    check(r.status == 200, "a 16-character token: %r" % r)
    env.start_worker({"HOOKBRIDGE_ADMIN_TOKEN": "x"})


@meta(est=3)
def test_store_files_are_owner_only(env):
    env.need_sqlite("the modes of the SQLite file and its -wal and -shm")
    env.start_ingress()
    env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.start_worker()
    for suffix in ("", "-wal", "-shm"):
        path = env.db + suffix
        check(os.path.exists(path), "%s missing" % path)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o600, "%s has mode %o, want 600" % (path, mode))


# -- jwt: require_exp for new bridges --------------------------------------------------------

def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _jwt(secret, payload):
    signing = _b64url(b'{"alg":"HS256"}') + "." + _b64url(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + _b64url(sig)


@meta(est=4)
def test_new_jwt_bridges_require_exp(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/j",
                          auth={"type": "jwt-hs256", "secret": "jwt-secret-1",
                                "audience": "hookbridge"})
    check(b["auth"].get("require_exp") is True, "new bridge auth: %r" % b["auth"])
    now = int(time.time())
    no_exp = _jwt("jwt-secret-1", {"sub": "crm", "aud": "hookbridge"})
    with_exp = _jwt("jwt-secret-1", {"sub": "crm", "aud": ["x", "hookbridge"], "exp": now + 60})
    wrong_aud = _jwt("jwt-secret-1", {"sub": "crm", "aud": "other", "exp": now + 60})
    bearer = lambda t: {"Authorization": "Bearer " + t}
    check(env.hook(b, headers=bearer(with_exp)).status == 202, "token with exp and aud")
    expect_error(env.hook(b, headers=bearer(no_exp)), 401, "unauthorized", "token without exp")
    expect_error(env.hook(b, headers=bearer(wrong_aud)), 401, "unauthorized", "wrong aud")
    padded = with_exp + "="
    expect_error(env.hook(b, headers=bearer(padded)), 401, "unauthorized", "padded signature")
    # an auth object stored before require_exp existed keeps accepting tokens without exp
    env.ingress.terminate()
    if env.store == "sqlite":
        env.sql("UPDATE bridges SET data = json_remove(data, '$.auth.require_exp') "
                "WHERE id = '%s'" % b["id"])
    else:
        env.sql("UPDATE bridges SET data = (data::jsonb #- '{auth,require_exp}')::text "
                "WHERE id = '%s'" % b["id"])
    env.ingress = None
    env.start_ingress()
    r = env.api("GET", "/api/bridges/" + b["id"])
    check("require_exp" not in r.json()["auth"], "old auth object: %r" % r.json()["auth"])
    check(env.hook(b, headers=bearer(no_exp)).status == 202, "old bridge, token without exp")


@meta(est=4)
def test_worker_touches_its_health_file_while_redis_answers(env):
    """--health-file is what the compose stack's worker health check reads: touched on each
    heartbeat Redis acknowledged, so it goes stale when Redis does not answer."""
    path = os.path.join(env.dir, "worker.alive")
    env.start_worker({"HOOKBRIDGE_HEALTH_FILE": path})
    deadline = time.time() + 10
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.1)
    check(os.path.exists(path), "no health file after 10 s")
    first = os.stat(path).st_mtime
    time.sleep(6)
    check(os.stat(path).st_mtime > first, "health file not touched again by later heartbeats")
    env.redis.stop()
    time.sleep(1)
    stopped = os.stat(path).st_mtime
    time.sleep(6)
    check(os.stat(path).st_mtime == stopped, "health file touched while Redis was down")

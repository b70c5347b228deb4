"""Integration-test harness for hookbridge. Python 3 standard library only.

Each test gets an Env: its own temp dir, its own redis-server on a free loopback port
(AOF on, so it can be restarted with its data), its own SQLite file, and helpers to start
the real binaries ($HB_BIN/hookbridge-ingress, $HB_BIN/hookbridge-worker), talk to the
admin API and /hooks/, run sinks (sink.py), and wait for events.

    def test_something(env):
        env.start_ingress()
        sink = env.sink()
        b = env.create_bridge(outbound_url=sink.url("/x"))
        eid = env.send(b)                       # asserts 202, returns the event id
        env.start_worker()
        ev = env.wait_event(eid, {"delivered"})

Teardown (Env.teardown) stops everything, and fails the test when a binary died on its own,
exited non-zero on SIGTERM, or printed a sanitizer report.
"""

import base64
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

from sink import Sink, always

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")
FINAL_STATUSES = {"delivered", "failed", "filtered", "aborted"}


class TestFailure(AssertionError):
    pass


def fail(msg):
    raise TestFailure(msg)


class TestSkipped(Exception):
    """Raised by a test that cannot run here (run.py prints SKIP and counts it)."""


def skip(msg):
    raise TestSkipped(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def first_line_of(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def meta(timeout=60, weight=1, est=5):
    """Decorate a test: timeout (s), weight (pool slots it takes), est (expected s, for
    ordering: longest first)."""

    def deco(fn):
        fn.hb_timeout = timeout
        fn.hb_weight = weight
        fn.hb_est = est
        return fn

    return deco


def bin_dir():
    b = os.environ.get("HB_BIN", "bin")
    if os.path.isabs(b):
        return b
    if os.path.isdir(b):
        return os.path.abspath(b)
    return os.path.join(REPO, b)


# -- ports ---------------------------------------------------------------------------------

_used_ports = set()
_port_lock = threading.Lock()


def free_port():
    """A loopback TCP port nobody listens on. Picked below the kernel's ephemeral range so
    that outgoing connections cannot grab it between now and the bind of the server."""
    with _port_lock:
        for _ in range(500):
            p = random.randint(20000, 32000)
            if p in _used_ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            finally:
                s.close()
            _used_ports.add(p)
            return p
    raise RuntimeError("no free port found")


# -- Redis ---------------------------------------------------------------------------------

class RedisError(Exception):
    pass


class Redis:
    """A tiny RESP client: r("LLEN", "hb:queue:ready") -> 3. Bulk strings come back as str."""

    def __init__(self, port, host="127.0.0.1", timeout=5):
        self.addr = (host, port)
        self.timeout = timeout
        self.sock = None
        self.f = None

    def _connect(self):
        self.close()
        self.sock = socket.create_connection(self.addr, timeout=self.timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        if self.sock is not None:
            try:
                self.f.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = self.f = None

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode("utf-8", "surrogateescape")
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError("bad RESP line %r" % line)

    def __call__(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        msg = b"".join(parts)
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                self.sock.sendall(msg)
                return self._read()
            except (OSError, ConnectionError):
                self.close()
                if attempt:
                    raise


class RedisServer:
    def __init__(self, workdir, port=None):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.log_path = os.path.join(workdir, "redis.log")
        self.proc = None
        self.client = Redis(self.port)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self, timeout=15):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes", "--dir", self.dir, "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                fail("redis-server exited at start (rc %s):\n%s" % (self.proc.returncode,
                                                                    tail(self.log_path, 20)))
            try:
                if self.client("PING") == "PONG":
                    return
            except (OSError, ConnectionError, RedisError):
                pass  # not up yet, or still LOADING the AOF
            if time.time() > deadline:
                fail("redis-server did not answer PING within %ss" % timeout)
            time.sleep(0.05)

    def stop(self, timeout=15):
        self.client.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # clean shutdown: the AOF is flushed
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None


# -- PostgreSQL (HB_STORE=postgres) --------------------------------------------------------

PG_BIN = os.environ.get("HB_PG_BIN", "/usr/lib/postgresql/15/bin")


def store_kind():
    """"sqlite" (default) or "postgres": the store the binaries under test get (HB_STORE)."""
    return os.environ.get("HB_STORE", "sqlite")


class PostgresServer:
    """A throwaway PostgreSQL server: initdb in a temp dir, pg_ctl start on a free loopback
    port, trust auth for the user "hb". As root (PostgreSQL refuses to run as root) the
    server runs as the "postgres" user that Debian's package creates."""

    def __init__(self, workdir, port=None):
        self.dir = os.path.join(workdir, "pg")
        self.port = port or free_port()
        self.log_path = os.path.join(workdir, "postgres.log")
        self.started = False

    def _as_owner(self, argv):
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, timeout=60):
        r = subprocess.run(self._as_owner(argv), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("%s failed (rc %d): %s" % (
                os.path.basename(argv[0]), r.returncode,
                r.stdout.decode("utf-8", "replace").strip()[-500:]))
        return r.stdout.decode("utf-8", "replace")

    def start(self):
        """Raises RuntimeError with the reason when PostgreSQL cannot start here."""
        if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
            raise RuntimeError("no %s/initdb (Debian package postgresql)" % PG_BIN)
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            # mkdtemp's 0700 would keep the postgres user out of its own directory: let it
            # through the folders above, up to the temp dir.
            top = os.path.realpath(tempfile.gettempdir())
            d = os.path.realpath(os.path.dirname(self.dir))
            while d.startswith(top + os.sep):
                os.chmod(d, os.stat(d).st_mode | 0o711)
                d = os.path.dirname(d)
            shutil.chown(self.dir, "postgres")
            open(self.log_path, "ab").close()
            shutil.chown(self.log_path, "postgres")
        data = os.path.join(self.dir, "data")
        self._run([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "hb", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], timeout=120)
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
                % (self.port, self.dir))
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-o", opts, "-l",
                   self.log_path, "-w", "-t", "60", "start"], timeout=90)
        self.started = True

    def restart(self):
        """pg_ctl restart: every client connection is dropped."""
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                   "-l", self.log_path, "-m", "fast", "-w", "-t", "60", "restart"], timeout=90)

    def createdb(self, name):
        """A new database; returns its postgres:// URL."""
        subprocess.run([os.path.join(PG_BIN, "createdb"), "-h", "127.0.0.1", "-p",
                        str(self.port), "-U", "hb", name], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self.url(name)

    def url(self, name):
        return "postgres://hb@127.0.0.1:%d/%s" % (self.port, name)

    def stop(self):
        if not self.started:
            return
        try:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                       "-m", "immediate", "-w", "stop"], timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        self.started = False


def psql(url, sql):
    """Run SQL with psql against a postgres:// URL; returns the rows as lists of strings."""
    # The statement on stdin: a long INSERT would not fit an argument.
    r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
                        "-v", "ON_ERROR_STOP=1", "-d", url], input=sql.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        fail("psql %r: %s" % (sql, r.stderr.decode("utf-8", "replace").strip()))
    out = r.stdout.decode("utf-8", "replace")
    return [line.split("\t") for line in out.splitlines() if line != ""]


# -- processes -----------------------------------------------------------------------------

def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "(no log)"
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


class Proc:
    """A binary under test; stdout and stderr go to TMP/<name>.log."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log_path = log_path
        self.accounted = False  # its exit was caused or observed by the test
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def send(self, sig):
        self.accounted = True
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout):
        """Wait for exit; returns the exit code. Raises TestFailure on timeout."""
        self.accounted = True
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("%s did not exit within %ss" % (self.name, timeout))

    def terminate(self, timeout=20):
        """SIGTERM and wait; SIGKILL after timeout (and fail). Returns the exit code."""
        self.send(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            fail("%s did not exit within %ss of SIGTERM" % (self.name, timeout))

    def kill(self):
        self.send(signal.SIGKILL)
        self.popen.wait()

    def text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, n=40):
        return tail(self.log_path, n)

    def sanitizer_lines(self):
        out = []
        for line in self.text().splitlines():
            if any(m in line for m in SANITIZER_MARKERS):
                out.append(line.strip())
        return out


# -- HTTP ----------------------------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("answer %d is not JSON: %r" % (self.status, self.body[:300]))

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def http_request(port, method, path, body=None, headers=None, timeout=20, host="127.0.0.1"):
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.headers, data)
    finally:
        conn.close()


def expect_error(resp, status, code=None, what=""):
    """Check an error answer: status, JSON {"error": code, ...}. Returns the JSON."""
    check(resp.status == status, "%s: expected %d, got %r" % (what, status, resp))
    j = resp.json()
    check(isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"],
          "%s: error answer has no \"error\" string: %r" % (what, resp))
    if code is not None:
        check(j["error"] == code, "%s: expected error %r, got %r" % (what, code, j))
    return j


def header_get(d, name):
    """Case-insensitive lookup in a JSON object of headers."""
    if not isinstance(d, dict):
        return None
    for k, v in d.items():
        if k.lower() == name.lower():
            return v
    return None


# -- the environment of one test -----------------------------------------------------------

class Env:
    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="hb-it-%s-" % name)
        self.procs = []
        self.sinks = []
        self.notes = []
        self.token = secrets.token_urlsafe(24)
        self.secret_key = base64.b64encode(os.urandom(32)).decode()
        self.store = store_kind()
        self.db = os.path.join(self.dir, "hb.db")
        self.pg = None  # a server of this test's own, when run.py did not start one
        if self.store == "postgres":
            self._pg_database()
        self.public_port = free_port()
        self.admin_port = free_port()
        self.public_url = "http://127.0.0.1:%d" % self.public_port
        self.ingress = None
        self._nworkers = 0
        self.redis = RedisServer(self.dir)
        self.redis.start()

    def _pg_database(self):
        """Point self.db at a new database: on run.py's shared server (HB_PG_PORT), else
        on a server started for this test alone."""
        port = os.environ.get("HB_PG_PORT")
        if port:
            server = PostgresServer(self.dir, int(port))
        else:
            server = self.pg = PostgresServer(self.dir)
            try:
                server.start()
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                skip("PostgreSQL could not start: %s" % first_line_of(e))
        name = "hb_" + "".join(c for c in self.name.lower() if c.isalnum())[:40] + \
            "_" + secrets.token_hex(4)
        self.db = server.createdb(name)

    def sql(self, query):
        """Run SQL on the store the binaries use (either kind); rows as lists of strings
        (PostgreSQL) or values (SQLite). Write it in the SQL both accept."""
        if self.store == "postgres":
            return psql(self.db, query)
        import sqlite3
        con = sqlite3.connect(self.db, timeout=10)
        try:
            rows = [list(r) for r in con.execute(query).fetchall()]
            con.commit()
            return rows
        finally:
            con.close()

    def need_sqlite(self, why="reads the SQLite file directly"):
        """Skip the rest of a test that only makes sense on the SQLite store."""
        if self.store != "sqlite":
            skip("SQLite only: %s" % why)

    # -- processes --
    def note(self, msg):
        """A line printed under the test's PASS/FAIL line."""
        self.notes.append(msg)

    def base_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKBRIDGE_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.update({
            "HOOKBRIDGE_REDIS_URL": self.redis.url,
            "HOOKBRIDGE_DB": self.db,
            "HOOKBRIDGE_ADMIN_TOKEN": self.token,
            "HOOKBRIDGE_SECRET_KEY": self.secret_key,
            "HOOKBRIDGE_PUBLIC_URL": self.public_url,
            "HOOKBRIDGE_LOG_FORMAT": "json",
            "HOOKBRIDGE_SHUTDOWN_TIMEOUT": "5",
        })
        for k, v in (extra or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def _binary(self, name):
        path = os.path.join(bin_dir(), name)
        if not os.access(path, os.X_OK):
            fail("binary not found: %s (set HB_BIN)" % path)
        return path

    def spawn(self, binary, name, extra=None, args=()):
        p = Proc(name, [self._binary(binary)] + list(args), self.base_env(extra),
                 os.path.join(self.dir, name + ".log"))
        self.procs.append(p)
        return p

    def start_ingress(self, extra=None, wait=True, name="ingress"):
        env = {"HOOKBRIDGE_LISTEN": "127.0.0.1:%d" % self.public_port,
               "HOOKBRIDGE_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin_port}
        env.update(extra or {})
        p = self.spawn("hookbridge-ingress", name, env)
        if self.ingress is None:
            self.ingress = p
        if wait:
            self.wait_ready(p)
        return p

    def wait_ready(self, p, timeout=20):
        deadline = time.time() + timeout
        last = None
        while True:
            if not p.alive():
                p.accounted = True
                fail("%s exited at start (rc %s):\n%s" % (p.name, p.returncode, p.tail(20)))
            try:
                r = http_request(self.admin_port, "GET", "/healthz", timeout=2)
                last = r
                if r.status == 200:
                    return
            except OSError as e:
                last = e
            if time.time() > deadline:
                fail("%s not ready within %ss (last /healthz: %r)" % (p.name, timeout, last))
            time.sleep(0.05)

    def start_worker(self, extra=None, name=None, wait=True):
        """Start a worker; with wait, return once it logged that it runs (a SIGTERM sent
        before its handlers exist would kill it instead of stopping it)."""
        self._nworkers += 1
        p = self.spawn("hookbridge-worker", name or "worker%d" % self._nworkers, extra)
        deadline = time.time() + 20
        while wait and "worker started" not in p.text():
            if not p.alive():
                p.accounted = True
                fail("%s exited at start (rc %s):\n%s" % (p.name, p.returncode, p.tail(20)))
            if time.time() > deadline:
                fail("%s did not start within 20 s:\n%s" % (p.name, p.tail(20)))
            time.sleep(0.02)
        return p

    def sink(self, responder=None):
        s = Sink(responder=responder or always(200))
        self.sinks.append(s)
        return s

    # -- HTTP --
    def api(self, method, path, body=None, token=True, headers=None, timeout=20):
        """Admin API call. token=True: the env's token; a str: that token; None: no header.
        body: dict/list -> JSON; bytes/str -> as is."""
        h = {}
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif isinstance(token, str):
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        elif body is not None:
            h.setdefault("Content-Type", "application/json")
        h.update(headers or {})
        return http_request(self.admin_port, method, path, body, h, timeout=timeout)

    def public(self, method, path, body=None, headers=None, timeout=20):
        return http_request(self.public_port, method, path, body, headers, timeout=timeout)

    # -- bridges --
    def create_bridge(self, **fields):
        r = self.api("POST", "/api/bridges", fields)
        check(r.status == 201, "POST /api/bridges %r: expected 201, got %r" % (fields, r))
        b = r.json()
        check(isinstance(b.get("id"), str) and isinstance(b.get("endpoint"), str),
              "created bridge has no id/endpoint: %r" % b)
        return b

    def hook(self, bridge, body=b'{"hello":"world"}', method="POST",
             content_type="application/json", headers=None, query="", timeout=20):
        """Send to /hooks/{endpoint}; bridge is a bridge dict or an endpoint string."""
        endpoint = bridge["endpoint"] if isinstance(bridge, dict) else bridge
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        path = "/hooks/" + endpoint + (("?" + query) if query else "")
        return self.public(method, path, body, h, timeout=timeout)

    def send(self, bridge, **kw):
        """hook() that must answer 202 {"event_id", "status"}; returns the event id."""
        r = self.hook(bridge, **kw)
        check(r.status == 202, "hook: expected 202, got %r" % r)
        j = r.json()
        check(isinstance(j.get("event_id"), str) and j["event_id"].startswith("evt_"),
              "hook: 202 without an evt_ event_id: %r" % j)
        return j["event_id"]

    def send_many(self, bridge, n, threads=8, body=None):
        """Send n hooks in parallel; returns the event ids in no particular order."""
        ids = []
        errors = []
        lock = threading.Lock()
        counter = iter(range(n))

        def run():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                try:
                    b = body if body is not None else ('{"n":%d}' % i).encode()
                    eid = self.send(bridge, body=b)
                    with lock:
                        ids.append(eid)
                except Exception as e:  # noqa: BLE001 - reported below
                    with lock:
                        errors.append(e)
                        if len(errors) > 5:
                            return

        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            fail("send_many: %d errors, first: %s" % (len(errors), errors[0]))
        check(len(ids) == n and len(set(ids)) == n,
              "send_many: %d ids for %d sends (%d distinct)" % (len(ids), n, len(set(ids))))
        return ids

    # -- events --
    def event(self, event_id):
        r = self.api("GET", "/api/events/" + event_id)
        check(r.status == 200, "GET /api/events/%s: expected 200, got %r" % (event_id, r))
        return r.json()

    def wait_event(self, event_id, statuses, timeout=30):
        """Poll GET /api/events/{id} until its status is in statuses."""
        statuses = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.time() + timeout
        ev = None
        while True:
            ev = self.event(event_id)
            if ev.get("status") in statuses:
                return ev
            if time.time() > deadline:
                fail("event %s: status %r after %ss, expected one of %s; attempts: %s" % (
                    event_id, ev.get("status"), timeout, sorted(statuses),
                    json.dumps(ev.get("attempts"))[:800]))
            time.sleep(0.1)

    def wait_events(self, ids, statuses=("delivered",), timeout=60, threads=4):
        """Poll until every event reached a final status; then check all are in statuses.
        Returns {id: event}."""
        statuses = set(statuses)
        pending = list(ids)
        done = {}
        deadline = time.time() + timeout
        while pending:
            results = {}

            def getter(chunk):
                for eid in chunk:
                    results[eid] = self.event(eid)

            chunks = [pending[i::threads] for i in range(threads)]
            errs = []

            def run(c):
                try:
                    getter(c)
                except Exception as e:  # noqa: BLE001
                    errs.append(e)

            ts = [threading.Thread(target=run, args=(c,)) for c in chunks if c]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if errs:
                raise errs[0]
            still = []
            for eid in pending:
                ev = results[eid]
                if ev.get("status") in FINAL_STATUSES or ev.get("status") in statuses:
                    done[eid] = ev
                else:
                    still.append(eid)
            pending = still
            if not pending:
                break
            if time.time() > deadline:
                by = {}
                for eid in pending:
                    s = results[eid].get("status")
                    by[s] = by.get(s, 0) + 1
                fail("%d of %d events not final after %ss: %s (e.g. %s)" % (
                    len(pending), len(ids), timeout, by, pending[0]))
            time.sleep(0.2 if len(pending) < 50 else 0.5)
        bad = {eid: ev.get("status") for eid, ev in done.items() if ev.get("status") not in statuses}
        if bad:
            by = {}
            for s in bad.values():
                by[s] = by.get(s, 0) + 1
            eid = next(iter(bad))
            fail("%d of %d events ended outside %s: %s; e.g. %s attempts %s" % (
                len(bad), len(ids), sorted(statuses), by, eid,
                json.dumps(done[eid].get("attempts"))[:600]))
        return done

    def list_events(self, **params):
        q = urllib.parse.urlencode(params)
        return self.api("GET", "/api/events" + ("?" + q if q else ""))

    def all_events(self, limit=50, max_pages=1000, **params):
        """Every event summary matching params, following "next"."""
        out = []
        before = None
        for _ in range(max_pages):
            p = dict(params, limit=limit)
            if before:
                p["before"] = before
            r = self.list_events(**p)
            check(r.status == 200, "GET /api/events %r: %r" % (p, r))
            j = r.json()
            evs = j.get("events")
            check(isinstance(evs, list), "GET /api/events: no events list: %r" % j)
            out.extend(evs)
            nxt = j.get("next")
            if not evs or not nxt:
                return out
            check(nxt != before, "GET /api/events: next did not move (%s)" % nxt)
            before = nxt
        fail("GET /api/events: more than %d pages" % max_pages)

    # -- teardown --
    def logs(self, n=30):
        parts = []
        for p in self.procs:
            parts.append("--- %s (pid %d, rc %s) %s\n%s" % (p.name, p.pid, p.returncode,
                                                           p.log_path, p.tail(n)))
        rl = [l for l in tail(self.redis.log_path, 30).splitlines() if "overcommit" not in l]
        parts.append("--- redis %s\n%s" % (self.redis.log_path, "\n".join(rl[-6:])))
        return "\n".join(parts)

    def teardown(self):
        """Stop everything; return a list of problems that fail the test."""
        problems = []
        for s in self.sinks:
            s.release()  # no worker waits on a sleeping sink at shutdown
        # workers first, then ingresses
        order = [p for p in self.procs if "worker" in p.name] + \
                [p for p in self.procs if "worker" not in p.name]
        for p in order:
            if p.alive():
                try:
                    rc = p.terminate(timeout=25)
                except TestFailure as e:
                    problems.append(str(e))
                    continue
                if rc != 0:
                    problems.append("%s exited with %s on SIGTERM at teardown" % (p.name, rc))
            elif not p.accounted:
                problems.append("%s died during the test (rc %s)" % (p.name, p.returncode))
        for p in self.procs:
            lines = p.sanitizer_lines()
            if lines:
                problems.append("%s: sanitizer report: %s" % (p.name, lines[0]))
        for s in self.sinks:
            try:
                s.stop()
            except Exception:  # noqa: BLE001
                pass
        self.redis.stop()
        if self.pg is not None:
            self.pg.stop()
        return problems


class BenchEnv(Env):
    """An Env for scripts/bench*: its temp dir goes at teardown, since a bench part leaves
    50 MB to 5 GB there (Redis's AOF, logs, SQLite) and repeated runs filled the disk.
    HB_BENCH_KEEP=1 keeps them to look at. (Tests keep theirs on failure: run.py decides.)"""

    def teardown(self):
        problems = super().teardown()
        if os.environ.get("HB_BENCH_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems

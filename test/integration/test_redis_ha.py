"""Redis high availability (issue 17): redis-sentinel:// URLs, following a failover, and
--redis-wait-replicas (WAIT before the 202).

Real processes: the Env's redis-server is the master (AOF on), a redis-server replica and
a real Redis Sentinel (redis-sentinel, or redis-server --sentinel) run on free loopback
ports in the test's temp dir."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import Redis, RedisError, check, fail, free_port, meta, tail
from sink import always

MASTER_NAME = "hbmaster"


class Extra:
    """Redis processes this test starts besides the Env's; stopped by pid in stop_all."""

    def __init__(self, env):
        self.env = env
        self.procs = []

    def _start(self, name, argv, port):
        log_path = os.path.join(self.env.dir, name + ".log")
        with open(log_path, "ab") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        p.hb_name, p.hb_log = name, log_path
        self.procs.append(p)
        client = Redis(port)
        deadline = time.time() + 15
        while True:
            if p.poll() is not None:
                fail("%s exited at start:\n%s" % (name, tail(log_path, 20)))
            try:
                if client("PING") == "PONG":
                    return client
            except (OSError, ConnectionError, RedisError):
                pass
            if time.time() > deadline:
                fail("%s did not answer PING" % name)
            time.sleep(0.05)

    def replica(self, name, master_port):
        port = free_port()
        d = os.path.join(self.env.dir, name)
        os.makedirs(d, exist_ok=True)
        c = self._start(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "yes", "--dir", d,
                               "--daemonize", "no", "--repl-diskless-sync-delay", "0",
                               "--replicaof", "127.0.0.1",
                               str(master_port)], port)
        return port, c

    def sentinel(self, name, master_port, down_after_ms=1000):
        port = free_port()
        d = os.path.join(self.env.dir, name)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 1\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s 5000\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (port, d, MASTER_NAME, master_port, MASTER_NAME, down_after_ms,
                       MASTER_NAME, MASTER_NAME))
        argv = (["redis-sentinel", conf] if shutil.which("redis-sentinel")
                else ["redis-server", conf, "--sentinel"])
        return port, self._start(name, argv, port)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _wait(cond, timeout, what, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def _info_field(client, section, field):
    for line in client("INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _master_addr(sentinel):
    try:
        a = sentinel("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
    except (OSError, ConnectionError, RedisError):
        return None
    return (a[0], int(a[1])) if a else None


class Load:
    """Threads posting to /hooks/{endpoint} on keep-alive connections, recording every
    answer: (time, status, event id or error code)."""

    def __init__(self, env, endpoint, threads=2):
        self.env = env
        self.path = "/hooks/" + endpoint
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.conn_errors = 0
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, k):
        conn = None
        n = 0
        while not self.stop.is_set():
            n += 1
            body = json.dumps({"thread": k, "n": n})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.env.public_port,
                                                      timeout=10)
                conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                status = r.status
                retry_after = r.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                with self.lock:
                    self.conn_errors += 1
                time.sleep(0.05)
                continue
            try:
                j = json.loads(data)
            except ValueError:
                j = {}
            tag = j.get("event_id") if status == 202 else j.get("error")
            if status == 503 and retry_after != "5":
                tag = "503 without Retry-After: 5"
            with self.lock:
                self.results.append((time.time(), status, tag))
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def accepted(self):
        with self.lock:
            return [(t, tag) for t, s, tag in self.results if s == 202]


@meta(est=35, timeout=120, weight=2)
def test_sentinel_failover_loses_no_accepted_event(env):
    """Master + replica + sentinel; ingress (--redis-wait-replicas 1) and worker through
    redis-sentinel://; SIGKILL the master under load: every 202 is delivered, the answers
    during the failover are 503 queue_unavailable, and both processes follow the new master
    without a restart."""
    _failover(env, signal.SIGKILL)


@meta(est=40, timeout=120, weight=2)
def test_sentinel_failover_from_a_hung_master(env):
    """The same with the master stopped (SIGSTOP) instead of killed: its connections stay
    open and silent, so the processes must notice the stall themselves."""
    _failover(env, signal.SIGSTOP)


def _failover(env, sig):
    ex = Extra(env)
    try:
        master_port = env.redis.port
        replica_port, replica = ex.replica("replica", master_port)
        _wait(lambda: _info_field(replica, "replication", "master_link_status") == "up", 15,
              "the replica to sync")
        s_port, sentinel = ex.sentinel("sentinel", master_port)
        _wait(lambda: sentinel("SENTINEL", "replicas", MASTER_NAME), 15,
              "the sentinel to see the replica")
        # The first sentinel listed is down: the processes must go on to the next one.
        dead = free_port()
        url = "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d/%s" % (dead, s_port, MASTER_NAME)
        env.start_ingress({"HOOKBRIDGE_REDIS_URL": url, "HOOKBRIDGE_REDIS_WAIT_REPLICAS": "1"})
        sink = env.sink(always(200))
        b = env.create_bridge(outbound_url=sink.url("/ha"))
        worker = env.start_worker({"HOOKBRIDGE_REDIS_URL": url})
        env.send(b)  # the whole path works through the sentinel before the load

        load = Load(env, b["endpoint"], threads=2)
        load.start()
        try:
            _wait(lambda: len(load.accepted()) >= 300, 30, "300 accepted requests before the kill")
            env.redis.proc.send_signal(sig)
            if sig == signal.SIGKILL:
                env.redis.proc.wait()
            t_kill = time.time()
            _wait(lambda: _master_addr(sentinel) == ("127.0.0.1", replica_port), 30,
                  "the sentinel to promote the replica", step=0.1)
            t_promoted = time.time()
            # The new master has no replica left, so WAIT 1 cannot succeed until one joins.
            ex.replica("replica2", replica_port)
            _wait(lambda: any(t > t_promoted for t, _ in load.accepted()), 30,
                  "a 202 from the new master", step=0.1)
            t_back = min(t for t, _ in load.accepted() if t > t_promoted)
            time.sleep(1.0)
        finally:
            load.finish()

        with load.lock:
            results = list(load.results)
        accepted = {tag for _, s, tag in results if s == 202}
        others = [(s, tag) for _, s, tag in results if s != 202]
        unavailable = [1 for t, s, tag in results if s == 503 and tag == "queue_unavailable"]
        bad = [x for x in others if x != (503, "queue_unavailable")]
        check(not bad, "answers other than 202 and 503 queue_unavailable: %r" % bad[:5])
        check(unavailable, "no 503 queue_unavailable during the failover")
        check(load.conn_errors == 0, "%d connection errors: the ingress must keep answering"
              % load.conn_errors)
        after = [t for t, s, _ in results if s == 202 and t > t_kill]
        check(after, "no 202 after the kill")

        # Every accepted event is delivered: none lost in the failover.
        def all_delivered():
            return not (accepted - sink.delivered_ids())
        deadline = time.time() + 40
        while not all_delivered() and time.time() < deadline:
            time.sleep(0.2)
        lost = accepted - sink.delivered_ids()
        check(not lost, "%d of %d accepted events never delivered after the failover, e.g. %s"
              % (len(lost), len(accepted), sorted(lost)[:3]))
        check(env.ingress.alive() and worker.alive(), "ingress or worker died")
        for p in (env.ingress, worker):
            check("redis master moved" in p.text(),
                  "%s did not log that it followed the master" % p.name)
            if sig == signal.SIGSTOP:
                check("redis master does not answer" in p.text(),
                      "%s did not log the stalled master" % p.name)
        env.note("%d requests: %d accepted, all delivered; %d answered 503 queue_unavailable; "
                 "promoted %.1fs after the kill, 202s again %.1fs after the promotion"
                 % (len(results), len(accepted), len(unavailable), t_promoted - t_kill,
                    t_back - t_promoted))
    finally:
        if env.redis.proc.poll() is None:
            env.redis.proc.kill()  # a stopped one does not act on SIGTERM
            env.redis.proc.wait()
        ex.stop_all()


@meta(est=10, timeout=60)
def test_sentinel_named_server_demoted(env):
    """The server the sentinel names turns replica under the ingress (REPLICAOF, clients
    left connected): writes get READONLY, the ingress drops the link, and ROLE keeps it off
    the server (503 queue_unavailable) until it is a master again; then 202."""
    ex = Extra(env)
    try:
        # down-after 60 s: the sentinel keeps naming this server throughout
        s_port, _ = ex.sentinel("sentinel", env.redis.port, down_after_ms=60000)
        url = "redis-sentinel://127.0.0.1:%d/%s" % (s_port, MASTER_NAME)
        ing = env.start_ingress({"HOOKBRIDGE_REDIS_URL": url})
        sink = env.sink(always(200))
        b = env.create_bridge(outbound_url=sink.url("/d"))
        env.send(b)
        env.redis.client("REPLICAOF", "127.0.0.1", str(free_port()))
        answers = [env.hook(b) for _ in range(3)]
        for r in answers:
            check(r.status == 503 and r.json().get("error") == "queue_unavailable",
                  "the named server is a replica: expected 503 queue_unavailable, got %r" % r)
        _wait(lambda: "redis master turned replica" in ing.text(), 10,
              "the ingress to see READONLY")
        _wait(lambda: "is not a master" in ing.text(), 10, "the ingress to check ROLE")
        env.redis.client("REPLICAOF", "NO", "ONE")
        _wait(lambda: env.hook(b).status == 202, 20, "a 202 once it is a master again", 0.2)
    finally:
        ex.stop_all()


@meta(est=10, timeout=60)
def test_wait_replicas_without_replica_is_503(env):
    """--redis-wait-replicas 1 with no replica: 503 queue_unavailable after the WAIT's 1 s,
    not 202; once a replica syncs, 202 with the job on the replica; with the replica
    stopped (connected, not acknowledging), 503 again."""
    ex = Extra(env)
    try:
        env.start_ingress({"HOOKBRIDGE_REDIS_WAIT_REPLICAS": "1"})
        sink = env.sink(always(200))
        b = env.create_bridge(outbound_url=sink.url("/w"))
        t0 = time.time()
        r = env.hook(b)
        took = time.time() - t0
        check(r.status == 503, "no replica, wait 1: expected 503, got %r" % r)
        check(r.json().get("error") == "queue_unavailable", "expected queue_unavailable: %r" % r)
        check(r.header("Retry-After") == "5", "503 without Retry-After: 5: %r" % r)
        check(took >= 0.9, "503 after %.2fs: the WAIT's 1 s was not waited" % took)
        _, replica = ex.replica("replica", env.redis.port)
        _wait(lambda: _info_field(replica, "replication", "master_link_status") == "up", 15,
              "the replica to sync")
        eid = env.send(b)
        # the 202'd job is on the replica already: WAIT confirmed it
        check(replica("EXISTS", "hb:job:" + eid) == 1, "the accepted job is not on the replica")
        # The same through the enqueue script (Idempotency-Key), and its repeat answered as
        # the first once WAIT confirmed the repeat's own (empty) write.
        r1 = env.hook(b, headers={"Idempotency-Key": "ha-1"})
        r2 = env.hook(b, headers={"Idempotency-Key": "ha-1"})
        check(r1.status == 202 and r2.status == 202 and
              r1.json()["event_id"] == r2.json()["event_id"] and
              r2.header("Idempotent-Replayed") == "true", "idempotent with WAIT: %r %r" % (r1, r2))
        check(replica("EXISTS", "hb:job:" + r1.json()["event_id"]) == 1,
              "the idempotent job is not on the replica")
        # A replica that is connected but does not acknowledge (stopped) does not count.
        rp = ex.procs[-1]
        rp.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            r = env.hook(b)
            took = time.time() - t0
        finally:
            rp.send_signal(signal.SIGCONT)
        check(r.status == 503 and r.json().get("error") == "queue_unavailable",
              "replica stopped, wait 1: expected 503 queue_unavailable, got %r" % r)
        check(took >= 0.9, "503 after %.2fs: the WAIT's 1 s was not waited" % took)
        eid2 = env.send(b)
        check(replica("EXISTS", "hb:job:" + eid2) == 1, "the accepted job is not on the replica")
        env.start_worker()
        env.wait_event(eid, {"delivered"})
        env.wait_event(eid2, {"delivered"})
    finally:
        ex.stop_all()


@meta(est=3, timeout=30)
def test_bad_sentinel_url_is_a_startup_error(env):
    for url in ("redis-sentinel://127.0.0.1:26379", "redis-sentinel://127.0.0.1:x/m",
                "redis-sentinel:///m", "redis-sentinel://h:1,/m"):
        p = env.spawn("hookbridge-ingress", "bad-%d" % abs(hash(url)),
                      {"HOOKBRIDGE_REDIS_URL": url})
        rc = p.wait(10)
        check(rc == 2, "%s: expected exit 2, got %s" % (url, rc))
        check("HOOKBRIDGE_REDIS_URL" in p.text(), "%s: the error does not name "
              "HOOKBRIDGE_REDIS_URL: %s" % (url, p.text()))
    p = env.spawn("hookbridge-worker", "badpw", {
        "HOOKBRIDGE_REDIS_URL": "redis-sentinel://:s3cret-pw@127.0.0.1:1,bad host/m"})
    check(p.wait(10) == 2, "worker: a bad sentinel URL must stop it")
    check("s3cret-pw" not in p.text(), "the password was printed: %s" % p.text())

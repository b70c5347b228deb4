#!/usr/bin/env python3
"""Run the hookbridge integration tests.

    python3 test/integration/run.py [SUBSTRING...]

Tests are the functions named test_* in the test_*.py modules of this folder; each takes an
Env (harness.py) and gets a fresh one: its own redis-server, SQLite file, binaries and temp
dir. A SUBSTRING selects the tests whose name (or module.name) contains it.

Every test runs in a child process of its own (so a hung test can be killed with everything
it started); up to HB_IT_JOBS (default 3) run at once, heavy ones taking more slots
(see harness.meta). Output: one line per test, "PASS name (1.2s)" or "FAIL name: reason"
followed by the details (traceback, log tails, temp dir kept for inspection), and a last
line "N passed, N failed". Exit status 0 iff nothing failed.

Environment: HB_BIN (folder of hookbridge-ingress and hookbridge-worker, default bin),
HB_IT_JOBS (parallel slots), HB_IT_KEEP=1 (keep temp dirs of passing tests too),
HB_STORE=postgres (run against PostgreSQL: one server started for the run from
/usr/lib/postgresql/15/bin, a database per test; tests that need SQLite say SKIP).
"""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

RESULT_TAG = "@@HB-RESULT "


def discover():
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        funcs = [(getattr(o, "__code__").co_firstlineno, n, o) for n, o in vars(mod).items()
                 if n.startswith("test_") and callable(o) and getattr(o, "__module__", None)
                 == mod.__name__]
        for _, name, fn_ in sorted(funcs, key=lambda t: t[0]):
            tests.append((mod.__name__, name, fn_))
    return tests


def first_line(s, n=300):
    s = str(s).strip()
    line = s.splitlines()[0] if s else ""
    return line[:n]


def short_traceback(e):
    """The frames of the test and harness files only, one line each."""
    lines = []
    for fr in traceback.extract_tb(e.__traceback__):
        if os.path.dirname(os.path.abspath(fr.filename)) == HERE and \
                os.path.basename(fr.filename) != "run.py" and fr.name not in ("fail", "check"):
            lines.append("at %s:%d %s: %s" % (os.path.basename(fr.filename), fr.lineno,
                                              fr.name, (fr.line or "").strip()))
    lines.append("%s: %s" % (type(e).__name__, first_line(e, 2000)))
    return "\n".join(lines)


# -- child: run one test -------------------------------------------------------------------

def run_child(spec):
    import harness

    modname, name = spec.split(":")
    fn = getattr(importlib.import_module(modname), name)
    timeout = getattr(fn, "hb_timeout", 60)

    class Timeout(Exception):
        pass

    def on_alarm(signum, frame):
        raise Timeout("timed out after %ss" % timeout)

    def on_term(signum, frame):
        raise KeyboardInterrupt("interrupted")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    env = None
    reason = None
    details = []
    signal.alarm(timeout)
    skipped = None
    try:
        env = harness.Env(name)
        fn(env)
    except harness.TestSkipped as e:
        signal.alarm(0)
        skipped = first_line(e) or "skipped"
    except BaseException as e:  # noqa: BLE001 - everything is a test failure here
        signal.alarm(0)
        reason = first_line(e) or type(e).__name__
        if not isinstance(e, (harness.TestFailure, AssertionError)):
            reason = "%s: %s" % (type(e).__name__, reason)
        details.append(short_traceback(e))
        if len(str(e).strip().splitlines()) > 1:
            details.append(str(e).strip())
    signal.alarm(0)
    problems = []
    if env is not None:
        try:
            problems = env.teardown()
        except BaseException as e:  # noqa: BLE001
            problems = ["teardown failed: %r" % (e,)]
    if problems:
        if reason is None:
            reason = problems[0]
        details.append("teardown: " + "; ".join(problems))
    ok = reason is None
    if env is not None:
        if not ok:
            details.append(env.logs())
            details.append("temp dir kept: " + env.dir)
        elif not os.environ.get("HB_IT_KEEP"):
            shutil.rmtree(env.dir, ignore_errors=True)
    res = {"ok": ok, "reason": reason, "skipped": skipped if ok else None, "details": "\n".join(details),
           "notes": env.notes if env else [], "duration": time.time() - t0}
    sys.stdout.write(RESULT_TAG + json.dumps(res) + "\n")
    sys.stdout.flush()
    return 0 if ok else 1


# -- parent: schedule children -------------------------------------------------------------

def indent(text, pre="    "):
    return "\n".join(pre + line for line in text.splitlines())


def main(argv):
    if len(argv) >= 2 and argv[0] == "--child":
        return run_child(argv[1])
    filters = [a for a in argv if not a.startswith("-")]
    tests = discover()
    if filters:
        tests = [t for t in tests
                 if any(f in t[1] or f in "%s.%s" % (t[0], t[1]) for f in filters)]
    if not tests:
        print("no integration test matches %s" % " ".join(filters))
        print("0 passed, 0 failed")
        return 1
    slots = max(1, int(os.environ.get("HB_IT_JOBS", "3")))
    # longest first, so the long ones overlap the short ones
    pending = sorted(tests, key=lambda t: -getattr(t[2], "hb_est", 5))
    lock = threading.Condition()
    state = {"free": slots, "passed": 0, "failed": 0, "skipped": 0}
    running = {}
    t_start = time.time()
    out_lock = threading.Lock()

    def report(name, res, dur):
        with out_lock:
            if res["ok"] and res.get("skipped"):
                print("SKIP %s: %s" % (name, res["skipped"]))
            elif res["ok"]:
                print("PASS %s (%.1fs)" % (name, dur))
            else:
                print("FAIL %s: %s" % (name, res["reason"]))
            for n in res.get("notes") or []:
                print("    note: %s" % n)
            if not res["ok"] and res.get("details"):
                print(indent(res["details"]))
            sys.stdout.flush()

    def run_one(mod, name, fn, weight):
        timeout = getattr(fn, "hb_timeout", 60)
        t0 = time.time()
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child",
                              "%s:%s" % (mod, name)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        with lock:
            running[name] = p
        try:
            out, _ = p.communicate(timeout=timeout + 60)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            out, _ = p.communicate()
        # kill anything the child left behind in its process group
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        text = out.decode("utf-8", "replace")
        res = None
        other = []
        for line in text.splitlines():
            if line.startswith(RESULT_TAG):
                try:
                    res = json.loads(line[len(RESULT_TAG):])
                except ValueError:
                    pass
            else:
                other.append(line)
        if res is None:
            res = {"ok": False, "reason": "test process ended without a result (rc %s)"
                   % p.returncode, "details": "\n".join(other[-60:]), "notes": []}
        elif other:
            res["details"] = ("\n".join(other[-60:]) + "\n" + (res.get("details") or "")).strip()
        report(name, res, time.time() - t0)
        with lock:
            running.pop(name, None)
            state["free"] += weight
            if res["ok"] and res.get("skipped"):
                state["skipped"] += 1
            else:
                state["passed" if res["ok"] else "failed"] += 1
            lock.notify_all()

    # HB_STORE=postgres: one PostgreSQL server for the run, a database per test (harness.Env).
    # Where it cannot start, every test says so as skipped instead of failing.
    import harness

    def on_term(signum, frame):
        raise KeyboardInterrupt("terminated")

    signal.signal(signal.SIGTERM, on_term)  # so that `finally` stops the PostgreSQL server
    pg = pg_dir = None
    if harness.store_kind() == "postgres":
        import tempfile
        pg_dir = tempfile.mkdtemp(prefix="hb-it-pg-")
        pg = harness.PostgresServer(pg_dir)
        try:
            pg.start()
            os.environ["HB_PG_PORT"] = str(pg.port)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            reason = harness.first_line_of(e)
            pg.stop()
            pg = None
            for _, name, _ in pending:
                print("SKIP %s: PostgreSQL could not start: %s" % (name, reason))
            print("integration: 0.0s (store: postgres)")
            print("0 passed, 0 failed, %d skipped" % len(pending))
            return 0

    threads = []
    try:
        for mod, name, fn in pending:
            weight = min(slots, getattr(fn, "hb_weight", 1))
            with lock:
                while state["free"] < weight:
                    lock.wait()
                state["free"] -= weight
            t = threading.Thread(target=run_one, args=(mod, name, fn, weight), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        with lock:
            for p in list(running.values()):
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        time.sleep(2)
        with lock:
            for p in list(running.values()):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
        print("interrupted")
        state["failed"] += len(pending) - state["passed"] - state["failed"] - state["skipped"]
    finally:
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg_dir, ignore_errors=True)
    print("integration: %.1fs%s" % (time.time() - t_start,
                                     " (store: %s)" % harness.store_kind()))
    line = "%d passed, %d failed" % (state["passed"], state["failed"])
    if state["skipped"]:
        line += ", %d skipped" % state["skipped"]
    print(line)
    return 0 if state["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

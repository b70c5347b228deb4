"""Bodies crafted to hold the ingress's loop (issue 11, "Hardening"): each is sent to a
bridge that must look at it (an inbound schema), while another thread polls /healthz on the
same loop. The answer must come fast and /healthz must stay responsive: before the fixes
these held the loop for 5 s to minutes. Bounds are generous for ASan builds; scripts/bench
(--only stalls) puts release-build numbers on the same bodies.

form_flood depends on the form table's keyed hash in common/body.c (the body branch of
issue 11); the others on common/jsonschema.c."""

import json
import threading
import time

from harness import check, expect_error, http_request, meta

import stallbodies

ANSWER_MAX_S = 2.0
HEALTHZ_MAX_S = 1.0


class HealthPoller:
    """Polls /healthz on the public listener (the loop that serves /hooks/) until stopped;
    keeps each answer's latency."""

    def __init__(self, port):
        self.port = port
        self.latencies = []
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                r = http_request(self.port, "GET", "/healthz", timeout=30)
                if r.status != 200:
                    self.errors.append(r.status)
            except OSError as e:
                self.errors.append(repr(e))
            self.latencies.append(time.monotonic() - t0)
            time.sleep(0.005)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(60)


def send_stall_body(env, name):
    """Create a bridge for the body, send it with /healthz polled meanwhile; returns
    (response, seconds the answer took, the poller)."""
    schema, ctype, body = stallbodies.BODIES[name]()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/s", schema=schema)
    env.hook(b, body=b"{}")  # load the bridge into the cache first
    with HealthPoller(env.public_port) as poller:
        time.sleep(0.05)
        t0 = time.monotonic()
        r = env.hook(b, body=body, content_type=ctype, timeout=300)
        took = time.monotonic() - t0
        time.sleep(0.05)
    env.note("%s: %d bytes answered %d in %.3f s; /healthz max %.3f s over %d polls" % (
        name, len(body), r.status, took, max(poller.latencies or [0]), len(poller.latencies)))
    return r, took, poller


def check_fast(name, took, poller):
    check(took < ANSWER_MAX_S, "%s: the answer took %.2f s (bound %.1f s)" % (
        name, took, ANSWER_MAX_S))
    check(not poller.errors, "%s: /healthz failed meanwhile: %r" % (name, poller.errors[:3]))
    worst = max(poller.latencies or [0])
    check(worst < HEALTHZ_MAX_S, "%s: /healthz waited %.2f s while the body was checked" % (
        name, worst))


@meta(timeout=240, est=10)
def test_stall_form_flood(env):
    """1 MiB of form fields whose names share one FNV-1a hash: accepted, fast. Needs the
    keyed form table from the body branch of issue 11."""
    env.start_ingress()
    r, took, poller = send_stall_body(env, "form_flood")
    check(r.status == 202, "form flood: expected 202, got %r" % r)
    check_fast("form_flood", took, poller)


@meta(timeout=240, est=10)
def test_stall_unique_items(env):
    """1 MiB of distinct pairs that all shared one hash under the old uniqueItems mix:
    accepted (they are unique), fast."""
    env.start_ingress()
    r, took, poller = send_stall_body(env, "unique_flood")
    check(r.status == 202, "uniqueItems flood: expected 202, got %r" % r)
    check_fast("unique_flood", took, poller)
    # A real duplicate in the same kind of body is still found, and named.
    schema, ctype, body = stallbodies.unique_flood(limit=1 << 16)
    items = json.loads(body)
    items.append(items[0])
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/s", schema=schema)
    j = expect_error(env.hook(b, body=json.dumps(items)), 400, "validation_failed")
    want = "items ## %d and 0 are identical" % (len(items) - 1)
    check(want in j["details"][0]["message"], "duplicate not named (%s): %r" % (want, j))


def _check_too_costly(r, name):
    j = expect_error(r, 400, "validation_failed")
    d = j.get("details") or [{}]
    check(len(d) == 1 and "too costly" in d[0].get("message", "") and
          "^(a+)+$" in d[0].get("message", ""),
          "%s: the 400 does not say the pattern was too costly: %r" % (name, j))
    check(d[0].get("path", "").startswith("/aaaaaaaaaaaaaa"),
          "%s: the error does not point at the value: %r" % (name, d))


@meta(timeout=240, est=10)
def test_stall_regex_keys(env):
    """1,000 names on which ^(a+)+$ backtracks catastrophically (43 KB): refused at once as
    too costly, where each name used to take the whole per-match limit."""
    env.start_ingress()
    r, took, poller = send_stall_body(env, "regex_keys")
    _check_too_costly(r, "regex_keys")
    check_fast("regex_keys", took, poller)


@meta(timeout=600, est=15)
def test_stall_regex_flood(env):
    """1 MiB of names that each backtrack a little under a one-match limit: the budget
    shared by the request's matches ends it, as too costly."""
    env.start_ingress()
    r, took, poller = send_stall_body(env, "regex_flood")
    _check_too_costly(r, "regex_flood")
    check_fast("regex_flood", took, poller)

"""Event lists: `next` is null on the last page even when it is exactly
full; `status` takes several values (a comma list or repeated parameters, their union) and
an unknown one is a 400 naming the allowed ones; failed events carry their `last_error`,
filtered ones the `reason`."""

import time

from harness import check, expect_error, meta
from sink import Reply


def _ids(evs):
    return [e.get("id") for e in evs]


def _get(env, query):
    r = env.api("GET", "/api/events?" + query)
    check(r.status == 200, "GET /api/events?%s: %r" % (query, r))
    return r.json()


@meta(est=3)
def test_next_is_null_on_an_exactly_full_last_page(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    sent = []
    for i in range(4):
        sent.append(env.send(b, body=b'{"i":%d}' % i))
        time.sleep(0.005)
    newest = list(reversed(sent))

    j = _get(env, "bridge_id=%s&limit=4" % b["id"])
    check(_ids(j["events"]) == newest, "one full page: %r" % j)
    check(j.get("next") is None, "next on a page holding everything: %r" % j.get("next"))

    j = _get(env, "bridge_id=%s&limit=2" % b["id"])
    check(_ids(j["events"]) == newest[:2] and j.get("next") == newest[1], "page 1: %r" % j)
    j = _get(env, "bridge_id=%s&limit=2&before=%s" % (b["id"], j["next"]))
    check(_ids(j["events"]) == newest[2:], "page 2: %r" % j)
    check(j.get("next") is None, "next on the exactly full last page: %r" % j.get("next"))

    j = _get(env, "bridge_id=%s&limit=3" % b["id"])
    check(j.get("next") == newest[2], "next with one more left: %r" % j)
    j = _get(env, "bridge_id=%s&limit=3&before=%s" % (b["id"], j["next"]))
    check(_ids(j["events"]) == newest[3:] and j.get("next") is None, "last short page: %r" % j)


@meta(est=8)
def test_status_lists_and_outcomes(env):
    env.start_ingress()
    sink = env.sink(lambda req: Reply(503 if req.path == "/bad" else 200))
    ok = env.create_bridge(outbound_url=sink.url("/good"))
    bad = env.create_bridge(outbound_url=sink.url("/bad"), retries=0)
    refused = env.create_bridge(outbound_url="http://127.0.0.1:9/x", retries=0)
    flt = env.create_bridge(outbound_url=sink.url("/flt"), filter={"$payload.go": True})
    delivered = env.send(ok)
    failed_http = env.send(bad)
    failed_net = env.send(refused)
    filtered = env.send(flt, body=b'{"go":false}')
    env.start_worker()
    env.wait_events([delivered], {"delivered"})
    env.wait_events([failed_http, failed_net], {"failed"})
    env.wait_events([filtered], {"filtered"})

    failed = {failed_http, failed_net}
    for q in ("status=failed,filtered", "status=failed&status=filtered",
              "status=filtered,failed&status=failed", "status=failed%2Cfiltered"):
        j = _get(env, q)
        check(set(_ids(j["events"])) == failed | {filtered}, "%s: %r" % (q, _ids(j["events"])))
        check(j.get("next") is None, "%s: next %r" % (q, j.get("next")))
    # the union keeps the order and the other filters
    j = _get(env, "status=failed&status=delivered&limit=2")
    check(len(j["events"]) == 2 and j.get("next") == j["events"][1]["id"], "paged union: %r" % j)
    rest = _get(env, "status=failed,delivered&limit=2&before=" + j["next"])
    check(_ids(j["events"]) + _ids(rest["events"]) ==
          sorted(failed | {delivered}, reverse=True) and rest.get("next") is None,
          "union pages: %r then %r" % (j, rest))
    j = _get(env, "status=failed,delivered&bridge_id=" + bad["id"])
    check(_ids(j["events"]) == [failed_http], "union with bridge_id: %r" % j)
    # one value still works as before
    j = _get(env, "status=delivered")
    check(_ids(j["events"]) == [delivered], "status=delivered: %r" % j)

    by_id = {e["id"]: e for e in _get(env, "limit=10")["events"]}
    check(by_id[failed_http].get("last_error") == "HTTP 503",
          "failed on a 503: last_error %r" % by_id[failed_http])
    net = by_id[failed_net].get("last_error")
    check(isinstance(net, str) and net and not net.startswith("HTTP"),
          "failed on a refused connection: last_error %r" % by_id[failed_net])
    check(by_id[filtered].get("reason") == "filter did not match",
          "filtered: reason %r" % by_id[filtered])
    check("last_error" not in by_id[delivered] and "reason" not in by_id[delivered],
          "delivered carries no outcome: %r" % by_id[delivered])


@meta(est=2)
def test_unknown_status_is_a_400_naming_the_allowed(env):
    env.start_ingress()
    for q in ("status=failed,nope", "status=nope", "status=failed&status=bogus",
              "status=failed,", "status=", "status=,failed", "status=FAILED"):
        r = env.api("GET", "/api/events?" + q)
        j = expect_error(r, 400, "invalid_parameter", q)
        msg = j.get("message", "")
        for name in ("queued", "scheduled", "retrying", "delivered", "failed", "filtered",
                     "aborted"):
            check(name in msg, "%s: message does not list %s: %r" % (q, name, msg))


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ms(event_id):
    """The received time (ms) an event id holds: its ULID's first 10 characters."""
    v = 0
    for c in event_id[4:14]:
        v = v * 32 + _CROCKFORD.index(c)
    return v


def _rfc3339(ms, offset_min=0, extra=""):
    """ms as an RFC 3339 time at offset_min minutes east of UTC; `extra` appends digits."""
    t = time.gmtime(ms // 1000 + offset_min * 60)
    if offset_min == 0:
        zone = "Z"
    else:
        sign = "+" if offset_min > 0 else "-"
        zone = "%s%02d:%02d" % (sign, abs(offset_min) // 60, abs(offset_min) % 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03d%s" % (ms % 1000, extra) + zone


@meta(est=3)
def test_since_until_filter_on_received_time(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    sent = []
    for i in range(3):
        sent.append(env.send(b, body=b'{"i":%d}' % i))
        time.sleep(0.02)
    t = [_ms(i) for i in sent]
    check(t[0] < t[1] < t[2], "ids in time order: %r" % sent)
    base = "bridge_id=%s&" % b["id"]

    # since is inclusive, until exclusive
    j = _get(env, base + "since=" + _rfc3339(t[1]))
    check(_ids(j["events"]) == [sent[2], sent[1]], "since t1: %r" % j)
    j = _get(env, base + "until=" + _rfc3339(t[1]))
    check(_ids(j["events"]) == [sent[0]], "until t1: %r" % j)
    j = _get(env, base + "since=%s&until=%s" % (_rfc3339(t[0]), _rfc3339(t[2])))
    check(_ids(j["events"]) == [sent[1], sent[0]], "since t0 until t2: %r" % j)
    # an offset names the same instant; a fraction finer than a ms is after that ms
    j = _get(env, base + "since=" + _rfc3339(t[1], -330).replace("+", "%2B"))
    check(_ids(j["events"]) == [sent[2], sent[1]], "since t1 at -05:30: %r" % j)
    j = _get(env, base + "since=" + _rfc3339(t[1], 120, "4").replace("+", "%2B"))
    check(_ids(j["events"]) == [sent[2]], "since just after t1 at +02:00: %r" % j)
    j = _get(env, base + "since=" + _rfc3339(t[1]).replace("T", "t").replace("Z", "z"))
    check(_ids(j["events"]) == [sent[2], sent[1]], "lower-case t and z: %r" % j)
    # with before, the lower bound wins; paging still works inside a range
    j = _get(env, base + "until=%s&before=%s" % (_rfc3339(t[2] + 1), sent[1]))
    check(_ids(j["events"]) == [sent[0]], "until and before: %r" % j)
    j = _get(env, base + "since=%s&limit=1" % _rfc3339(t[0]))
    check(_ids(j["events"]) == [sent[2]] and j.get("next") == sent[2], "page 1: %r" % j)
    j = _get(env, base + "since=%s&limit=2&before=%s" % (_rfc3339(t[0]), j["next"]))
    check(_ids(j["events"]) == [sent[1], sent[0]] and j.get("next") is None, "page 2: %r" % j)


def test_malformed_since_until_is_a_400_naming_it(env):
    env.start_ingress()
    for name in ("since", "until"):
        for v in ("yesterday", "2026-12-03", "2026-12-03T09:00:00", "2026-13-03T09:00:00Z",
                  "2026-12-03T09:00Z", "2026-12-03T09:00:00.Z", "1733216400", ""):
            q = "%s=%s" % (name, v)
            j = expect_error(env.api("GET", "/api/events?" + q), 400, "invalid_parameter", q)
            msg = j.get("message", "")
            check(name in msg and "RFC 3339" in msg, "%s: message %r" % (q, msg))
    j = expect_error(env.api("GET", "/api/events?from=x"), 400, "invalid_parameter", "from")
    check("since" in j.get("message", "") and "until" in j.get("message", ""),
          "unknown parameter's message lists since and until: %r" % j)

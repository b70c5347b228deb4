"""GET /api/events and /api/events/{id}."""

import time

from harness import check, expect_error, meta
from sink import Reply


def _ids(evs):
    return [e.get("id") for e in evs]


@meta(est=8)
def test_events_list_filters_and_paging(env):
    env.start_ingress()
    sink = env.sink(lambda req: Reply(500 if req.path == "/bad" else 200))
    a = env.create_bridge(outbound_url=sink.url("/good"))
    b = env.create_bridge(outbound_url=sink.url("/bad"), retries=0)
    sent_a, sent_b = [], []
    for i in range(5):
        sent_a.append(env.send(a, body=b'{"i":%d}' % i))
        time.sleep(0.005)  # distinct milliseconds: "newest first" is then one order
        if i < 2:
            sent_b.append(env.send(b, body=b'{"j":%d}' % i))
            time.sleep(0.005)
    newest_a = list(reversed(sent_a))

    # no worker yet: everything queued
    r = env.list_events()
    check(r.status == 200, "GET /api/events: %r" % r)
    j = r.json()
    check(isinstance(j.get("events"), list), "no events list: %r" % j)
    check(set(_ids(j["events"])) == set(sent_a + sent_b), "all events: %r" % _ids(j["events"]))
    r = env.list_events(bridge_id=a["id"])
    evs = r.json().get("events")
    check(_ids(evs) == newest_a, "bridge_id filter / newest first: %r, expected %r"
          % (_ids(evs), newest_a))
    for e in evs:
        check(e.get("bridge_id") == a["id"] and e.get("status") == "queued",
              "summary: %r" % e)
    r = env.list_events(status="queued", bridge_id=b["id"])
    check(set(_ids(r.json().get("events"))) == set(sent_b), "status+bridge_id: %r" % r)
    r = env.list_events(status="delivered")
    check(r.json().get("events") == [], "delivered before any worker: %r" % r)

    # paging with limit and before=next
    r = env.list_events(bridge_id=a["id"], limit=2)
    p1 = r.json()
    check(_ids(p1.get("events")) == newest_a[:2], "page 1: %r" % p1)
    check(isinstance(p1.get("next"), str) and p1["next"].startswith("evt_"),
          "page 1 has no next: %r" % p1)
    r = env.list_events(bridge_id=a["id"], limit=2, before=p1["next"])
    p2 = r.json()
    check(_ids(p2.get("events")) == newest_a[2:4], "page 2: %r, expected %r"
          % (_ids(p2.get("events")), newest_a[2:4]))
    r = env.list_events(bridge_id=a["id"], limit=2, before=p2["next"])
    p3 = r.json()
    check(_ids(p3.get("events")) == newest_a[4:], "page 3: %r" % p3)
    if p3.get("next"):
        r = env.list_events(bridge_id=a["id"], limit=2, before=p3["next"])
        check(r.json().get("events") == [], "page after the last: %r" % r)
    check(_ids(env.all_events(bridge_id=a["id"], limit=3)) == newest_a, "all pages, limit 3")

    # after delivery: status filters
    env.start_worker()
    env.wait_events(sent_a, {"delivered"}, timeout=30)
    env.wait_events(sent_b, {"failed"}, timeout=30)
    r = env.list_events(status="delivered")
    check(set(_ids(r.json().get("events"))) == set(sent_a), "status=delivered: %r" % r)
    r = env.list_events(status="failed", limit=1)
    j = r.json()
    check(_ids(j.get("events")) == [sent_b[-1]], "status=failed&limit=1: %r" % j)
    check(set(_ids(env.all_events(status="failed", limit=1))) == set(sent_b),
          "paging over failed")
    r = env.list_events(status="queued")
    check(r.json().get("events") == [], "status=queued after delivery: %r" % r)


@meta(est=3)
def test_events_bad_parameters(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    env.send(b)
    for q in ("foo=1", "limit=abc", "limit=0", "limit=-1", "limit=", "status=bogus",
              "bridge_id=" + b["id"] + "&frobnicate=yes"):
        r = env.api("GET", "/api/events?" + q)
        expect_error(r, 400, what="GET /api/events?" + q)
        for name in ("bridge_id", "status", "limit", "before"):
            check(name in r.text, "GET /api/events?%s: the 400 does not list %r: %r"
                  % (q, name, r))
    r = env.api("GET", "/api/events?limit=1")
    check(r.status == 200 and len(r.json().get("events", [])) == 1, "limit=1: %r" % r)
    r = env.api("GET", "/api/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    expect_error(r, 404, "not_found", "unknown event")
    r = env.api("GET", "/api/events/nonsense")
    expect_error(r, 404, what="malformed event id")


@meta(est=3)
def test_event_read_from_its_job_before_its_row(env):
    """An event with no row yet (the ingress writes none when it accepts: common/record.h)
    is read from its job in Redis, the same as its row shows it once written."""
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x", delay_seconds=600)
    eid = env.send(b, body=b'{"order":{"id":7}}', query="src=shop")
    from_job = env.event(eid)
    env.list_events()  # writes the row
    stored = env.event(eid)
    check(from_job["status"] == stored["status"] == "scheduled", "status: %r" % from_job)
    check(from_job["next_attempt_at"] == stored["next_attempt_at"],
          "due time from the scheduled set: %r vs %r" % (from_job["next_attempt_at"],
                                                        stored["next_attempt_at"]))
    for key in ("id", "bridge_id", "received_at", "request", "attempts", "replay_of"):
        check(from_job[key] == stored[key],
              "%s differs: %r vs %r" % (key, from_job[key], stored[key]))
    # Neither in SQLite nor in Redis: 404.
    env.sql("DELETE FROM events WHERE id = '%s'" % eid)
    env.redis.client("DEL", "hb:job:" + eid)
    expect_error(env.api("GET", "/api/events/" + eid), 404, "not_found")

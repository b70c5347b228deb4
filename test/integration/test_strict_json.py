"""Strict JSON (issue 11): the admin API refuses invalid UTF-8, \\u0000 and duplicate keys in
what it reads, naming the field, and says when a template nests too deep; inbound bodies with
duplicate keys or empty where the bridge reads JSON are refused; a body that is not JSON but
nests deep is stored so that its event reads back and replays."""

import json

from harness import check, expect_error, meta

SINK_DOWN = "http://127.0.0.1:9/x"


def _bad_admin(env, method, path, body, where, what):
    """A raw admin body must get 400 invalid_json naming `where` and saying `what`."""
    r = env.api(method, path, body)
    j = expect_error(r, 400, "invalid_json", "%s %s" % (method, body[:60]))
    msg = j.get("message", "")
    check(where in msg and what in msg,
          "%s %r: message %r does not name %r / %r" % (method, body[:80], msg, where, what))


def _bridge_list(env):
    r = env.api("GET", "/api/bridges")
    check(r.status == 200, "GET /api/bridges: %r" % r)
    # The whole answer must be UTF-8 JSON for anyone.
    return json.loads(r.body.decode("utf-8"))["bridges"]


BAD_ADMIN_BODIES = [
    (b'{"name":"\xff\xfe","outbound_url":"' + SINK_DOWN.encode() + b'"}', "/name",
     "not valid UTF-8"),
    (b'{"outbound_url":"http://127.0.0.1:9/ok\\u0000ftp://evil"}', "/outbound_url",
     "\\u0000"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","env":{"API_TOKEN":"s3\\u0000cret"}}',
     "/env/API_TOKEN", "\\u0000"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","headers":{"X-A":"v\\u0000w"}}',
     "/headers/X-A", "\\u0000"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","headers":{"X-A\\u0000":"v"}}',
     "/headers", "\\u0000 in a key"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","env":{"K":"\xc0\xaf"}}', "/env/K",
     "not valid UTF-8"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","outbound_url":"http://127.0.0.1:9/y"}',
     'duplicate key "outbound_url" at /', "duplicate"),
    (b'{"outbound_url":"' + SINK_DOWN.encode() + b'","env":{"K":"a","K":"b"}}',
     'duplicate key "K" at /env', "duplicate"),
]


@meta(est=3)
def test_admin_create_refuses_bad_strings(env):
    env.start_ingress()
    for body, where, what in BAD_ADMIN_BODIES:
        _bad_admin(env, "POST", "/api/bridges", body, where, what)
    check(_bridge_list(env) == [], "a refused bridge was stored: %r" % _bridge_list(env))
    # The same fields without the bad bytes are fine.
    env.create_bridge(name="ok", outbound_url=SINK_DOWN, env={"API_TOKEN": "s3cret"},
                      headers={"X-A": "vw"})


@meta(est=3)
def test_admin_patch_refuses_bad_strings(env):
    env.start_ingress()
    b = env.create_bridge(name="before", outbound_url=SINK_DOWN, headers={"X-A": "1"},
                          env={"API_TOKEN": "t"})
    before = env.api("GET", "/api/bridges/" + b["id"]).json()
    for body, where, what in BAD_ADMIN_BODIES:
        _bad_admin(env, "PATCH", "/api/bridges/" + b["id"], body, where, what)
    after = env.api("GET", "/api/bridges/" + b["id"]).json()
    check(after == before, "a refused PATCH changed the bridge: %r -> %r" % (before, after))
    check(len(_bridge_list(env)) == 1, "bridge list changed")


@meta(est=3)
def test_admin_template_too_deep_says_so(env):
    env.start_ingress()
    deep = "[" * 5000 + "]" * 5000
    body = '{"outbound_url":"%s","payload":{"a":%s}}' % (SINK_DOWN, deep)
    j = expect_error(env.api("POST", "/api/bridges", body), 400, "invalid_json", "5,000 deep")
    check("nests deeper than 65 levels" in j.get("message", ""),
          "5,000 deep: message %r does not say it nests too deep" % j.get("message"))
    # A template 64 deep (the template limit) still fits inside the bridge object.
    payload = json.loads("[" * 63 + "1" + "]" * 63)
    env.create_bridge(outbound_url=SINK_DOWN, payload={"a": payload})
    check(len(_bridge_list(env)) == 1, "the too deep bridge was stored")


@meta(est=6)
def test_hook_duplicate_keys(env):
    env.start_ingress()
    sink = env.sink()
    env.start_worker()
    b = env.create_bridge(outbound_url=sink.url("/flt"), filter={"$payload.status": "completed"})
    body = b'{"status":"completed","status":"pending"}'
    j = expect_error(env.hook(b, body=body), 400, "invalid_json", "duplicate keys")
    check('duplicate key "status" at /' in j.get("message", ""),
          "duplicate keys: message %r does not name the key" % j.get("message"))
    # Escapes are decoded before comparing, and nested objects are named by place.
    j = expect_error(env.hook(b, body=b'{"o":{"st":1,"s\\u0074":2}}'), 400, "invalid_json")
    check('duplicate key "st" at /o' in j.get("message", ""), "nested: %r" % j)
    check(env.all_events() == [], "a refused body was queued: %r" % env.all_events())
    # The same key in two objects is fine; the filter still works.
    eid = env.send(b, body=b'{"status":"completed","o":{"status":1}}')
    env.wait_event(eid, "delivered")
    check(len(sink.snapshot()) == 1, "sink got %d requests" % len(sink.snapshot()))

    # A plain forwarder reads no key: it forwards the bytes as they came (the
    # destination decides), and the event keeps the body as text, as received.
    plain = env.create_bridge(outbound_url=sink.url("/plain"))
    eid = env.send(plain, body=body)
    ev = env.wait_event(eid, "delivered")
    check(sink.by_event(eid)[0].body == body, "forwarded %r" % sink.by_event(eid)[0].body)
    check(ev["request"]["body"] == body.decode(), "stored body %r" % ev["request"]["body"])
    # \u0000 inside an inbound string is valid JSON and stays accepted.
    eid = env.send(b, body=b'{"status":"completed","note":"a\\u0000b"}')
    env.wait_event(eid, "delivered")


@meta(est=5)
def test_empty_json_body(env):
    env.start_ingress()
    sink = env.sink()
    env.start_worker()
    tmpl = env.create_bridge(outbound_url=sink.url("/t"), payload={"a": "$payload.a"})
    j = expect_error(env.hook(tmpl, body=b""), 400, "invalid_json", "empty JSON body")
    check(j.get("message") == "body is empty", "empty body: %r" % j)
    flt = env.create_bridge(outbound_url=sink.url("/f"), filter={"$payload.a": 1})
    expect_error(env.hook(flt, body=b"", content_type="application/vnd.x+json"), 400,
                 "invalid_json", "empty +json body, filter")
    check(env.all_events() == [], "an empty JSON body was queued")
    # Without a JSON Content-Type an empty body has no payload, as before.
    r = env.hook(tmpl, body=b"", content_type=None)
    check(r.status == 202, "empty body without a Content-Type: %r" % r)
    # A plain forwarder sends an empty body on as it came, whatever it claims.
    plain = env.create_bridge(outbound_url=sink.url("/p"))
    eid = env.send(plain, body=b"")
    env.wait_event(eid, "delivered")
    check(sink.by_event(eid)[0].body == b"", "forwarded %r" % sink.by_event(eid)[0].body)


@meta(est=6)
def test_deep_text_body_reads_back(env):
    env.start_ingress()
    sink = env.sink()
    env.start_worker()
    plain = env.create_bridge(outbound_url=sink.url("/deep"))
    body = b"[" * 999 + b"]" * 999
    eid = env.send(plain, body=body, content_type="text/plain")
    ev = env.wait_event(eid, "delivered")
    check(ev["request"]["body"] == body.decode(), "stored body is not the text received")
    listed = [e["id"] for e in env.all_events()]
    check(eid in listed, "the event is not listed: %r" % listed)
    r = env.api("POST", "/api/events/%s/replay" % eid)
    check(r.status == 202, "replay: %r" % r)
    new_id = r.json().get("event_id") or r.json().get("id")
    check(isinstance(new_id, str), "replay answer without an event id: %r" % r.json())
    env.wait_event(new_id, "delivered")
    check(sink.by_event(new_id)[0].body == body, "the replay sent other bytes")
    # The same body as JSON on a JSON bridge is refused for its depth, as before.
    expect_error(env.hook(plain, body=body), 400, "invalid_json")

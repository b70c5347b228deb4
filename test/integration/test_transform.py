"""Transform and control (issue 3): templates, write-only encrypted env, filters, abort,
replay, failure notices, signed outbound requests."""

import base64
import glob
import hashlib
import hmac
import json
import os
import time

from harness import check, expect_error, header_get, meta
from sink import always


SECRET = "s3cr3t-token-value-Q7"


def _stack(env, responder=None, worker_env=None):
    env.start_ingress()
    sink = env.sink(responder)
    env.start_worker(worker_env)
    return sink


@meta(est=4)
def test_template_servicem8_to_xero(env):
    sink = _stack(env)
    b = env.create_bridge(
        name="ServiceM8 job completed -> Xero invoice",
        outbound_url=sink.url("/invoices/$payload.job.id?tenant=$query.tenant"),
        method="PUT",
        headers={"Authorization": "Bearer $env.API_TOKEN", "X-Shop": "${headers.x-shop}",
                 "X-Event": "$event.id", "X-Bridge": "$bridge.id", "X-Price": "$$5 or $5",
                 "X-Jwt": "$env.JWT-secret"},
        payload={"contact": "$payload.customer.name", "total": "$payload.job.total",
                 "note": "Job ${payload.job.id} done", "lines": "$payload.items",
                 "first": "$payload.items.0.sku", "missing": "$payload.nope",
                 "missing_text": "x${payload.nope}y", "received": "$event.received_at",
                 "paid": "$payload.job.paid", "literal": "$$payload", "raw": "$payload"},
        env={"API_TOKEN": SECRET, "JWT-secret": "jwt-value-9"})
    body = {"job": {"id": 42, "total": 99.5, "paid": False}, "customer": {"name": "Ann"},
            "items": [{"sku": "A-1"}, {"sku": "B-2"}]}
    eid = env.send(b, body=json.dumps(body), headers={"X-Shop": "shop-7"},
                   query="tenant=t%201%2F2")
    ev = env.wait_event(eid, {"delivered", "failed"})
    check(ev["status"] == "delivered", "status %r: %r" % (ev["status"], ev["attempts"]))
    q = sink.by_event(eid)[0]
    check(q.method == "PUT", "method %r" % q.method)
    # a value from the sender is percent-encoded: it cannot change the URL's structure
    check(q.path == "/invoices/42?tenant=t%201%2F2", "path %r" % q.path)
    check(q.header("Authorization") == "Bearer " + SECRET, "Authorization %r"
          % q.header("Authorization"))
    check(q.header("X-Shop") == "shop-7", "X-Shop %r" % q.header("X-Shop"))
    check(q.header("X-Event") == eid, "X-Event %r" % q.header("X-Event"))
    check(q.header("X-Bridge") == b["id"], "X-Bridge %r" % q.header("X-Bridge"))
    check(q.header("X-Price") == "$5 or $5", "X-Price %r" % q.header("X-Price"))
    check(q.header("X-Jwt") == "jwt-value-9", "X-Jwt %r" % q.header("X-Jwt"))
    check((q.header("Content-Type") or "").startswith("application/json"),
          "Content-Type %r" % q.header("Content-Type"))
    got = json.loads(q.body)
    want = {"contact": "Ann", "total": 99.5, "note": "Job 42 done",
            "lines": [{"sku": "A-1"}, {"sku": "B-2"}], "first": "A-1", "missing": None,
            "missing_text": "xy", "received": ev["received_at"], "paid": False,
            "literal": "$payload", "raw": body}
    check(got == want, "body %r\nwant %r" % (got, want))
    # the event shows what was sent, with every $env value redacted
    out = ev.get("outbound") or {}
    check(out.get("url") == sink.url("/invoices/42?tenant=t%201%2F2"), "outbound url %r"
          % out.get("url"))
    check(header_get(out.get("headers"), "Authorization") == "Bearer [redacted]",
          "outbound Authorization %r" % header_get(out.get("headers"), "Authorization"))
    check(header_get(out.get("headers"), "X-Jwt") == "[redacted]", "outbound X-Jwt")
    check(out.get("body") == want, "outbound body %r" % out.get("body"))
    check(SECRET not in json.dumps(ev), "the event holds the secret")


@meta(est=4)
def test_template_form_body_and_text_types(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/f/${payload.order}"),
                          payload={"order": "$payload.order", "who": "$payload.name",
                                   "text": "n=$payload.n;o=$payload.obj"})
    eid = env.send(b, body=b"order=A%2017&name=J+Doe&n=5", content_type=
                   "application/x-www-form-urlencoded")
    env.wait_event(eid, "delivered")
    q = sink.by_event(eid)[0]
    check(q.path == "/f/A%2017", "path %r" % q.path)
    got = json.loads(q.body)
    check(got == {"order": "A 17", "who": "J Doe", "text": "n=5;o="}, "form body %r" % got)
    # numbers and objects inside text are their JSON text
    eid = env.send(b, body=json.dumps({"order": 7, "name": None, "n": 1.5, "obj": {"a": [1]}}))
    env.wait_event(eid, "delivered")
    got = json.loads(sink.by_event(eid)[0].body)
    check(got == {"order": 7, "who": None, "text": 'n=1.5;o={"a":[1]}'}, "json body %r" % got)


@meta(est=2)
def test_bad_templates_refused_at_save(env):
    env.start_ingress()
    cases = [
        ({"outbound_url": "http://127.0.0.1:9/${payload.id"}, "outbound_url", "position"),
        ({"outbound_url": "http://127.0.0.1:9/$foo.x"}, "outbound_url", "foo"),
        ({"outbound_url": "http://127.0.0.1:9/", "headers": {"X-A": "${env}"}}, "headers", "X-A"),
        ({"outbound_url": "http://127.0.0.1:9/", "payload": {"a": ["ok", "$bogus.b"]}},
         "payload", "bogus"),
        ({"outbound_url": "http://127.0.0.1:9/", "filter": {"$payload.a": {"$near": 1}}},
         "filter", "$near"),
        ({"outbound_url": "http://127.0.0.1:9/", "filter": {"$payload.a": {"$in": 3}}},
         "filter", "$in"),
    ]
    for body, field, part in cases:
        r = env.api("POST", "/api/bridges", body)
        j = expect_error(r, 400, what="POST %r" % body)
        msg = j.get("message", "")
        check(field in msg and part in msg, "400 for %r should name %s and %r: %r"
              % (body, field, part, j))
    r = env.api("GET", "/api/bridges")
    check(r.json()["bridges"] == [], "a refused bridge was created")


@meta(est=6)
def test_env_write_only_and_secret_grep(env):
    """A known secret value must appear in no SQLite page, API answer, event or log line."""
    inbound_token = "inbound-token-Z81"
    sign = "whsec_" + base64.b64encode(b"signing-key-bytes-0123456789").decode()
    sink = _stack(env)
    answers = []

    def api(method, path, body=None):
        r = env.api(method, path, body)
        answers.append(r.body)
        return r

    r = api("POST", "/api/bridges", {
        "outbound_url": sink.url("/s"), "headers": {"X-Key": "$env.API_TOKEN"},
        "env": {"API_TOKEN": SECRET, "OTHER": "other-secret-41"},
        "auth": {"type": "token", "secret": inbound_token, "header": "X-Api-Key"},
        "signing_secret": sign, "payload": {"k": "$env.API_TOKEN", "v": "$payload.v"}})
    check(r.status == 201, "create: %r" % r)
    b = r.json()
    check(b["env"] == {"API_TOKEN": "********", "OTHER": "********"}, "env shown %r" % b["env"])
    check(b["auth"].get("secret") == "********", "auth shown %r" % b["auth"])
    check(b["signing_secret"] == "********", "signing_secret shown %r" % b["signing_secret"])
    # PATCH: the mask keeps a value, null deletes one, a new value replaces
    r = api("PATCH", "/api/bridges/" + b["id"], {"env": {"API_TOKEN": "********",
                                                           "OTHER": None}})
    check(r.status == 200 and r.json()["env"] == {"API_TOKEN": "********"}, "patch %r" % r)
    api("GET", "/api/bridges/" + b["id"])
    api("GET", "/api/bridges")
    eid = env.send(b, body='{"v": 1}', headers={"X-Api-Key": inbound_token})
    ev = env.wait_event(eid, "delivered")
    q = sink.by_event(eid)[0]
    check(q.header("X-Key") == SECRET, "the destination did not get the secret: %r"
          % q.header("X-Key"))
    check(json.loads(q.body) == {"k": SECRET, "v": 1}, "body %r" % q.body)
    check(header_get(ev["request"]["headers"], "X-Api-Key") == "[redacted]",
          "inbound credential stored: %r" % ev["request"]["headers"])
    api("GET", "/api/events/" + eid)
    api("GET", "/api/events?limit=10")
    api("GET", "/api/stats")
    # a PATCH back of what GET returned changes nothing and leaks nothing
    cur = api("GET", "/api/bridges/" + b["id"]).json()
    r = api("PATCH", "/api/bridges/" + b["id"], cur)
    check(r.status == 200, "patch back: %r" % r)
    eid2 = env.send(b, body='{"v": 2}', headers={"X-Api-Key": inbound_token})
    env.wait_event(eid2, "delivered")
    check(sink.by_event(eid2)[0].header("X-Key") == SECRET, "secret lost by a PATCH back")
    api("GET", "/api/events/" + eid2)
    for p in env.procs:
        p.send(15)
        p.wait(20)
    secrets_ = [SECRET, "other-secret-41", inbound_token, sign, sign[6:], env.token]
    for data in answers:
        for s in secrets_:
            check(s.encode() not in data, "an API answer holds %r: %r" % (s, data[:300]))
    if env.store == "sqlite":
        files = [f for f in glob.glob(env.db + "*")]
        check(files, "no database files")
        stored = []
        for f in files:
            with open(f, "rb") as fh:
                stored.append((os.path.basename(f), fh.read()))
    else:
        rows = env.sql("SELECT data FROM bridges UNION ALL SELECT data FROM events "
                       "UNION ALL SELECT attempts::text FROM events "
                       "UNION ALL SELECT coalesce(outbound, '') FROM events")
        stored = [("postgres", "\n".join(r[0] for r in rows).encode())]
    for name, data in stored:
        for s in secrets_[:-1]:
            check(s.encode() not in data, "%s holds %r" % (name, s))
    for p in env.procs:
        text = p.text()
        for s in secrets_:
            check(s not in text, "%s log holds %r" % (p.name, s))
    redis_dump = json.dumps([env.redis.client("HGETALL", k)
                             for k in env.redis.client("KEYS", "hb:job:*") or []])
    check(SECRET not in redis_dump and inbound_token not in redis_dump, "redis holds a secret")


@meta(est=5)
def test_undecryptable_secret_fails_event(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/u"), headers={"X-Key": "$env.K"},
                          env={"K": "value-1"})
    # damage the sealed value in the row, as a restore from another key would
    data = json.loads(env.sql("SELECT data FROM bridges WHERE id = '%s'" % b["id"])[0][0])
    sealed = data["env"]["K"]
    body = bytearray(base64.b64decode(sealed[4:]))
    body[-1] ^= 1
    data["env"]["K"] = sealed[:4] + base64.b64encode(bytes(body)).decode()
    env.sql("UPDATE bridges SET data = '%s' WHERE id = '%s'"
            % (json.dumps(data).replace("'", "''"), b["id"]))
    time.sleep(1.2)  # the ingress's bridge cache
    eid = env.send(b)
    ev = env.wait_event(eid, {"failed", "delivered"})
    check(ev["status"] == "failed", "status %r" % ev["status"])
    err = (ev["attempts"] or [{}])[-1].get("error") or ""
    check("decrypt" in err, "error %r does not say the secrets cannot be decrypted" % err)
    check(not sink.by_event(eid), "the event was sent with an empty value")


@meta(est=4)
def test_wrong_secret_key_stops_at_start(env):
    env.start_ingress()
    env.create_bridge(outbound_url="http://127.0.0.1:9/x", env={"A": "b"})
    env.ingress.terminate()
    other = base64.b64encode(os.urandom(32)).decode()
    for binary, name in (("hookbridge-ingress", "ingress-wrongkey"),
                         ("hookbridge-worker", "worker-wrongkey")):
        p = env.spawn(binary, name, {"HOOKBRIDGE_SECRET_KEY": other,
                                     "HOOKBRIDGE_LISTEN": "127.0.0.1:%d" % env.public_port,
                                     "HOOKBRIDGE_ADMIN_LISTEN": "127.0.0.1:%d" % env.admin_port})
        rc = p.wait(20)
        check(rc != 0, "%s started with the wrong key" % name)
        text = p.text().strip().splitlines()
        check(text and "HOOKBRIDGE_SECRET_KEY" in text[-1], "%s: last line %r" % (name, text[-1:]))


@meta(est=4)
def test_filter_records_filtered_and_never_sends(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/flt"), filter={
        "$payload.status": "completed", "$payload.total": {"$gte": 100},
        "$or": [{"$headers.x-source": {"$in": ["crm", "erp"]}},
                {"$query.force": {"$exists": True}}],
        "$not": {"$payload.tags": {"$contains": "test"}}})
    cases = [
        ({"status": "completed", "total": 150, "tags": []}, {"X-Source": "crm"}, "", True),
        ({"status": "completed", "total": 100}, {"X-Source": "ERP"}, "", False),
        ({"status": "completed", "total": 100}, {}, "force=1", True),
        ({"status": "completed", "total": 99.9}, {"X-Source": "crm"}, "", False),
        ({"status": "draft", "total": 500}, {"X-Source": "crm"}, "", False),
        ({"status": "completed", "total": 500, "tags": ["x", "test"]}, {"X-Source": "erp"}, "",
         False),
        ({"total": 500}, {"X-Source": "erp"}, "", False),
    ]
    ids = []
    for body, headers, query, match in cases:
        ids.append((env.send(b, body=json.dumps(body), headers=headers, query=query), match,
                    body))
    for eid, match, body in ids:
        ev = env.wait_event(eid, {"delivered", "filtered", "failed"})
        want = "delivered" if match else "filtered"
        check(ev["status"] == want, "%r: status %r, want %s" % (body, ev["status"], want))
        if not match:
            check(ev["attempts"] == [], "a filtered event has attempts: %r" % ev["attempts"])
    time.sleep(0.5)
    sent = {r.event_id for r in sink.requests}
    for eid, match, body in ids:
        check((eid in sent) == match, "%r: sent=%s" % (body, eid in sent))
    r = env.list_events(status="filtered")
    check(len(r.json()["events"]) == sum(1 for c in cases if not c[3]), "filtered list %r" % r)


def _pending_ids(env, bridge_id):
    return set(env.redis.client("SMEMBERS", "hb:bridge:%s:pending" % bridge_id) or [])


@meta(est=8)
def test_abort_during_delay_sends_nothing(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/later"), delay_seconds=30)
    other = env.create_bridge(outbound_url=sink.url("/other"), delay_seconds=2)
    ids = [env.send(b, body='{"n":%d}' % i) for i in range(5)]
    keep = env.send(other)
    for eid in ids:
        check(env.event(eid)["status"] == "scheduled", "not scheduled")
    check(_pending_ids(env, b["id"]) == set(ids), "pending set %r" % _pending_ids(env, b["id"]))
    r = env.api("POST", "/api/bridges/%s/abort" % b["id"])
    check(r.status == 200 and r.json() == {"aborted": 5}, "abort: %r" % r)
    for eid in ids:
        ev = env.event(eid)
        check(ev["status"] == "aborted", "%s status %r right after abort" % (eid, ev["status"]))
        check(ev["next_attempt_at"] is None, "next_attempt_at %r" % ev["next_attempt_at"])
    check(not _pending_ids(env, b["id"]), "pending set not emptied")
    sched = set(env.redis.client("ZRANGE", "hb:queue:scheduled", 0, -1) or [])
    check(not (sched & set(ids)), "aborted ids still scheduled")
    # the other bridge's event is untouched and delivered
    env.wait_event(keep, "delivered", timeout=20)
    # nothing of the aborted bridge is ever sent; workers clean the jobs up
    deadline = time.time() + 5
    while time.time() < deadline and any(env.redis.client("EXISTS", "hb:job:" + i) for i in ids):
        time.sleep(0.1)
    for eid in ids:
        check(not env.redis.client("EXISTS", "hb:job:" + eid), "job %s left in redis" % eid)
        check(env.event(eid)["status"] == "aborted", "status changed after cleanup")
    check(not [r for r in sink.requests if r.path == "/later"], "an aborted event was sent")
    r = env.api("POST", "/api/bridges/%s/abort" % b["id"])
    check(r.json() == {"aborted": 0}, "second abort %r" % r)
    expect_error(env.api("POST", "/api/bridges/brg_01ARYZ6S41TSV4RRFFQ69G5FAV/abort"), 404)
    expect_error(env.api("GET", "/api/bridges/%s/abort" % b["id"]), 405)


@meta(est=8)
def test_abort_retrying_and_queued(env):
    """Retrying events (waiting for their next attempt) and queued ones (no worker yet) are
    aborted too; an attempt in flight at abort time is not retried."""
    env.start_ingress()
    sink = env.sink(always(500))
    b = env.create_bridge(outbound_url=sink.url("/r"), retries=5, retry_delays=[30])
    queued = [env.send(b) for _ in range(3)]
    w = env.start_worker()
    deadline = time.time() + 20
    while time.time() < deadline and any(env.event(e)["status"] != "retrying" for e in queued):
        time.sleep(0.1)
    w.terminate()
    more = [env.send(b) for _ in range(2)]  # queued, no worker
    r = env.api("POST", "/api/bridges/%s/abort" % b["id"])
    check(r.json() == {"aborted": 5}, "abort %r" % r)
    env.start_worker()
    for eid in queued + more:
        ev = env.wait_event(eid, {"aborted"}, timeout=10)
        check(len(ev["attempts"]) == (1 if eid in queued else 0), "attempts %r" % ev["attempts"])
    time.sleep(1)
    check(len(sink.requests) == 3, "sink saw %d requests, expected the 3 first attempts"
          % len(sink.requests))


@meta(est=6)
def test_delete_bridge_aborts_pending(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/gone"), delay_seconds=60)
    ids = [env.send(b) for _ in range(3)]
    r = env.api("DELETE", "/api/bridges/" + b["id"])
    check(r.status == 204, "delete %r" % r)
    for eid in ids:
        check(env.event(eid)["status"] == "aborted", "not aborted after DELETE")
    expect_error(env.hook(b), 404, "not_found")
    expect_error(env.api("GET", "/api/bridges/" + b["id"]), 404)
    check(not _pending_ids(env, b["id"]), "pending set left")


@meta(est=6)
def test_replay_uses_current_configuration(env):
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/v1"), headers={"X-Ver": "1"})
    body = b'{"order": {"id": 7}, "note": "caf\xc3\xa9"}'
    eid = env.send(b, body=body, query="a=1&b=two%20words", headers={"X-In": "yes"})
    env.wait_event(eid, "delivered")
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"outbound_url": sink.url("/v2"),
                                                      "headers": {"X-Ver": "2"}})
    check(r.status == 200, "patch %r" % r)
    r = env.api("POST", "/api/events/%s/replay" % eid)
    check(r.status == 202, "replay %r" % r)
    j = r.json()
    new = j.get("event_id")
    check(isinstance(new, str) and new.startswith("evt_") and new != eid, "replay answer %r" % j)
    ev = env.wait_event(new, "delivered")
    check(ev["replay_of"] == eid, "replay_of %r" % ev["replay_of"])
    orig = env.event(eid)
    check(ev["request"]["body"] == orig["request"]["body"], "replayed request body differs")
    check(ev["request"]["query"] == orig["request"]["query"], "replayed query differs")
    q = sink.by_event(new)[0]
    check(q.path == "/v2" and q.header("X-Ver") == "2", "replay did not use the current "
          "configuration: %r %r" % (q.path, q.header("X-Ver")))
    check(json.loads(q.body) == json.loads(body), "replayed body %r" % q.body)
    # a text body is replayed byte for byte
    eid2 = env.send(b, body=b"plain text, not json", content_type="text/plain")
    env.wait_event(eid2, "delivered")
    new2 = env.api("POST", "/api/events/%s/replay" % eid2).json()["event_id"]
    env.wait_event(new2, "delivered")
    check(sink.by_event(new2)[0].body == b"plain text, not json", "text replay body")
    expect_error(env.api("POST", "/api/events/evt_01ARYZ6S41TSV4RRFFQ69G5FAV/replay"), 404)
    expect_error(env.api("GET", "/api/events/%s/replay" % eid), 405)


@meta(est=8)
def test_failure_notice(env):
    env.start_ingress()
    dest = env.sink(always(500))
    notices = env.sink(always(200))
    b = env.create_bridge(outbound_url=dest.url("/d"), retries=1, retry_delays=[1],
                          notify_url=notices.url("/failed"))
    env.start_worker()
    eid = env.send(b)
    ev = env.wait_event(eid, "failed", timeout=20)
    notices.wait_requests(1, timeout=10)
    n = notices.requests[0]
    j = json.loads(n.body)
    check(j.get("event_id") == eid and j.get("bridge_id") == b["id"], "notice %r" % j)
    check(j.get("status") == "failed" and j.get("attempts") == 2, "notice %r" % j)
    check(j.get("last_status") == 500, "notice last_status %r" % j.get("last_status"))
    check("last_error" in j, "notice without last_error: %r" % j)
    check(len(ev["attempts"]) == 2, "attempts %r" % ev["attempts"])
    # a receiver that fails gets one try; deliveries go on meanwhile
    broken = env.sink(always(503))
    b2 = env.create_bridge(outbound_url=dest.url("/d2"), retries=0,
                           notify_url=broken.url("/broken"))
    ok_sink = env.sink(always(200))
    b3 = env.create_bridge(outbound_url=ok_sink.url("/fine"))
    e2 = env.send(b2)
    env.wait_event(e2, "failed", timeout=20)
    e3 = env.send(b3)
    env.wait_event(e3, "delivered", timeout=20)
    time.sleep(2)
    check(len(broken.requests) == 1, "broken notify_url got %d requests" % len(broken.requests))
    check(len(notices.requests) == 1, "a delivered event sent a notice")
    logs = "".join(p.text() for p in env.procs)
    check("failure notice not delivered" in logs, "the failed notice is not logged")


@meta(est=4)
def test_signed_outbound_requests(env):
    key = os.urandom(24)
    secret = "whsec_" + base64.b64encode(key).decode()
    sink = _stack(env)
    b = env.create_bridge(outbound_url=sink.url("/signed"), signing_secret=secret,
                          payload={"id": "$payload.id"})
    eid = env.send(b, body='{"id": 5}')
    env.wait_event(eid, "delivered")
    q = sink.by_event(eid)[0]
    mid, ts, sig = q.header("webhook-id"), q.header("webhook-timestamp"), q.header(
        "webhook-signature")
    check(mid == eid, "webhook-id %r" % mid)
    check(ts and abs(int(ts) - time.time()) < 60, "webhook-timestamp %r" % ts)
    mac = hmac.new(key, ("%s.%s." % (mid, ts)).encode() + q.body, hashlib.sha256).digest()
    check(sig == "v1," + base64.b64encode(mac).decode(), "signature %r does not verify" % sig)
    # the forwarded (unchanged) body is signed too
    b2 = env.create_bridge(outbound_url=sink.url("/signed2"), signing_secret=secret)
    raw = b'{ "spaces" : true }'
    eid = env.send(b2, body=raw)
    env.wait_event(eid, "delivered")
    q = sink.by_event(eid)[0]
    check(q.body == raw, "body changed")
    mac = hmac.new(key, ("%s.%s." % (eid, q.header("webhook-timestamp"))).encode() + raw,
                   hashlib.sha256).digest()
    check(q.header("webhook-signature") == "v1," + base64.b64encode(mac).decode(),
          "signature of the raw body does not verify")
    # unsigned bridges carry no signature
    b3 = env.create_bridge(outbound_url=sink.url("/plain"))
    eid = env.send(b3)
    env.wait_event(eid, "delivered")
    check(sink.by_event(eid)[0].header("webhook-signature") is None, "unsigned bridge signed")

"""Inbound protection (issue 4): JSON Schema validation, sender authentication with
signatures and tokens made by independent tools, Idempotency-Key, and the outbound address
policy. Hostile input is in test_hostile.py."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time

from harness import check, expect_error, header_get, meta
from sink import always

METER_SCHEMA = {
    "type": "object",
    "required": ["serialNumber", "reading"],
    "properties": {
        "serialNumber": {"type": "string", "pattern": "^SN-[0-9]{4}$"},
        "customerId": {"type": "string", "format": "uuid"},
        "reading": {"type": "number", "minimum": 0, "maximum": 9999},
        "readAt": {"type": "string", "format": "date-time"},
        "unit": {"enum": ["kWh", "m3"]},
    },
    "additionalProperties": False,
}


def _ready(env):
    return env.redis.client("LLEN", "hb:queue:ready")


@meta(est=4)
def test_schema_validation(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/m", schema=METER_SCHEMA)
    good = {"serialNumber": "SN-0042", "customerId": "0b7f1f7e-3c1a-4c55-9f3e-6f1d2b3c4d5e",
            "reading": 1234.5, "readAt": "2026-11-22T10:00:00.123Z", "unit": "kWh"}
    r = env.hook(b, body=json.dumps(good))
    check(r.status == 202, "valid reading refused: %r" % r)
    bad = {"customerId": "not-a-uuid", "reading": 10000, "unit": "W", "extra": 1}
    r = env.hook(b, body=json.dumps(bad))
    j = expect_error(r, 400, "validation_failed")
    details = j.get("details")
    check(isinstance(details, list) and details, "no details: %r" % j)
    got = {(d.get("path"), d.get("message")) for d in details}
    for want in (("/customerId", 'must match format "uuid"'), ("/reading", "must be <= 9999"),
                 ("", "must have required property 'serialNumber'"),
                 ("", 'must NOT have additional property "extra"'),
                 ("/unit", "must be equal to one of the allowed values")):
        check(want in got, "details lack %r: %r" % (want, details))
    r = env.hook(b, body=json.dumps(dict(good, serialNumber="SN-12")))
    j = expect_error(r, 400, "validation_failed")
    check(any(d["path"] == "/serialNumber" and "pattern" in d["message"] for d in j["details"]),
          "pattern error: %r" % j)
    check(_ready(env) == 1, "a refused body was queued")
    # not JSON at all where the schema needs it
    j = expect_error(env.hook(b, body=b"{not json"), 400, "invalid_json")
    check(isinstance(j.get("message"), str) and j["message"], "invalid_json without message")
    # any JSON value is a valid body, not only objects
    b2 = env.create_bridge(outbound_url="http://127.0.0.1:9/n",
                           schema={"type": "number", "multipleOf": 0.5})
    check(env.hook(b2, body=b"2.5").status == 202, "a number body refused")
    expect_error(env.hook(b2, body=b"2.3"), 400, "validation_failed")
    expect_error(env.hook(b2, body=b'"2.5"'), 400, "validation_failed")
    b3 = env.create_bridge(outbound_url="http://127.0.0.1:9/f", schema=False)
    expect_error(env.hook(b3, body=b"{}"), 400, "validation_failed")
    b4 = env.create_bridge(outbound_url="http://127.0.0.1:9/t", schema=True)
    check(env.hook(b4, body=b"[1,2]").status == 202, "schema true refused a body")
    # form bodies are validated as the object they become
    b5 = env.create_bridge(outbound_url="http://127.0.0.1:9/form", schema={
        "type": "object", "required": ["a"], "properties": {"a": {"const": "1"}}})
    check(env.hook(b5, body=b"a=1", content_type="application/x-www-form-urlencoded").status
          == 202, "form body refused")
    expect_error(env.hook(b5, body=b"a=2", content_type="application/x-www-form-urlencoded"),
                 400, "validation_failed")


@meta(est=2)
def test_schema_refused_at_save(env):
    env.start_ingress()
    for schema, part in (({"type": "object", "unevaluatedProperties": False},
                          "unevaluatedProperties"),
                         ({"properties": {"tel": {"type": "string", "format": "phone"}}}, "phone"),
                         ({"$ref": "http://example.com/schema.json"}, "$ref"),
                         ({"pattern": "(unclosed"}, "pattern"),
                         ({"minLength": -1}, "minLength"),
                         ({"type": "strnig"}, "type")):
        j = expect_error(env.api("POST", "/api/bridges", {"outbound_url": "http://x:9/",
                                                          "schema": schema}), 400)
        check("schema" in j.get("message", "") and part in j.get("message", ""),
              "refusal of %r does not name %r: %r" % (schema, part, j))


def _openssl_hmac(secret, body, b64=False):
    """HMAC-SHA256 by the openssl command line tool, not by our code or Python's."""
    args = ["openssl", "dgst", "-sha256", "-hmac", secret]
    if b64:
        raw = subprocess.run(args + ["-binary"], input=body, capture_output=True,
                             check=True).stdout
        return base64.b64encode(raw).decode()
    out = subprocess.run(args, input=body, capture_output=True, check=True).stdout.decode()
    return out.strip().split()[-1]


@meta(est=4)
def test_auth_token_and_hmac(env):
    env.start_ingress()
    tok = env.create_bridge(outbound_url="http://127.0.0.1:9/t",
                            auth={"type": "token", "secret": "tkn-1", "header": "X-Api-Key"})
    bearer = env.create_bridge(outbound_url="http://127.0.0.1:9/b",
                               auth={"type": "token", "secret": "tkn-2"})
    gh = env.create_bridge(outbound_url="http://127.0.0.1:9/gh", auth={
        "type": "hmac-sha256", "secret": "gh-secret", "header": "X-Hub-Signature-256",
        "encoding": "hex", "prefix": "sha256="})
    shop = env.create_bridge(outbound_url="http://127.0.0.1:9/shop", auth={
        "type": "hmac-sha256", "secret": "shop-secret", "header": "X-Shopify-Hmac-Sha256",
        "encoding": "base64"})
    xero = env.create_bridge(outbound_url="http://127.0.0.1:9/xero", auth={
        "type": "hmac-sha256", "secret": "xero-key", "header": "x-xero-signature",
        "encoding": "base64"})
    body = b'{"events":[{"resourceId":"abc"}],"firstEventSequence":1}'

    check(env.hook(tok, headers={"X-Api-Key": "tkn-1"}).status == 202, "token refused")
    for h in ({}, {"X-Api-Key": "tkn-2"}, {"X-Api-Key": "tkn-1x"}, {"X-Api-Key": "TKN-1"},
              {"Authorization": "tkn-1"}, {"Authorization": "Bearer tkn-1"}):
        expect_error(env.hook(tok, headers=h), 401, "unauthorized", "token %r" % h)
    check(env.hook(bearer, headers={"Authorization": "Bearer tkn-2"}).status == 202,
          "bearer refused")
    expect_error(env.hook(bearer, headers={"Authorization": "Bearer tkn-1"}), 401,
                 "unauthorized")
    sig = _openssl_hmac("gh-secret", body)
    check(env.hook(gh, body=body, headers={"X-Hub-Signature-256": "sha256=" + sig}).status == 202,
          "github signature refused")
    check(env.hook(gh, body=body, headers={"X-Hub-Signature-256": "sha256=" + sig.upper()})
          .status == 202, "upper-case hex refused")
    for h in ({"X-Hub-Signature-256": sig}, {"X-Hub-Signature-256": "sha256=" + "0" * 64},
              {"X-Hub-Signature-256": "sha256=zz"}, {}):
        expect_error(env.hook(gh, body=body, headers=h), 401, "unauthorized", "github %r" % h)
    expect_error(env.hook(gh, body=body + b" ", headers={"X-Hub-Signature-256": "sha256=" + sig}),
                 401, "unauthorized", "a changed body")
    check(env.hook(shop, body=body, headers={
        "X-Shopify-Hmac-Sha256": _openssl_hmac("shop-secret", body, b64=True)}).status == 202,
        "shopify signature refused")
    expect_error(env.hook(shop, body=body, headers={
        "X-Shopify-Hmac-Sha256": _openssl_hmac("other", body, b64=True)}), 401, "unauthorized")
    check(env.hook(xero, body=body, headers={
        "x-xero-signature": _openssl_hmac("xero-key", body, b64=True)}).status == 202,
        "xero signature refused")
    check(_ready(env) == 6, "queued %d, expected the 6 accepted" % _ready(env))
    # credentials are never stored
    r = env.hook(tok, headers={"X-Api-Key": "tkn-1", "Authorization": "Basic abc"})
    ev = env.event(r.json()["event_id"])
    hs = ev["request"]["headers"]
    check(header_get(hs, "X-Api-Key") == "[redacted]" and
          header_get(hs, "Authorization") == "[redacted]", "credentials stored: %r" % hs)
    r = env.hook(gh, body=body, headers={"X-Hub-Signature-256": "sha256=" + sig})
    hs = env.event(r.json()["event_id"])["request"]["headers"]
    check(header_get(hs, "X-Hub-Signature-256") == "[redacted]", "signature stored: %r" % hs)
    text = env.ingress.text()
    for s in ("tkn-1", "tkn-2", "gh-secret", "shop-secret", sig):
        check(s not in text, "the ingress log holds %r" % s)


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(secret, payload, alg="HS256", header=None, digest=hashlib.sha256):
    """A JWT made here with Python's hmac: independent of our C code."""
    h = header or {"alg": alg, "typ": "JWT"}
    signing = _b64url(json.dumps(h).encode()) + "." + _b64url(json.dumps(payload).encode())
    if alg == "none":
        return signing + "."
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return signing + "." + _b64url(sig)


@meta(est=3)
def test_auth_jwt(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/j",
                          auth={"type": "jwt-hs256", "secret": "jwt-secret-1",
                                "require_exp": False})  # tokens without exp below
    now = int(time.time())
    ok = [make_jwt("jwt-secret-1", {"sub": "crm"}),
          make_jwt("jwt-secret-1", {"exp": now + 300, "nbf": now - 10}),
          make_jwt("jwt-secret-1", {"exp": now - 30}),    # inside the 60 s leeway
          make_jwt("jwt-secret-1", {"nbf": now + 30})]    # inside the 60 s leeway
    for t in ok:
        r = env.hook(b, headers={"Authorization": "Bearer " + t})
        check(r.status == 202, "good jwt refused: %r (%s)" % (r, t))
    bad = [make_jwt("jwt-secret-2", {"sub": "crm"}),
           make_jwt("jwt-secret-1", {"exp": now - 120}),
           make_jwt("jwt-secret-1", {"nbf": now + 120}),
           make_jwt("jwt-secret-1", {"sub": "crm"}, alg="none"),
           make_jwt("jwt-secret-1", {"sub": "crm"}, alg="HS512", digest=hashlib.sha512),
           make_jwt("jwt-secret-1", {"sub": "crm"}, header={"alg": "HS256", "typ": "JWT"})[:-3]
           + "AAA",
           "not.a.jwt", "", "a.b"]
    for t in bad:
        expect_error(env.hook(b, headers={"Authorization": "Bearer " + t}), 401, "unauthorized",
                     "jwt %r" % t)
    # alg none with the signature part of a real token is refused too
    real = make_jwt("jwt-secret-1", {"sub": "crm"})
    forged = _b64url(b'{"alg":"none"}') + "." + real.split(".")[1] + "." + real.split(".")[2]
    expect_error(env.hook(b, headers={"Authorization": "Bearer " + forged}), 401, "unauthorized")
    expect_error(env.hook(b), 401, "unauthorized")


@meta(est=5)
def test_idempotency_key(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/i")
    other = env.create_bridge(outbound_url="http://127.0.0.1:9/o")
    r1 = env.hook(b, headers={"Idempotency-Key": "order-42"})
    check(r1.status == 202 and r1.header("Idempotent-Replayed") is None, "first: %r" % r1)
    first = r1.json()["event_id"]
    r2 = env.hook(b, headers={"Idempotency-Key": "order-42"})
    check(r2.status == 202, "repeat: %r" % r2)
    # A different body under the same key is a conflict (SPEC Sources), not a repeat.
    expect_error(env.hook(b, headers={"Idempotency-Key": "order-42"}, body=b'{"changed":true}'),
                 409, "idempotency_key_conflict", "changed body")
    check(r2.json()["event_id"] == first, "repeat answered another id: %r" % r2.json())
    check((r2.header("Idempotent-Replayed") or "").lower() == "true",
          "no Idempotent-Replayed: true on the repeat")
    check(_ready(env) == 1, "the repeat queued a job")
    # the same key on another bridge is another request
    r3 = env.hook(other, headers={"Idempotency-Key": "order-42"})
    check(r3.json()["event_id"] != first, "keys are per bridge")
    # concurrent requests with one key make one event
    ids, errs = [], []

    def send():
        try:
            r = env.hook(b, headers={"Idempotency-Key": "burst-1"})
            ids.append((r.status, r.json().get("event_id")))
        except Exception as e:  # noqa: BLE001
            errs.append(e)

    ts = [threading.Thread(target=send) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errs, "errors: %r" % errs[:2])
    check({s for s, _ in ids} == {202}, "statuses %r" % ids)
    check(len({i for _, i in ids}) == 1, "%d events for one key" % len({i for _, i in ids}))
    check(_ready(env) == 3, "ready holds %d, expected 3" % _ready(env))
    ttl = env.redis.client("TTL", "hb:idem:%s:order-42" % b["id"])
    check(86000 < ttl <= 86400, "idempotency TTL %r" % ttl)
    expect_error(env.hook(b, headers={"Idempotency-Key": "k" * 256}), 400)
    check(env.hook(b, headers={"Idempotency-Key": "k" * 255}).status == 202, "255 chars refused")
    n = len(env.all_events(bridge_id=b["id"]))
    check(n == 3, "bridge has %d events, expected 3" % n)


@meta(est=6)
def test_deny_private_destinations(env):
    env.start_ingress()
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/p"), retries=0)
    # a name resolving to loopback is refused too: the check is on the address connected
    by_name = env.create_bridge(outbound_url="http://localhost:%d/p" % sink.port, retries=0)
    w = env.start_worker({"HOOKBRIDGE_DENY_PRIVATE": "1"})
    for bridge in (b, by_name):
        eid = env.send(bridge)
        ev = env.wait_event(eid, {"failed", "delivered"})
        check(ev["status"] == "failed", "a loopback destination was allowed: %r" % ev["status"])
        err = ev["attempts"][-1].get("error") or ""
        check("HOOKBRIDGE_DENY_PRIVATE" in err and "loopback" in err, "error %r" % err)
    check(not sink.requests, "the sink was reached")
    w.terminate()
    env.start_worker()  # default: off, for self-hosted bridges to internal systems
    eid = env.send(b)
    env.wait_event(eid, "delivered")


@meta(est=4)
def test_events_match_event_schema(env):
    """Real events, as the API shows them, validate against schemas/event.schema.json."""
    env.start_ingress()
    sink = env.sink()
    env.start_worker()
    b = env.create_bridge(outbound_url=sink.url("/e"), payload={"x": "$payload.a"},
                          env={"K": "v"}, headers={"X-K": "$env.K"})
    f = env.create_bridge(outbound_url=sink.url("/e"), filter={"$payload.a": 2})
    bad = env.create_bridge(outbound_url="http://127.0.0.1:9/refused", retries=0)
    ids = [env.send(b, body='{"a":1}'), env.send(f, body='{"a":1}'),
           env.send(bad, body=b"\xff\x00binary", content_type="application/octet-stream"),
           env.send(b, body=b"a=1", content_type="application/x-www-form-urlencoded")]
    evs = env.wait_events(ids, statuses={"delivered", "filtered", "failed"})
    path = os.path.join(env.dir, "events.jsonl")
    with open(path, "w") as fh:
        for ev in evs.values():
            fh.write(json.dumps(ev) + "\n")
    tool = os.path.join(os.environ.get("HB_UNIT", "build/asan/test"), "schema_check")
    schema = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "event.schema.json")
    r = subprocess.run([tool, schema, path], capture_output=True, text=True)
    check(r.returncode == 0, "events do not match the schema:\n%s%s" % (r.stdout, r.stderr))

"""The JSON-Schema-Test-Suite (draft7) through real requests (issue 11): each group's schema
saved as a bridge through the admin API (stored in SQLite, re-read and compiled by the
ingress's bridge cache), each case's data POSTed to the bridge's hook as
application/json, and the answer must be 202 for a valid case and 400 validation_failed for
an invalid one. The unit runner (test/unit/test_jsonschema_suite.c) calls the validator on
the suite's own parse; this one goes the way a request goes.

Groups that the admin API refuses for a reason the validator documents (an unsupported
keyword, an unknown format, a remote $ref) are skipped, as the unit runner skips them."""

import json
import os

from harness import REPO, check, meta

SKIP_REASONS = ("unsupported keyword", "unknown format", "unsupported remote $ref")
# The optional files we pass in full, as the unit runner lists them.
OPTIONAL = ("optional/format/date-time.json", "optional/format/date.json",
            "optional/format/time.json", "optional/format/email.json",
            "optional/format/hostname.json", "optional/format/ipv4.json",
            "optional/format/ipv6.json", "optional/format/uri.json",
            "optional/format/unknown.json", "optional/bignum.json",
            "optional/ecmascript-regex.json", "optional/non-bmp-regex.json",
            "optional/float-overflow.json", "optional/id.json")


def _suite_dir():
    env = os.environ.get("HB_JSON_SCHEMA_SUITE")
    if env:
        return env
    for d in (os.path.join(REPO, "..", "shared", "data", "json-schema-test-suite", "tests",
                           "draft7"),
              "/usr/share/json-schema-test-suite/tests/draft7"):
        if os.path.isdir(d):
            return d
    return None


def _files(d):
    names = sorted(n for n in os.listdir(d) if n.endswith(".json"))
    names += [n for n in OPTIONAL if os.path.isfile(os.path.join(d, n))]
    return names


def _run(env, names):
    d = _suite_dir()
    check(d is not None, "JSON-Schema-Test-Suite draft7 not found (HB_JSON_SCHEMA_SUITE)")
    env.start_ingress()
    run = skipped = 0
    failures = []
    for name in names:
        with open(os.path.join(d, name), "rb") as f:
            groups = json.loads(f.read().decode())
        for g in groups:
            r = env.api("POST", "/api/bridges", {"outbound_url": "http://127.0.0.1:9/s",
                                                 "schema": g["schema"]})
            if r.status != 201:
                msg = r.json().get("message", "") if r.status == 400 else ""
                if any(s in msg for s in SKIP_REASONS):
                    skipped += len(g["tests"])
                    continue
                failures.append("%s / %s: bridge refused: %r" % (name, g["description"], r))
                continue
            b = r.json()
            for tc in g["tests"]:
                run += 1
                body = json.dumps(tc["data"]).encode()
                resp = env.hook(b, body=body)
                want = 202 if tc["valid"] else 400
                ok = resp.status == want
                if ok and want == 400:
                    ok = resp.json().get("error") == "validation_failed"
                if not ok:
                    failures.append("%s / %s / %s: want %d, got %r" % (
                        name, g["description"], tc["description"], want, resp))
    env.note("%d cases run, %d skipped, %d failed" % (run, skipped, len(failures)))
    check(run > 0, "no case ran")
    check(not failures, "%d of %d cases failed:\n%s" % (len(failures), run,
                                                         "\n".join(failures[:40])))


@meta(timeout=600, est=120)
def test_schema_suite_through_http_core(env):
    """Every top-level draft7 file through real requests."""
    d = _suite_dir()
    check(d is not None, "JSON-Schema-Test-Suite draft7 not found (HB_JSON_SCHEMA_SUITE)")
    _run(env, [n for n in _files(d) if "/" not in n])


@meta(timeout=600, est=60)
def test_schema_suite_through_http_optional(env):
    """The optional files we pass (formats, bignum, regex) through real requests."""
    d = _suite_dir()
    check(d is not None, "JSON-Schema-Test-Suite draft7 not found (HB_JSON_SCHEMA_SUITE)")
    _run(env, [n for n in _files(d) if "/" in n])


@meta(timeout=120, est=3)
def test_nul_strings_through_http(env):
    """U+0000 inside strings, in the schema and in the body: neither side is cut at the NUL
    (cJSON alone ends strings there, so "a\\u0000b" and "a\\u0000c" looked equal and
    "2020-01-01\\u0000" passed format date)."""
    env.start_ingress()
    cases = [
        ({"const": "a\u0000b"}, "a\u0000b", 202),
        ({"const": "a\u0000b"}, "a\u0000c", 400),
        ({"const": "a\u0000b"}, "a", 400),
        ({"enum": ["x", "a\u0000b"]}, "a\u0000c", 400),
        ({"enum": ["x", "a\u0000b"]}, "a\u0000b", 202),
        ({"format": "date"}, "2020-01-01\u0000", 400),
        ({"format": "ipv4"}, "1.2.3.4\u0000x", 400),
        ({"maxLength": 3}, "ab\u0000c", 400),
        ({"pattern": "^a\\x00b$"}, "a\u0000b", 202),
        ({"uniqueItems": True}, ["a\u0000b", "a\u0000c"], 202),
    ]
    for schema, data, want in cases:
        b = env.create_bridge(outbound_url="http://127.0.0.1:9/s", schema=schema)
        r = env.hook(b, body=json.dumps(data).encode())
        check(r.status == want, "schema %r, body %r: want %d, got %r" % (
            schema, json.dumps(data), want, r))

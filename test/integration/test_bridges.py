"""Bridge CRUD on the admin API."""

import re

from harness import check, expect_error, meta

ID_RE = re.compile(r"^brg_[0-9A-HJKMNP-TV-Z]{26}$")
ENDPOINT_RE = re.compile(r"^[A-Za-z0-9_-]{22,}$")  # >= 128 bits, URL-safe
UNKNOWN = "brg_01HZZZZZZZZZZZZZZZZZZZZZZZ"


@meta(est=3)
def test_bridge_create_defaults(env):
    env.start_ingress()
    r = env.api("POST", "/api/bridges", {"name": "orders", "outbound_url": "http://127.0.0.1:9/in"})
    check(r.status == 201, "create: %r" % r)
    b = r.json()
    check(ID_RE.match(b.get("id") or ""), "id is not brg_ + ULID: %r" % b.get("id"))
    check(ENDPOINT_RE.match(b.get("endpoint") or ""), "endpoint not >=22 URL-safe chars: %r"
          % b.get("endpoint"))
    check(b.get("inbound_url") == env.public_url + "/hooks/" + b["endpoint"],
          "inbound_url %r, expected %r" % (b.get("inbound_url"),
                                           env.public_url + "/hooks/" + b["endpoint"]))
    expect = {"name": "orders", "outbound_url": "http://127.0.0.1:9/in", "method": "POST",
              "retries": 3, "delay_seconds": 0, "timeout_ms": 30000, "active": True}
    for k, v in expect.items():
        check(b.get(k) == v, "field %s: %r, expected %r (bridge %r)" % (k, b.get(k), v, b))
    check(b.get("retry_delays") is None, "retry_delays default: %r" % b.get("retry_delays"))
    check(b.get("headers") in (None, {}), "headers default: %r" % b.get("headers"))
    for k in ("created_at", "updated_at"):
        check(isinstance(b.get(k), str) and b[k], "%s missing: %r" % (k, b))
    # two bridges never share an endpoint or an id
    b2 = env.create_bridge(outbound_url="http://127.0.0.1:9/in")
    check(b2["id"] != b["id"] and b2["endpoint"] != b["endpoint"], "ids/endpoints repeat")
    # all fields given
    full = {"name": "n", "outbound_url": "https://example.com/a?b=c", "method": "PATCH",
            "headers": {"X-A": "1", "X-B": "two"}, "delay_seconds": 604800, "retries": 25,
            "retry_delays": [1, 5, 60], "timeout_ms": 1500, "active": False}
    b3 = env.create_bridge(**full)
    for k, v in full.items():
        check(b3.get(k) == v, "field %s: %r, expected %r" % (k, b3.get(k), v))


@meta(est=3)
def test_bridge_get_list_patch_delete(env):
    env.start_ingress()
    b = env.create_bridge(name="a", outbound_url="http://127.0.0.1:9/a", method="PUT",
                          headers={"X-Static": "yes"}, retry_delays=[2, 4], timeout_ms=700)
    other = env.create_bridge(name="b", outbound_url="http://127.0.0.1:9/b")

    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.status == 200, "GET one: %r" % r)
    got = r.json()
    for k in ("id", "endpoint", "inbound_url", "name", "outbound_url", "method", "headers",
              "retries", "retry_delays", "timeout_ms", "delay_seconds", "active"):
        check(got.get(k) == b.get(k), "GET one: %s is %r, POST said %r" % (k, got.get(k), b.get(k)))

    r = env.api("GET", "/api/bridges")
    check(r.status == 200, "GET list: %r" % r)
    lst = r.json()
    check(isinstance(lst.get("bridges"), list), "list is not {\"bridges\": [...]}: %r" % lst)
    check({x.get("id") for x in lst["bridges"]} == {b["id"], other["id"]},
          "list ids: %r" % [x.get("id") for x in lst["bridges"]])

    # PATCH merges: only retries changes
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"retries": 7})
    check(r.status == 200, "PATCH: %r" % r)
    p = r.json()
    check(p.get("retries") == 7, "PATCH retries: %r" % p.get("retries"))
    for k in ("id", "endpoint", "name", "outbound_url", "method", "headers", "retry_delays",
              "timeout_ms", "delay_seconds", "active"):
        check(p.get(k) == b.get(k), "PATCH changed %s: %r -> %r" % (k, b.get(k), p.get(k)))
    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.json().get("retries") == 7 and r.json().get("method") == "PUT",
          "PATCH not stored: %r" % r)
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"name": "renamed", "delay_seconds": 5})
    check(r.status == 200 and r.json().get("name") == "renamed"
          and r.json().get("delay_seconds") == 5 and r.json().get("retries") == 7,
          "second PATCH: %r" % r)
    # an invalid PATCH is refused and changes nothing
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"retries": 99, "name": "nope"})
    expect_error(r, 400, what="PATCH retries 99")
    check("retries" in r.text, "PATCH 400 does not name retries: %r" % r)
    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.json().get("name") == "renamed" and r.json().get("retries") == 7,
          "a refused PATCH changed the bridge: %r" % r)

    # DELETE
    r = env.api("DELETE", "/api/bridges/" + b["id"])
    check(r.status == 204, "DELETE: %r" % r)
    check(r.body == b"", "DELETE 204 with a body: %r" % r.body)
    r = env.api("GET", "/api/bridges/" + b["id"])
    expect_error(r, 404, "not_found", "GET deleted")
    r = env.api("DELETE", "/api/bridges/" + b["id"])
    expect_error(r, 404, "not_found", "DELETE twice")
    r = env.api("GET", "/api/bridges")
    check([x.get("id") for x in r.json().get("bridges", [])] == [other["id"]],
          "list after DELETE: %r" % r)
    # its endpoint is gone too
    r = env.hook(b)
    expect_error(r, 404, "not_found", "hook to a deleted bridge")


@meta(est=3)
def test_bridge_activate_deactivate(env):
    env.start_ingress()
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/a")
    r = env.api("POST", "/api/bridges/%s/deactivate" % b["id"])
    check(r.status == 200 and r.json().get("active") is False, "deactivate: %r" % r)
    check(r.json().get("id") == b["id"], "deactivate does not answer the bridge: %r" % r)
    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.json().get("active") is False, "deactivate not stored: %r" % r)
    r = env.api("POST", "/api/bridges/%s/deactivate" % b["id"])
    check(r.status == 200 and r.json().get("active") is False, "deactivate twice: %r" % r)
    r = env.api("POST", "/api/bridges/%s/activate" % b["id"])
    check(r.status == 200 and r.json().get("active") is True, "activate: %r" % r)
    r = env.api("GET", "/api/bridges/" + b["id"])
    check(r.json().get("active") is True, "activate not stored: %r" % r)
    # PATCH active works as well
    r = env.api("PATCH", "/api/bridges/" + b["id"], {"active": False})
    check(r.status == 200 and r.json().get("active") is False, "PATCH active: %r" % r)


@meta(est=3)
def test_bridge_bad_input(env):
    env.start_ingress()
    good = {"outbound_url": "http://127.0.0.1:9/a"}
    cases = [
        (dict(good, retries=99), "retries"),
        (dict(good, retries=-1), "retries"),
        (dict(good, retries="3"), "retries"),
        (dict(good, method="FOO"), "method"),
        ({"name": "no url"}, "outbound_url"),
        (dict(good, outbound_url=42), "outbound_url"),
        (dict(good, delay_seconds=604801), "delay_seconds"),
        (dict(good, delay_seconds=-1), "delay_seconds"),
        (dict(good, timeout_ms=-5), "timeout_ms"),
        (dict(good, retry_delays="soon"), "retry_delays"),
        (dict(good, retry_delays=[1, "x"]), "retry_delays"),
        (dict(good, headers="X-A: 1"), "headers"),
        (dict(good, headers={"X-A": 1}), "headers"),
        (dict(good, active="yes"), "active"),
        (dict(good, name=12), "name"),
    ]
    for body, field in cases:
        r = env.api("POST", "/api/bridges", body)
        expect_error(r, 400, what="POST %r" % body)
        check(field in r.text, "POST %r: the 400 does not name %r: %r" % (body, field, r))
    for raw in (b"not json", b'{"outbound_url": ', b"[]", b'"http://x"', b""):
        r = env.api("POST", "/api/bridges", raw)
        expect_error(r, 400, what="POST body %r" % raw)
    # nothing was created
    r = env.api("GET", "/api/bridges")
    check(r.json().get("bridges") == [], "bad input created bridges: %r" % r)


@meta(est=3)
def test_bridge_unknown_id_404(env):
    env.start_ingress()
    for method, path, body in (("GET", "/api/bridges/" + UNKNOWN, None),
                               ("PATCH", "/api/bridges/" + UNKNOWN, {"retries": 1}),
                               ("DELETE", "/api/bridges/" + UNKNOWN, None),
                               ("POST", "/api/bridges/%s/activate" % UNKNOWN, None),
                               ("POST", "/api/bridges/%s/deactivate" % UNKNOWN, None),
                               ("GET", "/api/bridges/not-an-id", None)):
        r = env.api(method, path, body)
        j = expect_error(r, 404, "not_found", "%s %s" % (method, path))
        check(isinstance(j.get("message"), str), "%s %s: no message: %r" % (method, path, j))

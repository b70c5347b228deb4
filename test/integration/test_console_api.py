"""Console (issue 13): sessions, the embedded console files, GET /api/bridges paging,
GET /api/stats/series, GET /api/openapi.json checked against the routes the server answers."""

import gzip
import hashlib
import json
import os
import re
import time

from harness import REPO, Redis, check, expect_error, http_request, meta
from sink import Reply, always


def _sign_in(env, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    r = http_request(env.admin_port, "POST", "/api/session", json.dumps({"token": env.token}), h)
    check(r.status == 204, "POST /api/session with the token: %r" % r)
    cookie = r.header("Set-Cookie")
    check(cookie is not None, "no Set-Cookie on sign-in")
    return r, cookie


def _cookie_value(set_cookie):
    m = re.match(r"hb_session=([0-9a-f]{64});", set_cookie)
    check(m is not None, "Set-Cookie is not hb_session=<64 hex>: %r" % set_cookie)
    return m.group(1)


def _call(env, method, path, cookie, body=None, headers=None):
    h = {"Cookie": "theme=dark; hb_session=" + cookie}
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body)
    h.update(headers or {})
    return http_request(env.admin_port, method, path, body, h)


@meta(est=3)
def test_session_cookie_signs_in_and_out(env):
    env.start_ingress()
    r, set_cookie = _sign_in(env)
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
        check(attr in set_cookie, "Set-Cookie lacks %s: %r" % (attr, set_cookie))
    cookie = _cookie_value(set_cookie)
    check(env.token not in set_cookie, "the cookie holds the token")

    # Redis keeps the SHA-256 of the value, with a 12 h TTL, never the value itself.
    red = Redis(env.redis.port)
    key = "hb:session:" + hashlib.sha256(cookie.encode()).hexdigest()
    ttl = red("TTL", key)
    check(43000 < ttl <= 43200, "session key %s TTL: %r" % (key, ttl))
    check(red("KEYS", "*" + cookie + "*") == [], "the cookie value is a Redis key")

    # Every /api/ route takes the cookie: reads, and writes with JSON and a same-site Origin.
    r = _call(env, "GET", "/api/bridges", cookie)
    check(r.status == 200 and "bridges" in r.json(), "GET /api/bridges by cookie: %r" % r)
    r = _call(env, "POST", "/api/bridges", cookie, {"outbound_url": "http://127.0.0.1:9/x"},
              {"Origin": "http://127.0.0.1:%d" % env.admin_port,
               "Host": "127.0.0.1:%d" % env.admin_port})
    check(r.status == 201, "POST /api/bridges by cookie with a same-site Origin: %r" % r)
    bid = r.json()["id"]
    r = _call(env, "POST", "/api/bridges/%s/deactivate" % bid, cookie, {})
    check(r.status == 200 and r.json()["active"] is False, "POST without Origin: %r" % r)

    # A cookie is not enough for a cross-site or non-JSON write: 403, and nothing changes.
    r = _call(env, "POST", "/api/bridges/%s/activate" % bid, cookie, {},
              {"Origin": "http://evil.example"})
    expect_error(r, 403, "forbidden", "cross-site Origin")
    r = _call(env, "POST", "/api/bridges/%s/activate" % bid, cookie, None,
              {"Content-Type": "text/plain"})
    expect_error(r, 403, "forbidden", "text/plain write")
    r = _call(env, "POST", "/api/bridges/%s/activate" % bid, cookie, None,
              {"Content-Type": "application/x-www-form-urlencoded",
               "Origin": "http://127.0.0.1:%d" % env.admin_port})
    expect_error(r, 403, "forbidden", "form write")
    check(env.api("GET", "/api/bridges/" + bid).json()["active"] is False,
          "a refused write changed the bridge")
    # The Bearer token alone still needs neither.
    r = env.api("POST", "/api/bridges/%s/activate" % bid, None, headers={"Origin": "http://x"})
    check(r.status == 200, "Bearer write with any Origin: %r" % r)

    # A wrong or unknown cookie is 401; so is a wrong token at sign-in.
    r = _call(env, "GET", "/api/bridges", "0" * 64)
    expect_error(r, 401, "unauthorized", "unknown session")
    r = http_request(env.admin_port, "GET", "/api/bridges", None, {"Cookie": "hb_session=x"})
    expect_error(r, 401, "unauthorized", "malformed cookie")
    r = http_request(env.admin_port, "POST", "/api/session", json.dumps({"token": "nope"}),
                     {"Content-Type": "application/json"})
    expect_error(r, 401, "unauthorized", "wrong token")
    check(r.header("Set-Cookie") is None, "a refused sign-in set a cookie")
    r = http_request(env.admin_port, "POST", "/api/session", json.dumps({"token": env.token}),
                     {"Content-Type": "text/plain"})
    expect_error(r, 403, "forbidden", "sign-in without JSON content type")

    # The console's "send a test event": /hooks/ on the admin listener, for the admin only.
    b = env.create_bridge(outbound_url="http://127.0.0.1:9/x")
    r = _call(env, "POST", "/hooks/" + b["endpoint"], cookie, {"test": True})
    check(r.status == 202 and r.json()["event_id"].startswith("evt_"), "test event: %r" % r)
    check(env.api("GET", "/api/events/" + r.json()["event_id"]).status == 200, "no test event")
    r = http_request(env.admin_port, "POST", "/hooks/" + b["endpoint"], b"{}",
                     {"Content-Type": "application/json"})
    expect_error(r, 401, "unauthorized", "/hooks/ on the admin listener without a session")
    r = _call(env, "POST", "/hooks/" + b["endpoint"], cookie, {"x": 1}, {"Origin": "http://evil"})
    expect_error(r, 403, "forbidden", "cross-site test event")

    # Sign out: the session is gone from Redis and the cookie no longer works.
    r = _call(env, "DELETE", "/api/session", cookie)
    check(r.status == 204, "DELETE /api/session: %r" % r)
    check("Max-Age=0" in (r.header("Set-Cookie") or ""), "sign-out does not clear the cookie")
    check(red("EXISTS", key) == 0, "session still in Redis after sign-out")
    r = _call(env, "GET", "/api/bridges", cookie)
    expect_error(r, 401, "unauthorized", "after sign-out")

    # A session lives in Redis: a second ingress on the same Redis honours it.
    _, set_cookie = _sign_in(env)
    cookie = _cookie_value(set_cookie)
    key = "hb:session:" + hashlib.sha256(cookie.encode()).hexdigest()
    red.close()
    old = env.ingress
    check(old.terminate() == 0, "ingress did not stop cleanly")
    old.accounted = True
    env.ingress = None
    p2 = env.start_ingress(name="ingress2")
    r = _call(env, "GET", "/api/stats", cookie)
    check(r.status == 200, "session after an ingress restart: %r" % r)
    # Redis holds a proof tied to the token, not a bare flag: a new token ends the session.
    check(len(red_value(env, key)) == 64 and env.token not in red_value(env, key), "value")
    check(p2.terminate() == 0, "ingress2 did not stop cleanly")
    p2.accounted = True
    env.ingress = None
    env.start_ingress(name="ingress3", extra={"HOOKBRIDGE_ADMIN_TOKEN": "a-new-token-" + "x" * 20})
    r = _call(env, "GET", "/api/stats", cookie)
    expect_error(r, 401, "unauthorized", "a session of the old token")


def red_value(env, key):
    red = Redis(env.redis.port)
    try:
        return red("GET", key) or ""
    finally:
        red.close()


@meta(est=2)
def test_console_files_etag_gzip_csp(env):
    env.start_ingress()
    r = http_request(env.admin_port, "GET", "/")
    check(r.status == 200, "GET /: %r" % r)
    check(r.header("Content-Type", ).startswith("text/html"), "GET / type: %r" % r.headers)
    index = open(os.path.join(REPO, "ui", "index.html"), "rb").read()
    check(r.body == index, "GET / is not ui/index.html")
    csp = r.header("Content-Security-Policy") or ""
    check("default-src 'self'" in csp, "CSP: %r" % csp)
    check("unsafe-inline" not in csp, "CSP allows inline: %r" % csp)
    check(r.header("X-Frame-Options") == "DENY", "X-Frame-Options: %r" % r.headers)
    etag = r.header("ETag")
    check(etag and etag.startswith('"'), "no ETag: %r" % r.headers)

    r = http_request(env.admin_port, "GET", "/", None, {"If-None-Match": etag})
    check(r.status == 304 and r.body == b"", "If-None-Match: %r" % r)

    app = open(os.path.join(REPO, "ui", "app.js"), "rb").read()
    r = http_request(env.admin_port, "GET", "/ui/app.js", None, {"Accept-Encoding": "gzip, br"})
    check(r.status == 200 and r.header("Content-Encoding") == "gzip", "gzip: %r" % r.headers)
    gz_etag = r.header("ETag")
    r304 = http_request(env.admin_port, "GET", "/ui/app.js", None,
                        {"Accept-Encoding": "gzip", "If-None-Match": gz_etag})
    check(r304.status == 304, "If-None-Match on the gzip representation: %r" % r304)
    check(gzip.decompress(r.body) == app, "gzip body is not ui/app.js")
    check(len(r.body) < len(app) / 2, "app.js barely compressed: %d of %d" % (len(r.body), len(app)))
    check("javascript" in r.header("Content-Type"), "app.js type: %r" % r.headers)
    r = http_request(env.admin_port, "GET", "/ui/app.js")
    check(r.status == 200 and r.header("Content-Encoding") is None and r.body == app,
          "app.js without gzip: %r" % r.headers)
    check(r.header("ETag") != gz_etag, "gzip and identity share an ETag")
    r = http_request(env.admin_port, "GET", "/ui/app.css")
    check(r.status == 200 and r.header("Content-Type").startswith("text/css"), "css: %r" % r)
    expect_error(http_request(env.admin_port, "GET", "/ui/nope.js"), 404, "not_found", "unknown file")
    expect_error(http_request(env.admin_port, "GET", "/ui/../schemas/store.sql"), 404,
                 what="dot-dot")
    expect_error(http_request(env.admin_port, "POST", "/", b"x"), 405, what="POST /")
    # Not on the public listener.
    r = http_request(env.public_port, "GET", "/ui/app.js")
    check(r.status == 404, "console on the public listener: %r" % r)

    # The SPEC's weight limit, and no inline script or style attribute a CSP would block.
    total = sum(os.path.getsize(os.path.join(dp, f))
                for dp, _, fs in os.walk(os.path.join(REPO, "ui")) for f in fs)
    check(total < 300 * 1024, "console is %d bytes" % total)
    html = index.decode()
    check(re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline script in index.html")
    check(" style=" not in html and " on" not in re.sub(r'"[^"]*"', "", html), "inline style/handler")
    check(re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|eval\(",
                    app.decode()) is None, "app.js turns strings into markup or code")


@meta(est=3)
def test_bridges_list_paged_and_searched(env):
    env.start_ingress()
    ids = []
    for i in range(7):
        name = ("Shop orders %d" % i) if i % 2 == 0 else ("CRM contacts %d" % i)
        ids.append(env.create_bridge(name=name, outbound_url="http://127.0.0.1:9/x")["id"])
        time.sleep(0.002)
    # Without parameters: as before, every bridge in creation order.
    r = env.api("GET", "/api/bridges")
    check([b["id"] for b in r.json()["bridges"]] == ids, "unparameterized list changed: %r" % r)

    seen = []
    before = None
    pages = 0
    while True:
        path = "/api/bridges?limit=3" + ("&before=" + before if before else "")
        j = env.api("GET", path).json()
        pages += 1
        seen += [b["id"] for b in j["bridges"]]
        check("next" in j, "no next: %r" % j)
        if j["next"] is None:
            break
        before = j["next"]
        check(pages < 10, "paging does not end")
    check(seen == list(reversed(ids)), "pages are not newest first without gaps: %r" % seen)
    check(pages == 3, "7 bridges in pages of 3 took %d pages" % pages)

    j = env.api("GET", "/api/bridges?q=SHOP%20orders&limit=2").json()
    check([b["id"] for b in j["bridges"]] == [ids[6], ids[4]], "q page 1: %r" % j)
    j = env.api("GET", "/api/bridges?q=shop+orders&limit=2&before=" + j["next"]).json()
    check([b["id"] for b in j["bridges"]] == [ids[2], ids[0]] and j["next"] is None,
          "q page 2: %r" % j)
    j = env.api("GET", "/api/bridges?q=nothing-like-this").json()
    check(j == {"bridges": [], "next": None}, "q without match: %r" % j)
    j = env.api("GET", "/api/bridges?limit=7").json()
    check(len(j["bridges"]) == 7 and j["next"] is None, "exact last page has a next: %r" % j)

    for bad in ("limit=0", "limit=1001", "limit=x", "before=evt_01HZZZZZZZZZZZZZZZZZZZZZZZ",
                "colour=red"):
        expect_error(env.api("GET", "/api/bridges?" + bad), 400, "invalid_parameter", bad)


@meta(est=8)
def test_bridges_list_counts_24h(env):
    """Each listed bridge carries its last 24 h of events by status, every status present."""
    env.start_ingress()
    sink = env.sink()
    good = env.create_bridge(name="good", outbound_url=sink.url(), retries=0)
    bad = env.create_bridge(name="bad", outbound_url="http://127.0.0.1:9/x", retries=0)
    idle = env.create_bridge(name="idle", outbound_url=sink.url())
    env.start_worker()
    env.wait_events([env.send(good) for _ in range(3)], ("delivered",), timeout=30)
    env.wait_events([env.send(bad) for _ in range(2)], ("failed",), timeout=30)
    statuses = ("queued", "scheduled", "retrying", "delivered", "failed", "filtered", "aborted")
    for path in ("/api/bridges", "/api/bridges?limit=10"):
        r = env.api("GET", path)
        check(r.status == 200, "%s: %r" % (path, r))
        by = {b["id"]: b.get("counts_24h") for b in r.json()["bridges"]}
        for b in (good, bad, idle):
            c = by.get(b["id"])
            check(isinstance(c, dict) and sorted(c) == sorted(statuses),
                  "%s %s counts_24h: %r" % (path, b["name"], c))
        check(by[good["id"]]["delivered"] == 3 and sum(by[good["id"]].values()) == 3,
              "good: %r" % by[good["id"]])
        check(by[bad["id"]]["failed"] == 2 and sum(by[bad["id"]].values()) == 2,
              "bad: %r" % by[bad["id"]])
        check(sum(by[idle["id"]].values()) == 0, "idle: %r" % by[idle["id"]])


@meta(est=8)
def test_stats_series_counts_accepted_delivered_failed(env):
    env.start_ingress()
    ok = env.sink()
    bad = env.sink(always(Reply(500, body=b"no")))
    good = env.create_bridge(outbound_url=ok.url("/ok"))
    failing = env.create_bridge(outbound_url=bad.url("/bad"), retries=0)
    ids = [env.send(good) for _ in range(3)] + [env.send(failing) for _ in range(2)]
    env.start_worker()
    for i in ids[:3]:
        env.wait_event(i, {"delivered"})
    for i in ids[3:]:
        env.wait_event(i, {"failed"})

    deadline = time.time() + 10
    while True:
        r = env.api("GET", "/api/stats/series?minutes=60")
        check(r.status == 200, "series: %r" % r)
        minutes = r.json()["minutes"]
        tot = {k: sum(m[k] for m in minutes) for k in ("accepted", "delivered", "failed")}
        if tot == {"accepted": 5, "delivered": 3, "failed": 2} or time.time() > deadline:
            break
        time.sleep(0.2)
    check(tot == {"accepted": 5, "delivered": 3, "failed": 2}, "series totals: %r" % tot)
    check(len(minutes) == 60, "60 minutes asked, %d given" % len(minutes))
    ats = [m["at"] for m in minutes]
    check(ats == sorted(ats) and ats[-1].endswith(":00.000Z"), "minutes not in order: %r" % ats[-3:])
    now_min = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
    check(ats[-1].startswith(now_min) or ats[-2].startswith(now_min), "last minute is not now")

    # Kept in Redis with a TTL, so they expire on their own.
    red = Redis(env.redis.port)
    keys = red("KEYS", "hb:stats:m:*")
    check(keys and all(0 < red("TTL", k) <= 7200 for k in keys), "series keys/TTL: %r" % keys)
    red.close()

    check(len(env.api("GET", "/api/stats/series").json()["minutes"]) == 60, "default not 60")
    check(len(env.api("GET", "/api/stats/series?minutes=5").json()["minutes"]) == 5, "minutes=5")
    for bad in ("minutes=0", "minutes=121", "minutes=abc", "minutes=", "min=5"):
        expect_error(env.api("GET", "/api/stats/series?" + bad), 400, "invalid_parameter", bad)

    # /api/stats lists the live worker with its heartbeat age.
    st = env.api("GET", "/api/stats").json()
    wl = st["workers"]["list"]
    check(len(wl) == 1 and wl[0]["heartbeat_age_ms"] < 30000 and wl[0]["id"],
          "workers list: %r" % st["workers"])


# Path segments the router compares against, read from the admin sources, so a route added
# there is probed here without anyone listing it.
def _router_segments():
    segs = set()
    for fn in os.listdir(os.path.join(REPO, "ingress")):
        if fn.startswith("admin") and fn.endswith(".c"):
            src = open(os.path.join(REPO, "ingress", fn)).read()
            segs.update(re.findall(r'strcmp\(segs\[\d\], "([^"]+)"\)', src))
    return segs


def _concrete(path, ids):
    return path.replace("{id}", ids.get(path.split("/")[2], "x"))


@meta(est=4)
def test_openapi_matches_routes(env):
    env.start_ingress()
    r = env.api("GET", "/api/openapi.json")
    check(r.status == 200 and r.header("Content-Type") == "application/json", "openapi: %r" % r)
    doc = r.json()
    check(doc.get("openapi", "").startswith("3.1"), "not OpenAPI 3.1: %r" % doc.get("openapi"))
    expect_error(env.api("GET", "/api/openapi.json", token=None), 401, what="openapi without token")
    sink = env.sink()
    b = env.create_bridge(outbound_url=sink.url("/x"))
    eid = env.send(b)
    ids = {"bridges": b["id"], "events": eid}
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    documented = {}
    for path, item in doc["paths"].items():
        documented[path] = {m.upper() for m in item if m.upper() in methods}
        check(documented[path], "%s has no operation" % path)

    def answered(method, path):
        body = {} if method in ("POST", "PATCH", "PUT") else None
        if path == "/api/session":  # signs in: a wrong token shows the route exists
            body = {"token": "x"}
        r = env.api(method, path, body)
        return r.status not in (404, 405), r

    # Every documented operation is answered; every other method on it is 405.
    for path, ms in documented.items():
        concrete = _concrete(path, ids)
        for m in methods:
            if "{id}" in path and m == "DELETE":
                continue  # would delete the bridge the other probes use
            ok, r = answered(m, concrete)
            if m in ms:
                check(ok, "documented %s %s answered %r" % (m, path, r))
            else:
                check(not ok, "%s %s is answered (%r) but not in openapi.json" % (m, path, r))
    r = env.api("DELETE", "/api/bridges/" + ids["bridges"])
    check(r.status == 204, "documented DELETE bridge: %r" % r)

    # Every path the router knows of is documented: each segment it compares against, as
    # a collection route, an item route and an item action.
    b = env.create_bridge(outbound_url=sink.url("/x"))
    ids["bridges"] = b["id"]
    known = set(documented)
    for seg in sorted(_router_segments()):
        candidates = ["/api/" + seg, "/api/bridges/{id}/" + seg, "/api/events/{id}/" + seg,
                      "/api/stats/" + seg, "/api/events/" + seg, "/api/bridges/" + seg]
        for path in candidates:
            if path in known:
                continue
            for m in methods:
                if m == "DELETE":
                    continue
                ok, r = answered(m, _concrete(path, ids))
                check(not ok, "%s %s is answered (%r) but not in openapi.json" % (m, path, r))

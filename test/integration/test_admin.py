"""Admin listener: token checks, /healthz, and start-up configuration errors."""

from harness import check, expect_error, http_request, meta

# Every admin route of the SPEC, with a body where it takes one. Ids need not exist: the
# token is checked before anything else.
ADMIN_ROUTES = [
    ("GET", "/api/bridges", None),
    ("POST", "/api/bridges", {"outbound_url": "http://127.0.0.1:9/x"}),
    ("GET", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ", None),
    ("PATCH", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ", {"retries": 1}),
    ("DELETE", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ", None),
    ("POST", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ/activate", None),
    ("POST", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ/deactivate", None),
    ("POST", "/api/bridges/brg_01HZZZZZZZZZZZZZZZZZZZZZZZ/abort", None),
    ("GET", "/api/events", None),
    ("GET", "/api/events?limit=5", None),
    ("GET", "/api/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ", None),
    ("POST", "/api/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ/replay", None),
    ("GET", "/api/stats", None),
]


def _check_all_401(env, token, headers=None, what=""):
    for method, path, body in ADMIN_ROUTES:
        r = env.api(method, path, body, token=token, headers=headers)
        expect_error(r, 401, what="%s %s %s" % (what, method, path))


@meta(est=3)
def test_admin_auth_required(env):
    env.start_ingress()
    # the real token works
    r = env.api("GET", "/api/bridges")
    check(r.status == 200, "GET /api/bridges with the token: %r" % r)
    # no token, a wrong one, a near miss, the right one in the wrong scheme
    _check_all_401(env, None, what="no token:")
    _check_all_401(env, "wrong-" + env.token, what="wrong token:")
    _check_all_401(env, env.token[:-1], what="token minus a char:")
    _check_all_401(env, env.token + "x", what="token plus a char:")
    _check_all_401(env, False, headers={"Authorization": "Basic " + env.token},
                   what="Basic scheme:")
    _check_all_401(env, False, headers={"Authorization": env.token}, what="no scheme:")
    # nothing was created by the refused POST
    r = env.api("GET", "/api/bridges")
    check(r.status == 200 and r.json().get("bridges") == [],
          "a refused POST created something: %r" % r)
    # /healthz needs no token, on both listeners
    for port, which in ((env.admin_port, "admin"), (env.public_port, "public")):
        r = http_request(port, "GET", "/healthz")
        check(r.status == 200, "/healthz on the %s listener: %r" % (which, r))


@meta(est=3)
def test_admin_no_token_configured(env):
    # without HOOKBRIDGE_ADMIN_TOKEN the admin API answers 401 to everything
    env.start_ingress({"HOOKBRIDGE_ADMIN_TOKEN": None})
    _check_all_401(env, env.token, what="token unset, some token:")
    _check_all_401(env, "", what="token unset, empty bearer:")
    _check_all_401(env, None, what="token unset, no header:")
    r = http_request(env.admin_port, "GET", "/healthz")
    check(r.status == 200, "/healthz: %r" % r)


@meta(est=3)
def test_config_errors_stop_at_start(env):
    # a missing or malformed setting stops the process at start, with a line naming it
    cases = [
        ("hookbridge-ingress", {"HOOKBRIDGE_SECRET_KEY": None}, "HOOKBRIDGE_SECRET_KEY"),
        ("hookbridge-ingress", {"HOOKBRIDGE_SECRET_KEY": "dG9vIHNob3J0"}, "HOOKBRIDGE_SECRET_KEY"),
        ("hookbridge-worker", {"HOOKBRIDGE_SECRET_KEY": None}, "HOOKBRIDGE_SECRET_KEY"),
        ("hookbridge-worker", {"HOOKBRIDGE_CONCURRENCY": "abc"}, "CONCURRENCY"),
        ("hookbridge-ingress", {"HOOKBRIDGE_MAX_BODY": "-5"}, "MAX_BODY"),
    ]
    for i, (binary, extra, name) in enumerate(cases):
        if binary == "hookbridge-ingress":
            extra = dict(extra, HOOKBRIDGE_LISTEN="127.0.0.1:%d" % env.public_port,
                         HOOKBRIDGE_ADMIN_LISTEN="127.0.0.1:%d" % env.admin_port)
        p = env.spawn(binary, "bad-config-%d" % i, extra)
        rc = p.wait(20)
        check(rc != 0, "%s with %r: exit code 0, expected a failure" % (binary, extra))
        check(name in p.text(), "%s with %r: the output does not name %s:\n%s"
              % (binary, extra, name, p.tail(5)))

/*
 * admin.c - the admin listener's front door: /healthz, the console's files, the check that
 * a request comes from the admin (Bearer token, or a console session cookie), and routing
 * of /api/… to the route modules (see admin.h).
 */
#include "admin.h"

#include "admin_session.h"
#include "console.h"
#include "health.h"
#include "hooks.h"
#include "http.h"
#include "httpd.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The Bearer token, when the request carries one that is right. */
static bool admin_token_ok(const struct ingress *in, struct httpd_req *req)
{
    const char *auth = httpd_req_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    return admin_session_token_ok(in, auth + 7);
}

/* Paths served without the token. */
static bool admin_public_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
           strcmp(path, "/api/session") == 0 || console_path(path);
}

/* POST /hooks/{endpoint} on the admin listener: the console's "send a test event", which
 * its Content-Security-Policy keeps from reaching the public listener (another origin).
 * Signed-in callers only; the request then goes through hooks.c exactly as on the public
 * listener. */
static bool admin_hooks_path(const char *path)
{
    return strncmp(path, "/hooks/", 7) == 0;
}

static void admin_unauthorized(const struct ingress *in, struct httpd_req *req)
{
    httpd_reply_header(req, "WWW-Authenticate", "Bearer");
    httpd_reply_json_error(req, 401, "unauthorized",
                           in->cfg.admin_token[0] ? "missing or wrong admin token or session"
                                                  : "the admin API is disabled until "
                                                    "HOOKBRIDGE_ADMIN_TOKEN is set");
}

enum httpd_next admin_head(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    const char *path = httpd_req_path(req);
    char cookie[80];
    /* Refused before any body is read: an unknown route or a missing token costs nothing.
     * A cookie is checked in Redis once the request is in (admin_request). */
    if (admin_public_path(path))
        return HTTPD_READ_BODY;
    bool hooks = admin_hooks_path(path);
    if (!hooks && strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0) {
        httpd_reply_json_error(req, 404, "not_found", "no such route");
        return HTTPD_REPLIED;
    }
    bool bearer = httpd_req_header(req, "Authorization") != NULL;
    if (bearer ? !admin_token_ok(in, req) : !admin_session_cookie(req, cookie, sizeof(cookie))) {
        admin_unauthorized(in, req);
        return HTTPD_REPLIED;
    }
    return hooks ? hooks_head(req, in) : HTTPD_READ_BODY;
}

/* /api/… once the caller is known to be the admin. */
static void admin_route(struct ingress *in, struct httpd_req *req)
{
    const char *path = httpd_req_path(req);
    if (admin_hooks_path(path)) {
        hooks_request(req, in);
        return;
    }
    char *decoded = text_uri_decode(path + 4);
    char buf[1024];
    const char *segs[8];
    int nseg = decoded ? http_split_path(decoded, buf, sizeof(buf), segs, 8) : -1;
    free(decoded);
    if (nseg <= 0) {
        httpd_reply_json_error(req, 404, "not_found", "no such route");
        return;
    }
    if (strcmp(segs[0], "bridges") == 0)
        admin_bridges_handle(in, req, segs, nseg);
    else if (strcmp(segs[0], "events") == 0)
        admin_events_handle(in, req, segs, nseg);
    else if (strcmp(segs[0], "stats") == 0 && nseg == 1)
        admin_stats_handle(in, req);
    else if (strcmp(segs[0], "stats") == 0 && nseg == 2 && strcmp(segs[1], "series") == 0)
        admin_stats_series_handle(in, req);
    else if (strcmp(segs[0], "openapi.json") == 0 && nseg == 1)
        admin_openapi_handle(req);
    else
        httpd_reply_json_error(req, 404, "not_found", "no such route");
}

static void admin_on_session(struct ingress *in, struct httpd_req *req, int live)
{
    if (live < 0) {
        httpd_reply_header(req, "Retry-After", "5");
        httpd_reply_json_error(req, 503, "queue_unavailable",
                               "redis is unavailable; sessions live there");
    } else if (live == 0) {
        admin_unauthorized(in, req);
    } else {
        admin_route(in, req);
    }
}

void admin_request(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    const char *path = httpd_req_path(req);
    char cookie[80];
    if (strcmp(path, "/healthz") == 0) {
        health_handle(in, req);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        admin_metrics_handle(in, req);
        return;
    }
    if (console_path(path)) {
        console_handle(req);
        return;
    }
    if (strcmp(path, "/api/session") == 0) {
        admin_session_handle(in, req);
        return;
    }
    if (admin_token_ok(in, req)) {
        admin_route(in, req);
        return;
    }
    /* admin_head let through only a right token or a well-formed cookie. */
    if (!admin_session_cookie(req, cookie, sizeof(cookie))) {
        admin_unauthorized(in, req);
        return;
    }
    /* A browser sends the cookie with any request to this host, a forged cross-site form
     * too: such a request changes nothing. */
    if (!admin_session_same_site(req)) {
        httpd_reply_json_error(req, 403, "forbidden",
                               "a request signed in by cookie that changes something needs "
                               "Content-Type application/json and this site's Origin");
        return;
    }
    if (admin_session_check(in, req, cookie, admin_on_session) != 0)
        admin_on_session(in, req, -1);
}

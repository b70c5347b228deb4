/*
 * admin.c - the admin listener's front door: /healthz, the bearer-token check, and routing
 * of /api/… to the route modules (see admin.h).
 */
#include "admin.h"

#include "evwriter.h"
#include "hb.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "rconn.h"
#include "record.h"
#include "text.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Ids one script call takes (a reply of about a megabyte), and the calls one read makes.
 * Beyond that, with no worker running to sweep the list, a read still shows the newest
 * ADMIN_RECORD_MAX waiting events, and every event by its id. */
#define ADMIN_RECORD_BATCH 1000
#define ADMIN_RECORD_MAX 20000

struct admin_recording {
    struct ingress *in;
    admin_recorded_cb done;
    void *arg;
    int total;
};

static void admin_on_committed(void *arg, enum evwriter_flushed res)
{
    struct admin_recording *r = arg;
    r->done(r->arg, res == EVWRITER_CANCELLED);
    free(r);
}

static void admin_on_taken(void *arg, int taken)
{
    struct admin_recording *r = arg;
    if (taken > 0)
        r->total += taken;
    if (taken == ADMIN_RECORD_BATCH && r->total < ADMIN_RECORD_MAX &&
        record_take(r->in->redis, &r->in->keys, r->in->events, ADMIN_RECORD_BATCH, 0,
                    admin_on_taken, r) == 0)
        return;
    evwriter_flush_then(r->in->events, admin_on_committed, r);
}

void admin_record(struct ingress *in, admin_recorded_cb done, void *arg)
{
    struct admin_recording *r = xcalloc(1, sizeof(*r));
    r->in = in;
    r->done = done;
    r->arg = arg;
    if (record_take(in->redis, &in->keys, in->events, ADMIN_RECORD_BATCH, 0, admin_on_taken, r) !=
        0)
        admin_on_taken(r, -1);
}

struct admin_health {
    struct httpd_req *req;
};

static void admin_on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    struct admin_health *h = priv;
    redisReply *reply = r;
    (void)ac;
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", ok ? "ok" : "unavailable");
    cJSON_AddStringToObject(o, "redis", ok ? "ok" : "unreachable");
    http_reply_json(h->req, ok ? 200 : 503, o);
    cJSON_Delete(o);
    free(h);
}

void admin_healthz(struct ingress *in, struct httpd_req *req)
{
    struct admin_health *h = xcalloc(1, sizeof(*h));
    h->req = req;
    if (rconn_cmd(in->redis, admin_on_ping, h, "PING") != 0) {
        free(h);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "unavailable");
        cJSON_AddStringToObject(o, "redis", "unreachable");
        http_reply_json(req, 503, o);
        cJSON_Delete(o);
    }
}

/* Compare digests rather than the strings, so that neither the token's content nor its
 * length leaks through timing. */
static bool admin_token_ok(const struct ingress *in, struct httpd_req *req)
{
    if (in->cfg.admin_token[0] == '\0')
        return false;
    const char *auth = httpd_req_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof(a), (const unsigned char *)given, strlen(given), NULL, 0);
    crypto_generichash(b, sizeof(b), (const unsigned char *)in->cfg.admin_token,
                       strlen(in->cfg.admin_token), NULL, 0);
    return sodium_memcmp(a, b, sizeof(a)) == 0;
}

/* Paths served without the token. */
static bool admin_public_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0;
}

enum httpd_next admin_head(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    const char *path = httpd_req_path(req);
    /* Refused before any body is read: an unknown route or a missing token costs nothing. */
    if (admin_public_path(path))
        return HTTPD_READ_BODY;
    if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0) {
        http_reply_error(req, 404, "not_found", "no such route");
        return HTTPD_REPLIED;
    }
    if (!admin_token_ok(in, req)) {
        http_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error(req, 401, "unauthorized",
                         in->cfg.admin_token[0] ? "missing or wrong admin token"
                                                : "the admin API is disabled until "
                                                  "HOOKBRIDGE_ADMIN_TOKEN is set");
        return HTTPD_REPLIED;
    }
    return HTTPD_READ_BODY;
}

void admin_request(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    const char *path = httpd_req_path(req);
    if (strcmp(path, "/healthz") == 0) {
        admin_healthz(in, req);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        admin_metrics_handle(in, req);
        return;
    }
    char *decoded = text_uri_decode(path + 4);
    char buf[1024];
    const char *segs[8];
    int nseg = decoded ? http_split_path(decoded, buf, sizeof(buf), segs, 8) : -1;
    free(decoded);
    if (nseg <= 0) {
        http_reply_error(req, 404, "not_found", "no such route");
        return;
    }
    if (strcmp(segs[0], "bridges") == 0)
        admin_bridges_handle(in, req, segs, nseg);
    else if (strcmp(segs[0], "events") == 0)
        admin_events_handle(in, req, segs, nseg);
    else if (strcmp(segs[0], "stats") == 0 && nseg == 1)
        admin_stats_handle(in, req);
    else
        http_reply_error(req, 404, "not_found", "no such route");
}

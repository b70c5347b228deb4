/*
 * admin_replay.c - POST /api/events/replay: replay every event a filter matches ("every
 * failed event of this bridge since 09:00"), each as POST /api/events/{id}/replay would.
 *
 * The ingress loop also answers webhooks, so the work is cut into loop turns: first the
 * matching ids are read a page per turn (newest first, as the store lists them), then they
 * are replayed oldest first, a chunk per turn, the next chunk once Redis has taken the last.
 * The answer comes when every replay is queued: 202 {"replayed": n, "skipped": k}. With
 * "dry_run": true nothing is replayed and the answer is 200 {"matching": n}, the count a
 * console shows before asking "replay these n events?".
 */
#include "admin.h"

#include "clock.h"
#include "enqueue.h"
#include "event.h"
#include "hb.h"
#include "http.h"
#include "httpd.h"
#include "ids.h"
#include "job.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many events per bulk replay: past it the caller narrows the filter, so one
 * request never holds the queue for minutes nor leaves it half done for a timeout. */
#define REPLAY_MAX 10000
/* Rows read per loop turn while collecting, and replays sent per turn. */
#define REPLAY_PAGE 500
#define REPLAY_CHUNK 100

#define REPLAY_ALLOWED "allowed fields: bridge_id, status, since, until, route, dry_run"

static const char *const replay_statuses[] = {"queued", "scheduled", "retrying", "delivered",
                                              "failed", "filtered",  "aborted"};

struct replay {
    struct ingress *in;
    struct httpd_req *req;
    cJSON *body; /* owns bridge_id and route */
    /* `route` selects the events delivered through that route; each is then replayed to
     * that route only, as POST /api/events/{id}/replay?route= does. */
    const char *bridge_id, *route;
    char statuses[128]; /* comma list for the store, empty for any */
    char since[HB_ID_LEN], below[HB_ID_LEN];
    char **ids; /* newest first, as collected */
    size_t nids, cap;
    size_t page_rows; /* rows the current page gave, matching or not */
    bool too_many;
    bool dry_run; /* only count: 200 {"matching": n} */
    size_t done;  /* ids handled, counted from the oldest */
    int inflight; /* enqueues waiting for Redis */
    long replayed, skipped;
    bool failed;
    char last_bridge[HB_ID_LEN]; /* the last bridge looked up, and whether it exists */
    bool last_bridge_ok;
    char last_id[HB_ID_LEN]; /* the last new id, for ids in received order */
    int64_t last_ms;
    struct event *step;
};

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->nids; i++)
        free(r->ids[i]);
    free(r->ids);
    if (r->step)
        event_free(r->step);
    cJSON_Delete(r->body);
    free(r);
}

static void replay_bad(struct httpd_req *req, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s; %s", what, REPLAY_ALLOWED);
    httpd_reply_json_error(req, 400, "invalid_parameter", msg);
}

/* A route name: [a-z0-9_-]{1,64}, as a bridge's routes are named. */
static bool replay_route_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Whether the event was delivered through route `route`: one of its `deliveries`, or, for
 * an event without them (a bridge without `routes`), the implicit route `default`. */
static bool replay_event_has_route(const cJSON *ev, const char *route)
{
    const cJSON *deliveries = cJSON_GetObjectItemCaseSensitive(ev, "deliveries");
    if (!cJSON_IsArray(deliveries) || cJSON_GetArraySize(deliveries) == 0)
        return strcmp(route, "default") == 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, deliveries)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "route");
        if (cJSON_IsString(name) && strcmp(name->valuestring, route) == 0)
            return true;
    }
    return false;
}

/* `status`: a non-empty array of known status names into r->statuses, each once. */
static bool replay_parse_statuses(struct replay *r, const cJSON *arr)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return false;
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
    {
        if (!cJSON_IsString(s))
            return false;
        const char *known = NULL;
        for (size_t i = 0; i < sizeof(replay_statuses) / sizeof(replay_statuses[0]); i++)
            if (strcmp(s->valuestring, replay_statuses[i]) == 0)
                known = replay_statuses[i];
        if (known == NULL)
            return false;
        /* Each name once: the buffer holds all seven with their commas. */
        char padded[140];
        snprintf(padded, sizeof(padded), ",%s,", r->statuses);
        char needle[16];
        snprintf(needle, sizeof(needle), ",%s,", known);
        if (strstr(padded, needle) != NULL)
            continue;
        size_t used = strlen(r->statuses);
        snprintf(r->statuses + used, sizeof(r->statuses) - used, "%s%s", used ? "," : "", known);
    }
    return true;
}

/*
 * A fresh event id for a replay at `ms`: above every id this bulk replay made before it,
 * even within one millisecond (the ULID's random part counts up), so that the new events
 * sort in the order of the events they replay.
 */
static void replay_new_id(struct replay *r, int64_t ms, char *out, size_t outlen)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (r->last_id[0] == '\0' || ms > r->last_ms) {
        ids_new("evt_", ms, out, outlen);
        r->last_ms = ms;
    } else {
        snprintf(out, outlen, "%s", r->last_id);
        /* 80 random bits: counting up past the last of them does not happen in practice. */
        for (size_t i = strlen(out); i-- > 4;) {
            const char *pos = strchr(alphabet, out[i]);
            size_t v = pos ? (size_t)(pos - alphabet) : 0;
            if (v < 31) {
                out[i] = alphabet[v + 1];
                break;
            }
            out[i] = '0';
        }
    }
    snprintf(r->last_id, sizeof(r->last_id), "%s", out);
}

static void replay_answer(struct replay *r)
{
    char n[24], k[24];
    snprintf(n, sizeof(n), "%ld", r->replayed);
    snprintf(k, sizeof(k), "%ld", r->skipped);
    if (r->failed) {
        log_kv(LOG_WARN, "bulk replay stopped: queue unavailable", "replayed", n, "skipped", k,
               NULL);
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "the queue is unavailable: %ld of %zu events were replayed before it failed; "
                 "retry with since set past the last of them",
                 r->replayed, r->nids);
        httpd_reply_header(r->req, "Retry-After", "5");
        httpd_reply_json_error(r->req, 503, "queue_unavailable", msg);
    } else {
        log_kv(LOG_INFO, "bulk replay done", "bridge_id", r->bridge_id, "replayed", n, "skipped", k,
               NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", (double)r->replayed);
        cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
        http_reply_json(r->req, 202, o);
        cJSON_Delete(o);
    }
    replay_free(r);
}

/* One enqueue (or the chunk's own guard) done: once none is waiting, the next chunk on a
 * later loop turn, or the answer. */
static void replay_settle(struct replay *r)
{
    if (--r->inflight > 0)
        return;
    if (r->failed || r->done == r->nids) {
        replay_answer(r);
        return;
    }
    struct timeval now = {0, 0};
    evtimer_add(r->step, &now);
}

static void replay_on_enqueued(enum enqueue_result res, const char *id, const char *why, void *arg)
{
    struct replay *r = arg;
    if (res == ENQUEUE_OK) {
        r->replayed++;
    } else {
        log_kv(LOG_WARN, "bulk replay: enqueue failed", "event_id", id, "error", why, NULL);
        r->failed = true;
    }
    replay_settle(r);
}

/* Whether the event's bridge still exists (looked up once per run of one bridge's events). */
static bool replay_bridge_exists(struct replay *r, const char *bridge_id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    if (strcmp(r->last_bridge, bridge_id) == 0)
        return r->last_bridge_ok;
    int rc = store_bridge_get(r->in->store, bridge_id, &json, err, sizeof err);
    free(json);
    if (rc != 0 && rc != STORE_NOTFOUND)
        log_kv(LOG_ERROR, "bulk replay: read bridge failed", "bridge_id", bridge_id, "error", err,
               NULL);
    snprintf(r->last_bridge, sizeof(r->last_bridge), "%s", bridge_id);
    r->last_bridge_ok = rc == 0;
    return r->last_bridge_ok;
}

/* Queue the replay of one event; false when it was skipped (gone, or its bridge is) or
 * when Redis is down (then r->failed). */
static bool replay_one(struct replay *r, const char *id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    cJSON *ev = NULL;
    struct job j;
    bool sent = false;
    memset(&j, 0, sizeof(j));
    if (store_event_get(r->in->store, id, &json, err, sizeof err) != 0 ||
        (ev = cJSON_Parse(json)) == NULL) {
        log_kv(LOG_WARN, "bulk replay: event skipped, unreadable or gone", "event_id", id, NULL);
        goto out;
    }
    if (event_request_to_job(ev, &j, err, sizeof(err)) != 0) {
        log_kv(LOG_WARN, "bulk replay: event skipped", "event_id", id, "error", err, NULL);
        goto out;
    }
    if (!replay_bridge_exists(r, j.bridge_id)) {
        log_kv(LOG_WARN, "bulk replay: event skipped, its bridge no longer exists", "event_id", id,
               "bridge_id", j.bridge_id, NULL);
        goto out;
    }
    /* With `route`, an event of a bridge with routes is sent to that route only (as
     * POST /api/events/{id}/replay?route= does); one without routes has only `default`. */
    if (r->route != NULL && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ev, "deliveries")))
        j.only_route = xstrdup(r->route);
    j.received_ms = clock_now_ms();
    replay_new_id(r, j.received_ms, j.id, sizeof(j.id));
    free(j.replay_of);
    j.replay_of = xstrdup(id);
    /* The job is copied into the command: it is freed below either way. */
    if (enqueue_job(r->in, &j, 0, NULL, replay_on_enqueued, r) != 0) {
        r->failed = true;
        goto out;
    }
    r->inflight++;
    sent = true;
out:
    job_clear(&j);
    cJSON_Delete(ev);
    free(json);
    return sent;
}

/* One chunk of replays, oldest first. */
static void replay_step(evutil_socket_t fd, short what, void *arg)
{
    struct replay *r = arg;
    (void)fd;
    (void)what;
    /* The guard keeps the chunk's callbacks, should Redis answer within enqueue_job, from
     * finishing the replay while this loop still runs. */
    r->inflight++;
    for (int n = 0; n < REPLAY_CHUNK && r->done < r->nids && !r->failed; n++) {
        const char *id = r->ids[r->nids - 1 - r->done];
        r->done++;
        if (!replay_one(r, id) && !r->failed)
            r->skipped++;
    }
    replay_settle(r);
}

static int replay_collect_row(const char *json, void *arg)
{
    struct replay *r = arg;
    cJSON *ev = cJSON_Parse(json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    r->page_rows++;
    if (!cJSON_IsString(id)) {
        log_kv(LOG_ERROR, "unreadable event row skipped", NULL);
        goto out;
    }
    snprintf(r->below, sizeof(r->below), "%s", id->valuestring);
    if (r->route != NULL && !replay_event_has_route(ev, r->route))
        goto out;
    if (r->nids == REPLAY_MAX) {
        r->too_many = true;
        cJSON_Delete(ev);
        return 1;
    }
    if (r->nids == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->ids = xrealloc(r->ids, r->cap * sizeof(*r->ids));
    }
    r->ids[r->nids++] = xstrdup(id->valuestring);
out:
    cJSON_Delete(ev);
    return 0;
}

/* One page of matching ids, newest first, below the last one read. */
static void replay_collect(evutil_socket_t fd, short what, void *arg)
{
    struct replay *r = arg;
    char err[HB_ERR_LEN];
    (void)fd;
    (void)what;
    r->page_rows = 0;
    if (store_event_list_since(r->in->store, r->bridge_id, r->statuses[0] ? r->statuses : NULL,
                               r->below, r->since[0] ? r->since : NULL, REPLAY_PAGE,
                               replay_collect_row, r, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, "bulk replay: list events failed", "error", err, NULL);
        httpd_reply_json_error(r->req, 500, "internal", "the store failed; see the ingress log");
        replay_free(r);
        return;
    }
    if (r->too_many) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "more than %d events match; narrow the filter (since, until) and replay "
                 "them in parts",
                 REPLAY_MAX);
        httpd_reply_json_error(r->req, 400, "too_many_events", msg);
        replay_free(r);
        return;
    }
    struct timeval now = {0, 0};
    if (r->page_rows == REPLAY_PAGE) {
        evtimer_add(r->step, &now);
        return;
    }
    if (r->dry_run) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "matching", (double)r->nids);
        http_reply_json(r->req, 200, o);
        cJSON_Delete(o);
        replay_free(r);
        return;
    }
    if (r->nids == 0) {
        replay_answer(r);
        return;
    }
    event_free(r->step);
    r->step = evtimer_new(r->in->base, replay_step, r);
    evtimer_add(r->step, &now);
}

static void replay_recorded(void *arg, bool stopping)
{
    struct replay *r = arg;
    if (stopping) {
        httpd_reply_header(r->req, "Retry-After", "5");
        httpd_reply_json_error(r->req, 503, "queue_unavailable", "the ingress is stopping");
        replay_free(r);
        return;
    }
    r->step = evtimer_new(r->in->base, replay_collect, r);
    replay_collect(-1, 0, r);
}

void admin_replay_handle(struct ingress *in, struct httpd_req *req)
{
    if (strcmp(httpd_req_method(req), "POST") != 0) {
        httpd_reply_header(req, "Allow", "POST");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        return;
    struct replay *r = xcalloc(1, sizeof(*r));
    r->in = in;
    r->req = req;
    r->body = body;
    char until[HB_ID_LEN] = "";
    int given = 0;
    for (const cJSON *kv = body->child; kv != NULL; kv = kv->next, given++) {
        char what[160];
        if (strcmp(kv->string, "dry_run") == 0) {
            if (!cJSON_IsBool(kv)) {
                replay_bad(req, "dry_run must be true or false");
                goto bad;
            }
            r->dry_run = cJSON_IsTrue(kv);
            given--; /* not a filter */
        } else if (strcmp(kv->string, "bridge_id") == 0) {
            if (!cJSON_IsString(kv) || !ids_valid("brg_", kv->valuestring)) {
                replay_bad(req, "bridge_id must be a bridge id (brg_…)");
                goto bad;
            }
            r->bridge_id = kv->valuestring;
        } else if (strcmp(kv->string, "status") == 0) {
            if (!replay_parse_statuses(r, kv)) {
                replay_bad(req, "status must be a non-empty array of queued, scheduled, "
                                "retrying, delivered, failed, filtered, aborted");
                goto bad;
            }
        } else if (strcmp(kv->string, "since") == 0 || strcmp(kv->string, "until") == 0) {
            bool since = kv->string[0] == 's';
            if (!cJSON_IsString(kv) ||
                !admin_time_bound(kv->valuestring, since ? r->since : until, sizeof(until))) {
                snprintf(what, sizeof(what),
                         "%s must be an RFC 3339 time such as 2026-12-03T09:00:00Z", kv->string);
                replay_bad(req, what);
                goto bad;
            }
        } else if (strcmp(kv->string, "route") == 0) {
            if (!cJSON_IsString(kv) || !replay_route_name_ok(kv->valuestring)) {
                replay_bad(req, "route must be a route name ([a-z0-9_-]{1,64})");
                goto bad;
            }
            r->route = kv->valuestring;
        } else {
            snprintf(what, sizeof(what), "unknown field '%.60s'", kv->string);
            replay_bad(req, what);
            goto bad;
        }
    }
    if (given == 0) {
        httpd_reply_json_error(
            req, 400, "filter_required",
            "give at least one of bridge_id, status, since, until, route: a bulk "
            "replay of every event is refused");
        goto bad;
    }
    /* Events accepted from now on, the replays this makes among them, are not in the set. */
    ids_time_bound("evt_", clock_now_ms(), r->below, sizeof(r->below));
    if (until[0] != '\0' && strcmp(until, r->below) < 0)
        snprintf(r->below, sizeof(r->below), "%s", until);
    /* Events accepted a moment ago may have no row yet: they get theirs first. */
    record_catch_up(in->redis, &in->keys, in->events, replay_recorded, r);
    return;
bad:
    replay_free(r);
}

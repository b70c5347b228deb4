/*
 * admin_events.c - /api/events…: list event summaries, read one whole event, replay one.
 *
 * The ingress writes no row when it accepts an event (common/record.h). A list first writes
 * the rows of the newest events still without one, and GET of one event builds it from its
 * job in Redis when it has no row yet, so an event is visible from the moment of its 202.
 */
#include "admin.h"

#include "body.h"
#include "bridge.h"
#include "clock.h"
#include "enqueue.h"
#include "event.h"
#include "hb.h"
#include "http.h"
#include "ids.h"
#include "job.h"
#include "jsonformat.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "record.h"
#include "route.h"
#include "store.h"
#include "text.h"
#include "xalloc.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_ALLOWED "allowed parameters: bridge_id, status, limit, before, since, until, q"

static void events_bad_param(struct httpd_req *req, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s; %s", what, EVENTS_ALLOWED);
    httpd_reply_json_error(req, 400, "invalid_parameter", msg);
}

/* Parse "limit": digits only, because strtol alone would also take " 5" and "+5". */
static bool events_parse_limit(const char *s, long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 1000)
        return false;
    *out = v;
    return true;
}

/* A list request, its parameters checked, waiting for the newest events' rows. */
struct events_listing {
    struct ingress *in;
    struct httpd_req *req;
    cJSON *params; /* owns the strings below */
    const char *bridge_id, *before;
    const char *q;      /* text the inbound body holds, NULL for any */
    char statuses[128]; /* comma list, each once; empty for any */
    /* since/until as id bounds (ids_time_bound), empty when not given */
    char since[HB_ID_LEN], until[HB_ID_LEN];
    long limit;
    cJSON *events; /* the summaries so far */
    cJSON *extra;  /* the row past `limit`, whose id only says that a next page exists */
    cJSON *page;   /* the answer, while the waits of its pending events are read */
    int n_pending; /* summaries whose job was asked what it waits for */
};

static bool events_is_pending(const char *status, bool abort);

/*
 * Why a finished event was not delivered, for a list to show without loading each event:
 * the last attempt's error (or its HTTP status) for a failed one; for a filtered one the
 * only way the worker files an event as filtered, its filter not matching on the first try.
 */
static void events_add_outcome(cJSON *summary, const cJSON *ev)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(ev, "status");
    enum event_status st;
    if (!cJSON_IsString(status) || event_status_parse(status->valuestring, &st) != 0)
        return;
    if (st == EVENT_STATUS_FILTERED) {
        cJSON_AddStringToObject(summary, "reason", "filter did not match");
        return;
    }
    if (st != EVENT_STATUS_FAILED)
        return;
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(ev, "attempts");
    int n = cJSON_IsArray(attempts) ? cJSON_GetArraySize(attempts) : 0;
    const cJSON *last = n > 0 ? cJSON_GetArrayItem(attempts, n - 1) : NULL;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(last, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(last, "status");
    if (cJSON_IsString(error) && error->valuestring[0] != '\0') {
        cJSON_AddStringToObject(summary, "last_error", error->valuestring);
    } else if (cJSON_IsNumber(code) && code->valueint > 0) {
        char text[32];
        snprintf(text, sizeof(text), "HTTP %d", code->valueint);
        cJSON_AddStringToObject(summary, "last_error", text);
    } else {
        cJSON_AddNullToObject(summary, "last_error");
    }
}

static int events_list_row(const char *json, void *arg)
{
    struct events_listing *l = arg;
    cJSON *ev = cJSON_Parse(json);
    if (ev == NULL) {
        /* One damaged row should not hide the others; the log says it exists. */
        log_kv(LOG_ERROR, "unreadable event row skipped", NULL);
        return 0;
    }
    if (cJSON_GetArraySize(l->events) >= l->limit) {
        l->extra = ev;
        return 1;
    }
    cJSON *summary = event_summary(ev);
    events_add_outcome(summary, ev);
    cJSON_AddItemToArray(l->events, summary);
    cJSON_Delete(ev);
    return 0;
}

static void events_listing_free(struct events_listing *l)
{
    cJSON_Delete(l->extra);
    cJSON_Delete(l->page);
    cJSON_Delete(l->params);
    free(l);
}

/*
 * What flow control holds each job for, in one call for the whole page: per key, its hash's
 * `waiting` and `wait_until` ("" when unset), as events_on_waiting reads them for one event.
 */
static const char events_lua_waiting[] =
    "local out = {}\n"
    "for _, k in ipairs(KEYS) do\n"
    "  local v = redis.call('HMGET', k, 'waiting', 'wait_until')\n"
    "  out[#out + 1] = v[1] or ''\n"
    "  out[#out + 1] = v[2] or ''\n"
    "end\n"
    "return out\n";

/* The page's pending summaries get "waiting" (and the wait's end as next_attempt_at), as a
 * single event does; then the page is answered. */
static void events_on_list_waiting(redisAsyncContext *ac, void *r, void *priv)
{
    struct events_listing *l = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 2 * (size_t)l->n_pending) {
        int i = 0;
        for (cJSON *s = l->events->child; s != NULL && i < l->n_pending; s = s->next) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
            if (!cJSON_IsString(st) || !events_is_pending(st->valuestring, true))
                continue;
            const redisReply *what = reply->element[2 * i], *until = reply->element[2 * i + 1];
            i++;
            if (what->type != REDIS_REPLY_STRING || what->len == 0)
                continue;
            cJSON_AddStringToObject(s, "waiting", what->str);
            int64_t ms = until->type == REDIS_REPLY_STRING ? strtoll(until->str, NULL, 10) : 0;
            if (ms > 0) {
                char iso[CLOCK_ISO_LEN];
                clock_iso8601(ms, iso);
                cJSON_ReplaceItemInObjectCaseSensitive(s, "next_attempt_at",
                                                       cJSON_CreateString(iso));
            }
        }
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        /* The page is still right without it: the rows say where each event stands. */
        log_kv(LOG_WARN, "list events: waiting not read", "error", reply->str, NULL);
    }
    http_reply_json(l->req, 200, l->page);
    events_listing_free(l);
}

static void events_list_waiting(struct events_listing *l)
{
    int n = 0;
    for (const cJSON *s = l->events->child; s != NULL; s = s->next) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
        if (cJSON_IsString(st) && events_is_pending(st->valuestring, true))
            n++;
    }
    if (n == 0) {
        http_reply_json(l->req, 200, l->page);
        events_listing_free(l);
        return;
    }
    /* EVAL script n key…: the page is at most 1000 events. */
    int argc = 3 + n;
    const char **argv = xcalloc((size_t)argc, sizeof(*argv));
    size_t *lens = xcalloc((size_t)argc, sizeof(*lens));
    char(*keys)[QUEUE_KEY_LEN] = xcalloc((size_t)n, sizeof(*keys));
    char count[16];
    snprintf(count, sizeof(count), "%d", n);
    argv[0] = "EVAL";
    argv[1] = events_lua_waiting;
    argv[2] = count;
    int i = 0;
    for (const cJSON *s = l->events->child; s != NULL && i < n; s = s->next) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(s, "id");
        if (!cJSON_IsString(st) || !events_is_pending(st->valuestring, true))
            continue;
        queue_key_job(&l->in->keys, cJSON_IsString(id) ? id->valuestring : "", keys[i],
                      QUEUE_KEY_LEN);
        argv[3 + i] = keys[i];
        i++;
    }
    for (int k = 0; k < argc; k++)
        lens[k] = strlen(argv[k]);
    l->n_pending = n;
    int rc = rconn_argv(l->in->redis, events_on_list_waiting, l, argc, argv, lens);
    free(keys);
    free(lens);
    free(argv);
    if (rc != 0)
        events_on_list_waiting(NULL, NULL, l);
}

static void events_list_query(void *arg, bool stopping)
{
    struct events_listing *l = arg;
    char err[HB_ERR_LEN];
    (void)stopping; /* SQLite alone answers */
    cJSON *o = cJSON_CreateObject();
    l->events = cJSON_AddArrayToObject(o, "events");
    /* `until` and `before` are both "id below": the lower of the two is the bound. */
    const char *below = l->before;
    if (l->until[0] != '\0' && (below == NULL || strcmp(l->until, below) < 0))
        below = l->until;
    /* One row more than the page: `next` only when there is something after it. */
    if (store_event_search(l->in->store, l->bridge_id, l->statuses[0] ? l->statuses : NULL, below,
                           l->since[0] ? l->since : NULL, l->q, (int)l->limit + 1, events_list_row,
                           l, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, "list events failed", "error", err, NULL);
        httpd_reply_json_error(l->req, 500, "internal", "the store failed; see the ingress log");
        goto out;
    }
    int n = cJSON_GetArraySize(l->events);
    const cJSON *last =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(l->events, n - 1), "id");
    if (l->extra != NULL && n > 0 && cJSON_IsString(last))
        cJSON_AddStringToObject(o, "next", last->valuestring);
    else
        cJSON_AddNullToObject(o, "next");
    l->page = o;
    events_list_waiting(l);
    return;
out:
    cJSON_Delete(o);
    events_listing_free(l);
}

/*
 * Add one `status` parameter's comma list to l->statuses, each name once: repeated
 * parameters and comma lists both mean the union. False for an unknown or empty name.
 */
static bool events_add_statuses(struct events_listing *l, const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        char name[16];
        enum event_status st;
        if (n >= sizeof(name))
            return false;
        memcpy(name, p, n);
        name[n] = '\0';
        if (event_status_parse(name, &st) != 0)
            return false;
        const char *known = event_status_name(st);
        /* Every name fits: the buffer holds all seven once with their commas. */
        bool seen = false;
        for (const char *q = l->statuses; *q != '\0';) {
            size_t m = strcspn(q, ",");
            seen = seen || (m == n && strncmp(q, known, n) == 0);
            q += m;
            if (*q == ',')
                q++;
        }
        if (!seen) {
            size_t used = strlen(l->statuses);
            snprintf(l->statuses + used, sizeof(l->statuses) - used, "%s%s", used ? "," : "",
                     known);
        }
        p += n;
        if (*p == '\0')
            return true;
        p++;
    }
}

/*
 * Every `status` parameter of the raw query into l->statuses: the parsed parameters keep
 * only the last of a repeated name, and `status=failed&status=retrying` means both.
 * False (after answering 400) for an unknown name.
 */
static bool events_query_statuses(struct events_listing *l, const char *q)
{
    size_t len = strlen(q);
    for (size_t i = 0; i < len;) {
        const char *p = q + i;
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char *buf = xmalloc(plen + 1);
        size_t kdec = text_form_decode(p, klen, buf);
        bool is_status = kdec == 6 && memcmp(buf, "status", 6) == 0;
        bool ok = true;
        if (is_status) {
            size_t vdec = eq ? text_form_decode(eq + 1, plen - klen - 1, buf) : 0;
            buf[vdec] = '\0';
            /* A NUL inside the value leaves a prefix that is not a valid list anyway. */
            ok = strlen(buf) == vdec && events_add_statuses(l, buf);
        }
        free(buf);
        if (!ok) {
            events_bad_param(l->req, "status must be one or more (comma list or repeated) of "
                                     "queued, scheduled, retrying, delivered, failed, "
                                     "filtered, aborted");
            return false;
        }
        i += plen + 1;
    }
    return true;
}

static int64_t events_days_from_civil(int64_t y, int m, int d)
{
    /* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int events_num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/*
 * An RFC 3339 date-time as an id bound (ids_time_bound) for its millisecond. Ids hold whole
 * milliseconds, so a finer fraction rounds up: "at or after" and "before" the instant then
 * still hold for every event. Times before 1970 clamp to 0.
 */
static bool events_parse_time(const char *s, char *out, size_t outlen)
{
    if (!jsonformat_date_time(s))
        return false;
    int64_t days =
        events_days_from_civil(events_num(s, 4), events_num(s + 5, 2), events_num(s + 8, 2));
    int64_t secs = days * 86400 + events_num(s + 11, 2) * 3600 + events_num(s + 14, 2) * 60 +
                   events_num(s + 17, 2);
    int64_t ms = 0;
    const char *p = s + 19;
    if (*p == '.') {
        int digits = 0;
        bool rest = false;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            else if (*p != '0')
                rest = true;
        }
        for (; digits < 3; digits++)
            ms *= 10;
        ms += rest;
    }
    if (*p == '+' || *p == '-') {
        int off = events_num(p + 1, 2) * 3600 + events_num(p + 4, 2) * 60;
        secs -= *p == '+' ? off : -off;
    }
    int64_t t = secs * 1000 + ms;
    ids_time_bound("evt_", t < 0 ? 0 : t, out, outlen);
    return true;
}

static void events_list(struct ingress *in, struct httpd_req *req)
{
    const char *q = httpd_req_query(req);
    struct events_listing *l = xcalloc(1, sizeof(*l));
    l->in = in;
    l->req = req;
    l->limit = 50;
    l->params = body_form_object(q ? q : "", q ? strlen(q) : 0);
    for (const cJSON *kv = l->params->child; kv != NULL; kv = kv->next) {
        char what[160];
        if (strcmp(kv->string, "bridge_id") == 0) {
            if (!ids_valid("brg_", kv->valuestring)) {
                events_bad_param(req, "bridge_id must be a bridge id (brg_…)");
                goto bad;
            }
            l->bridge_id = kv->valuestring;
        } else if (strcmp(kv->string, "status") == 0) {
            /* Read from the raw query below: here only the last one is left. */
        } else if (strcmp(kv->string, "limit") == 0) {
            if (!events_parse_limit(kv->valuestring, &l->limit)) {
                events_bad_param(req, "limit must be a whole number in 1..1000");
                goto bad;
            }
        } else if (strcmp(kv->string, "before") == 0) {
            if (!ids_valid("evt_", kv->valuestring)) {
                events_bad_param(req, "before must be an event id (evt_…)");
                goto bad;
            }
            l->before = kv->valuestring;
        } else if (strcmp(kv->string, "since") == 0 || strcmp(kv->string, "until") == 0) {
            bool since = kv->string[0] == 's';
            if (!events_parse_time(kv->valuestring, since ? l->since : l->until,
                                   sizeof(l->since))) {
                snprintf(what, sizeof(what),
                         "%s must be an RFC 3339 time such as 2026-12-03T09:00:00Z", kv->string);
                events_bad_param(req, what);
                goto bad;
            }
        } else if (strcmp(kv->string, "q") == 0) {
            size_t len = strlen(kv->valuestring);
            if (len > STORE_QUERY_MAX) {
                snprintf(what, sizeof(what), "q must be at most %d bytes", STORE_QUERY_MAX);
                events_bad_param(req, what);
                goto bad;
            }
            if (len > 0)
                l->q = kv->valuestring;
        } else {
            snprintf(what, sizeof(what), "unknown parameter '%.60s'", kv->string);
            events_bad_param(req, what);
            goto bad;
        }
    }
    if (!events_query_statuses(l, q ? q : ""))
        goto bad;
    /* Events accepted a moment ago may have no row yet: they get theirs first. */
    record_catch_up(in->redis, &in->keys, in->events, events_list_query, l);
    return;
bad:
    cJSON_Delete(l->params);
    free(l);
}

static void events_not_found(struct httpd_req *req, const char *id)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "event %.40s not found", id);
    httpd_reply_json_error(req, 404, "not_found", msg);
}

/* Called with one event's JSON (a new string it frees), for a GET or a replay. */
typedef void (*events_loaded_cb)(struct ingress *in, struct httpd_req *req, const char *id,
                                 char *json);

/* A load waiting for the job in Redis. */
struct events_peek {
    struct ingress *in;
    struct httpd_req *req;
    events_loaded_cb cb;
    char id[HB_ID_LEN];
};

/*
 * The event of a job that is in Redis with no row in SQLite yet (the ingress writes none:
 * common/record.h), printed from the job exactly as its row will be. Every job's final row
 * is committed before the job is deleted, so an event is always in one place or the other.
 */
static void events_on_peek(redisAsyncContext *ac, void *r, void *priv)
{
    struct events_peek *p = priv;
    redisReply *reply = r;
    (void)ac;
    char err[HB_ERR_LEN];
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements == 0) {
        /* No job: it may have ended since the store was read (its row is committed before
         * the job goes), so the row is read once more before answering 404. */
        char *json = NULL;
        if (store_event_get(p->in->store, p->id, &json, err, sizeof err) == 0)
            p->cb(p->in, p->req, p->id, json);
        else
            events_not_found(p->req, p->id);
        goto out;
    }
    const redisReply *due = reply->element[1];
    struct job j;
    if (job_from_reply(&j, p->id, reply->element[0], err, sizeof(err)) != 0) {
        log_kv(LOG_WARN, "job unreadable", "event_id", p->id, "error", err, NULL);
        events_not_found(p->req, p->id);
        goto out;
    }
    int64_t due_ms =
        due->type == REDIS_REPLY_STRING && due->len > 0 ? strtoll(due->str, NULL, 10) : 0;
    enum event_status status = event_status_waiting(&j, due_ms);
    char *json = event_json(&j, status, j.aborted ? 0 : due_ms, NULL, NULL);
    job_clear(&j);
    p->cb(p->in, p->req, p->id, json);
out:
    free(p);
}

/*
 * Load one event: its row, or its job when it has no row yet. `cb` gets it; a malformed or
 * unknown id is answered 404 and a failing store 500 here instead.
 */
static void events_load(struct ingress *in, struct httpd_req *req, const char *id,
                        events_loaded_cb cb)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    if (!ids_valid("evt_", id)) {
        events_not_found(req, id);
        return;
    }
    int rc = store_event_get(in->store, id, &json, err, sizeof err);
    if (rc == 0) {
        cb(in, req, id, json);
        return;
    }
    if (rc != STORE_NOTFOUND) {
        log_kv(LOG_ERROR, "read event failed", "event_id", id, "error", err, NULL);
        httpd_reply_json_error(req, 500, "internal", "the store failed; see the ingress log");
        return;
    }
    char key[QUEUE_KEY_LEN];
    queue_key_job(&in->keys, id, key, sizeof(key));
    struct events_peek *p = xcalloc(1, sizeof(*p));
    p->in = in;
    p->req = req;
    p->cb = cb;
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (rconn_cmd(in->redis, events_on_peek, p, "EVAL %s 2 %s %s %s", queue_lua_peek, key,
                  in->keys.scheduled, id) != 0) {
        free(p);
        events_not_found(req, id);
    }
}

/* Stored JSON is served as is: it was printed as JSON and needs no re-encoding. */
static void events_send(struct ingress *in, struct httpd_req *req, const char *id, char *json)
{
    (void)in;
    (void)id;
    httpd_reply(req, 200, "application/json", json, strlen(json));
    free(json);
}

static bool events_is_pending(const char *status, bool abort);

/* A GET waiting for what its job waits for. */
struct events_waiting {
    struct httpd_req *req;
    cJSON *ev;
    char *json;
};

/* The event as loaded, with "waiting" (and next_attempt_at, when the wait has an end) from
 * its job's hash: what flow control holds it for (common/flow.h). */
static void events_on_waiting(redisAsyncContext *ac, void *r, void *priv)
{
    struct events_waiting *w = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        cJSON_AddStringToObject(w->ev, "waiting", reply->element[0]->str);
        const redisReply *until = reply->element[1];
        int64_t ms = until->type == REDIS_REPLY_STRING ? strtoll(until->str, NULL, 10) : 0;
        if (ms > 0) {
            char iso[CLOCK_ISO_LEN];
            clock_iso8601(ms, iso);
            cJSON_ReplaceItemInObjectCaseSensitive(w->ev, "next_attempt_at",
                                                   cJSON_CreateString(iso));
        }
        http_reply_json(w->req, 200, w->ev);
    } else {
        httpd_reply(w->req, 200, "application/json", w->json, strlen(w->json));
    }
    cJSON_Delete(w->ev);
    free(w->json);
    free(w);
}

static void events_send_live(struct ingress *in, struct httpd_req *req, const char *id, char *json)
{
    cJSON *ev = cJSON_Parse(json);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev, "status");
    if (!cJSON_IsString(st) || !events_is_pending(st->valuestring, true)) {
        cJSON_Delete(ev);
        events_send(in, req, id, json);
        return;
    }
    char key[QUEUE_KEY_LEN];
    queue_key_job(&in->keys, id, key, sizeof(key));
    struct events_waiting *w = xcalloc(1, sizeof(*w));
    w->req = req;
    w->ev = ev;
    w->json = json;
    if (rconn_cmd(in->redis, events_on_waiting, w, "HMGET %s waiting wait_until", key) != 0)
        events_on_waiting(NULL, NULL, w);
}

static void events_get(struct ingress *in, struct httpd_req *req, const char *id)
{
    events_load(in, req, id, events_send_live);
}

/*
 * The `route` query parameter of a replay, abort or retry: 0 with *route NULL when absent,
 * 0 with a new string, or -1 after answering 400 for a malformed name.
 */
static int events_route_param(struct httpd_req *req, char **route)
{
    *route = NULL;
    const char *q = httpd_req_query(req);
    if (q == NULL || *q == '\0')
        return 0;
    cJSON *o = event_query_object(q);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "route");
    int rc = 0;
    if (r != NULL && (!cJSON_IsString(r) || !route_name_valid(r->valuestring))) {
        httpd_reply_json_error(req, 400, "invalid_parameter",
                               "route: must be a route name (1..64 of a-z, 0-9, '_' and '-')");
        rc = -1;
    } else if (r != NULL) {
        *route = xstrdup(r->valuestring);
    }
    cJSON_Delete(o);
    return rc;
}

/*
 * Whether `route` is a route of the event: one of its deliveries, else (no delivery
 * recorded yet) one of its bridge's routes, or "default" for a bridge without routes.
 * *status gets the delivery's status, or the event's. *whole is set when the route is the
 * implicit default one, which stands for the whole event.
 */
static bool events_route_known(struct ingress *in, const cJSON *ev, const char *route,
                               const char **status, bool *whole)
{
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(ev, "deliveries");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev, "status");
    *status = cJSON_IsString(st) ? st->valuestring : "";
    *whole = false;
    for (const cJSON *d = cJSON_IsArray(dl) ? dl->child : NULL; d != NULL; d = d->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "route");
        const cJSON *dst = cJSON_GetObjectItemCaseSensitive(d, "status");
        if (cJSON_IsString(name) && strcmp(name->valuestring, route) == 0) {
            *status = cJSON_IsString(dst) ? dst->valuestring : "";
            return true;
        }
    }
    if (cJSON_IsArray(dl))
        return false;
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(ev, "bridge_id");
    char err[HB_ERR_LEN], *bjson = NULL;
    struct bridge *b = NULL;
    bool known = false;
    if (cJSON_IsString(bid) &&
        store_bridge_get(in->store, bid->valuestring, &bjson, err, sizeof err) == 0 &&
        bridge_from_store(bjson, &b, err, sizeof(err)) == 0) {
        if (b->has_routes)
            known = bridge_route(b, route) != NULL;
        else
            known = *whole = strcmp(route, ROUTE_DEFAULT_NAME) == 0;
    }
    bridge_free(b);
    free(bjson);
    return known;
}

static void events_route_not_found(struct httpd_req *req, const char *id, const char *route)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "event %.40s has no route %.64s", id, route);
    httpd_reply_json_error(req, 404, "route_not_found", msg);
}

/* A replay waiting for Redis. */
struct events_replay {
    struct ingress *in;
    struct httpd_req *req;
    struct job job;
};

static void events_on_replayed(enum enqueue_result res, const char *id, const char *why, void *arg)
{
    struct events_replay *r = arg;
    (void)id;
    if (res != ENQUEUE_OK) {
        log_kv(LOG_WARN, "replay: enqueue failed", "event_id", r->job.replay_of, "error", why,
               NULL);
        httpd_reply_header(r->req, "Retry-After", "5");
        httpd_reply_json_error(r->req, 503, "queue_unavailable",
                               "the queue is unavailable; retry later");
        goto out;
    }
    /* Like any accepted event, its row is written from its job (common/record.h). */
    log_kv(LOG_INFO, "event replayed", "event_id", r->job.id, "replay_of", r->job.replay_of,
           "bridge_id", r->job.bridge_id, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event_id", r->job.id);
    cJSON_AddStringToObject(o, "status", event_status_name(EVENT_STATUS_QUEUED));
    cJSON_AddStringToObject(o, "replay_of", r->job.replay_of);
    http_reply_json(r->req, 202, o);
    cJSON_Delete(o);
out:
    job_clear(&r->job);
    free(r);
}

/*
 * POST /api/events/{id}/replay: the original inbound request, as a new event (with
 * replay_of) through the bridge's current configuration, queued now. Inbound checks (auth,
 * schema) are not run again: the request passed them when it first arrived.
 */
static void events_replay_loaded(struct ingress *in, struct httpd_req *req, const char *id,
                                 char *json)
{
    char err[HB_ERR_LEN], msg[160];
    char *bjson = NULL;
    cJSON *ev = NULL;
    if ((ev = cJSON_Parse(json)) == NULL) {
        log_kv(LOG_ERROR, "replay: stored event is not json", "event_id", id, NULL);
        httpd_reply_json_error(req, 500, "internal", "the store failed; see the ingress log");
        goto out;
    }
    char *route = NULL;
    if (events_route_param(req, &route) != 0)
        goto out;
    struct events_replay *r = xcalloc(1, sizeof(*r));
    r->in = in;
    r->req = req;
    r->job.only_route = NULL;
    if (event_request_to_job(ev, &r->job, err, sizeof(err)) != 0) {
        free(route);
        httpd_reply_json_error(req, 409, "not_replayable", err);
        free(r);
        goto out;
    }
    int rc = store_bridge_get(in->store, r->job.bridge_id, &bjson, err, sizeof err);
    if (rc != 0) {
        if (rc == STORE_NOTFOUND) {
            snprintf(msg, sizeof(msg), "bridge %.40s of this event no longer exists",
                     r->job.bridge_id);
            httpd_reply_json_error(req, 409, "bridge_not_found", msg);
        } else {
            httpd_reply_json_error(req, 500, "internal", "the store failed; see the ingress log");
        }
        job_clear(&r->job);
        free(r);
        free(route);
        goto out;
    }
    if (route != NULL) {
        /* One route of a bridge with routes; "default" of one without is the whole event. */
        struct bridge *b = NULL;
        bool known = false, whole = false;
        if (bridge_from_store(bjson, &b, err, sizeof(err)) == 0) {
            known = b->has_routes ? bridge_route(b, route) != NULL
                                  : (whole = strcmp(route, ROUTE_DEFAULT_NAME) == 0);
        }
        bridge_free(b);
        if (!known) {
            snprintf(msg, sizeof(msg), "the bridge of event %.40s has no route %.64s", id, route);
            httpd_reply_json_error(req, 404, "route_not_found", msg);
            job_clear(&r->job);
            free(r);
            free(route);
            goto out;
        }
        if (!whole)
            r->job.only_route = route;
        else
            free(route);
    }
    r->job.received_ms = clock_now_ms();
    ids_new("evt_", r->job.received_ms, r->job.id, sizeof(r->job.id));
    free(r->job.replay_of);
    r->job.replay_of = xstrdup(id);
    if (enqueue_job(in, &r->job, 0, NULL, events_on_replayed, r) != 0) {
        httpd_reply_header(req, "Retry-After", "5");
        httpd_reply_json_error(req, 503, "queue_unavailable",
                               "the queue is unavailable; retry later");
        job_clear(&r->job);
        free(r);
    }
out:
    cJSON_Delete(ev);
    free(json);
    free(bjson);
}

static void events_replay(struct ingress *in, struct httpd_req *req, const char *id)
{
    events_load(in, req, id, events_replay_loaded);
}

/* An abort or a retry of one event waiting for Redis. */
struct events_act {
    struct httpd_req *req;
    cJSON *ev; /* the event as loaded */
    bool abort;
    char id[HB_ID_LEN];
    char route[ROUTE_NAME_MAX + 1]; /* "" for the whole event */
};

static bool events_is_pending(const char *status, bool abort)
{
    enum event_status st;
    if (event_status_parse(status, &st) != 0)
        return false;
    switch (st) {
    case EVENT_STATUS_SCHEDULED:
    case EVENT_STATUS_RETRYING:
        return true;
    case EVENT_STATUS_QUEUED:
        return abort;
    case EVENT_STATUS_DELIVERED:
    case EVENT_STATUS_FAILED:
    case EVENT_STATUS_FILTERED:
    case EVENT_STATUS_ABORTED:
        return false;
    }
    return false;
}

static void events_act_refused(struct events_act *a, const char *status)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "event %.40s is %.20s: only a %s event can be %s", a->id, status,
             a->abort ? "queued, scheduled or retrying" : "scheduled or retrying",
             a->abort ? "aborted" : "retried");
    httpd_reply_json_error(a->req, 409, a->abort ? "not_abortable" : "not_retryable", msg);
}

static void events_on_act(redisAsyncContext *ac, void *r, void *priv)
{
    struct events_act *a = priv;
    redisReply *reply = r;
    (void)ac;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(a->ev, "status");
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_kv(LOG_ERROR, a->abort ? "abort event failed" : "retry event failed", "event_id", a->id,
               "error", reply ? reply->str : "no connection", NULL);
        httpd_reply_json_error(a->req, 503, "unavailable", "Redis failed; see the ingress log");
    } else if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        /* It became final, went on the wire or was aborted since it was loaded. */
        events_act_refused(a, cJSON_IsString(st) ? st->valuestring : "final");
    } else if (a->abort && a->route[0] != '\0') {
        log_kv(LOG_INFO, "event route aborted", "event_id", a->id, "route", a->route, NULL);
        event_apply_route(a->ev, a->route, NULL, EVENT_STATUS_ABORTED, NULL, NULL, 0);
        http_reply_json(a->req, 200, a->ev);
    } else if (a->abort) {
        log_kv(LOG_INFO, "event aborted", "event_id", a->id, NULL);
        cJSON_ReplaceItemInObjectCaseSensitive(
            a->ev, "status", cJSON_CreateString(event_status_name(EVENT_STATUS_ABORTED)));
        http_reply_json(a->req, 200, a->ev);
    } else {
        log_kv(LOG_INFO, "event retried now", "event_id", a->id, "route",
               a->route[0] ? a->route : NULL, NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "event_id", a->id);
        cJSON_AddStringToObject(o, "status", event_status_name(EVENT_STATUS_QUEUED));
        http_reply_json(a->req, 202, o);
        cJSON_Delete(o);
    }
    cJSON_Delete(a->ev);
    free(a);
}

static void events_act_loaded(struct ingress *in, struct httpd_req *req, const char *id, char *json,
                              bool abort)
{
    struct events_act *a = xcalloc(1, sizeof(*a));
    a->req = req;
    a->abort = abort;
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->ev = cJSON_Parse(json);
    free(json);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(a->ev, "status");
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(a->ev, "bridge_id");
    if (!cJSON_IsString(st) || !cJSON_IsString(bid)) {
        log_kv(LOG_ERROR, "stored event is not readable", "event_id", id, NULL);
        httpd_reply_json_error(req, 500, "internal", "the stored event is unreadable");
        goto fail;
    }
    char *route = NULL;
    const char *status = st->valuestring;
    if (events_route_param(req, &route) != 0)
        goto fail;
    if (route != NULL) {
        bool whole = false;
        if (!events_route_known(in, a->ev, route, &status, &whole)) {
            events_route_not_found(req, id, route);
            free(route);
            goto fail;
        }
        if (!whole)
            snprintf(a->route, sizeof(a->route), "%s", route);
        free(route);
    }
    if (!events_is_pending(status, abort)) {
        events_act_refused(a, status);
        goto fail;
    }
    char job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    queue_key_job(&in->keys, id, job, sizeof(job));
    queue_key_pending(&in->keys, bid->valuestring, pending, sizeof(pending));
    int rc = abort ? rconn_cmd(in->redis, events_on_act, a, "EVAL %s 4 %s %s %s %s %s %s",
                               queue_lua_abort_one, job, pending, in->keys.scheduled,
                               in->keys.ready, id, a->route)
                   : rconn_cmd(in->redis, events_on_act, a, "EVAL %s 3 %s %s %s %s %s",
                               queue_lua_retry_now, job, in->keys.scheduled, in->keys.ready, id,
                               a->route);
    if (rc != 0) {
        httpd_reply_json_error(req, 503, "unavailable", "Redis is unreachable");
        goto fail;
    }
    return;
fail:
    cJSON_Delete(a->ev);
    free(a);
}

static void events_abort_loaded(struct ingress *in, struct httpd_req *req, const char *id,
                                char *json)
{
    events_act_loaded(in, req, id, json, true);
}

static void events_retry_loaded(struct ingress *in, struct httpd_req *req, const char *id,
                                char *json)
{
    events_act_loaded(in, req, id, json, false);
}

void admin_events_handle(struct ingress *in, struct httpd_req *req, const char **segs, int nseg)
{
    const char *cmd = httpd_req_method(req);
    if (nseg == 2 && strcmp(segs[1], "replay") == 0) {
        admin_replay_handle(in, req);
        return;
    }
    if (nseg == 1 || nseg == 2) {
        if (strcmp(cmd, "GET") != 0) {
            httpd_reply_header(req, "Allow", "GET");
            httpd_reply_json_error(req, 405, "method_not_allowed",
                                   "method not allowed on this route");
        } else if (nseg == 1) {
            events_list(in, req);
        } else {
            events_get(in, req, segs[1]);
        }
        return;
    }
    if (nseg == 3 && (strcmp(segs[2], "replay") == 0 || strcmp(segs[2], "abort") == 0 ||
                      strcmp(segs[2], "retry") == 0)) {
        if (strcmp(cmd, "POST") != 0) {
            httpd_reply_header(req, "Allow", "POST");
            httpd_reply_json_error(req, 405, "method_not_allowed",
                                   "method not allowed on this route");
        } else if (segs[2][1] == 'e' && segs[2][2] == 'p') {
            events_replay(in, req, segs[1]);
        } else {
            events_load(in, req, segs[1],
                        segs[2][0] == 'a' ? events_abort_loaded : events_retry_loaded);
        }
        return;
    }
    httpd_reply_json_error(req, 404, "not_found", "no such route");
}

bool admin_time_bound(const char *s, char *out, size_t outlen)
{
    return events_parse_time(s, out, outlen);
}

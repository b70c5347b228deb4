/*
 * admin_bridges.c - /api/bridges…: create, list, read, PATCH-merge, delete, activate and
 * deactivate bridges, and abort their pending events.
 *
 * Validation lives in common/bridge.c; this file maps HTTP to it and to the store. Abort
 * never scans the queue: each bridge's pending ids are kept in their own Redis set (see
 * common/queue.h), so aborting one bridge's 100,000 events among a million others touches
 * those 100,000 only, a batch per script call, and then marks their rows with one indexed
 * UPDATE per batch.
 */
#include "admin.h"

#include "bcache.h"
#include "body.h"
#include "bridge.h"
#include "clock.h"
#include "evwriter.h"
#include "flow.h"
#include "hb.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "route.h"
#include "store.h"
#include "xalloc.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bridges_internal(struct httpd_req *req, const char *what, const char *err)
{
    log_kv(LOG_ERROR, "admin store error", "what", what, "error", err, NULL);
    httpd_reply_json_error(req, 500, "internal", "the store failed; see the ingress log");
}

static void bridges_not_found(struct httpd_req *req, const char *id)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "bridge %.40s not found", id);
    httpd_reply_json_error(req, 404, "not_found", msg);
}

static void bridges_invalid(struct httpd_req *req, const char *field, const char *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "invalid_bridge");
    char *msg = field[0] ? xasprintf("%s: %s", field, err) : xstrdup(err);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "field", field);
    http_reply_json(req, 400, o);
    cJSON_Delete(o);
    free(msg);
}

static void bridges_method_not_allowed(struct httpd_req *req, const char *allow)
{
    httpd_reply_header(req, "Allow", allow);
    httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
}

static void bridges_reply(struct ingress *in, struct httpd_req *req, int code,
                          const struct bridge *b)
{
    cJSON *o = bridge_to_api(b, in->cfg.public_url);
    http_reply_json(req, code, o);
    cJSON_Delete(o);
}

/* Load a bridge; replies 404/500 itself and returns NULL when it cannot. */
static struct bridge *bridges_load(struct ingress *in, struct httpd_req *req, const char *id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    struct bridge *b = NULL;
    if (!ids_valid("brg_", id)) {
        bridges_not_found(req, id);
        return NULL;
    }
    int rc = store_bridge_get(in->store, id, &json, err, sizeof err);
    if (rc == STORE_NOTFOUND) {
        bridges_not_found(req, id);
        return NULL;
    }
    if (rc != 0 || bridge_from_store(json, &b, err, sizeof(err)) != 0) {
        bridges_internal(req, "load bridge", err);
        free(json);
        return NULL;
    }
    free(json);
    return b;
}

static int bridges_save(struct ingress *in, const struct bridge *b, bool create, char *err)
{
    char *json = bridge_to_store(b);
    int rc = create ? store_bridge_insert(in->store, b->id, b->endpoint, json, err, HB_ERR_LEN)
                    : store_bridge_update(in->store, b->id, json, err, HB_ERR_LEN);
    free(json);
    /* The next request must see the change, not a cached bridge. */
    bcache_forget(in->bridges);
    return rc;
}

static void bridges_create(struct ingress *in, struct httpd_req *req)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *b = NULL;
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        return;
    if (bridge_from_api(body, NULL, in->cfg.secret_key, &b, field, sizeof(field), err,
                        sizeof(err)) != 0) {
        bridges_invalid(req, field, err);
        goto out;
    }
    if (bridges_save(in, b, true, err) != 0) {
        bridges_internal(req, "insert bridge", err);
        goto out;
    }
    log_kv(LOG_INFO, "bridge created", "bridge_id", b->id, NULL);
    bridges_reply(in, req, 201, b);
out:
    bridge_free(b);
    cJSON_Delete(body);
}

struct bridges_list {
    cJSON *arr;
    const char *public_url;
};

static int bridges_list_row(const char *json, void *arg)
{
    struct bridges_list *l = arg;
    char err[HB_ERR_LEN];
    struct bridge *b = NULL;
    if (bridge_from_store(json, &b, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "unreadable bridge row skipped", "error", err, NULL);
        return 0;
    }
    cJSON_AddItemToArray(l->arr, bridge_to_api(b, l->public_url));
    bridge_free(b);
    return 0;
}

static void bridges_bad_param(struct httpd_req *req, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s; allowed parameters: limit, before, q", what);
    httpd_reply_json_error(req, 400, "invalid_parameter", msg);
}

static const char *bridges_id_of(const cJSON *b)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "id");
    return cJSON_IsString(id) ? id->valuestring : "";
}

static void bridges_count_one(const char *status, int64_t count, void *arg)
{
    cJSON_ReplaceItemInObjectCaseSensitive(arg, status, cJSON_CreateNumber((double)count));
}

/*
 * "counts_24h" on each listed bridge: its events received in the last 24 hours by status,
 * every status present (0 when none), for the console's bridges page. Events accepted a
 * moment ago and not yet written (common/record.h) are counted once they are.
 */
static int bridges_add_counts(struct ingress *in, cJSON *arr, char *err)
{
    static const char *const statuses[] = {"queued", "scheduled", "retrying", "delivered",
                                           "failed", "filtered",  "aborted"};
    char since[HB_ID_LEN];
    ids_time_bound("evt_", clock_now_ms() - 24 * 3600 * 1000LL, since, sizeof(since));
    cJSON *b;
    cJSON_ArrayForEach(b, arr)
    {
        cJSON *counts = cJSON_AddObjectToObject(b, "counts_24h");
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
            cJSON_AddNumberToObject(counts, statuses[i], 0);
        if (store_event_counts_since(in->store, bridges_id_of(b), since, bridges_count_one, counts,
                                     err, HB_ERR_LEN) != 0)
            return -1;
    }
    return 0;
}

/* Newest first: ids are ULIDs, so the newest has the greatest id. */
static int bridges_newest_first(const void *a, const void *b)
{
    return strcmp(bridges_id_of(*(const cJSON *const *)b), bridges_id_of(*(const cJSON *const *)a));
}

/*
 * GET /api/bridges: without parameters every bridge, in creation order, as always. With
 * limit, before or q: a page, newest first, of the bridges whose name holds q (ignoring
 * case) and whose id sorts below `before`, with "next" the cursor of the following page or
 * null. Bridges are few (each is a configuration someone wrote), so the page is cut from
 * the whole list here rather than in SQL.
 */
static void bridges_list(struct ingress *in, struct httpd_req *req)
{
    char err[HB_ERR_LEN];
    const char *query = httpd_req_query(req);
    cJSON *params = body_form_object(query ? query : "", query ? strlen(query) : 0);
    const char *before = NULL, *q = NULL;
    long limit = 50;
    bool paged = false;
    cJSON *o = NULL;
    for (const cJSON *kv = params->child; kv != NULL; kv = kv->next) {
        paged = true;
        if (strcmp(kv->string, "limit") == 0) {
            char *end;
            const char *v = kv->valuestring;
            limit = (v[0] >= '0' && v[0] <= '9') ? strtol(v, &end, 10) : 0;
            if (limit < 1 || limit > 1000 || *end != '\0' || strlen(v) > 4) {
                bridges_bad_param(req, "limit must be a whole number in 1..1000");
                goto out;
            }
        } else if (strcmp(kv->string, "before") == 0) {
            if (!ids_valid("brg_", kv->valuestring)) {
                bridges_bad_param(req, "before must be a bridge id (brg_…)");
                goto out;
            }
            before = kv->valuestring;
        } else if (strcmp(kv->string, "q") == 0) {
            q = kv->valuestring;
        } else {
            char what[128];
            snprintf(what, sizeof(what), "unknown parameter '%.60s'", kv->string);
            bridges_bad_param(req, what);
            goto out;
        }
    }
    o = cJSON_CreateObject();
    struct bridges_list l = {cJSON_AddArrayToObject(o, "bridges"), in->cfg.public_url};
    if (store_bridge_list(in->store, bridges_list_row, &l, err, sizeof err) != 0) {
        bridges_internal(req, "list bridges", err);
        goto out;
    }
    if (!paged) {
        if (bridges_add_counts(in, l.arr, err) != 0) {
            bridges_internal(req, "count events", err);
            goto out;
        }
        http_reply_json(req, 200, o);
        goto out;
    }
    int n = cJSON_GetArraySize(l.arr);
    cJSON **all = xcalloc((size_t)n + 1, sizeof(*all));
    int kept = 0;
    while (l.arr->child != NULL) {
        cJSON *b = cJSON_DetachItemViaPointer(l.arr, l.arr->child);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        bool match = (before == NULL || strcmp(bridges_id_of(b), before) < 0) &&
                     (q == NULL || q[0] == '\0' ||
                      (cJSON_IsString(name) && strcasestr(name->valuestring, q) != NULL));
        if (match)
            all[kept++] = b;
        else
            cJSON_Delete(b);
    }
    qsort(all, (size_t)kept, sizeof(*all), bridges_newest_first);
    for (int i = 0; i < kept; i++) {
        if (i < limit)
            cJSON_AddItemToArray(l.arr, all[i]);
        else
            cJSON_Delete(all[i]);
    }
    if (kept > limit)
        cJSON_AddStringToObject(o, "next", bridges_id_of(all[limit - 1]));
    else
        cJSON_AddNullToObject(o, "next");
    free(all);
    if (bridges_add_counts(in, l.arr, err) != 0) {
        bridges_internal(req, "count events", err);
        goto out;
    }
    http_reply_json(req, 200, o);
out:
    cJSON_Delete(o);
    cJSON_Delete(params);
}

static void bridges_patch(struct ingress *in, struct httpd_req *req, const char *id)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *merged = NULL;
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        goto out;
    if (bridge_from_api(body, b, in->cfg.secret_key, &merged, field, sizeof(field), err,
                        sizeof(err)) != 0) {
        bridges_invalid(req, field, err);
        goto out;
    }
    if (bridges_save(in, merged, false, err) != 0) {
        bridges_internal(req, "update bridge", err);
        goto out;
    }
    bridges_reply(in, req, 200, merged);
out:
    cJSON_Delete(body);
    bridge_free(merged);
    bridge_free(b);
}

static void bridges_set_active(struct ingress *in, struct httpd_req *req, const char *id,
                               bool active)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *merged = NULL;
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddBoolToObject(patch, "active", active);
    if (bridge_from_api(patch, b, in->cfg.secret_key, &merged, field, sizeof(field), err,
                        sizeof(err)) != 0 ||
        bridges_save(in, merged, false, err) != 0) {
        bridges_internal(req, "activate bridge", err);
        goto out;
    }
    log_kv(LOG_INFO, active ? "bridge activated" : "bridge deactivated", "bridge_id", id, NULL);
    bridges_reply(in, req, 200, merged);
out:
    cJSON_Delete(patch);
    bridge_free(merged);
    bridge_free(b);
}

/* A pause or resume waiting for Redis. */
struct bridges_pause {
    struct ingress *in;
    struct httpd_req *req;
    char id[HB_ID_LEN];
    bool pause;
};

/*
 * The workers' gate reads the paused set in Redis (common/flow.h); the bridge row keeps the
 * same state for the API. Redis first: a pause answered 200 holds from the next attempt on.
 * A resume only takes the bridge out of the set: the workers' sweep releases its parked
 * jobs in order, a batch at a time, so neither Redis nor this loop stalls on a big backlog.
 */
static void bridges_on_pause(redisAsyncContext *ac, void *r, void *priv)
{
    struct bridges_pause *p = priv;
    redisReply *reply = r;
    char err[HB_ERR_LEN];
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        httpd_reply_header(p->req, "Retry-After", "5");
        httpd_reply_json_error(p->req, 503, "queue_unavailable",
                               "the queue is unavailable; retry later");
        free(p);
        return;
    }
    struct bridge *b = bridges_load(p->in, p->req, p->id);
    if (b != NULL) {
        b->paused = p->pause;
        if (bridges_save(p->in, b, false, err) != 0) {
            bridges_internal(p->req, "pause bridge", err);
        } else {
            log_kv(LOG_INFO, p->pause ? "bridge deliveries paused" : "bridge deliveries resumed",
                   "bridge_id", p->id, NULL);
            bridges_reply(p->in, p->req, 200, b);
        }
    }
    bridge_free(b);
    free(p);
}

/* POST /api/bridges/{id}/pause and /resume. */
static void bridges_pause(struct ingress *in, struct httpd_req *req, const char *id, bool pause)
{
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    bridge_free(b);
    char key[QUEUE_KEY_LEN];
    flow_key_paused_set(in->keys.prefix, key, sizeof(key));
    struct bridges_pause *p = xcalloc(1, sizeof(*p));
    p->in = in;
    p->req = req;
    p->pause = pause;
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (rconn_cmd(in->redis, bridges_on_pause, p, "%s %s %s", pause ? "SADD" : "SREM", key, id) !=
        0)
        bridges_on_pause(NULL, NULL, p);
}

/* Rows marked per SQLite statement; between batches the loop serves other requests. */
#define BRIDGES_ABORT_ROWS 2000

/*
 * Abort one route of a bridge with routes, in two phases of batches. First the bridge's
 * pending set (SSCAN from cursor ARGV[3]): each job gets that route marked "aborted/route".
 * An entry "evt_…/route" of that route is taken out of the pending set and moved from
 * scheduled to ready, so that a worker records the delivery aborted soon, as an abort of
 * one event's route does (queue_lua_abort_one). An event not yet fanned out (its entry the
 * bare id) is only marked: fanning out then queues that route's entry at once, to be
 * recorded aborted. Other routes' entries are left as they are. Then (cursor "drain") the
 * route's own wait lists (open circuit, concurrency, fairness: only its entries are there)
 * are moved to ready, or an open circuit would hold the aborted deliveries unrecorded for
 * open_seconds. Returns {next cursor ("drain" after the set, "0" when done), deliveries
 * aborted}. KEYS: pending set, scheduled, ready; ARGV: prefix, route, cursor, batch, bridge.
 */
static const char bridges_lua_abort_route[] =
    "local batch, tail, n = tonumber(ARGV[4]), '/' .. ARGV[2], 0\n"
    "if ARGV[3] == 'drain' then\n"
    "  local moved = 0\n"
    "  for _, what in ipairs({'circuit', 'concurrency', 'fair'}) do\n"
    "    local list = ARGV[1] .. 'flow:wait:' .. ARGV[5] .. ':' .. ARGV[2] .. ':' .. what\n"
    "    while moved < batch do\n"
    "      local e = redis.call('LMOVE', list, KEYS[3], 'RIGHT', 'LEFT')\n"
    "      if not e then break end\n"
    "      moved = moved + 1\n"
    "      local s = string.find(e, '/', 1, true)\n"
    "      redis.call('HDEL', ARGV[1] .. 'job:' .. string.sub(e, 1, (s or #e + 1) - 1),\n"
    "                 'waiting', 'wait_until')\n"
    "    end\n"
    "  end\n"
    "  if moved >= batch then return {'drain', 0} end\n"
    "  return {'0', 0}\n"
    "end\n"
    "local r = redis.call('SSCAN', KEYS[1], ARGV[3], 'COUNT', batch)\n"
    "local function mark(job)\n"
    "  return redis.call('EXISTS', job) == 1 and redis.call('HEXISTS', job, 'aborted') == 0\n"
    "         and redis.call('HSETNX', job, 'aborted' .. tail, '1') == 1\n"
    "end\n"
    "for _, e in ipairs(r[2]) do\n"
    "  if string.sub(e, -#tail) == tail then\n"
    "    redis.call('SREM', KEYS[1], e)\n"
    "    if mark(ARGV[1] .. 'job:' .. string.sub(e, 1, #e - #tail)) then\n"
    "      n = n + 1\n"
    "      if redis.call('ZREM', KEYS[2], e) == 1 then\n"
    "        redis.call('LPUSH', KEYS[3], e)\n"
    "      end\n"
    "    end\n"
    "  elseif not string.find(e, '/', 1, true) and mark(ARGV[1] .. 'job:' .. e) then\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "if r[1] == '0' then return {'drain', n} end\n"
    "return {r[1], n}\n";

/* An abort (or a DELETE, which aborts first) in progress. */
struct bridges_abort {
    struct ingress *in;
    struct httpd_req *req;
    char id[HB_ID_LEN];
    char pending_key[QUEUE_KEY_LEN];
    long long popped; /* ids taken from the pending set: the count answered */
    bool delete_after;
    char route[ROUTE_NAME_MAX + 1]; /* one route of a bridge with routes, else "" */
    char cursor[24];                /* its SSCAN cursor, then "drain" (bridges_lua_abort_route) */
    struct event *step;
};

static void bridges_abort_finish(struct bridges_abort *a)
{
    char err[HB_ERR_LEN];
    if (a->delete_after) {
        int rc = store_bridge_delete(a->in->store, a->id, err, sizeof err);
        bcache_forget(a->in->bridges);
        if (rc != 0 && rc != STORE_NOTFOUND) {
            bridges_internal(a->req, "delete bridge", err);
            goto out;
        }
        log_kv(LOG_INFO, "bridge deleted", "bridge_id", a->id, NULL);
        httpd_reply(a->req, 204, NULL, NULL, 0);
    } else {
        char n[24];
        snprintf(n, sizeof(n), "%lld", a->popped);
        log_kv(LOG_INFO, "bridge events aborted", "bridge_id", a->id, "aborted", n, NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "aborted", (double)a->popped);
        http_reply_json(a->req, 200, o);
        cJSON_Delete(o);
    }
out:
    event_free(a->step);
    free(a);
}

/* One batch of rows marked aborted; goes on from the loop until none is left. */
static void bridges_abort_rows(evutil_socket_t fd, short what, void *arg)
{
    struct bridges_abort *a = arg;
    char err[HB_ERR_LEN];
    int changed = 0;
    (void)fd;
    (void)what;
    if (store_event_abort_pending(a->in->store, a->id, BRIDGES_ABORT_ROWS, &changed, err,
                                  sizeof err) != 0) {
        bridges_internal(a->req, "abort events", err);
        event_free(a->step);
        free(a);
        return;
    }
    if (changed == BRIDGES_ABORT_ROWS) {
        struct timeval now = {0, 0};
        evtimer_add(a->step, &now);
        return;
    }
    bridges_abort_finish(a);
}

static void bridges_abort_redis(struct bridges_abort *a);

/* Answer 503 (the client retries the abort) and end it. */
static void bridges_abort_unavailable(struct bridges_abort *a, const char *message)
{
    httpd_reply_header(a->req, "Retry-After", "5");
    httpd_reply_json_error(a->req, 503, "queue_unavailable", message);
    event_free(a->step);
    free(a);
}

static void bridges_abort_on_flushed(void *arg, enum evwriter_flushed res)
{
    struct bridges_abort *a = arg;
    if (res == EVWRITER_CANCELLED) {
        /* The process is stopping: no loop is left to mark the rows in batches. The ids
         * taken are marked in Redis, so workers record those jobs aborted. */
        bridges_abort_unavailable(a, "the ingress is stopping; retry the abort later");
        return;
    }
    /* Timed out (SQLite busy for 5 s): mark the rows that are there rather than fail the
     * abort, whose jobs are already marked in Redis; a row the writer commits after this
     * may keep the status it was written with. */
    bridges_abort_rows(-1, 0, a);
}

static void bridges_on_abort_batch(redisAsyncContext *ac, void *r, void *priv)
{
    struct bridges_abort *a = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        log_kv(LOG_WARN, "abort: redis failed", "bridge_id", a->id, "error",
               reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "connection lost", NULL);
        if (!a->delete_after) {
            /* Ids already popped are marked in Redis; workers record them as they come. */
            bridges_abort_unavailable(a, "the queue is unavailable; retry the abort later");
            return;
        }
        /* A DELETE goes on: workers find no bridge and record its jobs aborted. */
    } else {
        a->popped += reply->integer;
        if (reply->integer >= QUEUE_ABORT_BATCH) {
            bridges_abort_redis(a);
            return;
        }
    }
    /* Rows this process wrote for a reader a moment ago must be committed before they are
     * marked; jobs without a row are marked in Redis, and their rows say "aborted". Waited
     * for from the loop, which a blocking flush would stall for up to 5 s. */
    evwriter_flush_then(a->in->events, bridges_abort_on_flushed, a);
}

/* A batch of one route's abort done: on to the next, or answer. */
static void bridges_on_abort_route_batch(redisAsyncContext *ac, void *r, void *priv)
{
    struct bridges_abort *a = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        log_kv(LOG_WARN, "abort route: redis failed", "bridge_id", a->id, "route", a->route,
               "error", reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "connection lost",
               NULL);
        /* Deliveries already marked are recorded aborted by the workers; another abort
         * marks the rest. */
        bridges_abort_unavailable(a, "the queue is unavailable; retry the abort later");
        return;
    }
    a->popped += reply->element[1]->integer;
    snprintf(a->cursor, sizeof(a->cursor), "%s", reply->element[0]->str);
    if (strcmp(a->cursor, "0") != 0) {
        bridges_abort_redis(a);
        return;
    }
    /* No row is marked here: each marked job is in the ready list or in flight (or parked
     * by flow control), and the worker that takes it records that route's delivery
     * aborted and derives the event's status, as for POST /api/events/{id}/abort?route=. */
    char n[24];
    snprintf(n, sizeof(n), "%lld", a->popped);
    log_kv(LOG_INFO, "bridge route deliveries aborted", "bridge_id", a->id, "route", a->route,
           "aborted", n, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "aborted", (double)a->popped);
    http_reply_json(a->req, 200, o);
    cJSON_Delete(o);
    event_free(a->step);
    free(a);
}

static void bridges_abort_redis(struct bridges_abort *a)
{
    char batch[16];
    snprintf(batch, sizeof(batch), "%d", QUEUE_ABORT_BATCH);
    const struct queue_keys *k = &a->in->keys;
    if (a->route[0] != '\0') {
        if (rconn_cmd(a->in->redis, bridges_on_abort_route_batch, a,
                      "EVAL %s 3 %s %s %s %s %s %s %s %s", bridges_lua_abort_route, a->pending_key,
                      k->scheduled, k->ready, k->prefix, a->route, a->cursor, batch, a->id) != 0)
            bridges_on_abort_route_batch(NULL, NULL, a);
        return;
    }
    if (rconn_cmd(a->in->redis, bridges_on_abort_batch, a, "EVAL %s 3 %s %s %s %s %s",
                  queue_lua_abort, a->pending_key, k->scheduled, k->ready, k->prefix, batch) != 0)
        bridges_on_abort_batch(NULL, NULL, a);
}

/*
 * The `route` of POST /api/bridges/{id}/abort?route=name, checked against bridge `b`: 0
 * with route[0] = '\0' for the whole bridge (no parameter, or "default" on a bridge without
 * routes), 0 with the route's name, or -1 after answering 400 or 404.
 */
static int bridges_abort_route_param(struct httpd_req *req, const struct bridge *b, char *route,
                                     size_t routelen)
{
    route[0] = '\0';
    const char *q = httpd_req_query(req);
    if (q == NULL || *q == '\0')
        return 0;
    cJSON *o = body_form_object(q, strlen(q));
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "route");
    int rc = 0;
    if (r == NULL) {
        rc = 0;
    } else if (!cJSON_IsString(r) || !route_name_valid(r->valuestring)) {
        httpd_reply_json_error(req, 400, "invalid_parameter",
                               "route: must be a route name (1..64 of a-z, 0-9, '_' and '-')");
        rc = -1;
    } else if (!b->has_routes) {
        if (strcmp(r->valuestring, "default") != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "bridge %.40s has no route %.64s (only \"default\")", b->id,
                     r->valuestring);
            httpd_reply_json_error(req, 404, "route_not_found", msg);
            rc = -1;
        }
    } else {
        bool known = false;
        for (size_t i = 0; i < b->n_routes && !known; i++)
            known = strcmp(b->routes[i].name, r->valuestring) == 0;
        if (known) {
            snprintf(route, routelen, "%s", r->valuestring);
        } else {
            char msg[200];
            snprintf(msg, sizeof(msg), "bridge %.40s has no route %.64s", b->id, r->valuestring);
            httpd_reply_json_error(req, 404, "route_not_found", msg);
            rc = -1;
        }
    }
    cJSON_Delete(o);
    return rc;
}

/* POST /api/bridges/{id}/abort, and the first half of DELETE /api/bridges/{id}. */
static void bridges_abort(struct ingress *in, struct httpd_req *req, const char *id,
                          bool delete_after)
{
    char err[HB_ERR_LEN];
    char route[ROUTE_NAME_MAX + 1] = "";
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    if (!delete_after && bridges_abort_route_param(req, b, route, sizeof(route)) != 0) {
        bridge_free(b);
        return;
    }
    /* Deactivate before deleting, so no new event arrives while the pending ones are being
     * aborted; its senders get 503 and retry, then 404 once it is gone. */
    if (delete_after && b->paused) {
        /* Its parked jobs are released, to be recorded aborted: the bridge is gone. */
        char key[QUEUE_KEY_LEN];
        flow_key_paused_set(in->keys.prefix, key, sizeof(key));
        rconn_cmd(in->redis, NULL, NULL, "SREM %s %s", key, id);
    }
    if (delete_after && b->active) {
        b->active = false;
        if (bridges_save(in, b, false, err) != 0)
            log_kv(LOG_WARN, "delete: deactivating first failed", "bridge_id", id, "error", err,
                   NULL);
    }
    bridge_free(b);
    struct bridges_abort *a = xcalloc(1, sizeof(*a));
    a->in = in;
    a->req = req;
    a->delete_after = delete_after;
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->route, sizeof(a->route), "%s", route);
    snprintf(a->cursor, sizeof(a->cursor), "0");
    queue_key_pending(&in->keys, id, a->pending_key, sizeof(a->pending_key));
    a->step = evtimer_new(in->base, bridges_abort_rows, a);
    bridges_abort_redis(a);
}

void admin_bridges_handle(struct ingress *in, struct httpd_req *req, const char **segs, int nseg)
{
    const char *cmd = httpd_req_method(req);
    if (nseg == 1) {
        if (strcmp(cmd, "POST") == 0)
            bridges_create(in, req);
        else if (strcmp(cmd, "GET") == 0)
            bridges_list(in, req);
        else
            bridges_method_not_allowed(req, "GET, POST");
        return;
    }
    const char *id = segs[1];
    if (nseg == 2) {
        if (strcmp(cmd, "GET") == 0) {
            struct bridge *b = bridges_load(in, req, id);
            if (b != NULL)
                bridges_reply(in, req, 200, b);
            bridge_free(b);
        } else if (strcmp(cmd, "PATCH") == 0) {
            bridges_patch(in, req, id);
        } else if (strcmp(cmd, "DELETE") == 0) {
            bridges_abort(in, req, id, true);
        } else {
            bridges_method_not_allowed(req, "GET, PATCH, DELETE");
        }
        return;
    }
    if (nseg == 3 && (strcmp(segs[2], "activate") == 0 || strcmp(segs[2], "deactivate") == 0)) {
        if (strcmp(cmd, "POST") != 0)
            bridges_method_not_allowed(req, "POST");
        else
            bridges_set_active(in, req, id, strcmp(segs[2], "activate") == 0);
        return;
    }
    if (nseg == 3 && (strcmp(segs[2], "pause") == 0 || strcmp(segs[2], "resume") == 0)) {
        if (strcmp(cmd, "POST") != 0)
            bridges_method_not_allowed(req, "POST");
        else
            bridges_pause(in, req, id, strcmp(segs[2], "pause") == 0);
        return;
    }
    if (nseg == 3 && strcmp(segs[2], "abort") == 0) {
        if (strcmp(cmd, "POST") != 0)
            bridges_method_not_allowed(req, "POST");
        else
            bridges_abort(in, req, id, false);
        return;
    }
    httpd_reply_json_error(req, 404, "not_found", "no such route");
}

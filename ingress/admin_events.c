/*
 * admin_events.c - /api/events…: list event summaries, read one whole event.
 *
 * Events this process accepted moments ago may still sit in the batch writer; every read
 * flushes it first, so an event is visible from the moment of its 202.
 */
#include "admin.h"

#include "event.h"
#include "evwriter.h"
#include "hb.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_ALLOWED "allowed parameters: bridge_id, status, limit, before"

static const char *const events_statuses[] = {"queued", "scheduled", "retrying", "delivered",
                                              "failed", "filtered",  "aborted"};

static void events_bad_param(struct evhttp_request *req, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s; %s", what, EVENTS_ALLOWED);
    http_reply_error(req, 400, "invalid_parameter", msg);
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

static int events_list_row(const char *json, void *arg)
{
    cJSON *arr = arg;
    cJSON *ev = cJSON_Parse(json);
    if (ev == NULL) {
        /* One damaged row should not hide the others; the log says it exists. */
        log_kv(LOG_ERROR, "unreadable event row skipped", NULL);
        return 0;
    }
    cJSON_AddItemToArray(arr, event_summary(ev));
    cJSON_Delete(ev);
    return 0;
}

static void events_list(struct ingress *in, struct evhttp_request *req)
{
    char err[HB_ERR_LEN];
    const char *bridge_id = NULL, *status = NULL, *before = NULL;
    long limit = 50;
    struct evkeyvalq params;
    params.tqh_first = NULL;
    params.tqh_last = &params.tqh_first;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (q != NULL && evhttp_parse_query_str(q, &params) != 0) {
        events_bad_param(req, "malformed query string");
        return;
    }
    for (struct evkeyval *kv = params.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        char what[160];
        if (strcmp(kv->key, "bridge_id") == 0) {
            if (!ids_valid("brg_", kv->value)) {
                events_bad_param(req, "bridge_id must be a bridge id (brg_…)");
                goto out;
            }
            bridge_id = kv->value;
        } else if (strcmp(kv->key, "status") == 0) {
            bool ok = false;
            for (size_t i = 0; i < sizeof(events_statuses) / sizeof(events_statuses[0]); i++)
                ok = ok || strcmp(kv->value, events_statuses[i]) == 0;
            if (!ok) {
                events_bad_param(req, "status must be one of queued, scheduled, retrying, "
                                      "delivered, failed, filtered, aborted");
                goto out;
            }
            status = kv->value;
        } else if (strcmp(kv->key, "limit") == 0) {
            if (!events_parse_limit(kv->value, &limit)) {
                events_bad_param(req, "limit must be a whole number in 1..1000");
                goto out;
            }
        } else if (strcmp(kv->key, "before") == 0) {
            if (!ids_valid("evt_", kv->value)) {
                events_bad_param(req, "before must be an event id (evt_…)");
                goto out;
            }
            before = kv->value;
        } else {
            snprintf(what, sizeof(what), "unknown parameter '%.60s'", kv->key);
            events_bad_param(req, what);
            goto out;
        }
    }
    evwriter_flush(in->events);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "events");
    if (store_event_list(in->store, bridge_id, status, before, (int)limit, events_list_row, arr,
                         err) != 0) {
        log_kv(LOG_ERROR, "list events failed", "error", err, NULL);
        http_reply_error(req, 500, "internal", "the store failed; see the ingress log");
        cJSON_Delete(o);
        goto out;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == limit && n > 0) {
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, n - 1), "id");
        if (cJSON_IsString(last))
            cJSON_AddStringToObject(o, "next", last->valuestring);
        else
            cJSON_AddNullToObject(o, "next");
    } else {
        cJSON_AddNullToObject(o, "next");
    }
    http_reply_json(req, 200, o);
    cJSON_Delete(o);
out:
    evhttp_clear_headers(&params);
}

static void events_get(struct ingress *in, struct evhttp_request *req, const char *id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    char msg[128];
    snprintf(msg, sizeof(msg), "event %.40s not found", id);
    if (!ids_valid("evt_", id)) {
        http_reply_error(req, 404, "not_found", msg);
        return;
    }
    evwriter_flush(in->events);
    int rc = store_event_get(in->store, id, &json, err);
    if (rc == STORE_NOTFOUND) {
        http_reply_error(req, 404, "not_found", msg);
        return;
    }
    if (rc != 0) {
        log_kv(LOG_ERROR, "read event failed", "event_id", id, "error", err, NULL);
        http_reply_error(req, 500, "internal", "the store failed; see the ingress log");
        return;
    }
    /* Stored JSON is served as is: it was built by cJSON and needs no re-encoding. */
    http_reply_raw(req, 200, "application/json", json, strlen(json));
    free(json);
}

void admin_events_handle(struct ingress *in, struct evhttp_request *req, const char **segs,
                         int nseg)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (nseg == 1 || nseg == 2) {
        if (cmd != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
            http_reply_error(req, 405, "method_not_allowed", "method not allowed on this route");
        } else if (nseg == 1) {
            events_list(in, req);
        } else {
            events_get(in, req, segs[1]);
        }
        return;
    }
    if (nseg == 3 && strcmp(segs[2], "replay") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            http_reply_error(req, 405, "method_not_allowed", "method not allowed on this route");
        } else {
            /* Issue 3 builds replay; until then say so rather than pretend. */
            http_reply_error(req, 501, "not_implemented", "replay is not available yet");
        }
        return;
    }
    http_reply_error(req, 404, "not_found", "no such route");
}

/*
 * event.c - building the event JSON (see event.h) from a job and from delivery outcomes.
 *
 * Bodies arrive as arbitrary bytes, but an event must stay valid JSON text: a body is kept
 * as parsed JSON when it is strict JSON (so that it reads back as it was), as a string when
 * it is other UTF-8 text, and base64-encoded otherwise, so that no input can corrupt the
 * stored event or the API answer showing it.
 */
#include "event.h"

#include "body.h"
#include "clock.h"
#include "dynbuf.h"
#include "hb.h"
#include "text.h"
#include "utf8.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings for JSON from decoded input that may hold anything. */
static cJSON *event_string(const char *s, size_t len)
{
    char *clean = utf8_sanitize(s, len, false);
    cJSON *v = cJSON_CreateString(clean);
    free(clean);
    return v;
}

static cJSON *event_iso_or_null(int64_t ms)
{
    if (ms == 0)
        return cJSON_CreateNull();
    char iso[CLOCK_ISO_LEN];
    clock_iso8601(ms, iso);
    return cJSON_CreateString(iso);
}

/*
 * Whether a body is kept in the event as parsed JSON: strict JSON (body_check_json: at most
 * BODY_MAX_DEPTH deep, no duplicate keys) that is not a string and has no \u0000, which
 * cJSON would cut a string at. Anything else is kept as text, so that every stored event
 * reads back with cJSON as it was received: a body nested 999 deep, stored parsed, put
 * the event past cJSON's nesting limit and made it unreadable.
 */
static bool event_body_is_json(const char *body, size_t len)
{
    static const struct body_json_check strict = {.flags = BODY_JSON_NO_NUL};
    char err[HB_ERR_LEN];
    bool is_string = true;
    return len > 0 && body_check_json_opts(body, len, &strict, &is_string, err, sizeof(err)) &&
           !is_string;
}

/* Add "body" (and for binary bodies "body_base64") to the request object. A body that is
 * not kept as JSON (event_body_is_json) is kept as its text, quotes included for a JSON
 * string, so that a string in "body" always means text as received (a replay sends it back
 * unchanged). */
static void event_add_body(cJSON *req, const char *body, size_t len)
{
    if (body == NULL || len == 0) {
        cJSON_AddNullToObject(req, "body");
        return;
    }
    if (utf8_valid(body, len, false)) {
        /* The body need not be NUL-terminated; cJSON's require_null_terminated then makes
         * sure the whole body is one JSON value, not a JSON prefix followed by text. */
        char *copy = xstrndup(body, len);
        cJSON *json = event_body_is_json(body, len)
                          ? cJSON_ParseWithLengthOpts(copy, len + 1, NULL, true)
                          : NULL;
        if (json != NULL)
            cJSON_AddItemToObject(req, "body", json);
        else
            cJSON_AddStringToObject(req, "body", copy);
        free(copy);
        return;
    }
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = xmalloc(b64len);
    sodium_bin2base64(b64, b64len, (const unsigned char *)body, len,
                      sodium_base64_VARIANT_ORIGINAL);
    cJSON_AddNullToObject(req, "body");
    cJSON_AddStringToObject(req, "body_base64", b64);
    free(b64);
}

/* The inbound headers as stored in the job; anything but a JSON object shows as {}. */
static cJSON *event_headers(const char *headers_json)
{
    cJSON *h = headers_json ? cJSON_Parse(headers_json) : NULL;
    if (!cJSON_IsObject(h)) {
        cJSON_Delete(h);
        h = cJSON_CreateObject();
    }
    return h;
}

cJSON *event_from_job(const struct job *j, enum event_status status, int64_t next_attempt_ms)
{
    char iso[CLOCK_ISO_LEN];
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "id", j->id);
    cJSON_AddStringToObject(ev, "bridge_id", j->bridge_id);
    cJSON_AddStringToObject(ev, "status", event_status_name(status));
    clock_iso8601(j->received_ms, iso);
    cJSON_AddStringToObject(ev, "received_at", iso);

    cJSON *req = cJSON_AddObjectToObject(ev, "request");
    cJSON_AddItemToObject(
        req, "method", event_string(j->method ? j->method : "", j->method ? strlen(j->method) : 0));
    cJSON_AddItemToObject(req, "path",
                          event_string(j->path ? j->path : "", j->path ? strlen(j->path) : 0));
    cJSON_AddItemToObject(req, "query", event_query_object(j->query));
    cJSON_AddItemToObject(req, "headers", event_headers(j->headers_json));
    event_add_body(req, j->body, j->body_len);

    cJSON_AddNullToObject(ev, "outbound");
    cJSON_AddArrayToObject(ev, "attempts");
    cJSON_AddItemToObject(ev, "next_attempt_at", event_iso_or_null(next_attempt_ms));
    if (j->replay_of != NULL && j->replay_of[0] != '\0')
        cJSON_AddStringToObject(ev, "replay_of", j->replay_of);
    else
        cJSON_AddNullToObject(ev, "replay_of");
    return ev;
}

/* Append `lead` and then s as a JSON string; false when s is not valid UTF-8 (the cJSON
 * path cleans it) or the buffer is full. */
static bool event_put_str(struct dynbuf *b, const char *lead, const char *s)
{
    if (!utf8_valid(s, strlen(s), false))
        return false;
    return text_json_put_dynbuf(b, lead, s) == 0;
}

/* event_json_trusted, with the outbound request and one attempt (JSON texts, or NULL for
 * null and none) copied in. */
static char *event_print(const struct job *j, enum event_status st, int64_t next_attempt_ms,
                         const char *outbound, const char *attempt)
{
    const char *status = event_status_name(st);
    const char *method = j->method ? j->method : "", *path = j->path ? j->path : "";
    const char *replay = j->replay_of ? j->replay_of : "";
    const char *headers = j->headers_json && j->headers_json[0] ? j->headers_json : "{}";
    char *query = NULL;
    if (j->query != NULL && j->query[0] != '\0') {
        cJSON *q = event_query_object(j->query);
        query = cJSON_PrintUnformatted(q);
        cJSON_Delete(q);
    }
    char received[CLOCK_ISO_LEN], next[CLOCK_ISO_LEN];
    clock_iso8601(j->received_ms, received);
    if (next_attempt_ms != 0)
        clock_iso8601(next_attempt_ms, next);
    size_t room =
        512 + strlen(headers) + j->body_len + (query ? strlen(query) : 2) +
        (outbound ? strlen(outbound) : 0) + (attempt ? strlen(attempt) : 0) +
        TEXT_JSON_QUOTE_MAX(strlen(method) + strlen(path) + strlen(replay) + strlen(status));
    struct dynbuf b;
    dynbuf_init(&b, room);
    /* Ids are ours (a prefix and ULID letters) and the times ISO digits; the rest is
     * quoted. Any add that fails empties the buffer, so one check at the end suffices. */
    bool ok =
        dynbuf_addstr(&b, "{\"id\":\"") == 0 && dynbuf_addstr(&b, j->id) == 0 &&
        dynbuf_addstr(&b, "\",\"bridge_id\":\"") == 0 && dynbuf_addstr(&b, j->bridge_id) == 0 &&
        dynbuf_addc(&b, '"') == 0 && event_put_str(&b, ",\"status\":", status) &&
        dynbuf_addstr(&b, ",\"received_at\":\"") == 0 && dynbuf_addstr(&b, received) == 0 &&
        dynbuf_addstr(&b, "\",\"request\":{") == 0 && event_put_str(&b, "\"method\":", method) &&
        event_put_str(&b, ",\"path\":", path) && dynbuf_addstr(&b, ",\"query\":") == 0 &&
        dynbuf_addstr(&b, query ? query : "{}") == 0 && dynbuf_addstr(&b, ",\"headers\":") == 0 &&
        dynbuf_addstr(&b, headers) == 0 && dynbuf_addstr(&b, ",\"body\":") == 0 &&
        dynbuf_add(&b, j->body, j->body_len) == 0 && dynbuf_addstr(&b, "},\"outbound\":") == 0 &&
        dynbuf_addstr(&b, outbound ? outbound : "null") == 0 &&
        dynbuf_addstr(&b, ",\"attempts\":[") == 0 &&
        dynbuf_addstr(&b, attempt ? attempt : "") == 0 &&
        dynbuf_addstr(&b, "],\"next_attempt_at\":") == 0;
    if (ok && next_attempt_ms != 0)
        ok = dynbuf_addc(&b, '"') == 0 && dynbuf_addstr(&b, next) == 0 && dynbuf_addc(&b, '"') == 0;
    else if (ok)
        ok = dynbuf_addstr(&b, "null") == 0;
    ok = ok && dynbuf_addstr(&b, ",\"replay_of\":") == 0;
    if (ok && replay[0] == '\0')
        ok = dynbuf_addstr(&b, "null") == 0;
    else if (ok)
        ok = event_put_str(&b, "", replay);
    ok = ok && dynbuf_addc(&b, '}') == 0;
    free(query);
    if (!ok) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_take(&b, NULL);
}

char *event_json_trusted(const struct job *j, enum event_status status, int64_t next_attempt_ms)
{
    return event_print(j, status, next_attempt_ms, NULL, NULL);
}

char *event_json(const struct job *j, enum event_status status, int64_t next_attempt_ms,
                 const char *outbound_json, const char *attempt_json)
{
    if (event_body_is_json(j->body, j->body_len)) {
        char *s = event_print(j, status, next_attempt_ms, outbound_json, attempt_json);
        if (s != NULL)
            return s;
    }
    cJSON *ev = event_from_job(j, status, next_attempt_ms);
    if (outbound_json != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(ev, "outbound", cJSON_Parse(outbound_json));
    if (attempt_json != NULL)
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(ev, "attempts"),
                             cJSON_Parse(attempt_json));
    char *s = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return s;
}

enum event_status event_status_waiting(const struct job *j, int64_t due_ms)
{
    if (j->aborted)
        return EVENT_STATUS_ABORTED;
    if (due_ms != 0)
        return j->attempts > 0 ? EVENT_STATUS_RETRYING : EVENT_STATUS_SCHEDULED;
    return EVENT_STATUS_QUEUED;
}

/* The delivery of `name` in `dl`, or NULL. */
static cJSON *event_delivery(cJSON *dl, const char *name, size_t len)
{
    for (cJSON *d = dl->child; d != NULL; d = d->next) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(d, "route");
        if (cJSON_IsString(r) && strlen(r->valuestring) == len &&
            memcmp(r->valuestring, name, len) == 0)
            return d;
    }
    return NULL;
}

static cJSON *event_delivery_add(cJSON *dl, const char *name, size_t len)
{
    cJSON *d = cJSON_CreateObject();
    char *copy = xstrndup(name, len);
    cJSON_AddStringToObject(d, "route", copy);
    free(copy);
    cJSON_AddStringToObject(d, "status", event_status_name(EVENT_STATUS_QUEUED));
    cJSON_AddNullToObject(d, "outbound");
    cJSON_AddArrayToObject(d, "attempts");
    cJSON_AddNullToObject(d, "next_attempt_at");
    cJSON_AddItemToArray(dl, d);
    return d;
}

static void event_set(cJSON *o, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

enum event_status event_apply_route(cJSON *ev, const char *route, const char *routes_csv,
                                    enum event_status status, const char *attempt_json,
                                    const char *outbound_json, int64_t next_attempt_ms)
{
    cJSON *dl = cJSON_GetObjectItemCaseSensitive(ev, "deliveries");
    if (!cJSON_IsArray(dl)) {
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "deliveries");
        dl = cJSON_AddArrayToObject(ev, "deliveries");
    }
    for (const char *p = routes_csv ? routes_csv : ""; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n > 0 && event_delivery(dl, p, n) == NULL)
            event_delivery_add(dl, p, n);
        p += n;
        if (*p == ',')
            p++;
    }
    cJSON *d = event_delivery(dl, route, strlen(route));
    if (d == NULL)
        d = event_delivery_add(dl, route, strlen(route));
    event_set(d, "status", cJSON_CreateString(event_status_name(status)));
    if (outbound_json != NULL) {
        cJSON *o = cJSON_Parse(outbound_json);
        event_set(d, "outbound", o ? o : cJSON_CreateNull());
    }
    cJSON *attempts = cJSON_GetObjectItemCaseSensitive(d, "attempts");
    if (!cJSON_IsArray(attempts)) {
        attempts = cJSON_CreateArray();
        event_set(d, "attempts", attempts);
    }
    if (attempt_json != NULL) {
        cJSON *a = cJSON_Parse(attempt_json);
        if (a != NULL)
            cJSON_AddItemToArray(attempts, a);
    }
    event_set(d, "next_attempt_at", event_iso_or_null(next_attempt_ms));

    size_t n = (size_t)cJSON_GetArraySize(dl), i = 0;
    enum event_status *st = xcalloc(n ? n : 1, sizeof(*st));
    for (const cJSON *x = dl->child; x != NULL; x = x->next, i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(x, "status");
        if (!cJSON_IsString(s) || event_status_parse(s->valuestring, &st[i]) != 0)
            st[i] = EVENT_STATUS_QUEUED;
    }
    enum event_status derived = event_status_derive(st, n);
    free(st);
    event_set(ev, "status", cJSON_CreateString(event_status_name(derived)));
    /* The top level shows the first route, as events without routes always did. */
    const cJSON *first = dl->child;
    static const char *const mirrored[] = {"outbound", "attempts", "next_attempt_at"};
    for (size_t k = 0; k < sizeof(mirrored) / sizeof(mirrored[0]); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(first, mirrored[k]);
        event_set(ev, mirrored[k], v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
    }
    return derived;
}

cJSON *event_attempt(int n, int64_t started_ms, long duration_ms, int http_status,
                     const char *error, const cJSON *resp_headers, const char *body,
                     size_t body_len, bool truncated)
{
    char iso[CLOCK_ISO_LEN];
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "n", n);
    clock_iso8601(started_ms, iso);
    cJSON_AddStringToObject(a, "started_at", iso);
    cJSON_AddNumberToObject(a, "duration_ms", (double)duration_ms);
    /* 0 means no HTTP answer (transport error, timeout). */
    if (http_status > 0)
        cJSON_AddNumberToObject(a, "status", http_status);
    else
        cJSON_AddNullToObject(a, "status");
    if (error != NULL)
        cJSON_AddItemToObject(a, "error", event_string(error, strlen(error)));
    else
        cJSON_AddNullToObject(a, "error");

    cJSON *resp = cJSON_AddObjectToObject(a, "response");
    cJSON_AddItemToObject(
        resp, "headers", resp_headers ? cJSON_Duplicate(resp_headers, true) : cJSON_CreateObject());
    if (body == NULL)
        body_len = 0;
    if (body_len > HB_RESPONSE_BODY_MAX) {
        body_len = HB_RESPONSE_BODY_MAX;
        truncated = true;
    }
    char *clean = utf8_sanitize(body ? body : "", body_len, truncated);
    cJSON_AddStringToObject(resp, "body", clean);
    free(clean);
    cJSON_AddBoolToObject(resp, "truncated", truncated);
    return a;
}

/* A copy of event[key], or null when it is absent. */
static cJSON *event_copy_item(const cJSON *event, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(event, key);
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

cJSON *event_summary(const cJSON *event)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "id", event_copy_item(event, "id"));
    cJSON_AddItemToObject(s, "bridge_id", event_copy_item(event, "bridge_id"));
    cJSON_AddItemToObject(s, "status", event_copy_item(event, "status"));
    cJSON_AddItemToObject(s, "received_at", event_copy_item(event, "received_at"));
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(event, "attempts");
    int count = cJSON_IsArray(attempts) ? cJSON_GetArraySize(attempts) : 0;
    cJSON_AddNumberToObject(s, "attempts", count);
    const cJSON *last = count > 0 ? cJSON_GetArrayItem(attempts, count - 1) : NULL;
    cJSON_AddItemToObject(s, "last_status", event_copy_item(last, "status"));
    cJSON_AddItemToObject(s, "next_attempt_at", event_copy_item(event, "next_attempt_at"));
    cJSON_AddItemToObject(s, "replay_of", event_copy_item(event, "replay_of"));
    return s;
}

cJSON *event_query_object(const char *query)
{
    return body_form_object(query ? query : "", query ? strlen(query) : 0);
}

/* Append s percent-encoded (all but RFC 3986 unreserved characters) to a growing buffer. */
static void event_pct_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*len + 4 > *cap) {
            *cap = *cap * 2 + 64;
            *buf = xrealloc(*buf, *cap);
        }
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            (*buf)[(*len)++] = (char)*c;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[*c >> 4];
            (*buf)[(*len)++] = hex[*c & 15];
        }
    }
    (*buf)[*len] = '\0';
}

static char *event_query_string(const cJSON *query)
{
    size_t len = 0, cap = 64;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    for (const cJSON *q = cJSON_IsObject(query) ? query->child : NULL; q != NULL; q = q->next) {
        if (!cJSON_IsString(q))
            continue;
        if (len + 2 > cap) {
            cap = cap * 2 + 64;
            buf = xrealloc(buf, cap);
        }
        if (len > 0)
            buf[len++] = '&';
        buf[len] = '\0';
        event_pct_append(&buf, &len, &cap, q->string);
        if (len + 2 > cap) {
            cap = cap * 2 + 64;
            buf = xrealloc(buf, cap);
        }
        buf[len++] = '=';
        buf[len] = '\0';
        event_pct_append(&buf, &len, &cap, q->valuestring);
    }
    return buf;
}

static char *event_str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return xstrdup(cJSON_IsString(v) ? v->valuestring : "");
}

int event_request_to_job(const cJSON *event, struct job *j, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(event, "bridge_id");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(event, "request");
    if (!cJSON_IsString(bid) || strlen(bid->valuestring) >= sizeof(j->bridge_id) ||
        !cJSON_IsObject(req)) {
        snprintf(err, errlen, "the event has no stored request to replay");
        return -1;
    }
    snprintf(j->bridge_id, sizeof(j->bridge_id), "%s", bid->valuestring);
    j->method = event_str_member(req, "method");
    j->path = event_str_member(req, "path");
    j->query = event_query_string(cJSON_GetObjectItemCaseSensitive(req, "query"));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(req, "headers");
    j->headers_json = cJSON_IsObject(h) ? cJSON_PrintUnformatted(h) : xstrdup("{}");
    const cJSON *ct =
        cJSON_IsObject(h) ? cJSON_GetObjectItemCaseSensitive(h, "content-type") : NULL;
    j->content_type = xstrdup(cJSON_IsString(ct) ? ct->valuestring : "");

    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(req, "body_base64");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(req, "body");
    if (cJSON_IsString(b64)) {
        size_t blen = strlen(b64->valuestring);
        unsigned char *bin = xmalloc(blen + 1);
        size_t n = 0;
        if (sodium_base642bin(bin, blen, b64->valuestring, blen, NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
            free(bin);
            snprintf(err, errlen, "the event's stored body_base64 is damaged");
            job_clear(j);
            return -1;
        }
        bin[n] = '\0';
        j->body = (char *)bin;
        j->body_len = n;
    } else if (body == NULL || cJSON_IsNull(body)) {
        j->body = xstrdup("");
    } else if (cJSON_IsString(body)) {
        /* Text is stored as received (event_add_body never stores a JSON string parsed). */
        j->body = xstrdup(body->valuestring);
    } else {
        j->body = cJSON_PrintUnformatted(body);
    }
    if (j->body_len == 0)
        j->body_len = strlen(j->body);
    j->replay_of = xstrdup("");
    return 0;
}

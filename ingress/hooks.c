/*
 * hooks.c - ANY /hooks/{endpoint}: accept an inbound webhook (see hooks.h).
 *
 * The checks run in a fixed order (endpoint, size, active, auth, JSON, schema,
 * idempotency: hooks_request) and the first that fails answers; nothing is queued
 * unless all pass. The job then goes to Redis in one atomic transaction (enqueue.c) and the
 * 202 is sent from its reply; a dropped link or an error reply answers 503 instead, and the
 * sender retries. No SQLite write: the event's row is made from its job (common/record.h).
 */
#include "hooks.h"

#include "health.h"
#include "auth.h"
#include "bcache.h"
#include "body.h"
#include "bridge.h"
#include "clock.h"
#include "enqueue.h"
#include "event_status.h"
#include "event.h"
#include "http.h"
#include "ids.h"
#include "inbound.h"
#include "ingress.h"
#include "job.h"
#include "jsonschema.h"
#include "log.h"
#include "mail_in.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"
#include "source.h"
#include "store.h"
#include "text.h"
#include "xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest Idempotency-Key accepted; a longer one is a 400. */
#define HOOKS_IDEM_MAX 255
/* Validation errors listed in one 400: enough to fix a payload, bounded for hostile ones. */
#define HOOKS_MAX_DETAILS 20
/* Events one split request may make: one script in Redis, kept to milliseconds. */
#define HOOKS_SPLIT_MAX 1000

/* One inbound request waiting for Redis's answer. */
struct hooks_pending {
    struct ingress *in;
    struct httpd_req *req;
    bool custom; /* the xero preset or a response override answers */
    char endpoint[HB_ENDPOINT_LEN + 1];
    bool batch;        /* went through enqueue_batch: the answer is a record */
    bool dedup_reject; /* a dedup duplicate is a 409 */
    struct job *split; /* the split's jobs (nsplit), or NULL */
    size_t nsplit;
    struct job job;
    int64_t due_ms; /* first attempt time when scheduled (a delay), else 0 */
    int64_t started_mono;
};

int hooks_pending(void)
{
    return enqueue_pending();
}

/* Count the answer (common/metrics.h: summed locally, added to Redis in batches) and log
 * it. */
static void hooks_log(struct ingress *in, struct httpd_req *req, const char *bridge_id,
                      const char *event_id, int status, int64_t started_mono, const char *why)
{
    /* "requests|{bridge}|{status}", without snprintf: this runs for every request. */
    char field[METRICS_FIELD_LEN], st[24], dur[24];
    const char *bid = bridge_id ? bridge_id : "-";
    size_t bl = strlen(bid), sl = text_u64(st, (uint64_t)(status > 0 ? status : 0));
    if (9 + bl + 1 + sl < sizeof(field)) {
        memcpy(field, "requests|", 9);
        memcpy(field + 9, bid, bl);
        field[9 + bl] = '|';
        memcpy(field + 10 + bl, st, sl + 1);
        metrics_add(in->metrics, field, 1);
    }
    if (!log_enabled(LOG_INFO))
        return;
    int64_t took = clock_mono_ms() - started_mono;
    text_u64(dur, (uint64_t)(took > 0 ? took : 0));
    log_kv(LOG_INFO, "inbound request", "method", httpd_req_method(req), "bridge_id", bridge_id,
           "event_id", event_id, "status", st, "duration_ms", dur, "error", why, NULL);
}

static void hooks_error(struct ingress *in, struct httpd_req *req, int code, const char *error,
                        const char *message, const char *bridge_id, int64_t started)
{
    hooks_log(in, req, bridge_id, NULL, code, started, error);
    httpd_reply_json_error(req, code, error, message);
}

static void hooks_unavailable(struct ingress *in, struct httpd_req *req, const char *bridge_id,
                              int64_t started)
{
    httpd_reply_header(req, "Retry-After", "5");
    hooks_error(in, req, 503, "queue_unavailable", "the queue is unavailable; retry later",
                bridge_id, started);
}

/* True for a header whose value is a credential: Redis and the store get "[redacted]". */
static bool hooks_header_secret(const char *name, const char *credential_header)
{
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "proxy-authorization") == 0 ||
           strcasecmp(name, "cookie") == 0 ||
           (credential_header != NULL && strcasecmp(name, credential_header) == 0);
}

/*
 * Inbound headers as a JSON object with lower-cased names. Credentials (Authorization,
 * cookies, and the header the bridge's auth reads) are redacted here, so that neither
 * Redis nor the event store ever hold them.
 */
static char *hooks_headers_json(struct httpd_req *req, const char *credential_header)
{
    /* Printed straight, as every request needs it: names lower-cased, each name once, with
     * the values of a repeated header joined by ", " as HTTP allows for list fields. */
    static const char redacted[] = "[redacted]";
    const char *key, *value;
    size_t count = 0, room = 3;
    for (; httpd_req_header_at(req, count, &key, &value); count++)
        room += TEXT_JSON_QUOTE_MAX(strlen(key)) + 1 + TEXT_JSON_QUOTE_MAX(strlen(value)) +
                sizeof(redacted) + 4;
    char *out = xmalloc(room), *o = out;
    *o++ = '{';
    for (size_t i = 0; i < count; i++) {
        httpd_req_header_at(req, i, &key, &value);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            const char *earlier, *v;
            httpd_req_header_at(req, k, &earlier, &v);
            seen = strcasecmp(earlier, key) == 0;
        }
        if (seen)
            continue;
        if (o != out + 1)
            *o++ = ',';
        char *name = o;
        o += text_json_quote(o, key, strlen(key));
        for (char *c = name; c < o; c++)
            *c = (char)tolower((unsigned char)*c);
        *o++ = ':';
        *o++ = '"';
        const char *first = key;
        bool secret = hooks_header_secret(first, credential_header);
        for (size_t k = i; httpd_req_header_at(req, k, &key, &value); k++) {
            if (k > i) {
                if (strcasecmp(key, first) != 0)
                    continue;
                *o++ = ',';
                *o++ = ' ';
            }
            const char *v = secret ? redacted : value;
            o += text_json_escape(o, v, strlen(v));
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    assert((size_t)(o - out) < room);
    return out;
}

/* Point the job's strings at what it is lent: valid only until hooks_job_return, which
 * must run before job_clear. */
static void hooks_job_lend(struct job *j, const char *method, const char *path, const char *query,
                           const char *ctype, const char *body, size_t body_len)
{
    j->method = (char *)method;
    j->path = (char *)path;
    j->query = (char *)query;
    j->content_type = (char *)ctype;
    j->body = (char *)body;
    j->body_len = body_len;
    j->replay_of = (char *)"";
}

/* Forget what hooks_job_lend lent (the job owns headers_json, which stays). */
static void hooks_job_return(struct job *j)
{
    j->method = j->path = j->query = j->content_type = j->body = j->replay_of = NULL;
    j->body_len = 0;
}

static void hooks_pending_free(struct hooks_pending *p)
{
    job_clear(&p->job);
    for (size_t i = 0; i < p->nsplit; i++)
        job_clear(&p->split[i]);
    free(p->split);
    free(p);
}

/* The 202 of a newly queued event, printed straight, not through cJSON or snprintf: every
 * accepted request gets it. */
static void hooks_reply_queued(struct httpd_req *req, const char *id, const char *status)
{
    char ok[TEXT_JSON_QUOTE_MAX(HB_ID_LEN) + 64];
    char *o = ok;
    o = text_json_put(o, "{\"event_id\":", id);
    o = text_json_put(o, ",\"status\":", status);
    *o++ = '}';
    httpd_reply(req, 202, "application/json", ok, (size_t)(o - ok));
}

/* The answers of a batch (Idempotency-Key, dedup, split): the bridge is looked up again,
 * as the cache may have dropped the entry while Redis answered. */
static void hooks_on_batch(struct hooks_pending *p, enum enqueue_result res, const char *record)
{
    char first[HB_ID_LEN + 8];
    inbound_first_id(record, false, first, sizeof(first));
    if (res == ENQUEUE_OK && !p->custom && p->nsplit == 0) {
        /* A new single event with the plain answer: as fast as a plain bridge's. */
        hooks_log(p->in, p->req, p->job.bridge_id, first, 202, p->started_mono, NULL);
        hooks_reply_queued(
            p->req, first,
            event_status_name(p->due_ms != 0 ? EVENT_STATUS_SCHEDULED : EVENT_STATUS_QUEUED));
        return;
    }
    if (res == ENQUEUE_CONFLICT) {
        hooks_error(p->in, p->req, 409, "idempotency_key_conflict",
                    "this Idempotency-Key was used within 24 h with a different body",
                    p->job.bridge_id, p->started_mono);
        return;
    }
    if (res == ENQUEUE_DUPLICATE && p->dedup_reject) {
        hooks_log(p->in, p->req, p->job.bridge_id, first, 409, p->started_mono, "duplicate");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", "duplicate");
        cJSON_AddStringToObject(o, "message", "an event with this dedup key was accepted before");
        cJSON_AddStringToObject(o, "event_id", first);
        http_reply_json(p->req, 409, o);
        cJSON_Delete(o);
        return;
    }
    int rc;
    char err[HB_ERR_LEN];
    const struct bcache_entry *e = bcache_get(p->in->bridges, p->endpoint, &rc, err, sizeof(err));
    if (e == NULL) {
        /* Queued, but the bridge is gone: the plain answer still tells the truth. */
        hooks_log(p->in, p->req, p->job.bridge_id, first, 202, p->started_mono, NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "event_id", first);
        http_reply_json(p->req, 202, o);
        cJSON_Delete(o);
        return;
    }
    hooks_log(p->in, p->req, p->job.bridge_id, first, 202, p->started_mono, NULL);
    inbound_answer(p->req, e, record, false, p->due_ms != 0 ? "scheduled" : "queued",
                   res != ENQUEUE_OK);
}

static void hooks_on_enqueued(enum enqueue_result res, const char *id, const char *why, void *arg)
{
    struct hooks_pending *p = arg;
    if (res == ENQUEUE_FAILED) {
        log_kv(LOG_WARN, "enqueue failed", "event_id", p->job.id, "error", why, NULL);
        hooks_unavailable(p->in, p->req, p->job.bridge_id, p->started_mono);
        goto out;
    }
    if (p->batch) {
        hooks_on_batch(p, res, id);
        goto out;
    }
    const char *status =
        event_status_name(p->due_ms != 0 ? EVENT_STATUS_SCHEDULED : EVENT_STATUS_QUEUED);
    hooks_log(p->in, p->req, p->job.bridge_id, id, 202, p->started_mono, NULL);
    if (p->custom) {
        /* The xero preset or a response override: looked up again, as in hooks_on_batch. */
        int rc;
        char err[HB_ERR_LEN];
        const struct bcache_entry *e =
            bcache_get(p->in->bridges, p->endpoint, &rc, err, sizeof(err));
        if (e != NULL) {
            inbound_answer(p->req, e, id, true, status, res != ENQUEUE_OK);
            goto out;
        }
    }
    if (res == ENQUEUE_OK) {
        hooks_reply_queued(p->req, id, status);
    } else {
        /* The first id comes back from Redis: printed through cJSON like any stored text. */
        cJSON *ok = cJSON_CreateObject();
        cJSON_AddStringToObject(ok, "event_id", id);
        cJSON_AddStringToObject(ok, "status", status);
        httpd_reply_header(p->req, "Idempotent-Replayed", "true");
        http_reply_json(p->req, 202, ok);
        cJSON_Delete(ok);
    }
out:
    hooks_pending_free(p);
}

/* auth_verify's view of the inbound headers. */
static const char *hooks_header(void *arg, const char *name)
{
    return httpd_req_header(arg, name);
}

/* Reply 400 validation_failed with every error the schema found. */
static void hooks_invalid(struct ingress *in, struct httpd_req *req, cJSON *details,
                          const char *bridge_id, int64_t started)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "validation_failed");
    cJSON_AddStringToObject(o, "message", "the request body does not match the bridge's schema");
    cJSON_AddItemToObject(o, "details", details);
    hooks_log(in, req, bridge_id, NULL, 400, started, "validation_failed");
    http_reply_json(req, 400, o);
    cJSON_Delete(o);
}

/* The Idempotency-Key header: NULL when absent, "" when unusable. */
static const char *hooks_idempotency_key(struct httpd_req *req)
{
    const char *k = httpd_req_header(req, "Idempotency-Key");
    if (k == NULL)
        return NULL;
    size_t n = strlen(k);
    if (n == 0 || n > HOOKS_IDEM_MAX)
        return "";
    for (const unsigned char *c = (const unsigned char *)k; *c; c++)
        if (*c < 0x20 || *c == 0x7F)
            return "";
    return k;
}

/*
 * The bridge a request is for, or NULL after replying 404 (no such route or endpoint) or
 * 500 (the store failed). Used by both phases: the lookup is a hash probe in the cache.
 */
static const struct bcache_entry *hooks_bridge(struct ingress *in, struct httpd_req *req,
                                               int64_t started)
{
    char err[HB_ERR_LEN];
    const char *path = httpd_req_path(req);
    if (strncmp(path, "/hooks/", 7) != 0) {
        hooks_error(in, req, 404, "not_found", "no such route", NULL, started);
        return NULL;
    }
    const char *endpoint = path + 7;
    size_t eplen = strlen(endpoint);
    if (eplen > 0 && endpoint[eplen - 1] == '/')
        eplen--;
    if (!ids_endpoint_valid(endpoint, eplen)) {
        hooks_error(in, req, 404, "not_found", "unknown endpoint", NULL, started);
        return NULL;
    }
    char ep[HB_ENDPOINT_LEN + 1];
    memcpy(ep, endpoint, eplen);
    ep[eplen] = '\0';
    int rc;
    const struct bcache_entry *e = bcache_get(in->bridges, ep, &rc, err, sizeof(err));
    if (rc == STORE_NOTFOUND) {
        hooks_error(in, req, 404, "not_found", "unknown endpoint", NULL, started);
        return NULL;
    }
    if (e == NULL) {
        log_kv(LOG_ERROR, "bridge lookup failed", "error", err, NULL);
        hooks_error(in, req, 500, "internal", "bridge lookup failed", NULL, started);
    }
    return e;
}

enum httpd_next hooks_head(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    int64_t started = clock_mono_ms();
    if (strcmp(httpd_req_path(req), "/healthz") == 0)
        return HTTPD_READ_BODY;
    /* The first two checks, made before a byte of the body is read: an unknown
     * endpoint, then a declared length over --max-body (a chunked body that grows past it
     * is cut off by httpd with the same 413). */
    const struct bcache_entry *e = hooks_bridge(in, req, started);
    if (e == NULL)
        return HTTPD_REPLIED;
    const char *cl = httpd_req_header(req, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)in->cfg.max_body) {
        hooks_error(in, req, 413, "payload_too_large", "request body exceeds the maximum size",
                    e->b->id, started);
        return HTTPD_REPLIED;
    }
    return HTTPD_READ_BODY;
}

void hooks_request(struct httpd_req *req, void *arg)
{
    struct ingress *in = arg;
    int64_t started = clock_mono_ms();
    char err[HB_ERR_LEN];
    cJSON *parsed = NULL;
    char *mail_json = NULL; /* a message/rfc822 body, parsed */
    /* What the source settings (challenge, dedup, split) read: made only for them. */
    struct tmpl_ctx tctx = {0};
    cJSON *tctx_headers = NULL, *tctx_query = NULL, *split_value = NULL;
    char *headers_json = NULL;

    if (strcmp(httpd_req_path(req), "/healthz") == 0) {
        /* The public listener answers health checks too, for load balancers. */
        health_handle(in, req);
        return;
    }
    const struct bcache_entry *e = hooks_bridge(in, req, started);
    if (e == NULL)
        return;
    const struct bridge *b = e->b;
    size_t body_len;
    const char *raw = httpd_req_body(req, &body_len);
    if ((long)body_len > in->cfg.max_body) {
        hooks_error(in, req, 413, "payload_too_large", "request body exceeds the maximum size",
                    b->id, started);
        return;
    }
    if (!b->active) {
        httpd_reply_header(req, "Retry-After", "60");
        hooks_error(in, req, 503, "bridge_inactive", "this bridge is paused; retry later", b->id,
                    started);
        return;
    }
    if (e->auth_err[0] != '\0') {
        log_kv(LOG_ERROR, "bridge auth secret unusable; refusing its requests", "bridge_id", b->id,
               "error", e->auth_err, NULL);
        hooks_error(in, req, 500, "internal", "the bridge's auth secret cannot be read", b->id,
                    started);
        goto out;
    }
    if (e->auth.type != AUTH_NONE && !auth_verify(&e->auth, hooks_header, req, raw, body_len,
                                                  clock_now_ms() / 1000, err, sizeof(err))) {
        log_kv(LOG_INFO, "inbound auth failed", "bridge_id", b->id, "reason", err, NULL);
        httpd_reply_header(req, "WWW-Authenticate", auth_challenge_scheme(&e->auth));
        hooks_error(in, req, 401, "unauthorized", "missing or invalid credentials", b->id, started);
        goto out;
    }
    /* An Idempotency-Key compares the bytes the sender sent. */
    const char *orig_raw = raw;
    size_t orig_len = body_len;
    const char *ctype = httpd_req_header(req, "Content-Type");
    if (mail_in_ctype_is_rfc822(ctype)) {
        /* An e-mail posted as it is: like mail to the SMTP listener, its event's body is the
         * parsed message (common/mail_in.h), checked and forwarded as JSON. */
        mail_json = mail_in_json(raw, body_len, err, sizeof(err));
        if (mail_json == NULL) {
            hooks_error(in, req, 400, "invalid_message", err, b->id, started);
            goto out;
        }
        raw = mail_json;
        body_len = strlen(mail_json);
        ctype = "application/json";
    }
    /* A body that claims to be JSON must be JSON even when the bridge only forwards it: a
     * broken sender is told at once instead of a destination failing later. Where the
     * bridge reads the body (template, schema or filter) it must also have no duplicate
     * keys, which cJSON and the destination would read differently, and an empty body that
     * claims to be JSON is refused. A plain forwarder reads no key, so it sends duplicates
     * and an empty body on as they came. An empty body without a JSON Content-Type has no
     * payload ($payload is missing), which only a schema can refuse. */
    bool is_json = body_ctype_is_json(ctype);
    bool want_json = e->needs_json || is_json;
    if (e->needs_json && is_json && body_len == 0) {
        hooks_error(in, req, 400, "invalid_json", "body is empty", b->id, started);
        goto out;
    }
    /* A dedup key that is one `$payload.a.b` is found in the body's text: no tree for it. */
    bool key_from_text =
        e->schema == NULL && !body_ctype_is_form(ctype) && inbound_dedup_from_text(b);
    if (want_json && body_len > 0) {
        if (key_from_text) {
            /* What body_parse_json checks, without building the tree. */
            if (!body_check_json(raw, body_len, NULL, err, sizeof(err))) {
                hooks_error(in, req, 400, "invalid_json", err, b->id, started);
                goto out;
            }
        } else if (e->schema != NULL || source_needs_json(b)) {
            /* Only a schema and the source settings need the value itself here. */
            parsed = body_to_json_whole(ctype, raw, body_len, err, sizeof(err));
            if (parsed == NULL) {
                hooks_error(in, req, 400, "invalid_json", err, b->id, started);
                goto out;
            }
        } else if (!body_ctype_is_form(ctype)) {
            /* A form body always decodes; anything else must be JSON. */
            const struct body_json_check check = {.flags =
                                                      e->needs_json ? 0 : BODY_JSON_ALLOW_DUPS};
            if (!body_check_json_opts(raw, body_len, &check, NULL, err, sizeof(err))) {
                hooks_error(in, req, 400, "invalid_json", err, b->id, started);
                goto out;
            }
        }
    }
    if (b->sources != NULL) {
        if (inbound_uses(b, "headers")) {
            headers_json = hooks_headers_json(req, auth_credential_header(&e->auth));
            tctx_headers = cJSON_Parse(headers_json);
        }
        if (inbound_uses(b, "query")) {
            const char *qs = httpd_req_query(req);
            tctx_query = event_query_object(qs ? qs : "");
        }
        tctx = (struct tmpl_ctx){.payload = parsed,
                                 .headers = tctx_headers,
                                 .query = tctx_query,
                                 .bridge_id = b->id,
                                 .redact_env = true};
        /* A handshake (Slack's url_verification, ServiceM8's subscribe) is answered here,
         * before the schema, which describes events and not the handshake. */
        char *answer = NULL;
        const char *actype = NULL;
        int hs = inbound_challenge(b, &tctx, &answer, &actype, err, sizeof(err));
        if (hs < 0) {
            hooks_error(in, req, 400, "challenge_failed", err, b->id, started);
            goto out;
        }
        if (hs > 0) {
            hooks_log(in, req, b->id, NULL, 200, started, NULL);
            httpd_reply(req, 200, actype, answer, strlen(answer));
            free(answer);
            goto out;
        }
    }
    if (e->schema != NULL) {
        cJSON *details = cJSON_CreateArray();
        cJSON *null_body = parsed ? NULL : cJSON_CreateNull();
        bool ok =
            jsonschema_validate(e->schema, parsed ? parsed : null_body, details, HOOKS_MAX_DETAILS);
        cJSON_Delete(null_body);
        if (!ok) {
            hooks_invalid(in, req, details, b->id, started);
            goto out;
        }
        cJSON_Delete(details);
    }
    const char *idem = hooks_idempotency_key(req);
    if (idem != NULL && idem[0] == '\0') {
        hooks_error(in, req, 400, "invalid_idempotency_key",
                    "Idempotency-Key must be 1..255 printable characters", b->id, started);
        goto out;
    }
    const cJSON *split = source_get(b, "split");
    const cJSON *elems = NULL;
    if (split != NULL) {
        if (parsed != NULL)
            tmpl_ref_resolve(split->valuestring, &tctx, &split_value, err, sizeof(err));
        if (!cJSON_IsArray(split_value)) {
            hooks_error(in, req, 400, "split_failed",
                        "the body has no array where the bridge's split points", b->id, started);
            goto out;
        }
        if (cJSON_GetArraySize(split_value) > HOOKS_SPLIT_MAX) {
            hooks_error(in, req, 400, "split_failed", "the array holds more than 1000 elements",
                        b->id, started);
            goto out;
        }
        elems = split_value;
        if (elems->child == NULL) {
            /* Nothing to queue: an empty batch is answered as one that made no events. */
            hooks_log(in, req, b->id, NULL, 202, started, NULL);
            httpd_reply(req, 202, "application/json", "{\"event_ids\":[]}", 15);
            goto out;
        }
    }
    char dedup[INBOUND_HASH_HEX];
    long dedup_ttl = 0;
    bool dedup_reject = false;
    bool has_dedup =
        key_from_text ? inbound_dedup_key_text(b, raw, body_len, dedup, &dedup_ttl, &dedup_reject)
                      : inbound_dedup_key(b, &tctx, dedup, &dedup_ttl, &dedup_reject);
    if (!rconn_up(in->redis)) {
        hooks_unavailable(in, req, b->id, started);
        goto out;
    }

    struct hooks_pending *p = xcalloc(1, sizeof(*p));
    p->in = in;
    p->req = req;
    p->started_mono = started;
    snprintf(p->endpoint, sizeof(p->endpoint), "%s", b->endpoint);
    p->custom = e->auth.type == AUTH_XERO || source_get(b, "response") != NULL;
    p->dedup_reject = dedup_reject;
    struct job *j = &p->job;
    j->received_ms = clock_now_ms();
    ids_new("evt_", j->received_ms, j->id, sizeof(j->id));
    snprintf(j->bridge_id, sizeof(j->bridge_id), "%s", b->id);
    /* The job lends the request's own strings for the enqueue call, which copies what it
     * sends (enqueue.h); hooks_job_return takes them back before anything can free them.
     * Copying them was six allocations and a copy of the body a request. */
    const char *q = httpd_req_query(req);
    j->headers_json =
        headers_json ? headers_json : hooks_headers_json(req, auth_credential_header(&e->auth));
    headers_json = NULL;
    hooks_job_lend(j, httpd_req_method(req), httpd_req_path(req), q ? q : "", ctype ? ctype : "",
                   raw, body_len);
    if (bridge_first_delay(b) > 0)
        p->due_ms = j->received_ms + (int64_t)bridge_first_delay(b) * 1000;
    int rc;
    if (idem != NULL || has_dedup || elems != NULL) {
        /* The body's hash tells an Idempotency-Key's repeat from a conflict; dedup alone
         * does not need it. */
        char body_hash[INBOUND_HASH_HEX] = "";
        if (idem != NULL)
            inbound_sha256_hex(orig_raw, orig_len, body_hash);
        struct enqueue_batch bt = {.jobs = j,
                                   .n = 1,
                                   .due_ms = p->due_ms,
                                   .idem_key = idem,
                                   .body_hash = body_hash,
                                   .dedup_key = has_dedup ? dedup : NULL,
                                   .dedup_ttl_s = dedup_ttl};
        if (elems != NULL) {
            /* One full event per element: its own id, the element as its JSON body, the
             * request's method, path, query and headers. */
            p->nsplit = (size_t)cJSON_GetArraySize(elems);
            p->split = xcalloc(p->nsplit, sizeof(*p->split));
            size_t i = 0;
            for (const cJSON *el = elems->child; el != NULL; el = el->next, i++) {
                struct job *sj = &p->split[i];
                sj->received_ms = j->received_ms;
                ids_new("evt_", j->received_ms, sj->id, sizeof(sj->id));
                memcpy(sj->bridge_id, j->bridge_id, sizeof(sj->bridge_id));
                hooks_job_lend(sj, j->method, j->path, j->query, "application/json", NULL, 0);
                sj->headers_json = j->headers_json; /* lent as well: j keeps it */
                sj->body = text_json_print(el);     /* exact numbers, as stored rows */
                sj->body_len = strlen(sj->body);
            }
            bt.jobs = p->split;
            bt.n = p->nsplit;
            bt.split = true;
        }
        p->batch = true;
        rc = enqueue_batch(in, &bt, hooks_on_enqueued, p);
        for (size_t i = 0; i < p->nsplit; i++) {
            /* Only the body was its own (text_json_print). */
            char *body = p->split[i].body;
            hooks_job_return(&p->split[i]);
            p->split[i].headers_json = NULL;
            p->split[i].body = body;
        }
    } else {
        rc = enqueue_job(in, j, p->due_ms, NULL, hooks_on_enqueued, p);
    }
    hooks_job_return(j);
    free(j->headers_json); /* sent (or not); the answer needs only the ids */
    j->headers_json = NULL;
    if (rc != 0) {
        hooks_unavailable(in, req, b->id, started);
        hooks_pending_free(p);
    }
out:
    cJSON_Delete(parsed);
    cJSON_Delete(split_value);
    cJSON_Delete(tctx_headers);
    cJSON_Delete(tctx_query);
    free(headers_json);
    free(mail_json);
}

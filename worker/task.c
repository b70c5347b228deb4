/*
 * task.c - one job's delivery attempt, from the job hash to the recorded outcome.
 *
 * The order is what makes "never lose an accepted request" hold: the attempt is sent, its
 * outcome is committed to SQLite (batched by evwriter), and only then is the job
 * acknowledged in Redis (fetch_ack). A crash anywhere before the acknowledgement leaves
 * the job in this worker's in-flight list for the reaper: the event is delivered again
 * (at least once), never dropped.
 *
 * The outbound request is built here from the bridge's current configuration: templates
 * rendered against the inbound request (common/template.h), env secrets decrypted only for
 * the moment of rendering, the body signed when the bridge has a signing secret. What the
 * event records is rendered a second time with every $env value "[redacted]".
 */
#include "task.h"

#include "body.h"
#include "bridge.h"
#include "clock.h"
#include "crypto.h"
#include "deliver.h"
#include "dynbuf.h"
#include "event.h"
#include "evwriter.h"
#include "fetch.h"
#include "filter.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "retry.h"
#include "store.h"
#include "template.h"
#include "worker.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What one attempt sends, rendered from the bridge's templates. */
struct task_request {
    char *url;
    char **hdr; /* "Name: value" lines, NULL-terminated */
    char *body; /* NULL: the inbound body as received */
    size_t body_len;
};

struct task {
    struct worker *w;
    struct job *job;
    struct bridge *bridge;
    int attempt; /* 1-based number of this attempt */
    struct deliver_call *call;
    struct task_request rq;
    const char *status;
    int64_t due_ms;
    char *attempt_json;  /* the recorded attempt, until it is committed */
    char *outbound_json; /* the recorded outbound request, until it is committed */
    bool http_attempt;   /* an HTTP request was made (for the metrics) */
    bool succeeded;
    long duration_ms;
    int last_http_status; /* for a failure notice */
    char *last_error;     /* for a failure notice */
    cJSON *done_attempt;  /* an attempt's record while its abort check is out */
    cJSON *done_outbound;
    struct task *prev, *next; /* requests in flight, for task_cancel_all */
};

/* A failure notice on its way to a bridge's notify_url. */
struct task_notice {
    struct deliver_call *call;
    char *body;
    char **hdr;
    char event_id[HB_ID_LEN];
    struct task_notice *prev, *next;
};

#define TASK_NOTICE_TIMEOUT_MS 10000

static struct task *task_list;
static int task_count;
static struct task_notice *notice_list;

int task_active(void)
{
    return task_count;
}

static void task_link(struct task *t)
{
    t->next = task_list;
    if (task_list)
        task_list->prev = t;
    task_list = t;
    task_count++;
}

static void task_unlink(struct task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        task_list = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    task_count--;
}

static void task_lines_free(char **lines)
{
    if (lines == NULL)
        return;
    for (char **h = lines; *h; h++)
        free(*h);
    free(lines);
}

static void task_request_clear(struct task_request *rq)
{
    free(rq->url);
    task_lines_free(rq->hdr);
    free(rq->body);
    memset(rq, 0, sizeof(*rq));
}

static void task_free(struct task *t)
{
    task_request_clear(&t->rq);
    free(t->attempt_json);
    free(t->outbound_json);
    free(t->last_error);
    cJSON_Delete(t->done_attempt);
    cJSON_Delete(t->done_outbound);
    bridge_free(t->bridge);
    job_clear(t->job);
    free(t->job);
    free(t);
}

/* Add this outcome to the counters (common/metrics.h: summed here, added to Redis in
 * batches). Counted after the outcome is committed: at worst a crash loses a count, never
 * an event. */
static void task_count_metrics(const struct task *t, bool done)
{
    struct metrics_batch *m = t->w->metrics;
    char field[METRICS_FIELD_LEN];
    if (t->http_attempt) {
        metrics_add(m, t->succeeded ? "attempts|success" : "attempts|failure", 1);
        metrics_bucket_field("response", t->duration_ms, field, sizeof(field));
        metrics_add(m, field, 1);
        metrics_add(m, "response|sum_ms", t->duration_ms);
    }
    if (!done)
        return;
    snprintf(field, sizeof(field), "events|%s", t->status);
    metrics_add(m, field, 1);
    if (t->succeeded) {
        int64_t latency = clock_now_ms() - t->job->received_ms;
        if (latency < 0)
            latency = 0;
        metrics_bucket_field("latency", latency, field, sizeof(field));
        metrics_add(m, field, 1);
        metrics_add(m, "latency|sum_ms", latency);
    }
}

/* ---- failure notices ---- */

static void task_notice_unlink(struct task_notice *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        notice_list = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

static void task_notice_free(struct task_notice *n)
{
    free(n->body);
    task_lines_free(n->hdr);
    free(n);
}

static void task_on_notice_done(const struct deliver_result *res, void *arg)
{
    struct task_notice *n = arg;
    task_notice_unlink(n);
    char st[8];
    snprintf(st, sizeof(st), "%d", res->http_status);
    bool ok = res->error == NULL && res->http_status >= 200 && res->http_status < 300;
    /* One try only: a notice must never hold up deliveries or loop on a broken receiver. */
    log_kv(ok ? LOG_INFO : LOG_WARN, ok ? "failure notice sent" : "failure notice not delivered",
           "event_id", n->event_id, "status", st, "error", res->error, NULL);
    task_notice_free(n);
}

/*
 * POST {event_id, bridge_id, status, attempts, last_status, last_error, …} to the bridge's
 * notify_url, once, after the failure was committed. Signed like deliveries when the
 * bridge has a signing secret.
 */
static void task_notify_failure(struct task *t)
{
    const struct bridge *b = t->bridge;
    char err[HB_ERR_LEN], iso[CLOCK_ISO_LEN];
    if (b == NULL || b->notify_url == NULL)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "event.failed");
    cJSON_AddStringToObject(o, "event_id", t->job->id);
    cJSON_AddStringToObject(o, "bridge_id", b->id);
    cJSON_AddStringToObject(o, "bridge_name", b->name ? b->name : "");
    cJSON_AddStringToObject(o, "status", "failed");
    cJSON_AddNumberToObject(o, "attempts", t->http_attempt ? t->attempt : t->job->attempts);
    if (t->last_http_status > 0)
        cJSON_AddNumberToObject(o, "last_status", t->last_http_status);
    else
        cJSON_AddNullToObject(o, "last_status");
    if (t->last_error != NULL)
        cJSON_AddStringToObject(o, "last_error", t->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    clock_iso8601(t->job->received_ms, iso);
    cJSON_AddStringToObject(o, "received_at", iso);
    clock_iso8601(clock_now_ms(), iso);
    cJSON_AddStringToObject(o, "failed_at", iso);
    if (t->job->replay_of && t->job->replay_of[0])
        cJSON_AddStringToObject(o, "replay_of", t->job->replay_of);
    else
        cJSON_AddNullToObject(o, "replay_of");

    struct task_notice *n = xcalloc(1, sizeof(*n));
    snprintf(n->event_id, sizeof(n->event_id), "%s", t->job->id);
    n->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t blen = strlen(n->body);
    n->hdr = xcalloc(8, sizeof(*n->hdr));
    size_t k = 0;
    n->hdr[k++] = xstrdup("Content-Type: application/json");
    n->hdr[k++] = xasprintf("User-Agent: hookbridge/%s", HB_VERSION);
    n->hdr[k++] = xasprintf("X-Hookbridge-Event-Id: %s", t->job->id);
    char *secret = bridge_signing_secret_open(b, t->w->cfg.secret_key, err, sizeof(err));
    if (secret != NULL) {
        int64_t ts = clock_now_ms() / 1000;
        char *sig = crypto_webhook_sign(secret, t->job->id, ts, n->body, blen);
        if (sig != NULL) {
            n->hdr[k++] = xasprintf("webhook-id: %s", t->job->id);
            n->hdr[k++] = xasprintf("webhook-timestamp: %lld", (long long)ts);
            n->hdr[k++] = xasprintf("webhook-signature: %s", sig);
            free(sig);
        }
        bridge_secret_free(secret);
    }
    struct deliver_request rq = {
        .method = "POST",
        .url = b->notify_url,
        .headers = (const char *const *)n->hdr,
        .body = n->body,
        .body_len = blen,
        .timeout_ms = TASK_NOTICE_TIMEOUT_MS,
    };
    n->call = deliver_start(t->w->deliver, &rq, task_on_notice_done, n, err, sizeof(err));
    if (n->call == NULL) {
        log_kv(LOG_WARN, "failure notice not sent", "event_id", n->event_id, "error", err, NULL);
        task_notice_free(n);
        return;
    }
    n->next = notice_list;
    if (notice_list)
        notice_list->prev = n;
    notice_list = n;
}

/* ---- recording outcomes ---- */

static void task_record(struct task *t, cJSON *attempt, cJSON *outbound, evwriter_done_cb done);

static void task_on_final_recorded(void *arg, int ok)
{
    struct task *t = arg;
    (void)ok;
    task_free(t);
}

static void task_on_acked(void *arg, enum fetch_ack_result res)
{
    struct task *t = arg;
    bool retrying = strcmp(t->status, "retrying") == 0;
    bool abortable = strcmp(t->status, "aborted") != 0 && strcmp(t->status, "filtered") != 0;
    if ((res == FETCH_ACK_ABORTED && abortable) || (retrying && res == FETCH_ACK_GONE)) {
        /* An abort came after the check of task_on_abort_checked, while the outcome was
         * being committed: the retry is off and the event ends aborted, its attempt kept.
         * Its job is already gone from Redis, so this write is the last word. */
        t->status = res == FETCH_ACK_ABORTED ? "aborted" : "failed";
        t->due_ms = 0;
        free(t->attempt_json);
        free(t->outbound_json);
        t->attempt_json = t->outbound_json = NULL;
        cJSON *attempt = NULL;
        if (res == FETCH_ACK_GONE)
            attempt =
                event_attempt(t->attempt, clock_now_ms(), 0, 0,
                              "job data vanished from redis; not retried", NULL, "", 0, false);
        task_record(t, attempt, NULL, task_on_final_recorded);
        return;
    }
    task_free(t);
}

static void task_on_recorded(void *arg, int ok)
{
    struct task *t = arg;
    if (!ok) {
        /* Not committed (shutdown with SQLite away): leave the job in the in-flight list
         * so it is put back and tried again. */
        task_free(t);
        return;
    }
    bool done = strcmp(t->status, "retrying") != 0;
    task_count_metrics(t, done);
    if (strcmp(t->status, "failed") == 0)
        task_notify_failure(t);
    fetch_ack(t->w, t->job->id, t->job->bridge_id, done, t->attempt, t->due_ms, task_on_acked, t);
}

/* The whole event with this attempt, for evwriter when the event has no row yet: the usual
 * case for an event delivered at its first attempt (common/record.h). */
static char *task_full_event(void *arg)
{
    struct task *t = arg;
    return event_json(t->job, t->status, t->due_ms, t->outbound_json, t->attempt_json);
}

/*
 * Record the outcome: `attempt` (may be NULL) appended, status set; `done` runs after the
 * commit. Takes ownership of `attempt` and `outbound`.
 */
static void task_record(struct task *t, cJSON *attempt, cJSON *outbound, evwriter_done_cb done)
{
    t->attempt_json = attempt ? cJSON_PrintUnformatted(attempt) : NULL;
    t->outbound_json = outbound ? cJSON_PrintUnformatted(outbound) : NULL;
    cJSON_Delete(attempt);
    cJSON_Delete(outbound);
    struct store_event_update u = {
        .id = t->job->id,
        .status = t->status,
        .attempt_json = t->attempt_json,
        .outbound_json = t->outbound_json,
        .next_attempt_ms = t->due_ms,
    };
    evwriter_update(t->w->events, &u, t->job->bridge_id, t->job->received_ms, task_full_event, done,
                    t);
}

/*
 * Finish without an HTTP attempt: aborted, filtered, a deleted bridge, a job put back too
 * often, secrets that cannot be opened. `error` (may be NULL) is recorded as an attempt
 * that never reached the network, so the event says why.
 */
static void task_finish_now(struct task *t, const char *status, const char *error)
{
    t->status = status;
    t->due_ms = 0;
    cJSON *attempt = NULL;
    if (error != NULL) {
        attempt = event_attempt(t->attempt, clock_now_ms(), 0, 0, error, NULL, "", 0, false);
        free(t->last_error);
        t->last_error = xstrdup(error);
    }
    log_kv(strcmp(status, "filtered") == 0 ? LOG_INFO : LOG_WARN, "event ended without delivery",
           "event_id", t->job->id, "bridge_id", t->job->bridge_id, "status", status, "error", error,
           NULL);
    task_record(t, attempt, NULL, task_on_recorded);
}

/* ---- building the request ---- */

/* Whether one of the header lines `hdr[0..n)` is for `name`. */
static bool task_has_header(char *const *hdr, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncasecmp(hdr[i], name, len) == 0 && hdr[i][len] == ':')
            return true;
    return false;
}

/* Whether a header whose value rendered to `v` is left out of the request: see README,
 * "Templates". */
static bool task_header_omitted(const char *v, const struct tmpl_info *info)
{
    if (info->refs > 0 && info->missing == info->refs)
        return true;
    return v[strspn(v, " \t")] == '\0';
}

/* Everything templates may refer to, for one job. The caller frees with task_ctx_clear. */
struct task_ctx {
    struct tmpl_ctx tc;
    cJSON *payload, *headers, *query, *env;
    char received_at[CLOCK_ISO_LEN];
};

static void task_ctx_clear(struct task_ctx *c)
{
    cJSON_Delete(c->payload);
    cJSON_Delete(c->headers);
    cJSON_Delete(c->query);
    /* Decrypted values: wipe before freeing. */
    for (cJSON *e = c->env ? c->env->child : NULL; e != NULL; e = e->next)
        if (cJSON_IsString(e))
            sodium_memzero(e->valuestring, strlen(e->valuestring));
    cJSON_Delete(c->env);
}

/*
 * Fill the template context. The body is parsed when the bridge uses it; one that no
 * longer parses (the bridge changed since the request was accepted) leaves $payload
 * missing rather than failing the event. Returns 0, or -1 with `err` when the bridge's
 * secrets cannot be decrypted.
 */
static int task_ctx_init(struct task_ctx *c, const struct task *t, char *err, size_t errlen)
{
    const struct job *j = t->job;
    const struct bridge *b = t->bridge;
    char perr[HB_ERR_LEN];
    memset(c, 0, sizeof(*c));
    c->env = bridge_env_open(b, t->w->cfg.secret_key, err, errlen);
    if (c->env == NULL)
        return -1;
    if (j->body_len > 0 && bridge_needs_json(b))
        c->payload = body_to_json(j->content_type, j->body, j->body_len, perr, sizeof(perr));
    c->headers = cJSON_Parse(j->headers_json ? j->headers_json : "{}");
    c->query = event_query_object(j->query);
    clock_iso8601(j->received_ms, c->received_at);
    c->tc.payload = c->payload;
    c->tc.headers = c->headers;
    c->tc.query = c->query;
    c->tc.env = c->env;
    c->tc.event_id = j->id;
    c->tc.received_at = c->received_at;
    c->tc.bridge_id = b->id;
    return 0;
}

/* task_render's answer when the request would be larger than its caps. */
#define TASK_TOO_LARGE (-2)

/* The longest rendered outbound_url and header value. 8 KiB is nginx's and Apache's
 * default request-line limit; a header value gets 16 KiB so that "Bearer $env.TOKEN" fits
 * with the longest env value (8 KiB). Either is far below what a sender's input can make a
 * template grow to. */
#define TASK_URL_MAX 8192
#define TASK_HEADER_MAX 16384

/*
 * Render the outbound request. With `redact` every $env value reads "[redacted]" (what the
 * event records). `omit` has one entry per bridge header: the rendering with secrets fills
 * it, the redacted one follows it, so that the event shows the headers that were sent.
 * Returns 0; TASK_TOO_LARGE with `err` saying which part outgrew its cap (the URL over
 * 8 KiB, a header value over 16 KiB, the body over w->max_rendered); or -1 with `err`
 * when a template fails or the rendered URL is not usable. Either failure ends the event
 * at once: no retry can change a rendering.
 */
static int task_render(struct task *t, struct task_ctx *c, bool redact, const char *signing,
                       bool *omit, struct task_request *out, char *err, size_t errlen)
{
    const struct bridge *b = t->bridge;
    const struct job *j = t->job;
    char why[HB_ERR_LEN];
    struct dynbuf buf;
    memset(out, 0, sizeof(*out));
    c->tc.redact_env = redact;

    dynbuf_init(&buf, TASK_URL_MAX);
    int rc = tmpl_render_text_buf(b->outbound_url, &c->tc, TMPL_URL, &buf, NULL, why, sizeof(why));
    out->url = dynbuf_take(&buf, NULL);
    if (rc == TMPL_ETOOBIG) {
        snprintf(err, errlen, "outbound_url %.200s", why);
        return TASK_TOO_LARGE;
    }
    if (rc != 0) {
        snprintf(err, errlen, "outbound_url: %.200s", why);
        return -1;
    }
    const char *bad = bridge_url_problem(out->url);
    if (bad != NULL) {
        snprintf(err, errlen, "outbound_url rendered to an unusable URL: %.160s", bad);
        return -1;
    }
    bool has_body = strcmp(b->method, "GET") != 0;
    if (has_body && b->payload != NULL) {
        dynbuf_init(&buf, t->w->max_rendered);
        rc = tmpl_render_json_buf(b->payload, &c->tc, &buf, why, sizeof(why));
        out->body = dynbuf_take(&buf, &out->body_len);
        if (rc == TMPL_ETOOBIG) {
            snprintf(err, errlen, "payload %.200s", why);
            return TASK_TOO_LARGE;
        }
        if (rc != 0) {
            snprintf(err, errlen, "payload: %.200s", why);
            return -1;
        }
    }

    size_t n = (size_t)cJSON_GetArraySize(b->headers) + 8;
    char **hdr = xcalloc(n + 1, sizeof(*hdr));
    size_t k = 0, i = 0;
    out->hdr = hdr;
    for (const cJSON *h = b->headers ? b->headers->child : NULL; h; h = h->next, i++) {
        /* Bridges saved before framing headers were refused may still hold one. */
        if (!cJSON_IsString(h) || bridge_header_reserved(h->string) || (redact && omit[i]))
            continue;
        struct tmpl_info info;
        dynbuf_init(&buf, TASK_HEADER_MAX);
        rc = tmpl_render_text_buf(h->valuestring, &c->tc, TMPL_HEADER, &buf, &info, why,
                                  sizeof(why));
        if (rc == 0 && !redact)
            omit[i] = task_header_omitted(dynbuf_ptr(&buf), &info);
        if (rc == 0 && !omit[i])
            hdr[k++] = xasprintf("%s: %s", h->string, dynbuf_ptr(&buf));
        dynbuf_free(&buf);
        if (rc == TMPL_ETOOBIG) {
            snprintf(err, errlen, "headers.%.64s %.160s", h->string, why);
            return TASK_TOO_LARGE;
        }
        if (rc != 0) {
            snprintf(err, errlen, "headers.%.64s: %.160s", h->string, why);
            return -1;
        }
    }
    if (!task_has_header(hdr, k, "User-Agent"))
        hdr[k++] = xasprintf("User-Agent: hookbridge/%s", HB_VERSION);
    hdr[k++] = xasprintf("X-Hookbridge-Event-Id: %s", j->id);
    hdr[k++] = xasprintf("X-Hookbridge-Attempt: %d", t->attempt);
    if (!task_has_header(hdr, k, "Content-Type")) {
        if (out->body != NULL)
            hdr[k++] = xstrdup("Content-Type: application/json");
        else if (j->content_type && j->content_type[0])
            hdr[k++] = xasprintf("Content-Type: %s", j->content_type);
        else
            /* "Content-Type:" with no value stops curl adding its form default. */
            hdr[k++] = xstrdup("Content-Type:");
    }
    if (signing != NULL) {
        /* Standard Webhooks: the signature covers id, timestamp and the exact body. */
        int64_t ts = clock_now_ms() / 1000;
        const char *body = out->body ? out->body : has_body ? j->body : "";
        size_t blen = out->body ? out->body_len : has_body ? j->body_len : 0;
        char *sig = crypto_webhook_sign(signing, j->id, ts, body, blen);
        if (sig == NULL) {
            snprintf(err, errlen, "signing_secret is not a valid whsec_ secret");
            return -1;
        }
        hdr[k++] = xasprintf("webhook-id: %s", j->id);
        hdr[k++] = xasprintf("webhook-timestamp: %lld", (long long)ts);
        hdr[k++] = xasprintf("webhook-signature: %s", sig);
        free(sig);
    }
    hdr[k] = NULL;
    return 0;
}

/* The request as sent, for the event (from a rendering with $env redacted). */
static cJSON *task_outbound(const struct task *t, const struct task_request *rq)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", t->bridge->method);
    cJSON_AddStringToObject(o, "url", rq->url);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (char **line = rq->hdr; line && *line; line++) {
        char *colon = strchr(*line, ':');
        if (colon == NULL || colon[1] == '\0')
            continue;
        char *name = xstrndup(*line, (size_t)(colon - *line));
        cJSON_AddStringToObject(h, name, colon + 2);
        free(name);
    }
    if (rq->body != NULL) {
        cJSON *body = cJSON_Parse(rq->body);
        cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
        return o;
    }
    if (strcmp(t->bridge->method, "GET") == 0) {
        cJSON_AddNullToObject(o, "body");
        return o;
    }
    /* The body is the inbound one: reuse the event's rendering of it. */
    cJSON *ev = event_from_job(t->job, "queued", 0);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(ev, "request");
    cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(req, "body");
    cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
    cJSON *b64 = cJSON_DetachItemFromObjectCaseSensitive(req, "body_base64");
    if (b64)
        cJSON_AddItemToObject(o, "body_base64", b64);
    cJSON_Delete(ev);
    return o;
}

/* Record the attempt that task_on_done kept, with the status decided. */
static void task_record_done(struct task *t)
{
    cJSON *attempt = t->done_attempt, *outbound = t->done_outbound;
    t->done_attempt = t->done_outbound = NULL;
    task_record(t, attempt, outbound, task_on_recorded);
}

static void task_on_abort_checked(redisAsyncContext *ac, void *r, void *priv)
{
    struct task *t = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL && t->w->stopping) {
        /* The connection is closing at shutdown: nothing is recorded, and the job, still in
         * the in-flight list, goes back to the queue to be delivered again. */
        task_free(t);
        return;
    }
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        /* Aborted while the attempt was on the wire: the attempt is recorded as it went,
         * and the event ends aborted, with no further attempt. */
        t->status = "aborted";
        t->due_ms = 0;
    }
    task_record_done(t);
}

/*
 * Before recording an attempt's outcome, ask whether the event was aborted while it was on
 * the wire (the abort script marks its job). When Redis cannot tell now, the outcome is
 * recorded as it is, and the acknowledgement, which checks the mark atomically with taking
 * the job, ends the event aborted after all (task_on_acked).
 */
static void task_check_aborted(struct task *t)
{
    char key[QUEUE_KEY_LEN];
    queue_key_job(&t->w->keys, t->job->id, key, sizeof(key));
    if (rconn_cmd(t->w->cmd, task_on_abort_checked, t, "HEXISTS %s %s", key, JOB_F_ABORTED) != 0)
        task_record_done(t);
}

static void task_on_done(const struct deliver_result *res, void *arg)
{
    struct task *t = arg;
    t->call = NULL;
    task_unlink(t);
    const struct bridge *b = t->bridge;
    bool ok = res->error == NULL && res->http_status >= 200 && res->http_status < 300;
    t->due_ms = 0;
    t->http_attempt = true;
    t->succeeded = ok;
    t->duration_ms = res->duration_ms;
    t->last_http_status = res->http_status;
    free(t->last_error);
    t->last_error = res->error ? xstrdup(res->error) : NULL;
    if (ok) {
        t->status = "delivered";
    } else if (t->attempt <= b->retries) {
        long delay =
            retry_delay_seconds(t->attempt - 1, b->retry_delays, b->n_retry_delays, retry_jitter());
        if ((res->http_status == 429 || res->http_status == 503) && res->retry_after_s > delay)
            delay = res->retry_after_s;
        t->status = "retrying";
        t->due_ms = clock_now_ms() + (int64_t)delay * 1000;
    } else {
        t->status = "failed";
    }
    if (log_enabled(LOG_INFO)) {
        char st[8], dur[24], n[8];
        snprintf(st, sizeof(st), "%d", res->http_status);
        snprintf(dur, sizeof(dur), "%ld", res->duration_ms);
        snprintf(n, sizeof(n), "%d", t->attempt);
        log_kv(ok ? LOG_INFO : LOG_WARN, "delivery attempt", "event_id", t->job->id, "bridge_id",
               b->id, "attempt", n, "status", st, "duration_ms", dur, "outcome", t->status, "error",
               res->error, NULL);
    }
    t->done_attempt =
        event_attempt(t->attempt, res->started_ms, res->duration_ms, res->http_status, res->error,
                      res->headers, res->body, res->body_len, res->truncated);
    t->done_outbound = t->outbound_json ? cJSON_Parse(t->outbound_json) : NULL;
    free(t->outbound_json);
    t->outbound_json = NULL;
    /* What was sent is no longer needed; the task may wait a while for its commit. */
    task_request_clear(&t->rq);
    task_check_aborted(t);
    /* A connection slot is free: take the next job now rather than after the ack. */
    fetch_more(t->w);
}

/* Render, sign and send one attempt; any failure before the network ends the event. */
static void task_send(struct task *t)
{
    struct worker *w = t->w;
    struct job *job = t->job;
    const struct bridge *b = t->bridge;
    char err[HB_ERR_LEN];
    struct task_ctx c;
    char *signing = NULL;

    if (task_ctx_init(&c, t, err, sizeof(err)) != 0) {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        task_finish_now(t, "failed", why);
        return;
    }
    if (b->filter != NULL && job->attempts == 0 && !filter_match(b->filter, &c.tc)) {
        task_ctx_clear(&c);
        task_finish_now(t, "filtered", NULL);
        return;
    }
    signing = bridge_signing_secret_open(b, w->cfg.secret_key, err, sizeof(err));
    if (signing == NULL && err[0] != '\0') {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        task_ctx_clear(&c);
        task_finish_now(t, "failed", why);
        return;
    }
    bool *omit = xcalloc((size_t)cJSON_GetArraySize(b->headers) + 1, sizeof(*omit));
    int rc = task_render(t, &c, false, signing, omit, &t->rq, err, sizeof(err));
    if (rc == 0 && t->attempt == 1) {
        /* The event shows the request with secrets redacted: rendered once more. */
        struct task_request shown;
        char why[HB_ERR_LEN];
        if (task_render(t, &c, true, signing, omit, &shown, why, sizeof(why)) == 0) {
            cJSON *o = task_outbound(t, &shown);
            t->outbound_json = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
        }
        task_request_clear(&shown);
    }
    free(omit);
    bridge_secret_free(signing);
    task_ctx_clear(&c);
    if (rc == TASK_TOO_LARGE) {
        /* The attempt's error is the code the SPEC names; the log says which part. */
        log_kv(LOG_WARN, "rendered request too large", "event_id", job->id, "bridge_id", b->id,
               "error", err, NULL);
        task_request_clear(&t->rq);
        task_finish_now(t, "failed", "rendered_too_large");
        return;
    }
    if (rc != 0) {
        task_request_clear(&t->rq);
        task_finish_now(t, "failed", err);
        return;
    }

    bool has_body = strcmp(b->method, "GET") != 0;
    struct deliver_request rq = {
        .method = b->method,
        .url = t->rq.url,
        .headers = (const char *const *)t->rq.hdr,
        .body = !has_body    ? NULL
                : t->rq.body ? t->rq.body
                             : job->body,
        .body_len = !has_body    ? 0
                    : t->rq.body ? t->rq.body_len
                                 : job->body_len,
        .timeout_ms = b->timeout_ms,
    };
    task_link(t);
    t->call = deliver_start(w->deliver, &rq, task_on_done, t, err, sizeof(err));
    if (t->call == NULL) {
        struct deliver_result res = {0};
        res.error = err;
        res.started_ms = clock_now_ms();
        res.retry_after_s = -1;
        res.body = "";
        task_on_done(&res, t);
    }
}

void task_run(struct worker *w, struct job *job)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    struct task *t = xcalloc(1, sizeof(*t));
    t->w = w;
    t->job = job;
    t->attempt = job->attempts + 1;

    if (job->aborted) {
        task_finish_now(t, "aborted", NULL);
        return;
    }
    if (job->requeues > QUEUE_MAX_REQUEUES) {
        char why[160];
        snprintf(why, sizeof(why),
                 "put back %d times after workers died holding it; not retried again",
                 job->requeues);
        task_finish_now(t, "failed", why);
        return;
    }
    int rc = store_bridge_get(w->store, job->bridge_id, &json, err);
    if (rc == STORE_NOTFOUND) {
        task_finish_now(t, "aborted", "bridge deleted");
        return;
    }
    if (rc != 0 || bridge_from_store(json, &t->bridge, err, sizeof(err)) != 0) {
        /* SQLite is unavailable: try the job again shortly without counting an attempt. */
        log_kv(LOG_WARN, "bridge lookup failed; job postponed", "event_id", job->id, "error", err,
               NULL);
        free(json);
        t->status = "retrying";
        fetch_ack(w, job->id, job->bridge_id, false, job->attempts, clock_now_ms() + 5000,
                  task_on_acked, t);
        return;
    }
    free(json);
    task_send(t);
}

void task_cancel_all(void)
{
    while (task_list != NULL) {
        struct task *t = task_list;
        task_unlink(t);
        if (t->call)
            deliver_cancel(t->call);
        log_kv(LOG_WARN, "delivery abandoned at shutdown; job goes back to the queue", "event_id",
               t->job->id, NULL);
        task_free(t);
    }
    while (notice_list != NULL) {
        struct task_notice *n = notice_list;
        task_notice_unlink(n);
        deliver_cancel(n->call);
        log_kv(LOG_WARN, "failure notice abandoned at shutdown", "event_id", n->event_id, NULL);
        task_notice_free(n);
    }
}

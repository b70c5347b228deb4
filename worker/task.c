/*
 * task.c - one job's delivery attempt, from the job hash to the recorded outcome.
 *
 * The order is what makes "never lose an accepted request" hold: the attempt is sent, its
 * outcome is committed to SQLite (batched by evwriter), and only then is the job
 * acknowledged in Redis (fetch_ack). A crash anywhere before the acknowledgement leaves
 * the job in this worker's in-flight list for the reaper: the event is delivered again
 * (at least once), never dropped.
 *
 * The outbound request is built by render.c from the bridge's current configuration.
 */
#include "task.h"

#include "bridge.h"
#include "clock.h"
#include "crypto.h"
#include "deliver.h"
#include "destcfg.h"
#include "dynbuf.h"
#include "event.h"
#include "event_status.h"
#include "evwriter.h"
#include "fetch.h"
#include "filter.h"
#include "flow.h"
#include "gate.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "mail.h"
#include "metrics.h"
#include "notice.h"
#include "oauth.h"
#include "rconn.h"
#include "render.h"
#include "route.h"
#include "retry.h"
#include "store.h"
#include "worker.h"
#include "wbridges.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <strings.h>

struct task {
    struct worker *w;
    struct job *job;
    const struct bridge *bridge; /* the cached bridge (bref's), shared with other tasks */
    struct wbridge *bref;
    const struct route *route; /* the bridge's route this job goes to */
    int attempt;               /* 1-based number of this attempt */
    struct deliver_call *call;
    struct render_request rq;
    enum event_status status;
    int64_t due_ms;
    char *attempt_json;  /* the recorded attempt, until it is committed */
    char *outbound_json; /* the recorded outbound request, until it is committed */
    bool http_attempt;   /* an HTTP request was made (for the metrics) */
    char *token;         /* the oauth2 access token sent (wiped when freed) */
    bool oauth_resent;   /* sent again after a 401 with a new token */
    bool succeeded;
    long duration_ms;
    int last_http_status; /* for a failure notice */
    char *last_error;     /* for a failure notice */
    cJSON *done_attempt;  /* an attempt's record while its abort check is out */
    cJSON *done_outbound;
    int marks;              /* route writes of a fan-out not yet committed */
    LIST_ENTRY(task) entry; /* requests in flight, for task_cancel_all */
    bool linked;
    struct gate_ticket gate; /* flow control (worker/gate.h) */
    bool unrendered;         /* asked flow control before rendering (task_send) */
};

static LIST_HEAD(task_head, task) task_list = LIST_HEAD_INITIALIZER(task_list);
static int task_count;

/* Jobs asking flow control whether they may start: they count against --concurrency too,
 * so a worker takes no more jobs than it can start. */
static int task_gating;

int task_active(void)
{
    return task_count + task_gating + gate_pulling();
}

static void task_link(struct task *t)
{
    LIST_INSERT_HEAD(&task_list, t, entry);
    t->linked = true;
    task_count++;
}

static void task_unlink(struct task *t)
{
    if (!t->linked)
        return;
    LIST_REMOVE(t, entry);
    t->linked = false;
    task_count--;
}

/* Freed tasks kept for the next job. A task is about 1 KiB (the gate ticket is most of it):
 * glibc serves that size from its large bins, and once its per-thread cache of 7 is empty
 * (a batch of completions, then a batch of 64 new jobs) each malloc runs
 * malloc_consolidate and the bin search (profiled at 1,000 in flight: 5 % of the worker).
 * Enough for --concurrency's default many times over; beyond it, tasks go back to malloc.
 * Under AddressSanitizer they are freed at once, so a use after free is still caught. */
#define TASK_SPARE_MAX 1024

#if defined(__SANITIZE_ADDRESS__)
#define TASK_RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TASK_RECYCLE 0
#endif
#endif
#ifndef TASK_RECYCLE
#define TASK_RECYCLE 1
#endif

static struct task *task_spare[TASK_SPARE_MAX];
static int task_nspare;

static struct task *task_get(void)
{
    if (TASK_RECYCLE && task_nspare > 0) {
        struct task *t = task_spare[--task_nspare];
        memset(t, 0, sizeof(*t));
        return t;
    }
    return xcalloc(1, sizeof(struct task));
}

static void task_put(struct task *t)
{
    if (TASK_RECYCLE && task_nspare < TASK_SPARE_MAX)
        task_spare[task_nspare++] = t;
    else
        free(t);
}

static void task_free(struct task *t)
{
    gate_ticket_clear(&t->gate);
    render_request_clear(&t->rq);
    destcfg_secret_free(t->token);
    free(t->attempt_json);
    free(t->outbound_json);
    free(t->last_error);
    cJSON_Delete(t->done_attempt);
    cJSON_Delete(t->done_outbound);
    wbridges_release(t->bref);
    job_clear(t->job);
    free(t->job);
    task_put(t);
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
    snprintf(field, sizeof(field), "events|%s", event_status_name(t->status));
    metrics_add(m, field, 1);
    if (t->job->route[0] != '\0') {
        snprintf(field, sizeof(field), "routes|%s|%s|%s", t->job->bridge_id, t->job->route,
                 event_status_name(t->status));
        metrics_add(m, field, 1);
    }
    if (t->succeeded) {
        int64_t latency = clock_now_ms() - t->job->received_ms;
        if (latency < 0)
            latency = 0;
        metrics_bucket_field("latency", latency, field, sizeof(field));
        metrics_add(m, field, 1);
        metrics_add(m, "latency|sum_ms", latency);
    }
}

/* The route the task delivers through, for logs. */
static const char *task_route_name(const struct task *t)
{
    if (t->route != NULL)
        return t->route->name;
    return t->job->route[0] != '\0' ? t->job->route : ROUTE_DEFAULT_NAME;
}

/* ---- recording outcomes ---- */

static void task_record(struct task *t, cJSON *attempt, cJSON *outbound, evwriter_done_cb done);

static void task_on_final_recorded(void *arg, int ok)
{
    struct task *t = arg;
    (void)ok;
    task_free(t);
}

/* Whether the outcome recorded is one an abort does not change. */
static bool task_settled(const struct task *t)
{
    return t->status == EVENT_STATUS_ABORTED || t->status == EVENT_STATUS_FILTERED;
}

static void task_on_acked(void *arg, enum fetch_ack_result res);

/* The event is recorded aborted after an abort found by the acknowledgement: acknowledge
 * again, now final. */
static void task_on_abort_recorded(void *arg, int ok)
{
    struct task *t = arg;
    if (!ok) {
        task_free(t);
        return;
    }
    char entry[JOB_ENTRY_LEN];
    job_entry(t->job, entry);
    fetch_ack(t->w, entry, t->job->bridge_id, true, t->attempt, 0, true, task_on_acked, t);
}

static void task_on_acked(void *arg, enum fetch_ack_result res)
{
    struct task *t = arg;
    bool retrying = t->status == EVENT_STATUS_RETRYING;
    if (res == FETCH_ACK_ABORT_FIRST) {
        /* An abort came while the attempt was on the wire or its outcome was being
         * committed: the retry is off and the event ends aborted, its attempt kept. The job
         * is still held, so a crash before the second acknowledgement brings it back, and
         * it is recorded aborted then. */
        t->status = EVENT_STATUS_ABORTED;
        t->due_ms = 0;
        free(t->attempt_json);
        free(t->outbound_json);
        t->attempt_json = t->outbound_json = NULL;
        task_record(t, NULL, NULL, task_on_abort_recorded);
        return;
    }
    if (retrying && res == FETCH_ACK_GONE) {
        /* Its job is already gone from Redis, so this write is the last word. */
        t->status = EVENT_STATUS_FAILED;
        t->due_ms = 0;
        free(t->attempt_json);
        free(t->outbound_json);
        t->attempt_json = t->outbound_json = NULL;
        cJSON *attempt =
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
    bool done = event_status_final(t->status);
    task_count_metrics(t, done);
    if (t->status == EVENT_STATUS_FAILED) {
        struct notice_failure f = {
            .bridge = t->bridge,
            .route = t->route,
            .job = t->job,
            .attempts = t->http_attempt ? t->attempt : t->job->attempts,
            .last_status = t->last_http_status,
            .last_error = t->last_error,
        };
        notice_send(t->w->deliver, &f, t->w->cfg.secret_key);
    }
    char entry[JOB_ENTRY_LEN];
    job_entry(t->job, entry);
    fetch_ack(t->w, entry, t->job->bridge_id, done, t->attempt, t->due_ms, task_settled(t),
              task_on_acked, t);
}

/* The whole event with this attempt, for evwriter when the event has no row yet: the usual
 * case for an event delivered at its first attempt (common/record.h). */
static char *task_full_event(void *arg)
{
    struct task *t = arg;
    return event_json(t->job, t->status, t->due_ms, t->outbound_json, t->attempt_json);
}

/* The event as accepted, for a route's outcome to be applied to (evwriter_update_route). */
static char *task_base_event(void *arg)
{
    struct task *t = arg;
    return event_json(t->job, EVENT_STATUS_QUEUED, 0, NULL, NULL);
}

/* Every route name of the task's bridge, comma-separated ("" before it is loaded). */
static char *task_routes_csv(const struct task *t)
{
    struct dynbuf b;
    size_t used = 0;
    dynbuf_init(&b, (size_t)ROUTE_MAX * (ROUTE_NAME_MAX + 1) + 1);
    for (size_t i = 0; t->bridge != NULL && t->bridge->has_routes && i < t->bridge->n_routes; i++) {
        const char *name = t->bridge->routes[i].name;
        if (t->job->only_route != NULL && strcmp(t->job->only_route, name) != 0)
            continue;
        if (used++ > 0)
            dynbuf_addc(&b, ',');
        dynbuf_addstr(&b, name);
    }
    return dynbuf_take(&b, NULL);
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
        .status = event_status_name(t->status),
        .attempt_json = t->attempt_json,
        .outbound_json = t->outbound_json,
        .next_attempt_ms = t->due_ms,
    };
    if (t->job->route[0] != '\0') {
        char *csv = task_routes_csv(t);
        evwriter_update_route(t->w->events, &u, t->job->route, csv, t->job->bridge_id,
                              t->job->received_ms, task_base_event, done, t);
        free(csv);
        return;
    }
    evwriter_update(t->w->events, &u, t->job->bridge_id, t->job->received_ms, task_full_event, done,
                    t);
}

/*
 * Finish without an HTTP attempt: aborted, filtered, a deleted bridge, a job put back too
 * often, secrets that cannot be opened. `error` (may be NULL) is recorded as an attempt
 * that never reached the network, so the event says why.
 */
static void task_finish_now(struct task *t, enum event_status status, const char *error)
{
    t->status = status;
    t->due_ms = 0;
    cJSON *attempt = NULL;
    if (error != NULL) {
        attempt = event_attempt(t->attempt, clock_now_ms(), 0, 0, error, NULL, "", 0, false);
        free(t->last_error);
        t->last_error = xstrdup(error);
    }
    log_kv(status == EVENT_STATUS_FILTERED ? LOG_INFO : LOG_WARN, "event ended without delivery",
           "event_id", t->job->id, "bridge_id", t->job->bridge_id, "route", task_route_name(t),
           "status", event_status_name(status), "error", error, NULL);
    task_record(t, attempt, NULL, task_on_recorded);
}

/* Record the attempt that task_on_done kept, with the status decided. */
static void task_record_done(struct task *t)
{
    cJSON *attempt = t->done_attempt, *outbound = t->done_outbound;
    t->done_attempt = t->done_outbound = NULL;
    task_record(t, attempt, outbound, task_on_recorded);
}

static void task_on_token(const char *token, const char *error, void *arg);

static void task_on_done(const struct deliver_result *res, void *arg)
{
    struct task *t = arg;
    t->call = NULL;
    /* The token was refused: refreshed once (unless another worker already did) and the
     * request sent again, without counting an attempt. */
    if (res->http_status == 401 && t->token != NULL && !t->oauth_resent) {
        t->oauth_resent = true;
        log_kv(LOG_INFO, "destination refused the oauth2 token; sending again with a new one",
               "event_id", t->job->id, "bridge_id", t->bridge->id, NULL);
        oauth_token(t->w, t->bridge, t->route, t->token, task_on_token, t);
        return;
    }
    task_unlink(t);
    const struct route *b = t->route;
    bool ok = res->error == NULL && res->http_status >= 200 && res->http_status < 300;
    gate_leave(&t->gate, ok);
    t->due_ms = 0;
    t->http_attempt = true;
    t->succeeded = ok;
    t->duration_ms = res->duration_ms;
    t->last_http_status = res->http_status;
    free(t->last_error);
    t->last_error = res->error ? xstrdup(res->error) : NULL;
    if (ok) {
        t->status = EVENT_STATUS_DELIVERED;
    } else if (t->attempt <= b->retries && !(b->email != NULL && res->http_status >= 500)) {
        /* An SMTP 5xx is a permanent refusal (RFC 5321 4.2.1): only 4xx and transport
         * failures are tried again. */
        long delay =
            retry_delay_seconds(t->attempt - 1, b->retry_delays, b->n_retry_delays, retry_jitter());
        if ((res->http_status == 429 || res->http_status == 503) && res->retry_after_s > delay)
            delay = res->retry_after_s;
        t->status = EVENT_STATUS_RETRYING;
        t->due_ms = clock_now_ms() + (int64_t)delay * 1000;
    } else {
        t->status = EVENT_STATUS_FAILED;
    }
    if (log_enabled(LOG_INFO)) {
        char st[8], dur[24], n[8];
        snprintf(st, sizeof(st), "%d", res->http_status);
        snprintf(dur, sizeof(dur), "%ld", res->duration_ms);
        snprintf(n, sizeof(n), "%d", t->attempt);
        log_kv(ok ? LOG_INFO : LOG_WARN, "delivery attempt", "event_id", t->job->id, "bridge_id",
               t->bridge->id, "route", task_route_name(t), "attempt", n, "status", st,
               "duration_ms", dur, "outcome", event_status_name(t->status), "error", res->error,
               NULL);
    }
    t->done_attempt =
        event_attempt(t->attempt, res->started_ms, res->duration_ms, res->http_status, res->error,
                      res->headers, res->body, res->body_len, res->truncated);
    t->done_outbound = t->outbound_json ? cJSON_Parse(t->outbound_json) : NULL;
    free(t->outbound_json);
    t->outbound_json = NULL;
    /* What was sent is no longer needed; the task may wait a while for its commit. An abort
     * that came while the attempt was on the wire is found by the acknowledgement, which
     * checks the mark atomically with taking the job (task_on_acked). */
    render_request_clear(&t->rq);
    task_record_done(t);
    /* A connection slot is free: take the next job now rather than after the ack. */
    fetch_more(t->w);
}

/* An attempt that failed before reaching the network (the request could not be started,
 * or no oauth2 token): recorded as the attempt's outcome with `error`. */
static void task_failed_here(struct task *t, const char *error)
{
    struct deliver_result res = {0};
    res.error = error;
    res.started_ms = clock_now_ms();
    res.retry_after_s = -1;
    res.body = "";
    task_on_done(&res, t);
}

/* Send the rendered request of `t` (linked, waiting to go out) with the route's TLS
 * settings and, for oauth2, its access token. */
static void task_start_call(struct task *t)
{
    struct worker *w = t->w;
    struct job *job = t->job;
    const struct route *b = t->route;
    char err[HB_ERR_LEN];
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
    /* The client key is opened for the moment libcurl copies it, then wiped. */
    char *tls_key = destcfg_get(b->tls, "client_key", w->cfg.secret_key, err, sizeof(err));
    if (tls_key == NULL && err[0] != '\0') {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        render_request_clear(&t->rq);
        task_unlink(t);
        task_finish_now(t, EVENT_STATUS_FAILED, why);
        return;
    }
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(b->tls, "client_cert");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(b->tls, "ca");
    rq.tls_cert = cJSON_IsString(cert) ? cert->valuestring : NULL;
    rq.tls_key = tls_key;
    rq.tls_ca = cJSON_IsString(ca) ? ca->valuestring : NULL;
    /* An oauth2 route's token replaces any Authorization header of the bridge's own. */
    size_t nh = 0;
    while (t->rq.hdr && t->rq.hdr[nh])
        nh++;
    const char **hdrs = xcalloc(nh + 2, sizeof(*hdrs));
    size_t k = 0;
    char *bearer = t->token ? xasprintf("Authorization: Bearer %s", t->token) : NULL;
    for (size_t i = 0; i < nh; i++)
        if (bearer == NULL || strncasecmp(t->rq.hdr[i], "Authorization:", 14) != 0)
            hdrs[k++] = t->rq.hdr[i];
    if (bearer != NULL)
        hdrs[k++] = bearer;
    rq.headers = hdrs;
    t->call = deliver_start(w->deliver, &rq, task_on_done, t, err, sizeof(err));
    destcfg_secret_free(tls_key);
    destcfg_secret_free(bearer);
    free(hdrs);
    if (t->call == NULL)
        task_failed_here(t, err);
}

/* oauth.h's answer: send with the token, or fail the attempt saying why. */
static void task_on_token(const char *token, const char *error, void *arg)
{
    struct task *t = arg;
    if (token == NULL) {
        task_failed_here(t, error);
        return;
    }
    destcfg_secret_free(t->token);
    t->token = xstrdup(token);
    task_start_call(t);
}

/*
 * An e-mail route's attempt (mail.h): the message is rendered, kept in t->rq.body until
 * the call completes, and sent over SMTP with the route's login and TLS settings.
 * Consumes `c`.
 */
static void task_send_mail(struct task *t, struct render_ctx *c)
{
    struct worker *w = t->w;
    const struct route *b = t->route;
    const cJSON *email = b->email;
    char err[HB_ERR_LEN];
    struct mail_message m, shown;
    int rc = mail_render(c, email, b->outbound_url, w->max_rendered, false, &m, err, sizeof(err));
    if (rc == 0 && t->attempt == 1 &&
        mail_render(c, email, b->outbound_url, w->max_rendered, true, &shown, err, sizeof(err)) ==
            0)
        t->outbound_json = cJSON_PrintUnformatted(shown.shown);
    if (rc == 0 && t->attempt == 1)
        mail_message_clear(&shown);
    render_ctx_clear(c);
    if (rc != 0) {
        mail_message_clear(&m);
        task_finish_now(t, EVENT_STATUS_FAILED,
                        rc == RENDER_TOO_LARGE ? "rendered_too_large" : err);
        return;
    }
    char *password = destcfg_get(email, "password", w->cfg.secret_key, err, sizeof(err));
    char *tls_key = password == NULL && err[0] != '\0'
                        ? NULL
                        : destcfg_get(b->tls, "client_key", w->cfg.secret_key, err, sizeof(err));
    if (err[0] != '\0') {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        destcfg_secret_free(password);
        mail_message_clear(&m);
        task_finish_now(t, EVENT_STATUS_FAILED, why);
        return;
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(email, "username");
    const cJSON *starttls = cJSON_GetObjectItemCaseSensitive(email, "starttls");
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(b->tls, "client_cert");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(b->tls, "ca");
    t->rq.body = m.data;
    t->rq.body_len = m.len;
    m.data = NULL;
    struct deliver_request rq = {
        .method = "POST",
        .url = b->outbound_url,
        .body = t->rq.body,
        .body_len = t->rq.body_len,
        .timeout_ms = b->timeout_ms,
        .tls_cert = cJSON_IsString(cert) ? cert->valuestring : NULL,
        .tls_key = tls_key,
        .tls_ca = cJSON_IsString(ca) ? ca->valuestring : NULL,
        .mail_from = m.from,
        .mail_rcpt = (const char *const *)m.rcpt,
        .username = cJSON_IsString(user) ? user->valuestring : NULL,
        .password = password,
        .starttls = !cJSON_IsFalse(starttls),
    };
    task_link(t);
    t->call = deliver_start(w->deliver, &rq, task_on_done, t, err, sizeof(err));
    destcfg_secret_free(password);
    destcfg_secret_free(tls_key);
    mail_message_clear(&m);
    if (t->call == NULL)
        task_failed_here(t, err);
}

static void task_start(struct task *t);
static void task_render(struct task *t, bool gate);

/* What flow control decided (worker/gate.h). */
static void task_on_gate(void *arg, enum gate_result res)
{
    struct task *t = arg;
    struct worker *w = t->w;
    task_gating--;
    if (res == GATE_GO) {
        if (t->unrendered) {
            /* Let in before rendering (task_send): render now, and start. */
            t->unrendered = false;
            task_render(t, false);
            return;
        }
        task_start(t);
        return;
    }
    /* It waits in Redis now (GATE_WAIT), or stays in the in-flight list to be put back at
     * shutdown (GATE_STOP): either way nothing is recorded and no attempt counted. */
    w->held--;
    fetch_forget(t->gate.id);
    task_free(t);
    fetch_more(w);
}

/*
 * Render, sign and send one attempt; any failure before the network ends the event. With
 * `gate`, flow control is asked once the request is rendered; without, it let the job in
 * already.
 */
static void task_render(struct task *t, bool gate)
{
    struct worker *w = t->w;
    struct job *job = t->job;
    const struct route *b = t->route;
    char err[HB_ERR_LEN];
    struct render_ctx c;
    char *signing = NULL;

    if (render_ctx_init(&c, t->bridge, b, job, w->cfg.secret_key, err, sizeof(err)) != 0) {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        task_finish_now(t, EVENT_STATUS_FAILED, why);
        return;
    }
    if (b->filter != NULL && job->attempts == 0 && !filter_match(b->filter, &c.tc)) {
        render_ctx_clear(&c);
        task_finish_now(t, EVENT_STATUS_FILTERED, NULL);
        return;
    }
    if (b->email != NULL) {
        task_send_mail(t, &c);
        return;
    }
    signing = route_signing_secret_open(b, w->cfg.secret_key, err, sizeof(err));
    if (signing == NULL && err[0] != '\0') {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        render_ctx_clear(&c);
        task_finish_now(t, EVENT_STATUS_FAILED, why);
        return;
    }
    bool *omit = xcalloc((size_t)cJSON_GetArraySize(b->headers) + 1, sizeof(*omit));
    int rc = render_request(&c, t->attempt, w->max_rendered, false, signing, omit, &t->rq, err,
                            sizeof(err));
    if (rc == 0 && t->attempt == 1) {
        /* The event shows the request with secrets redacted: rendered once more. */
        struct render_request shown;
        char why[HB_ERR_LEN];
        if (render_request(&c, t->attempt, w->max_rendered, true, signing, omit, &shown, why,
                           sizeof(why)) == 0) {
            t->outbound_json = render_outbound_json(&c, &shown);
        }
        render_request_clear(&shown);
    }
    free(omit);
    bridge_secret_free(signing);
    if (rc == 0 && gate)
        gate_prepare(w, &t->gate, t->bridge, b, job, &c.tc);
    render_ctx_clear(&c);
    if (rc == RENDER_TOO_LARGE) {
        /* The attempt records one fixed code, so that clients can match on it; the log
         * says which part outgrew its cap. */
        log_kv(LOG_WARN, "rendered request too large", "event_id", job->id, "bridge_id",
               t->bridge->id, "error", err, NULL);
        render_request_clear(&t->rq);
        task_finish_now(t, EVENT_STATUS_FAILED, "rendered_too_large");
        return;
    }
    if (rc != 0) {
        render_request_clear(&t->rq);
        task_finish_now(t, EVENT_STATUS_FAILED, err);
        return;
    }
    if (!gate) {
        task_start(t);
        return;
    }
    /* Rendered and not filtered: the attempt starts when flow control lets it. */
    task_gating++;
    gate_enter(&t->gate, task_on_gate, t);
}

static void task_send(struct task *t)
{
    const struct bridge *b = t->bridge;
    const struct route *r = t->route;
    /* A job that will only be parked (its bridge paused, its circuit open) is not rendered
     * first: a backlog for a failing destination then costs little more than the move.
     * Not when the filter decides (it needs the rendering context), nor with a rate limit
     * (its key is a template). An e-mail route always asks first, since its message is
     * rendered and sent in one step (a keyed rate limit is then the route's own). */
    if (r->email != NULL ||
        ((r->filter == NULL || t->job->attempts > 0) && gate_would_wait(t->w, b, r))) {
        gate_prepare(t->w, &t->gate, b, r, t->job, NULL);
        t->unrendered = true;
        task_gating++;
        gate_enter(&t->gate, task_on_gate, t);
        return;
    }
    task_render(t, true);
}

/* Start the attempt rendered by task_render: for an oauth2 route once its token is known. */
static void task_start(struct task *t)
{
    struct worker *w = t->w;
    const struct route *b = t->route;
    task_link(t);
    if (b->oauth2 != NULL) {
        oauth_token(w, t->bridge, b, NULL, task_on_token, t);
        return;
    }
    task_start_call(t);
}

static void task_on_route_marked(void *arg, int ok)
{
    struct task *t = arg;
    (void)ok;
    if (--t->marks == 0)
        task_free(t);
}

/* The event's id became one entry per route. Routes that wait for their delay are recorded
 * as scheduled now, so that the event says so while the other routes are delivered; the
 * task lives until those writes are committed. */
static void task_on_fanout(void *arg, int rc)
{
    struct task *t = arg;
    int64_t now = clock_now_ms();
    const struct bridge *b = t->bridge;
    t->marks = 1;
    for (size_t i = 0; rc == 0 && i < b->n_routes; i++) {
        int64_t due = t->job->received_ms + (int64_t)b->routes[i].delay_seconds * 1000;
        if (due <= now ||
            (t->job->only_route != NULL && strcmp(t->job->only_route, b->routes[i].name) != 0))
            continue;
        struct store_event_update u = {
            .id = t->job->id,
            .status = event_status_name(EVENT_STATUS_SCHEDULED),
            .next_attempt_ms = due,
        };
        char *csv = task_routes_csv(t);
        t->marks++;
        evwriter_update_route(t->w->events, &u, b->routes[i].name, csv, t->job->bridge_id,
                              t->job->received_ms, task_base_event, task_on_route_marked, t);
        free(csv);
    }
    task_on_route_marked(t, 1);
}

void task_run(struct worker *w, struct job *job)
{
    char err[HB_ERR_LEN];
    struct task *t = task_get();
    t->w = w;
    t->job = job;
    t->attempt = job->attempts + 1;

    /* A route's entry is recorded aborted once its bridge is loaded (below): the record
     * names every route of the bridge, so that the event's first row does not show this
     * route alone and derive "aborted" while the others are still pending. */
    if (job->aborted && job->route[0] == '\0') {
        task_finish_now(t, EVENT_STATUS_ABORTED, NULL);
        return;
    }
    if (job->requeues > QUEUE_MAX_REQUEUES) {
        char why[160];
        snprintf(why, sizeof(why),
                 "put back %d times after workers died holding it; not retried again",
                 job->requeues);
        task_finish_now(t, EVENT_STATUS_FAILED, why);
        return;
    }
    /* A replay's first attempt reads the bridge as it is now (wbridges.h). */
    bool fresh = job->replay_of != NULL && job->replay_of[0] != '\0' && job->attempts == 0;
    int rc = wbridges_get(w->store, job->bridge_id, fresh, &t->bref, err, sizeof err);
    if (rc == STORE_NOTFOUND) {
        task_finish_now(t, EVENT_STATUS_ABORTED, "bridge deleted");
        return;
    }
    if (rc != 0) {
        /* SQLite is unavailable: try the job again shortly without counting an attempt. */
        log_kv(LOG_WARN, "bridge lookup failed; job postponed", "event_id", job->id, "error", err,
               NULL);
        t->status = EVENT_STATUS_RETRYING;
        char entry[JOB_ENTRY_LEN];
        job_entry(job, entry);
        fetch_ack(w, entry, job->bridge_id, false, job->attempts, clock_now_ms() + 5000, false,
                  task_on_acked, t);
        return;
    }
    t->bridge = wbridges_bridge(t->bref);
    if (job->aborted) {
        task_finish_now(t, EVENT_STATUS_ABORTED, NULL);
        return;
    }
    if (t->bridge->has_routes && job->route[0] == '\0' && job->only_route != NULL &&
        bridge_route(t->bridge, job->only_route) == NULL) {
        task_finish_now(t, EVENT_STATUS_ABORTED, "route removed from the bridge");
        return;
    }
    if (t->bridge->has_routes && job->route[0] == '\0') {
        /* An event of a bridge with routes is queued as its id; it becomes one queue entry
         * per route here, each then taken, retried and acknowledged on its own. */
        fetch_fanout(w, job, t->bridge, task_on_fanout, t);
        return;
    }
    if (job->route[0] != '\0') {
        t->route = bridge_route(t->bridge, job->route);
        if (t->route == NULL) {
            task_finish_now(t, EVENT_STATUS_ABORTED, "route removed from the bridge");
            return;
        }
    } else {
        t->route = &t->bridge->routes[0];
    }
    task_send(t);
}

void task_cancel_all(void)
{
    /* Shutdown: the cache lets go of its entries; tasks still settling keep theirs. */
    wbridges_forget();
    while (!LIST_EMPTY(&task_list)) {
        struct task *t = LIST_FIRST(&task_list);
        task_unlink(t);
        if (t->call)
            deliver_cancel(t->call);
        oauth_forget(t);
        log_kv(LOG_WARN, "delivery abandoned at shutdown; job goes back to the queue", "event_id",
               t->job->id, NULL);
        task_free(t);
    }
}

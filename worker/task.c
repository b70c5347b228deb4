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
#include "event.h"
#include "evwriter.h"
#include "fetch.h"
#include "filter.h"
#include "flow.h"
#include "gate.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "rconn.h"
#include "render.h"
#include "retry.h"
#include "store.h"
#include "worker.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task {
    struct worker *w;
    struct job *job;
    struct bridge *bridge;
    int attempt; /* 1-based number of this attempt */
    struct deliver_call *call;
    struct render_request rq;
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
    struct gate_ticket gate;  /* flow control (worker/gate.h) */
    bool unrendered;          /* asked flow control before rendering (task_send) */
};

static struct task *task_list;
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

static void task_free(struct task *t)
{
    gate_ticket_clear(&t->gate);
    render_request_clear(&t->rq);
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
    if (strcmp(t->status, "failed") == 0) {
        struct notice_failure f = {
            .bridge = t->bridge,
            .job = t->job,
            .attempts = t->http_attempt ? t->attempt : t->job->attempts,
            .last_status = t->last_http_status,
            .last_error = t->last_error,
        };
        notice_send(t->w->deliver, &f, t->w->cfg.secret_key);
    }
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
    gate_leave(&t->gate, ok);
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
    render_request_clear(&t->rq);
    task_check_aborted(t);
    /* A connection slot is free: take the next job now rather than after the ack. */
    fetch_more(t->w);
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
    const struct bridge *b = t->bridge;
    char err[HB_ERR_LEN];
    struct render_ctx c;
    char *signing = NULL;

    if (render_ctx_init(&c, t->bridge, job, w->cfg.secret_key, err, sizeof(err)) != 0) {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        task_finish_now(t, "failed", why);
        return;
    }
    if (b->filter != NULL && job->attempts == 0 && !filter_match(b->filter, &c.tc)) {
        render_ctx_clear(&c);
        task_finish_now(t, "filtered", NULL);
        return;
    }
    signing = bridge_signing_secret_open(b, w->cfg.secret_key, err, sizeof(err));
    if (signing == NULL && err[0] != '\0') {
        char why[HB_ERR_LEN + 64];
        snprintf(why, sizeof(why), "bridge secrets cannot be decrypted: %s", err);
        render_ctx_clear(&c);
        task_finish_now(t, "failed", why);
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
            cJSON *o = render_outbound(&c, &shown);
            t->outbound_json = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
        }
        render_request_clear(&shown);
    }
    free(omit);
    bridge_secret_free(signing);
    if (rc == 0 && gate)
        gate_prepare(w, &t->gate, b, FLOW_DEFAULT_ROUTE, job, &c.tc);
    render_ctx_clear(&c);
    if (rc == RENDER_TOO_LARGE) {
        /* The attempt records one fixed code, so that clients can match on it; the log
         * says which part outgrew its cap. */
        log_kv(LOG_WARN, "rendered request too large", "event_id", job->id, "bridge_id", b->id,
               "error", err, NULL);
        render_request_clear(&t->rq);
        task_finish_now(t, "failed", "rendered_too_large");
        return;
    }
    if (rc != 0) {
        render_request_clear(&t->rq);
        task_finish_now(t, "failed", err);
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
    /* A job that will only be parked (its bridge paused, its circuit open) is not rendered
     * first: a backlog for a failing destination then costs little more than the move.
     * Not when the filter decides (it needs the rendering context), nor with a rate limit
     * (its key is a template). */
    if ((b->filter == NULL || t->job->attempts > 0) &&
        gate_would_wait(t->w, b, FLOW_DEFAULT_ROUTE)) {
        gate_prepare(t->w, &t->gate, b, FLOW_DEFAULT_ROUTE, t->job, NULL);
        t->unrendered = true;
        task_gating++;
        gate_enter(&t->gate, task_on_gate, t);
        return;
    }
    task_render(t, true);
}

/* Start the attempt rendered by task_send. */
static void task_start(struct task *t)
{
    struct worker *w = t->w;
    struct job *job = t->job;
    const struct bridge *b = t->bridge;
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
}

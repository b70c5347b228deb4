/*
 * main.c - hookbridge-worker: takes jobs from Redis and delivers them, up to
 * --concurrency at once, with libcurl multi on one libevent loop.
 *
 * SIGTERM/SIGINT: stop taking jobs, let in-flight deliveries finish within
 * --shutdown-timeout, record their outcomes, put everything unfinished back on the queue,
 * exit 0.
 */
#include "bridge.h"
#include "clock.h"
#include "deliver.h"
#include "evwriter.h"
#include "fetch.h"
#include "gate.h"
#include "hb.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "oauth.h"
#include "rconn.h"
#include "retention.h"
#include "sweep.h"
#include "store.h"
#include "task.h"
#include "worker.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct worker_main {
    struct worker w;
    struct event *sigterm, *sigint, *drain, *metrics, *logs;
    struct retention *retention;
    struct sweep *sweep;
    int64_t deadline;
} wm;

static void worker_on_cmd_state(struct rconn *rc, bool up, void *arg)
{
    struct worker *w = arg;
    (void)rc;
    if (up)
        fetch_more(w);
}

static void worker_flush_metrics(struct worker *w)
{
    char key[QUEUE_KEY_LEN];
    metrics_key(w->cfg.key_prefix, key, sizeof(key));
    metrics_flush(w->metrics, w->cmd, key);
}

static void worker_on_metrics(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    worker_flush_metrics(w);
    struct timeval tv = {METRICS_FLUSH_MS / 1000, (METRICS_FLUSH_MS % 1000) * 1000};
    evtimer_add(wm.metrics, &tv);
}

static void worker_on_logs(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_flush();
    struct timeval tv = {0, LOG_FLUSH_MS * 1000};
    evtimer_add(wm.logs, &tv);
}

static void worker_drain(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    /* Wait for requests in flight and for their outcomes to be committed and acked. */
    if ((task_active() > 0 || w->held > 0) && clock_mono_ms() < wm.deadline) {
        evwriter_flush(w->events);
        struct timeval tv = {0, 20 * 1000};
        evtimer_add(wm.drain, &tv);
        return;
    }
    event_base_loopexit(w->base, NULL);
}

static void worker_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    (void)what;
    if (w->stopping)
        return;
    w->stopping = true;
    char n[16];
    snprintf(n, sizeof(n), "%d", task_active());
    log_kv(LOG_INFO, "stopping: finishing in-flight deliveries", "signal",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", "in_flight", n, NULL);
    wm.deadline = clock_mono_ms() + w->cfg.shutdown_timeout * 1000;
    worker_drain(-1, 0, w);
}

/* event_free, which does not take NULL. */
static void worker_event_free(struct event *ev)
{
    if (ev != NULL)
        event_free(ev);
}

static void worker_make_id(struct worker *w)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "worker");
    host[sizeof(host) - 1] = '\0';
    snprintf(w->id, sizeof(w->id), "%s:%d:%08x", host, (int)getpid(), randombytes_random());
}

/* HOOKBRIDGE_MAX_BODY: its default and largest value, as the ingress reads them. */
#define WORKER_MAX_BODY_DEFAULT 1048576L
#define WORKER_MAX_BODY_MAX (1L << 30)

/*
 * The cap of a rendered outbound body: 4 x HOOKBRIDGE_MAX_BODY (README, "hookbridge-worker";
 * over it the event fails with rendered_too_large). The worker takes no --max-body flag (it
 * belongs to the ingress) but reads the same environment variable, so one setting sizes
 * both. Returns 0, or -1 with `err` when the variable is set to something else than a
 * whole number of bytes in 1 .. 2^30.
 */
static int worker_max_rendered(size_t *out, char *err, size_t errlen)
{
    const char *v = getenv("HOOKBRIDGE_MAX_BODY");
    long n = WORKER_MAX_BODY_DEFAULT;
    if (v != NULL) {
        char *end;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < 1 || n > WORKER_MAX_BODY_MAX) {
            snprintf(err, errlen, "HOOKBRIDGE_MAX_BODY: expected a number of bytes in 1..%ld",
                     WORKER_MAX_BODY_MAX);
            return -1;
        }
    }
    *out = 4 * (size_t)n;
    return 0;
}

int main(int argc, char **argv)
{
    struct worker *w = &wm.w;
    char err[HB_ERR_LEN];
    int status = 1;
    /* SIGTERM before the loop's handlers exist must not kill the process: it waits,
     * blocked, until they are installed, then stops it cleanly. */
    sigset_t stopsigs;
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stopsigs, NULL);

    int rc = config_load(&w->cfg, CONFIG_WORKER, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc > 0)
            return 0;
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        return 2;
    }
    if (worker_max_rendered(&w->max_rendered, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        return 2;
    }
    if (log_setup(w->cfg.log_level, w->cfg.log_format, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hookbridge-worker: libsodium cannot be initialised\n");
        return 2;
    }
    xalloc_init_cjson();
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "hookbridge-worker: libcurl cannot be initialised\n");
        return 2;
    }

    if (store_open(w->cfg.db, &w->store, err, sizeof err) != 0) {
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        goto out;
    }
    if (bridge_key_check(w->store, w->cfg.secret_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        status = 2;
        goto out;
    }
    worker_make_id(w);
    queue_keys_init(&w->keys, w->cfg.key_prefix);
    queue_key_inflight(&w->keys, w->id, w->inflight_key, sizeof(w->inflight_key));
    w->base = event_base_new();
    if (w->base == NULL) {
        fprintf(stderr, "hookbridge-worker: cannot create the event loop\n");
        goto out;
    }
    w->deliver = deliver_new(w->base, w->cfg.concurrency, w->cfg.deny_private);
    wm.sigterm = evsignal_new(w->base, SIGTERM, worker_on_signal, w);
    wm.sigint = evsignal_new(w->base, SIGINT, worker_on_signal, w);
    wm.drain = evtimer_new(w->base, worker_drain, w);
    wm.metrics = evtimer_new(w->base, worker_on_metrics, w);
    wm.logs = evtimer_new(w->base, worker_on_logs, w);
    if (w->deliver == NULL || wm.sigterm == NULL || wm.sigint == NULL || wm.drain == NULL ||
        wm.metrics == NULL || wm.logs == NULL || evsignal_add(wm.sigterm, NULL) != 0 ||
        evsignal_add(wm.sigint, NULL) != 0) {
        fprintf(stderr, "hookbridge-worker: cannot set up the event loop (out of memory or "
                        "file descriptors)\n");
        goto out;
    }
    if (deliver_set_proxy(w->deliver, w->cfg.proxy, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-worker: HOOKBRIDGE_PROXY/--proxy: %s\n", err);
        status = 2;
        goto out;
    }
    /* Its own thread and connection: committing the outcomes took a fifth of the loop's
     * CPU, and the loop's CPU is what bounds one worker's deliveries (README, "Speed"). */
    if (evwriter_new_threaded(w->base, w->cfg.db, 10, 1000, &w->events, err, sizeof err) != 0) {
        fprintf(stderr, "hookbridge-worker: %s\n", err);
        goto out;
    }
    w->cmd = rconn_new(w->base, &w->cfg.redis, "redis commands", worker_on_cmd_state, w);
    w->block = rconn_new(w->base, &w->cfg.redis, "redis blocking", NULL, NULL);
    w->metrics = metrics_batch_new();
    worker_on_metrics(-1, 0, w);
    worker_on_logs(-1, 0, w);
    sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);

    char conc[16];
    snprintf(conc, sizeof(conc), "%ld", w->cfg.concurrency);
    log_kv(LOG_INFO, "worker started", "worker", w->id, "concurrency", conc, "version", HB_VERSION,
           NULL);
    wm.retention = retention_start(w->base, w->store, w->cfg.retention_days);
    wm.sweep = sweep_start(w);
    bool started = fetch_start(w, task_run, task_active) == 0 && wm.sweep != NULL &&
                   gate_start(w) == 0 && (w->cfg.retention_days <= 0 || wm.retention != NULL);
    if (started) {
        event_base_dispatch(w->base);
    } else {
        log_kv(LOG_ERROR, "cannot start timers (out of memory)", NULL);
        w->stopping = true;
    }
    retention_stop(wm.retention);
    sweep_stop(wm.sweep);
    gate_stop();

    /* Past the deadline: abandon what is still in flight; it goes back to the queue. */
    task_cancel_all();
    notice_cancel_all();
    evwriter_flush(w->events);
    worker_flush_metrics(w);
    fetch_stop(w);
    rconn_free(w->block);
    rconn_free(w->cmd);
    oauth_stop();
    fetch_release_all(w);
    gate_release_all(w);
    log_kv(LOG_INFO, "worker stopped", "worker", w->id, NULL);
    status = started ? 0 : 1;

    metrics_batch_free(w->metrics);
    evwriter_free(w->events);
out:
    worker_event_free(wm.sigterm);
    worker_event_free(wm.sigint);
    worker_event_free(wm.drain);
    worker_event_free(wm.metrics);
    worker_event_free(wm.logs);
    deliver_free(w->deliver);
    if (w->base != NULL)
        event_base_free(w->base);
    store_close(w->store);
    curl_global_cleanup();
    return status;
}

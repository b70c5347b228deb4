/*
 * retention.c - deletes events older than --retention-days, a small batch at a time.
 *
 * Each tick deletes at most RETENTION_BATCH rows in one short transaction, so deliveries
 * sharing the loop and the database never wait long. While a backlog remains the next tick
 * comes after nine times as long as the last one took (at least RETENTION_BUSY_MS): about
 * a tenth of the loop, so a backlog of millions clears at thousands of rows a second
 * (scripts/bench --only retention) and deliveries keep nine tenths of their pace; with
 * nothing to delete, once a minute. Any number of workers may do this at once: deleting
 * an already-deleted row costs nothing.
 */
#include "retention.h"

#include "clock.h"
#include "hb.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#define RETENTION_BATCH 500
#define RETENTION_IDLE_MS 60000
#define RETENTION_BUSY_MS 20
/* While catching up, the loop's share retention may take is 1 / (1 + RETENTION_PAUSE). */
#define RETENTION_PAUSE 9

struct retention {
    struct store *st;
    long days;
    struct event *timer;
};

static void retention_arm(struct retention *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

static void retention_tick(evutil_socket_t fd, short what, void *arg)
{
    struct retention *r = arg;
    char err[HB_ERR_LEN];
    int deleted = 0;
    (void)fd;
    (void)what;
    int64_t cutoff = clock_now_ms() - (int64_t)r->days * 86400000;
    int64_t started = clock_mono_ms();
    if (store_event_delete_older(r->st, cutoff, RETENTION_BATCH, &deleted, err, sizeof err) != 0) {
        log_kv(LOG_WARN, "retention: delete failed; trying later", "error", err, NULL);
        retention_arm(r, RETENTION_IDLE_MS);
        return;
    }
    if (deleted > 0) {
        char n[16];
        snprintf(n, sizeof(n), "%d", deleted);
        log_kv(LOG_DEBUG, "retention: deleted old events", "events", n, NULL);
    }
    if (deleted < RETENTION_BATCH) {
        retention_arm(r, RETENTION_IDLE_MS);
        return;
    }
    int64_t pause = (clock_mono_ms() - started) * RETENTION_PAUSE;
    retention_arm(r, pause > RETENTION_BUSY_MS ? (long)pause : RETENTION_BUSY_MS);
}

struct retention *retention_start(struct event_base *base, struct store *st, long days)
{
    if (days <= 0)
        return NULL;
    struct retention *r = xcalloc(1, sizeof(*r));
    r->st = st;
    r->days = days;
    r->timer = evtimer_new(base, retention_tick, r);
    if (r->timer == NULL) {
        free(r);
        return NULL;
    }
    /* Soon after start, so a restarted stack catches up without waiting a minute. */
    retention_arm(r, 1000);
    return r;
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    event_free(r->timer);
    free(r);
}

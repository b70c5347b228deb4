/*
 * sweep.c - rows for events that wait (see sweep.h).
 *
 * Events younger than SWEEP_AGE_MS are left alone: most are delivered by then, and their
 * delivery writes their only row. While a backlog of older ids remains, the next batch is
 * taken SWEEP_BUSY_MS later, so a worker catches up at up to 20,000 rows a second without
 * holding its loop.
 *
 * An old id the workers are about to deliver is left alone too: in a backlog every waiting
 * event is older than SWEEP_AGE_MS, and writing its row a moment before its delivery
 * rewrites it was a fifth of a drained delivery's CPU. "About to" is within the next
 * SWEEP_REACH_MS of this worker's own drain rate (acknowledgements over the last second),
 * counted in places on the ready list (record_sweep); other workers draining too only make
 * the sweep write rows it could have left. An id older than SWEEP_AGE_MS + SWEEP_REACH_MS
 * is written whatever the drain, so an event waits at most that long (and a tick) for its
 * row; a list read writes the newest ones at once (common/record.h).
 */
#include "sweep.h"

#include "clock.h"
#include "record.h"
#include "worker.h"
#include "xalloc.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define SWEEP_AGE_MS 5000
#define SWEEP_BATCH 1000
#define SWEEP_IDLE_MS 1000
#define SWEEP_BUSY_MS 50
#define SWEEP_REACH_MS 10000
/* The most places ahead looked at (LINDEX walks the list that far). */
#define SWEEP_AHEAD_MAX 1000000

struct sweep {
    struct worker *w;
    struct event *timer;
    bool waiting;        /* a take is out to Redis */
    bool stopped;        /* sweep_stop came while waiting: the answer frees */
    int64_t rate_ms;     /* when the drain rate was last measured */
    uint64_t rate_acked; /* w->acked then */
    int ahead;           /* places on ready this worker delivers in SWEEP_REACH_MS */
};

/* Measure this worker's drain rate over the last second or more, as places ahead. */
static void sweep_measure(struct sweep *s, int64_t now)
{
    int64_t span = now - s->rate_ms;
    if (span < 1000)
        return;
    uint64_t acks = s->w->acked - s->rate_acked;
    uint64_t ahead = acks * SWEEP_REACH_MS / (uint64_t)span;
    s->ahead = ahead > SWEEP_AHEAD_MAX ? SWEEP_AHEAD_MAX : (int)ahead;
    s->rate_ms = now;
    s->rate_acked = s->w->acked;
}

static void sweep_arm(struct sweep *s, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void sweep_on_taken(void *arg, int taken)
{
    struct sweep *s = arg;
    s->waiting = false;
    if (s->stopped) {
        event_free(s->timer);
        free(s);
        return;
    }
    sweep_arm(s, taken == SWEEP_BATCH ? SWEEP_BUSY_MS : SWEEP_IDLE_MS);
}

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sweep *s = arg;
    (void)fd;
    (void)what;
    struct worker *w = s->w;
    int64_t now = clock_now_ms();
    sweep_measure(s, now);
    if (record_sweep(w->cmd, &w->keys, w->events, SWEEP_BATCH, now - SWEEP_AGE_MS, s->ahead,
                     now - SWEEP_AGE_MS - SWEEP_REACH_MS, sweep_on_taken, s) != 0) {
        /* Redis is away: try again later, as everything else does. */
        sweep_arm(s, SWEEP_IDLE_MS);
        return;
    }
    s->waiting = true;
}

struct sweep *sweep_start(struct worker *w)
{
    struct sweep *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->rate_ms = clock_now_ms();
    s->rate_acked = w->acked;
    s->timer = evtimer_new(w->base, sweep_tick, s);
    if (s->timer == NULL) {
        free(s);
        return NULL;
    }
    sweep_arm(s, SWEEP_IDLE_MS);
    return s;
}

void sweep_stop(struct sweep *s)
{
    if (s == NULL)
        return;
    evtimer_del(s->timer);
    if (s->waiting) {
        s->stopped = true;
        return;
    }
    event_free(s->timer);
    free(s);
}

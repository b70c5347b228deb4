/*
 * sweep.c - rows for events that wait (see sweep.h).
 *
 * Events younger than SWEEP_AGE_MS are left alone: most are delivered by then, and their
 * delivery writes their only row. While a backlog of older ids remains, the next batch is
 * taken SWEEP_BUSY_MS later, so a worker catches up at up to 20,000 rows a second without
 * holding its loop.
 */
#include "sweep.h"

#include "clock.h"
#include "record.h"
#include "worker.h"
#include "xalloc.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#define SWEEP_AGE_MS 5000
#define SWEEP_BATCH 1000
#define SWEEP_IDLE_MS 1000
#define SWEEP_BUSY_MS 50

struct sweep {
    struct worker *w;
    struct event *timer;
    bool waiting; /* a take is out to Redis */
    bool stopped; /* sweep_stop came while waiting: the answer frees */
};

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
    if (record_take(w->cmd, &w->keys, w->events, SWEEP_BATCH, clock_now_ms() - SWEEP_AGE_MS,
                    sweep_on_taken, s) != 0) {
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

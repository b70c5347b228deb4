/*
 * gate.h - flow control in the worker (SPEC "Flow control"; state and keys in
 * common/flow.h): before an attempt starts, one Lua call decides whether it may start now
 * (pause, circuit, max_concurrency, rate_limit); after it, another releases its
 * concurrency lease and counts it for the circuit.
 *
 * A job that must wait leaves this worker for Redis in the same script (a wait list, or
 * scheduled at its rate limit slot), so no job is ever only in worker memory; waiting is
 * not an attempt. Once a second the sweep releases what waits for nothing any more, and
 * leases this worker holds are renewed, so that a crashed worker's share comes back within
 * FLOW_LEASE_MS + the sweep.
 *
 * Fairness: a route with half of --concurrency already between the gate and the end of
 * its attempts in this worker gets no more while anything may be queued behind it (the
 * ready list was not empty at the last look), unless its attempts are fast (averaging
 * under 100 ms: they give their slots back at once): the job is parked in Redis
 * (flow:wait:{bridge}:{route}:fair) and taken back as one of the route's attempts ends, or
 * into free slots once the ready list is empty. So a slow destination holds at most half
 * the slots while others wait, and alone it may use them all.
 *
 * The common case asks Redis nothing: a route with no rate limit or concurrency limit, a
 * bridge not paused (its row, read for every job), and a circuit that had no failure
 * counted when last asked, less than a second ago.
 */
#ifndef GATE_H
#define GATE_H

#include "flow.h"
#include "hb.h"
#include "job.h"
#include "queue.h"

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct bridge;
struct route;
struct job;
struct tmpl_ctx;
struct event;
struct gate_route;

enum gate_result {
    GATE_GO,   /* start the attempt now */
    GATE_WAIT, /* the job now waits in Redis: this worker lets go of it, without an ack */
    GATE_STOP, /* the worker is stopping: the job stays in flight, to be put back */
};

typedef void (*gate_cb)(void *arg, enum gate_result res);

/* One job's passage through the gate; lives in the task (zeroed), cleared by
 * gate_ticket_clear. */
struct gate_ticket {
    struct worker *w;
    struct flow_conf conf;
    char id[JOB_ENTRY_LEN]; /* the queue entry: "evt_…" or "evt_…/route" */
    char event_id[HB_ID_LEN], bridge_id[64], route[72];
    char rl_key[QUEUE_KEY_LEN];
    char member[200];
    long probe_ms;
    bool leased;   /* holds a concurrency lease */
    bool counted;  /* the circuit had failures counted, or this is its probe: report a success */
    bool busy;     /* a gate call is out */
    bool in_route; /* counted in its route's active jobs (fairness) */
    bool paused;   /* the bridge row says its deliveries are paused */
    int64_t started_ms; /* mono ms when let in, for the route's average duration */
    struct gate_route *rt;
    gate_cb cb;
    void *arg;
    struct event *timer;
    struct gate_ticket *prev, *next; /* leases held, for the renewal */
};

/*
 * Get ready to ask whether job `j` of bridge `b` (route `route`) may start: reads the
 * route's settings and renders the rate limit key with `tc`, which need not outlive this
 * call. Then gate_enter asks; `cb` runs once with the answer, from the loop (or within
 * gate_enter when the worker is stopping).
 */
void gate_prepare(struct worker *w, struct gate_ticket *g, const struct bridge *b,
                  const struct route *r, const struct job *j, const struct tmpl_ctx *tc);
void gate_enter(struct gate_ticket *g, gate_cb cb, void *arg);

/* Whether a job of bridge `b`, route `route`, is sure to wait (its bridge paused, or its
 * circuit open when last heard of), so that it may ask before it is rendered (then with
 * `tc` NULL in gate_prepare: only for routes without a rate limit). */
bool gate_would_wait(struct worker *w, const struct bridge *b, const struct route *r);

/* The attempt let in by gate_enter ended (`ok`: a 2xx): release its lease, count it for the
 * circuit; opening and closing are logged, counted and sent to the bridge's notify_url. */
void gate_leave(struct gate_ticket *g, bool ok);

/* Free what the ticket holds (its lease, if still held, expires by itself). */
void gate_ticket_clear(struct gate_ticket *g);

/* Fairness pulls on their way (they count against --concurrency like jobs in flight). */
int gate_pulling(void);

/* Put the jobs this worker parked for fairness back on the queue (at shutdown, after
 * task_cancel_all and fetch_release_all; blocks on a short-lived connection like it), and
 * free what fairness kept. */
void gate_release_all(struct worker *w);

/* The sweep and lease renewal timers. */
int gate_start(struct worker *w);
void gate_stop(void);

#endif

/*
 * gate.c - flow control before and after each attempt (see gate.h and common/flow.h).
 */
#include "gate.h"

#include "bridge.h"
#include "dynbuf.h"
#include "clock.h"
#include "fetch.h"
#include "flow.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "notice.h"
#include "rconn.h"
#include "route.h"
#include "store.h"
#include "template.h"
#include "worker.h"
#include "xalloc.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATE_SWEEP_MS 1000
#define GATE_RENEW_MS 5000
#define GATE_SWEEP_BATCH 500
/* A probe's hold on a half-open circuit outlives its request by this much. */
#define GATE_PROBE_SLACK_MS 5000
/* A route whose circuit showed no failure counted is trusted that long without asking
 * Redis (when it has no rate limit or concurrency limit and its bridge is not paused). */
#define GATE_CLEAN_MS 1000
/* A route whose attempts average under this is fast: it frees its slots at once, and is
 * not held to its share (parking it would only cost Redis calls). */
#define GATE_FAST_MS 100
#define GATE_FAST_SAMPLES 8
/* A park also moves up to this many of the same route's entries next in the ready list to
 * its fair list (flow_lua_fair_park): bounded, so one call stays short for Redis. */
#define GATE_WALK_MAX_STR "1000"
/* A pull from a fair list takes back at most this many jobs a call (flow_lua_fair_pull):
 * one reply, taken in one turn of the loop. Up to GATE_PULLS_OUT such calls may be out for
 * a route, so that Redis answers the next while the worker starts the jobs of the last
 * (one call at a time left a 1,000-slot worker a third empty). */
#define GATE_PULL_MAX 64
#define GATE_PULLS_OUT 8

/* The scripts go by their SHA1 (rconn_evalsha): the gate script alone is 4 KB of text that
 * Redis would otherwise read and hash at every call. */
static struct rconn_script gate_sc_gate = RCONN_SCRIPT(flow_lua_gate);
static struct rconn_script gate_sc_done = RCONN_SCRIPT(flow_lua_done);
static struct rconn_script gate_sc_sweep = RCONN_SCRIPT(flow_lua_sweep);
static struct rconn_script gate_sc_renew = RCONN_SCRIPT(flow_lua_renew);
static struct rconn_script gate_sc_cpark = RCONN_SCRIPT(flow_lua_circuit_park);
static struct rconn_script gate_sc_fair_park = RCONN_SCRIPT(flow_lua_fair_park);
static struct rconn_script gate_sc_fair_pull = RCONN_SCRIPT(flow_lua_fair_pull);

/* A route this worker has seen, for fairness. Never freed before gate_stop: there are as
 * many as routes, and tickets point at them. */
struct gate_route {
    char bridge_id[64], route[72];
    int active;          /* its jobs between the gate and the end of their attempt */
    bool parked;         /* this worker parked some of its jobs for fairness */
    bool others;         /* another worker did (seen in flow:waits while this one was idle) */
    long owed;           /* its jobs ended since the last pull, each may bring one back */
    int pulls;           /* its pulls out to Redis (at most GATE_PULLS_OUT) */
    int64_t clean_until; /* mono ms: its circuit had nothing counted when last asked */
    int64_t open_until;  /* mono ms: its circuit was open until then when last heard of */
    long avg_ms;         /* moving average of its attempts' durations */
    int samples;
    struct gate_ticket **cpark; /* jobs to park for its open circuit at the turn's end */
    int cpark_n, cpark_cap;
    struct gate_route *next;
};

static struct gate_state {
    struct worker *w;
    struct event *sweep, *renew;
    bool sweeping;
    bool looking;               /* asking flow:waits for other workers' fair lists */
    struct gate_ticket *leases; /* tickets holding a lease */
    struct gate_route *routes;
    long pulling;           /* slots promised to fairness pulls out to Redis */
    struct event *cpark_ev; /* sends the circuit parks gathered in this loop turn */
    struct event *pull_ev;  /* sends the fairness pulls owed in this loop turn */
} gs;

int gate_pulling(void)
{
    return (int)gs.pulling;
}

/* Slots of --concurrency not taken by jobs in the gate or in flight, nor promised to pulls. */
static long gate_room(const struct worker *w)
{
    long room = w->cfg.concurrency - gs.pulling;
    for (const struct gate_route *r = gs.routes; r != NULL; r = r->next)
        room -= r->active;
    return room;
}

static struct gate_route *gate_route_get(const char *bridge_id, const char *route)
{
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next)
        if (strcmp(r->bridge_id, bridge_id) == 0 && strcmp(r->route, route) == 0)
            return r;
    struct gate_route *r = xcalloc(1, sizeof(*r));
    snprintf(r->bridge_id, sizeof(r->bridge_id), "%s", bridge_id);
    snprintf(r->route, sizeof(r->route), "%s", route);
    r->next = gs.routes;
    gs.routes = r;
    return r;
}

static long gate_fair_share(const struct worker *w)
{
    return w->cfg.concurrency / 2 > 0 ? w->cfg.concurrency / 2 : 1;
}

/* Whether route `rt` may take no more of this worker's slots now (see gate.h). */
static bool gate_route_capped(const struct gate_route *rt, const struct worker *w)
{
    bool fast = rt->samples >= GATE_FAST_SAMPLES && rt->avg_ms < GATE_FAST_MS;
    return rt->active >= gate_fair_share(w) && !fetch_idle() && !fast;
}

static void gate_arm(struct event *ev, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void gate_lease_link(struct gate_ticket *g)
{
    g->leased = true;
    g->prev = NULL;
    g->next = gs.leases;
    if (gs.leases)
        gs.leases->prev = g;
    gs.leases = g;
}

static void gate_lease_unlink(struct gate_ticket *g)
{
    if (!g->leased)
        return;
    if (g->prev)
        g->prev->next = g->next;
    else
        gs.leases = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
    g->leased = false;
}

/* The strings of `parts` (NULL-ended) joined into `out`, cut to fit: key names are short
 * (checked bridge ids and route names), and snprintf's truncation warnings do not know. */
static void gate_join(char *out, size_t outlen, const char *const *parts)
{
    size_t n = 0;
    for (size_t i = 0; parts[i] != NULL && outlen > 0; i++) {
        size_t l = strlen(parts[i]);
        if (l > outlen - 1 - n)
            l = outlen - 1 - n;
        memcpy(out + n, parts[i], l);
        n += l;
    }
    if (outlen > 0)
        out[n] = '\0';
}

/* "{prefix}flow:{what}:{bridge}:{route}{tail}" */
static void gate_route_key(const struct gate_ticket *g, const char *what, const char *tail,
                           char *out, size_t outlen)
{
    const char *parts[] = {g->w->keys.prefix, "flow:", what, ":", g->bridge_id, ":",
                           g->route,          tail,    NULL};
    gate_join(out, outlen, parts);
}

static void gate_send(struct gate_ticket *g);

static void gate_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gate_send(arg);
}

/* Try again in `ms` (a start a moment early, or Redis away); the job stays in flight. */
static void gate_later(struct gate_ticket *g, long ms)
{
    if (g->timer == NULL)
        g->timer = evtimer_new(g->w->base, gate_on_timer, g);
    if (g->timer == NULL) {
        g->cb(g->arg, GATE_STOP);
        return;
    }
    gate_arm(g->timer, ms);
}

struct gate_pull {
    struct worker *w;
    struct gate_route *rt;
    long n;
};

static void gate_pull(struct worker *w, struct gate_route *rt);
static int gate_pull_send(struct worker *w, struct gate_route *rt, long n);

static void gate_on_pulled(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_pull *p = priv;
    struct gate_route *rt = p->rt;
    struct worker *w = p->w;
    redisReply *reply = r;
    (void)ac;
    gs.pulling -= p->n;
    rt->pulls--;
    long got = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        /* Queue entries ("evt_…", or "evt_…/route" for a bridge with routes) and their job
         * hashes, oldest first: taken in that order. One that does not fit stays in the
         * in-flight list, which the orphan check puts back on the queue. */
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *e = reply->element[i];
            got++;
            if (e->type != REDIS_REPLY_STRING || e->len >= JOB_ENTRY_LEN || w->stopping)
                continue;
            char id[JOB_ENTRY_LEN];
            memcpy(id, e->str, e->len);
            id[e->len] = '\0';
            fetch_take_one(w, id, reply->element[i + 1]);
        }
        if (got < p->n)
            rt->parked = rt->others = false; /* none left: the sweep or a worker took them */
    }
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "fairness pull script failed", "bridge_id", rt->bridge_id, "route",
               rt->route, "error", reply->str, NULL);
    free(p);
    /* Jobs that ended while this pull was out owe more; a full batch may have more behind. */
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        gate_pull(w, rt);
}

/* Take jobs parked for fairness of route `rt` back into this worker, as many as it may
 * take now, GATE_PULL_MAX a call and at most GATE_PULLS_OUT calls out (a part batch only
 * when none is out): those owed meanwhile go together in the next. Nothing queued (the ready list
 * was empty): as many as there are free slots. Otherwise one for each of the route's jobs that
 * ended, within its share unless its attempts are fast (as gate_route_capped). */
static void gate_pull(struct worker *w, struct gate_route *rt)
{
    if (!(rt->parked || rt->others) || w->stopping)
        return;
    long room = gate_room(w);
    long n = room;
    if (!fetch_idle()) {
        n = rt->owed;
        bool fast = rt->samples >= GATE_FAST_SAMPLES && rt->avg_ms < GATE_FAST_MS;
        long below = gate_fair_share(w) - rt->active;
        if (!fast && n > below) {
            n = below > 0 ? below : 0;
            rt->owed = n; /* the rest would have found the route at its share */
        }
    }
    if (n > room)
        n = room;
    /* A part batch waits for the call out, gathering what ends meanwhile; full ones go
     * along at once. */
    while (n > 0 && rt->pulls < GATE_PULLS_OUT && (rt->pulls == 0 || n >= GATE_PULL_MAX)) {
        long k = n > GATE_PULL_MAX ? GATE_PULL_MAX : n;
        if (gate_pull_send(w, rt, k) != 0)
            return;
        rt->owed = rt->owed > k ? rt->owed - k : 0;
        n -= k;
    }
}

/* One pull call of `n` jobs of route `rt`. */
static int gate_pull_send(struct worker *w, struct gate_route *rt, long n)
{
    char fair[QUEUE_KEY_LEN], hash[QUEUE_KEY_LEN], count[24];
    const char *fp[] = {w->keys.prefix, "flow:wait:", rt->bridge_id, ":", rt->route, ":fair", NULL};
    const char *hp[] = {w->keys.prefix, "flow:route:", rt->bridge_id, ":", rt->route, NULL};
    gate_join(fair, sizeof(fair), fp);
    gate_join(hash, sizeof(hash), hp);
    snprintf(count, sizeof(count), "%ld", n);
    struct gate_pull *p = xcalloc(1, sizeof(*p));
    p->w = w;
    p->rt = rt;
    p->n = n;
    if (rconn_evalsha_cmd(w->cmd, gate_on_pulled, p, &gate_sc_fair_pull, "3 %s %s %s %s %s", fair,
                          w->inflight_key, hash, w->keys.prefix, count) != 0) {
        free(p); /* the sweep moves them */
        return -1;
    }
    rt->pulls++;
    gs.pulling += n;
    return 0;
}

/* The pulls owed in this turn of the loop, one call a route (see gate_pull). */
static void gate_on_pull_turn(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next)
        if (r->owed > 0 || fetch_idle())
            gate_pull(w, r);
}

/* Nothing is queued (the ready list was empty): parked routes may use the free slots. */
static void gate_fair_refill(struct worker *w)
{
    if (!fetch_idle() || w->stopping)
        return;
    for (struct gate_route *r = gs.routes; r != NULL && gate_room(w) > 0; r = r->next)
        gate_pull(w, r);
}

/* flow:waits answered: the fair lists among its members are pulled from while this worker
 * has nothing queued and free slots (gate_fair_refill), whichever worker parked them. */
static void gate_on_waits(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    (void)ac;
    gs.looking = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || w->stopping)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *m = reply->element[i];
        /* "f|{bridge}|{route}" */
        if (m->type != REDIS_REPLY_STRING || m->len < 5 || strncmp(m->str, "f|", 2) != 0)
            continue;
        const char *bar = memchr(m->str + 2, '|', m->len - 2);
        if (bar == NULL)
            continue;
        char bridge[64], route[72];
        size_t bl = (size_t)(bar - (m->str + 2)), rl = m->len - 3 - bl;
        if (bl == 0 || bl >= sizeof(bridge) || rl == 0 || rl >= sizeof(route))
            continue;
        memcpy(bridge, m->str + 2, bl);
        bridge[bl] = '\0';
        memcpy(route, bar + 1, rl);
        route[rl] = '\0';
        gate_route_get(bridge, route)->others = true;
    }
    gate_fair_refill(w);
}

/* Nothing queued and room to spare: look for fair lists other workers parked (a worker
 * started after another parked a backlog takes its part now, not once the sweep put the
 * list back on the queue after 5 s without pulls, which its parker's pulls prevent). */
static void gate_look_for_others(struct worker *w)
{
    if (gs.looking || !fetch_idle() || w->stopping || gate_room(w) < GATE_PULL_MAX / 2)
        return;
    char waits[QUEUE_KEY_LEN];
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    if (rconn_cmd(w->cmd, gate_on_waits, w, "SRANDMEMBER %s 100", waits) == 0)
        gs.looking = true;
}

/* A job of the route is done with (its attempt ended, or it waits elsewhere now): one
 * parked for fairness may take its place, pulled at the end of this turn of the loop with
 * the others that ended in it. */
static void gate_route_release(struct gate_ticket *g)
{
    if (!g->in_route)
        return;
    g->in_route = false;
    struct gate_route *rt = g->rt;
    struct worker *w = g->w;
    rt->active--;
    if (!rt->parked || w->stopping)
        return;
    if (gate_route_capped(rt, w) || gate_room(w) <= 0)
        return;
    rt->owed++;
    if (gs.pull_ev != NULL && !evtimer_pending(gs.pull_ev, NULL)) {
        struct timeval now = {0, 0};
        evtimer_add(gs.pull_ev, &now);
    }
}

static void gate_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_ticket *g = priv;
    redisReply *reply = r;
    (void)ac;
    g->busy = false;
    if (g->w->stopping) {
        gate_route_release(g);
        g->cb(g->arg, GATE_STOP);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            log_kv(LOG_ERROR, "gate script failed", "event_id", g->id, "error", reply->str, NULL);
        gate_later(g, 1000);
        return;
    }
    const char *what = reply->element[0]->str;
    long long n = reply->element[1]->type == REDIS_REPLY_INTEGER ? reply->element[1]->integer : 0;
    if (strcmp(what, "go") == 0) {
        g->counted = n != 0;
        g->started_ms = clock_mono_ms();
        if (n == 0)
            g->rt->clean_until = g->started_ms + GATE_CLEAN_MS;
        if (g->conf.max_concurrency > 0)
            gate_lease_link(g);
        g->cb(g->arg, GATE_GO);
    } else if (strcmp(what, "hold") == 0) {
        gate_later(g, n > 0 ? (long)n : 1);
    } else {
        log_kv(LOG_DEBUG, "delivery waits", "event_id", g->id, "bridge_id", g->bridge_id, "route",
               g->route, "waiting", what, NULL);
        if (strcmp(what, "circuit") == 0 && n > 0)
            g->rt->open_until = clock_mono_ms() + (n - clock_now_ms());
        gate_route_release(g);
        g->cb(g->arg, GATE_WAIT);
    }
}

static void gate_send(struct gate_ticket *g)
{
    struct worker *w = g->w;
    if (w->stopping) {
        gate_route_release(g);
        g->cb(g->arg, GATE_STOP);
        return;
    }
    char job[QUEUE_KEY_LEN], paused[QUEUE_KEY_LEN], waits[QUEUE_KEY_LEN], hash[QUEUE_KEY_LEN],
        conc[QUEUE_KEY_LEN], cwait[QUEUE_KEY_LEN], kwait[QUEUE_KEY_LEN], pwait[QUEUE_KEY_LEN],
        rl[QUEUE_KEY_LEN + 16], rls[QUEUE_KEY_LEN + 32], rlw[QUEUE_KEY_LEN];
    queue_key_job(&w->keys, g->event_id, job, sizeof(job));
    flow_key_paused_set(w->keys.prefix, paused, sizeof(paused));
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    flow_key_rl_waiting(w->keys.prefix, rlw, sizeof(rlw));
    gate_route_key(g, "route", "", hash, sizeof(hash));
    gate_route_key(g, "conc", "", conc, sizeof(conc));
    gate_route_key(g, "wait", ":concurrency", cwait, sizeof(cwait));
    gate_route_key(g, "wait", ":circuit", kwait, sizeof(kwait));
    const char *pp[] = {w->keys.prefix, "flow:wait:", g->bridge_id, ":paused", NULL};
    const char *rp[] = {w->keys.prefix, "flow:rl:", g->rl_key, NULL};
    const char *sp[] = {w->keys.prefix, "flow:rl:", g->rl_key, ":started", NULL};
    gate_join(pwait, sizeof(pwait), pp);
    gate_join(rl, sizeof(rl), rp);
    gate_join(rls, sizeof(rls), sp);
    char a5[24], a6[24], a7[24], a8[24], a9[24], a10[24];
    snprintf(a5, sizeof(a5), "%ld", g->conf.max_concurrency);
    snprintf(a6, sizeof(a6), "%ld", g->conf.cb_failures);
    snprintf(a7, sizeof(a7), "%ld", g->conf.cb_open_seconds * 1000);
    snprintf(a8, sizeof(a8), "%ld", g->conf.rl_requests);
    /* Starts are spaced by the window plus a small margin (2 %, at most 250 ms): the
     * destination counts arrivals, which a network and a loaded host shift by some
     * milliseconds, and a window that is exact here would be one over there. */
    long per_ms = g->conf.rl_per_seconds * 1000;
    long margin = per_ms / 50 < 250 ? per_ms / 50 : 250;
    snprintf(a9, sizeof(a9), "%ld", per_ms + margin);
    snprintf(a10, sizeof(a10), "%ld", g->probe_ms);
    if (rconn_evalsha_cmd(w->cmd, gate_on_reply, g, &gate_sc_gate,
                          "13 %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s",
                          job, w->inflight_key, w->keys.scheduled, paused, waits, hash, conc, cwait,
                          kwait, pwait, rl, rls, rlw, g->id, g->bridge_id, g->route, g->member, a5,
                          a6, a7, a8, a9, a10) != 0) {
        gate_later(g, 1000);
        return;
    }
    g->busy = true;
}

static void gate_on_fair_parked(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_ticket *g = priv;
    redisReply *reply = r;
    (void)ac;
    g->busy = false;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        g->rt->parked = true;
        g->cb(g->arg, GATE_WAIT);
        return;
    }
    /* Not parked: it is still in flight here, and goes through the gate after all. */
    g->rt->active++;
    g->in_route = true;
    gate_send(g);
}

/* Park a job of a route over its share for fairness (see gate.h). */
static void gate_fair_park(struct gate_ticket *g)
{
    struct worker *w = g->w;
    char fair[QUEUE_KEY_LEN], waits[QUEUE_KEY_LEN], tag[160];
    gate_route_key(g, "wait", ":fair", fair, sizeof(fair));
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    const char *tp[] = {"f|", g->bridge_id, "|", g->route, NULL};
    gate_join(tag, sizeof(tag), tp);
    /* No walk while the route's circuit may be counting failures: a failing destination's
     * backlog is parked for its circuit a batch a turn (gate_cpark_add), which a walk into
     * the fair list would turn into a pull and a park a job. */
    bool clean = g->conf.cb_failures == 0 || clock_mono_ms() < g->rt->clean_until;
    if (rconn_evalsha_cmd(w->cmd, gate_on_fair_parked, g, &gate_sc_fair_park,
                          "4 %s %s %s %s %s %s %s %s %s", w->inflight_key, fair, waits,
                          w->keys.ready, g->id, tag, g->bridge_id, w->keys.prefix,
                          clean ? GATE_WALK_MAX_STR : "0") != 0) {
        g->rt->active++;
        g->in_route = true;
        gate_send(g);
        return;
    }
    g->busy = true;
}

void gate_prepare(struct worker *w, struct gate_ticket *g, const struct bridge *b,
                  const struct route *r, const struct job *j, const struct tmpl_ctx *tc)
{
    const char *route = r->name;
    g->w = w;
    flow_conf_clear(&g->conf);
    flow_conf_read(r->flow, &g->conf);
    /* What waits and comes back is the queue entry (one per route of a bridge with
     * routes); the job hash is the event's. */
    job_entry(j, g->id);
    snprintf(g->event_id, sizeof(g->event_id), "%s", j->id);
    const char *mp[] = {w->id, "|", g->id, NULL};
    snprintf(g->bridge_id, sizeof(g->bridge_id), "%s", b->id);
    snprintf(g->route, sizeof(g->route), "%s", route);
    gate_join(g->member, sizeof(g->member), mp);
    g->rt = gate_route_get(b->id, route);
    g->probe_ms = r->timeout_ms + GATE_PROBE_SLACK_MS;
    g->paused = b->paused;
    /* The default budget is the route's own; a key template shares one between routes and
     * bridges. A key that cannot be rendered falls back to the route's own budget. */
    const char *kp[] = {b->id, ":", route, NULL};
    gate_join(g->rl_key, sizeof(g->rl_key), kp);
    if (g->conf.rl_requests > 0 && g->conf.rl_key != NULL && tc != NULL) {
        char err[HB_ERR_LEN];
        char *k = tmpl_render_text(g->conf.rl_key, tc, TMPL_TEXT, err, sizeof(err));
        if (k != NULL && k[0] != '\0' && strlen(k) < sizeof(g->rl_key))
            snprintf(g->rl_key, sizeof(g->rl_key), "%s", k);
        else
            log_kv(LOG_WARN, "rate_limit key not rendered; the route's own budget applies",
                   "event_id", j->id, "bridge_id", b->id, "error", k ? "too long or empty" : err,
                   NULL);
        free(k);
    }
}

bool gate_would_wait(struct worker *w, const struct bridge *b, const struct route *r)
{
    (void)w;
    const char *route = r->name;
    struct flow_conf c;
    flow_conf_read(r->flow, &c);
    /* A rate limit key is rendered: such jobs ask once rendered. */
    bool keyed = c.rl_requests > 0 && c.rl_key != NULL;
    bool simple = c.rl_requests == 0 && c.max_concurrency == 0 && c.cb_failures > 0;
    flow_conf_clear(&c);
    if (keyed)
        return false;
    if (b->paused)
        return true;
    return simple && clock_mono_ms() < gate_route_get(b->id, route)->open_until;
}

/* Jobs parked together for an open circuit (flow_lua_circuit_park). */
#define GATE_CPARK_MAX 256

struct gate_cpark {
    struct worker *w;
    struct gate_route *rt;
    struct gate_ticket **tickets;
    int n;
};

static void gate_on_cparked(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_cpark *p = priv;
    redisReply *reply = r;
    (void)ac;
    bool parked = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
                  reply->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp(reply->element[0]->str, "circuit") == 0;
    if (parked && reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer > 0)
        p->rt->open_until = clock_mono_ms() + (reply->element[1]->integer - clock_now_ms());
    else if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        p->rt->open_until = 0; /* not open now: the next jobs of the route need not try */
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "circuit park script failed", "bridge_id", p->rt->bridge_id, "route",
               p->rt->route, "error", reply->str, NULL);
    for (int i = 0; i < p->n; i++) {
        struct gate_ticket *g = p->tickets[i];
        g->busy = false;
        if (parked) {
            g->cb(g->arg, GATE_WAIT);
        } else if (p->w->stopping) {
            g->cb(g->arg, GATE_STOP);
        } else {
            /* Closed meanwhile (or the bridge paused, or Redis failed): each asks the
             * gate as usual. */
            g->rt->active++;
            g->in_route = true;
            gate_send(g);
        }
    }
    free(p->tickets);
    free(p);
}

/* Send the circuit parks of one route gathered in this turn: one call for all of them. */
static void gate_cpark_send(struct worker *w, struct gate_route *rt)
{
    struct gate_cpark *p = xcalloc(1, sizeof(*p));
    p->w = w;
    p->rt = rt;
    p->tickets = rt->cpark;
    p->n = rt->cpark_n;
    rt->cpark = NULL;
    rt->cpark_n = rt->cpark_cap = 0;
    const struct gate_ticket *g0 = p->tickets[0];
    char hash[QUEUE_KEY_LEN], kwait[QUEUE_KEY_LEN], waits[QUEUE_KEY_LEN], paused[QUEUE_KEY_LEN],
        tag[160], fails[24];
    gate_route_key(g0, "route", "", hash, sizeof(hash));
    gate_route_key(g0, "wait", ":circuit", kwait, sizeof(kwait));
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    flow_key_paused_set(w->keys.prefix, paused, sizeof(paused));
    const char *tp[] = {"k|", rt->bridge_id, "|", rt->route, NULL};
    gate_join(tag, sizeof(tag), tp);
    snprintf(fails, sizeof(fails), "%ld", g0->conf.cb_failures);
    /* 5 keys… then tag, bridge, failures, prefix, entries… */
    int argc = 1 + 5 + 4 + p->n;
    const char **argv = xcalloc((size_t)argc, sizeof(*argv));
    size_t *lens = xcalloc((size_t)argc, sizeof(*lens));
    const char *head[] = {"5", w->inflight_key, hash,  kwait,         waits, paused,
                          tag, rt->bridge_id,   fails, w->keys.prefix};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        argv[i] = head[i];
    for (int i = 0; i < p->n; i++)
        argv[10 + i] = p->tickets[i]->id;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int rc = rconn_evalsha(w->cmd, gate_on_cparked, p, &gate_sc_cpark, argc, argv, lens);
    free(lens);
    free(argv);
    if (rc != 0) {
        gate_on_cparked(NULL, NULL, p);
        return;
    }
    for (int i = 0; i < p->n; i++)
        p->tickets[i]->busy = true;
}

static void gate_on_cpark_turn(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next)
        if (r->cpark_n > 0)
            gate_cpark_send(w, r);
}

/* Park `g` for its route's open circuit with the others of this loop turn. */
static void gate_cpark_add(struct gate_ticket *g)
{
    struct gate_route *rt = g->rt;
    if (rt->cpark_n == rt->cpark_cap) {
        rt->cpark_cap = rt->cpark_cap ? 2 * rt->cpark_cap : 16;
        rt->cpark = xrealloc(rt->cpark, (size_t)rt->cpark_cap * sizeof(*rt->cpark));
    }
    rt->cpark[rt->cpark_n++] = g;
    g->busy = true;
    if (rt->cpark_n >= GATE_CPARK_MAX) {
        gate_cpark_send(g->w, rt);
        return;
    }
    if (rt->cpark_n == 1) {
        struct timeval now = {0, 0};
        evtimer_add(gs.cpark_ev, &now);
    }
}

void gate_enter(struct gate_ticket *g, gate_cb cb, void *arg)
{
    g->cb = cb;
    g->arg = arg;
    struct worker *w = g->w;
    struct gate_route *rt = g->rt;
    if (gate_route_capped(rt, w) && !w->stopping) {
        gate_fair_park(g);
        return;
    }
    /* Its circuit was open when last heard of: parked with the others of this turn, one
     * call for all (a backlog for a dead destination must not cost a gate call a job). */
    int64_t mono = clock_mono_ms();
    if (!g->paused && g->conf.rl_requests == 0 && g->conf.max_concurrency == 0 &&
        g->conf.cb_failures > 0 && mono < rt->open_until && !w->stopping && gs.cpark_ev != NULL) {
        gate_cpark_add(g);
        return;
    }
    rt->active++;
    g->in_route = true;
    /* Nothing to ask Redis: no limit, not paused, and the circuit had nothing counted a
     * moment ago. The common case then costs no call (a circuit another worker opened is
     * seen within GATE_CLEAN_MS). */
    int64_t now = clock_mono_ms();
    if (!g->paused && g->conf.rl_requests == 0 && g->conf.max_concurrency == 0 &&
        (g->conf.cb_failures == 0 || now < rt->clean_until) && !w->stopping) {
        g->counted = false;
        g->started_ms = now;
        g->cb(g->arg, GATE_GO);
        return;
    }
    /* Straight on: answers come back in the order asked, so jobs pass (or park) in the
     * order they were taken. `cb` may run inside this call when the worker is stopping. */
    gate_send(g);
}

/* An attempt's outcome counted; the circuit may have opened or closed. */
struct gate_done {
    struct worker *w;
    char id[JOB_ENTRY_LEN], event_id[HB_ID_LEN], bridge_id[64], route[72];
    long open_seconds;
};

static void gate_on_done(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_done *d = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_STRING || reply->len == 0) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            log_kv(LOG_ERROR, "gate done script failed", "event_id", d->id, "error", reply->str,
                   NULL);
        free(d);
        return;
    }
    bool opened = strcmp(reply->str, "opened") == 0;
    struct gate_route *rt = gate_route_get(d->bridge_id, d->route);
    rt->clean_until = 0;
    rt->open_until = opened ? clock_mono_ms() + d->open_seconds * 1000 : 0;
    const char *type = opened ? "circuit_opened" : "circuit_closed";
    log_kv(opened ? LOG_WARN : LOG_INFO, opened ? "circuit opened" : "circuit closed", "bridge_id",
           d->bridge_id, "route", d->route, "event_id", d->event_id, NULL);
    char field[METRICS_FIELD_LEN];
    snprintf(field, sizeof(field), "circuit|%s", opened ? "opened" : "closed");
    metrics_add(d->w->metrics, field, 1);
    /* The notice goes to the bridge as it is now (its notify_url may have changed). */
    char err[HB_ERR_LEN];
    char *json = NULL;
    struct bridge *b = NULL;
    if (store_bridge_get(d->w->store, d->bridge_id, &json, err, sizeof err) == 0 &&
        bridge_from_store(json, &b, err, sizeof(err)) == 0)
        notice_send_circuit(d->w->deliver, b, d->route, type, d->event_id,
                            opened ? d->open_seconds : 0, d->w->cfg.secret_key);
    bridge_free(b);
    free(json);
    free(d);
}

void gate_leave(struct gate_ticket *g, bool ok)
{
    struct worker *w = g->w;
    if (w == NULL)
        return;
    struct gate_route *rt = g->rt;
    if (rt != NULL && g->in_route) {
        long d = (long)(clock_mono_ms() - g->started_ms);
        rt->avg_ms = rt->samples == 0 ? d : (rt->avg_ms * 7 + d) / 8;
        if (rt->samples < GATE_FAST_SAMPLES)
            rt->samples++;
        if (!ok)
            rt->clean_until = 0;
    }
    gate_route_release(g);
    bool leased = g->leased;
    gate_lease_unlink(g);
    /* A success on a route with no failure counted changes nothing in Redis: the common
     * case costs no call. (A failure counted by another worker since this attempt passed
     * the gate is then not reset by it: the count is "consecutive" to within that.) */
    if (!leased && (g->conf.cb_failures == 0 || (ok && !g->counted)))
        return;
    char hash[QUEUE_KEY_LEN], conc[QUEUE_KEY_LEN], cwait[QUEUE_KEY_LEN], kwait[QUEUE_KEY_LEN],
        waits[QUEUE_KEY_LEN], a3[24], a4[24];
    gate_route_key(g, "route", "", hash, sizeof(hash));
    gate_route_key(g, "conc", "", conc, sizeof(conc));
    gate_route_key(g, "wait", ":concurrency", cwait, sizeof(cwait));
    gate_route_key(g, "wait", ":circuit", kwait, sizeof(kwait));
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    snprintf(a3, sizeof(a3), "%ld", g->conf.cb_failures);
    snprintf(a4, sizeof(a4), "%ld", g->conf.cb_open_seconds * 1000);
    struct gate_done *d = xcalloc(1, sizeof(*d));
    d->w = w;
    snprintf(d->id, sizeof(d->id), "%s", g->id);
    snprintf(d->event_id, sizeof(d->event_id), "%s", g->event_id);
    snprintf(d->bridge_id, sizeof(d->bridge_id), "%s", g->bridge_id);
    snprintf(d->route, sizeof(d->route), "%s", g->route);
    d->open_seconds = g->conf.cb_open_seconds;
    if (rconn_evalsha_cmd(w->cmd, gate_on_done, d, &gate_sc_done,
                          "6 %s %s %s %s %s %s %s %s %s %s %s %s", hash, conc, cwait, kwait,
                          w->keys.ready, waits, leased ? g->member : "", ok ? "1" : "0", a3, a4,
                          g->id, w->keys.prefix) != 0)
        free(d); /* the lease expires by itself; the circuit misses one count */
}

void gate_ticket_clear(struct gate_ticket *g)
{
    if (g->in_route) {
        g->rt->active--;
        g->in_route = false;
    }
    gate_lease_unlink(g);
    if (g->timer != NULL)
        event_free(g->timer);
    g->timer = NULL;
    flow_conf_clear(&g->conf);
}

/* ---- sweep and renewal ---- */

static void gate_on_swept(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    gs.sweeping = false;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "flow sweep script failed", "error", reply->str, NULL);
    /* A full batch (a big paused backlog being released): go again at once, a batch a
     * call, so Redis serves everyone else between batches. */
    bool more =
        reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= GATE_SWEEP_BATCH;
    if (gs.w != NULL && !gs.w->stopping && gs.sweep != NULL)
        gate_arm(gs.sweep, more ? 0 : GATE_SWEEP_MS);
}

static void gate_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    gate_fair_refill(w);
    gate_look_for_others(w);
    if (gs.sweeping)
        return;
    char waits[QUEUE_KEY_LEN], paused[QUEUE_KEY_LEN], batch[16];
    flow_key_waits(w->keys.prefix, waits, sizeof(waits));
    flow_key_paused_set(w->keys.prefix, paused, sizeof(paused));
    snprintf(batch, sizeof(batch), "%d", GATE_SWEEP_BATCH);
    if (rconn_evalsha_cmd(w->cmd, gate_on_swept, NULL, &gate_sc_sweep, "3 %s %s %s %s %s", waits,
                          paused, w->keys.ready, w->keys.prefix, batch) != 0) {
        gate_arm(gs.sweep, GATE_SWEEP_MS);
        return;
    }
    gs.sweeping = true;
}

static void gate_on_renew_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "lease renewal failed", "error", reply->str, NULL);
}

static void gate_on_renew(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    size_t n = 0;
    for (struct gate_ticket *g = gs.leases; g != NULL; g = g->next)
        n++;
    if (n > 0) {
        /* 0 keys, then zset, member pairs. */
        size_t argc = 1 + 2 * n;
        const char **argv = xcalloc(argc, sizeof(*argv));
        size_t *lens = xcalloc(argc, sizeof(*lens));
        char **keys = xcalloc(n, sizeof(*keys));
        argv[0] = "0";
        size_t i = 0;
        for (struct gate_ticket *g = gs.leases; g != NULL; g = g->next, i++) {
            keys[i] = xcalloc(1, QUEUE_KEY_LEN);
            gate_route_key(g, "conc", "", keys[i], QUEUE_KEY_LEN);
            argv[1 + 2 * i] = keys[i];
            argv[2 + 2 * i] = g->member;
        }
        for (size_t k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        rconn_evalsha(w->cmd, gate_on_renew_reply, NULL, &gate_sc_renew, (int)argc, argv, lens);
        for (i = 0; i < n; i++)
            free(keys[i]);
        free(keys);
        free(lens);
        free(argv);
    }
    gate_arm(gs.renew, GATE_RENEW_MS);
}

int gate_start(struct worker *w)
{
    gs.w = w;
    fetch_on_idle(gate_fair_refill);
    gs.sweep = evtimer_new(w->base, gate_on_sweep, w);
    gs.renew = evtimer_new(w->base, gate_on_renew, w);
    gs.cpark_ev = evtimer_new(w->base, gate_on_cpark_turn, w);
    gs.pull_ev = evtimer_new(w->base, gate_on_pull_turn, w);
    if (gs.sweep == NULL || gs.renew == NULL || gs.cpark_ev == NULL || gs.pull_ev == NULL) {
        gate_stop();
        return -1;
    }
    gate_arm(gs.sweep, GATE_SWEEP_MS);
    gate_arm(gs.renew, GATE_RENEW_MS);
    return 0;
}

/* The routes, once no ticket points at them any more. */
static void gate_routes_free(void)
{
    while (gs.routes != NULL) {
        struct gate_route *r = gs.routes;
        gs.routes = r->next;
        free(r->cpark);
        free(r);
    }
}

void gate_release_all(struct worker *w)
{
    bool any = false;
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next)
        any = any || r->parked;
    if (!any) {
        gate_routes_free();
        return;
    }
    struct timeval tv = {2, 0};
    char err[HB_ERR_LEN];
    redisContext *c = rconn_connect_blocking(&w->cfg.redis, tv, err, sizeof(err));
    if (c == NULL) {
        log_kv(LOG_WARN,
               "release parked jobs: redis unreachable; another worker's sweep returns them",
               "error", err, NULL);
        gate_routes_free();
        return;
    }
    long long n = 0;
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next) {
        if (!r->parked)
            continue;
        char fair[QUEUE_KEY_LEN];
        const char *fp[] = {w->keys.prefix, "flow:wait:", r->bridge_id, ":",
                            r->route,       ":fair",      NULL};
        gate_join(fair, sizeof(fair), fp);
        redisReply *rep =
            redisCommand(c, "EVAL %s 2 %s %s", flow_lua_fair_release, fair, w->keys.ready);
        if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
            n += rep->integer;
        if (rep != NULL)
            freeReplyObject(rep);
    }
    redisFree(c);
    gate_routes_free();
    if (n > 0) {
        char ns[24];
        snprintf(ns, sizeof(ns), "%lld", n);
        log_kv(LOG_INFO, "put jobs parked for fairness back on the queue", "jobs", ns, NULL);
    }
}

void gate_stop(void)
{
    /* Parks gathered but not sent: those jobs stay in flight, to be put back. */
    for (struct gate_route *r = gs.routes; r != NULL; r = r->next) {
        struct gate_ticket **t = r->cpark;
        int n = r->cpark_n;
        r->cpark = NULL;
        r->cpark_n = r->cpark_cap = 0;
        for (int i = 0; i < n; i++) {
            t[i]->busy = false;
            t[i]->cb(t[i]->arg, GATE_STOP);
        }
        free(t);
    }
    if (gs.sweep != NULL)
        event_free(gs.sweep);
    if (gs.renew != NULL)
        event_free(gs.renew);
    if (gs.cpark_ev != NULL)
        event_free(gs.cpark_ev);
    if (gs.pull_ev != NULL)
        event_free(gs.pull_ev);
    gs.sweep = gs.renew = NULL;
    gs.cpark_ev = gs.pull_ev = NULL;
}

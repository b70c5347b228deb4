/*
 * flow.h - flow control of a route (SPEC "Flow control"): rate_limit, max_concurrency,
 * circuit, and pausing a bridge's deliveries.
 *
 * The fields are checked here for bridge.c (one setter each), and read back into a
 * `struct flow_conf` for the worker's gate (worker/gate.c). The state is in Redis, under
 * the key prefix, so that every worker on every host shares it (README, "Queue in Redis"):
 *   flow:paused                    SET   ids of bridges whose deliveries are paused
 *   flow:rl:{key}                  LIST  start slots (ms) reserved by the last `requests`
 *                                        jobs of a rate limit key, oldest first
 *   flow:rl:{key}:started          LIST  when the last `requests` attempts really started
 *   flow:route:{bridge}:{route}    HASH  conc_max, cb_failures, cb_open_ms (the settings
 *                                        the sweep needs) and the circuit: fails, open_until,
 *                                        probe, probe_until
 *   flow:conc:{bridge}:{route}     ZSET  leases "{worker}|{event}" by expiry in ms
 *   flow:wait:{bridge}:{route}:concurrency, flow:wait:{bridge}:{route}:circuit,
 *   flow:wait:{bridge}:{route}:fair,
 *   flow:wait:{bridge}:paused      LIST  event ids parked (LPUSH in, released from the right)
 *   flow:waits                     SET   "p|{bridge}", "c|{bridge}|{route}", "k|…", "f|…"
 *                                        for wait lists that may hold ids (swept every second)
 *   flow:rl_waiting                ZSET  ids scheduled for a rate limit slot, by slot (counts)
 * A job that waits carries `waiting` (and `wait_until` in ms when known) in its hash; a job
 * that reserved a rate limit slot carries `rl_slot`.
 */
#ifndef FLOW_H
#define FLOW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The route name of a bridge without routes. */
#define FLOW_DEFAULT_ROUTE "default"

#define FLOW_CIRCUIT_FAILURES 10
#define FLOW_CIRCUIT_OPEN_S 60

/* A concurrency lease lives this long unless its worker's heartbeat renews it. */
#define FLOW_LEASE_MS 20000

/* Settings of one route, as the gate reads them. */
struct flow_conf {
    long rl_requests;     /* 0: no rate limit */
    long rl_per_seconds;  /* window */
    char *rl_key;         /* template, NULL for the route's own budget */
    long max_concurrency; /* 0: unlimited */
    long cb_failures;     /* 0: no circuit */
    long cb_open_seconds;
};

/*
 * Setters for bridge.c's field table: check the API value and keep it in *flow (an object
 * holding the flow fields given, created on first use; null removes a field, which for
 * `circuit` turns the breaker off). Return 0, or -1 with `err`.
 */
int flow_set_rate_limit(cJSON **flow, const cJSON *v, char *err, size_t errlen);
int flow_set_max_concurrency(cJSON **flow, const cJSON *v, char *err, size_t errlen);
int flow_set_circuit(cJSON **flow, const cJSON *v, char *err, size_t errlen);

/* Add the API view of the flow fields (`rate_limit`, `max_concurrency`, `circuit`, each
 * shown with its default) to bridge object `o`. */
void flow_to_api(const cJSON *flow, cJSON *o);

/* Read `flow` (NULL is every default) into `c`; free with flow_conf_clear. */
void flow_conf_read(const cJSON *flow, struct flow_conf *c);

/* The same from the three fields as a route keeps them (common/route.h once routes are
 * merged): `circuit` NULL is absent (the default breaker), a JSON null is off. */
void flow_conf_from(const cJSON *rate_limit, long max_concurrency, const cJSON *circuit,
                    struct flow_conf *c);
void flow_conf_clear(struct flow_conf *c);

/* Key names (see above); `out` gets at most outlen bytes. */
void flow_key_paused_set(const char *prefix, char *out, size_t outlen);
void flow_key_waits(const char *prefix, char *out, size_t outlen);
void flow_key_rl_waiting(const char *prefix, char *out, size_t outlen);

/*
 * The gate, run before every attempt. KEYS: job, inflight, scheduled, paused set, waits,
 * route hash, conc zset, conc wait, circuit wait, paused wait, rl slots, rl started,
 * rl_waiting. ARGV: id, bridge id, route, lease member, conc_max, cb_failures, cb_open_ms,
 * rl_requests, rl_per_ms, probe_ms.
 * Returns {"go", flags} (1: this attempt is the circuit's probe; 2: the route has failures
 * counted, so a success must reset them), {"hold", ms} (a start a moment too early: try again after
 * ms; the job stays in flight), or {"paused"|"concurrency"|"circuit"|"rate_limit", until_ms or 0}:
 * the job left the in-flight list for a wait list, or for scheduled at until_ms.
 */
extern const char flow_lua_gate[];

/*
 * After an attempt. KEYS: route hash, conc zset, conc wait, circuit wait, ready, waits.
 * ARGV: lease member ("" for none), ok 1|0, cb_failures, cb_open_ms, id, prefix.
 * Returns "opened", "closed" or "".
 */
extern const char flow_lua_done[];

/*
 * Release what waits for nothing any more: for each member of flow:waits, parked ids of a
 * bridge no longer paused, as many concurrency waiters as slots are free (expired leases
 * dropped), one circuit waiter as the probe once open_seconds passed, all of them once the
 * circuit closed. KEYS: waits, paused set, ready. ARGV: prefix, now unused, batch.
 * Returns the number of ids moved to ready.
 */
extern const char flow_lua_sweep[];

/* Renew leases to FLOW_LEASE_MS from now: ARGV: zset key, member pairs. */
extern const char flow_lua_renew[];

/* Counts for /api/stats: {paused, rate_limit, concurrency, circuit} ids waiting, from the
 * lengths of the wait lists named in flow:waits and the size of flow:rl_waiting (no scan
 * of a backlog). KEYS: waits, rl_waiting. ARGV: prefix. */
extern const char flow_lua_stats[];

/*
 * Park jobs of one route whose circuit the worker last heard was open, all taken in one
 * loop turn, in one call (worker/gate.c): a backlog for a dead destination then costs a
 * few commands a job, not a gate call each. Only when the bridge is not paused, and the
 * circuit (ARGV[3] failures, the route's setting as the worker read it) is open now: then
 * each entry leaves the in-flight list for the route's circuit wait list, its job says
 * "waiting":"circuit" until the circuit's end, and {"circuit", open_until ms} is returned;
 * else nothing changes and {"ask", 0} is returned (each job then asks flow_lua_gate).
 * KEYS: inflight, route hash, circuit wait list, waits, paused set.
 * ARGV: "k|{bridge}|{route}", bridge id, circuit failures, prefix, then the entries.
 */
extern const char flow_lua_circuit_park[];

/*
 * Fairness (worker/gate.c): park a job a worker took for a route already using its share
 * of the worker's slots, and with it up to ARGV[5] entries at the taking end of the ready
 * list that are the same route's (same bridge, same "/route" suffix or none), in order,
 * stopping at the first entry of anything else: a lone slow route's backlog is parked in
 * one call, not taken and parked one job at a time. Returns 1 + the entries walked.
 * KEYS: inflight, fair list, waits, ready. ARGV: id, "f|{bridge}|{route}", bridge id,
 * prefix, most entries to walk.
 */
extern const char flow_lua_fair_park[];

/* Take up to ARGV[2] of the oldest parked jobs of a fair list into an in-flight list, in
 * order: {id, {job hash pairs}, id, {…}, …} ({} when none), noting the time in the route
 * hash (the sweep leaves a list alone while its worker takes from it). One call for as
 * many jobs as the worker has slots: one a call made that round trip the limit of a slow
 * route at high --concurrency. KEYS: fair list, inflight, route hash. ARGV: prefix, count. */
extern const char flow_lua_fair_pull[];

/* Put a fair list back on the queue, in order, behind what is there (a worker stopping).
 * KEYS: fair list, ready. Returns the number moved. */
extern const char flow_lua_fair_release[];

#endif

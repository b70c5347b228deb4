/*
 * sentinel.h - finding the Redis master through Redis Sentinel.
 *
 * With HOOKBRIDGE_REDIS_URL=redis-sentinel://host:port,host:port/master the master is not
 * an address but a name: after a failover the sentinels name another server. hiredis has
 * no Sentinel support, so this module is the client side of Sentinel's documented
 * protocol (redis.io, "Sentinel client spec"): ask each sentinel in turn for
 * `SENTINEL get-master-addr-by-name <master>`, take the first answer, and let the caller
 * check with ROLE that the server really is a master before using it (rconn.c does, and
 * asks again whenever the link drops or a write gets READONLY).
 */
#ifndef SENTINEL_H
#define SENTINEL_H

#include "config.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

struct event_base;
struct sentinel_query;

/* How long one sentinel may take to connect and answer before the next one is asked. */
#define SENTINEL_TIMEOUT_MS 500

/*
 * Parse redis-sentinel://[:password@]host[:port][,host[:port]…]/master[/db] into `out`
 * (sentinels, master_name, password, db; host and port left empty). A sentinel's port
 * defaults to 26379; IPv6 literals go in brackets. The password is the master's (AUTH after
 * connecting to it); the sentinels are asked without one. Returns 0, or -1 with `err`
 * saying what is wrong (starting "redis url", without the password).
 */
int sentinel_parse_url(const char *url, struct config_redis *out, char *err, size_t errlen);

/*
 * Called once with the master's address (`host` valid during the call only), or with host
 * NULL and `why` naming the last sentinel's failure when none answered.
 */
typedef void (*sentinel_found_cb)(const char *host, int port, const char *why, void *arg);

/*
 * Ask the sentinels of `cfg` (which must outlive the query) in turn, asynchronously on
 * `base`, each within SENTINEL_TIMEOUT_MS. `cb` runs later (never from inside this call),
 * exactly once unless the query is cancelled first; the query frees itself after `cb`.
 */
struct sentinel_query *sentinel_query_start(struct event_base *base, const struct config_redis *cfg,
                                            sentinel_found_cb cb, void *arg);

/* Stop a query whose callback has not run yet (it then never runs) and free it. */
void sentinel_query_cancel(struct sentinel_query *q);

/* True when `reply` is ROLE's answer of a master ({"master", offset, replicas}). */
bool sentinel_reply_is_master(const redisReply *reply);

/* True when `reply` is the error a replica gives a write: the master moved. */
bool sentinel_reply_is_readonly(const redisReply *reply);

/*
 * Blocking: ask the sentinels in turn (each within `tv`) and return the master's address
 * in `host`/`port`. For short start-up or shutdown work outside the event loop. Returns 0,
 * or -1 with `err`.
 */
int sentinel_resolve(const struct config_redis *cfg, struct timeval tv, char *host, size_t hostlen,
                     int *port, char *err, size_t errlen);

#endif

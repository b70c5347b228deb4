/*
 * rconn.h - a hiredis async connection on a libevent loop that reconnects by itself.
 *
 * Redis may restart or be briefly unreachable; both processes must keep running, answer
 * 503 (ingress) or wait (worker), and pick up again when it is back. rconn reconnects with
 * a backoff (100 ms doubling to 5 s), replays AUTH/SELECT, and tells its owner when the
 * link goes up or down.
 *
 * With a redis-sentinel:// address it follows the master through failovers: each connect
 * asks the sentinels first, and a READONLY answer drops the link to ask again (rconn.c).
 */
#ifndef RCONN_H
#define RCONN_H

#include "config.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

struct event_base;
struct rconn;

/* Called when the link comes up (up = true) or goes down. */
typedef void (*rconn_state_cb)(struct rconn *rc, bool up, void *arg);

/* Start connecting to `addr`. `name` appears in log lines ("redis commands"). */
struct rconn *rconn_new(struct event_base *base, const struct config_redis *addr, const char *name,
                        rconn_state_cb cb, void *arg);

bool rconn_up(const struct rconn *rc);

/* rconn_argv (below) for one command already in Redis's protocol (RESP:
 * "*2\r\n$3\r\nGET\r\n…"): hiredis copies it without formatting anything. */
int rconn_formatted(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *cmd,
                    size_t len);

/*
 * Send a command. Returns 0, or -1 when the link is down (then `fn` is never called).
 * hiredis calls `fn` with reply NULL when the link drops before the answer; the reply is
 * freed by hiredis after `fn` returns.
 */
int rconn_argv(struct rconn *rc, redisCallbackFn *fn, void *privdata, int argc, const char **argv,
               const size_t *argvlen);

/* Same with a printf-like format (hiredis's %s, %b, %d …). */
int rconn_cmd(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *fmt, ...);

/* A Lua script sent by EVALSHA: Redis neither reads nor hashes its text on each call. */
struct rconn_script {
    const char *text; /* static: outlives every call */
    char sha[41];     /* its SHA1 in hex */
};

void rconn_script_init(struct rconn_script *s, const char *text);

/*
 * EVALSHA of `s` with argv = numkeys, keys…, args… (argvlen NULL: NUL-terminated). When
 * Redis answers NOSCRIPT (its script cache lost to a restart, a failover or SCRIPT FLUSH;
 * nothing ran) the same call goes once more as an EVAL, which caches the script again.
 * `fn` gets the final answer, NULL if the link went down. Returns as rconn_argv.
 */
int rconn_script(struct rconn *rc, const struct rconn_script *s, redisCallbackFn *fn,
                 void *privdata, int argc, const char **argv, const size_t *argvlen);

/* Disconnect (pending callbacks get NULL replies) and free, now or once hiredis is done. */
void rconn_free(struct rconn *rc);

/*
 * Blocking, for work outside the event loop (a worker's last words at exit): a hiredis
 * context to the master of `addr` (through its sentinels if any), AUTH and SELECT done,
 * each step within `tv`. Returns the context (the caller redisFree()s it), or NULL with
 * `err`.
 */
redisContext *rconn_connect_blocking(const struct config_redis *addr, struct timeval tv, char *err,
                                     size_t errlen);

#endif

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

/*
 * A Lua script sent by its SHA1 (EVALSHA): Redis neither reads nor hashes its text each
 * call, which for the gate's scripts was most of a call's cost. One per script, static,
 * zeroed but for `text` (RCONN_SCRIPT); the SHA1 is computed on first use. A NOSCRIPT
 * answer (Redis restarted, failed over, or SCRIPT FLUSH: nothing ran) sends the same call
 * once more as an EVAL, which caches the script again; `fn` sees only the final answer.
 */
struct rconn_script {
    const char *text;
    char sha[41];
};
#define RCONN_SCRIPT(t)                                                                            \
    {                                                                                              \
        (t),                                                                                       \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* EVALSHA of `s` with `argv`: numkeys, the keys, then the arguments. Returns as rconn_argv. */
int rconn_evalsha(struct rconn *rc, redisCallbackFn *fn, void *privdata, struct rconn_script *s,
                  int argc, const char **argv, const size_t *argvlen);

/* Same with a printf-like format for what follows the SHA1 ("2 %s %s %s"). */
int rconn_evalsha_cmd(struct rconn *rc, redisCallbackFn *fn, void *privdata, struct rconn_script *s,
                      const char *fmt, ...);

/* The script's SHA1 in lowercase hex (computed once, into `s`). */
const char *rconn_script_sha(struct rconn_script *s);

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

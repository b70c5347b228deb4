/*
 * rconn.c - reconnecting hiredis async connection (see rconn.h).
 *
 * hiredis frees an async context itself after a failed connect or a disconnect, and must
 * not be freed from inside one of its own callbacks; so this module only drops its pointer
 * in those callbacks and reconnects from a timer, outside hiredis.
 */
#include "rconn.h"

#include "log.h"
#include "xalloc.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct rconn {
    struct event_base *base;
    struct config_redis addr;
    char name[64];
    rconn_state_cb cb;
    void *arg;
    redisAsyncContext *ac; /* NULL while disconnected */
    bool up;
    bool closing;
    long backoff_ms;
    struct event *retry;
    bool was_up_logged;
};

static void rconn_schedule(struct rconn *rc);

static void rconn_setup_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    struct rconn *rc = priv;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "redis setup command failed", "conn", rc->name, "error", reply->str,
               NULL);
}

static void rconn_on_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (rc == NULL)
        return;
    if (status != REDIS_OK) {
        if (rc->backoff_ms >= 1600 || rc->was_up_logged)
            log_kv(LOG_WARN, "redis connect failed", "conn", rc->name, "error", ac->errstr, NULL);
        rc->ac = NULL; /* hiredis frees it */
        rc->was_up_logged = false;
        rconn_schedule(rc);
        return;
    }
    rc->up = true;
    rc->backoff_ms = 100;
    rc->was_up_logged = true;
    log_kv(LOG_INFO, "redis connected", "conn", rc->name, NULL);
    if (rc->cb)
        rc->cb(rc, true, rc->arg);
}

static void rconn_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    (void)status;
    if (rc == NULL)
        return;
    bool was_up = rc->up;
    rc->ac = NULL;
    rc->up = false;
    if (rc->closing)
        return;
    if (was_up) {
        log_kv(LOG_WARN, "redis disconnected", "conn", rc->name, "error",
               ac->errstr[0] ? ac->errstr : "connection closed", NULL);
        if (rc->cb)
            rc->cb(rc, false, rc->arg);
    }
    rconn_schedule(rc);
}

static void rconn_connect(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    (void)fd;
    (void)what;
    if (rc->closing || rc->ac != NULL)
        return;
    redisAsyncContext *ac = rc->addr.path[0] ? redisAsyncConnectUnix(rc->addr.path)
                                             : redisAsyncConnect(rc->addr.host, rc->addr.port);
    if (ac == NULL || ac->err) {
        if (ac != NULL) {
            log_kv(LOG_WARN, "redis connect failed", "conn", rc->name, "error", ac->errstr, NULL);
            redisAsyncFree(ac);
        }
        rconn_schedule(rc);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, rconn_on_connect);
    redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
    /* Queued before any caller's command, so they run first once connected. */
    if (rc->addr.password[0])
        redisAsyncCommand(ac, rconn_setup_reply, rc, "AUTH %s", rc->addr.password);
    if (rc->addr.db != 0)
        redisAsyncCommand(ac, rconn_setup_reply, rc, "SELECT %d", rc->addr.db);
}

static void rconn_schedule(struct rconn *rc)
{
    if (rc->closing)
        return;
    struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
    evtimer_add(rc->retry, &tv);
    rc->backoff_ms = rc->backoff_ms * 2 > 5000 ? 5000 : rc->backoff_ms * 2;
}

struct rconn *rconn_new(struct event_base *base, const struct config_redis *addr, const char *name,
                        rconn_state_cb cb, void *arg)
{
    struct rconn *rc = xcalloc(1, sizeof(*rc));
    rc->base = base;
    rc->addr = *addr;
    snprintf(rc->name, sizeof(rc->name), "%s", name);
    rc->cb = cb;
    rc->arg = arg;
    rc->backoff_ms = 100;
    rc->retry = evtimer_new(base, rconn_connect, rc);
    rconn_connect(-1, 0, rc);
    return rc;
}

bool rconn_up(const struct rconn *rc)
{
    return rc->up && rc->ac != NULL;
}

int rconn_argv(struct rconn *rc, redisCallbackFn *fn, void *privdata, int argc, const char **argv,
               const size_t *argvlen)
{
    if (!rconn_up(rc))
        return -1;
    return redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, argvlen) == REDIS_OK ? 0 : -1;
}

int rconn_cmd(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *fmt, ...)
{
    if (!rconn_up(rc))
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int r = redisvAsyncCommand(rc->ac, fn, privdata, fmt, ap);
    va_end(ap);
    return r == REDIS_OK ? 0 : -1;
}

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    rc->closing = true;
    evtimer_del(rc->retry);
    event_free(rc->retry);
    if (rc->ac != NULL) {
        redisAsyncContext *ac = rc->ac;
        ac->data = NULL;
        rc->ac = NULL;
        /* Pending callbacks run now with NULL replies; their owners must expect that. */
        redisAsyncFree(ac);
    }
    free(rc);
}

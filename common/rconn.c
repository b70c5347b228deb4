/*
 * rconn.c - reconnecting hiredis async connection (see rconn.h).
 *
 * hiredis frees an async context itself after a failed connect or a disconnect, and must
 * not be freed from inside one of its own callbacks; so this module only drops its pointer
 * in those callbacks and reconnects from a timer, outside hiredis.
 *
 * With a redis-sentinel:// address each (re)connect first asks the sentinels where the
 * master is (sentinel.h), and the link counts as up only once ROLE says "master": a
 * sentinel's answer can lag a failover, and a restarted old master still calls itself
 * master for a while. A write answered READONLY means the server was turned into a
 * replica under us; the link is dropped and the sentinels asked again. So is a link that
 * stalls: a master that hangs (or whose host vanished) neither closes the connection nor
 * answers, and every command this project sends answers within a second or two (BLMOVE
 * and WAIT have 1 s timeouts), so RCONN_STALL_MS without an answer to a command waiting
 * for one means the master is gone.
 */
#include "rconn.h"

#include "clock.h"
#include "log.h"
#include "sentinel.h"
#include "xalloc.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
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
    /* redis-sentinel:// only */
    struct sentinel_query *query; /* asking the sentinels; NULL otherwise */
    char master[300];             /* "host:port" of the master last named, for log lines */
    struct event *watch;          /* every second: is the link stalled? */
    int outstanding;              /* commands sent that have no answer yet */
    int64_t progress_ms;          /* last answer, or the connect, or the first command sent */
};

/* Sentinel mode: a link with no answer for this long is dropped and the master asked for. */
#define RCONN_STALL_MS 5000

static bool rconn_sentinel(const struct rconn *rc)
{
    return rc->addr.nsentinels > 0;
}

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

static void rconn_mark_up(struct rconn *rc)
{
    rc->up = true;
    rc->backoff_ms = 100;
    rc->was_up_logged = true;
    if (rconn_sentinel(rc))
        log_kv(LOG_INFO, "redis connected", "conn", rc->name, "master", rc->master, NULL);
    else
        log_kv(LOG_INFO, "redis connected", "conn", rc->name, NULL);
    if (rc->cb)
        rc->cb(rc, true, rc->arg);
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
    /* Through the sentinels, up only once ROLE confirms the master (rconn_on_role). */
    if (!rconn_sentinel(rc))
        rconn_mark_up(rc);
}

static void rconn_on_role(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = priv;
    if (ac != rc->ac || r == NULL)
        return; /* a context being freed: the disconnect path reconnects */
    rc->progress_ms = clock_mono_ms();
    if (sentinel_reply_is_master(r)) {
        rconn_mark_up(rc);
        return;
    }
    const redisReply *reply = r;
    const char *role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                               reply->element[0]->type == REDIS_REPLY_STRING
                           ? reply->element[0]->str
                       : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                          : "unknown";
    log_kv(LOG_WARN, "redis server named by the sentinels is not a master; asking again", "conn",
           rc->name, "server", rc->master, "role", role, NULL);
    redisAsyncDisconnect(ac); /* closes after this callback; rconn_on_disconnect reschedules */
}

/* A write refused with READONLY: the master we hold was demoted by a failover. */
static void rconn_moved(struct rconn *rc, redisAsyncContext *ac)
{
    if (ac != rc->ac || !rc->up)
        return;
    log_kv(LOG_WARN, "redis master turned replica; asking the sentinels again", "conn", rc->name,
           "server", rc->master, NULL);
    rc->up = false;
    if (rc->cb)
        rc->cb(rc, false, rc->arg);
    redisAsyncDisconnect(ac); /* once the replies in flight are in */
}

/* A caller's callback, watched for READONLY on the way (sentinel mode only). */
struct rconn_call {
    struct rconn *rc;
    redisCallbackFn *fn;
    void *privdata;
};

static void rconn_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn_call *call = priv;
    /* On a NULL reply rconn_free may be under way: `rc` is not to be touched. */
    if (r != NULL && ac == call->rc->ac) {
        call->rc->outstanding--;
        call->rc->progress_ms = clock_mono_ms();
    }
    if (sentinel_reply_is_readonly(r))
        rconn_moved(call->rc, ac);
    if (call->fn != NULL)
        call->fn(ac, r, call->privdata);
    free(call);
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

/* Connect to `host`:`port` (or the unix socket of the address). */
static void rconn_open(struct rconn *rc, const char *host, int port)
{
    redisAsyncContext *ac =
        rc->addr.path[0] ? redisAsyncConnectUnix(rc->addr.path) : redisAsyncConnect(host, port);
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
    rc->outstanding = 0;
    rc->progress_ms = clock_mono_ms();
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, rconn_on_connect);
    redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
    /* Queued before any caller's command, so they run first once connected. */
    if (rc->addr.password[0])
        redisAsyncCommand(ac, rconn_setup_reply, rc, "AUTH %s", rc->addr.password);
    if (rconn_sentinel(rc))
        redisAsyncCommand(ac, rconn_on_role, rc, "ROLE");
    if (rc->addr.db != 0)
        redisAsyncCommand(ac, rconn_setup_reply, rc, "SELECT %d", rc->addr.db);
}

/* Sentinel mode, every second: drop a link that waits for answers that do not come. */
static void rconn_on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    (void)fd;
    (void)what;
    if (rc->ac == NULL || (rc->up && rc->outstanding == 0) ||
        clock_mono_ms() - rc->progress_ms < RCONN_STALL_MS)
        return;
    log_kv(LOG_WARN, "redis master does not answer; asking the sentinels again", "conn", rc->name,
           "server", rc->master, NULL);
    bool was_up = rc->up;
    redisAsyncContext *ac = rc->ac;
    rc->ac = NULL;
    rc->up = false;
    ac->data = NULL;
    /* Outside any hiredis callback: pending callbacks get NULL replies now. */
    redisAsyncFree(ac);
    if (was_up && rc->cb)
        rc->cb(rc, false, rc->arg);
    rconn_schedule(rc);
}

static void rconn_on_master(const char *host, int port, const char *why, void *arg)
{
    struct rconn *rc = arg;
    rc->query = NULL;
    if (host == NULL) {
        if (rc->backoff_ms >= 1600 || rc->was_up_logged)
            log_kv(LOG_WARN, "redis sentinels named no master", "conn", rc->name, "master_name",
                   rc->addr.master_name, "error", why, NULL);
        rc->was_up_logged = false;
        rconn_schedule(rc);
        return;
    }
    char master[sizeof(rc->master)];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(master, sizeof(master), "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (strcmp(master, rc->master) != 0) {
        if (rc->master[0])
            log_kv(LOG_WARN, "redis master moved", "conn", rc->name, "from", rc->master, "to",
                   master, NULL);
        snprintf(rc->master, sizeof(rc->master), "%s", master);
    }
    rconn_open(rc, host, port);
}

static void rconn_connect(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    (void)fd;
    (void)what;
    if (rc->closing || rc->ac != NULL || rc->query != NULL)
        return;
    if (rconn_sentinel(rc))
        rc->query = sentinel_query_start(rc->base, &rc->addr, rconn_on_master, rc);
    else
        rconn_open(rc, rc->addr.host, rc->addr.port);
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
    if (rconn_sentinel(rc)) {
        struct timeval second = {1, 0};
        rc->watch = event_new(base, -1, EV_PERSIST, rconn_on_watch, rc);
        event_add(rc->watch, &second);
    }
    rconn_connect(-1, 0, rc);
    return rc;
}

bool rconn_up(const struct rconn *rc)
{
    return rc->up && rc->ac != NULL;
}

/* Sentinel mode: one more command waits for its answer; the stall clock starts with it. */
static void rconn_sent(struct rconn *rc)
{
    if (rc->outstanding++ == 0)
        rc->progress_ms = clock_mono_ms();
}

int rconn_formatted(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *cmd,
                    size_t len)
{
    if (!rconn_up(rc))
        return -1;
    if (!rconn_sentinel(rc))
        return redisAsyncFormattedCommand(rc->ac, fn, privdata, cmd, len) == REDIS_OK ? 0 : -1;
    struct rconn_call *call = xmalloc(sizeof(*call));
    *call = (struct rconn_call){rc, fn, privdata};
    if (redisAsyncFormattedCommand(rc->ac, rconn_on_reply, call, cmd, len) != REDIS_OK) {
        free(call);
        return -1;
    }
    rconn_sent(rc);
    return 0;
}

int rconn_argv(struct rconn *rc, redisCallbackFn *fn, void *privdata, int argc, const char **argv,
               const size_t *argvlen)
{
    if (!rconn_up(rc))
        return -1;
    if (!rconn_sentinel(rc))
        return redisAsyncCommandArgv(rc->ac, fn, privdata, argc, argv, argvlen) == REDIS_OK ? 0
                                                                                            : -1;
    struct rconn_call *call = xmalloc(sizeof(*call));
    *call = (struct rconn_call){rc, fn, privdata};
    if (redisAsyncCommandArgv(rc->ac, rconn_on_reply, call, argc, argv, argvlen) != REDIS_OK) {
        free(call);
        return -1;
    }
    rconn_sent(rc);
    return 0;
}

int rconn_cmd(struct rconn *rc, redisCallbackFn *fn, void *privdata, const char *fmt, ...)
{
    if (!rconn_up(rc))
        return -1;
    struct rconn_call *call = NULL;
    if (rconn_sentinel(rc)) {
        call = xmalloc(sizeof(*call));
        *call = (struct rconn_call){rc, fn, privdata};
    }
    va_list ap;
    va_start(ap, fmt);
    int r = call ? redisvAsyncCommand(rc->ac, rconn_on_reply, call, fmt, ap)
                 : redisvAsyncCommand(rc->ac, fn, privdata, fmt, ap);
    va_end(ap);
    if (r != REDIS_OK) {
        free(call);
        return -1;
    }
    if (call != NULL)
        rconn_sent(rc);
    return 0;
}

/* ---- scripts by SHA1 ---- */

const char *rconn_script_sha(struct rconn_script *s)
{
    if (s->sha[0] == '\0') {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_Digest(s->text, strlen(s->text), md, &mdlen, EVP_sha1(), NULL);
        static const char digits[] = "0123456789abcdef";
        for (unsigned int i = 0; i < mdlen && i < 20; i++) {
            s->sha[2 * i] = digits[md[i] >> 4];
            s->sha[2 * i + 1] = digits[md[i] & 15];
        }
        s->sha[40] = '\0';
    }
    return s->sha;
}

/* One EVALSHA out: the command as sent, kept to go again as an EVAL after NOSCRIPT. */
struct rconn_eval {
    struct rconn *rc;
    redisCallbackFn *fn;
    void *privdata;
    const struct rconn_script *s;
    char *cmd; /* formatted by hiredis (redisFreeCommand), or by us after NOSCRIPT (free) */
    size_t len;
    bool resent;
};

static void rconn_eval_free(struct rconn_eval *e)
{
    if (e->resent)
        free(e->cmd);
    else
        redisFreeCommand(e->cmd);
    free(e);
}

/* The formatted EVALSHA turned into an EVAL of the script's text: the first two bulk
 * strings ("$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n") replaced, the count and the rest kept. */
static char *rconn_eval_text(const struct rconn_eval *e, size_t *len)
{
    const char *p = memchr(e->cmd, '\n', e->len);
    size_t head = p ? (size_t)(p - e->cmd) + 1 : 0;
    size_t skip = head + 13 + 47;
    if (p == NULL || skip > e->len)
        return NULL;
    size_t tl = strlen(e->s->text);
    char num[32];
    int nl = snprintf(num, sizeof(num), "$%zu\r\n", tl);
    size_t total = head + 10 + (size_t)nl + tl + 2 + (e->len - skip);
    char *out = xmalloc(total);
    char *o = out;
    memcpy(o, e->cmd, head);
    o += head;
    memcpy(o, "$4\r\nEVAL\r\n", 10);
    o += 10;
    memcpy(o, num, (size_t)nl);
    o += nl;
    memcpy(o, e->s->text, tl);
    o += tl;
    memcpy(o, "\r\n", 2);
    o += 2;
    memcpy(o, e->cmd + skip, e->len - skip);
    *len = total;
    return out;
}

static void rconn_on_eval(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn_eval *e = priv;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !e->resent &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        size_t len = 0;
        char *cmd = rconn_eval_text(e, &len);
        if (cmd != NULL) {
            redisFreeCommand(e->cmd);
            e->cmd = cmd;
            e->len = len;
            e->resent = true;
            if (rconn_formatted(e->rc, rconn_on_eval, e, e->cmd, e->len) == 0)
                return;
            reply = NULL; /* the link went: as if it had dropped before the answer */
        }
    }
    e->fn(ac, reply, e->privdata);
    rconn_eval_free(e);
}

static int rconn_eval_send(struct rconn *rc, redisCallbackFn *fn, void *privdata,
                           const struct rconn_script *s, char *cmd, long long len)
{
    if (len < 0)
        return -1;
    struct rconn_eval *e = xmalloc(sizeof(*e));
    *e = (struct rconn_eval){rc, fn, privdata, s, cmd, (size_t)len, false};
    if (rconn_formatted(rc, rconn_on_eval, e, cmd, (size_t)len) != 0) {
        rconn_eval_free(e);
        return -1;
    }
    return 0;
}

int rconn_evalsha(struct rconn *rc, redisCallbackFn *fn, void *privdata, struct rconn_script *s,
                  int argc, const char **argv, const size_t *argvlen)
{
    if (!rconn_up(rc))
        return -1;
    const char **av = xmalloc(((size_t)argc + 2) * sizeof(*av));
    size_t *al = xmalloc(((size_t)argc + 2) * sizeof(*al));
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = rconn_script_sha(s);
    al[1] = 40;
    for (int i = 0; i < argc; i++) {
        av[i + 2] = argv[i];
        al[i + 2] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, argc + 2, av, al);
    free(av);
    free(al);
    return rconn_eval_send(rc, fn, privdata, s, cmd, len);
}

int rconn_evalsha_cmd(struct rconn *rc, redisCallbackFn *fn, void *privdata, struct rconn_script *s,
                      const char *fmt, ...)
{
    if (!rconn_up(rc))
        return -1;
    /* "EVALSHA {sha} " then the caller's format: the SHA1 is hex, no '%' nor space. */
    size_t fl = strlen(fmt);
    char *f = xmalloc(8 + 41 + fl + 1);
    memcpy(f, "EVALSHA ", 8);
    memcpy(f + 8, rconn_script_sha(s), 40);
    f[48] = ' ';
    memcpy(f + 49, fmt, fl + 1);
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, f, ap);
    va_end(ap);
    free(f);
    return rconn_eval_send(rc, fn, privdata, s, cmd, len);
}

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    rc->closing = true;
    evtimer_del(rc->retry);
    event_free(rc->retry);
    sentinel_query_cancel(rc->query);
    if (rc->watch != NULL)
        event_free(rc->watch);
    if (rc->ac != NULL) {
        redisAsyncContext *ac = rc->ac;
        ac->data = NULL;
        rc->ac = NULL;
        /* Pending callbacks run now with NULL replies; their owners must expect that. */
        redisAsyncFree(ac);
    }
    free(rc);
}

redisContext *rconn_connect_blocking(const struct config_redis *addr, struct timeval tv, char *err,
                                     size_t errlen)
{
    char host[256];
    int port = addr->port;
    snprintf(host, sizeof(host), "%s", addr->host);
    if (addr->nsentinels > 0 &&
        sentinel_resolve(addr, tv, host, sizeof(host), &port, err, errlen) != 0)
        return NULL;
    redisContext *c = addr->path[0] ? redisConnectUnixWithTimeout(addr->path, tv)
                                    : redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "redis connect %.80s:%d: %.150s", host, port,
                 c ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (addr->password[0]) {
        r = redisCommand(c, "AUTH %s", addr->password);
        bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "redis %.80s:%d: AUTH refused", host, port);
            goto fail;
        }
    }
    if (addr->nsentinels > 0) {
        r = redisCommand(c, "ROLE");
        bool master = sentinel_reply_is_master(r);
        if (r != NULL)
            freeReplyObject(r);
        if (!master) {
            snprintf(err, errlen, "redis %.80s:%d: not a master", host, port);
            goto fail;
        }
    }
    if (addr->db != 0) {
        r = redisCommand(c, "SELECT %d", addr->db);
        bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "redis %.80s:%d: SELECT %d refused", host, port, addr->db);
            goto fail;
        }
    }
    return c;
fail:
    if (c != NULL)
        redisFree(c);
    return NULL;
}

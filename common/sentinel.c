/*
 * sentinel.c - Redis Sentinel discovery on hiredis (see sentinel.h).
 *
 * A query holds at most one hiredis context, to the sentinel being asked. hiredis frees a
 * context itself after a failed connect or a dropped link, and runs a pending callback
 * with a NULL reply while doing so; each callback therefore first checks that its context
 * is still the query's current one, and the query moves on (next sentinel, or the answer)
 * from its own timer, never from inside a hiredis callback.
 */
#include "sentinel.h"

#include "hb.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SENTINEL_DEFAULT_PORT 26379

/* -- URL ---------------------------------------------------------------------------------- */

#define SENTINEL_URL_FORM "expected redis-sentinel://host:port,host:port/master[/db]"

/* One "host[:port]" (or "[v6]:port") of `len` bytes into `out`. */
static int sentinel_parse_addr(const char *s, size_t len, struct config_sentinel *out)
{
    const char *h = s, *port = NULL;
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close + 1 < s + len) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
        for (size_t i = 0; i < hlen; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return -1;
    } else {
        hlen = len;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ':') {
                hlen = i;
                port = s + i + 1;
                break;
            }
            if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
                return -1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    out->port = SENTINEL_DEFAULT_PORT;
    if (port != NULL) {
        size_t plen = (size_t)(s + len - port);
        long p = 0;
        if (plen == 0 || plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return -1;
            p = p * 10 + (port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return -1;
        out->port = (int)p;
    }
    return 0;
}

int sentinel_parse_url(const char *url, struct config_redis *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(url, "redis-sentinel://", 17) != 0) {
        snprintf(err, errlen, "redis url: %s", SENTINEL_URL_FORM);
        return -1;
    }
    const char *p = url + 17;
    /* The last '@': a password may hold one, the addresses and the name cannot. */
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t pwlen = (size_t)(at - pw);
        if (pwlen >= sizeof(out->password)) {
            snprintf(err, errlen, "redis url: the password is longer than %zu bytes",
                     sizeof(out->password) - 1);
            return -1;
        }
        memcpy(out->password, pw, pwlen);
        out->password[pwlen] = '\0';
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    if (end == p) {
        snprintf(err, errlen, "redis url: no sentinel address; %s", SENTINEL_URL_FORM);
        goto fail;
    }
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (out->nsentinels == CONFIG_SENTINELS_MAX) {
            snprintf(err, errlen, "redis url: more than %d sentinels", CONFIG_SENTINELS_MAX);
            goto fail;
        }
        if (sentinel_parse_addr(p, (size_t)(stop - p), &out->sentinels[out->nsentinels]) != 0) {
            snprintf(err, errlen, "redis url: sentinel address \"%.*s\" is not host[:port]; %s",
                     (int)(stop - p > 80 ? 80 : stop - p), p, SENTINEL_URL_FORM);
            goto fail;
        }
        out->nsentinels++;
        p = comma ? comma + 1 : end;
        if (comma != NULL && p == end) {
            snprintf(err, errlen, "redis url: empty sentinel address after ','; %s",
                     SENTINEL_URL_FORM);
            goto fail;
        }
    }
    if (slash == NULL || slash[1] == '\0' || slash[1] == '/') {
        snprintf(err, errlen, "redis url: no master name after the sentinels; %s",
                 SENTINEL_URL_FORM);
        goto fail;
    }
    const char *name = slash + 1;
    const char *dbslash = strchr(name, '/');
    size_t nlen = dbslash ? (size_t)(dbslash - name) : strlen(name);
    for (size_t i = 0; i < nlen; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' &&
            name[i] != '-') {
            snprintf(err, errlen,
                     "redis url: master name \"%.*s\" may hold letters, digits, '.', '_' and "
                     "'-' only",
                     (int)(nlen > 80 ? 80 : nlen), name);
            goto fail;
        }
    }
    if (nlen >= sizeof(out->master_name)) {
        snprintf(err, errlen, "redis url: master name longer than %zu bytes",
                 sizeof(out->master_name) - 1);
        goto fail;
    }
    memcpy(out->master_name, name, nlen);
    out->master_name[nlen] = '\0';
    if (dbslash != NULL) {
        char *dend;
        errno = 0;
        long db = strtol(dbslash + 1, &dend, 10);
        if (errno != 0 || dend == dbslash + 1 || *dend != '\0' || db < 0 || db > 1000 ||
            !isdigit((unsigned char)dbslash[1])) {
            snprintf(err, errlen, "redis url: db \"%.20s\" is not a number in 0..1000",
                     dbslash + 1);
            goto fail;
        }
        out->db = (int)db;
    }
    return 0;
fail:
    memset(out->password, 0, sizeof(out->password));
    return -1;
}

/* -- replies -------------------------------------------------------------------------------- */

bool sentinel_reply_is_master(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
           (reply->element[0]->type == REDIS_REPLY_STRING ||
            reply->element[0]->type == REDIS_REPLY_STATUS) &&
           strcmp(reply->element[0]->str, "master") == 0;
}

bool sentinel_reply_is_readonly(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_ERROR &&
           strncmp(reply->str, "READONLY", 8) == 0;
}

/* get-master-addr-by-name's answer: {host, port}, or nil for a master it does not know. */
static int sentinel_reply_addr(const redisReply *reply, char *host, size_t hostlen, int *port,
                               char *why, size_t whylen)
{
    if (reply == NULL) {
        snprintf(why, whylen, "connection lost");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s", reply->str);
        return -1;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        snprintf(why, whylen, "does not know the master");
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0 ||
        reply->element[0]->len >= hostlen) {
        snprintf(why, whylen, "unexpected answer");
        return -1;
    }
    char *end;
    errno = 0;
    long p = strtol(reply->element[1]->str, &end, 10);
    if (errno != 0 || *end != '\0' || p < 1 || p > 65535) {
        snprintf(why, whylen, "unexpected port");
        return -1;
    }
    memcpy(host, reply->element[0]->str, reply->element[0]->len + 1);
    *port = (int)p;
    return 0;
}

/* -- asynchronous query ---------------------------------------------------------------------- */

struct sentinel_query {
    const struct config_redis *cfg;
    struct event_base *base;
    sentinel_found_cb cb;
    void *arg;
    int next;              /* index of the next sentinel to ask */
    redisAsyncContext *ac; /* the sentinel being asked; NULL between two */
    struct event *step;    /* the timeout of the current one, or "go on" (0 s) */
    bool found;
    char host[256];
    int port;
    char why[HB_ERR_LEN];
};

static void sentinel_step_soon(struct sentinel_query *q, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(q->step, &tv);
}

static void sentinel_why(struct sentinel_query *q, const char *what)
{
    const struct config_sentinel *s = &q->cfg->sentinels[q->next - 1];
    snprintf(q->why, sizeof(q->why), "sentinel %.80s:%d: %.150s", s->host, s->port, what);
}

static void sentinel_on_addr(redisAsyncContext *ac, void *r, void *priv)
{
    struct sentinel_query *q = priv;
    if (ac != q->ac)
        return; /* a context this query already let go of (timeout, cancel) */
    char why[HB_ERR_LEN];
    q->found = sentinel_reply_addr(r, q->host, sizeof(q->host), &q->port, why, sizeof(why)) == 0;
    if (!q->found)
        sentinel_why(q, why);
    q->ac = NULL;
    ac->data = NULL;
    /* On NULL hiredis is already freeing the context; otherwise close it once this
     * callback returns. */
    if (r != NULL)
        redisAsyncDisconnect(ac);
    sentinel_step_soon(q, 0);
}

static void sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = ac->data;
    if (q == NULL || status == REDIS_OK || ac != q->ac)
        return;
    sentinel_why(q, ac->errstr[0] ? ac->errstr : "connect failed");
    q->ac = NULL; /* hiredis frees it; the queued command gets NULL and is ignored */
    sentinel_step_soon(q, 0);
}

static void sentinel_on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
    /* The pending command already got its NULL reply and moved the query on. */
}

/* Ask the next sentinel; with none left, the step timer reports the failure. */
static void sentinel_ask(struct sentinel_query *q)
{
    if (q->next >= q->cfg->nsentinels) {
        sentinel_step_soon(q, 0);
        return;
    }
    const struct config_sentinel *s = &q->cfg->sentinels[q->next++];
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (ac == NULL || ac->err) {
        sentinel_why(q, ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        sentinel_step_soon(q, 0);
        return;
    }
    ac->data = q;
    q->ac = ac;
    redisLibeventAttach(ac, q->base);
    redisAsyncSetConnectCallback(ac, sentinel_on_connect);
    redisAsyncSetDisconnectCallback(ac, sentinel_on_disconnect);
    redisAsyncCommand(ac, sentinel_on_addr, q, "SENTINEL get-master-addr-by-name %s",
                      q->cfg->master_name);
    sentinel_step_soon(q, SENTINEL_TIMEOUT_MS);
}

static void sentinel_on_step(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_query *q = arg;
    (void)fd;
    (void)what;
    if (q->ac != NULL) {
        /* This sentinel took too long: drop it (its callback sees a stale context). */
        redisAsyncContext *ac = q->ac;
        q->ac = NULL;
        ac->data = NULL;
        sentinel_why(q, "timed out");
        redisAsyncFree(ac);
    }
    if (!q->found && q->next < q->cfg->nsentinels) {
        sentinel_ask(q);
        return;
    }
    /* Done: free first, so that the callback may start another query at once. */
    sentinel_found_cb cb = q->cb;
    void *cbarg = q->arg;
    bool found = q->found;
    char host[256], why[HB_ERR_LEN];
    int port = q->port;
    memcpy(host, q->host, sizeof(host));
    memcpy(why, q->why, sizeof(why));
    event_free(q->step);
    free(q);
    if (found)
        cb(host, port, NULL, cbarg);
    else
        cb(NULL, 0, why[0] ? why : "no sentinel configured", cbarg);
}

struct sentinel_query *sentinel_query_start(struct event_base *base, const struct config_redis *cfg,
                                            sentinel_found_cb cb, void *arg)
{
    struct sentinel_query *q = xcalloc(1, sizeof(*q));
    q->cfg = cfg;
    q->base = base;
    q->cb = cb;
    q->arg = arg;
    q->step = evtimer_new(base, sentinel_on_step, q);
    if (q->step == NULL)
        abort(); /* out of memory: see xalloc.h */
    sentinel_ask(q);
    return q;
}

void sentinel_query_cancel(struct sentinel_query *q)
{
    if (q == NULL)
        return;
    event_free(q->step);
    if (q->ac != NULL) {
        redisAsyncContext *ac = q->ac;
        q->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* runs sentinel_on_addr with NULL now, which sees it is stale */
    }
    free(q);
}

/* -- blocking ---------------------------------------------------------------------------------- */

int sentinel_resolve(const struct config_redis *cfg, struct timeval tv, char *host, size_t hostlen,
                     int *port, char *err, size_t errlen)
{
    snprintf(err, errlen, "no sentinel configured");
    for (int i = 0; i < cfg->nsentinels; i++) {
        const struct config_sentinel *s = &cfg->sentinels[i];
        char why[HB_ERR_LEN];
        redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
        if (c == NULL || c->err) {
            snprintf(err, errlen, "sentinel %.80s:%d: %.150s", s->host, s->port,
                     c ? c->errstr : "out of memory");
            if (c != NULL)
                redisFree(c);
            continue;
        }
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", cfg->master_name);
        int rc = sentinel_reply_addr(r, host, hostlen, port, why, sizeof(why));
        if (r != NULL)
            freeReplyObject(r);
        redisFree(c);
        if (rc == 0)
            return 0;
        snprintf(err, errlen, "sentinel %.80s:%d: %.150s", s->host, s->port, why);
    }
    return -1;
}

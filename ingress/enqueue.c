/*
 * enqueue.c - jobs to Redis, atomically (see enqueue.h).
 *
 * A plain job goes in a MULTI … EXEC; a request with an Idempotency-Key, a dedup key or a
 * split, in a script that first looks the keys up. Both write the same keys, and both
 * take every such request of one loop turn at once (see "Jobs accepted in one turn"
 * below). The transaction is the hot path: Redis runs it in about two thirds of the
 * script's time (a Lua call plus one redis.call per command), and on the two cores this
 * runs on Redis's time is the ingress's time.
 *
 * With --redis-wait-replicas N a WAIT N 1000 confirms the write before the answer: Redis
 * answers WAIT once N replicas hold every write this connection made before it, so a
 * failover to one of them keeps the job. WAIT blocks the connection until it answers, so
 * one per job would make every enqueue wait out a replication round trip in turn; instead
 * one WAIT is out at a time and covers every write sent before it (group commit): the jobs
 * written while it is out are confirmed together by the next one. Fewer replicas within
 * the second fail those enqueues (503) though the jobs stay queued on the master: if the
 * master lives they are delivered anyway (at least once is kept).
 */
#include "enqueue.h"

#include "dynbuf.h"
#include "job.h"
#include "queue.h"
#include "rconn.h"
#include "text.h"
#include "xalloc.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EVAL, script, numkeys, 6 keys, id, due, ttl, then the job's HSET pairs (without "HSET"
 * and the key, which the script puts first). */
#define ENQUEUE_ARGV_MAX (12 + JOB_ARGV_MAX)

/* How long WAIT gives the replicas to acknowledge the job: fewer within it (with
 * --redis-wait-replicas) make the answer a 503, since the job could be lost in a failover. */
#define ENQUEUE_WAIT_MS "1000"

struct enqueue_call {
    enqueue_cb cb;
    void *arg;
    char id[HB_ID_LEN]; /* the job's, for the answer to a transaction */
    char *record;       /* enqueue_batch's answer, kept for a WAIT */
    /* --redis-wait-replicas: the answer needs both the write's reply and its WAIT's. */
    bool wait;
    bool written; /* the write's reply is in: res, id, why */
    bool settled; /* the WAIT's verdict came first: not confirmed, `short_why` */
    const char *short_why;
    enum enqueue_result res;
    char why[128];
    struct enqueue_call *next;       /* in its WAIT group */
    struct enqueue_call *batch_next; /* in its transaction (enqueue_flush) */
    bool resent; /* its script went again after NOSCRIPT: a WAIT sent before does not cover it */
};

/* A command's arguments copied into one allocation, for sending later. */
struct enqueue_argv {
    int argc;
    const char **argv;
    size_t *argvlen;
};

static struct enqueue_argv *enqueue_argv_copy(int argc, const char *const *argv,
                                              const size_t *argvlen, size_t extra)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen[i];
    size_t head = sizeof(struct enqueue_argv) + extra;
    head = (head + 15) & ~(size_t)15;
    char *mem = xmalloc(head + (size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    struct enqueue_argv *a = (struct enqueue_argv *)mem;
    a->argc = argc;
    a->argv = (const char **)(mem + head);
    a->argvlen = (size_t *)(mem + head + (size_t)argc * sizeof(char *));
    char *o = mem + head + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++) {
        memcpy(o, argv[i], argvlen[i]);
        a->argv[i] = o;
        a->argvlen[i] = argvlen[i];
        o += argvlen[i];
    }
    return a;
}

/* Decimal digits of v. */
static size_t enqueue_digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/*
 * One command in Redis's protocol ("*argc\r\n", then "$len\r\n" and the bytes of each
 * argument, "\r\n"), in one allocation of the exact size; *len is its length. The
 * transaction's commands go out this way (rconn_formatted): hiredis's own printing of
 * argv (sdscatfmt per argument, reallocations) was 5 % of the ingress's CPU, and a job's
 * HSET printed here at once also needs no copy of its arguments until the flush.
 */
static char *enqueue_resp(int argc, const char *const *argv, const size_t *argvlen, size_t *len)
{
    size_t n = 1 + enqueue_digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
        n += 1 + enqueue_digits(l) + 2 + l + 2;
    }
    char *out = xmalloc(n), *o = out;
    *o++ = '*';
    o += text_u64(o, (uint64_t)argc);
    *o++ = '\r';
    *o++ = '\n';
    for (int i = 0; i < argc; i++) {
        size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
        *o++ = '$';
        o += text_u64(o, (uint64_t)l);
        *o++ = '\r';
        *o++ = '\n';
        memcpy(o, argv[i], l);
        o += l;
        *o++ = '\r';
        *o++ = '\n';
    }
    *len = (size_t)(o - out);
    return out;
}

/* Send one command of the transaction, printed by enqueue_resp. */
static int enqueue_send_resp(struct rconn *redis, redisCallbackFn *fn, void *priv, int argc,
                             const char *const *argv, const size_t *argvlen)
{
    size_t len;
    char *cmd = enqueue_resp(argc, argv, argvlen, &len);
    int rc = rconn_formatted(redis, fn, priv, cmd, len);
    free(cmd);
    return rc;
}

/* One WAIT and the calls whose writes went out before it. */
struct enqueue_group {
    struct enqueue_call *head;
    struct rconn *redis;
    long replicas;
};

static int enqueue_waiting;
static struct enqueue_call *enqueue_unconfirmed; /* written after the WAIT that is out */
static struct enqueue_call **enqueue_unconfirmed_tail = &enqueue_unconfirmed;
static bool enqueue_wait_out;

int enqueue_pending(void)
{
    return enqueue_waiting;
}

/* Give the caller its answer and forget the call. */
static void enqueue_finish(struct enqueue_call *call, enum enqueue_result res, const char *id,
                           const char *why)
{
    enqueue_waiting--;
    call->cb(res, id, why, call->arg);
    free(call->record);
    free(call);
}

/* Both replies are in: `short_why` is NULL when WAIT confirmed the write, else why not. */
static void enqueue_confirmed(struct enqueue_call *call, const char *short_why)
{
    if (call->res == ENQUEUE_FAILED)
        enqueue_finish(call, ENQUEUE_FAILED, NULL, call->why);
    else if (short_why != NULL)
        enqueue_finish(call, ENQUEUE_FAILED, NULL, short_why);
    else
        enqueue_finish(call, call->res, call->record ? call->record : call->id, NULL);
}

/*
 * The write's outcome: answered now, or kept for its WAIT's answer. That answer comes
 * after this one (same connection, replies in order) unless the WAIT could not be sent,
 * in which case the call is already settled as not confirmed.
 */
static void enqueue_written(struct enqueue_call *call, enum enqueue_result res, const char *id,
                            const redisReply *reply)
{
    const char *why = res != ENQUEUE_FAILED              ? ""
                      : reply == NULL                    ? "connection lost"
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "unexpected reply";
    if (!call->wait) {
        enqueue_finish(call, res, id, res == ENQUEUE_FAILED ? why : NULL);
        return;
    }
    call->written = true;
    call->res = res;
    if (res != ENQUEUE_FAILED && id != call->id) {
        free(call->record);
        call->record = xstrdup(id);
    }
    snprintf(call->why, sizeof(call->why), "%s", why);
    if (call->settled)
        enqueue_confirmed(call, call->short_why);
}

static void enqueue_send_wait(struct rconn *redis, long replicas);

/* Settle every call of `g` with WAIT's verdict (`short_why` NULL: confirmed). */
static void enqueue_group_done(struct enqueue_group *g, const char *short_why)
{
    struct enqueue_call *call = g->head;
    while (call != NULL) {
        struct enqueue_call *next = call->next;
        if (call->written) {
            enqueue_confirmed(call, short_why);
        } else if (call->resent) {
            /* Its write went again after this WAIT (NOSCRIPT): the next WAIT, sent after
             * it, is the one that can confirm it. */
            call->resent = false;
            call->next = NULL;
            *enqueue_unconfirmed_tail = call;
            enqueue_unconfirmed_tail = &call->next;
        } else {
            /* Its write's reply is still to come (the WAIT never went out): it fails then,
             * as nothing confirmed it. */
            call->settled = true;
            call->short_why = "no replica acknowledged the job";
        }
        call = next;
    }
    free(g);
}

/* WAIT's answer: how many replicas hold every write of the group. */
static void enqueue_on_wait(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_group *g = priv;
    redisReply *reply = r;
    (void)ac;
    enqueue_wait_out = false;
    struct rconn *redis = g->redis;
    long replicas = g->replicas;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= replicas) {
        enqueue_group_done(g, NULL);
    } else {
        char why[128];
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
            snprintf(why, sizeof(why),
                     "%lld of %ld replicas acknowledged the job within " ENQUEUE_WAIT_MS " ms",
                     reply->integer, replicas);
        else
            snprintf(why, sizeof(why), "wait for replicas: %.80s",
                     reply == NULL                      ? "connection lost"
                     : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                        : "unexpected reply");
        enqueue_group_done(g, why);
    }
    if (enqueue_unconfirmed != NULL)
        enqueue_send_wait(redis, replicas);
}

/* Send one WAIT for every call written since the last one. */
static void enqueue_send_wait(struct rconn *redis, long replicas)
{
    struct enqueue_group *g = xmalloc(sizeof(*g));
    *g = (struct enqueue_group){enqueue_unconfirmed, redis, replicas};
    enqueue_unconfirmed = NULL;
    enqueue_unconfirmed_tail = &enqueue_unconfirmed;
    char n[24];
    snprintf(n, sizeof(n), "%ld", replicas);
    const char *wait[] = {"WAIT", n, ENQUEUE_WAIT_MS};
    if (rconn_argv(redis, enqueue_on_wait, g, 3, wait, NULL) != 0) {
        enqueue_group_done(g, "replica acknowledgement could not be asked");
        return;
    }
    enqueue_wait_out = true;
}

/* The script's answer: {1, id} queued, or {0, first id} for a key seen before. */
static void enqueue_on_script(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_call *call = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_STRING && reply->element[1]->len < sizeof(call->id))
        enqueue_written(call, reply->element[0]->integer == 1 ? ENQUEUE_OK : ENQUEUE_REPLAYED,
                        reply->element[1]->str, reply);
    else
        enqueue_written(call, ENQUEUE_FAILED, NULL, reply);
}

/* With --redis-wait-replicas, hold the answer of a call whose write just went out until a
 * WAIT confirms it on enough replicas. */
static void enqueue_hold(struct ingress *in, struct enqueue_call *call)
{
    if (in->cfg.redis_wait_replicas > 0) {
        call->wait = true;
        *enqueue_unconfirmed_tail = call;
        enqueue_unconfirmed_tail = &call->next;
        if (!enqueue_wait_out)
            enqueue_send_wait(in->redis, in->cfg.redis_wait_replicas);
    }
}

/* A job's command is on its way: count it, and hold its answer as enqueue_hold says. */
static void enqueue_sent(struct ingress *in, struct enqueue_call *call)
{
    enqueue_waiting++;
    enqueue_hold(in, call);
}

static int enqueue_script(struct ingress *in, const struct job *j, const char *pending,
                          struct job_hset *h, int64_t due_ms, const char *idem_key,
                          struct enqueue_call *call)
{
    const struct queue_keys *k = &in->keys;
    char idem[QUEUE_KEY_LEN + 300], due[24], ttl[16];
    const char *argv[ENQUEUE_ARGV_MAX];
    size_t argvlen[ENQUEUE_ARGV_MAX];

    if (!queue_key_idempotency(k, j->bridge_id, idem_key, idem, sizeof(idem)))
        return -1;
    snprintf(due, sizeof(due), "%lld", (long long)due_ms);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_IDEMPOTENCY_TTL_S);
    int argc = 0;
#define ADD(s, n) (argv[argc] = (s), argvlen[argc] = (n), argc++)
#define ADDS(s) ADD((s), strlen(s))
    ADDS("EVAL");
    ADDS(queue_lua_enqueue);
    ADDS("6");
    ADD(h->argv[1], h->argvlen[1]); /* the job's key, as the HSET names it */
    ADDS(k->ready);
    ADDS(k->scheduled);
    ADDS(pending);
    ADDS(k->unrecorded);
    ADDS(idem);
    ADDS(j->id);
    ADDS(due);
    ADDS(ttl);
    /* Skip "HSET" and the key: the script writes the hash itself. */
    for (int i = 2; i < h->argc; i++)
        ADD(h->argv[i], h->argvlen[i]);
#undef ADDS
#undef ADD
    return rconn_argv(in->redis, enqueue_on_script, call, argc, argv, argvlen);
}

/*
 * enqueue_batch's script, for every conditional request of one loop turn at once.
 * KEYS: ready, scheduled, unrecorded, then per request its bridge's pending set, its
 * Idempotency-Key ("" for none), its dedup key ("" for none) and its jobs' hashes. ARGV: the
 * idempotency ttl, the number of requests, then per request its due time ("0" ready), body
 * hash, dedup ttl, record (to remember and answer) and number of jobs, then per job its id,
 * its number of HSET arguments and those arguments. An Idempotency-Key holds
 * "{body hash}|{record}" (a bare id, from an older script, counts as the same body). Answers
 * three values per request: 1, "ok", record; or 0, "idem"|"conflict"|"dedup", the first
 * request's record. A key made earlier in the same call counts as made (`made`), so two
 * duplicates in one batch queue one event. The ids go out in one SADD per bridge, one LPUSH
 * and one ZADD, and the keys are remembered last: Redis does not roll a script back, so one
 * failing part way leaves jobs that are delivered rather than a key that claims jobs never
 * queued.
 */
static const char enqueue_lua_batch[] =
    "local out, made, sets = {}, {}, {}\n"
    "local ready, sched, unrec, pend, porder = {}, {}, {}, {}, {}\n"
    "local k, a = 4, 3\n"
    "for r = 1, tonumber(ARGV[2]) do\n"
    "  local pk, ik, dk = KEYS[k], KEYS[k + 1], KEYS[k + 2]\n"
    "  local due, bh, dttl, rec, nj = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],\n"
    "    tonumber(ARGV[a + 4])\n"
    "  k = k + 3\n"
    "  a = a + 5\n"
    "  local ok, what, first = 1, 'ok', rec\n"
    "  if ik ~= '' then\n"
    "    local v = made[ik] or redis.call('GET', ik)\n"
    "    if v then\n"
    "      local h, f = string.match(v, '^([0-9a-f]*)|(.*)$')\n"
    "      if not h then ok, what, first = 0, 'idem', '1:' .. v\n"
    "      elseif h ~= bh then ok, what, first = 0, 'conflict', f\n"
    "      else ok, what, first = 0, 'idem', f end\n"
    "    end\n"
    "  end\n"
    "  if ok == 1 and dk ~= '' then\n"
    "    local v = made[dk] or redis.call('GET', dk)\n"
    "    if v then ok, what, first = 0, 'dedup', v end\n"
    "  end\n"
    "  if ok == 0 then\n"
    "    for i = 1, nj do a = a + 2 + tonumber(ARGV[a + 1]) end\n"
    "    k = k + nj\n"
    "  else\n"
    "    local ids = pend[pk]\n"
    "    if not ids then ids = {}; pend[pk] = ids; porder[#porder + 1] = pk end\n"
    "    for i = 1, nj do\n"
    "      local id, nf = ARGV[a], tonumber(ARGV[a + 1])\n"
    "      redis.call('HSET', KEYS[k], unpack(ARGV, a + 2, a + 1 + nf))\n"
    "      ids[#ids + 1] = id\n"
    "      if due == '0' then ready[#ready + 1] = id\n"
    "      else sched[#sched + 1] = due; sched[#sched + 1] = id end\n"
    "      unrec[#unrec + 1] = id\n"
    "      a = a + 2 + nf\n"
    "      k = k + 1\n"
    "    end\n"
    "    if ik ~= '' then\n"
    "      made[ik] = bh .. '|' .. rec\n"
    "      sets[#sets + 1] = {ik, made[ik], ARGV[1]}\n"
    "    end\n"
    "    if dk ~= '' then\n"
    "      made[dk] = rec\n"
    "      sets[#sets + 1] = {dk, rec, dttl}\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = ok\n"
    "  out[#out + 1] = what\n"
    "  out[#out + 1] = first\n"
    "end\n"
    "for _, pk in ipairs(porder) do redis.call('SADD', pk, unpack(pend[pk])) end\n"
    "if #ready > 0 then redis.call('LPUSH', KEYS[1], unpack(ready)) end\n"
    "if #sched > 0 then redis.call('ZADD', KEYS[2], unpack(sched)) end\n"
    "if #unrec > 0 then redis.call('LPUSH', KEYS[3], unpack(unrec)) end\n"
    "for _, s in ipairs(sets) do redis.call('SET', s[1], s[2], 'EX', s[3]) end\n"
    "return out\n";

/* The batch script, sent by its SHA1 (rconn_script_sha). Its NOSCRIPT fallback is
 * enqueue_on_scripts' own, not rconn_evalsha's: a resent call must also be marked for
 * --redis-wait-replicas (a WAIT already out does not cover it). */
static struct rconn_script enqueue_s_batch = RCONN_SCRIPT(enqueue_lua_batch);

/*
 * Jobs accepted in one turn of the event loop share one round trip. Plain jobs share one
 * transaction: MULTI, each job's HSET, then one variadic SADD per bridge, one LPUSH ready
 * (or ZADD scheduled), one LPUSH unrecorded, EXEC. Redis pays per command and the ingress
 * per reply object, so N jobs cost N + 5 commands instead of 6 N. Conditional requests
 * (Idempotency-Key, dedup, split) share one EVALSHA of the script above. Each request is
 * still answered only from its EXEC's or script's reply (the 202 guarantee is unchanged),
 * and a lost link or an error fails every request of the batch (503).
 * The flush runs from an event made active when the first request of a turn arrives:
 * libevent runs it after the I/O callbacks already active in that turn, so every request
 * read in the turn joins it. A batch is bounded in requests, jobs and bytes: a full one
 * goes out at once.
 */
#define ENQUEUE_BATCH_REQUESTS 256
#define ENQUEUE_BATCH_JOBS 1000 /* also keeps the script's unpack() within Lua's stack */
#define ENQUEUE_BATCH_BYTES (4u << 20)

/* A plain job waiting for the turn's transaction. */
struct enqueue_item {
    struct enqueue_item *next;
    struct enqueue_call *call;
    char pending[QUEUE_KEY_LEN];
    char due[24]; /* "" for ready */
    char *hset;   /* the job's HSET in Redis's protocol (enqueue_resp) */
    size_t hset_len;
};

/* A conditional request waiting for the turn's script: its KEYS (nkeys of them), then its
 * ARGV, in `a`. */
struct enqueue_sitem {
    struct enqueue_sitem *next;
    struct enqueue_call *call;
    int nkeys;
    struct enqueue_argv *a;
};

/* One EXEC on its way: its calls (by batch_next) and the number of replies it must hold. */
struct enqueue_flight {
    struct enqueue_call *head;
    size_t replies;
};

/* One script call on its way: its requests, and its arguments for a resend as EVAL. */
struct enqueue_sflight {
    struct enqueue_sitem *items;
    size_t n;
    struct rconn *redis;
    bool retried;
    int argc;
    const char **argv;
    size_t *argvlen;
    char numkeys[24], nreq[24], ttl[16];
};

static struct {
    struct ingress *in;
    struct event *ev;
    struct enqueue_item *head, **tail;
    size_t n, bytes;
    struct enqueue_sitem *shead, **stail;
    size_t sn, sjobs, sbytes;
    struct enqueue_call *failed; /* batches that could not go out, answered from the event */
} enqueue_b;

static void enqueue_on_exec(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_flight *f = priv;
    redisReply *reply = r;
    (void)ac;
    bool ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == f->replies;
    for (size_t i = 0; ok && i < reply->elements; i++)
        ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    struct enqueue_call *call = f->head;
    free(f);
    while (call != NULL) {
        struct enqueue_call *next = call->batch_next;
        enqueue_written(call, ok ? ENQUEUE_OK : ENQUEUE_FAILED, ok ? call->id : NULL, reply);
        call = next;
    }
}

static void enqueue_items_free(struct enqueue_item *it)
{
    while (it != NULL) {
        struct enqueue_item *next = it->next;
        free(it->hset);
        free(it);
        it = next;
    }
}

static void enqueue_sflight_free(struct enqueue_sflight *f)
{
    struct enqueue_sitem *it = f->items;
    while (it != NULL) {
        struct enqueue_sitem *next = it->next;
        free(it->a);
        free(it);
        it = next;
    }
    free(f->argv);
    free(f->argvlen);
    free(f);
}

/* The script's answer: three values per request, in order. */
static void enqueue_on_scripts(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_sflight *f = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !f->retried &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis lost its script cache (a restart, a failover, SCRIPT FLUSH): nothing ran, so
         * the same call goes again as an EVAL, which also caches the script for the next
         * EVALSHA. With --redis-wait-replicas a WAIT already out does not cover the resent
         * write: its calls wait for the next one (enqueue_group_done). */
        f->retried = true;
        for (struct enqueue_sitem *it = f->items; it != NULL; it = it->next)
            it->call->resent = true;
        f->argv[0] = "EVAL";
        f->argvlen[0] = 4;
        f->argv[1] = enqueue_lua_batch;
        f->argvlen[1] = sizeof(enqueue_lua_batch) - 1;
        if (enqueue_send_resp(f->redis, enqueue_on_scripts, f, f->argc, f->argv, f->argvlen) == 0)
            return;
        reply = NULL;
    }
    bool ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 * f->n;
    for (size_t i = 0; ok && i < f->n; i++)
        ok = reply->element[3 * i]->type == REDIS_REPLY_INTEGER &&
             reply->element[3 * i + 1]->type == REDIS_REPLY_STRING &&
             reply->element[3 * i + 2]->type == REDIS_REPLY_STRING;
    size_t i = 0;
    for (struct enqueue_sitem *it = f->items; it != NULL; it = it->next, i++) {
        if (!ok) {
            enqueue_written(it->call, ENQUEUE_FAILED, NULL, reply);
            continue;
        }
        const char *what = reply->element[3 * i + 1]->str;
        enum enqueue_result res = reply->element[3 * i]->integer == 1 ? ENQUEUE_OK
                                  : strcmp(what, "conflict") == 0     ? ENQUEUE_CONFLICT
                                  : strcmp(what, "dedup") == 0        ? ENQUEUE_DUPLICATE
                                                                      : ENQUEUE_REPLAYED;
        enqueue_written(it->call, res, reply->element[3 * i + 2]->str, reply);
    }
    enqueue_sflight_free(f);
}

/* Send the plain batch. Returns 0, or -1 when any part failed to go out (then nothing
 * runs: the transaction is discarded, or never began). */
static int enqueue_send_batch(struct ingress *in, struct enqueue_item *items, size_t n,
                              struct enqueue_flight *f)
{
    const struct queue_keys *k = &in->keys;
    static const char multi[] = "*1\r\n$5\r\nMULTI\r\n", exec[] = "*1\r\n$4\r\nEXEC\r\n",
                      discard[] = "*1\r\n$7\r\nDISCARD\r\n";
    /* The longest variadic command: its name, a key, and per job a score and an id. */
    const char **argv = xcalloc(2 + 2 * n, sizeof(*argv));
    if (rconn_formatted(in->redis, NULL, NULL, multi, sizeof(multi) - 1) != 0) {
        free(argv);
        return -1;
    }
    int bad = 0, argc;
    size_t replies = 0;
    for (struct enqueue_item *it = items; it != NULL; it = it->next, replies++)
        bad |= rconn_formatted(in->redis, NULL, NULL, it->hset, it->hset_len);
    /* SADD per run of jobs of one bridge (a turn's jobs are mostly of few bridges). */
    for (struct enqueue_item *it = items; it != NULL;) {
        argc = 0;
        argv[argc++] = "SADD";
        argv[argc++] = it->pending;
        struct enqueue_item *run = it;
        for (; it != NULL && strcmp(it->pending, run->pending) == 0; it = it->next)
            argv[argc++] = it->call->id;
        bad |= enqueue_send_resp(in->redis, NULL, NULL, argc, argv, NULL);
        replies++;
    }
    argc = 0;
    argv[argc++] = "LPUSH";
    argv[argc++] = k->ready;
    for (struct enqueue_item *it = items; it != NULL; it = it->next)
        if (it->due[0] == '\0')
            argv[argc++] = it->call->id;
    if (argc > 2) {
        bad |= enqueue_send_resp(in->redis, NULL, NULL, argc, argv, NULL);
        replies++;
    }
    argc = 0;
    argv[argc++] = "ZADD";
    argv[argc++] = k->scheduled;
    for (struct enqueue_item *it = items; it != NULL; it = it->next)
        if (it->due[0] != '\0') {
            argv[argc++] = it->due;
            argv[argc++] = it->call->id;
        }
    if (argc > 2) {
        bad |= enqueue_send_resp(in->redis, NULL, NULL, argc, argv, NULL);
        replies++;
    }
    argc = 0;
    argv[argc++] = "LPUSH";
    argv[argc++] = k->unrecorded;
    for (struct enqueue_item *it = items; it != NULL; it = it->next)
        argv[argc++] = it->call->id;
    bad |= enqueue_send_resp(in->redis, NULL, NULL, argc, argv, NULL);
    replies++;
    free(argv);
    if (bad) {
        /* A command that did not go out must not leave the others to run: a queued id
         * without its hash would be a job nobody can deliver. */
        rconn_formatted(in->redis, NULL, NULL, discard, sizeof(discard) - 1);
        return -1;
    }
    f->replies = replies;
    return rconn_formatted(in->redis, enqueue_on_exec, f, exec, sizeof(exec) - 1);
}

/* Calls that could not go out: answered 503 from the flush event, never from inside
 * enqueue_job or enqueue_batch. */
static void enqueue_fail_later(struct enqueue_call *head, struct enqueue_call **tail)
{
    *tail = enqueue_b.failed;
    enqueue_b.failed = head;
    event_active(enqueue_b.ev, 0, 0);
}

static void enqueue_flush_plain(void)
{
    struct enqueue_item *items = enqueue_b.head;
    size_t n = enqueue_b.n;
    if (items == NULL)
        return;
    enqueue_b.head = NULL;
    enqueue_b.tail = &enqueue_b.head;
    enqueue_b.n = 0;
    enqueue_b.bytes = 0;
    struct ingress *in = enqueue_b.in;
    struct enqueue_flight *f = xcalloc(1, sizeof(*f));
    struct enqueue_call **tail = &f->head;
    for (struct enqueue_item *it = items; it != NULL; it = it->next) {
        *tail = it->call;
        tail = &it->call->batch_next;
    }
    if (!rconn_up(in->redis) || enqueue_send_batch(in, items, n, f) != 0) {
        enqueue_fail_later(f->head, tail);
        free(f);
    } else {
        for (struct enqueue_item *it = items; it != NULL; it = it->next)
            enqueue_hold(in, it->call);
    }
    enqueue_items_free(items);
}

static void enqueue_flush_scripts(void)
{
    struct enqueue_sitem *items = enqueue_b.shead;
    if (items == NULL)
        return;
    struct ingress *in = enqueue_b.in;
    const struct queue_keys *k = &in->keys;
    struct enqueue_sflight *f = xcalloc(1, sizeof(*f));
    f->items = items;
    f->n = enqueue_b.sn;
    f->redis = in->redis;
    enqueue_b.shead = NULL;
    enqueue_b.stail = &enqueue_b.shead;
    enqueue_b.sn = enqueue_b.sjobs = enqueue_b.sbytes = 0;
    int nkeys = 3, total = 8;
    for (struct enqueue_sitem *it = items; it != NULL; it = it->next) {
        nkeys += it->nkeys;
        total += it->a->argc;
    }
    f->argv = xcalloc((size_t)total, sizeof(*f->argv));
    f->argvlen = xcalloc((size_t)total, sizeof(*f->argvlen));
    snprintf(f->numkeys, sizeof(f->numkeys), "%d", nkeys);
    snprintf(f->nreq, sizeof(f->nreq), "%zu", f->n);
    snprintf(f->ttl, sizeof(f->ttl), "%d", QUEUE_IDEMPOTENCY_TTL_S);
    int argc = 0;
#define ADD(s, n) (f->argv[argc] = (s), f->argvlen[argc] = (n), argc++)
#define ADDS(s) ADD((s), strlen(s))
    /* The script by its SHA1: Redis neither reads nor hashes its text each time. */
    ADDS("EVALSHA");
    ADD(rconn_script_sha(&enqueue_s_batch), 40);
    ADDS(f->numkeys);
    ADDS(k->ready);
    ADDS(k->scheduled);
    ADDS(k->unrecorded);
    for (struct enqueue_sitem *it = items; it != NULL; it = it->next)
        for (int i = 0; i < it->nkeys; i++)
            ADD(it->a->argv[i], it->a->argvlen[i]);
    ADDS(f->ttl);
    ADDS(f->nreq);
    for (struct enqueue_sitem *it = items; it != NULL; it = it->next)
        for (int i = it->nkeys; i < it->a->argc; i++)
            ADD(it->a->argv[i], it->a->argvlen[i]);
#undef ADDS
#undef ADD
    f->argc = argc;
    if (!rconn_up(in->redis) ||
        enqueue_send_resp(in->redis, enqueue_on_scripts, f, argc, f->argv, f->argvlen) != 0) {
        struct enqueue_call *head = NULL, **tail = &head;
        for (struct enqueue_sitem *it = items; it != NULL; it = it->next) {
            *tail = it->call;
            tail = &it->call->batch_next;
        }
        enqueue_fail_later(head, tail);
        enqueue_sflight_free(f);
        return;
    }
    for (struct enqueue_sitem *it = items; it != NULL; it = it->next)
        enqueue_hold(in, it->call);
}

static void enqueue_on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    struct enqueue_call *failed = enqueue_b.failed;
    enqueue_b.failed = NULL;
    while (failed != NULL) {
        struct enqueue_call *next = failed->batch_next;
        enqueue_finish(failed, ENQUEUE_FAILED, NULL, "connection lost");
        failed = next;
    }
    enqueue_flush_plain();
    enqueue_flush_scripts();
}

/* Set up the batches on first use; make the flush event active for the first request of
 * a turn. */
static void enqueue_turn(struct ingress *in)
{
    if (enqueue_b.ev == NULL) {
        enqueue_b.in = in;
        enqueue_b.tail = &enqueue_b.head;
        enqueue_b.stail = &enqueue_b.shead;
        enqueue_b.ev = event_new(in->base, -1, 0, enqueue_on_flush, NULL);
    }
    if (enqueue_b.n == 0 && enqueue_b.sn == 0)
        event_active(enqueue_b.ev, 0, 0);
}

/* A job for the turn's transaction. */
static void enqueue_add(struct ingress *in, const struct job *j, int64_t due_ms,
                        struct enqueue_call *call)
{
    char jobkey[QUEUE_KEY_LEN];
    struct job_hset h;
    queue_key_job(&in->keys, j->id, jobkey, sizeof(jobkey));
    job_hset_build(&h, j, jobkey);
    struct enqueue_item *it = xcalloc(1, sizeof(*it));
    it->call = call;
    it->hset = enqueue_resp(h.argc, h.argv, h.argvlen, &it->hset_len);
    job_hset_free(&h);
    queue_key_pending(&in->keys, j->bridge_id, it->pending, sizeof(it->pending));
    if (due_ms != 0)
        text_u64(it->due, (uint64_t)due_ms);
    if (enqueue_b.n > 0 && (enqueue_b.n >= ENQUEUE_BATCH_REQUESTS ||
                            enqueue_b.bytes + j->body_len > ENQUEUE_BATCH_BYTES))
        enqueue_flush_plain();
    enqueue_turn(in);
    *enqueue_b.tail = it;
    enqueue_b.tail = &it->next;
    enqueue_b.n++;
    enqueue_b.bytes += j->body_len;
    enqueue_waiting++;
}

int enqueue_batch(struct ingress *in, const struct enqueue_batch *bt, enqueue_cb cb, void *arg)
{
    const struct queue_keys *k = &in->keys;
    if (!rconn_up(in->redis) || bt->n == 0)
        return -1;
    const char *bridge_id = bt->jobs[0].bridge_id;
    char pending[QUEUE_KEY_LEN], idem[QUEUE_KEY_LEN + 300] = "", dedup[QUEUE_KEY_LEN + 200] = "";
    char due[24], dttl[24], nj[24];
    queue_key_pending(k, bridge_id, pending, sizeof(pending));
    if (bt->idem_key != NULL &&
        !queue_key_idempotency(k, bridge_id, bt->idem_key, idem, sizeof(idem)))
        return -1;
    if (bt->dedup_key != NULL)
        snprintf(dedup, sizeof(dedup), "%sdedup:%s:%s", k->prefix, bridge_id, bt->dedup_key);
    snprintf(due, sizeof(due), "%lld", (long long)bt->due_ms);
    snprintf(dttl, sizeof(dttl), "%ld", bt->dedup_ttl_s > 0 ? bt->dedup_ttl_s : 1);
    snprintf(nj, sizeof(nj), "%zu", bt->n);

    /* The record: "1:" or "S:" and the ids, comma-separated. */
    struct dynbuf rec;
    dynbuf_init(&rec, bt->n * HB_ID_LEN + 8);
    dynbuf_addstr(&rec, bt->split ? "S:" : "1:");
    for (size_t i = 0; i < bt->n; i++) {
        if (i > 0)
            dynbuf_addc(&rec, ',');
        dynbuf_addstr(&rec, bt->jobs[i].id);
    }

    /* KEYS: pending, idem, dedup, each job's key; ARGV: due, body hash, dedup ttl, record,
     * number of jobs, then per job its id, count and HSET pairs. */
    size_t max = 8 + bt->n * (4 + JOB_ARGV_MAX);
    const char **argv = xcalloc(max, sizeof(*argv));
    size_t *argvlen = xcalloc(max, sizeof(*argvlen));
    struct job_hset *h = xcalloc(bt->n, sizeof(*h));
    char(*jobkeys)[QUEUE_KEY_LEN] = xcalloc(bt->n, sizeof(*jobkeys));
    char(*nfields)[16] = xcalloc(bt->n, sizeof(*nfields));
    size_t bytes = 0;
    int argc = 0;
#define ADD(s, n) (argv[argc] = (s), argvlen[argc] = (n), argc++)
#define ADDS(s) ADD((s), strlen(s))
    ADDS(pending);
    ADDS(idem);
    ADDS(dedup);
    for (size_t i = 0; i < bt->n; i++) {
        queue_key_job(k, bt->jobs[i].id, jobkeys[i], sizeof(jobkeys[i]));
        job_hset_build(&h[i], &bt->jobs[i], jobkeys[i]);
        ADD(h[i].argv[1], h[i].argvlen[1]);
        bytes += bt->jobs[i].body_len;
    }
    int nkeys = argc;
    ADDS(due);
    ADDS(bt->body_hash ? bt->body_hash : "");
    ADDS(dttl);
    ADD(dynbuf_ptr(&rec), dynbuf_len(&rec));
    ADDS(nj);
    for (size_t i = 0; i < bt->n; i++) {
        ADDS(bt->jobs[i].id);
        snprintf(nfields[i], sizeof(nfields[i]), "%d", h[i].argc - 2);
        ADDS(nfields[i]);
        /* Skip "HSET" and the key: the script names the hash by its KEYS entry. */
        for (int f = 2; f < h[i].argc; f++)
            ADD(h[i].argv[f], h[i].argvlen[f]);
    }
#undef ADDS
#undef ADD
    struct enqueue_sitem *it = xcalloc(1, sizeof(*it));
    it->call = xcalloc(1, sizeof(*it->call));
    it->call->cb = cb;
    it->call->arg = arg;
    memcpy(it->call->id, bt->jobs[0].id, sizeof(it->call->id));
    it->nkeys = nkeys;
    it->a = enqueue_argv_copy(argc, argv, argvlen, 0);
    for (size_t i = 0; i < bt->n; i++)
        job_hset_free(&h[i]);
    free(h);
    free(jobkeys);
    free(nfields);
    free(argv);
    free(argvlen);
    dynbuf_free(&rec);
    if (enqueue_b.sn > 0 &&
        (enqueue_b.sn >= ENQUEUE_BATCH_REQUESTS || enqueue_b.sjobs + bt->n > ENQUEUE_BATCH_JOBS ||
         enqueue_b.sbytes + bytes > ENQUEUE_BATCH_BYTES))
        enqueue_flush_scripts();
    enqueue_turn(in);
    *enqueue_b.stail = it;
    enqueue_b.stail = &it->next;
    enqueue_b.sn++;
    enqueue_b.sjobs += bt->n;
    enqueue_b.sbytes += bytes;
    enqueue_waiting++;
    return 0;
}

int enqueue_job(struct ingress *in, const struct job *j, int64_t due_ms, const char *idem_key,
                enqueue_cb cb, void *arg)
{
    if (!rconn_up(in->redis))
        return -1;
    struct enqueue_call *call = xcalloc(1, sizeof(*call));
    call->cb = cb;
    call->arg = arg;
    memcpy(call->id, j->id, sizeof(call->id)); /* same size, NUL-terminated */
    if (idem_key == NULL) {
        enqueue_add(in, j, due_ms, call);
        return 0;
    }
    char pending[QUEUE_KEY_LEN], jobkey[QUEUE_KEY_LEN];
    struct job_hset h;
    queue_key_job(&in->keys, j->id, jobkey, sizeof(jobkey));
    queue_key_pending(&in->keys, j->bridge_id, pending, sizeof(pending));
    job_hset_build(&h, j, jobkey);
    int rc = enqueue_script(in, j, pending, &h, due_ms, idem_key, call);
    job_hset_free(&h);
    if (rc != 0) {
        free(call);
        return -1;
    }
    enqueue_sent(in, call);
    return 0;
}

/*
 * enqueue.c - one job to Redis, atomically (see enqueue.h).
 *
 * Without an Idempotency-Key the job goes in one MULTI … EXEC; with one, in a script that
 * first looks the key up. Both write the same keys. The transaction is the hot path: Redis
 * runs it in about two thirds of the script's time (a Lua call plus one redis.call per
 * command), and on the two cores this runs on Redis's time is the ingress's time.
 */
#include "enqueue.h"

#include "job.h"
#include "queue.h"
#include "rconn.h"
#include "text.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EVAL, script, numkeys, 6 keys, id, due, ttl, then the job's HSET pairs (without "HSET"
 * and the key, which the script puts first). */
#define ENQUEUE_ARGV_MAX (12 + JOB_ARGV_MAX)

struct enqueue_call {
    enqueue_cb cb;
    void *arg;
    char id[HB_ID_LEN]; /* the job's, for the answer to a transaction */
};

static int enqueue_waiting;

int enqueue_pending(void)
{
    return enqueue_waiting;
}

static void enqueue_fail(struct enqueue_call *call, const redisReply *reply)
{
    const char *why = reply == NULL                      ? "connection lost"
                      : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "unexpected reply";
    call->cb(ENQUEUE_FAILED, NULL, why, call->arg);
}

/* The script's answer: {1, id} queued, or {0, first id} for a key seen before. */
static void enqueue_on_script(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_call *call = priv;
    redisReply *reply = r;
    (void)ac;
    enqueue_waiting--;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        call->cb(reply->element[0]->integer == 1 ? ENQUEUE_OK : ENQUEUE_REPLAYED,
                 reply->element[1]->str, NULL, call->arg);
    else
        enqueue_fail(call, reply);
    free(call);
}

/*
 * EXEC's answer: an array of the four commands' replies when all ran. A command Redis
 * refused while queueing makes EXEC an EXECABORT error and nothing runs; a dropped link
 * gives NULL. Only a whole array of integers is a queued job.
 */
static void enqueue_on_exec(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_call *call = priv;
    redisReply *reply = r;
    (void)ac;
    enqueue_waiting--;
    bool ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4;
    for (size_t i = 0; ok && i < reply->elements; i++)
        ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    if (ok)
        call->cb(ENQUEUE_OK, call->id, NULL, call->arg);
    else
        enqueue_fail(call, reply);
    free(call);
}

/* MULTI, HSET, SADD pending, LPUSH ready or ZADD scheduled, LPUSH unrecorded, EXEC, submitted
 * together so nothing else this process sends can fall between them. If the link drops part way,
 * the server discards the unfinished transaction with the connection. */
static int enqueue_multi(struct ingress *in, const struct job *j, const char *pending,
                         struct job_hset *h, int64_t due_ms, struct enqueue_call *call)
{
    const struct queue_keys *k = &in->keys;
    char due[24] = "0";
    if (due_ms != 0)
        text_u64(due, (uint64_t)due_ms);
    const char *sadd[] = {"SADD", pending, j->id};
    const char *lpush[] = {"LPUSH", k->ready, j->id};
    const char *unrecorded[] = {"LPUSH", k->unrecorded, j->id};
    const char *zadd[] = {"ZADD", k->scheduled, due, j->id};
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"}, *discard[] = {"DISCARD"};

    if (rconn_argv(in->redis, NULL, NULL, 1, multi, NULL) != 0)
        return -1;
    int bad = 0;
    bad |= rconn_argv(in->redis, NULL, NULL, h->argc, h->argv, h->argvlen);
    bad |= rconn_argv(in->redis, NULL, NULL, 3, sadd, NULL);
    if (due_ms == 0)
        bad |= rconn_argv(in->redis, NULL, NULL, 3, lpush, NULL);
    else
        bad |= rconn_argv(in->redis, NULL, NULL, 4, zadd, NULL);
    bad |= rconn_argv(in->redis, NULL, NULL, 3, unrecorded, NULL);
    if (bad) {
        /* A command that did not go out must not leave the others to run: a queued id
         * without its hash would be a job nobody can deliver. */
        rconn_argv(in->redis, NULL, NULL, 1, discard, NULL);
        return -1;
    }
    return rconn_argv(in->redis, enqueue_on_exec, call, 1, exec, NULL);
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

int enqueue_job(struct ingress *in, const struct job *j, int64_t due_ms, const char *idem_key,
                enqueue_cb cb, void *arg)
{
    char jobkey[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    struct job_hset h;

    if (!rconn_up(in->redis))
        return -1;
    queue_key_job(&in->keys, j->id, jobkey, sizeof(jobkey));
    queue_key_pending(&in->keys, j->bridge_id, pending, sizeof(pending));
    job_hset_build(&h, j, jobkey);
    struct enqueue_call *call = xcalloc(1, sizeof(*call));
    call->cb = cb;
    call->arg = arg;
    memcpy(call->id, j->id, sizeof(call->id)); /* same size, NUL-terminated */
    int rc = idem_key ? enqueue_script(in, j, pending, &h, due_ms, idem_key, call)
                      : enqueue_multi(in, j, pending, &h, due_ms, call);
    job_hset_free(&h);
    if (rc != 0) {
        free(call);
        return -1;
    }
    enqueue_waiting++;
    return 0;
}

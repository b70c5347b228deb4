/*
 * enqueue.c - one job to Redis in one atomic script call (see enqueue.h).
 */
#include "enqueue.h"

#include "job.h"
#include "queue.h"
#include "rconn.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EVAL, script, numkeys, 5 keys, id, due, ttl, then the job's HSET pairs (without "HSET"
 * and the key, which job_hset_argv puts first). */
#define ENQUEUE_ARGV_MAX (11 + JOB_ARGV_MAX)

struct enqueue_call {
    enqueue_cb cb;
    void *arg;
};

static int enqueue_waiting;

int enqueue_pending(void)
{
    return enqueue_waiting;
}

static void enqueue_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct enqueue_call *call = priv;
    redisReply *reply = r;
    (void)ac;
    enqueue_waiting--;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        call->cb(reply->element[0]->integer == 1 ? ENQUEUE_OK : ENQUEUE_REPLAYED,
                 reply->element[1]->str, NULL, call->arg);
    } else {
        const char *why = reply == NULL                      ? "connection lost"
                          : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                             : "unexpected reply";
        call->cb(ENQUEUE_FAILED, NULL, why, call->arg);
    }
    free(call);
}

int enqueue_job(struct ingress *in, const struct job *j, int64_t due_ms, const char *idem_key,
                enqueue_cb cb, void *arg)
{
    const struct queue_keys *k = &in->keys;
    char jobkey[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN], idem[QUEUE_KEY_LEN + 300];
    char due[24], ttl[16], scratch[128];
    const char *hargv[JOB_ARGV_MAX];
    size_t hlen[JOB_ARGV_MAX];
    const char *argv[ENQUEUE_ARGV_MAX];
    size_t argvlen[ENQUEUE_ARGV_MAX];

    queue_key_job(k, j->id, jobkey, sizeof(jobkey));
    queue_key_pending(k, j->bridge_id, pending, sizeof(pending));
    if (idem_key != NULL && !queue_key_idempotency(k, j->bridge_id, idem_key, idem, sizeof(idem)))
        return -1;
    snprintf(due, sizeof(due), "%lld", (long long)due_ms);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_IDEMPOTENCY_TTL_S);
    int hargc = job_hset_argv(j, jobkey, hargv, hlen, scratch, sizeof(scratch));

    int argc = 0;
#define ADD(s, n) (argv[argc] = (s), argvlen[argc] = (n), argc++)
#define ADDS(s) ADD((s), strlen(s))
    ADDS("EVAL");
    ADDS(queue_lua_enqueue);
    ADDS(idem_key ? "5" : "4");
    ADDS(jobkey);
    ADDS(k->ready);
    ADDS(k->scheduled);
    ADDS(pending);
    if (idem_key)
        ADDS(idem);
    ADDS(j->id);
    ADDS(due);
    ADDS(ttl);
    /* Skip "HSET" and the key: the script writes the hash itself. */
    for (int i = 2; i < hargc; i++)
        ADD(hargv[i], hlen[i]);
#undef ADDS
#undef ADD

    struct enqueue_call *call = xcalloc(1, sizeof(*call));
    call->cb = cb;
    call->arg = arg;
    if (rconn_argv(in->redis, enqueue_on_reply, call, argc, argv, argvlen) != 0) {
        free(call);
        return -1;
    }
    enqueue_waiting++;
    return 0;
}

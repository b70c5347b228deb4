/*
 * fetch.c - the worker's side of the Redis queue (layout in common/queue.h).
 *
 * Taking jobs: a Lua script moves up to "room" ids from ready to this worker's in-flight
 * list and returns their job hashes in one round trip; when ready is empty, a BLMOVE on a
 * second connection waits for the next id, so an idle worker costs Redis nothing and
 * wakes at once. Jobs are never removed from the in-flight list until their outcome is in
 * SQLite (fetch_ack), so a worker killed at any moment leaves its jobs for the reaper.
 */
#include "fetch.h"

#include "bridge.h"
#include "clock.h"
#include "dynbuf.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "shash.h"
#include "worker.h"
#include "xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define FETCH_BATCH_MAX 128
#define FETCH_PROMOTE_MAX 1000
#define FETCH_HEARTBEAT_MS 5000
#define FETCH_PROMOTE_MS 200
#define FETCH_REAP_MS 10000

static struct fetch_state {
    struct event *heartbeat, *promote, *reap, *retry;
    fetch_job_fn job;   /* where taken jobs go */
    fetch_busy_fn busy; /* requests in flight */
    bool fetching;      /* a fetch script is outstanding */
    bool blocking;      /* a BLMOVE is outstanding */
    bool empty;         /* the last look found the ready list empty (fetch_idle) */
    bool promoting;
    void (*idle)(struct worker *w); /* told when the ready list was found empty */
} fs;

static struct event *fetch_ack_flush_ev; /* sends the acks queued (fetch_ack_flush) */

/* The scripts this file sends, by EVALSHA (rconn_evalsha): the text of the batched ack is
 * 1.9 KB that Redis would otherwise read and hash at every call. */
static struct rconn_script fetch_s_fetch = RCONN_SCRIPT(queue_lua_fetch);
static struct rconn_script fetch_s_ack = RCONN_SCRIPT(queue_lua_ack_many);
static struct rconn_script fetch_s_promote = RCONN_SCRIPT(queue_lua_promote);
static struct rconn_script fetch_s_reap = RCONN_SCRIPT(queue_lua_reap);
static struct rconn_script fetch_s_adopt = RCONN_SCRIPT(queue_lua_adopt);

/*
 * The queue entries this worker holds: taken into its in-flight list and not yet let go
 * (acknowledged, fanned out, or parked by flow control). An entry in the in-flight list
 * that is not here is an orphan: Redis moved it (BLMOVE, the fetch script) but the reply
 * was lost with the connection (a Redis restart or failover), so no task holds it, and
 * since this worker keeps heartbeating no reaper ever would. fetch_adopt puts such
 * entries back on the queue.
 */
#define HELD_BUCKETS 1024

struct held_entry {
    char entry[JOB_ENTRY_LEN];
    struct held_entry *next;
};

static struct held_entry *held_table[HELD_BUCKETS];

static struct held_entry **held_slot(const char *entry)
{
    struct held_entry **p = &held_table[shash(entry, strlen(entry)) % HELD_BUCKETS];
    while (*p != NULL && strcmp((*p)->entry, entry) != 0)
        p = &(*p)->next;
    return p;
}

static bool held_has(const char *entry)
{
    return *held_slot(entry) != NULL;
}

static void held_add(const char *entry)
{
    struct held_entry **p = held_slot(entry);
    if (*p != NULL)
        return;
    struct held_entry *h = xcalloc(1, sizeof(*h));
    snprintf(h->entry, sizeof(h->entry), "%s", entry);
    *p = h;
}

void fetch_forget(const char *entry)
{
    struct held_entry **p = held_slot(entry);
    struct held_entry *h = *p;
    if (h == NULL)
        return;
    *p = h->next;
    free(h);
}

/* Clear the table (at exit, once nothing is taken or let go any more). */
static void held_clear(void)
{
    for (size_t i = 0; i < HELD_BUCKETS; i++) {
        while (held_table[i] != NULL) {
            struct held_entry *h = held_table[i];
            held_table[i] = h->next;
            free(h);
        }
    }
}

/* Orphans seen by the previous check. One is put back only when the next check, a reap
 * period later, still finds it: a reply in transit is never that late, a lost one never
 * comes. */
static char **adopt_suspects;
static size_t adopt_n;

static void adopt_clear(void)
{
    for (size_t i = 0; i < adopt_n; i++)
        free(adopt_suspects[i]);
    free(adopt_suspects);
    adopt_suspects = NULL;
    adopt_n = 0;
}

static void fetch_arm(struct event *ev, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* Turn one job hash (array of field, value) into a job and hand it on. */
static void fetch_take(struct worker *w, const char *id, const redisReply *hash)
{
    char err[HB_ERR_LEN];
    size_t n = hash ? hash->elements : 0;
    held_add(id);
    if (n == 0) {
        /* The id had no job (deleted while queued): drop it from our list. */
        log_kv(LOG_WARN, "job data missing; dropping id", "event_id", id, NULL);
        w->held++;
        fetch_ack(w, id, NULL, true, 0, 0, true, NULL, NULL);
        return;
    }
    struct job *j = xcalloc(1, sizeof(*j));
    int rc = job_from_reply(j, id, hash, err, sizeof(err));
    w->held++;
    if (rc != 0) {
        log_kv(LOG_ERROR, "job unreadable; dropping it", "event_id", id, "error", err, NULL);
        job_clear(j);
        free(j);
        fetch_ack(w, id, NULL, true, 0, 0, true, NULL, NULL);
        return;
    }
    fs.job(w, j);
}

bool fetch_idle(void)
{
    /* Not only while a BLMOVE is out: a job that ends sends a fetch that will most likely
     * find nothing, and fairness must not take that moment for a queue behind it (it
     * parked jobs just pulled back, again and again). */
    return fs.empty;
}

void fetch_take_one(struct worker *w, const char *id, const redisReply *hash)
{
    fetch_take(w, id, hash);
}

struct fetch_single {
    struct worker *w;
    char id[JOB_ENTRY_LEN];
};

/* The job key of a queue entry ("id" or "id/route"). */
static void fetch_job_key(const struct worker *w, const char *entry, char *key, size_t keylen)
{
    char id[HB_ID_LEN];
    size_t n = strcspn(entry, "/");
    if (n >= sizeof(id))
        n = sizeof(id) - 1;
    memcpy(id, entry, n);
    id[n] = '\0';
    queue_key_job(&w->keys, id, key, keylen);
}

static void fetch_on_hgetall(redisAsyncContext *ac, void *r, void *priv)
{
    struct fetch_single *s = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        fetch_take(s->w, s->id, reply);
    }
    /* On a lost link the id stays in our in-flight list: fetch_release_all or the reaper
     * returns it; nothing is lost. */
    struct worker *w = s->w;
    free(s);
    fetch_more(w);
}

static void fetch_on_blmove(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    (void)ac;
    fs.blocking = false;
    if (reply == NULL) {
        if (!w->stopping)
            fetch_arm(fs.retry, 500);
        return;
    }
    if (reply->type == REDIS_REPLY_STRING && reply->len < JOB_ENTRY_LEN) {
        fs.empty = false;
        struct fetch_single *s = xcalloc(1, sizeof(*s));
        s->w = w;
        memcpy(s->id, reply->str, reply->len);
        char key[QUEUE_KEY_LEN];
        fetch_job_key(w, s->id, key, sizeof(key));
        if (rconn_cmd(w->cmd, fetch_on_hgetall, s, "HGETALL %s", key) != 0) {
            free(s);
            fetch_arm(fs.retry, 500);
        }
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_WARN, "blmove failed", "error", reply->str, NULL);
    fetch_more(w);
}

static void fetch_block(struct worker *w)
{
    if (fs.blocking || w->stopping)
        return;
    if (rconn_cmd(w->block, fetch_on_blmove, w, "BLMOVE %s %s RIGHT LEFT 1", w->keys.ready,
                  w->inflight_key) != 0) {
        fetch_arm(fs.retry, 500);
        return;
    }
    fs.blocking = true;
    if (fs.idle != NULL)
        fs.idle(w);
}

void fetch_on_idle(void (*fn)(struct worker *w))
{
    fs.idle = fn;
}

static void fetch_on_script(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    (void)ac;
    fs.fetching = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            log_kv(LOG_ERROR, "fetch script failed", "error", reply->str, NULL);
        if (!w->stopping)
            fetch_arm(fs.retry, 500);
        return;
    }
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *id = reply->element[i];
        if (id->type != REDIS_REPLY_STRING || id->len >= JOB_ENTRY_LEN)
            continue;
        char idbuf[JOB_ENTRY_LEN];
        memcpy(idbuf, id->str, id->len);
        idbuf[id->len] = '\0';
        fetch_take(w, idbuf, reply->element[i + 1]);
    }
    fs.empty = reply->elements == 0;
    if (reply->elements == 0)
        fetch_block(w);
    else
        fetch_more(w);
}

void fetch_more(struct worker *w)
{
    if (w->stopping || fs.fetching || fs.blocking)
        return;
    /* --concurrency bounds requests in flight. Jobs whose outcome waits for the batched
     * SQLite commit and the Redis ack hold no connection, so they do not count against it,
     * but a bound on all held jobs keeps memory in check when SQLite is slow. */
    long room = w->cfg.concurrency - fs.busy();
    long held_room = 4 * w->cfg.concurrency - w->held;
    if (held_room < room)
        room = held_room;
    if (room <= 0)
        return;
    if (room > FETCH_BATCH_MAX)
        room = FETCH_BATCH_MAX;
    char max[16];
    snprintf(max, sizeof(max), "%ld", room);
    const char *argv[] = {"2", w->keys.ready, w->inflight_key, w->keys.prefix, max};
    if (rconn_evalsha(w->cmd, fetch_on_script, w, &fetch_s_fetch, 5, argv, NULL) != 0) {
        fetch_arm(fs.retry, 500);
        return;
    }
    fs.fetching = true;
}

static void fetch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch_more(arg);
}

static void fetch_on_reply_log(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "redis command failed", "what", (const char *)priv, "error", reply->str,
               NULL);
}

/*
 * A heartbeat Redis acknowledged also touches --health-file, so that a container health
 * check ("modified in the last 30 s") sees a worker that can reach its queue, not only a
 * process that is alive.
 */
static void fetch_on_heartbeat_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    fetch_on_reply_log(ac, r, (void *)"heartbeat");
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || w->cfg.health_file[0] == '\0')
        return;
    int fd = open(w->cfg.health_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || futimens(fd, NULL) != 0)
        log_kv(LOG_WARN, "cannot touch the health file", "path", w->cfg.health_file, "error",
               strerror(errno), NULL);
    if (fd >= 0)
        close(fd);
}

static void fetch_on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)clock_now_ms());
    rconn_cmd(w->cmd, fetch_on_heartbeat_reply, w, "ZADD %s %s %s", w->keys.workers, now, w->id);
    fetch_arm(fs.heartbeat, FETCH_HEARTBEAT_MS);
}

static void fetch_on_promoted(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    (void)ac;
    fs.promoting = false;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "promote script failed", "error", reply->str, NULL);
    /* A full batch means more are due: go again at once instead of waiting a tick. */
    bool more =
        reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= FETCH_PROMOTE_MAX;
    if (!w->stopping)
        fetch_arm(fs.promote, more ? 0 : FETCH_PROMOTE_MS);
}

static void fetch_on_promote(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (fs.promoting)
        return;
    char now[24], max[16];
    snprintf(now, sizeof(now), "%lld", (long long)clock_now_ms());
    snprintf(max, sizeof(max), "%d", FETCH_PROMOTE_MAX);
    const char *argv[] = {"2", w->keys.scheduled, w->keys.ready, now, max};
    if (rconn_evalsha(w->cmd, fetch_on_promoted, w, &fetch_s_promote, 5, argv, NULL) != 0) {
        fetch_arm(fs.promote, 500);
        return;
    }
    fs.promoting = true;
}

static void fetch_on_reaped(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", reply->integer);
        log_kv(LOG_WARN, "put back jobs of dead workers", "jobs", n, NULL);
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        log_kv(LOG_ERROR, "reap script failed", "error", reply->str, NULL);
    }
}

static void fetch_on_adopted(redisAsyncContext *ac, void *r, void *priv)
{
    char *entry = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        log_kv(LOG_WARN, "put back an in-flight job this worker did not hold (its reply was lost)",
               "event_id", entry, NULL);
    else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "adopt script failed", "error", reply->str, NULL);
    free(entry);
}

static void fetch_on_inflight(redisAsyncContext *ac, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || w->stopping)
        return;
    char **next = xcalloc(reply->elements + 1, sizeof(*next));
    size_t n = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len >= JOB_ENTRY_LEN)
            continue;
        char entry[JOB_ENTRY_LEN];
        memcpy(entry, e->str, e->len);
        entry[e->len] = '\0';
        if (held_has(entry))
            continue;
        bool seen = false;
        for (size_t k = 0; k < adopt_n && !seen; k++)
            seen = strcmp(adopt_suspects[k], entry) == 0;
        if (!seen) {
            next[n++] = xstrdup(entry);
            continue;
        }
        char *arg = xstrdup(entry);
        const char *argv[] = {"2", w->inflight_key, w->keys.ready, entry};
        if (rconn_evalsha(w->cmd, fetch_on_adopted, arg, &fetch_s_adopt, 4, argv, NULL) != 0)
            free(arg);
    }
    adopt_clear();
    adopt_suspects = next;
    adopt_n = n;
}

static void fetch_on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    char cutoff[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(clock_now_ms() - QUEUE_HEARTBEAT_TTL_MS));
    const char *argv[] = {"2", w->keys.workers, w->keys.ready, w->keys.prefix, cutoff, w->id};
    rconn_evalsha(w->cmd, fetch_on_reaped, w, &fetch_s_reap, 6, argv, NULL);
    /* And this worker's own orphans (fetch_adopt): its in-flight list against what it holds. */
    rconn_cmd(w->cmd, fetch_on_inflight, w, "LRANGE %s 0 -1", w->inflight_key);
    fetch_arm(fs.reap, FETCH_REAP_MS);
}

int fetch_start(struct worker *w, fetch_job_fn job, fetch_busy_fn busy)
{
    fs.job = job;
    fs.busy = busy;
    fs.heartbeat = evtimer_new(w->base, fetch_on_heartbeat, w);
    fs.promote = evtimer_new(w->base, fetch_on_promote, w);
    fs.reap = evtimer_new(w->base, fetch_on_reap, w);
    fs.retry = evtimer_new(w->base, fetch_on_retry, w);
    if (fs.heartbeat == NULL || fs.promote == NULL || fs.reap == NULL || fs.retry == NULL) {
        fetch_stop(w);
        return -1;
    }
    fetch_arm(fs.heartbeat, 0);
    fetch_arm(fs.promote, 0);
    fetch_arm(fs.reap, 1000);
    fetch_arm(fs.retry, 0);
    return 0;
}

void fetch_stop(struct worker *w)
{
    (void)w;
    struct event *timers[] = {fs.heartbeat, fs.promote, fs.reap, fs.retry};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (timers[i] != NULL)
            event_free(timers[i]);
    fs.heartbeat = fs.promote = fs.reap = fs.retry = NULL;
    /* Acks still queued stay in fetch_acks: fetch_release_all lets them go. */
    if (fetch_ack_flush_ev != NULL)
        event_free(fetch_ack_flush_ev);
    fetch_ack_flush_ev = NULL;
}

/* One acknowledgement, kept until Redis confirms it. */
struct fetch_ack {
    struct worker *w;
    char id[JOB_ENTRY_LEN]; /* the queue entry */
    char bridge_id[HB_ID_LEN];
    bool done;
    bool settled;
    int attempts;
    int64_t due_ms;
    fetch_ack_cb cb;
    void *arg;
    struct event *retry;
    bool queued;                  /* waits in fetch_ack_queue for the next batch */
    LIST_ENTRY(fetch_ack) entry;  /* acks Redis has not confirmed, for fetch_release_all */
    TAILQ_ENTRY(fetch_ack) batch; /* in fetch_ack_queue */
};

static LIST_HEAD(fetch_ack_head, fetch_ack) fetch_acks = LIST_HEAD_INITIALIZER(fetch_acks);

/*
 * Acknowledgements are sent in batches: every ack asked for during one turn of the event
 * loop (a SQLite commit finishes hundreds of jobs at once) goes in one script call, one
 * round trip, instead of one each (600 deliveries: 853 script calls before, under 200 now),
 * so the worker's sends and Redis's per-call work no longer grow with each job. Each ack in
 * the batch is the same script as a single one (queue_lua_ack_many: queue_lua_ack, atomic per
 * job), so nothing about a job's guarantee changes.
 */
#define FETCH_ACK_BATCH_MAX 256

static TAILQ_HEAD(fetch_ack_tq,
                  fetch_ack) fetch_ack_queue = TAILQ_HEAD_INITIALIZER(fetch_ack_queue);
static void fetch_ack_send(struct fetch_ack *a);

static void fetch_on_ack_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fetch_ack_send(arg);
}

/* One ack's answer (`reply` is its element of the batch's answer; NULL: none came). */
static void fetch_ack_answered(struct fetch_ack *a, const redisReply *reply)
{
    /* A Lua string comes back as a bulk string. */
    if (reply == NULL || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            log_kv(LOG_ERROR, "ack script failed", "event_id", a->id, "error", reply->str, NULL);
        /* The outcome is already in SQLite; only the queue bookkeeping is late. Keep
         * trying: if this process dies first, the job is delivered once more. */
        if (a->retry == NULL)
            a->retry = evtimer_new(a->w->base, fetch_on_ack_retry, a);
        fetch_arm(a->retry, 1000);
        return;
    }
    enum fetch_ack_result res = FETCH_ACK_DONE;
    if (strcmp(reply->str, "scheduled") == 0)
        res = FETCH_ACK_SCHEDULED;
    else if (strcmp(reply->str, "aborted") == 0)
        res = FETCH_ACK_ABORTED;
    else if (strcmp(reply->str, "gone") == 0)
        res = FETCH_ACK_GONE;
    else if (strcmp(reply->str, "abort_first") == 0)
        res = FETCH_ACK_ABORT_FIRST;
    if (res != FETCH_ACK_ABORT_FIRST) {
        a->w->held--;
        a->w->acked++;
        fetch_forget(a->id);
    }
    LIST_REMOVE(a, entry);
    if (a->cb)
        a->cb(a->arg, res);
    if (a->retry)
        event_free(a->retry);
    free(a);
}

/* The acks of one batch, in the order of the script's answer. */
struct fetch_ack_batch {
    struct worker *w;
    size_t n;
    struct fetch_ack *acks[];
};

static void fetch_on_ack_batch(redisAsyncContext *ac, void *r, void *priv)
{
    struct fetch_ack_batch *b = priv;
    redisReply *reply = r;
    (void)ac;
    bool whole = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == b->n;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_ERROR, "ack script failed", "error", reply->str, NULL);
    for (size_t i = 0; i < b->n; i++)
        fetch_ack_answered(b->acks[i], whole ? reply->element[i] : NULL);
    struct worker *w = b->w;
    free(b);
    fetch_more(w);
}

/* Send what fetch_ack_queue holds, FETCH_ACK_BATCH_MAX acks a call. */
static void fetch_ack_flush(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    while (!TAILQ_EMPTY(&fetch_ack_queue)) {
        size_t n = 0;
        struct fetch_ack *a;
        TAILQ_FOREACH(a, &fetch_ack_queue, batch)
        {
            if (++n == FETCH_ACK_BATCH_MAX)
                break;
        }
        struct fetch_ack_batch *b = xcalloc(1, sizeof(*b) + n * sizeof(b->acks[0]));
        /* numkeys inflight scheduled, then per ack 2 keys, then 5 ARGV each. */
        size_t argc = 3 + 7 * n;
        const char **argv = xcalloc(argc, sizeof(*argv));
        char(*keys)[2][QUEUE_KEY_LEN] = xcalloc(n, sizeof(*keys));
        char(*nums)[3][24] = xcalloc(n, sizeof(*nums));
        char numkeys[16];
        snprintf(numkeys, sizeof(numkeys), "%zu", 2 + 2 * n);
        argv[0] = numkeys;
        argv[1] = w->inflight_key;
        argv[2] = w->keys.scheduled;
        b->w = w;
        b->n = n;
        for (size_t i = 0; i < n; i++) {
            a = TAILQ_FIRST(&fetch_ack_queue);
            TAILQ_REMOVE(&fetch_ack_queue, a, batch);
            a->queued = false;
            b->acks[i] = a;
            fetch_job_key(w, a->id, keys[i][0], sizeof(keys[i][0]));
            queue_key_pending(&w->keys, a->bridge_id[0] ? a->bridge_id : "-", keys[i][1],
                              sizeof(keys[i][1]));
            snprintf(nums[i][0], sizeof(nums[i][0]), "%d", a->attempts);
            snprintf(nums[i][1], sizeof(nums[i][1]), "%lld", (long long)a->due_ms);
            argv[3 + 2 * i] = keys[i][0];
            argv[4 + 2 * i] = keys[i][1];
            const char **av = &argv[3 + 2 * n + 5 * i];
            av[0] = a->id;
            av[1] = a->done ? "1" : "0";
            av[2] = nums[i][0];
            av[3] = nums[i][1];
            av[4] = a->settled ? "1" : "0";
        }
        /* A script, not MULTI: whether a job is rescheduled depends on whether an abort
         * marked it meanwhile, and that decision must be atomic with the move. */
        if (rconn_evalsha(w->cmd, fetch_on_ack_batch, b, &fetch_s_ack, (int)argc, argv, NULL) != 0)
            fetch_on_ack_batch(NULL, NULL, b);
        free(nums);
        free(keys);
        free(argv);
    }
}

static void fetch_ack_send(struct fetch_ack *a)
{
    struct worker *w = a->w;
    if (a->queued)
        return;
    if (fetch_ack_flush_ev == NULL) {
        fetch_ack_flush_ev = evtimer_new(w->base, fetch_ack_flush, w);
        if (fetch_ack_flush_ev == NULL) {
            fetch_ack_answered(a, NULL); /* tried again in a second */
            return;
        }
    }
    a->queued = true;
    TAILQ_INSERT_TAIL(&fetch_ack_queue, a, batch);
    /* Sent once the current turn of the loop is over, with every other ack it asked for. */
    if (!evtimer_pending(fetch_ack_flush_ev, NULL))
        fetch_arm(fetch_ack_flush_ev, 0);
}

void fetch_ack(struct worker *w, const char *id, const char *bridge_id, bool done, int attempts,
               int64_t due_ms, bool settled, fetch_ack_cb cb, void *arg)
{
    struct fetch_ack *a = xcalloc(1, sizeof(*a));
    a->w = w;
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->bridge_id, sizeof(a->bridge_id), "%s", bridge_id ? bridge_id : "");
    a->done = done;
    a->settled = settled;
    a->attempts = attempts;
    a->due_ms = due_ms;
    a->cb = cb;
    a->arg = arg;
    LIST_INSERT_HEAD(&fetch_acks, a, entry);
    fetch_ack_send(a);
}

struct fetch_fanout {
    struct worker *w;
    char id[HB_ID_LEN];
    fetch_fanout_cb cb;
    void *arg;
};

static void fetch_on_fanout(redisAsyncContext *ac, void *r, void *priv)
{
    struct fetch_fanout *f = priv;
    redisReply *reply = r;
    (void)ac;
    int rc = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        /* The id stays in our in-flight list, let go of here: fetch_adopt puts it back
         * on the queue, and it is fanned out then. */
        log_kv(LOG_ERROR, "route fan-out failed", "event_id", f->id, "error",
               reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no reply", NULL);
        rc = -1;
    }
    f->w->held--;
    fetch_forget(f->id);
    f->cb(f->arg, rc);
    struct worker *w = f->w;
    free(f);
    fetch_more(w);
}

void fetch_fanout(struct worker *w, const struct job *j, const struct bridge *b, fetch_fanout_cb cb,
                  void *arg)
{
    char key[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    size_t n = b->n_routes;
    const char **argv = xcalloc(10 + 2 * n, sizeof(*argv));
    char(*due)[24] = xcalloc(n, sizeof(*due));
    struct dynbuf names;
    int argc = 0;
    int64_t now = clock_now_ms();
    queue_key_job(&w->keys, j->id, key, sizeof(key));
    queue_key_pending(&w->keys, j->bridge_id, pending, sizeof(pending));
    dynbuf_init(&names, n * JOB_ROUTE_LEN);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        /* A replay to one route fans out to that route alone. */
        if (j->only_route != NULL && strcmp(j->only_route, b->routes[i].name) != 0)
            continue;
        if (used++ > 0)
            dynbuf_addc(&names, ',');
        dynbuf_addstr(&names, b->routes[i].name);
        /* Each route's delay counts from when the request was accepted. */
        int64_t at = j->received_ms + (int64_t)b->routes[i].delay_seconds * 1000;
        snprintf(due[i], sizeof(due[i]), "%lld", at > now ? (long long)at : 0LL);
    }
    argv[argc++] = "EVAL";
    argv[argc++] = queue_lua_fanout;
    argv[argc++] = "5";
    argv[argc++] = w->inflight_key;
    argv[argc++] = key;
    argv[argc++] = w->keys.ready;
    argv[argc++] = w->keys.scheduled;
    argv[argc++] = pending;
    argv[argc++] = j->id;
    argv[argc++] = dynbuf_ptr(&names);
    for (size_t i = 0; i < n; i++) {
        if (j->only_route != NULL && strcmp(j->only_route, b->routes[i].name) != 0)
            continue;
        argv[argc++] = b->routes[i].name;
        argv[argc++] = due[i];
    }
    struct fetch_fanout *f = xcalloc(1, sizeof(*f));
    f->w = w;
    snprintf(f->id, sizeof(f->id), "%s", j->id);
    f->cb = cb;
    f->arg = arg;
    if (rconn_argv(w->cmd, fetch_on_fanout, f, argc, argv, NULL) != 0)
        fetch_on_fanout(NULL, NULL, f);
    dynbuf_free(&names);
    free(due);
    free(argv);
}

/* Let go of acknowledgements Redis never confirmed (it is away as the worker exits): their
 * jobs stay in the in-flight list, which the reaper, or this worker's next start, puts
 * back; their tasks are told so, and freed. */
static void fetch_abandon_acks(void)
{
    while (!LIST_EMPTY(&fetch_acks)) {
        struct fetch_ack *a = LIST_FIRST(&fetch_acks);
        LIST_REMOVE(a, entry);
        if (a->queued)
            TAILQ_REMOVE(&fetch_ack_queue, a, batch);
        if (a->cb)
            a->cb(a->arg, FETCH_ACK_ABANDONED);
        if (a->retry)
            event_free(a->retry);
        free(a);
    }
}

void fetch_release_all(struct worker *w)
{
    fetch_abandon_acks();
    held_clear();
    adopt_clear();
    struct timeval tv = {2, 0};
    char err[HB_ERR_LEN];
    redisContext *c = rconn_connect_blocking(&w->cfg.redis, tv, err, sizeof(err));
    if (c == NULL) {
        log_kv(LOG_WARN, "release in-flight jobs: redis unreachable; the reaper will return them",
               "error", err, NULL);
        return;
    }
    redisReply *r = redisCommand(c, "EVAL %s 3 %s %s %s %s", queue_lua_release, w->inflight_key,
                                 w->keys.ready, w->keys.workers, w->id);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", r->integer);
        log_kv(LOG_INFO, "put unfinished jobs back on the queue", "jobs", n, NULL);
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
}

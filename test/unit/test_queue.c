/*
 * test_queue.c - unit tests for common/queue.c: the Redis key names, with the default "hb:"
 * prefix and custom ones, as the README documents them for redis-cli; and the Lua scripts
 * run against a real redis-server that the group setup starts on a free loopback port in a
 * temporary directory (as hiredis's test.sh does) and the group teardown kills by its pid.
 * Each script test starts from an empty database and checks every key the script may
 * touch, so that an id is seen to end up in exactly one place. Without redis-server on
 * PATH the script tests fail, saying so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "job.h"
#include "queue.h"

struct keys_case {
    const char *prefix;
    const char *ready;
    const char *scheduled;
    const char *workers;
    const char *job;      /* for event id evt_01ARYZ6S41TSV4RRFFQ69G5FAV */
    const char *inflight; /* for worker w-host-123 */
};

static const struct keys_case keys_cases[] = {
    {"hb:", "hb:queue:ready", "hb:queue:scheduled", "hb:workers",
     "hb:job:evt_01ARYZ6S41TSV4RRFFQ69G5FAV", "hb:queue:inflight:w-host-123"},
    {"myapp:", "myapp:queue:ready", "myapp:queue:scheduled", "myapp:workers",
     "myapp:job:evt_01ARYZ6S41TSV4RRFFQ69G5FAV", "myapp:queue:inflight:w-host-123"},
    {"{hb}:", "{hb}:queue:ready", "{hb}:queue:scheduled", "{hb}:workers",
     "{hb}:job:evt_01ARYZ6S41TSV4RRFFQ69G5FAV", "{hb}:queue:inflight:w-host-123"},
    {"staging/hb-", "staging/hb-queue:ready", "staging/hb-queue:scheduled", "staging/hb-workers",
     "staging/hb-job:evt_01ARYZ6S41TSV4RRFFQ69G5FAV", "staging/hb-queue:inflight:w-host-123"},
    {"", "queue:ready", "queue:scheduled", "workers", "job:evt_01ARYZ6S41TSV4RRFFQ69G5FAV",
     "queue:inflight:w-host-123"},
};

static void test_key_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(keys_cases) / sizeof(keys_cases[0]); i++) {
        const struct keys_case *c = &keys_cases[i];
        struct queue_keys k;
        memset(&k, 'x', sizeof(k));
        queue_keys_init(&k, c->prefix);
        assert_string_equal(k.prefix, c->prefix);
        assert_string_equal(k.ready, c->ready);
        assert_string_equal(k.scheduled, c->scheduled);
        assert_string_equal(k.workers, c->workers);

        char out[QUEUE_KEY_LEN];
        queue_key_job(&k, "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", out, sizeof(out));
        assert_string_equal(out, c->job);
        queue_key_inflight(&k, "w-host-123", out, sizeof(out));
        assert_string_equal(out, c->inflight);
    }
}

/* The longest prefix config accepts (63 characters) still gives whole key names. */
static void test_longest_prefix(void **state)
{
    (void)state;
    char prefix[64];
    memset(prefix, 'p', 62);
    prefix[62] = ':';
    prefix[63] = '\0';
    struct queue_keys k;
    queue_keys_init(&k, prefix);
    assert_string_equal(k.prefix, prefix);

    char want[QUEUE_KEY_LEN];
    snprintf(want, sizeof(want), "%squeue:scheduled", prefix);
    assert_string_equal(k.scheduled, want);

    char out[QUEUE_KEY_LEN];
    queue_key_job(&k, "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", out, sizeof(out));
    snprintf(want, sizeof(want), "%sjob:evt_01ARYZ6S41TSV4RRFFQ69G5FAV", prefix);
    assert_string_equal(out, want);

    queue_key_inflight(&k, "w-1", out, sizeof(out));
    snprintf(want, sizeof(want), "%squeue:inflight:w-1", prefix);
    assert_string_equal(out, want);
}

/* A short output buffer gets a NUL-terminated prefix of the name, nothing past its end. */
static void test_short_buffer(void **state)
{
    (void)state;
    struct queue_keys k;
    queue_keys_init(&k, "hb:");
    char out[12];
    memset(out, 'x', sizeof(out));
    queue_key_job(&k, "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", out, 8);
    assert_string_equal(out, "hb:job:");
    assert_int_equal(out[8], 'x');
}

static void test_pending_and_idempotency_keys(void **state)
{
    (void)state;
    struct queue_keys k;
    queue_keys_init(&k, "hb:");
    char out[QUEUE_KEY_LEN];
    queue_key_pending(&k, "brg_01ARYZ6S41TSV4RRFFQ69G5FAV", out, sizeof(out));
    assert_string_equal(out, "hb:bridge:brg_01ARYZ6S41TSV4RRFFQ69G5FAV:pending");

    assert_true(queue_key_idempotency(&k, "brg_1", "order-42", out, sizeof(out)));
    assert_string_equal(out, "hb:idem:brg_1:order-42");
    /* "hb:idem:brg_1:" is 14 characters: a 5-character key needs 20 bytes. */
    char small[20];
    assert_true(queue_key_idempotency(&k, "brg_1", "abcde", small, sizeof(small)));
    assert_string_equal(small, "hb:idem:brg_1:abcde");
    assert_false(queue_key_idempotency(&k, "brg_1", "abcdef", small, sizeof(small)));
}

/* ---- a real redis-server for the Lua scripts ---- */

#define PREFIX "hb:"

/* The key names under PREFIX, set by the group setup. */
static struct queue_keys qk;

struct test_redis {
    pid_t pid;
    int port;
    char dir[64];
    redisContext *c;
    char error[256]; /* why there is no server, reported by every script test */
};

static struct test_redis test_redis = {.pid = -1};

static const struct timeval redis_timeout = {5, 0};

/* Runs at exit as well as from the teardown: no redis-server outlives the test. */
static void redis_kill(void)
{
    if (test_redis.pid > 0) {
        kill(test_redis.pid, SIGKILL);
        waitpid(test_redis.pid, NULL, 0);
        test_redis.pid = -1;
    }
}

static bool redis_on_path(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return false;
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        char file[4096];
        /* An empty PATH entry means the current directory. */
        snprintf(file, sizeof(file), "%.*s/redis-server", n > 0 ? (int)n : 1, n > 0 ? path : ".");
        if (access(file, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* A port nobody listens on right now (another process may still take it: we retry). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static pid_t redis_spawn(int port)
{
    char portstr[16], log[128];
    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(log, sizeof(log), "%s/redis.log", test_redis.dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Die with the test even when it is killed before its teardown or atexit run. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--daemonize", "no", "--dir", test_redis.dir, (char *)NULL);
    _exit(127);
}

/* Wait until the server answers PING; false when it exited (port taken) or never answered. */
static bool redis_wait_ready(void)
{
    for (int i = 0; i < 200; i++) {
        if (waitpid(test_redis.pid, NULL, WNOHANG) == test_redis.pid) {
            test_redis.pid = -1;
            return false;
        }
        redisContext *c = redisConnectWithTimeout("127.0.0.1", test_redis.port, redis_timeout);
        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            bool up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r != NULL)
                freeReplyObject(r);
            if (up) {
                redisSetTimeout(c, redis_timeout);
                test_redis.c = c;
                return true;
            }
        }
        if (c != NULL)
            redisFree(c);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redis_kill();
    return false;
}

static int redis_group_setup(void **state)
{
    (void)state;
    queue_keys_init(&qk, PREFIX);
    atexit(redis_kill);
    if (!redis_on_path()) {
        snprintf(test_redis.error, sizeof(test_redis.error),
                 "redis-server not found on PATH: the queue script tests need a real Redis "
                 "(install redis-server)");
        return 0;
    }
    snprintf(test_redis.dir, sizeof(test_redis.dir), "/tmp/hb-test-queue.XXXXXX");
    if (mkdtemp(test_redis.dir) == NULL) {
        snprintf(test_redis.error, sizeof(test_redis.error), "mkdtemp: %s", strerror(errno));
        test_redis.dir[0] = '\0';
        return 0;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        test_redis.port = free_port();
        if (test_redis.port < 0)
            continue;
        test_redis.pid = redis_spawn(test_redis.port);
        if (test_redis.pid < 0) {
            snprintf(test_redis.error, sizeof(test_redis.error), "fork: %s", strerror(errno));
            return 0;
        }
        if (redis_wait_ready())
            return 0;
    }
    snprintf(test_redis.error, sizeof(test_redis.error),
             "redis-server did not start on 127.0.0.1 (see %s/redis.log)", test_redis.dir);
    return 0;
}

static int redis_group_teardown(void **state)
{
    (void)state;
    if (test_redis.c != NULL) {
        redisFree(test_redis.c);
        test_redis.c = NULL;
    }
    redis_kill();
    if (test_redis.dir[0] != '\0' && test_redis.error[0] == '\0') {
        DIR *d = opendir(test_redis.dir);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                unlinkat(dirfd(d), e->d_name, 0);
            }
            closedir(d);
        }
        rmdir(test_redis.dir);
    }
    return 0;
}

/* The server's connection, with an empty database; fails the test when there is none. */
static redisContext *redis_fresh(void)
{
    if (test_redis.c == NULL)
        fail_msg("%s", test_redis.error[0] ? test_redis.error : "no redis-server");
    redisReply *r = redisCommand(test_redis.c, "FLUSHALL");
    if (r == NULL)
        fail_msg("redis FLUSHALL: %s", test_redis.c->errstr);
    freeReplyObject(r);
    return test_redis.c;
}

/* ---- small Redis helpers; each fails the test on a connection error ---- */

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis %s: %s", fmt, c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis %s: %s", fmt, r->str);
    return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis %s: %s", fmt, c->errstr);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("redis %s: reply type %d, want an integer", fmt, r->type);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* A string reply equal to want, or a nil reply when want is NULL. */
static void cmd_str_is(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis %s: %s", fmt, c->errstr);
    if (want == NULL) {
        if (r->type != REDIS_REPLY_NIL)
            fail_msg("redis %s: reply type %d (\"%s\"), want nil", fmt, r->type,
                     r->type == REDIS_REPLY_STRING ? r->str : "");
    } else {
        if (r->type != REDIS_REPLY_STRING)
            fail_msg("redis %s: reply type %d, want \"%s\"", fmt, r->type, want);
        if (strcmp(r->str, want) != 0)
            fail_msg("redis %s: \"%s\", want \"%s\"", fmt, r->str, want);
    }
    freeReplyObject(r);
}

/* LRANGE key 0 -1 is exactly want[0..n) (left to right). */
static void assert_list(redisContext *c, const char *key, const char *const *want, size_t n)
{
    redisReply *r = cmd(c, "LRANGE %s 0 -1", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    if (r->elements != n)
        fail_msg("%s has %zu ids, want %zu", key, r->elements, n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->element[i]->str, want[i]) != 0)
            fail_msg("%s[%zu] is %s, want %s", key, i, r->element[i]->str, want[i]);
    freeReplyObject(r);
}

/* An array of string pointers and its length, for assert_list and redis_eval. */
#define STRS(...)                                                                                  \
    ((const char *const[]){__VA_ARGS__}),                                                          \
        (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* EVAL script with keys and args; the caller frees the reply. */
static redisReply *redis_eval(redisContext *c, const char *script, const char *const *keys,
                              size_t nkeys, const char *const *args, size_t nargs)
{
    const char *argv[64];
    size_t lens[64];
    char numkeys[16];
    assert_true(3 + nkeys + nargs <= 64);
    snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    size_t argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = numkeys;
    for (size_t i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (size_t i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(c, (int)argc, argv, lens);
    if (r == NULL)
        fail_msg("redis EVAL: %s", c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis EVAL: %s", r->str);
    return r;
}

/* EVAL of a script that answers an integer. */
static long long eval_int(redisContext *c, const char *script, const char *const *keys,
                          size_t nkeys, const char *const *args, size_t nargs)
{
    redisReply *r = redis_eval(c, script, keys, nkeys, args, nargs);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("script reply type %d, want an integer", r->type);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* EVAL of a script that answers a status or string, compared with want. */
static void eval_str_is(redisContext *c, const char *want, const char *script,
                        const char *const *keys, size_t nkeys, const char *const *args,
                        size_t nargs)
{
    redisReply *r = redis_eval(c, script, keys, nkeys, args, nargs);
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        fail_msg("script reply type %d, want \"%s\"", r->type, want);
    if (strcmp(r->str, want) != 0)
        fail_msg("script said \"%s\", want \"%s\"", r->str, want);
    freeReplyObject(r);
}

/* ---- jobs as the ingress writes them ---- */

#define BRIDGE_A "brg_01ARYZ6S41TSV4RRFFQ69G5FAA"
#define BRIDGE_B "brg_01ARYZ6S41TSV4RRFFQ69G5FBB"
#define RECEIVED_MS 1700000000000LL

/* A body with a NUL inside: the hash must keep every byte. */
static char job_body[] = "{\"a\":1}\0tail";
#define JOB_BODY_LEN (sizeof(job_body) - 1)

static char job_method[] = "POST";
static char job_path[] = "/hooks/tok123";
static char job_query[] = "x=1&y=2";
static char job_headers[] = "{\"content-type\":\"application/json\",\"x-a\":\"[redacted]\"}";
static char job_ctype[] = "application/json";
static char job_replay[] = "";

static void key_job(const char *id, char *out)
{
    queue_key_job(&qk, id, out, QUEUE_KEY_LEN);
}

static void key_pending(const char *bridge, char *out)
{
    queue_key_pending(&qk, bridge, out, QUEUE_KEY_LEN);
}

static void key_inflight(const char *worker, char *out)
{
    queue_key_inflight(&qk, worker, out, QUEUE_KEY_LEN);
}

/*
 * Run queue_lua_enqueue as ingress/enqueue.c does: EVAL, script, numkeys, job, ready,
 * scheduled, pending, unrecorded[, idempotency], id, due, ttl, then job_hset_build's pairs without
 * "HSET" and the key. Returns the reply (the caller frees it).
 */
static redisReply *enqueue(redisContext *c, const char *id, const char *bridge, long long due_ms,
                           const char *idem_key)
{
    struct job j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.bridge_id, sizeof(j.bridge_id), "%s", bridge);
    j.received_ms = RECEIVED_MS;
    j.method = job_method;
    j.path = job_path;
    j.query = job_query;
    j.headers_json = job_headers;
    j.content_type = job_ctype;
    j.body = job_body;
    j.body_len = JOB_BODY_LEN;
    j.replay_of = job_replay;

    char jobkey[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN], idem[QUEUE_KEY_LEN];
    char due[24], ttl[16], numkeys[4];
    struct job_hset h;
    key_job(id, jobkey);
    key_pending(bridge, pending);
    if (idem_key != NULL)
        assert_true(queue_key_idempotency(&qk, bridge, idem_key, idem, sizeof(idem)));
    snprintf(due, sizeof(due), "%lld", due_ms);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_IDEMPOTENCY_TTL_S);
    snprintf(numkeys, sizeof(numkeys), "%s", idem_key ? "6" : "5");
    job_hset_build(&h, &j, jobkey);

    const char *argv[12 + JOB_ARGV_MAX];
    size_t lens[12 + JOB_ARGV_MAX];
    int argc = 0;
    const char *fixed[] = {"EVAL",  queue_lua_enqueue, numkeys,
                           jobkey,  qk.ready,          qk.scheduled,
                           pending, qk.unrecorded,     idem_key ? idem : NULL};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (fixed[i] == NULL)
            continue;
        argv[argc] = fixed[i];
        lens[argc++] = strlen(fixed[i]);
    }
    const char *tail[] = {id, due, ttl};
    for (size_t i = 0; i < 3; i++) {
        argv[argc] = tail[i];
        lens[argc++] = strlen(tail[i]);
    }
    for (int i = 2; i < h.argc; i++) {
        argv[argc] = h.argv[i];
        lens[argc++] = h.argvlen[i];
    }
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    job_hset_free(&h);
    if (r == NULL)
        fail_msg("enqueue %s: %s", id, c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("enqueue %s: %s", id, r->str);
    return r;
}

/* The enqueue reply is {fresh, want_id}. */
static void assert_enqueue_reply(redisReply *r, long long fresh, const char *want_id)
{
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, fresh);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_STRING);
    assert_string_equal(r->element[1]->str, want_id);
    freeReplyObject(r);
}

static void enqueue_ok(redisContext *c, const char *id, const char *bridge, long long due_ms)
{
    assert_enqueue_reply(enqueue(c, id, bridge, due_ms, NULL), 1, id);
}

/* Move up to max ids from ready to worker's in-flight list; returns how many came. */
static size_t fetch_n(redisContext *c, const char *worker, int max)
{
    char inflight[QUEUE_KEY_LEN], maxs[16];
    key_inflight(worker, inflight);
    snprintf(maxs, sizeof(maxs), "%d", max);
    redisReply *r = redis_eval(c, queue_lua_fetch, STRS(qk.ready, inflight), STRS(PREFIX, maxs));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements / 2;
    freeReplyObject(r);
    return n;
}

/* The job hash holds exactly what job_hset_build wrote for `bridge`: three fields, the
 * request's JSON with every value. */
static void assert_job_hash(redisContext *c, const char *id, const char *bridge)
{
    char jobkey[QUEUE_KEY_LEN];
    key_job(id, jobkey);
    assert_int_equal(cmd_int(c, "HLEN %s", jobkey), 3);
    cmd_str_is(c, bridge, "HGET %s %s", jobkey, JOB_F_BRIDGE);
    cmd_str_is(c,
               "{\"received_ms\":1700000000000,\"method\":\"POST\",\"path\":\"/hooks/tok123\","
               "\"query\":\"x=1&y=2\",\"content_type\":\"application/json\",\"replay_of\":\"\","
               "\"headers\":{\"content-type\":\"application/json\",\"x-a\":\"[redacted]\"}}",
               "HGET %s %s", jobkey, JOB_F_REQUEST);
    redisReply *r = cmd(c, "HGET %s %s", jobkey, JOB_F_BODY);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, JOB_BODY_LEN);
    assert_memory_equal(r->str, job_body, JOB_BODY_LEN);
    freeReplyObject(r);
}

/* ---- queue_lua_enqueue ---- */

static void test_enqueue_ready(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    const char *id = "evt_01ARYZ6S41TSV4RRFFQ69G5F01";
    char pending[QUEUE_KEY_LEN];
    key_pending(BRIDGE_A, pending);

    assert_enqueue_reply(enqueue(c, id, BRIDGE_A, 0, NULL), 1, id);
    assert_job_hash(c, id, BRIDGE_A);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, id), 1);
    assert_int_equal(cmd_int(c, "SCARD %s", pending), 1);
    assert_list(c, qk.ready, STRS(id));
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
    assert_list(c, qk.unrecorded, STRS(id));
    /* job, ready, pending and unrecorded: nothing else was written. */
    assert_int_equal(cmd_int(c, "DBSIZE"), 4);

    /* A second job goes to the left: the right end (taken next) keeps the oldest. */
    enqueue_ok(c, "evt_01ARYZ6S41TSV4RRFFQ69G5F02", BRIDGE_A, 0);
    assert_list(c, qk.ready, STRS("evt_01ARYZ6S41TSV4RRFFQ69G5F02", id));
}

static void test_enqueue_scheduled(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    const char *id = "evt_01ARYZ6S41TSV4RRFFQ69G5F01";
    char pending[QUEUE_KEY_LEN];
    key_pending(BRIDGE_A, pending);

    assert_enqueue_reply(enqueue(c, id, BRIDGE_A, 1700000060123LL, NULL), 1, id);
    assert_job_hash(c, id, BRIDGE_A);
    cmd_str_is(c, "1700000060123", "ZSCORE %s %s", qk.scheduled, id);
    assert_int_equal(cmd_int(c, "ZCARD %s", qk.scheduled), 1);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.ready), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, id), 1);
    assert_list(c, qk.unrecorded, STRS(id));
    assert_int_equal(cmd_int(c, "DBSIZE"), 4);
}

static void test_enqueue_idempotency(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    const char *id1 = "evt_01ARYZ6S41TSV4RRFFQ69G5F01";
    const char *id2 = "evt_01ARYZ6S41TSV4RRFFQ69G5F02";
    const char *id3 = "evt_01ARYZ6S41TSV4RRFFQ69G5F03";
    const char *id4 = "evt_01ARYZ6S41TSV4RRFFQ69G5F04";
    char idem[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN], job2[QUEUE_KEY_LEN], job3[QUEUE_KEY_LEN];
    assert_true(queue_key_idempotency(&qk, BRIDGE_A, "order-42", idem, sizeof(idem)));
    key_pending(BRIDGE_A, pending);
    key_job(id2, job2);
    key_job(id3, job3);

    assert_enqueue_reply(enqueue(c, id1, BRIDGE_A, 0, "order-42"), 1, id1);
    assert_job_hash(c, id1, BRIDGE_A);
    cmd_str_is(c, id1, "GET %s", idem);
    long long ttl = cmd_int(c, "TTL %s", idem);
    if (ttl < QUEUE_IDEMPOTENCY_TTL_S - 10 || ttl > QUEUE_IDEMPOTENCY_TTL_S)
        fail_msg("idempotency key TTL %lld", ttl);

    /* The same key again, now or later: the first id, and nothing written. */
    assert_enqueue_reply(enqueue(c, id2, BRIDGE_A, 0, "order-42"), 0, id1);
    assert_enqueue_reply(enqueue(c, id3, BRIDGE_A, 1700000060000LL, "order-42"), 0, id1);
    assert_int_equal(cmd_int(c, "EXISTS %s", job2), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", job3), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, id2), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, id3), 0);
    assert_int_equal(cmd_int(c, "SCARD %s", pending), 1);
    assert_list(c, qk.ready, STRS(id1));
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
    cmd_str_is(c, id1, "GET %s", idem);
    assert_list(c, qk.unrecorded, STRS(id1));
    /* job, ready, pending, unrecorded, idem */
    assert_int_equal(cmd_int(c, "DBSIZE"), 5);

    /* Another key, or the same key on another bridge, is a new job. */
    assert_enqueue_reply(enqueue(c, id4, BRIDGE_A, 0, "order-43"), 1, id4);
    assert_enqueue_reply(enqueue(c, id2, BRIDGE_B, 0, "order-42"), 1, id2);
    assert_list(c, qk.ready, STRS(id2, id4, id1));
}

/* ---- queue_lua_abort ---- */

static void test_abort_marks_pending(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    const char *a_ready = "evt_A_ready", *a_sched = "evt_A_sched", *a_flight = "evt_A_flight";
    const char *b_ready = "evt_B_ready", *b_sched = "evt_B_sched";
    char pa[QUEUE_KEY_LEN], pb[QUEUE_KEY_LEN], inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN];
    key_pending(BRIDGE_A, pa);
    key_pending(BRIDGE_B, pb);
    key_inflight("w-1", inflight);

    enqueue_ok(c, a_flight, BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
    enqueue_ok(c, b_ready, BRIDGE_B, 0);
    enqueue_ok(c, a_ready, BRIDGE_A, 0);
    enqueue_ok(c, a_sched, BRIDGE_A, 5000);
    enqueue_ok(c, b_sched, BRIDGE_B, 6000);

    assert_int_equal(
        eval_int(c, queue_lua_abort, STRS(pa, qk.scheduled, qk.ready), STRS(PREFIX, "1000")), 3);
    assert_int_equal(cmd_int(c, "EXISTS %s", pa), 0);
    const char *a_ids[] = {a_ready, a_sched, a_flight};
    for (size_t i = 0; i < 3; i++) {
        key_job(a_ids[i], job);
        cmd_str_is(c, "1", "HGET %s %s", job, JOB_F_ABORTED);
        cmd_str_is(c, BRIDGE_A, "HGET %s %s", job, JOB_F_BRIDGE);
    }
    /* The scheduled one is ready now, to be recorded at once; the others stay put. */
    assert_list(c, qk.ready, STRS(a_sched, a_ready, b_ready));
    assert_list(c, inflight, STRS(a_flight));
    cmd_str_is(c, NULL, "ZSCORE %s %s", qk.scheduled, a_sched);

    /* Bridge B is untouched. */
    assert_int_equal(cmd_int(c, "SCARD %s", pb), 2);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pb, b_ready), 1);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pb, b_sched), 1);
    cmd_str_is(c, "6000", "ZSCORE %s %s", qk.scheduled, b_sched);
    assert_int_equal(cmd_int(c, "ZCARD %s", qk.scheduled), 1);
    const char *b_ids[] = {b_ready, b_sched};
    for (size_t i = 0; i < 2; i++) {
        key_job(b_ids[i], job);
        assert_int_equal(cmd_int(c, "HEXISTS %s %s", job, JOB_F_ABORTED), 0);
        assert_int_equal(cmd_int(c, "HLEN %s", job), 3);
    }

    /* Nothing left to abort. */
    assert_int_equal(
        eval_int(c, queue_lua_abort, STRS(pa, qk.scheduled, qk.ready), STRS(PREFIX, "1000")), 0);
}

static void test_abort_batches(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char pa[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN];
    key_pending(BRIDGE_A, pa);
    char ids[5][32];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof(ids[i]), "evt_batch_%d", i);
        enqueue_ok(c, ids[i], BRIDGE_A, i % 2 ? 1000 + i : 0);
    }
    static const long long want[] = {2, 2, 1, 0};
    static const int marked[] = {2, 4, 5, 5};
    for (size_t call = 0; call < 4; call++) {
        assert_int_equal(
            eval_int(c, queue_lua_abort, STRS(pa, qk.scheduled, qk.ready), STRS(PREFIX, "2")),
            want[call]);
        int n = 0;
        for (int i = 0; i < 5; i++) {
            key_job(ids[i], job);
            n += (int)cmd_int(c, "HEXISTS %s %s", job, JOB_F_ABORTED);
        }
        assert_int_equal(n, marked[call]);
        assert_int_equal(cmd_int(c, "SCARD %s", pa), 5 - marked[call]);
    }
    assert_int_equal(cmd_int(c, "LLEN %s", qk.ready), 5);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
}

/* ---- queue_lua_ack ---- */

static void ack_is_settled(redisContext *c, const char *want, const char *worker, const char *id,
                           const char *bridge, const char *final, const char *attempts,
                           const char *due, const char *settled)
{
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    char ev[64];
    snprintf(ev, sizeof(ev), "%.*s", (int)strcspn(id, "/"), id);
    key_inflight(worker, inflight);
    key_job(ev, job);
    key_pending(bridge, pending);
    eval_str_is(c, want, queue_lua_ack, STRS(inflight, job, qk.scheduled, pending),
                STRS(id, final, attempts, due, settled));
}

static void ack_is(redisContext *c, const char *want, const char *worker, const char *id,
                   const char *bridge, const char *final, const char *attempts, const char *due)
{
    ack_is_settled(c, want, worker, id, bridge, final, attempts, due, "0");
}

static void test_ack_final(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    key_job("evt_a", job);
    key_pending(BRIDGE_A, pending);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    enqueue_ok(c, "evt_b", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 2), 2);
    assert_list(c, inflight, STRS("evt_b", "evt_a"));

    ack_is(c, "done", "w-1", "evt_a", BRIDGE_A, "1", "1", "0");
    assert_list(c, inflight, STRS("evt_b"));
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_a"), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_b"), 1);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);

    /* An abort mark is reported even for a final outcome (the event then ends aborted,
     * its attempt kept): first with nothing changed, so that the worker records the event
     * aborted while it still holds the job, then, settled, the job is deleted. */
    key_job("evt_b", job);
    cmd_int(c, "HSET %s %s 1", job, JOB_F_ABORTED);
    ack_is(c, "abort_first", "w-1", "evt_b", BRIDGE_A, "1", "1", "0");
    assert_list(c, inflight, STRS("evt_b"));
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 1);
    ack_is_settled(c, "aborted", "w-1", "evt_b", BRIDGE_A, "1", "1", "0", "1");
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_b"), 0);
    /* Only the unrecorded list is left, for the workers' sweep to empty. */
    assert_int_equal(cmd_int(c, "DBSIZE"), 1);
    assert_int_equal(cmd_int(c, "LLEN %s", qk.unrecorded), 2);
}

static void test_ack_retry(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    key_job("evt_a", job);
    key_pending(BRIDGE_A, pending);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);

    ack_is(c, "scheduled", "w-1", "evt_a", BRIDGE_A, "0", "3", "1700000000999");
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
    cmd_str_is(c, "3", "HGET %s %s", job, JOB_F_ATTEMPTS);
    cmd_str_is(c, BRIDGE_A, "HGET %s %s", job, JOB_F_BRIDGE);
    assert_int_equal(cmd_int(c, "HLEN %s", job), 4);
    cmd_str_is(c, "1700000000999", "ZSCORE %s %s", qk.scheduled, "evt_a");
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_a"), 1);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.ready), 0);
}

static void test_ack_aborted(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    key_job("evt_a", job);
    key_pending(BRIDGE_A, pending);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
    /* Aborted while in flight, the way the admin API does it. */
    assert_int_equal(
        eval_int(c, queue_lua_abort, STRS(pending, qk.scheduled, qk.ready), STRS(PREFIX, "1000")),
        1);

    ack_is(c, "abort_first", "w-1", "evt_a", BRIDGE_A, "0", "1", "1700000000999");
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 1);
    ack_is_settled(c, "aborted", "w-1", "evt_a", BRIDGE_A, "1", "1", "0", "1");
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", pending), 0);
    assert_int_equal(cmd_int(c, "DBSIZE"), 1); /* the unrecorded list */
}

static void test_ack_gone(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    key_job("evt_a", job);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
    cmd_int(c, "DEL %s", job);

    ack_is(c, "gone", "w-1", "evt_a", BRIDGE_A, "0", "1", "1700000000999");
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
}

/* A bridge with routes: the id fans out into one entry per route; each route's ack counts
 * on its own fields; a route delivered is not touched by another's retry; the job goes
 * with the last route. */
static void test_fanout_and_route_acks(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    key_job("evt_a", job);
    key_pending(BRIDGE_A, pending);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
    assert_int_equal(eval_int(c, queue_lua_fanout,
                              STRS(inflight, job, qk.ready, qk.scheduled, pending),
                              STRS("evt_a", "crm,ledger,mail", "crm", "0", "ledger", "0", "mail",
                                   "1700000000999")),
                     3);
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_a"), 0);
    assert_int_equal(cmd_int(c, "SCARD %s", pending), 3);
    cmd_str_is(c, "1700000000999", "ZSCORE %s %s", qk.scheduled, "evt_a/mail");
    cmd_str_is(c, "3", "HGET %s %s", job, "left");
    /* Fanning out twice (a reaped duplicate) does nothing. */
    assert_int_equal(eval_int(c, queue_lua_fanout,
                              STRS(inflight, job, qk.ready, qk.scheduled, pending),
                              STRS("evt_a", "crm", "crm", "0")),
                     0);
    assert_int_equal(fetch_n(c, "w-1", 2), 2);
    ack_is(c, "done", "w-1", "evt_a/crm", BRIDGE_A, "1", "1", "0");
    ack_is(c, "scheduled", "w-1", "evt_a/ledger", BRIDGE_A, "0", "1", "1700000000001");
    cmd_str_is(c, "1", "HGET %s %s", job, "attempts/ledger");
    assert_int_equal(cmd_int(c, "HEXISTS %s %s", job, "attempts"), 0);
    assert_int_equal(cmd_int(c, "SISMEMBER %s %s", pending, "evt_a/crm"), 0);
    /* Aborting one route marks only it. */
    assert_int_equal(eval_int(c, queue_lua_abort_one, STRS(job, pending, qk.scheduled, qk.ready),
                              STRS("evt_a", "mail")),
                     1);
    assert_int_equal(cmd_int(c, "HEXISTS %s %s", job, "aborted/mail"), 1);
    assert_int_equal(cmd_int(c, "HEXISTS %s %s", job, "aborted"), 0);
    assert_int_equal(eval_int(c, queue_lua_abort_one, STRS(job, pending, qk.scheduled, qk.ready),
                              STRS("evt_a", "crm")),
                     0);
    assert_int_equal(fetch_n(c, "w-1", 1), 1); /* evt_a/mail, moved to ready */
    ack_is_settled(c, "aborted", "w-1", "evt_a/mail", BRIDGE_A, "1", "0", "0", "1");
    cmd_str_is(c, "1", "HGET %s %s", job, "left");
    /* Retry now of the remaining route, then its final ack deletes the job. */
    assert_int_equal(
        eval_int(c, queue_lua_retry_now, STRS(job, qk.scheduled, qk.ready), STRS("evt_a", "")), 1);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
    ack_is(c, "done", "w-1", "evt_a/ledger", BRIDGE_A, "1", "2", "0");
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", pending), 0);
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
}

/* ---- queue_lua_ack_many ---- */

/* Every key and what it holds, in one comparable text: sets and hashes sorted. */
static int snapshot_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void snapshot_reply_sorted(char *out, size_t outlen, const redisReply *r)
{
    const char **items = calloc(r->elements + 1, sizeof(*items));
    assert_non_null(items);
    for (size_t i = 0; i < r->elements; i++)
        items[i] = r->element[i]->str ? r->element[i]->str : "(nil)";
    qsort(items, r->elements, sizeof(*items), snapshot_cmp);
    for (size_t i = 0; i < r->elements; i++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, " %s", items[i]);
    }
    free(items);
}

static void snapshot(redisContext *c, char *out, size_t outlen)
{
    out[0] = '\0';
    redisReply *keys = cmd(c, "KEYS *");
    snapshot_reply_sorted(out, outlen, keys);
    const char **names = calloc(keys->elements + 1, sizeof(*names));
    assert_non_null(names);
    for (size_t i = 0; i < keys->elements; i++)
        names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof(*names), snapshot_cmp);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *t = cmd(c, "TYPE %s", names[i]);
        redisReply *v = NULL;
        bool sorted = false;
        if (strcmp(t->str, "list") == 0) {
            v = cmd(c, "LRANGE %s 0 -1", names[i]);
        } else if (strcmp(t->str, "set") == 0) {
            v = cmd(c, "SMEMBERS %s", names[i]);
            sorted = true;
        } else if (strcmp(t->str, "zset") == 0) {
            v = cmd(c, "ZRANGE %s 0 -1 WITHSCORES", names[i]);
        } else if (strcmp(t->str, "hash") == 0) {
            /* "field=value" pairs sorted: flatten first. */
            redisReply *h = cmd(c, "HGETALL %s", names[i]);
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "\n%s hash", names[i]);
            const char **pairs = calloc(h->elements / 2 + 1, sizeof(*pairs));
            char(*buf)[512] = calloc(h->elements / 2 + 1, sizeof(*buf));
            assert_true(pairs != NULL && buf != NULL);
            for (size_t k = 0; k + 1 < h->elements; k += 2) {
                snprintf(buf[k / 2], sizeof(buf[0]), "%s=%.400s", h->element[k]->str,
                         h->element[k + 1]->str);
                pairs[k / 2] = buf[k / 2];
            }
            qsort(pairs, h->elements / 2, sizeof(*pairs), snapshot_cmp);
            for (size_t k = 0; k < h->elements / 2; k++) {
                used = strlen(out);
                snprintf(out + used, outlen - used, " %s", pairs[k]);
            }
            free(buf);
            free(pairs);
            freeReplyObject(h);
        } else {
            fail_msg("key %s of type %s", names[i], t->str);
        }
        if (v != NULL) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "\n%s %s", names[i], t->str);
            if (sorted) {
                snapshot_reply_sorted(out, outlen, v);
            } else {
                for (size_t k = 0; k < v->elements; k++) {
                    used = strlen(out);
                    snprintf(out + used, outlen - used, " %s", v->element[k]->str);
                }
            }
            freeReplyObject(v);
        }
        freeReplyObject(t);
    }
    free(names);
    freeReplyObject(keys);
    assert_true(strlen(out) + 1 < outlen);
}

/* In flight for w-1: plain events of two bridges, two of them marked aborted, the two
 * route entries of a fanned-out event, an id whose job is gone, and one left alone. */
static void ack_many_setup(redisContext *c)
{
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN], pending[QUEUE_KEY_LEN];
    redis_fresh();
    key_inflight("w-1", inflight);
    const char *ids[] = {"evt_a", "evt_b", "evt_c", "evt_d", "evt_e", "evt_f", "evt_g"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        enqueue_ok(
            c, ids[i],
            strcmp(ids[i], "evt_b") == 0 || strcmp(ids[i], "evt_e") == 0 ? BRIDGE_B : BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 7), 7);
    key_job("evt_c", job);
    cmd_int(c, "HSET %s %s 1", job, JOB_F_ABORTED);
    key_job("evt_e", job);
    cmd_int(c, "HSET %s %s 1", job, JOB_F_ABORTED);
    key_job("evt_g", job);
    key_pending(BRIDGE_A, pending);
    assert_int_equal(eval_int(c, queue_lua_fanout,
                              STRS(inflight, job, qk.ready, qk.scheduled, pending),
                              STRS("evt_g", "crm,ledger", "crm", "0", "ledger", "0")),
                     2);
    assert_int_equal(fetch_n(c, "w-1", 2), 2);
    cmd_int(c, "LPUSH %s evt_h", qk.ready);
    assert_int_equal(fetch_n(c, "w-1", 1), 1);
}

/* The acks of the test: entry, bridge, final, attempts, due, settled, and the answer. */
static const char *const ack_many_cases[][7] = {
    {"evt_a", BRIDGE_A, "1", "1", "0", "0", "done"},
    {"evt_b", BRIDGE_B, "1", "1", "0", "0", "done"},
    {"evt_c", BRIDGE_A, "1", "1", "0", "0", "abort_first"},
    {"evt_d", BRIDGE_A, "0", "2", "1700000000500", "0", "scheduled"},
    {"evt_e", BRIDGE_B, "1", "1", "0", "1", "aborted"},
    {"evt_g/crm", BRIDGE_A, "1", "1", "0", "0", "done"},
    {"evt_g/ledger", BRIDGE_A, "1", "1", "0", "0", "done"},
    {"evt_h", BRIDGE_A, "0", "1", "1700000000500", "0", "gone"},
};
#define ACK_MANY_N (sizeof(ack_many_cases) / sizeof(ack_many_cases[0]))

/* One batch does to every key exactly what the same acks one by one do, and answers each
 * the same. */
static void test_ack_many_matches_single_acks(void **state)
{
    (void)state;
    static char one[16384], many[16384];
    redisContext *c = redis_fresh();

    ack_many_setup(c);
    for (size_t i = 0; i < ACK_MANY_N; i++) {
        const char *const *a = ack_many_cases[i];
        ack_is_settled(c, a[6], "w-1", a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    snapshot(c, one, sizeof(one));

    ack_many_setup(c);
    char inflight[QUEUE_KEY_LEN], keys[ACK_MANY_N][2][QUEUE_KEY_LEN], ev[64], numkeys[16];
    const char *argv[5 + 7 * ACK_MANY_N];
    key_inflight("w-1", inflight);
    snprintf(numkeys, sizeof(numkeys), "%zu", 2 + 2 * ACK_MANY_N);
    argv[0] = "EVAL";
    argv[1] = queue_lua_ack_many;
    argv[2] = numkeys;
    argv[3] = inflight;
    argv[4] = qk.scheduled;
    for (size_t i = 0; i < ACK_MANY_N; i++) {
        const char *const *a = ack_many_cases[i];
        snprintf(ev, sizeof(ev), "%.*s", (int)strcspn(a[0], "/"), a[0]);
        key_job(ev, keys[i][0]);
        key_pending(a[1], keys[i][1]);
        argv[5 + 2 * i] = keys[i][0];
        argv[6 + 2 * i] = keys[i][1];
        for (size_t k = 0; k < 5; k++)
            argv[5 + 2 * ACK_MANY_N + 5 * i + k] = a[k == 0 ? 0 : k + 1];
    }
    redisReply *r = redisCommandArgv(c, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("ack_many: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, ACK_MANY_N);
    for (size_t i = 0; i < ACK_MANY_N; i++)
        assert_string_equal(r->element[i]->str, ack_many_cases[i][6]);
    freeReplyObject(r);
    snapshot(c, many, sizeof(many));

    assert_string_equal(many, one);
    /* And the state is what the single acks are documented to leave. */
    assert_list(c, inflight, STRS("evt_f", "evt_c"));
    assert_int_equal(cmd_int(c, "ZCARD %s", qk.scheduled), 1);
}

/* ---- queue_lua_promote ---- */

static long long promote(redisContext *c, const char *now, const char *max)
{
    return eval_int(c, queue_lua_promote, STRS(qk.scheduled, qk.ready), STRS(now, max));
}

static void test_promote(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    cmd_int(c, "ZADD %s 300 s3 100 s1 200 s2", qk.scheduled);
    cmd_int(c, "LPUSH %s r0", qk.ready);

    assert_int_equal(promote(c, "99", "10"), 0);
    /* Due at exactly now counts; the earliest ends up next to be taken. */
    assert_int_equal(promote(c, "200", "10"), 2);
    assert_list(c, qk.ready, STRS("s2", "s1", "r0"));
    assert_int_equal(cmd_int(c, "ZCARD %s", qk.scheduled), 1);
    cmd_str_is(c, "300", "ZSCORE %s s3", qk.scheduled);

    cmd_int(c, "ZADD %s 600 s6 400 s4 500 s5", qk.scheduled);
    assert_int_equal(promote(c, "1000", "2"), 2);
    assert_list(c, qk.ready, STRS("s4", "s3", "s2", "s1", "r0"));
    assert_int_equal(promote(c, "1000", "10"), 2);
    assert_list(c, qk.ready, STRS("s6", "s5", "s4", "s3", "s2", "s1", "r0"));
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.scheduled), 0);
    assert_int_equal(promote(c, "1000", "10"), 0);
}

/* ---- queue_lua_fetch ---- */

/* The i-th job of a fetch reply, checked against what enqueue wrote. */
static void assert_fetched(const redisReply *r, size_t i, const char *id, const char *bridge)
{
    const redisReply *idr = r->element[2 * i], *pairs = r->element[2 * i + 1];
    assert_int_equal(idr->type, REDIS_REPLY_STRING);
    assert_string_equal(idr->str, id);
    assert_int_equal(pairs->type, REDIS_REPLY_ARRAY);
    assert_int_equal(pairs->elements, 6);
    struct job j;
    char err[128];
    if (job_from_reply(&j, idr->str, pairs, err, sizeof(err)) != 0)
        fail_msg("job_from_reply: %s", err);
    assert_string_equal(j.id, id);
    assert_string_equal(j.bridge_id, bridge);
    assert_int_equal(j.received_ms, RECEIVED_MS);
    assert_string_equal(j.method, "POST");
    assert_string_equal(j.path, "/hooks/tok123");
    assert_string_equal(j.query, "x=1&y=2");
    assert_string_equal(j.content_type, "application/json");
    assert_int_equal(j.body_len, JOB_BODY_LEN);
    assert_memory_equal(j.body, job_body, JOB_BODY_LEN);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.requeues, 0);
    assert_false(j.aborted);
    job_clear(&j);
}

static void test_fetch(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    enqueue_ok(c, "evt_b", BRIDGE_B, 0);
    enqueue_ok(c, "evt_c", BRIDGE_A, 0);

    /* Oldest first, each with its hash. */
    redisReply *r = redis_eval(c, queue_lua_fetch, STRS(qk.ready, inflight), STRS(PREFIX, "2"));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    assert_fetched(r, 0, "evt_a", BRIDGE_A);
    assert_fetched(r, 1, "evt_b", BRIDGE_B);
    freeReplyObject(r);
    assert_list(c, inflight, STRS("evt_b", "evt_a"));
    assert_list(c, qk.ready, STRS("evt_c"));

    /* Fewer ready than asked for. */
    r = redis_eval(c, queue_lua_fetch, STRS(qk.ready, inflight), STRS(PREFIX, "5"));
    assert_int_equal(r->elements, 2);
    assert_fetched(r, 0, "evt_c", BRIDGE_A);
    freeReplyObject(r);
    assert_list(c, inflight, STRS("evt_c", "evt_b", "evt_a"));
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.ready), 0);

    /* Nothing ready: an empty answer. */
    r = redis_eval(c, queue_lua_fetch, STRS(qk.ready, inflight), STRS(PREFIX, "5"));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);

    /* An id whose hash is gone still moves, with no fields. */
    cmd_int(c, "LPUSH %s evt_ghost", qk.ready);
    r = redis_eval(c, queue_lua_fetch, STRS(qk.ready, inflight), STRS(PREFIX, "5"));
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "evt_ghost");
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 0);
    freeReplyObject(r);
    assert_list(c, inflight, STRS("evt_ghost", "evt_c", "evt_b", "evt_a"));
}

/* ---- queue_lua_reap and queue_lua_release ---- */

static void test_reap(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char dead[QUEUE_KEY_LEN], live[QUEUE_KEY_LEN], me[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN];
    key_inflight("w-dead", dead);
    key_inflight("w-live", live);
    key_inflight("w-me", me);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    enqueue_ok(c, "evt_b", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-dead", 2), 2);
    cmd_int(c, "LPUSH %s evt_ghost", dead); /* its hash is gone */
    enqueue_ok(c, "evt_c", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-live", 1), 1);
    enqueue_ok(c, "evt_d", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-me", 1), 1);
    enqueue_ok(c, "evt_x", BRIDGE_A, 0);
    cmd_int(c, "ZADD %s 1000 w-dead 1500 w-empty 5000 w-live 500 w-me", qk.workers);

    assert_int_equal(
        eval_int(c, queue_lua_reap, STRS(qk.workers, qk.ready), STRS(PREFIX, "2000", "w-me")), 3);

    /* The dead worker's ids are at the right end of ready, taken before evt_x. */
    redisReply *r = cmd(c, "LRANGE %s 0 -1", qk.ready);
    assert_int_equal(r->elements, 4);
    assert_string_equal(r->element[0]->str, "evt_x");
    bool seen[3] = {false, false, false};
    static const char *const moved[] = {"evt_a", "evt_b", "evt_ghost"};
    for (size_t i = 1; i < 4; i++)
        for (size_t k = 0; k < 3; k++)
            if (strcmp(r->element[i]->str, moved[k]) == 0)
                seen[k] = true;
    freeReplyObject(r);
    assert_true(seen[0] && seen[1] && seen[2]);

    key_job("evt_a", job);
    cmd_str_is(c, "1", "HGET %s %s", job, JOB_F_REQUEUES);
    key_job("evt_b", job);
    cmd_str_is(c, "1", "HGET %s %s", job, JOB_F_REQUEUES);
    key_job("evt_ghost", job);
    assert_int_equal(cmd_int(c, "EXISTS %s", job), 0);
    key_job("evt_c", job);
    cmd_str_is(c, NULL, "HGET %s %s", job, JOB_F_REQUEUES);

    assert_int_equal(cmd_int(c, "EXISTS %s", dead), 0);
    assert_list(c, live, STRS("evt_c"));
    assert_list(c, me, STRS("evt_d"));
    cmd_str_is(c, NULL, "ZSCORE %s w-dead", qk.workers);
    cmd_str_is(c, NULL, "ZSCORE %s w-empty", qk.workers);
    cmd_str_is(c, "5000", "ZSCORE %s w-live", qk.workers);
    cmd_str_is(c, "500", "ZSCORE %s w-me", qk.workers);

    assert_int_equal(
        eval_int(c, queue_lua_reap, STRS(qk.workers, qk.ready), STRS(PREFIX, "2000", "w-me")), 0);

    /* Taken again and its worker dies too: requeues counts on. */
    assert_int_equal(fetch_n(c, "w-dead2", 3), 3);
    cmd_int(c, "ZADD %s 1000 w-dead2", qk.workers);
    assert_int_equal(
        eval_int(c, queue_lua_reap, STRS(qk.workers, qk.ready), STRS(PREFIX, "2000", "w-me")), 3);
    key_job("evt_a", job);
    cmd_str_is(c, "2", "HGET %s %s", job, JOB_F_REQUEUES);
    key_job("evt_b", job);
    cmd_str_is(c, "2", "HGET %s %s", job, JOB_F_REQUEUES);
}

static void test_release(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char inflight[QUEUE_KEY_LEN], job[QUEUE_KEY_LEN];
    key_inflight("w-1", inflight);
    enqueue_ok(c, "evt_a", BRIDGE_A, 0);
    enqueue_ok(c, "evt_b", BRIDGE_A, 0);
    assert_int_equal(fetch_n(c, "w-1", 2), 2);
    enqueue_ok(c, "evt_x", BRIDGE_A, 0);
    cmd_int(c, "ZADD %s 9000 w-1 9000 w-2", qk.workers);

    assert_int_equal(
        eval_int(c, queue_lua_release, STRS(inflight, qk.ready, qk.workers), STRS("w-1")), 2);
    /* Back at the right end, in the order they were first taken. */
    assert_list(c, qk.ready, STRS("evt_x", "evt_b", "evt_a"));
    assert_int_equal(cmd_int(c, "EXISTS %s", inflight), 0);
    cmd_str_is(c, NULL, "ZSCORE %s w-1", qk.workers);
    cmd_str_is(c, "9000", "ZSCORE %s w-2", qk.workers);
    /* A clean shutdown is not a crash: requeues stays. */
    key_job("evt_a", job);
    cmd_str_is(c, NULL, "HGET %s %s", job, JOB_F_REQUEUES);

    assert_int_equal(
        eval_int(c, queue_lua_release, STRS(inflight, qk.ready, qk.workers), STRS("w-1")), 0);
    assert_int_equal(cmd_int(c, "LLEN %s", qk.ready), 3);
}

/* ---- queue_lua_stats ---- */

static void stats_are(redisContext *c, const char *cutoff, const long long want[4])
{
    redisReply *r = redis_eval(c, queue_lua_stats, STRS(qk.ready, qk.scheduled, qk.workers),
                               STRS(PREFIX, cutoff));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r->element[i]->type, REDIS_REPLY_INTEGER);
        if (r->element[i]->integer != want[i])
            fail_msg("stats[%zu] = %lld, want %lld", i, r->element[i]->integer, want[i]);
    }
    freeReplyObject(r);
}

static void test_stats(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    static const long long empty[4] = {0, 0, 0, 0};
    stats_are(c, "5000", empty);

    char w1[QUEUE_KEY_LEN], w2[QUEUE_KEY_LEN], w9[QUEUE_KEY_LEN];
    key_inflight("w-1", w1);
    key_inflight("w-2", w2);
    key_inflight("w-9", w9);
    cmd_int(c, "LPUSH %s r1 r2", qk.ready);
    cmd_int(c, "ZADD %s 1 s1 2 s2 3 s3", qk.scheduled);
    cmd_int(c, "LPUSH %s f1 f2", w1);
    cmd_int(c, "LPUSH %s f3", w2);
    cmd_int(c, "LPUSH %s f4 f5 f6 f7", w9); /* not a registered worker: not counted */
    /* w-3's heartbeat is exactly the cutoff: not newer, so not live. */
    cmd_int(c, "ZADD %s 10000 w-1 1000 w-2 5000 w-3", qk.workers);
    static const long long want[4] = {2, 3, 3, 1};
    stats_are(c, "5000", want);
    static const long long all_live[4] = {2, 3, 3, 3};
    stats_are(c, "999", all_live);
}

/* ---- queue_lua_peek ---- */

static void test_peek(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char job[QUEUE_KEY_LEN];
    enqueue_ok(c, "evt_s", BRIDGE_A, 1700000005000);
    enqueue_ok(c, "evt_r", BRIDGE_A, 0);

    key_job("evt_s", job);
    redisReply *r = redis_eval(c, queue_lua_peek, STRS(job, qk.scheduled), STRS("evt_s"));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->elements, 6); /* bridge_id, request, body */
    assert_string_equal(r->element[1]->str, "1700000005000");
    freeReplyObject(r);

    key_job("evt_r", job);
    r = redis_eval(c, queue_lua_peek, STRS(job, qk.scheduled), STRS("evt_r"));
    assert_int_equal(r->element[0]->elements, 6);
    assert_string_equal(r->element[1]->str, ""); /* ready: no due time */
    freeReplyObject(r);

    key_job("evt_gone", job);
    r = redis_eval(c, queue_lua_peek, STRS(job, qk.scheduled), STRS("evt_gone"));
    assert_int_equal(r->element[0]->elements, 0);
    assert_string_equal(r->element[1]->str, "");
    freeReplyObject(r);
}

/* ---- queue_lua_unrecorded ---- */

/* Take from unrecorded ("newest" or a cutoff in ms); returns the reply, checked to be
 * {taken, {id, hash, due, …}} with `want_taken` taken (the caller frees it). */
static redisReply *take_unrecorded(redisContext *c, const char *max, const char *mode,
                                   long long want_taken)
{
    redisReply *r = redis_eval(c, queue_lua_unrecorded, STRS(qk.unrecorded, qk.scheduled),
                               STRS(PREFIX, max, mode));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, want_taken);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements % 3, 0);
    return r;
}

/* Row i of a take's reply is `id`, with its three-field job and `due`. */
static void assert_taken(const redisReply *r, size_t i, const char *id, const char *due)
{
    const redisReply *rows = r->element[1];
    assert_true(rows->elements >= 3 * (i + 1));
    assert_string_equal(rows->element[3 * i]->str, id);
    assert_int_equal(rows->element[3 * i + 1]->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rows->element[3 * i + 1]->elements, 6);
    assert_string_equal(rows->element[3 * i + 2]->str, due);
}

static void test_unrecorded_take(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char gone[HB_ID_LEN], old1[HB_ID_LEN], old2[HB_ID_LEN], young[HB_ID_LEN], job[QUEUE_KEY_LEN];
    /* Ids carry their receive time: the sweep's cutoff reads it from them. */
    ids_new("evt_", 1700000000000LL, gone, sizeof(gone));
    ids_new("evt_", 1700000001000LL, old1, sizeof(old1));
    ids_new("evt_", 1700000002000LL, old2, sizeof(old2));
    ids_new("evt_", 1700000003000LL, young, sizeof(young));
    enqueue_ok(c, gone, BRIDGE_A, 0);
    enqueue_ok(c, old1, BRIDGE_A, 0);
    enqueue_ok(c, old2, BRIDGE_B, 1700000065000LL);
    enqueue_ok(c, young, BRIDGE_A, 0);
    key_job(gone, job);
    cmd_int(c, "DEL %s", job); /* delivered: its row was written first */
    assert_list(c, qk.unrecorded, STRS(young, old2, old1, gone));

    /* Older than the cutoff, oldest first, at most max: the finished one is taken but not
     * returned. */
    redisReply *r = take_unrecorded(c, "2", "1700000002500", 2);
    assert_int_equal(r->element[1]->elements, 3);
    assert_taken(r, 0, old1, "");
    freeReplyObject(r);
    r = take_unrecorded(c, "10", "1700000002500", 1);
    assert_int_equal(r->element[1]->elements, 3);
    assert_taken(r, 0, old2, "1700000065000");
    freeReplyObject(r);
    /* The young one stays for its delivery to record. */
    r = take_unrecorded(c, "10", "1700000002500", 0);
    assert_int_equal(r->element[1]->elements, 0);
    freeReplyObject(r);
    assert_list(c, qk.unrecorded, STRS(young));

    /* "newest": whatever the age, newest first. */
    char newer[HB_ID_LEN];
    ids_new("evt_", 1700000004000LL, newer, sizeof(newer));
    enqueue_ok(c, newer, BRIDGE_A, 0);
    r = take_unrecorded(c, "1", "newest", 1);
    assert_taken(r, 0, newer, "");
    freeReplyObject(r);
    r = take_unrecorded(c, "10", "newest", 1);
    assert_taken(r, 0, young, "");
    freeReplyObject(r);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.unrecorded), 0);
    r = take_unrecorded(c, "10", "newest", 0);
    freeReplyObject(r);

    /* An id that is no ULID cannot stay stuck at the old end. */
    cmd_int(c, "LPUSH %s %s", qk.unrecorded, "evt_not-a-ulid");
    r = take_unrecorded(c, "10", "1700000000000", 1);
    assert_int_equal(r->element[1]->elements, 0);
    freeReplyObject(r);
}

/* The sweep's take (record_sweep): cutoff 1700000009000 (every id here is old), `ahead` places
 * on ready and `late` ms; returns the reply with `want_taken` taken (the caller frees it). */
static redisReply *sweep_unrecorded(redisContext *c, const char *ahead, const char *late,
                                    long long want_taken)
{
    redisReply *r = redis_eval(c, queue_lua_unrecorded, STRS(qk.unrecorded, qk.scheduled, qk.ready),
                               STRS(PREFIX, "10", "1700000009000", ahead, late));
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->integer, want_taken);
    assert_int_equal(r->element[1]->elements % 3, 0);
    return r;
}

static void test_unrecorded_sweep_leaves_what_the_drain_reaches(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    char r1[HB_ID_LEN], r2[HB_ID_LEN], s3[HB_ID_LEN], r4[HB_ID_LEN], r5[HB_ID_LEN];
    char r6[HB_ID_LEN], r7[HB_ID_LEN], job[QUEUE_KEY_LEN];
    ids_new("evt_", 1700000001000LL, r1, sizeof(r1));
    ids_new("evt_", 1700000002000LL, r2, sizeof(r2));
    ids_new("evt_", 1700000003000LL, s3, sizeof(s3));
    ids_new("evt_", 1700000004000LL, r4, sizeof(r4));
    ids_new("evt_", 1700000005000LL, r5, sizeof(r5));
    enqueue_ok(c, r1, BRIDGE_A, 0);
    enqueue_ok(c, r2, BRIDGE_A, 0);
    enqueue_ok(c, s3, BRIDGE_B, 1700000065000LL);
    enqueue_ok(c, r4, BRIDGE_A, 0);
    enqueue_ok(c, r5, BRIDGE_A, 0);
    assert_list(c, qk.ready, STRS(r5, r4, r2, r1));

    /* Two places ahead reach r2: the oldest id, r1, is about to be delivered, and its
     * delivery writes its row, so nothing is taken. */
    redisReply *r = sweep_unrecorded(c, "2", "0", 0);
    freeReplyObject(r);
    /* Unless it was made before `late`: r1 has waited too long, r2 not yet. */
    r = sweep_unrecorded(c, "2", "1700000001500", 1);
    assert_int_equal(r->element[1]->elements, 3);
    assert_taken(r, 0, r1, "");
    freeReplyObject(r);
    /* One place ahead reaches only r1: the younger ones get their rows now, the scheduled
     * one whatever the drain. */
    r = sweep_unrecorded(c, "1", "0", 4);
    assert_int_equal(r->element[1]->elements, 12);
    assert_taken(r, 0, r2, "");
    assert_taken(r, 1, s3, "1700000065000");
    assert_taken(r, 2, r4, "");
    assert_taken(r, 3, r5, "");
    freeReplyObject(r);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.unrecorded), 0);

    /* Ready shorter than `ahead`: everything waiting there is reached. A delivered id (its job
     * gone) is taken off without a row; the next waiting one stops the sweep. */
    ids_new("evt_", 1700000006000LL, r6, sizeof(r6));
    ids_new("evt_", 1700000007000LL, r7, sizeof(r7));
    enqueue_ok(c, r6, BRIDGE_A, 0);
    enqueue_ok(c, r7, BRIDGE_A, 0);
    key_job(r6, job);
    cmd_int(c, "DEL %s", job);
    r = sweep_unrecorded(c, "100", "0", 1);
    assert_int_equal(r->element[1]->elements, 0);
    freeReplyObject(r);
    assert_list(c, qk.unrecorded, STRS(r7));
    /* `ahead` 0 is the plain sweep: every old id. */
    r = sweep_unrecorded(c, "0", "0", 1);
    assert_taken(r, 0, r7, "");
    freeReplyObject(r);
}

/* ---- the whole way: scheduled, retried, done ---- */

/* INFO commandstats's call count of one command ("rpop"), 0 when never called. */
static long long command_calls(redisContext *c, const char *name)
{
    redisReply *r = cmd(c, "INFO commandstats");
    char want[64];
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", name);
    const char *at = strstr(r->str, want);
    long long n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

/* The sweep takes a long old end of the list with a few LRANGEs and one LTRIM, not an
 * LINDEX and an RPOP an id, and takes the same ids, oldest first. */
static void test_unrecorded_sweep_takes_the_old_end_at_once(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    enum { N = 300 };
    static char ids[N][HB_ID_LEN];
    for (int i = 0; i < N; i++) {
        ids_new("evt_", 1700000000000LL + 10 * i, ids[i], sizeof(ids[i]));
        enqueue_ok(c, ids[i], BRIDGE_A, 0);
    }
    cmd_int(c, "LPUSH %s %s", qk.unrecorded, "evt_0"); /* short: its missing letters count '0' */
    redisReply *ok = cmd(c, "CONFIG RESETSTAT");
    freeReplyObject(ok);
    redisReply *r = redis_eval(c, queue_lua_unrecorded, STRS(qk.unrecorded, qk.scheduled, qk.ready),
                               STRS(PREFIX, "1000", "1700000002000", "0", "0"));
    assert_int_equal(r->element[0]->integer, 200);
    assert_int_equal(r->element[1]->elements, 3 * 200);
    for (int i = 0; i < 200; i++)
        assert_string_equal(r->element[1]->element[3 * i]->str, ids[i]);
    freeReplyObject(r);
    assert_int_equal(command_calls(c, "rpop"), 0);
    assert_int_equal(command_calls(c, "lindex"), 0);
    assert_int_equal(command_calls(c, "lrange"), 3); /* 32, 64, 128 */
    assert_int_equal(command_calls(c, "ltrim"), 1);
    assert_int_equal(cmd_int(c, "LLEN %s", qk.unrecorded), N - 200 + 1);
    /* The rest, and the short id (born 0: old) with them once its turn comes. */
    r = redis_eval(c, queue_lua_unrecorded, STRS(qk.unrecorded, qk.scheduled, qk.ready),
                   STRS(PREFIX, "1000", "1800000000000", "0", "0"));
    assert_int_equal(r->element[0]->integer, N - 200 + 1);
    freeReplyObject(r);
    assert_int_equal(cmd_int(c, "EXISTS %s", qk.unrecorded), 0);
}

static void test_lifecycle(void **state)
{
    (void)state;
    redisContext *c = redis_fresh();
    enqueue_ok(c, "evt_a", BRIDGE_A, 5000);
    assert_int_equal(promote(c, "4999", "100"), 0);
    assert_int_equal(promote(c, "5000", "100"), 1);
    assert_int_equal(fetch_n(c, "w-1", 10), 1);
    ack_is(c, "scheduled", "w-1", "evt_a", BRIDGE_A, "0", "1", "9000");
    assert_int_equal(promote(c, "9000", "100"), 1);
    assert_int_equal(fetch_n(c, "w-1", 10), 1);
    ack_is(c, "done", "w-1", "evt_a", BRIDGE_A, "1", "2", "0");
    /* The sweep takes the finished id off the unrecorded list and has nothing to write
     * ("evt_a" is no ULID, so it counts as old). */
    redisReply *r = take_unrecorded(c, "10", "1700000000000", 1);
    assert_int_equal(r->element[1]->elements, 0);
    freeReplyObject(r);
    /* Every list and set emptied: nothing is left behind. */
    assert_int_equal(cmd_int(c, "DBSIZE"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_short_buffer),
        cmocka_unit_test(test_pending_and_idempotency_keys),
        cmocka_unit_test(test_enqueue_ready),
        cmocka_unit_test(test_enqueue_scheduled),
        cmocka_unit_test(test_enqueue_idempotency),
        cmocka_unit_test(test_abort_marks_pending),
        cmocka_unit_test(test_abort_batches),
        cmocka_unit_test(test_ack_final),
        cmocka_unit_test(test_ack_retry),
        cmocka_unit_test(test_ack_aborted),
        cmocka_unit_test(test_ack_gone),
        cmocka_unit_test(test_fanout_and_route_acks),
        cmocka_unit_test(test_ack_many_matches_single_acks),
        cmocka_unit_test(test_promote),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_reap),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_unrecorded_take),
        cmocka_unit_test(test_unrecorded_sweep_leaves_what_the_drain_reaches),
        cmocka_unit_test(test_unrecorded_sweep_takes_the_old_end_at_once),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, redis_group_setup, redis_group_teardown);
}

/*
 * test_sentinel.c - redis-sentinel:// URLs, and asking a real Redis Sentinel for its master.
 *
 * The group setup starts `redis-server <conf> --sentinel` on a free loopback port,
 * monitoring a master that need not run (a sentinel answers get-master-addr-by-name from
 * its configuration). Queries then go to it through dead ports, a socket that never
 * answers, and unknown names, on a real libevent loop.
 */
#include "sentinel.h"

#include "hb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- URLs ---- */

struct url_case {
    const char *url;
    int rc;
    int nsentinels;
    const char *host0;
    int port0;
    const char *host1;
    int port1;
    const char *master;
    int db;
    const char *password;
};

static const struct url_case url_cases[] = {
    {"redis-sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster", 0, 2, "10.0.0.1", 26379, "10.0.0.2",
     26380, "mymaster", 0, ""},
    {"redis-sentinel://s1/m", 0, 1, "s1", 26379, NULL, 0, "m", 0, ""},
    {"redis-sentinel://:pw@h:1,h:2/m.x-y_z/3", 0, 2, "h", 1, "h", 2, "m.x-y_z", 3, "pw"},
    {"redis-sentinel://:p@ss@[::1]:5000/m", 0, 1, "::1", 5000, NULL, 0, "m", 0, "p@ss"},
    {"redis-sentinel://user:pw@h:1/m", 0, 1, "h", 1, NULL, 0, "m", 0, "pw"},
    {"redis-sentinel://h:1", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1/", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel:///m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1,/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:0/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:65536/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:x/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://bad host:1/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1/m?x=1", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1/m/x", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1/m/-1", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://[::1/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://a,b,c,d,e,f,g,h,i/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
    {"redis://h/m", -1, 0, NULL, 0, NULL, 0, NULL, 0, NULL},
};

static void test_parse_url(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        const struct url_case *c = &url_cases[i];
        struct config_redis r;
        char err[HB_ERR_LEN] = "";
        int rc = sentinel_parse_url(c->url, &r, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (%s)", c->url, rc, c->rc, err);
        if (rc != 0) {
            assert_non_null(strstr(err, "redis url"));
            /* the password never shows in the message */
            assert_null(strstr(err, "pw"));
            continue;
        }
        assert_int_equal(r.nsentinels, c->nsentinels);
        assert_string_equal(r.sentinels[0].host, c->host0);
        assert_int_equal(r.sentinels[0].port, c->port0);
        if (c->host1 != NULL) {
            assert_string_equal(r.sentinels[1].host, c->host1);
            assert_int_equal(r.sentinels[1].port, c->port1);
        }
        assert_string_equal(r.master_name, c->master);
        assert_int_equal(r.db, c->db);
        assert_string_equal(r.password, c->password);
        assert_string_equal(r.host, "");
        assert_string_equal(r.path, "");
    }
    /* a malformed URL with a password does not print it */
    struct config_redis r;
    char err[HB_ERR_LEN] = "";
    assert_int_equal(
        sentinel_parse_url("redis-sentinel://:s3cret@bad host/m", &r, err, sizeof(err)), -1);
    assert_null(strstr(err, "s3cret"));
    assert_string_equal(r.password, "");
}

static void test_replies(void **state)
{
    (void)state;
    char master[] = "master", slave[] = "slave", readonly[] = "READONLY You can't write",
         other[] = "ERR other";
    redisReply role = {.type = REDIS_REPLY_STRING, .str = master, .len = 6};
    redisReply *elems[] = {&role};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = elems};
    assert_true(sentinel_reply_is_master(&arr));
    role.str = slave;
    assert_false(sentinel_reply_is_master(&arr));
    assert_false(sentinel_reply_is_master(NULL));
    redisReply ro = {.type = REDIS_REPLY_ERROR, .str = readonly};
    assert_true(sentinel_reply_is_readonly(&ro));
    ro.str = other;
    assert_false(sentinel_reply_is_readonly(&ro));
    assert_false(sentinel_reply_is_readonly(NULL));
}

/* ---- a real sentinel ---- */

#define MASTER_NAME "hbm"

static struct {
    pid_t pid;
    int port;   /* the sentinel's */
    int master; /* the port it names for MASTER_NAME */
    int dead;   /* a port nobody listens on */
    int silent; /* a socket that accepts connections and never answers */
    int silent_fd;
    char dir[64];
    char error[256];
} ts = {.pid = -1, .silent_fd = -1};

static void sentinel_kill(void)
{
    if (ts.pid > 0) {
        kill(ts.pid, SIGKILL);
        waitpid(ts.pid, NULL, 0);
        ts.pid = -1;
    }
}

/* A loopback port nobody listens on right now; with `keep`, listen on it and return the fd. */
static int loopback_port(int *keep)
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
    if (keep != NULL && port > 0 && listen(fd, 16) == 0) {
        *keep = fd;
        return port;
    }
    close(fd);
    return port;
}

static bool sentinel_ready(void)
{
    struct timeval tv = {1, 0};
    for (int i = 0; i < 200; i++) {
        if (waitpid(ts.pid, NULL, WNOHANG) == ts.pid) {
            ts.pid = -1;
            return false;
        }
        redisContext *c = redisConnectWithTimeout("127.0.0.1", ts.port, tv);
        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            bool up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r != NULL)
                freeReplyObject(r);
            redisFree(c);
            if (up)
                return true;
        } else if (c != NULL) {
            redisFree(c);
        }
        struct timespec w = {0, 50 * 1000 * 1000};
        nanosleep(&w, NULL);
    }
    return false;
}

static pid_t sentinel_spawn(const char *conf)
{
    char log[128];
    snprintf(log, sizeof(log), "%s/sentinel.log", ts.dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execlp("redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
    _exit(127);
}

static int group_setup(void **state)
{
    (void)state;
    atexit(sentinel_kill);
    snprintf(ts.dir, sizeof(ts.dir), "/tmp/hb-test-sentinel.XXXXXX");
    if (mkdtemp(ts.dir) == NULL) {
        snprintf(ts.error, sizeof(ts.error), "mkdtemp: %s", strerror(errno));
        return 0;
    }
    ts.dead = loopback_port(NULL);
    ts.master = loopback_port(NULL);
    ts.silent = loopback_port(&ts.silent_fd);
    for (int attempt = 0; attempt < 5; attempt++) {
        ts.port = loopback_port(NULL);
        char conf[128];
        snprintf(conf, sizeof(conf), "%s/sentinel.conf", ts.dir);
        FILE *f = fopen(conf, "w");
        if (f == NULL) {
            snprintf(ts.error, sizeof(ts.error), "%s: %s", conf, strerror(errno));
            return 0;
        }
        fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n", ts.port,
                ts.dir, MASTER_NAME, ts.master);
        fclose(f);
        ts.pid = sentinel_spawn(conf);
        if (ts.pid > 0 && sentinel_ready())
            return 0;
        sentinel_kill();
    }
    snprintf(ts.error, sizeof(ts.error),
             "redis-server --sentinel did not start (is redis-server installed? see %s)", ts.dir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sentinel_kill();
    if (ts.silent_fd >= 0)
        close(ts.silent_fd);
    char path[128];
    snprintf(path, sizeof(path), "%s/sentinel.conf", ts.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/sentinel.log", ts.dir);
    unlink(path);
    rmdir(ts.dir);
    return 0;
}

static void need_sentinel(void)
{
    if (ts.pid <= 0)
        fail_msg("%s", ts.error[0] ? ts.error : "no sentinel");
}

/* A URL-parsed config naming the given sentinel ports (negative: none). */
static void cfg_with(struct config_redis *cfg, const char *master, int n, ...)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->master_name, sizeof(cfg->master_name), "%s", master);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        snprintf(cfg->sentinels[i].host, sizeof(cfg->sentinels[i].host), "127.0.0.1");
        cfg->sentinels[i].port = va_arg(ap, int);
    }
    va_end(ap);
    cfg->nsentinels = n;
}

struct answer {
    int calls;
    char host[64];
    int port;
    char why[HB_ERR_LEN];
    struct event_base *base;
};

static void on_found(const char *host, int port, const char *why, void *arg)
{
    struct answer *a = arg;
    a->calls++;
    snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
    a->port = port;
    snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
    event_base_loopbreak(a->base);
}

/* Run a query to its end (or 5 s); returns the elapsed milliseconds. */
static long run_query(const struct config_redis *cfg, struct answer *a)
{
    struct event_base *base = event_base_new();
    memset(a, 0, sizeof(*a));
    a->base = base;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sentinel_query_start(base, cfg, on_found, a);
    assert_int_equal(a->calls, 0); /* never from inside the start */
    struct timeval limit = {5, 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    event_base_free(base);
    return (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

static void test_query_found(void **state)
{
    (void)state;
    need_sentinel();
    struct config_redis cfg;
    struct answer a;
    cfg_with(&cfg, MASTER_NAME, 1, ts.port);
    run_query(&cfg, &a);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, ts.master);
}

static void test_query_skips_dead_and_silent(void **state)
{
    (void)state;
    need_sentinel();
    struct config_redis cfg;
    struct answer a;
    cfg_with(&cfg, MASTER_NAME, 3, ts.dead, ts.silent, ts.port);
    long ms = run_query(&cfg, &a);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.port, ts.master);
    /* the silent one was given up after its timeout, not waited on forever */
    assert_true(ms >= SENTINEL_TIMEOUT_MS - 50);
    assert_true(ms < 3 * SENTINEL_TIMEOUT_MS);
}

static void test_query_unknown_master(void **state)
{
    (void)state;
    need_sentinel();
    struct config_redis cfg;
    struct answer a;
    cfg_with(&cfg, "nosuchmaster", 2, ts.port, ts.dead);
    run_query(&cfg, &a);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.host, "");
    /* the last sentinel's failure is the one reported */
    char want[64];
    snprintf(want, sizeof(want), ":%d:", ts.dead);
    assert_non_null(strstr(a.why, want));
    cfg_with(&cfg, "nosuchmaster", 1, ts.port);
    run_query(&cfg, &a);
    assert_non_null(strstr(a.why, "does not know the master"));
}

static void test_query_none_answers(void **state)
{
    (void)state;
    struct config_redis cfg;
    struct answer a;
    cfg_with(&cfg, MASTER_NAME, 1, ts.dead);
    run_query(&cfg, &a);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.host, "");
    assert_true(a.why[0] != '\0');
}

static void test_query_cancel(void **state)
{
    (void)state;
    need_sentinel();
    struct config_redis cfg;
    cfg_with(&cfg, MASTER_NAME, 2, ts.silent, ts.port);
    struct event_base *base = event_base_new();
    struct answer a;
    memset(&a, 0, sizeof(a));
    a.base = base;
    struct sentinel_query *q = sentinel_query_start(base, &cfg, on_found, &a);
    struct timeval tv = {0, 100 * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base); /* connected to the silent one, waiting */
    sentinel_query_cancel(q);
    tv.tv_usec = 0;
    tv.tv_sec = 1;
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(a.calls, 0);
    event_base_free(base);
}

static void test_resolve_blocking(void **state)
{
    (void)state;
    need_sentinel();
    struct config_redis cfg;
    cfg_with(&cfg, MASTER_NAME, 2, ts.dead, ts.port);
    char host[64], err[HB_ERR_LEN];
    int port = 0;
    struct timeval tv = {1, 0};
    assert_int_equal(sentinel_resolve(&cfg, tv, host, sizeof(host), &port, err, sizeof(err)), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, ts.master);
    cfg_with(&cfg, "nosuchmaster", 1, ts.port);
    assert_int_equal(sentinel_resolve(&cfg, tv, host, sizeof(host), &port, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not know the master"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_query_found),
        cmocka_unit_test(test_query_skips_dead_and_silent),
        cmocka_unit_test(test_query_unknown_master),
        cmocka_unit_test(test_query_none_answers),
        cmocka_unit_test(test_query_cancel),
        cmocka_unit_test(test_resolve_blocking),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

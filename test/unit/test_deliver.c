/*
 * test_deliver.c - unit tests for worker/deliver.c's Retry-After parsing: delay-seconds,
 * the three HTTP-date forms RFC 9110 has recipients accept (IMF-fixdate, RFC 850,
 * asctime), dates in the future and past, the one-week cap, and malformed values; and the
 * pool of easy handles against a real HTTP server on loopback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example, in its three forms. */
#define IMF_DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define RFC850_DATE "Sunday, 06-Nov-94 08:49:37 GMT"
#define ASCTIME_DATE "Sun Nov  6 08:49:37 1994"
#define DATE_MS INT64_C(784111777000)

struct after_case {
    const char *value;
    int64_t now_ms;
    long want;
};

static const struct after_case after_cases[] = {
    /* delay-seconds */
    {"120", DATE_MS, 120},
    {" 5 ", DATE_MS, 5},
    {"\t7\r\n", DATE_MS, 7},
    {"0", DATE_MS, 0},
    {"604800", DATE_MS, 604800},
    {"604801", DATE_MS, 604800},
    {"99999999", DATE_MS, 604800},
    {"99999999999999999999999999", DATE_MS, 604800},
    {"-1", DATE_MS, -1},
    {"1.5", DATE_MS, -1},
    {"10s", DATE_MS, -1},
    {"5 5", DATE_MS, -1},
    {"+5", DATE_MS, -1},
    /* Each date form: in the future, rounded up to whole seconds; now or past: 0. */
    {IMF_DATE, DATE_MS - 90000, 90},
    {IMF_DATE, DATE_MS - 89500, 90},
    {IMF_DATE, DATE_MS - 1, 1},
    {IMF_DATE, DATE_MS, 0},
    {IMF_DATE, DATE_MS + 5000, 0},
    {" " IMF_DATE, DATE_MS - 3000, 3},
    {RFC850_DATE, DATE_MS - 90000, 90},
    {RFC850_DATE, DATE_MS + 5000, 0},
    {ASCTIME_DATE, DATE_MS - 90000, 90},
    {ASCTIME_DATE, DATE_MS + 5000, 0},
    {"Fri, 31 Dec 9999 23:59:59 GMT", DATE_MS, 604800},
    /* Malformed. */
    {"abc", DATE_MS, -1},
    {"", DATE_MS, -1},
    {"   ", DATE_MS, -1},
    {"1994-11-06T08:49:37Z", DATE_MS, -1},
    {"Sun, 06 Foo 1994 08:49:37 GMT", DATE_MS, -1},
    {"Sun, 32 Nov 1994 08:49:37 GMT", DATE_MS, -1},
    {"Sun, 06 Nov 1994 24:49:37 GMT", DATE_MS, -1},
};

static void test_retry_after(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(after_cases) / sizeof(after_cases[0]); i++) {
        const struct after_case *c = &after_cases[i];
        long got = deliver_retry_after(c->value, c->now_ms);
        if (got != c->want)
            fail_msg("deliver_retry_after(\"%s\"): %ld, want %ld", c->value, got, c->want);
    }
    assert_int_equal(deliver_retry_after(NULL, DATE_MS), -1);
}

/* Two minutes after the real clock in each form, as a destination would send it; an hour
 * before gives 0. */
static void test_retry_after_from_now(void **state)
{
    (void)state;
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char value[64];
        struct tm tm;
        time_t then = (time_t)(now / 1000) + 120;
        gmtime_r(&then, &tm);
        strftime(value, sizeof(value), formats[i], &tm);
        long got = deliver_retry_after(value, now);
        if (got < 119 || got > 121)
            fail_msg("deliver_retry_after(\"%s\"): %ld, want 120", value, got);

        then = (time_t)(now / 1000) - 3600;
        gmtime_r(&then, &tm);
        strftime(value, sizeof(value), formats[i], &tm);
        if (deliver_retry_after(value, now) != 0)
            fail_msg("deliver_retry_after(\"%s\"): not 0", value);
    }
}

static void pool_on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_reply(req, 200, "OK", NULL);
}

struct pool_run {
    struct event_base *base;
    int done, ok, want;
};

static void pool_on_done(const struct deliver_result *res, void *arg)
{
    struct pool_run *r = arg;
    r->done++;
    if (res->http_status == 200)
        r->ok++;
    if (r->done == r->want)
        event_base_loopbreak(r->base);
}

/* More requests in flight at once than the old fixed pool of 256: every handle comes back
 * to the pool when its request completes, so the next requests create none (a handle per
 * request past a pool of 256 was about half the requests at 1,000 in flight). */
static void test_pool_keeps_every_handle_in_flight(void **state)
{
    (void)state;
    enum { N = 300 };
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct evhttp *http = evhttp_new(base);
    assert_non_null(http);
    evhttp_set_gencb(http, pool_on_request, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(bound);
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &slen),
                     0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/pool", ntohs(sin.sin_port));

    struct deliver *d = deliver_new(base, 1000, false);
    assert_non_null(d);
    struct pool_run r = {.base = base, .want = N};
    for (int round = 0; round < 2; round++) {
        r.done = r.ok = 0;
        for (int i = 0; i < N; i++) {
            struct deliver_request rq = {
                .method = "POST", .url = url, .body = "{}", .body_len = 2, .timeout_ms = 10000};
            char err[256];
            if (deliver_start(d, &rq, pool_on_done, &r, err, sizeof(err)) == NULL)
                fail_msg("deliver_start: %s", err);
        }
        assert_int_equal(deliver_pooled(d), 0);
        event_base_dispatch(base);
        assert_int_equal(r.done, N);
        assert_int_equal(r.ok, N);
        assert_int_equal(deliver_active(d), 0);
        assert_int_equal(deliver_pooled(d), N);
    }
    deliver_free(d);
    evhttp_free(http);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_retry_after_from_now),
        cmocka_unit_test(test_pool_keeps_every_handle_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

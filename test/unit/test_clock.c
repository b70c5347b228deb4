/*
 * test_clock.c - unit tests for common/clock.c: ISO 8601 timestamps of known instants (the
 * form events and logs carry), IMF-fixdate parsing for Retry-After with a round trip
 * through strftime and the forms it must refuse, and the sanity of both clocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct iso_case {
    int64_t ms;
    const char *want;
};

static const struct iso_case iso_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {999, "1970-01-01T00:00:00.999Z"},
    {1000, "1970-01-01T00:00:01.000Z"},
    {86400000, "1970-01-02T00:00:00.000Z"},
    {784111777000, "1994-11-06T08:49:37.000Z"},
    {951868799001, "2000-02-29T23:59:59.001Z"},
    {1795341600123, "2026-11-22T10:00:00.123Z"},
    /* The same second again (the kept prefix), then an earlier one (not the kept one). */
    {1795341600456, "2026-11-22T10:00:00.456Z"},
    {1795341599000, "2026-11-22T09:59:59.000Z"},
    {1798761599999, "2026-12-31T23:59:59.999Z"},
    {253402300799999, "9999-12-31T23:59:59.999Z"},
};

static void test_iso8601(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(iso_cases) / sizeof(iso_cases[0]); i++) {
        char out[CLOCK_ISO_LEN];
        memset(out, 'x', sizeof(out));
        clock_iso8601(iso_cases[i].ms, out);
        assert_string_equal(out, iso_cases[i].want);
        assert_int_equal(strlen(out), 24);
    }
}

struct date_case {
    const char *s;
    bool ok;
    int64_t ms;
};

static const struct date_case date_cases[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", true, 784111777000},
    {"Thu, 01 Jan 1970 00:00:00 GMT", true, 0},
    {"Sun, 22 Nov 2026 10:00:00 GMT", true, 1795341600000},
    {"Tue, 29 Feb 2000 23:59:59 GMT", true, 951868799000},
    {"Fri, 31 Dec 9999 23:59:59 GMT", true, 253402300799000},
    {"", false, 0},
    {"garbage", false, 0},
    {"784111777", false, 0},
    {"Sunday, 06-Nov-94 08:49:37 GMT", false, 0}, /* RFC 850 */
    {"Sun Nov  6 08:49:37 1994", false, 0},       /* asctime */
    {"1994-11-06T08:49:37Z", false, 0},
    {"Sun, 06 Nov 1994 08:49:37 UTC", false, 0},
    {"Sun, 06 Nov 1994 08:49:37", false, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT x", false, 0},
    {"Sun, 06 Nov 1994 08:49 GMT", false, 0},
    {"Sun, 06 Foo 1994 08:49:37 GMT", false, 0},
    {"Sun, 32 Nov 1994 08:49:37 GMT", false, 0},
    {"Sun, 06 Nov 1994 24:49:37 GMT", false, 0},
    {"Sun, 06 Nov 1994 08:60:37 GMT", false, 0},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", false, 0},
};

static void test_parse_http_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
        const struct date_case *c = &date_cases[i];
        int64_t ms = -12345;
        bool ok = clock_parse_http_date(c->s, &ms);
        if (ok != c->ok)
            fail_msg("clock_parse_http_date(\"%s\") = %d, want %d", c->s, ok, c->ok);
        if (ok)
            assert_int_equal(ms, c->ms);
        else
            assert_int_equal(ms, -12345);
    }
}

/* Format instants as a server would, parse them back, and compare through ISO 8601 too. */
static void test_http_date_round_trip(void **state)
{
    (void)state;
    static const int64_t instants[] = {0,
                                       59000,
                                       86399000,
                                       784111777000,
                                       951868799000,
                                       1795341600000,
                                       1798761599000,
                                       4102444800000};
    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
        time_t t = (time_t)(instants[i] / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char s[64];
        assert_true(strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
        int64_t ms;
        if (!clock_parse_http_date(s, &ms))
            fail_msg("%s refused", s);
        assert_int_equal(ms, instants[i]);
        char a[CLOCK_ISO_LEN], b[CLOCK_ISO_LEN];
        clock_iso8601(ms, a);
        clock_iso8601(instants[i], b);
        assert_string_equal(a, b);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t wall = clock_now_ms();
    /* After 2020-01-01 and before 2100-01-01. */
    assert_true(wall > INT64_C(1577836800000));
    assert_true(wall < INT64_C(4102444800000));
    assert_true(llabs((long long)(wall - (int64_t)time(NULL) * 1000)) < 2000);
    int64_t m1 = clock_mono_ms();
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t m2 = clock_mono_ms();
    assert_true(m2 - m1 >= 19);
    assert_true(m2 - m1 < 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_parse_http_date),
        cmocka_unit_test(test_http_date_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

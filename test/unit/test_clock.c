/*
 * test_clock.c - unit tests for common/clock.c: ISO 8601 timestamps of known instants (the
 * form events and logs carry) and the sanity of both clocks.
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
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

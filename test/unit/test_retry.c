/*
 * test_retry.c - unit tests for common/retry.c: the default Sidekiq-style schedule
 * (k^4 + 15 + jitter * (k + 1)) at both ends of the jitter range, the SPEC's "5 retries span
 * about 11 minutes", and a bridge's own retry_delays with the last entry reused (Retry-After
 * parsing is tested by test_deliver.c).
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
#include "retry.h"

static long pow4(long k)
{
    return k * k * k * k;
}

static void test_default_formula(void **state)
{
    (void)state;
    static const unsigned jitters[] = {0, 29};
    for (size_t j = 0; j < 2; j++) {
        long prev = -1;
        for (int k = 0; k <= 25; k++) {
            long want = pow4(k) + 15 + (long)jitters[j] * (k + 1);
            long got = retry_delay_seconds(k, NULL, 0, jitters[j]);
            if (got != want)
                fail_msg("retry %d jitter %u: %ld, want %ld", k, jitters[j], got, want);
            assert_true(got > prev);
            prev = got;
        }
    }
}

/* Spot values worked out by hand, so a shared mistake with the loop above still shows. */
static const struct {
    int k;
    unsigned jitter;
    long want;
} spot_cases[] = {
    {0, 0, 15},   {0, 29, 44},    {1, 0, 16},      {1, 29, 74},      {2, 10, 61}, {4, 0, 271},
    {4, 29, 416}, {10, 0, 10015}, {25, 0, 390640}, {25, 29, 391394}, {-1, 0, 15}, {-5, 29, 44},
};

static void test_default_spot_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(spot_cases) / sizeof(spot_cases[0]); i++)
        assert_int_equal(retry_delay_seconds(spot_cases[i].k, NULL, 0, spot_cases[i].jitter),
                         spot_cases[i].want);
}

static void test_five_retries_span_about_11_minutes(void **state)
{
    (void)state;
    static const unsigned mid[] = {14, 15};
    for (size_t j = 0; j < 2; j++) {
        long sum = 0;
        for (int k = 0; k <= 4; k++)
            sum += retry_delay_seconds(k, NULL, 0, mid[j]);
        if (sum < 8 * 60 || sum > 14 * 60)
            fail_msg("5 retries with jitter %u take %ld s", mid[j], sum);
    }
}

static void test_jitter_range(void **state)
{
    (void)state;
    bool seen[30] = {false};
    for (int i = 0; i < 3000; i++) {
        unsigned j = retry_jitter();
        assert_in_range(j, 0, 29);
        seen[j] = true;
    }
    int distinct = 0;
    for (int i = 0; i < 30; i++)
        distinct += seen[i];
    /* 3000 fair draws miss a value with probability ~30 * (29/30)^3000: never. */
    assert_int_equal(distinct, 30);
}

static void test_bridge_delays(void **state)
{
    (void)state;
    static const long three[] = {10, 60, 300};
    static const long one[] = {5};
    static const struct {
        const long *delays;
        size_t n;
        int k;
        long want;
    } cases[] = {
        {three, 3, 0, 10},  {three, 3, 1, 60},   {three, 3, 2, 300},
        {three, 3, 3, 300}, {three, 3, 25, 300}, {three, 3, -1, 10},
        {one, 1, 0, 5},     {one, 1, 1, 5},      {one, 1, 24, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* The jitter is ignored when the bridge gives its own delays. */
        for (unsigned jitter = 0; jitter < 30; jitter += 29) {
            long got = retry_delay_seconds(cases[i].k, cases[i].delays, cases[i].n, jitter);
            if (got != cases[i].want)
                fail_msg("case %zu jitter %u: %ld, want %ld", i, jitter, got, cases[i].want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_formula),
        cmocka_unit_test(test_default_spot_values),
        cmocka_unit_test(test_five_retries_span_about_11_minutes),
        cmocka_unit_test(test_jitter_range),
        cmocka_unit_test(test_bridge_delays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

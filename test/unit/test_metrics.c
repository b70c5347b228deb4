/*
 * test_metrics.c - unit tests for common/metrics.c: bucket choice and Prometheus text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static void test_bucket_field(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "latency|0.05"},       {50, "latency|0.05"},  {51, "latency|0.1"},
        {1000, "latency|1"},       {1001, "latency|2.5"}, {1800000, "latency|1800"},
        {1800001, "latency|+Inf"}, {-5, "latency|0.05"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[METRICS_FIELD_LEN];
        metrics_bucket_field("latency", cases[i].ms, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_render(void **state)
{
    (void)state;
    const char *strs[] = {
        "requests|brg_1|202", "7",    "requests|-|404", "2", "events|delivered", "5",
        "attempts|success",   "5",    "latency|0.05",   "3", "latency|1",        "2",
        "latency|sum_ms",     "1500", "junk",           "1",
    };
    struct metrics_queue q = {4, 3, 2, 1};
    char *t = metrics_render(strs, sizeof(strs) / sizeof(strs[0]), &q);
    assert_non_null(strstr(t, "hookbridge_requests_total{bridge_id=\"brg_1\",code=\"202\"} 7\n"));
    assert_non_null(strstr(t, "hookbridge_requests_total{bridge_id=\"-\",code=\"404\"} 2\n"));
    assert_non_null(strstr(t, "hookbridge_events_total{status=\"delivered\"} 5\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_attempts_total{result=\"success\"} 5\n"));
    /* Buckets are cumulative. */
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_bucket{le=\"0.05\"} 3\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_bucket{le=\"0.5\"} 3\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_bucket{le=\"1\"} 5\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_bucket{le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_sum 1.500\n"));
    assert_non_null(strstr(t, "hookbridge_delivery_latency_seconds_count 5\n"));
    assert_non_null(strstr(t, "hookbridge_destination_response_seconds_count 0\n"));
    assert_non_null(strstr(t, "hookbridge_queue_depth{state=\"ready\"} 4\n"));
    assert_non_null(strstr(t, "hookbridge_queue_depth{state=\"in_flight\"} 2\n"));
    assert_non_null(strstr(t, "hookbridge_workers 1\n"));
    assert_null(strstr(t, "junk"));
    free(t);
}

/* A text past the cap is NULL, not a half text (a hash holding a 64 MiB label). */
static void test_render_too_big_is_null(void **state)
{
    (void)state;
    size_t n = (size_t)64 << 20;
    char *field = malloc(n + 32);
    assert_non_null(field);
    memcpy(field, "requests|", 9);
    memset(field + 9, 'b', n);
    memcpy(field + 9 + n, "|202", 5);
    const char *strs[] = {field, "1"};
    struct metrics_queue q = {0, 0, 0, 0};
    assert_null(metrics_render(strs, 2, &q));
    /* Half as long fits. */
    field[9 + n / 2] = '\0';
    char *text = metrics_render(strs, 2, &q);
    assert_non_null(text);
    free(text);
    free(field);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_field),
        cmocka_unit_test(test_render_too_big_is_null),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

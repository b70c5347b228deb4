/*
 * test_queue.c - unit tests for the Redis key names of common/queue.c, with the default
 * "hb:" prefix and custom ones, as the README documents them for redis-cli. The Lua
 * scripts need a real Redis and are exercised by the integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

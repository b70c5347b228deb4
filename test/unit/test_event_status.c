/*
 * test_event_status.c - unit tests for common/event_status.c: every name round-trips
 * through the one table, unknown names are refused, which statuses are final, and the
 * SPEC's derivation of an event's status from its routes' statuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "event_status.h"

#define Q EVENT_STATUS_QUEUED
#define S EVENT_STATUS_SCHEDULED
#define R EVENT_STATUS_RETRYING
#define D EVENT_STATUS_DELIVERED
#define F EVENT_STATUS_FAILED
#define X EVENT_STATUS_FILTERED
#define A EVENT_STATUS_ABORTED

static void test_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"queued", "scheduled", "retrying", "delivered",
                                        "failed", "filtered",  "aborted"};
    for (int i = 0; i < EVENT_STATUS_COUNT; i++) {
        enum event_status st;
        assert_string_equal(event_status_name((enum event_status)i), names[i]);
        assert_int_equal(event_status_parse(names[i], &st), 0);
        assert_int_equal(st, i);
    }
    enum event_status st = D;
    assert_int_equal(event_status_parse("Queued", &st), -1);
    assert_int_equal(event_status_parse("", &st), -1);
    assert_int_equal(event_status_parse("queued ", &st), -1);
    assert_int_equal(event_status_parse(NULL, &st), -1);
    assert_int_equal(st, D);
    assert_string_equal(event_status_name((enum event_status)99), "unknown");
}

static void test_final(void **state)
{
    (void)state;
    assert_false(event_status_final(Q));
    assert_false(event_status_final(S));
    assert_false(event_status_final(R));
    assert_true(event_status_final(D));
    assert_true(event_status_final(F));
    assert_true(event_status_final(X));
    assert_true(event_status_final(A));
}

static void test_derive(void **state)
{
    (void)state;
    struct {
        enum event_status in[4];
        size_t n;
        enum event_status want;
    } cases[] = {
        {{D}, 1, D},
        {{X}, 1, X},
        /* Pending wins over every outcome, the most advanced pending first. */
        {{D, Q}, 2, Q},
        {{F, S}, 2, S},
        {{Q, S, R}, 3, R},
        {{S, Q}, 2, S},
        {{R, D, F}, 3, R},
        /* Then failed, aborted, delivered, filtered. */
        {{D, F, A}, 3, F},
        {{D, A}, 2, A},
        {{X, D}, 2, D},
        {{X, X}, 2, X},
        {{A, X}, 2, A},
        {{X, F}, 2, F},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum event_status got = event_status_derive(cases[i].in, cases[i].n);
        if (got != cases[i].want)
            fail_msg("case %zu: %s, want %s", i, event_status_name(got),
                     event_status_name(cases[i].want));
    }
    assert_int_equal(event_status_derive(NULL, 0), Q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_final),
        cmocka_unit_test(test_derive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

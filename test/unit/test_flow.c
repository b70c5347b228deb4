/*
 * test_flow.c - unit tests for common/flow.c: the flow control fields as bridge.c checks
 * them (ranges, unknown members, key templates, null), their API view with the circuit's
 * default, and flow_conf_read, which the worker's gate acts on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flow.h"

typedef int (*setter)(cJSON **flow, const cJSON *v, char *err, size_t errlen);

/* Run `set` on the JSON text `v` against *flow; returns its result, err in `err`. */
static int run(setter set, cJSON **flow, const char *v, char *err, size_t errlen)
{
    cJSON *j = cJSON_Parse(v);
    assert_non_null(j);
    err[0] = '\0';
    int rc = set(flow, j, err, errlen);
    cJSON_Delete(j);
    return rc;
}

static void test_rate_limit(void **state)
{
    (void)state;
    char err[256];
    cJSON *flow = NULL;
    static const char *const bad[] = {
        "5",
        "{\"requests\":0,\"per_seconds\":1}",
        "{\"requests\":1.5,\"per_seconds\":1}",
        "{\"requests\":5}",
        "{\"per_seconds\":5}",
        "{\"requests\":5,\"per_seconds\":86401}",
        "{\"requests\":5,\"per_seconds\":1,\"key\":\"\"}",
        "{\"requests\":5,\"per_seconds\":1,\"key\":\"${nope.x}\"}",
        "{\"requests\":5,\"per_seconds\":1,\"key\":7}",
        "{\"requests\":5,\"per_seconds\":1,\"burst\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (run(flow_set_rate_limit, &flow, bad[i], err, sizeof(err)) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_null(flow);
    assert_int_equal(run(flow_set_rate_limit, &flow,
                         "{\"requests\":60,\"per_seconds\":60,\"key\":\"x:${headers.t}\"}", err,
                         sizeof(err)),
                     0);
    struct flow_conf c;
    flow_conf_read(flow, &c);
    assert_int_equal(c.rl_requests, 60);
    assert_int_equal(c.rl_per_seconds, 60);
    assert_string_equal(c.rl_key, "x:${headers.t}");
    flow_conf_clear(&c);
    assert_int_equal(run(flow_set_rate_limit, &flow, "null", err, sizeof(err)), 0);
    flow_conf_read(flow, &c);
    assert_int_equal(c.rl_requests, 0);
    flow_conf_clear(&c);
    cJSON_Delete(flow);
}

static void test_max_concurrency(void **state)
{
    (void)state;
    char err[256];
    cJSON *flow = NULL;
    assert_int_equal(run(flow_set_max_concurrency, &flow, "0", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_max_concurrency, &flow, "10001", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_max_concurrency, &flow, "\"3\"", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_max_concurrency, &flow, "3", err, sizeof(err)), 0);
    struct flow_conf c;
    flow_conf_read(flow, &c);
    assert_int_equal(c.max_concurrency, 3);
    flow_conf_clear(&c);
    assert_int_equal(run(flow_set_max_concurrency, &flow, "null", err, sizeof(err)), 0);
    flow_conf_read(flow, &c);
    assert_int_equal(c.max_concurrency, 0);
    flow_conf_clear(&c);
    cJSON_Delete(flow);
}

static void test_circuit_default_and_off(void **state)
{
    (void)state;
    char err[256];
    struct flow_conf c;
    /* No flow fields at all: the breaker is on with 10 failures, 60 s. */
    flow_conf_read(NULL, &c);
    assert_int_equal(c.cb_failures, FLOW_CIRCUIT_FAILURES);
    assert_int_equal(c.cb_open_seconds, FLOW_CIRCUIT_OPEN_S);
    flow_conf_clear(&c);
    cJSON *o = cJSON_CreateObject();
    flow_to_api(NULL, o);
    char *s = cJSON_PrintUnformatted(o);
    assert_string_equal(s, "{\"rate_limit\":null,\"max_concurrency\":null,"
                           "\"circuit\":{\"failures\":10,\"open_seconds\":60}}");
    cJSON_free(s);
    cJSON_Delete(o);

    cJSON *flow = NULL;
    assert_int_equal(run(flow_set_circuit, &flow, "{\"failures\":0}", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_circuit, &flow, "{\"open_seconds\":1.5}", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_circuit, &flow, "{\"x\":1}", err, sizeof(err)), -1);
    assert_int_equal(run(flow_set_circuit, &flow, "true", err, sizeof(err)), -1);
    /* A partial object takes the other default. */
    assert_int_equal(run(flow_set_circuit, &flow, "{\"failures\":3}", err, sizeof(err)), 0);
    flow_conf_read(flow, &c);
    assert_int_equal(c.cb_failures, 3);
    assert_int_equal(c.cb_open_seconds, FLOW_CIRCUIT_OPEN_S);
    flow_conf_clear(&c);
    /* null turns it off, and the API shows null. */
    assert_int_equal(run(flow_set_circuit, &flow, "null", err, sizeof(err)), 0);
    flow_conf_read(flow, &c);
    assert_int_equal(c.cb_failures, 0);
    flow_conf_clear(&c);
    o = cJSON_CreateObject();
    flow_to_api(flow, o);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "circuit")));
    cJSON_Delete(o);
    cJSON_Delete(flow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_max_concurrency),
        cmocka_unit_test(test_circuit_default_and_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_route.c - unit tests for common/route.c: defaults, each field's check through the
 * one table (good and bad values), names, secrets sealed and masked, the API and SQLite
 * forms, and that fields added by other modules appear only when set.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "hb.h"
#include "route.h"

static const unsigned char key[CRYPTO_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static int set(struct route *r, const char *name, const char *json, char err[HB_ERR_LEN])
{
    cJSON *v = cJSON_Parse(json);
    if (v == NULL)
        fail_msg("test input is not json: %s", json);
    err[0] = '\0';
    int rc = route_field_set(r, name, v, key, err, HB_ERR_LEN);
    cJSON_Delete(v);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct route r;
    route_init(&r, ROUTE_DEFAULT_NAME);
    assert_string_equal(r.name, "default");
    assert_null(r.outbound_url);
    assert_string_equal(r.method, "POST");
    assert_true(cJSON_IsObject(r.headers));
    assert_int_equal(r.retries, 3);
    assert_int_equal(r.timeout_ms, 30000);
    assert_int_equal(r.delay_seconds, 0);
    assert_null(r.flow);
    route_clear(&r);
}

static void test_fields(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    struct route r;
    route_init(&r, "crm");
    assert_true(route_field_known("outbound_url"));
    assert_true(route_field_known("signing_secret"));
    assert_false(route_field_known("env"));
    assert_false(route_field_known("name"));
    assert_int_equal(set(&r, "outbound_url", "\"https://crm.example/in/$payload.id\"", err), 0);
    assert_string_equal(r.outbound_url, "https://crm.example/in/$payload.id");
    assert_int_equal(set(&r, "outbound_url", "\"ftp://x\"", err), -1);
    assert_string_equal(err, "must start with http:// or https://");
    assert_string_equal(r.outbound_url, "https://crm.example/in/$payload.id");
    assert_int_equal(set(&r, "outbound_url", "null", err), -1);
    assert_string_equal(err, "is required");
    assert_int_equal(set(&r, "method", "\"PUT\"", err), 0);
    assert_string_equal(r.method, "PUT");
    assert_int_equal(set(&r, "method", "\"put\"", err), -1);
    assert_int_equal(set(&r, "retries", "26", err), -1);
    assert_string_equal(err, "must be an integer in 0..25");
    assert_int_equal(set(&r, "retries", "0", err), 0);
    assert_int_equal(r.retries, 0);
    assert_int_equal(set(&r, "retry_delays", "[1, 2]", err), 0);
    assert_int_equal(r.n_retry_delays, 2);
    assert_int_equal(set(&r, "headers", "{\"Host\":\"x\"}", err), -1);
    assert_int_equal(set(&r, "filter", "{\"payload.a\":{\"nope\":1}}", err), -1);
    assert_int_equal(set(&r, "delay_seconds", "604801", err), -1);
    assert_int_equal(set(&r, "timeout_ms", "99", err), -1);
    assert_int_equal(set(&r, "unknown", "1", err), -1);
    assert_true(route_needs_json(&r));
    route_clear(&r);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(route_name_valid("default"));
    assert_true(route_name_valid("crm_2-b"));
    assert_false(route_name_valid(""));
    assert_false(route_name_valid("CRM"));
    assert_false(route_name_valid("a b"));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(route_name_valid(long_name));
    long_name[64] = '\0';
    assert_true(route_name_valid(long_name));
}

static void test_secret_and_forms(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    struct route r, back, copy;
    route_init(&r, "ledger");
    assert_int_equal(set(&r, "signing_secret", "\"" BRIDGE_SECRET_MASK "\"", err), -1);
    assert_int_equal(set(&r, "signing_secret", "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"", err),
                     0);
    assert_null(strstr(r.signing_secret, "MfKQ9r8"));
    assert_int_equal(set(&r, "signing_secret", "\"" BRIDGE_SECRET_MASK "\"", err), 0);
    char *plain = route_signing_secret_open(&r, key, err, sizeof(err));
    assert_string_equal(plain, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    bridge_secret_free(plain);
    assert_int_equal(set(&r, "outbound_url", "\"http://127.0.0.1:9/l\"", err), 0);

    cJSON *api = cJSON_CreateObject();
    route_put(&r, api, true);
    assert_string_equal(cJSON_GetObjectItem(api, "signing_secret")->valuestring,
                        BRIDGE_SECRET_MASK);
    /* Destination fields are not shown until set; flow fields always, with defaults. */
    assert_null(cJSON_GetObjectItem(api, "tls"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(api, "rate_limit")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(api, "circuit")));
    cJSON_Delete(api);

    r.flow = cJSON_Parse("{\"rate_limit\":{\"requests\":60,\"per_seconds\":60},"
                         "\"max_concurrency\":5}");
    cJSON *st = cJSON_CreateObject();
    route_put(&r, st, false);
    route_init(&back, "ledger");
    const char *bad = NULL;
    assert_int_equal(route_load(&back, st, &bad), 0);
    assert_string_equal(back.signing_secret, r.signing_secret);
    assert_string_equal(back.outbound_url, "http://127.0.0.1:9/l");
    assert_true(cJSON_Compare(back.flow, r.flow, true));
    route_copy(&copy, &back);
    route_clear(&back);
    assert_string_equal(copy.signing_secret, r.signing_secret);
    assert_true(cJSON_Compare(copy.flow, r.flow, true));
    cJSON_ReplaceItemInObject(st, "retries", cJSON_CreateString("x"));
    route_init(&back, "ledger");
    assert_int_equal(route_load(&back, st, &bad), -1);
    assert_string_equal(bad, "retries");
    route_clear(&back);
    cJSON_Delete(st);
    route_clear(&copy);
    route_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_secret_and_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_notice.c - unit tests for worker/notice.c: the JSON body of a failure notice, with
 * what is known and null for what is not.
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
#include "clock.h"
#include "job.h"
#include "notice.h"
#include "xalloc.h"

/* 2023-11-14T22:13:20.000Z, and a minute later. */
#define RECEIVED_MS 1700000000000LL
#define FAILED_MS 1700000060000LL

static void setup_job(struct job *j, const char *replay_of)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "evt_0123456789abcdef");
    snprintf(j->bridge_id, sizeof(j->bridge_id), "brg_0123456789abcdef");
    j->received_ms = RECEIVED_MS;
    j->replay_of = xstrdup(replay_of);
}

static cJSON *body_of(const struct notice_failure *f)
{
    char *text = notice_body(f, FAILED_MS);
    cJSON *o = cJSON_Parse(text);
    free(text);
    assert_non_null(o);
    return o;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", name);
    return v->valuestring;
}

static void test_body_after_http_attempts(void **state)
{
    (void)state;
    struct bridge b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "brg_0123456789abcdef");
    b.name = (char *)"orders";
    struct job j;
    setup_job(&j, "evt_fedcba9876543210");
    struct notice_failure f = {
        .bridge = &b, .job = &j, .attempts = 6, .last_status = 503, .last_error = "boom"};
    cJSON *o = body_of(&f);
    assert_string_equal(str(o, "type"), "event.failed");
    assert_string_equal(str(o, "event_id"), "evt_0123456789abcdef");
    assert_string_equal(str(o, "bridge_id"), "brg_0123456789abcdef");
    assert_string_equal(str(o, "bridge_name"), "orders");
    assert_string_equal(str(o, "status"), "failed");
    assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(o, "last_status")->valueint, 503);
    assert_string_equal(str(o, "last_error"), "boom");
    assert_string_equal(str(o, "received_at"), "2023-11-14T22:13:20.000Z");
    assert_string_equal(str(o, "failed_at"), "2023-11-14T22:14:20.000Z");
    assert_string_equal(str(o, "replay_of"), "evt_fedcba9876543210");
    assert_int_equal(cJSON_GetArraySize(o), 11);
    cJSON_Delete(o);
    job_clear(&j);
}

/* One route of a bridge with routes failed: the body names it. */
static void test_body_names_the_route(void **state)
{
    (void)state;
    struct bridge b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "brg_0123456789abcdef");
    struct job j;
    setup_job(&j, "");
    snprintf(j.route, sizeof(j.route), "crm");
    struct notice_failure f = {.bridge = &b, .job = &j, .attempts = 1};
    cJSON *o = body_of(&f);
    assert_string_equal(str(o, "route"), "crm");
    assert_int_equal(cJSON_GetArraySize(o), 12);
    cJSON_Delete(o);
    job_clear(&j);
}

/* Failed before any response (or any request): null status, error and replay_of. */
static void test_body_without_response(void **state)
{
    (void)state;
    struct bridge b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "brg_0123456789abcdef");
    struct job j;
    setup_job(&j, "");
    struct notice_failure f = {.bridge = &b, .job = &j, .attempts = 0};
    cJSON *o = body_of(&f);
    assert_string_equal(str(o, "bridge_name"), "");
    assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "last_status")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "last_error")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "replay_of")));
    cJSON_Delete(o);
    job_clear(&j);
}

int main(void)
{
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_after_http_attempts),
        cmocka_unit_test(test_body_without_response),
        cmocka_unit_test(test_body_names_the_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

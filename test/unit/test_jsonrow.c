/*
 * test_jsonrow.c - stored-row readers: defaults for missing members, refusals for
 * malformed ones.
 */
#include "jsonrow.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_int(void **state)
{
    (void)state;
    cJSON *o = cJSON_Parse("{\"a\":42,\"b\":1.5,\"c\":\"7\",\"d\":-9000000000000000,"
                           "\"e\":1e16,\"f\":null}");
    int64_t v = 0;
    assert_true(jsonrow_int(o, "a", 0, &v));
    assert_int_equal(v, 42);
    assert_true(jsonrow_int(o, "missing", 30000, &v));
    assert_int_equal(v, 30000);
    assert_false(jsonrow_int(o, "b", 0, &v)); /* not whole */
    assert_false(jsonrow_int(o, "c", 0, &v)); /* not a number */
    assert_true(jsonrow_int(o, "d", 0, &v));
    assert_true(v == -9000000000000000LL);
    assert_false(jsonrow_int(o, "e", 0, &v)); /* past what a double holds exactly */
    assert_false(jsonrow_int(o, "f", 0, &v)); /* null is not a number */
    cJSON_Delete(o);
}

static void test_json(void **state)
{
    (void)state;
    cJSON *o = cJSON_Parse("{\"obj\":{\"x\":1},\"arr\":[1],\"nul\":null}");
    cJSON *out = NULL;
    assert_true(jsonrow_json(o, "missing", true, &out));
    assert_null(out);
    assert_true(jsonrow_json(o, "nul", true, &out));
    assert_null(out);
    assert_false(jsonrow_json(o, "arr", true, &out)); /* an object is required */
    assert_true(jsonrow_json(o, "arr", false, &out));
    assert_true(cJSON_IsArray(out));
    /* A second read replaces (and frees) what *out held. */
    assert_true(jsonrow_json(o, "obj", true, &out));
    assert_true(cJSON_IsObject(out));
    assert_int_equal(cJSON_GetObjectItem(out, "x")->valueint, 1);
    cJSON_Delete(out);
    cJSON_Delete(o);
}

static void test_str_buf(void **state)
{
    (void)state;
    cJSON *o = cJSON_Parse("{\"id\":\"brg_1\",\"n\":3,\"long\":\"abcdefgh\"}");
    char buf[8];
    assert_true(jsonrow_str_buf(o, "id", buf, sizeof(buf)));
    assert_string_equal(buf, "brg_1");
    assert_false(jsonrow_str_buf(o, "n", buf, sizeof(buf)));       /* not a string */
    assert_false(jsonrow_str_buf(o, "missing", buf, sizeof(buf))); /* absent */
    /* 8 characters need 9 bytes with the NUL: too long, and buf is not overrun. */
    assert_false(jsonrow_str_buf(o, "long", buf, sizeof(buf)));
    cJSON_Delete(o);
}

static void test_copy_or_null(void **state)
{
    (void)state;
    cJSON *null = jsonrow_copy_or_null(NULL);
    assert_true(cJSON_IsNull(null));
    cJSON_Delete(null);
    cJSON *o = cJSON_Parse("{\"a\":[1,2]}");
    cJSON *c = jsonrow_copy_or_null(o);
    assert_ptr_not_equal(c, o);
    assert_true(cJSON_Compare(c, o, true));
    cJSON_Delete(c);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_str_buf),
        cmocka_unit_test(test_copy_or_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

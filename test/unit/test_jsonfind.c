/*
 * test_jsonfind.c - unit tests for common/jsonfind.c: the dedup key's fast path renders
 * exactly what the template engine renders against the parsed body (body_to_json_whole,
 * as the ingress parses it), for escapes, \u sequences (surrogate pairs, U+0000), nested
 * objects, arrays and indexes, duplicate keys (the first wins, as in cJSON's tree, which
 * the engine would walk if the check let them through), numbers (1e3, -0, 1.5E-7, big
 * integers), literals, whitespace and missing values; other template shapes are left to
 * the engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "body.h"
#include "jsonfind.h"
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the template engine renders for `tmpl` against `body` parsed as the ingress does
 * (cJSON itself for a body with duplicate keys, which the ingress refuses). */
static char *engine(const char *tmpl, const char *body)
{
    char err[256];
    cJSON *tree = body_to_json_whole("application/json", body, strlen(body), err, sizeof(err));
    if (tree == NULL)
        tree = cJSON_Parse(body);
    assert_non_null(tree);
    struct tmpl_ctx ctx = {.payload = tree, .redact_env = true};
    char *s = tmpl_render_text(tmpl, &ctx, TMPL_TEXT, err, sizeof(err));
    assert_non_null(s);
    cJSON_Delete(tree);
    return s;
}

/* Asserts that the fast path renders what the engine renders. */
static void same(const char *tmpl, const char *body)
{
    char *want = engine(tmpl, body);
    struct jsonfind_text t;
    if (!jsonfind_payload_ref(tmpl, body, strlen(body), &t))
        fail_msg("%s on %s: fast path declined", tmpl, body);
    if (strlen(want) != t.len || memcmp(want, t.ptr, t.len) != 0)
        fail_msg("%s on %s: engine \"%s\", fast \"%.*s\"", tmpl, body, want, (int)t.len, t.ptr);
    free(t.owned);
    free(want);
}

/* Asserts the fast path's text for `tmpl` on `body`, and that the engine agrees. */
static void renders(const char *tmpl, const char *body, const char *want)
{
    same(tmpl, body);
    struct jsonfind_text t;
    assert_true(jsonfind_payload_ref(tmpl, body, strlen(body), &t));
    assert_int_equal(t.len, strlen(want));
    assert_memory_equal(t.ptr, want, t.len);
    free(t.owned);
}

static void test_shapes(void **state)
{
    (void)state;
    assert_true(jsonfind_is_payload_ref("$payload.orderid"));
    assert_true(jsonfind_is_payload_ref("${payload.order.id}"));
    assert_true(jsonfind_is_payload_ref("$payload.items.0.sku-1_x"));
    static const char *const other[] = {
        "$payload",          "${payload}",    "$payload.",     "$payload.a.",   "$payload..a",
        "$payload.a b",      "x$payload.a",   "$payload.a-$$", "${payload.a",   "${payload.a}x",
        "$payloads.a",       "$headers.a",    "$payload.a/b",  "${payload.a.}", "",
        "order-$payload.id", "$payload.a\xc3"};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        assert_false(jsonfind_is_payload_ref(other[i]));
        struct jsonfind_text t;
        assert_false(jsonfind_payload_ref(other[i], "{\"a\":1}", 7, &t));
        assert_null(t.owned);
    }
}

static void test_strings_and_escapes(void **state)
{
    (void)state;
    renders("$payload.orderid", "{\"orderid\":\"A-1001\"}", "A-1001");
    renders("${payload.orderid}", " { \"x\" : 1 , \"orderid\" :\t\"A\" } ", "A");
    renders("$payload.s", "{\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\b\\f\\r\"}", "a\"b\\c/d\n\t\b\f\r");
    renders("$payload.s", "{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}",
            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    renders("$payload.s", "{\"s\":\"caf\xc3\xa9\"}", "caf\xc3\xa9");
    /* cJSON ends a string at a decoded U+0000, and so does the engine. */
    renders("$payload.s", "{\"s\":\"ab\\u0000cd\"}", "ab");
    renders("$payload.s", "{\"s\":\"\"}", "");
    /* Escaped keys are compared decoded; a key ending at \u0000 is its part before it. */
    renders("$payload.id", "{\"\\u0069d\":\"esc\"}", "esc");
    renders("$payload.id", "{\"i\\u0064\\u0000zz\":\"nul\",\"id\":\"second\"}", "nul");
    renders("$payload.id", "{\"i\\\"d\":1,\"id\":2}", "2");
    /* Look-alikes are not the key: a value holding the key's text, a longer key. */
    renders("$payload.id", "{\"x\":\"\\\"id\\\":\",\"idx\":1,\"i\":2,\"id\":3}", "3");
    renders("$payload.id", "{\"a\":{\"id\":\"inner\"},\"id\":\"outer\"}", "outer");
    renders("$payload.id", "{\"a\":[{\"id\":1},\"]}\"],\"id\":\"after\"}", "after");
}

static void test_other_values(void **state)
{
    (void)state;
    renders("$payload.n", "{\"n\":1e3}", "1000");
    same("$payload.n", "{\"n\":-0}");
    same("$payload.n", "{\"n\":-0.0}");
    same("$payload.n", "{\"n\":1.5E-7}");
    same("$payload.n", "{\"n\":12345678901234567890}");
    same("$payload.n", "{\"n\":0.1}");
    same("$payload.n", "{\"n\":-12.50}");
    same("$payload.n", "{\"n\":1E+2}");
    renders("$payload.n", "{\"n\":42}", "42");
    renders("$payload.t", "{\"t\":true}", "true");
    renders("$payload.f", "{\"f\":false}", "false");
    renders("$payload.z", "{\"z\":null}", "null");
    renders("$payload.o", "{\"o\": { \"b\" : [1, \"x\\u0041\", {}, []], \"c\":null } }",
            "{\"b\":[1,\"xA\",{},[]],\"c\":null}");
    same("$payload.o", "{\"o\":{\"s\":\"\\u0000tail\",\"e\":\"\\u00e9\\n\"}}");
    same("$payload.a", "{\"a\":[1.0,2e2,-0,\"\\ud834\\udd1e\"]}");
}

static void test_paths_and_missing(void **state)
{
    (void)state;
    renders("$payload.a.b.c", "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "deep");
    renders("$payload.items.1.id", "{\"items\":[{\"id\":1},{\"id\":\"two\"}]}", "two");
    renders("$payload.0", "[\"first\",2]", "first");
    renders("$payload.items.007", "{\"items\":[0,1,2,3,4,5,6,\"seven\"]}", "seven");
    renders("$payload.items.2", "{\"items\":[0,1]}", "");
    renders("$payload.items.x", "{\"items\":[0,1]}", "");
    renders("$payload.items.1234567890", "{\"items\":[0,1]}", "");
    renders("$payload.items.0", "{\"items\":[]}", "");
    renders("$payload.nope", "{\"a\":1}", "");
    renders("$payload.a", "{}", "");
    renders("$payload.a.b", "{\"a\":\"str\"}", "");
    renders("$payload.a.b", "{\"a\":5}", "");
    renders("$payload.a.b", "{\"a\":null}", "");
    renders("$payload.a", "\"top string\"", "");
    renders("$payload.a", "17", "");
    renders("$payload.0", "{\"0\":\"key zero\"}", "key zero");
}

static void test_duplicate_keys_first_wins(void **state)
{
    (void)state;
    /* body_check_json refuses these for a bridge that reads the body; were one to pass,
     * cJSON's tree (and so the engine) finds the first, and so does the fast path. */
    renders("$payload.id", "{\"id\":\"first\",\"id\":\"second\"}", "first");
    renders("$payload.a.id", "{\"a\":{\"id\":1},\"a\":{\"id\":2}}", "1");
}

/* Many generated bodies and paths: both renderings agree whenever the body parses. */
static void test_generated(void **state)
{
    (void)state;
    static const char *const vals[] = {"1",
                                       "-0",
                                       "1e3",
                                       "2.5E-3",
                                       "true",
                                       "null",
                                       "\"s\"",
                                       "\"\\u0041\"",
                                       "\"\\ud83d\\ude00\"",
                                       "[]",
                                       "{}",
                                       "[1,[2]]",
                                       "\"\\u0000x\"",
                                       "\"a\\\\\"",
                                       "{\"k\":[\"v\"]}"};
    static const char *const keys[] = {"a", "b", "\\u0061", "0", "a\\u0000"};
    static const char *const tmpls[] = {"$payload.a",      "$payload.b",   "$payload.a.k",
                                        "$payload.a.0",    "$payload.b.1", "$payload.0",
                                        "${payload.a.k.0}"};
    size_t nv = sizeof(vals) / sizeof(vals[0]), nk = sizeof(keys) / sizeof(keys[0]);
    size_t n = 0;
    for (size_t i = 0; i < nv * nk * nk; i++) {
        char body[512];
        size_t v1 = i % nv, k1 = (i / nv) % nk, k2 = (i / nv / nk) % nk;
        snprintf(body, sizeof(body), "{\"%s\": %s ,\"%s\":[%s,{\"%s\":%s}],\"k\":%s}", keys[k1],
                 vals[v1], keys[k2], vals[(v1 + 3) % nv], keys[k1], vals[(v1 + 7) % nv],
                 vals[(v1 + 5) % nv]);
        cJSON *parses = cJSON_Parse(body);
        if (parses == NULL)
            continue;
        cJSON_Delete(parses);
        for (size_t t = 0; t < sizeof(tmpls) / sizeof(tmpls[0]); t++) {
            same(tmpls[t], body);
            n++;
        }
    }
    assert_true(n > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_other_values),
        cmocka_unit_test(test_paths_and_missing),
        cmocka_unit_test(test_duplicate_keys_first_wins),
        cmocka_unit_test(test_generated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

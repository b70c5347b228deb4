/*
 * test_body.c - unit tests for common/body.c: which Content-Types count as JSON or as a
 * form, body_parse_json's strict checks (one value, valid UTF-8 without NUL bytes, at most
 * 64 levels deep with brackets inside strings not counted, the exact error texts),
 * body_to_json's choice by Content-Type, and body_form_object's decoding (repeated names,
 * '+', bad or short escapes kept, bytes that are not UTF-8 replaced). Inputs are copied to
 * buffers of exactly their length so that AddressSanitizer sees any read past the end.
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

#include "body.h"
#include "utf8.h"
#include "xalloc.h"

#include <time.h>

/* Room for any message the checker writes (HB_ERR_LEN in hb.h). */
#define HB_ERR_LEN_TEST 256

#define FFFD "\xEF\xBF\xBD"

/* A string literal and its length without the terminating NUL (literals may hold NULs). */
#define LIT(s) (s), (sizeof(s) - 1)

/* A heap copy of s[0..len) with no terminating NUL, so reading past len is caught. */
static char *exact_copy(const char *s, size_t len)
{
    char *p = xmalloc(len > 0 ? len : 1);
    if (len > 0)
        memcpy(p, s, len);
    return p;
}

/* The compact JSON text of v, compared with want; deletes v. */
static void assert_json_is(cJSON *v, const char *want, const char *what)
{
    if (v == NULL)
        fail_msg("%s: NULL, want %s", what, want);
    char *got = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    assert_non_null(got);
    if (strcmp(got, want) != 0) {
        print_error("%s: got %s\n", what, got);
        free(got);
        fail_msg("%s: want %s", what, want);
    }
    free(got);
}

static void test_ctype_is_json(void **state)
{
    (void)state;
    static const struct {
        const char *ctype;
        bool want;
    } cases[] = {
        {"application/json", true},
        {"APPLICATION/JSON; charset=utf-8", true},
        {"application/json;charset=UTF-8", true},
        {"application/json ; charset=utf-8", true},
        {" application/json", true},
        {"Application/Json", true},
        {"application/vnd.api+json", true},
        {"application/vnd.api+json; charset=utf-8", true},
        {"application/ld+JSON", true},
        {"application/problem+json", true},
        {"text/json", false},
        {"application/jsonx", false},
        {"application/json-patch", false},
        {"application/json-seq", false},
        {"application/x-json", false},
        {"application/vnd.api+jsonx", false},
        {"application/vnd.api+xml", false},
        {"+json", false},
        {"json", false},
        {"text/plain", false},
        {"application/x-www-form-urlencoded", false},
        {"", false},
        {"; charset=utf-8", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (body_ctype_is_json(cases[i].ctype) != cases[i].want)
            fail_msg("body_ctype_is_json(\"%s\") is %d", cases[i].ctype ? cases[i].ctype : "NULL",
                     !cases[i].want);
}

static void test_ctype_is_form(void **state)
{
    (void)state;
    static const struct {
        const char *ctype;
        bool want;
    } cases[] = {
        {"application/x-www-form-urlencoded", true},
        {"Application/X-WWW-Form-Urlencoded; charset=UTF-8", true},
        {"application/x-www-form-urlencoded;charset=utf-8", true},
        {" application/x-www-form-urlencoded", true},
        {"application/x-www-form-urlencodedx", false},
        {"application/x-www-form", false},
        {"multipart/form-data; boundary=x", false},
        {"application/json", false},
        {"", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (body_ctype_is_form(cases[i].ctype) != cases[i].want)
            fail_msg("body_ctype_is_form(\"%s\") is %d", cases[i].ctype ? cases[i].ctype : "NULL",
                     !cases[i].want);
}

/* Parse s[0..len) from an exact-length copy; returns the value or NULL with err. */
static cJSON *parse_exact(const char *s, size_t len, char *err, size_t errlen)
{
    char *copy = exact_copy(s, len);
    cJSON *v = body_parse_json(copy, len, err, errlen);
    free(copy);
    return v;
}

static void test_parse_values(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"42", "42"},
        {"-1.5e3", "-1500"},
        {"0", "0"},
        {"\"x\"", "\"x\""},
        {"\"\"", "\"\""},
        {"null", "null"},
        {"true", "true"},
        {"false", "false"},
        {"[]", "[]"},
        {"{}", "{}"},
        {"\t\n 7 \n\t", "7"},
        {"\r\n\"s\"\r\n", "\"s\""},
        {"  {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\", \"e\": true}\r\n",
         "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\",\"e\":true}"},
        {"[\"h\xC3\xA9 \xF0\x9F\x98\x80\"]", "[\"h\xC3\xA9 \xF0\x9F\x98\x80\"]"},
        {"\"\\u00e9\\ud83d\\ude00\"", "\"\xC3\xA9\xF0\x9F\x98\x80\""},
        {"[\"a\\\"b\", \"c\\\\\"]", "[\"a\\\"b\",\"c\\\\\"]"},
        {"{\"[\": \"{\", \"]\": \"}\"}", "{\"[\":\"{\",\"]\":\"}\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128] = "";
        cJSON *v = parse_exact(cases[i].in, strlen(cases[i].in), err, sizeof(err));
        if (v == NULL)
            fail_msg("%s: %s", cases[i].in, err);
        assert_json_is(v, cases[i].want, cases[i].in);
    }
}

/* Type checks on bare values, beyond what printing shows. */
static void test_parse_bare_types(void **state)
{
    (void)state;
    char err[128];
    cJSON *v = parse_exact(LIT(" 12.5 "), err, sizeof(err));
    assert_true(cJSON_IsNumber(v));
    assert_true(cJSON_GetNumberValue(v) == 12.5);
    cJSON_Delete(v);

    v = parse_exact(LIT("\"a b\""), err, sizeof(err));
    assert_true(cJSON_IsString(v));
    assert_string_equal(cJSON_GetStringValue(v), "a b");
    cJSON_Delete(v);

    v = parse_exact(LIT("null"), err, sizeof(err));
    assert_true(cJSON_IsNull(v));
    cJSON_Delete(v);
}

struct parse_error_case {
    const char *in;
    size_t len;
    const char *err;
};

#define NOT_UTF8 "body is not valid UTF-8"
#define EMPTY "body is empty"

static const struct parse_error_case parse_error_cases[] = {
    {LIT(""), EMPTY},
    {LIT(" "), EMPTY},
    {LIT(" \t\r\n \r\n"), EMPTY},
    {LIT("\"\xC0\xAF\""), NOT_UTF8},                /* overlong '/' */
    {LIT("[\"\xE0\x80\xAF\"]"), NOT_UTF8 " at /0"}, /* overlong, three bytes */
    {LIT("\"\xED\xA0\x80\""), NOT_UTF8},            /* surrogate U+D800 */
    {LIT("[\"\xE2\x82\"]"), NOT_UTF8 " at /0"},     /* truncated sequence inside */
    {LIT("\"\xE2\x82"), NOT_UTF8},                  /* truncated at the end */
    {LIT("\xFF"), NOT_UTF8},
    {LIT("[\"\xFF\"]"), NOT_UTF8 " at /0"},
    {LIT("{\"k\xFE\": 1}"), NOT_UTF8 " in a key at /"},
    {LIT("\"\xF4\x90\x80\x80\""), NOT_UTF8}, /* past U+10FFFF */
    {LIT("[1,\0 2]"), NOT_UTF8},             /* a NUL byte is refused too */
    {LIT("\"a\0b\""), NOT_UTF8},
    {LIT("\0"), NOT_UTF8},
    {LIT("{}\0"), NOT_UTF8},
    {LIT(" \0 "), NOT_UTF8},
    {LIT("[1] x"), "body is not valid JSON (near byte 4)"},
    {LIT("[1][2]"), "body is not valid JSON (near byte 3)"},
    {LIT("1 2"), "body is not valid JSON (near byte 2)"},
    {LIT("{}}"), "body is not valid JSON (near byte 2)"},
    {LIT("\"a\" \"b\""), "body is not valid JSON (near byte 4)"},
    {LIT("nul"), "body is not valid JSON (near byte 0)"},
    {LIT(" x"), "body is not valid JSON (near byte 1)"},
    {LIT("[1,"), "body is not valid JSON (near byte 3)"},
    {LIT("[1,]"), "body is not valid JSON (near byte 3)"},
    {LIT("{\"a\" 1}"), "body is not valid JSON (near byte 5)"},
    {LIT("a=1&b=2"), "body is not valid JSON (near byte 0)"},
    {LIT("]]"), "body is not valid JSON (near byte 0)"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_error_cases) / sizeof(parse_error_cases[0]); i++) {
        const struct parse_error_case *c = &parse_error_cases[i];
        char err[128] = "";
        cJSON *v = parse_exact(c->in, c->len, err, sizeof(err));
        if (v != NULL) {
            cJSON_Delete(v);
            fail_msg("case %zu: parsed, want \"%s\"", i, c->err);
        }
        if (strcmp(err, c->err) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, err, c->err);
    }
}

/* An empty body may come as a NULL pointer. */
static void test_parse_null_empty(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(body_parse_json(NULL, 0, err, sizeof(err)));
    assert_string_equal(err, EMPTY);
}

/* The length, not a NUL, ends the body: bytes past it are never looked at. */
static void test_parse_length_not_nul(void **state)
{
    (void)state;
    static const char buf[] = "[1,2] garbage";
    char err[128] = "";
    cJSON *v = body_parse_json(buf, 5, err, sizeof(err));
    assert_json_is(v, "[1,2]", "prefix of a longer buffer");

    /* A prefix that cuts the value is an error, not the whole buffer parsed. */
    assert_null(body_parse_json(buf, 4, err, sizeof(err)));
    assert_string_equal(err, "body is not valid JSON (near byte 4)");
}

/*
 * `depth` levels alternating arrays and objects around the value 1: [{"k":[{"k":1}]}]
 * for 4. Returns a NUL-terminated string the caller frees.
 */
static char *nested(int depth, bool mixed)
{
    size_t cap = (size_t)depth * 6 + 2;
    char *s = xmalloc(cap);
    size_t o = 0;
    for (int i = 0; i < depth; i++) {
        if (mixed && i % 2 == 1) {
            memcpy(s + o, "{\"k\":", 5);
            o += 5;
        } else {
            s[o++] = '[';
        }
    }
    s[o++] = '1';
    for (int i = depth - 1; i >= 0; i--)
        s[o++] = mixed && i % 2 == 1 ? '}' : ']';
    s[o] = '\0';
    return s;
}

static int value_depth(const cJSON *v)
{
    int d = 0;
    while (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        d++;
        v = v->child;
    }
    return d;
}

static void test_depth_limit(void **state)
{
    (void)state;
    for (int mixed = 0; mixed <= 1; mixed++) {
        char err[128] = "";
        char *s = nested(BODY_MAX_DEPTH, mixed);
        cJSON *v = parse_exact(s, strlen(s), err, sizeof(err));
        free(s);
        if (v == NULL)
            fail_msg("64 levels (mixed=%d) refused: %s", mixed, err);
        assert_int_equal(value_depth(v), 64);
        cJSON_Delete(v);

        s = nested(BODY_MAX_DEPTH + 1, mixed);
        v = parse_exact(s, strlen(s), err, sizeof(err));
        free(s);
        assert_null(v);
        assert_string_equal(err, "body nests deeper than 64 levels");
    }

    /* Far deeper than cJSON's own limit: refused by our count, cJSON never recurses. */
    char err[128] = "";
    char *s = nested(100000, false);
    assert_null(parse_exact(s, strlen(s), err, sizeof(err)));
    free(s);
    assert_string_equal(err, "body nests deeper than 64 levels");

    /* Openers alone (invalid JSON) are refused for depth first. */
    char open[200];
    memset(open, '[', sizeof(open));
    assert_null(parse_exact(open, sizeof(open), err, sizeof(err)));
    assert_string_equal(err, "body nests deeper than 64 levels");
}

/* "[\"" + prefix + 100 '[' and '{' + "\"]": all the brackets are inside one string. */
static void test_depth_ignores_strings(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"", "\\\"", "a\\\"b\\\"", "\\\\\\\""};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char s[512];
        size_t o = (size_t)snprintf(s, sizeof(s), "[\"%s", prefixes[i]);
        for (int k = 0; k < 100; k++)
            s[o++] = k % 2 ? '{' : '[';
        memcpy(s + o, "\"]", 3);
        char err[128] = "";
        cJSON *v = parse_exact(s, strlen(s), err, sizeof(err));
        if (v == NULL)
            fail_msg("prefix %zu refused: %s", i, err);
        assert_int_equal(value_depth(v), 1);
        cJSON_Delete(v);
    }

    /* Brackets in a key do not count either. */
    char err[128] = "";
    cJSON *v =
        parse_exact(LIT("{\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                        "[[[[[[[[[[\": 1}"),
                    err, sizeof(err));
    assert_non_null(v);
    cJSON_Delete(v);
}

/*
 * A string ending in an escaped backslash ("\\") is closed by the next quote: brackets after
 * it count again, so 64 more levels inside the outer array make 65.
 */
static void test_depth_after_escaped_backslash(void **state)
{
    (void)state;
    for (int extra = 63; extra <= 64; extra++) {
        char s[512];
        size_t o = (size_t)snprintf(s, sizeof(s), "[\"a\\\\\",");
        for (int k = 0; k < extra; k++)
            s[o++] = '[';
        for (int k = 0; k < extra; k++)
            s[o++] = ']';
        memcpy(s + o, "]", 2);
        char err[128] = "";
        cJSON *v = parse_exact(s, strlen(s), err, sizeof(err));
        if (extra == 63) {
            if (v == NULL)
                fail_msg("64 levels after \"a\\\\\" refused: %s", err);
            cJSON_Delete(v);
        } else {
            assert_null(v);
            assert_string_equal(err, "body nests deeper than 64 levels");
        }
    }
}

/* A 2 MB array of small numbers parses whole. */
static void test_parse_large(void **state)
{
    (void)state;
    size_t n = 1024 * 1024; /* "0," per element: 2 MB */
    size_t len = 2 * n + 1;
    char *s = xmalloc(len);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) {
        s[1 + 2 * i] = (char)('0' + i % 10);
        s[2 + 2 * i] = ',';
    }
    s[len - 1] = ']';
    char err[128] = "";
    cJSON *v = body_parse_json(s, len, err, sizeof(err));
    free(s);
    if (v == NULL)
        fail_msg("2 MB array: %s", err);
    assert_int_equal(cJSON_GetArraySize(v), n);
    assert_true(cJSON_GetArrayItem(v, 0)->valuedouble == 0);
    assert_true(cJSON_GetArrayItem(v, 12345)->valuedouble == 5);
    cJSON_Delete(v);
}

static void test_to_json(void **state)
{
    (void)state;
    static const struct {
        const char *ctype;
        const char *body;
        const char *want; /* NULL: fails with err */
        const char *err;
    } cases[] = {
        {"application/x-www-form-urlencoded", "a=1&b=x%20y", "{\"a\":\"1\",\"b\":\"x y\"}", NULL},
        {"application/x-www-form-urlencoded; charset=UTF-8", "x={}", "{\"x\":\"{}\"}", NULL},
        {"application/x-www-form-urlencoded", "", "{}", NULL},
        {"application/x-www-form-urlencoded", "a=\xFF", "{\"a\":\"" FFFD "\"}", NULL},
        {"application/x-www-form-urlencoded", "[1]", "{\"[1]\":\"\"}", NULL},
        {"application/json", "{\"a\":1}", "{\"a\":1}", NULL},
        {"application/vnd.api+json", "[true]", "[true]", NULL},
        {NULL, "[1]", "[1]", NULL},
        {"text/plain", " \"t\" ", "\"t\"", NULL},
        {"application/json", "a=1", NULL, "body is not valid JSON (near byte 0)"},
        {"application/json", "", NULL, EMPTY},
        {NULL, "\"\xC0\xAF\"", NULL, NOT_UTF8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128] = "";
        size_t len = strlen(cases[i].body);
        char *copy = exact_copy(cases[i].body, len);
        cJSON *v = body_to_json(cases[i].ctype, copy, len, err, sizeof(err));
        free(copy);
        char what[64];
        snprintf(what, sizeof(what), "case %zu", i);
        if (cases[i].want != NULL) {
            if (v == NULL)
                fail_msg("%s: %s", what, err);
            assert_json_is(v, cases[i].want, what);
        } else {
            if (v != NULL) {
                cJSON_Delete(v);
                fail_msg("%s: parsed, want \"%s\"", what, cases[i].err);
            }
            assert_string_equal(err, cases[i].err);
        }
    }
}

struct form_case {
    const char *in;
    size_t len;
    const char *want;
};

static const struct form_case form_cases[] = {
    {LIT("a=1&b=x%20y+z"), "{\"a\":\"1\",\"b\":\"x y z\"}"},
    {LIT(""), "{}"},
    {LIT("a=1&b=2&a=3"), "{\"a\":\"3\",\"b\":\"2\"}"},
    {LIT("a=1&b=2&a=3&a=4"), "{\"a\":\"4\",\"b\":\"2\"}"},
    {LIT("a=1&a"), "{\"a\":\"\"}"},
    {LIT("a=1&A=2"), "{\"a\":\"1\",\"A\":\"2\"}"},
    {LIT("flag&x=1"), "{\"flag\":\"\",\"x\":\"1\"}"},
    {LIT("&&a=1&&"), "{\"a\":\"1\"}"},
    {LIT("&"), "{}"},
    {LIT("=v"), "{\"\":\"v\"}"},
    {LIT("a="), "{\"a\":\"\"}"},
    {LIT("a=1=2"), "{\"a\":\"1=2\"}"},
    {LIT("a+b=c+d"), "{\"a b\":\"c d\"}"},
    {LIT("%61%62=c"), "{\"ab\":\"c\"}"},
    {LIT("a=%41"), "{\"a\":\"A\"}"},
    {LIT("a=%4a%4A"), "{\"a\":\"JJ\"}"},
    {LIT("a=%2B%26%3D"), "{\"a\":\"+&=\"}"},
    {LIT("a=%C3%A9"), "{\"a\":\"\xC3\xA9\"}"},
    {LIT("a=\xC3\xA9"), "{\"a\":\"\xC3\xA9\"}"},
    {LIT("a=%zz"), "{\"a\":\"%zz\"}"},
    {LIT("a=%zz%2"), "{\"a\":\"%zz%2\"}"},
    {LIT("a=%4"), "{\"a\":\"%4\"}"},
    {LIT("a=%"), "{\"a\":\"%\"}"},
    {LIT("a=%%41"), "{\"a\":\"%A\"}"},
    {LIT("a=%4&b=%"), "{\"a\":\"%4\",\"b\":\"%\"}"},
    {LIT("a=%00"), "{\"a\":\"" FFFD "\"}"},
    {LIT("a=%FF"), "{\"a\":\"" FFFD "\"}"},
    {LIT("a=%ff%fe"), "{\"a\":\"" FFFD FFFD "\"}"},
    {LIT("a=%E2%82"), "{\"a\":\"" FFFD "\"}"},
    {LIT("a=x%00y"), "{\"a\":\"x" FFFD "y\"}"},
    {LIT("k%00=v"), "{\"k" FFFD "\":\"v\"}"},
    {LIT("a=\xFF"), "{\"a\":\"" FFFD "\"}"},
    {LIT("a=\0b"), "{\"a\":\"" FFFD "b\"}"},
    {LIT("a=\"q\"\\"), "{\"a\":\"\\\"q\\\"\\\\\"}"},
    {"a=1&b=2%41", 8, "{\"a\":\"1\",\"b\":\"2%\"}"},
    {"a=%41", 4, "{\"a\":\"%4\"}"},
    {"a=1&b=2", 3, "{\"a\":\"1\"}"},
    {"a=1&b=2", 4, "{\"a\":\"1\"}"},
    {"a=1&b=2", 5, "{\"a\":\"1\",\"b\":\"\"}"},
};

static void test_form_object(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
        const struct form_case *c = &form_cases[i];
        char *copy = exact_copy(c->in, c->len);
        cJSON *v = body_form_object(copy, c->len);
        free(copy);
        char what[64];
        snprintf(what, sizeof(what), "form case %zu", i);
        assert_json_is(v, c->want, what);
    }
}

/* The value of a decoded %00 is exactly U+FFFD, and every value is a string. */
static void test_form_values_are_strings(void **state)
{
    (void)state;
    cJSON *v = body_form_object(LIT("n=1&t=true&z=%00&e"));
    assert_int_equal(cJSON_GetArraySize(v), 4);
    const cJSON *item;
    cJSON_ArrayForEach(item, v)
    {
        assert_true(cJSON_IsString(item));
    }
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "z")->valuestring, FFFD);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "n")->valuestring, "1");
    cJSON_Delete(v);

    v = body_form_object(NULL, 0);
    assert_json_is(v, "{}", "NULL, 0");
}

/* body_check_json is strict RFC 8259: what it accepts cJSON parses, and it refuses what
 * cJSON would let through (leading zeros, bare control characters in strings, lone
 * surrogate escapes, whitespace other than the four JSON allows). */
static void test_check_strict(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "0",
        "-0",
        "1.5e+10",
        "-12.25E-3",
        "[]",
        "{}",
        "\"\"",
        "[true,false,null]",
        " \r\n\t{} ",
        "{\"a\":{\"b\":[1,{}]}}",
        "\"\\ud83d\\ude00\"",
        "\"\\u0000\"",
        "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        char err[128] = "";
        if (!body_check_json(valid[i], strlen(valid[i]), NULL, err, sizeof(err)))
            fail_msg("%s refused: %s", valid[i], err);
        cJSON *v = cJSON_ParseWithLength(valid[i], strlen(valid[i]));
        if (v == NULL)
            fail_msg("%s: cJSON disagrees", valid[i]);
        cJSON_Delete(v);
    }
    static const struct parse_error_case invalid[] = {
        {LIT("01"), "body is not valid JSON (near byte 1)"},
        {LIT("1."), "body is not valid JSON (near byte 2)"},
        {LIT(".5"), "body is not valid JSON (near byte 0)"},
        {LIT("-"), "body is not valid JSON (near byte 1)"},
        {LIT("+1"), "body is not valid JSON (near byte 0)"},
        {LIT("1e"), "body is not valid JSON (near byte 2)"},
        {LIT("[1 2]"), "body is not valid JSON (near byte 3)"},
        {LIT("{\"a\":1,}"), "body is not valid JSON (near byte 7)"},
        {LIT("{1:2}"), "body is not valid JSON (near byte 1)"},
        {LIT("\"a\tb\""), "body is not valid JSON (near byte 2)"},
        {LIT("\"\\ud800\""), "body is not valid JSON (near byte 7)"},
        {LIT("\"\\udc00\""), "body is not valid JSON (near byte 7)"},
        {LIT("\"\\ud800\\u0041\""), "body is not valid JSON (near byte 13)"},
        {LIT("\"\\x\""), "body is not valid JSON (near byte 3)"},
        {LIT("\"\\u12\""), "body is not valid JSON (near byte 3)"},
        {LIT("\f1"), "body is not valid JSON (near byte 0)"},
        {LIT("tru"), "body is not valid JSON (near byte 0)"},
        {LIT("nulll"), "body is not valid JSON (near byte 4)"},
        {LIT("\"abc"), "body is not valid JSON (near byte 4)"},
        {LIT("{\"a\""), "body is not valid JSON (near byte 4)"},
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        char err[128] = "";
        if (body_check_json(invalid[i].in, invalid[i].len, NULL, err, sizeof(err)))
            fail_msg("case %zu (%s) accepted", i, invalid[i].in);
        if (strcmp(err, invalid[i].err) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, err, invalid[i].err);
        /* body_parse_json refuses the same, with the same words. */
        char err2[128] = "";
        assert_null(body_parse_json(invalid[i].in, invalid[i].len, err2, sizeof(err2)));
        assert_string_equal(err, err2);
    }
}

static void test_check_is_string(void **state)
{
    (void)state;
    char err[128];
    bool is_string = false;
    assert_true(body_check_json(LIT(" \"x\" "), &is_string, err, sizeof(err)));
    assert_true(is_string);
    assert_true(body_check_json(LIT("[\"x\"]"), &is_string, err, sizeof(err)));
    assert_false(is_string);
    assert_true(body_check_json(LIT("7"), &is_string, err, sizeof(err)));
    assert_false(is_string);
    /* Exactly BODY_MAX_DEPTH levels pass; one more is refused by name. */
    char deep[2 * BODY_MAX_DEPTH + 3];
    memset(deep, '[', BODY_MAX_DEPTH);
    memset(deep + BODY_MAX_DEPTH, ']', BODY_MAX_DEPTH);
    assert_true(body_check_json(deep, 2 * BODY_MAX_DEPTH, NULL, err, sizeof(err)));
    memset(deep, '[', BODY_MAX_DEPTH + 1);
    memset(deep + BODY_MAX_DEPTH + 1, ']', BODY_MAX_DEPTH + 1);
    assert_false(body_check_json(deep, 2 * BODY_MAX_DEPTH + 2, NULL, err, sizeof(err)));
    assert_string_equal(err, "body nests deeper than 64 levels");
}

/* Seconds of this thread's CPU time: the quadratic cases these limits catch took minutes,
 * and CPU time, unlike the wall clock, does not grow with other processes on shared cores. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One byte of 32-bit FNV-1a, the unkeyed hash the form table used. */
static uint32_t fnv1a_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

#define FLOOD_BITS 17   /* slots of a table for 2^16 names: every one of them collides */
#define FLOOD_STAGES 15 /* 2^15 names of 45 letters: a 1.6 MB form body */

/*
 * Three-letter blocks that take FNV-1a's low FLOOD_BITS bits from the same state to the same
 * state, one pair per stage: the low bits of FNV-1a depend only on the low bits before, so
 * any choice of one block of each pair gives a name in the same slot. That is how cheap
 * the flood was to make; the keyed hash must leave nothing of it.
 */
static void flood_blocks(char blocks[FLOOD_STAGES][2][4])
{
    static const char az[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const uint32_t mask = (1u << FLOOD_BITS) - 1;
    int *seen = xmalloc(sizeof(int) << FLOOD_BITS);
    uint32_t h = 2166136261u;
    for (int st = 0; st < FLOOD_STAGES; st++) {
        memset(seen, 0xFF, sizeof(int) << FLOOD_BITS);
        bool found = false;
        /* Three letters: two do not always reach a shared slot. */
        for (int i = 0; i < 62 * 62 * 62 && !found; i++) {
            int a = i / (62 * 62), b = i / 62 % 62, d = i % 62;
            uint32_t t = fnv1a_step(h, (unsigned char)az[a]);
            t = fnv1a_step(fnv1a_step(t, (unsigned char)az[b]), (unsigned char)az[d]);
            int *prev = &seen[t & mask];
            if (*prev < 0) {
                *prev = i;
                continue;
            }
            int p = *prev;
            snprintf(blocks[st][0], 4, "%c%c%c", az[p / (62 * 62)], az[p / 62 % 62], az[p % 62]);
            snprintf(blocks[st][1], 4, "%c%c%c", az[a], az[b], az[d]);
            h = t & mask;
            found = true;
        }
        assert_true(found);
    }
    free(seen);
}

/* A form body of 2^FLOOD_STAGES names that share their FNV-1a slot, each "=<n>", then the
 * first name again with "=last". */
static char *flood_body(size_t *len, char first[3 * FLOOD_STAGES + 1])
{
    char blocks[FLOOD_STAGES][2][4];
    flood_blocks(blocks);
    size_t n = (size_t)1 << FLOOD_STAGES, cap = n * (3 * FLOOD_STAGES + 10) + 64;
    char *body = xmalloc(cap), *o = body;
    for (size_t i = 0; i < n; i++) {
        char name[3 * FLOOD_STAGES + 1];
        for (int st = 0; st < FLOOD_STAGES; st++)
            memcpy(name + 3 * st, blocks[st][(i >> st) & 1], 3);
        name[3 * FLOOD_STAGES] = '\0';
        if (i == 0)
            memcpy(first, name, sizeof(name));
        o += snprintf(o, cap - (size_t)(o - body), "%s%s=%zu", i ? "&" : "", name, i);
    }
    o += snprintf(o, cap - (size_t)(o - body), "&%s=last", first);
    *len = (size_t)(o - body);
    return body;
}

/* Names crafted to share an FNV-1a slot decode in linear time (95,000 of them in 1 MB held the
 * ingress 27 s), and the last value of a repeated name still wins. */
static void test_form_hash_flood(void **state)
{
    (void)state;
    size_t len;
    char first[3 * FLOOD_STAGES + 1];
    char *body = flood_body(&len, first);
    assert_true(len > 1000000);
    char *exact = exact_copy(body, len);
    double t0 = now_s();
    cJSON *o = body_form_object(exact, len);
    double took = now_s() - t0;
    assert_int_equal(cJSON_GetArraySize(o), 1 << FLOOD_STAGES);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, first);
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, "last");
    /* The first name stays where it first came. */
    assert_string_equal(o->child->string, first);
    cJSON_Delete(o);
    free(exact);
    free(body);
    if (took > 1.0)
        fail_msg("1 MB of colliding form names took %.2f s", took);
}

/* What a checker with options says, or "" when it accepts. */
static void check_opts(const char *in, size_t len, unsigned flags, int max_depth,
                       const char *subject, const char *want)
{
    char err[HB_ERR_LEN_TEST] = "";
    struct body_json_check opts = {.flags = flags, .max_depth = max_depth, .subject = subject};
    char *exact = exact_copy(in, len);
    bool ok = body_check_json_opts(exact, len, &opts, NULL, err, sizeof(err));
    free(exact);
    if (ok != (want[0] == '\0'))
        fail_msg("%.*s: %s, want \"%s\"", (int)len, in, ok ? "accepted" : err, want);
    if (!ok && strcmp(err, want) != 0)
        fail_msg("%.*s: \"%s\", want \"%s\"", (int)len, in, err, want);
}

/* Two equal keys in one object are refused by name and place, escapes decoded first; equal
 * keys in different objects are fine; BODY_JSON_ALLOW_DUPS lets them through. */
static void test_check_duplicate_keys(void **state)
{
    (void)state;
    check_opts(LIT("{\"status\":\"completed\",\"status\":\"pending\"}"), 0, 0, NULL,
               "body has duplicate key \"status\" at /");
    check_opts(LIT("{\"a\":1,\"\\u0061\":2}"), 0, 0, NULL, "body has duplicate key \"a\" at /");
    check_opts(LIT("{\"items\":[{\"id\":1},{\"id\":1,\"x\":0,\"id\":2}]}"), 0, 0, NULL,
               "body has duplicate key \"id\" at /items/1");
    check_opts(LIT("{\"a/b\":{\"~\":{\"k\":1,\"k\":1}}}"), 0, 0, NULL,
               "body has duplicate key \"k\" at /a~1b/~0");
    check_opts(LIT("{\"\\ud83d\\ude00\":1,\"\xF0\x9F\x98\x80\":2}"), 0, 0, NULL,
               "body has duplicate key \"\xF0\x9F\x98\x80\" at /");
    check_opts(LIT("{\"\\u0000\":1,\"\\u0000\":2}"), 0, 0, NULL,
               "body has duplicate key \"\\u0000\" at /");
    check_opts(LIT("{\"a\":{\"a\":1},\"b\":{\"a\":{\"a\":2}},\"c\":[{\"a\":1},{\"a\":1}]}"), 0, 0,
               NULL, "");
    check_opts(LIT("{\"a\":\"\",\"a \":\"\",\"A\":\"\",\"\":1}"), 0, 0, NULL, "");
    check_opts(LIT("{\"a\":1,\"a\":2}"), BODY_JSON_ALLOW_DUPS, 0, NULL, "");
    check_opts(LIT("{\"a\":1,\"a\":2}"), 0, 0, "request body",
               "request body has duplicate key \"a\" at /");
    /* body_parse_json refuses them as well, so cJSON never picks one. */
    char err[128];
    assert_null(body_parse_json(LIT("{\"x\":[],\"x\":{}}"), err, sizeof(err)));
    assert_string_equal(err, "body has duplicate key \"x\" at /");
}

/* A long duplicate key is cut at a character boundary: the message stays UTF-8. */
static void test_check_duplicate_long_key(void **state)
{
    (void)state;
    char body[2048], *o = body;
    for (int k = 0; k < 2; k++) {
        *o++ = k ? ',' : '{';
        *o++ = '"';
        for (int i = 0; i < 300; i++) {
            memcpy(o, "\xC3\xA9", 2);
            o += 2;
        }
        memcpy(o, "\":1", 3);
        o += 3;
    }
    *o++ = '}';
    char err[HB_ERR_LEN_TEST];
    assert_false(body_check_json(body, (size_t)(o - body), NULL, err, sizeof(err)));
    assert_true(utf8_valid(err, strlen(err), false));
    assert_non_null(strstr(err, "body has duplicate key \"\xC3\xA9\xC3\xA9"));
    assert_non_null(strstr(err, "..."));
    /* A small buffer too. */
    char small[40];
    assert_false(body_check_json(body, (size_t)(o - body), NULL, small, sizeof(small)));
    assert_true(utf8_valid(small, strlen(small), false));
}

/* Many keys check in linear time: 100,000 distinct keys in one object, and as many
 * single-key objects, each well under a second. */
static void test_check_many_keys(void **state)
{
    (void)state;
    size_t n = 100000, cap = n * 24 + 16;
    char *body = xmalloc(cap), *o = body;
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += snprintf(o, cap - (size_t)(o - body), "%s\"k%zu\":%zu", i ? "," : "", i, i);
    *o++ = '}';
    char err[128] = "";
    double t0 = now_s();
    bool ok = body_check_json(body, (size_t)(o - body), NULL, err, sizeof(err));
    double took = now_s() - t0;
    if (!ok)
        fail_msg("refused: %s", err);
    if (took > 1.0)
        fail_msg("100,000 keys took %.2f s", took);
    /* The last key repeating the first is found. */
    o[-1] = ',';
    o += snprintf(o, cap - (size_t)(o - body), "\"k0\":1}");
    assert_false(body_check_json(body, (size_t)(o - body), NULL, err, sizeof(err)));
    assert_string_equal(err, "body has duplicate key \"k0\" at /");

    o = body;
    *o++ = '[';
    for (size_t i = 0; i < n; i++)
        o += snprintf(o, cap - (size_t)(o - body), "%s{\"k\":%zu}", i ? "," : "", i);
    *o++ = ']';
    t0 = now_s();
    ok = body_check_json(body, (size_t)(o - body), NULL, err, sizeof(err));
    took = now_s() - t0;
    assert_true(ok);
    if (took > 1.0)
        fail_msg("100,000 objects took %.2f s", took);
    free(body);
}

/* BODY_JSON_NO_NUL refuses a \u0000 escape in a string or a key, naming the place; without
 * it (inbound bodies) the escape is valid JSON and accepted. Invalid UTF-8 is named by
 * place; the depth limit and the subject follow the options. */
static void test_check_opts_places(void **state)
{
    (void)state;
    const unsigned nn = BODY_JSON_NO_NUL;
    const char *rb = "request body";
    check_opts(LIT("{\"outbound_url\":\"http://x/ok\\u0000ftp://evil\"}"), nn, 0, rb,
               "request body has \\u0000 in the string at /outbound_url");
    check_opts(LIT("{\"outbound_url\":\"http://x/ok\\u0000ftp://evil\"}"), 0, 0, rb, "");
    check_opts(LIT("{\"env\":{\"API/TOKEN\":\"a\\u0000\"}}"), nn, 0, rb,
               "request body has \\u0000 in the string at /env/API~1TOKEN");
    check_opts(LIT("{\"headers\":{\"X-A\\u0000\":\"1\"}}"), nn, 0, rb,
               "request body has \\u0000 in a key at /headers");
    check_opts(LIT("[1,[\"\\u0000\"]]"), nn, 0, NULL, "body has \\u0000 in the string at /1/0");
    check_opts(LIT("\"\\u0000\""), nn, 0, NULL, "body has \\u0000 in the string");
    check_opts(LIT("{\"name\":\"\xFF\xFE\"}"), nn, 0, rb,
               "request body is not valid UTF-8 at /name");
    check_opts(LIT("{\"a\":{\"b\":[0,{\"\xC0\":1}]}}"), 0, 0, NULL,
               "body is not valid UTF-8 in a key at /a/b/1");
    check_opts(LIT("{\"name\":\"\xFF\"} \xFF"), 0, 0, rb,
               "request body is not valid UTF-8 at /name");
    check_opts(LIT("[[[1]]]"), 0, 2, rb, "request body nests deeper than 2 levels");
    check_opts(LIT("[[[1]]]"), 0, 3, rb, "");
    check_opts(LIT("[1"), 0, 0, rb, "request body is not valid JSON (near byte 2)");
    check_opts(LIT(" "), 0, 0, rb, "request body is empty");
}

/* A bridge's schema may compare strings holding U+0000; every other field may not. */
static void test_check_nul_ok_under(void **state)
{
    (void)state;
    const struct body_json_check opts = {
        .flags = BODY_JSON_NO_NUL, .subject = "request body", .nul_ok_under = "schema"};
    char err[256];
    const char *ok = "{\"schema\":{\"const\":\"a\\u0000b\",\"enum\":[\"\\u0000\"]}}";
    assert_true(body_check_json_opts(ok, strlen(ok), &opts, NULL, err, sizeof(err)));
    const char *bad[][2] = {
        {"{\"schema\":{},\"name\":\"a\\u0000\"}",
         "request body has \\u0000 in the string at /name"},
        {"{\"schema\":{\"a\\u0000\":1}}", "request body has \\u0000 in a key at /schema"},
        {"{\"schemas\":\"\\u0000\"}", "request body has \\u0000 in the string at /schemas"},
        {"[\"schema\",\"\\u0000\"]", "request body has \\u0000 in the string at /1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(
            body_check_json_opts(bad[i][0], strlen(bad[i][0]), &opts, NULL, err, sizeof(err)));
        assert_string_equal(err, bad[i][1]);
    }
}

int main(void)
{
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctype_is_json),
        cmocka_unit_test(test_ctype_is_form),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_bare_types),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_null_empty),
        cmocka_unit_test(test_parse_length_not_nul),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_ignores_strings),
        cmocka_unit_test(test_depth_after_escaped_backslash),
        cmocka_unit_test(test_parse_large),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_form_object),
        cmocka_unit_test(test_form_values_are_strings),
        cmocka_unit_test(test_check_strict),
        cmocka_unit_test(test_check_is_string),
        cmocka_unit_test(test_form_hash_flood),
        cmocka_unit_test(test_check_duplicate_keys),
        cmocka_unit_test(test_check_duplicate_long_key),
        cmocka_unit_test(test_check_many_keys),
        cmocka_unit_test(test_check_opts_places),
        cmocka_unit_test(test_check_nul_ok_under),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_jsonschema.c - unit tests for common/jsonschema.c: every keyword's valid and invalid
 * cases with the exact ajv-style messages and JSON pointer paths the header lists, $ref
 * resolution (pointers, escapes, $id base changes, anchors, recursion that consumes the
 * instance), compile errors that name the keyword and its place, ref loops refused at compile
 * time, deep instances, max_errors, and boolean schemas.
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

#include <cjson/cJSON.h>

#include <math.h>
#include <time.h>

#include "body.h"
#include "jsonschema.h"
#include "schemas.h"
#include "xalloc.h"

static struct jsonschema *compile_text(const char *text)
{
    char err[256];
    cJSON *schema = cJSON_Parse(text);
    if (schema == NULL)
        fail_msg("test schema is not JSON: %s", text);
    struct jsonschema *js = NULL;
    if (jsonschema_compile(schema, &js, err, sizeof(err)) != 0)
        fail_msg("schema %s refused: %s", text, err);
    cJSON_Delete(schema);
    return js;
}

/* The errors as "path: message" lines, for exact comparison. */
static char *render_errors(const cJSON *errors)
{
    size_t cap = 1, len = 0;
    char *out = xcalloc(1, 1);
    for (const cJSON *e = errors->child; e != NULL; e = e->next) {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(e, "path"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
        assert_non_null(path);
        assert_non_null(msg);
        assert_int_equal(cJSON_GetArraySize(e), 2);
        char *line = xasprintf("%s%s: %s", len > 0 ? "\n" : "", path, msg);
        cap += strlen(line);
        out = xrealloc(out, cap);
        memcpy(out + len, line, strlen(line) + 1);
        len += strlen(line);
        free(line);
    }
    return out;
}

/*
 * Validate `instance` against `schema`: the answer must be `valid`, and with errors on,
 * exactly `want` (NULL for none). Without collection the answer must be the same.
 */
static void expect(const char *schema, const char *instance, bool valid, const char *want)
{
    struct jsonschema *js = compile_text(schema);
    cJSON *inst = cJSON_Parse(instance);
    if (inst == NULL)
        fail_msg("test instance is not JSON: %s", instance);
    cJSON *errors = cJSON_CreateArray();
    bool got = jsonschema_validate(js, inst, errors, 20);
    bool quick = jsonschema_validate(js, inst, NULL, 0);
    char *text = render_errors(errors);
    if (got != valid || quick != valid || strcmp(text, want ? want : "") != 0)
        fail_msg("schema %s\ninstance %s\nwant %s [%s]\ngot %s/%s [%s]", schema, instance,
                 valid ? "valid" : "invalid", want ? want : "", got ? "valid" : "invalid",
                 quick ? "valid" : "invalid", text);
    free(text);
    cJSON_Delete(errors);
    cJSON_Delete(inst);
    jsonschema_free(js);
}

struct vcase {
    const char *schema, *instance;
    bool valid;
    const char *errors;
};

static void run_cases(const struct vcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect(cases[i].schema, cases[i].instance, cases[i].valid, cases[i].errors);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* The SPEC's example: a meter reading (as written, serialNumber is also an extra property). */
#define METER(extra)                                                                               \
    "{\"type\":\"object\",\"required\":[\"serialNumber\"],\"properties\":{" extra                  \
    "\"customerId\":"                                                                              \
    "{\"type\":\"string\",\"format\":\"uuid\"},\"reading\":{\"type\":\"number\",\"maximum\":9999}" \
    "},"                                                                                           \
    "\"additionalProperties\":false}"
#define SERIAL "\"serialNumber\":{\"type\":\"string\"},"

static void test_meter_reading(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {METER(""), "{\"customerId\":\"nope\",\"reading\":10000}", false,
         ": must have required property 'serialNumber'\n"
         "/customerId: must match format \"uuid\"\n"
         "/reading: must be <= 9999"},
        {METER(""), "{\"serialNumber\":\"A1\"}", false,
         ": must NOT have additional property \"serialNumber\""},
        {METER(SERIAL),
         "{\"serialNumber\":\"A1\",\"customerId\":\"123e4567-e89b-12d3-a456-426614174000\","
         "\"reading\":12.5}",
         true, NULL},
        {METER(SERIAL), "{\"customerId\":\"nope\",\"reading\":10000,\"extra\":1}", false,
         ": must have required property 'serialNumber'\n"
         "/customerId: must match format \"uuid\"\n"
         "/reading: must be <= 9999\n"
         ": must NOT have additional property \"extra\""},
        {METER(SERIAL), "{\"serialNumber\":1,\"reading\":\"9\"}", false,
         "/serialNumber: must be string\n/reading: must be number"},
        {METER(SERIAL), "[]", false, ": must be object"},
    };
    RUN(cases);
}

static void test_type(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"type\":\"string\"}", "\"a\"", true, NULL},
        {"{\"type\":\"string\"}", "1", false, ": must be string"},
        {"{\"type\":\"integer\"}", "1", true, NULL},
        {"{\"type\":\"integer\"}", "1.0", true, NULL},
        {"{\"type\":\"integer\"}", "-7e3", true, NULL},
        {"{\"type\":\"integer\"}", "1.5", false, ": must be integer"},
        {"{\"type\":\"integer\"}", "\"1\"", false, ": must be integer"},
        {"{\"type\":\"number\"}", "3", true, NULL},
        {"{\"type\":\"number\"}", "true", false, ": must be number"},
        {"{\"type\":\"boolean\"}", "false", true, NULL},
        {"{\"type\":\"boolean\"}", "0", false, ": must be boolean"},
        {"{\"type\":\"null\"}", "null", true, NULL},
        {"{\"type\":\"null\"}", "false", false, ": must be null"},
        {"{\"type\":\"object\"}", "{}", true, NULL},
        {"{\"type\":\"array\"}", "{}", false, ": must be array"},
        {"{\"type\":[\"string\",\"null\"]}", "null", true, NULL},
        {"{\"type\":[\"string\",\"null\"]}", "1", false, ": must be string,null"},
        {"{\"type\":[\"integer\",\"boolean\"]}", "2.5", false, ": must be integer,boolean"},
    };
    RUN(cases);
}

static void test_enum_const(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "1.0", true, NULL},
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "null", true, NULL},
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "{\"x\":[1,2.0]}", true, NULL},
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "{\"x\":[2,1]}", false,
         ": must be equal to one of the allowed values"},
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "true", false,
         ": must be equal to one of the allowed values"},
        {"{\"enum\":[1,\"a\",{\"x\":[1,2]},null]}", "\"A\"", false,
         ": must be equal to one of the allowed values"},
        {"{\"const\":{\"a\":1,\"b\":[true]}}", "{\"b\":[true],\"a\":1.0}", true, NULL},
        {"{\"const\":{\"a\":1,\"b\":[true]}}", "{\"a\":1}", false, ": must be equal to constant"},
        {"{\"const\":{\"a\":1,\"b\":[true]}}", "{\"a\":1,\"b\":[true],\"c\":0}", false,
         ": must be equal to constant"},
        {"{\"const\":1}", "true", false, ": must be equal to constant"},
        {"{\"const\":false}", "0", false, ": must be equal to constant"},
        {"{\"const\":null}", "null", true, NULL},
        {"{\"const\":null}", "0", false, ": must be equal to constant"},
        {"{\"const\":[]}", "{}", false, ": must be equal to constant"},
    };
    RUN(cases);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"maximum\":9999}", "9999", true, NULL},
        {"{\"maximum\":9999}", "9999.5", false, ": must be <= 9999"},
        {"{\"maximum\":1.5}", "2", false, ": must be <= 1.5"},
        {"{\"exclusiveMaximum\":10}", "9.99", true, NULL},
        {"{\"exclusiveMaximum\":10}", "10", false, ": must be < 10"},
        {"{\"minimum\":1}", "1", true, NULL},
        {"{\"minimum\":1}", "0", false, ": must be >= 1"},
        {"{\"exclusiveMinimum\":0}", "0", false, ": must be > 0"},
        {"{\"exclusiveMinimum\":0}", "1e-9", true, NULL},
        {"{\"minimum\":-0.5}", "-0.75", false, ": must be >= -0.5"},
        {"{\"minimum\":5}", "\"3\"", true, NULL},
        {"{\"multipleOf\":5}", "25", true, NULL},
        {"{\"multipleOf\":5}", "7", false, ": must be multiple of 5"},
        {"{\"multipleOf\":0.01}", "19.99", true, NULL},
        {"{\"multipleOf\":0.01}", "0.07", true, NULL},
        {"{\"multipleOf\":0.01}", "0.075", false, ": must be multiple of 0.01"},
        {"{\"multipleOf\":0.0001}", "0.0075", true, NULL},
        {"{\"multipleOf\":0.0001}", "0.00751", false, ": must be multiple of 0.0001"},
        {"{\"multipleOf\":1.5}", "4.5", true, NULL},
        {"{\"multipleOf\":0.5}", "1e308", true, NULL},
        {"{\"multipleOf\":0.123456789}", "1e308", false, ": must be multiple of 0.123456789"},
        {"{\"maximum\":3,\"multipleOf\":2}", "5", false, ": must be <= 3\n: must be multiple of 2"},
    };
    RUN(cases);
}

static void test_strings(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"maxLength\":3}", "\"abc\"", true, NULL},
        {"{\"maxLength\":3}", "\"abcd\"", false, ": must NOT have more than 3 characters"},
        /* Code points, not bytes: "é日本" is 7 bytes, 3 characters; an emoji is one. */
        {"{\"maxLength\":3}", "\"\\u00e9\\u65e5\\u672c\"", true, NULL},
        {"{\"maxLength\":1}", "\"\\ud83d\\ude00\"", true, NULL},
        {"{\"minLength\":2}", "\"\\ud83d\\ude00\"", false,
         ": must NOT have fewer than 2 characters"},
        {"{\"minLength\":2}", "5", true, NULL},
        {"{\"pattern\":\"^a\"}", "\"abc\"", true, NULL},
        {"{\"pattern\":\"^a\"}", "\"ba\"", false, ": must match pattern \"^a\""},
        {"{\"pattern\":\"a\"}", "\"xax\"", true, NULL},
        {"{\"pattern\":\"^abc$\"}", "\"abc\\n\"", false, ": must match pattern \"^abc$\""},
        {"{\"pattern\":\"^\\\\u00e9$\"}", "\"\\u00e9\"", true, NULL},
        {"{\"pattern\":\"^\\\\d+$\"}", "\"\\u09ea\"", false, ": must match pattern \"^\\d+$\""},
        {"{\"pattern\":\"^\\\\s$\"}", "\"\\u00a0\"", true, NULL},
        {"{\"pattern\":\"^\\\\s$\"}", "\"\\ufeff\"", true, NULL},
        {"{\"pattern\":\"^[\\\\s]$\"}", "\"\\u2003\"", true, NULL},
        {"{\"pattern\":\"^\\\\S$\"}", "\"\\u2003\"", false, ": must match pattern \"^\\S$\""},
        {"{\"pattern\":\"^\\\\p{Letter}+$\"}", "\"\\u00e9t\\u00e9\"", true, NULL},
        {"{\"pattern\":\"^.$\"}", "\"\\ud83d\\udc32\"", true, NULL},
        {"{\"pattern\":\"^a\"}", "7", true, NULL},
        /* Catastrophic backtracking hits the match limit: refused as too costly, not a
         * stall, and not a "no match" that "not" would turn into valid. */
        {"{\"pattern\":\"^(a+)+$\"}", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"",
         false, ": pattern \"^(a+)+$\" is too costly to evaluate on this value"},
        {"{\"properties\":{\"k\":{\"not\":{\"pattern\":\"^(a+)+$\"}}},\"minItems\":9}",
         "{\"k\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"}", false,
         "/k: pattern \"^(a+)+$\" is too costly to evaluate on this value"},
        {"{\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"", true, NULL},
        {"{\"format\":\"uuid\"}", "\"123e4567e89b12d3a456426614174000\"", false,
         ": must match format \"uuid\""},
        {"{\"format\":\"uuid\"}", "12", true, NULL},
        {"{\"format\":\"date\"}", "\"2024-02-30\"", false, ": must match format \"date\""},
        {"{\"format\":\"email\"}", "null", true, NULL},
    };
    RUN(cases);
}

static void test_objects(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"properties\":{\"a/b\":{\"type\":\"string\"},\"m~n\":{\"type\":\"string\"}}}",
         "{\"a/b\":1,\"m~n\":2}", false, "/a~1b: must be string\n/m~0n: must be string"},
        {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"x-a\":1,\"b\":2,\"c\":3}", false,
         "/x-a: must be string\n: must NOT have additional property \"b\"\n"
         ": must NOT have additional property \"c\""},
        {"{\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"x-a\":\"1\"}", true, NULL},
        {"{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"integer\"}}",
         "{\"a\":\"s\",\"b\":\"t\"}", false, "/b: must be integer"},
        {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abc\":1}", true, NULL},
        {"{\"propertyNames\":{\"maxLength\":3}}", "{\"abcd\":1,\"efgh\":2}", false,
         ": property name must be valid"},
        {"{\"propertyNames\":false}", "{}", true, NULL},
        {"{\"required\":[\"a\",\"b\"]}", "{\"b\":1}", false, ": must have required property 'a'"},
        {"{\"required\":[\"a\"]}", "[\"a\"]", true, NULL},
        {"{\"dependencies\":{\"a\":[\"b\",\"c\"]}}", "{\"a\":1,\"c\":1}", false,
         ": must have property b when property a is present"},
        {"{\"dependencies\":{\"a\":[\"b\"]}}", "{\"b\":1}", true, NULL},
        {"{\"dependencies\":{\"c\":{\"required\":[\"d\"]}}}", "{\"c\":1}", false,
         ": must have required property 'd'"},
        {"{\"maxProperties\":4}", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}", false,
         ": must NOT have more than 4 properties"},
        {"{\"minProperties\":2}", "{\"a\":1}", false, ": must NOT have fewer than 2 properties"},
        {"{\"properties\":{\"a\":{\"properties\":{\"b\":{\"items\":{\"type\":\"string\"}}}}}}",
         "{\"a\":{\"b\":[\"x\",2]}}", false, "/a/b/1: must be string"},
    };
    RUN(cases);
}

static void test_arrays(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"{\"items\":{\"type\":\"integer\"}}", "[1,\"x\",3,null]", false,
         "/1: must be integer\n/3: must be integer"},
        {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}", "[\"a\"]", true, NULL},
        {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}", "[\"a\",1,2]", false,
         ": must NOT have more than 1 items"},
        {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"number\"}}",
         "[1,2,\"c\"]", false, "/0: must be string\n/2: must be number"},
        {"{\"additionalItems\":false}", "[1,2]", true, NULL},
        {"{\"maxItems\":2}", "[1,2,3]", false, ": must NOT have more than 2 items"},
        {"{\"minItems\":1}", "[]", false, ": must NOT have fewer than 1 items"},
        {"{\"contains\":{\"const\":5}}", "[1,5]", true, NULL},
        {"{\"contains\":{\"const\":5}}", "[1,2]", false, ": must contain at least 1 valid item(s)"},
        {"{\"contains\":{\"const\":5}}", "[]", false, ": must contain at least 1 valid item(s)"},
        {"{\"uniqueItems\":true}", "[1,1]", false,
         ": must NOT have duplicate items (items ## 1 and 0 are identical)"},
        {"{\"uniqueItems\":true}", "[1,2,1]", false,
         ": must NOT have duplicate items (items ## 2 and 0 are identical)"},
        {"{\"uniqueItems\":true}", "[{\"a\":1,\"b\":2},3,{\"b\":2,\"a\":1.0}]", false,
         ": must NOT have duplicate items (items ## 2 and 0 are identical)"},
        {"{\"uniqueItems\":true}", "[1,true,\"1\",[1],[true],0,false,null,{}]", true, NULL},
        {"{\"uniqueItems\":true}", "[1,2,1,2]", false,
         ": must NOT have duplicate items (items ## 3 and 1 are identical)"},
        {"{\"uniqueItems\":true}", "[0,-0]", false,
         ": must NOT have duplicate items (items ## 1 and 0 are identical)"},
        {"{\"uniqueItems\":false}", "[1,1]", true, NULL},
        /* Equality is structural: order of members, 1 and 1.0, nesting, lengths. */
        {"{\"uniqueItems\":true}",
         "[[1,[2,{\"x\":{\"p\":1,\"q\":[]}}]],[1.0,[2,{\"x\":{\"q\":[],\"p\":1}}]]]", false,
         ": must NOT have duplicate items (items ## 1 and 0 are identical)"},
        {"{\"uniqueItems\":true}", "[[\"ab\",\"c\"],[\"a\",\"bc\"],{\"ab\":\"c\"},{\"a\":\"bc\"}]",
         true, NULL},
        {"{\"uniqueItems\":true}", "[[1,2],[2,1],{\"a\":[]},{\"a\":{}},[[]],[{}]]", true, NULL},
        {"{\"uniqueItems\":true}", "[\"a\",\"b\",\"a\",\"b\",\"a\"]", false,
         ": must NOT have duplicate items (items ## 4 and 2 are identical)"},
    };
    RUN(cases);
}

/*
 * The hash uniqueItems once used (type, then h * 31 + item for arrays, finished by an
 * invertible mix): inverting it gives, for any item a, a number b such that every pair
 * [a, b] hashes alike, which sent the duplicate search quadratic.
 */
#define OLD_GOLDEN 0x9E3779B97F4A7C15u
#define OLD_MIX 0xBF58476D1CE4E5B9u

static uint64_t old_finish(uint64_t h)
{
    h ^= h >> 29;
    h *= OLD_MIX;
    return h ^ (h >> 32);
}

static uint64_t old_unfinish(uint64_t y)
{
    uint64_t inv = OLD_MIX; /* Newton's iteration for the inverse modulo 2^64 */
    for (int i = 0; i < 6; i++)
        inv *= 2 - OLD_MIX * inv;
    uint64_t h1 = (y ^ (y >> 32)) * inv;
    return h1 ^ (h1 >> 29) ^ (h1 >> 58);
}

static uint64_t old_hash_number(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return old_finish((uint64_t)cJSON_Number * OLD_GOLDEN ^ bits);
}

/* A finite number b with old_hash([a, b]) equal for every a (false when none fits). */
static bool old_colliding_partner(double a, double *b)
{
    uint64_t base = (uint64_t)cJSON_Array * OLD_GOLDEN * 31 * 31;
    uint64_t want = 0 - base - 31 * old_hash_number(a); /* so that the array's sum is 0 */
    uint64_t bits = old_unfinish(want) ^ ((uint64_t)cJSON_Number * OLD_GOLDEN);
    memcpy(b, &bits, sizeof(*b));
    return isfinite(*b) && *b != 0 && old_hash_number(*b) == want;
}

/*
 * 30,000 distinct pairs (about 1 MB of JSON) that all collided under the old hash: the
 * search compared them all with all (seconds); now well under a second even under ASan.
 */
static void test_unique_items_colliding(void **state)
{
    (void)state;
    struct jsonschema *js = compile_text("{\"uniqueItems\":true}");
    cJSON *big = cJSON_CreateArray();
    int made = 0;
    for (int i = 0; made < 30000; i++) {
        double b;
        if (!old_colliding_partner(i, &b))
            continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(i));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(b));
        cJSON_AddItemToArray(big, pair);
        made++;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(jsonschema_validate(js, big, NULL, 0));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (secs > 1.0)
        fail_msg("uniqueItems over 30,000 crafted pairs took %.2f s", secs);
    cJSON_Delete(big);
    jsonschema_free(js);
}

/*
 * The regex budget is per validation, not per match: 1,000 property names that each make
 * ^(a+)+$ backtrack (just under the one-match limit each) stop at the shared budget with
 * the "too costly" error, in a fraction of the time the matches would take together.
 */
static void test_regex_budget_shared(void **state)
{
    (void)state;
    struct jsonschema *js =
        compile_text("{\"patternProperties\":{\"^(a+)+$\":{}},\"additionalProperties\":true}");
    cJSON *o = cJSON_CreateObject();
    char name[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof(name), "aaaaaaaaaaaaaa%04d", i);
        (void)n;
        cJSON_AddItemToObject(o, name, cJSON_CreateNumber(i));
    }
    cJSON *errors = cJSON_CreateArray();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ok = jsonschema_validate(js, o, errors, 20);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_false(ok);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(errors->child, "message"));
    assert_non_null(strstr(msg, "too costly"));
    if (secs > 0.5)
        fail_msg("1,000 costly names took %.2f s", secs);
    cJSON_Delete(errors);
    cJSON_Delete(o);
    jsonschema_free(js);
}

/* uniqueItems stays fast on the largest arrays a body can hold. */
static void test_unique_items_large(void **state)
{
    (void)state;
    struct jsonschema *js = compile_text("{\"uniqueItems\":true}");
    cJSON *big = cJSON_CreateArray();
    for (int i = 0; i < 200000; i++)
        cJSON_AddItemToArray(big, cJSON_CreateNumber(i));
    assert_true(jsonschema_validate(js, big, NULL, 0));
    cJSON_AddItemToArray(big, cJSON_CreateNumber(7.0));
    cJSON *errors = cJSON_CreateArray();
    assert_false(jsonschema_validate(js, big, errors, 5));
    char *text = render_errors(errors);
    assert_string_equal(text,
                        ": must NOT have duplicate items (items ## 200000 and 7 are identical)");
    free(text);
    cJSON_Delete(errors);
    cJSON_Delete(big);
    jsonschema_free(js);
}

static void test_combinators(void **state)
{
    (void)state;
    static const char *const if_then =
        "{\"if\":{\"properties\":{\"country\":{\"const\":\"US\"}},\"required\":[\"country\"]},"
        "\"then\":{\"required\":[\"zip\"]},\"else\":{\"required\":[\"postcode\"]}}";
    static const struct vcase cases[] = {
        /* allOf passes its members' errors through; the others summarise. */
        {"{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":2}]}", "\"abc\"", false,
         ": must NOT have more than 2 characters"},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "5", true, NULL},
        {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "1", false,
         ": must match a schema in anyOf"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "1", true, NULL},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "5", false,
         ": must match exactly one schema in oneOf"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "1.5", false,
         ": must match exactly one schema in oneOf"},
        {"{\"not\":{\"type\":\"string\"}}", "1", true, NULL},
        {"{\"not\":{\"type\":\"string\"}}", "\"a\"", false, ": must NOT be valid"},
        {if_then, "{\"country\":\"US\",\"zip\":\"1\"}", true, NULL},
        {if_then, "{\"country\":\"US\"}", false,
         ": must have required property 'zip'\n: must match \"then\" schema"},
        {if_then, "{\"country\":\"FR\"}", false,
         ": must have required property 'postcode'\n: must match \"else\" schema"},
        {"{\"then\":false}", "1", true, NULL},
        {"{\"if\":true,\"else\":false}", "1", true, NULL},
        {"{\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"null\"},{\"minimum\":0}]}}}", "{\"a\":-1}",
         false, "/a: must match a schema in anyOf"},
    };
    RUN(cases);
}

static void test_boolean_schemas(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"true", "{\"anything\":[1]}", true, NULL},
        {"false", "null", false, ": boolean schema is false"},
        {"{\"properties\":{\"a\":false}}", "{\"a\":1}", false, "/a: boolean schema is false"},
        {"{\"properties\":{\"a\":false}}", "{\"b\":1}", true, NULL},
        {"{\"items\":[true,false]}", "[1,2]", false, "/1: boolean schema is false"},
        {"{\"allOf\":[true,{\"not\":false}]}", "3", true, NULL},
    };
    RUN(cases);
}

static void test_refs(void **state)
{
    (void)state;
    static const char *const tree =
        "{\"$id\":\"http://example.com/tree\",\"type\":\"object\",\"required\":[\"value\"],"
        "\"properties\":{\"value\":{\"type\":\"number\"},"
        "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}";
    static const struct vcase cases[] = {
        {"{\"definitions\":{\"pos\":{\"minimum\":1}},\"properties\":{\"n\":{\"$ref\":"
         "\"#/definitions/pos\"}}}",
         "{\"n\":0}", false, "/n: must be >= 1"},
        {"{\"$defs\":{\"s\":{\"type\":\"string\"}},\"items\":{\"$ref\":\"#/$defs/s\"}}",
         "[\"a\",1]", false, "/1: must be string"},
        /* draft-07: the siblings of $ref are ignored. */
        {"{\"definitions\":{\"a\":{\"type\":\"array\"}},\"properties\":{\"f\":{\"$ref\":"
         "\"#/definitions/a\",\"maxItems\":1}}}",
         "{\"f\":[1,2,3]}", true, NULL},
        {"{\"definitions\":{\"t~x/y%z\":{\"type\":\"integer\"}},\"$ref\":"
         "\"#/definitions/t~0x~1y%25z\"}",
         "\"s\"", false, ": must be integer"},
        {"{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"$ref\":\"#/properties/a\"}}}",
         "{\"b\":\"x\"}", false, "/b: must be integer"},
        {"{\"items\":[{\"type\":\"integer\"},{\"$ref\":\"#/items/0\"}]}", "[1,\"x\"]", false,
         "/1: must be integer"},
        /* A nested $id changes what "#/definitions/x" means inside it, unless beside $ref. */
        {"{\"$id\":\"http://x.test/a.json\",\"definitions\":{\"x\":{\"type\":\"string\"}},"
         "\"properties\":{\"p\":{\"$id\":\"b.json\",\"definitions\":{\"x\":{\"type\":\"integer\"}},"
         "\"$ref\":\"#/definitions/x\"}}}",
         "{\"p\":\"s\"}", true, NULL},
        {"{\"$id\":\"http://x.test/a.json\",\"properties\":{\"p\":{\"$id\":\"b.json\","
         "\"definitions\":{\"x\":{\"type\":\"integer\"}},\"allOf\":[{\"$ref\":"
         "\"#/definitions/x\"}]},\"q\":{\"$ref\":\"b.json#/definitions/x\"}}}",
         "{\"p\":\"s\",\"q\":\"s\"}", false, "/p: must be integer\n/q: must be integer"},
        {"{\"allOf\":[{\"$ref\":\"#foo\"}],\"definitions\":{\"A\":{\"$id\":\"#foo\",\"type\":"
         "\"integer\"}}}",
         "\"a\"", false, ": must be integer"},
        {"{\"definitions\":{\"e\":{\"enum\":[{\"$ref\":\"#/definitions/s\"}]},\"s\":{\"type\":"
         "\"string\"}},\"$ref\":\"#/definitions/e\"}",
         "\"x\"", false, ": must be equal to one of the allowed values"},
        {tree, "{\"value\":1,\"children\":[{\"value\":2,\"children\":[]},{\"value\":3}]}", true,
         NULL},
        {tree, "{\"value\":1,\"children\":[{\"value\":2,\"children\":[{\"value\":\"x\"}]}]}", false,
         "/children/0/children/0/value: must be number"},
        {"{\"properties\":{\"next\":{\"$ref\":\"#\"}},\"additionalProperties\":false}",
         "{\"next\":{\"next\":{\"other\":1}}}", false,
         "/next/next: must NOT have additional property \"other\""},
    };
    RUN(cases);
}

struct ccase {
    const char *schema, *err;
};

static void expect_refused(const char *schema, const char *want, bool prefix)
{
    char err[256];
    cJSON *json = cJSON_Parse(schema);
    if (json == NULL)
        fail_msg("test schema is not JSON: %s", schema);
    /* Any non-NULL value: a refused compile must reset it. */
    struct jsonschema *js = (struct jsonschema *)&err;
    int rc = jsonschema_compile(json, &js, err, sizeof(err));
    cJSON_Delete(json);
    if (rc != -1 || js != NULL)
        fail_msg("schema %s compiled, want error %s", schema, want);
    size_t n = prefix ? strlen(want) : strlen(want) + 1;
    if (strncmp(err, want, n) != 0)
        fail_msg("schema %s\nwant error %s%s\ngot  %s", schema, want, prefix ? "…" : "", err);
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct ccase cases[] = {
        {"{\"properties\":{\"a\":{\"$dynamicRef\":\"#x\"}}}",
         "unsupported keyword \"$dynamicRef\" at /properties/a"},
        {"{\"typo\":1}", "unsupported keyword \"typo\" at /"},
        {"{\"definitions\":{\"x\":{\"items\":[{\"unevaluatedItems\":false}]}}}",
         "unsupported keyword \"unevaluatedItems\" at /definitions/x/items/0"},
        {"{\"properties\":{\"tel\":{\"format\":\"phone\"}}}",
         "unknown format \"phone\" at /properties/tel"},
        {"{\"format\":\"regex\"}", "unknown format \"regex\" at /"},
        {"{\"$ref\":\"http://example.com/x.json\"}",
         "unsupported remote $ref \"http://example.com/x.json\" at /"},
        {"{\"properties\":{\"a\":{\"$ref\":\"other.json#/definitions/b\"}}}",
         "unsupported remote $ref \"other.json#/definitions/b\" at /properties/a"},
        {"{\"$ref\":\"#/definitions/missing\"}",
         "unresolvable $ref \"#/definitions/missing\" at /"},
        {"{\"items\":{\"$ref\":\"#nowhere\"}}", "unresolvable $ref \"#nowhere\" at /items"},
        {"{\"items\":{\"$ref\":\"#/items/%zz\"}}", "unresolvable $ref \"#/items/%zz\" at /items"},
        {"{\"properties\":{\"name\":{\"minLength\":-1}}}",
         "minLength must be a non-negative integer at /properties/name"},
        {"{\"maxItems\":1.5}", "maxItems must be a non-negative integer at /"},
        {"{\"minProperties\":\"3\"}", "minProperties must be a non-negative integer at /"},
        {"{\"maximum\":\"3\"}", "maximum must be a number at /"},
        {"{\"multipleOf\":0}", "multipleOf must be greater than 0 at /"},
        {"{\"multipleOf\":-2}", "multipleOf must be greater than 0 at /"},
        {"{\"type\":\"strin\"}", "type must be a type name or an array of distinct ones at /"},
        {"{\"type\":[\"string\",\"string\"]}",
         "type must be a type name or an array of distinct ones at /"},
        {"{\"type\":3}", "type must be a type name or an array of distinct ones at /"},
        {"{\"required\":\"a\"}", "required must be an array of strings at /"},
        {"{\"required\":[1]}", "required must be an array of strings at /"},
        {"{\"enum\":1}", "enum must be an array at /"},
        {"{\"allOf\":[]}", "allOf must be a non-empty array of schemas at /"},
        {"{\"anyOf\":{}}", "anyOf must be a non-empty array of schemas at /"},
        {"{\"items\":[1]}", "schema must be an object or a boolean at /items/0"},
        {"{\"not\":\"x\"}", "schema must be an object or a boolean at /not"},
        {"{\"properties\":[]}", "properties must be an object at /"},
        {"{\"dependencies\":{\"a\":[1]}}",
         "dependencies/a must be a schema or an array of strings at /"},
        {"{\"uniqueItems\":1}", "uniqueItems must be a boolean at /"},
        {"{\"$ref\":1}", "$ref must be a string at /"},
        {"{\"title\":2}", "title must be a string at /"},
        {"{\"type\":\"string\",\"type\":\"number\"}", "duplicate keyword \"type\" at /"},
        {"5", "schema must be an object or a boolean at /"},
        {"null", "schema must be an object or a boolean at /"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(cases[i].schema, cases[i].err, false);
    /* The regex error's detail is PCRE2's own wording. */
    expect_refused("{\"pattern\":\"a(\"}", "invalid regular expression at /pattern: ", true);
    expect_refused("{\"properties\":{\"x\":{\"patternProperties\":{\"[\":{}}}}}",
                   "invalid regular expression at /properties/x/patternProperties/[: ", true);
    expect_refused("{\"propertyNames\":{\"pattern\":\"\\\\p{Nonsense}\"}}",
                   "invalid regular expression at /propertyNames/pattern: ", true);

    char err[64];
    struct jsonschema *js = NULL;
    assert_int_equal(jsonschema_compile(NULL, &js, err, sizeof(err)), -1);
    assert_null(js);
}

/* Annotation values and names are data: nothing in them is a keyword. */
static void test_annotations_are_data(void **state)
{
    (void)state;
    static const char *const schemas[] = {
        "{\"default\":{\"$dynamicRef\":1,\"format\":\"phone\"},\"examples\":[{\"x\":{}}],"
        "\"enum\":[{\"pattern\":\"(\"}],\"const\":{\"$ref\":\"http://remote\"}}",
        "{\"properties\":{\"$ref\":{\"type\":\"string\"},\"unknownName\":{}},"
        "\"definitions\":{\"format\":{},\"not a keyword\":true}}",
        "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://x.test/s\","
        "\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"readOnly\":true,"
        "\"writeOnly\":false,\"contentMediaType\":\"application/json\","
        "\"contentEncoding\":\"base64\"}",
    };
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
        jsonschema_free(compile_text(schemas[i]));
    expect("{\"properties\":{\"$ref\":{\"type\":\"string\"}}}", "{\"$ref\":2}", false,
           "/$ref: must be string");
    expect("{\"contentMediaType\":\"application/json\"}", "\"{not json\"", true, NULL);
}

/* A schema that would apply itself to the same value forever is refused, quickly. */
static void test_ref_loops(void **state)
{
    (void)state;
    static const struct ccase cases[] = {
        {"{\"$ref\":\"#\"}", "circular $ref \"#\" at /"},
        {"{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},\"b\":{\"$ref\":"
         "\"#/definitions/a\"}},\"$ref\":\"#/definitions/a\"}",
         "circular $ref \"#/definitions/a\" at /definitions/b"},
        {"{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},\"b\":{\"allOf\":[{\"$ref\":"
         "\"#/definitions/a\"}]}}}",
         "circular $ref \"#/definitions/a\" at /definitions/b/allOf/0"},
        {"{\"anyOf\":[true,{\"$ref\":\"#\"}]}", "circular $ref \"#\" at /anyOf/1"},
        {"{\"not\":{\"not\":{\"$ref\":\"#\"}}}", "circular $ref \"#\" at /not/not"},
        {"{\"if\":{\"$ref\":\"#/then\"},\"then\":{\"$ref\":\"#/if\"}}",
         "circular $ref \"#/if\" at /then"},
        {"{\"dependencies\":{\"a\":{\"$ref\":\"#\"}}}", "circular $ref \"#\" at /dependencies/a"},
        {"{\"$id\":\"http://x.test/r\",\"allOf\":[{\"$ref\":\"http://x.test/r\"}]}",
         "circular $ref \"http://x.test/r\" at /allOf/0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(cases[i].schema, cases[i].err, false);
    /* Recursion that moves into the instance is fine, even through allOf. */
    expect("{\"allOf\":[{\"items\":{\"$ref\":\"#\"}}],\"type\":\"array\"}", "[[[]],[]]", true,
           NULL);
    expect("{\"allOf\":[{\"items\":{\"$ref\":\"#\"}}],\"type\":\"array\"}", "[[[1]]]", false,
           "/0/0/0: must be array");
}

/* Nest `depth` arrays: [[[...]]], with `leaf` innermost (ownership moves to the result). */
static cJSON *nested_arrays(int depth, cJSON *leaf)
{
    cJSON *v = leaf;
    for (int i = 0; i < depth; i++) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, v);
        v = a;
    }
    return v;
}

/*
 * Strings holding U+0000 as the ingress parses a body for its schema (body_to_json_whole):
 * formats, lengths, patterns and uniqueItems see the whole text, where cJSON alone ends
 * the string at the NUL ("2020-01-01\u0000" passed format "date").
 */
static bool valid_body(const char *schema, const char *body, char *first, size_t firstlen)
{
    struct jsonschema *js = compile_text(schema);
    char err[256];
    cJSON *inst = body_to_json_whole("application/json", body, strlen(body), err, sizeof(err));
    if (inst == NULL)
        fail_msg("body %s refused: %s", body, err);
    cJSON *errors = cJSON_CreateArray();
    bool ok = jsonschema_validate(js, inst, errors, 5);
    assert_true(ok == jsonschema_validate(js, inst, NULL, 0));
    const char *msg =
        errors->child ? cJSON_GetStringValue(cJSON_GetObjectItem(errors->child, "message")) : "";
    snprintf(first, firstlen, "%s", msg);
    cJSON_Delete(errors);
    cJSON_Delete(inst);
    jsonschema_free(js);
    return ok;
}

static void test_nul_in_strings(void **state)
{
    (void)state;
    char msg[256];
    assert_false(valid_body("{\"format\":\"date\"}", "\"2020-01-01\\u0000\"", msg, sizeof(msg)));
    assert_string_equal(msg, "must match format \"date\"");
    assert_true(valid_body("{\"format\":\"date\"}", "\"2020-01-01\"", msg, sizeof(msg)));
    assert_false(valid_body("{\"format\":\"ipv4\"}", "\"1.2.3.4\\u0000junk\"", msg, sizeof(msg)));
    assert_false(valid_body("{\"maxLength\":3}", "\"ab\\u0000c\"", msg, sizeof(msg)));
    assert_string_equal(msg, "must NOT have more than 3 characters");
    assert_true(valid_body("{\"maxLength\":4}", "\"ab\\u0000c\"", msg, sizeof(msg)));
    assert_true(valid_body("{\"pattern\":\"^a\\\\x00b$\"}", "\"a\\u0000b\"", msg, sizeof(msg)));
    assert_false(valid_body("{\"pattern\":\"^a$\"}", "\"a\\u0000b\"", msg, sizeof(msg)));
    assert_true(valid_body("{\"uniqueItems\":true}", "[\"a\\u0000b\",\"a\\u0000c\",\"a\"]", msg,
                           sizeof(msg)));
    assert_false(
        valid_body("{\"uniqueItems\":true}", "[\"a\\u0000b\",\"a\\u0000b\"]", msg, sizeof(msg)));
    /* An escaped backslash before "u0000" is no NUL. */
    assert_true(valid_body("{\"maxLength\":6}", "\"\\\\u0000\"", msg, sizeof(msg)));
    assert_false(valid_body("{\"maxLength\":5}", "\"\\\\u0000\"", msg, sizeof(msg)));
    /* Everyone else sees what cJSON gives: the string up to the NUL, printed as such. */
    char err[256];
    const char *body = "{\"k\\u0000x\":[\"a\\u0000b\"]}";
    cJSON *v = body_to_json_whole("application/json", body, strlen(body), err, sizeof(err));
    assert_non_null(v);
    char *printed = cJSON_PrintUnformatted(v);
    assert_string_equal(printed, "{\"k\":[\"a\"]}");
    free(printed);
    cJSON_Delete(v);
}

static void test_deep_instances(void **state)
{
    (void)state;
    struct jsonschema *js = compile_text("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}");
    struct jsonschema *flat = compile_text("{\"type\":\"array\",\"uniqueItems\":true}");
    cJSON *errors = cJSON_CreateArray();

    cJSON *deep = nested_arrays(1000, cJSON_CreateArray());
    assert_true(jsonschema_validate(js, deep, errors, 10));
    assert_int_equal(cJSON_GetArraySize(errors), 0);
    assert_true(jsonschema_validate(flat, deep, errors, 10));
    cJSON_Delete(deep);

    deep = nested_arrays(1000, cJSON_CreateNumber(1));
    assert_false(jsonschema_validate(js, deep, errors, 10));
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    const char *path = cJSON_GetObjectItem(errors->child, "path")->valuestring;
    assert_int_equal(strlen(path), 2000);
    assert_string_equal(cJSON_GetObjectItem(errors->child, "message")->valuestring,
                        "must be array");
    cJSON_Delete(deep);

    /* Past the nesting limit the instance is invalid, not a stack overflow. */
    cJSON_Delete(cJSON_DetachItemFromArray(errors, 0));
    deep = nested_arrays(5000, cJSON_CreateArray());
    assert_false(jsonschema_validate(js, deep, errors, 10));
    assert_false(jsonschema_validate(js, deep, NULL, 0));
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    assert_string_equal(cJSON_GetObjectItem(errors->child, "message")->valuestring,
                        "schema applications nested too deeply");
    assert_true(jsonschema_validate(flat, deep, NULL, 0));
    cJSON_Delete(deep);

    cJSON_Delete(errors);
    jsonschema_free(js);
    jsonschema_free(flat);
}

static void test_max_errors(void **state)
{
    (void)state;
    struct jsonschema *js =
        compile_text("{\"required\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"minProperties\":1}");
    cJSON *empty = cJSON_CreateObject();
    static const struct {
        int max, want;
    } limits[] = {{0, 0}, {1, 1}, {3, 3}, {6, 6}, {50, 6}, {-1, 0}};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        cJSON *errors = cJSON_CreateArray();
        assert_false(jsonschema_validate(js, empty, errors, limits[i].max));
        if (cJSON_GetArraySize(errors) != limits[i].want)
            fail_msg("max_errors %d: %d errors, want %d", limits[i].max, cJSON_GetArraySize(errors),
                     limits[i].want);
        cJSON_Delete(errors);
    }
    assert_false(jsonschema_validate(js, empty, NULL, 5));

    /* Errors are appended to what the array already holds; a valid instance adds none. */
    cJSON *errors = cJSON_CreateArray();
    cJSON_AddItemToArray(errors, cJSON_CreateString("earlier"));
    assert_false(jsonschema_validate(js, empty, errors, 2));
    assert_int_equal(cJSON_GetArraySize(errors), 3);
    assert_string_equal(cJSON_GetArrayItem(errors, 0)->valuestring, "earlier");
    cJSON *full = cJSON_Parse("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1}");
    assert_true(jsonschema_validate(js, full, errors, 10));
    assert_int_equal(cJSON_GetArraySize(errors), 3);

    assert_false(jsonschema_validate(js, NULL, NULL, 0));
    cJSON_Delete(full);
    cJSON_Delete(errors);
    cJSON_Delete(empty);
    jsonschema_free(js);
}

/* The compiled schema is a copy: the caller's document may go away. */
static void test_schema_is_copied(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse("{\"properties\":{\"a\":{\"enum\":[\"x\"],\"pattern\":\"^x\"}}}");
    char err[128];
    struct jsonschema *js = NULL;
    assert_int_equal(jsonschema_compile(schema, &js, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    cJSON_Delete(schema);
    cJSON *inst = cJSON_Parse("{\"a\":\"y\"}");
    cJSON *errors = cJSON_CreateArray();
    assert_false(jsonschema_validate(js, inst, errors, 10));
    char *text = render_errors(errors);
    assert_string_equal(text, "/a: must be equal to one of the allowed values\n"
                              "/a: must match pattern \"^x\"");
    free(text);
    cJSON_Delete(errors);
    cJSON_Delete(inst);
    jsonschema_free(js);
    jsonschema_free(NULL);
}

/* The admin API's own schema compiles, and checks a bridge body the way SPEC says. */
static void test_bridge_schema(void **state)
{
    (void)state;
    /* The copy compiled in, which is the one the ingress checks bridges with. */
    struct jsonschema *js = compile_text(schema_bridge_schema_json);
    cJSON *body =
        cJSON_Parse("{\"outbound_url\":\"\",\"retries\":30,\"retry_delays\":[5,-1],"
                    "\"env\":{\"bad name\":\"x\"},\"auth\":{\"type\":\"token\",\"x\":1}}");
    cJSON *errors = cJSON_CreateArray();
    assert_false(jsonschema_validate(js, body, errors, 20));
    char *text = render_errors(errors);
    assert_string_equal(text, "/outbound_url: must NOT have fewer than 1 characters\n"
                              "/retries: must be <= 25\n"
                              "/retry_delays/1: must be >= 0\n"
                              "/env: property name must be valid\n"
                              "/auth: must NOT have additional property \"x\"");
    free(text);
    cJSON_Delete(errors);
    cJSON_Delete(body);
    jsonschema_free(js);
}

int main(void)
{
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meter_reading),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_unique_items_large),
        cmocka_unit_test(test_unique_items_colliding),
        cmocka_unit_test(test_regex_budget_shared),
        cmocka_unit_test(test_combinators),
        cmocka_unit_test(test_boolean_schemas),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_annotations_are_data),
        cmocka_unit_test(test_ref_loops),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_deep_instances),
        cmocka_unit_test(test_max_errors),
        cmocka_unit_test(test_schema_is_copied),
        cmocka_unit_test(test_bridge_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_filter.c - unit tests for common/filter.c: plain-value equality (numbers by value,
 * objects in any order, arrays in order, null matching missing), every operator with cases
 * that hold and cases that do not, missing values, $and/$or/$not nesting, headers found
 * whatever the case, array indexes, the checks at bridge save with their exact messages,
 * the nesting limit, and that a filter the check refuses never matches.
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

#include "filter.h"
#include "xalloc.h"

#define TEST_BODY                                                                                  \
    "{\"status\":\"completed\",\"total\":150,\"price\":100.0,\"name\":\"Widget Pro\","             \
    "\"tags\":[\"urgent\",\"vip\"],\"nums\":[1,2,3],\"customer\":{\"name\":\"Ann\","               \
    "\"tier\":\"gold\"},\"nil\":null,\"flag\":true,\"off\":false,\"items\":[{\"sku\":\"A1\","      \
    "\"qty\":2},{\"sku\":\"B2\",\"qty\":1}],\"empty\":\"\",\"obj\":{\"a\":1,\"b\":[1,2]},"         \
    "\"uni\":\"\\u00e9\",\"zero\":0,\"dup\":{\"k\":1,\"k\":1}}"

static cJSON *body, *headers, *query;
static struct tmpl_ctx ctx;

static int setup(void **state)
{
    (void)state;
    body = cJSON_Parse(TEST_BODY);
    headers = cJSON_Parse("{\"x-source\":\"crm\"}");
    query = cJSON_Parse("{\"kind\":\"a\"}");
    if (body == NULL || headers == NULL || query == NULL)
        return -1;
    memset(&ctx, 0, sizeof(ctx));
    ctx.payload = body;
    ctx.headers = headers;
    ctx.query = query;
    ctx.event_id = "evt_1";
    ctx.received_at = "2026-01-01T00:00:00.000Z";
    ctx.bridge_id = "brg_1";
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(body);
    cJSON_Delete(headers);
    cJSON_Delete(query);
    return 0;
}

static cJSON *parse_or_fail(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    if (v == NULL)
        fail_msg("bad test JSON %s", json);
    return v;
}

/* ---- matching ---- */

static const struct {
    const char *filter;
    bool want;
} match_cases[] = {
    {"{}", true},
    /* Plain values: deep equality. */
    {"{\"$payload.status\":\"completed\"}", true},
    {"{\"$payload.status\":\"pending\"}", false},
    {"{\"$payload.status\":\"Completed\"}", false},
    {"{\"${payload.status}\":\"completed\"}", true},
    {"{\"$payload.total\":150}", true},
    {"{\"$payload.total\":150.0}", true},
    {"{\"$payload.total\":1.5e2}", true},
    {"{\"$payload.total\":151}", false},
    {"{\"$payload.price\":100}", true},
    {"{\"$payload.total\":\"150\"}", false},
    {"{\"$payload.zero\":false}", false},
    {"{\"$payload.flag\":true}", true},
    {"{\"$payload.flag\":false}", false},
    {"{\"$payload.flag\":1}", false},
    {"{\"$payload.off\":false}", true},
    {"{\"$payload.off\":null}", false},
    {"{\"$payload.nil\":null}", true},
    {"{\"$payload.missing\":null}", true},
    {"{\"$payload.missing\":\"\"}", false},
    {"{\"$payload.missing\":{}}", false},
    {"{\"$payload.empty\":\"\"}", true},
    {"{\"$payload.empty\":null}", false},
    {"{\"$payload.nil\":{}}", false},
    {"{\"$payload.tags\":[\"urgent\",\"vip\"]}", true},
    {"{\"$payload.tags\":[\"vip\",\"urgent\"]}", false},
    {"{\"$payload.tags\":[\"urgent\"]}", false},
    {"{\"$payload.tags\":[\"urgent\",\"vip\",\"x\"]}", false},
    {"{\"$payload.tags\":\"urgent\"}", false},
    {"{\"$payload.customer\":{\"tier\":\"gold\",\"name\":\"Ann\"}}", true},
    {"{\"$payload.customer\":{\"name\":\"Ann\"}}", false},
    {"{\"$payload.customer\":{\"name\":\"Ann\",\"tier\":\"gold\",\"x\":1}}", false},
    {"{\"$payload.customer\":{\"name\":\"Ann\",\"tier\":\"silver\"}}", false},
    {"{\"$payload.customer\":{\"name\":\"Ann\",\"name\":\"Ann\"}}", false},
    {"{\"$payload.customer\":{}}", false},
    {"{\"$payload.dup\":{\"k\":1,\"j\":1}}", false},
    {"{\"$payload.dup\":{\"k\":1,\"k\":1.0}}", true},
    {"{\"$payload.obj\":{\"b\":[1,2.0],\"a\":1.0}}", true},
    {"{\"$payload.obj\":{\"b\":[2,1],\"a\":1}}", false},
    {"{\"$payload.customer\":[\"Ann\",\"gold\"]}", false},
    /* Every member must hold. */
    {"{\"$payload.status\":\"completed\",\"$payload.total\":{\"$gte\":100}}", true},
    {"{\"$payload.status\":\"completed\",\"$payload.total\":{\"$gte\":200}}", false},
    {"{\"$payload.status\":\"pending\",\"$payload.total\":{\"$gte\":100}}", false},
    /* $eq and $ne. */
    {"{\"$payload.total\":{\"$eq\":150}}", true},
    {"{\"$payload.total\":{\"$eq\":151}}", false},
    {"{\"$payload.missing\":{\"$eq\":null}}", true},
    {"{\"$payload.missing\":{\"$eq\":0}}", false},
    {"{\"$payload.customer\":{\"$eq\":{\"tier\":\"gold\",\"name\":\"Ann\"}}}", true},
    {"{\"$payload.tags\":{\"$eq\":[\"urgent\",\"vip\"]}}", true},
    {"{\"$payload.status\":{\"$ne\":\"pending\"}}", true},
    {"{\"$payload.status\":{\"$ne\":\"completed\"}}", false},
    {"{\"$payload.total\":{\"$ne\":150.0}}", false},
    {"{\"$payload.missing\":{\"$ne\":\"x\"}}", true},
    {"{\"$payload.missing\":{\"$ne\":null}}", false},
    {"{\"$payload.nil\":{\"$ne\":null}}", false},
    {"{\"$payload.status\":{\"$ne\":null}}", true},
    /* Ordering: numbers with numbers, strings with strings (bytes), nothing else. */
    {"{\"$payload.total\":{\"$gt\":100}}", true},
    {"{\"$payload.total\":{\"$gt\":150}}", false},
    {"{\"$payload.total\":{\"$gte\":150}}", true},
    {"{\"$payload.total\":{\"$gte\":150.5}}", false},
    {"{\"$payload.total\":{\"$lt\":200}}", true},
    {"{\"$payload.total\":{\"$lt\":150}}", false},
    {"{\"$payload.total\":{\"$lte\":150}}", true},
    {"{\"$payload.total\":{\"$lte\":149.5}}", false},
    {"{\"$payload.total\":{\"$gt\":-1e9,\"$lt\":1e9}}", true},
    {"{\"$payload.total\":{\"$gt\":100,\"$lt\":200}}", true},
    {"{\"$payload.total\":{\"$gt\":100,\"$lt\":120}}", false},
    {"{\"$payload.status\":{\"$gt\":\"b\"}}", true},
    {"{\"$payload.status\":{\"$lt\":\"b\"}}", false},
    {"{\"$payload.status\":{\"$gte\":\"completed\"}}", true},
    {"{\"$payload.status\":{\"$lte\":\"completed\"}}", true},
    {"{\"$payload.status\":{\"$gt\":\"completed\"}}", false},
    {"{\"$payload.status\":{\"$lt\":\"completed!\"}}", true},
    {"{\"$payload.name\":{\"$lt\":\"a\"}}", true},
    {"{\"$payload.uni\":{\"$gt\":\"z\"}}", true},
    {"{\"$payload.total\":{\"$gt\":\"1\"}}", false},
    {"{\"$payload.total\":{\"$lt\":\"9\"}}", false},
    {"{\"$payload.status\":{\"$gt\":1}}", false},
    {"{\"$payload.missing\":{\"$lt\":1}}", false},
    {"{\"$payload.missing\":{\"$gte\":\"\"}}", false},
    {"{\"$payload.nil\":{\"$lt\":1}}", false},
    {"{\"$payload.flag\":{\"$gte\":0}}", false},
    {"{\"$payload.nums\":{\"$gt\":0}}", false},
    {"{\"$event.received_at\":{\"$gte\":\"2026-01-01\",\"$lt\":\"2026-01-02\"}}", true},
    /* $in and $nin. */
    {"{\"$payload.status\":{\"$in\":[\"pending\",\"completed\"]}}", true},
    {"{\"$payload.status\":{\"$in\":[\"pending\"]}}", false},
    {"{\"$payload.status\":{\"$in\":[]}}", false},
    {"{\"$payload.total\":{\"$in\":[1,150.0]}}", true},
    {"{\"$payload.total\":{\"$in\":[\"150\"]}}", false},
    {"{\"$payload.missing\":{\"$in\":[null]}}", true},
    {"{\"$payload.missing\":{\"$in\":[\"x\",0]}}", false},
    {"{\"$payload.tags\":{\"$in\":[[\"urgent\",\"vip\"]]}}", true},
    {"{\"$payload.tags\":{\"$in\":[\"urgent\",\"vip\"]}}", false},
    {"{\"$payload.status\":{\"$nin\":[\"pending\"]}}", true},
    {"{\"$payload.status\":{\"$nin\":[\"pending\",\"completed\"]}}", false},
    {"{\"$payload.status\":{\"$nin\":[]}}", true},
    {"{\"$payload.missing\":{\"$nin\":[\"x\"]}}", true},
    {"{\"$payload.missing\":{\"$nin\":[null]}}", false},
    {"{\"$payload.customer\":{\"$nin\":[{\"tier\":\"gold\",\"name\":\"Ann\"}]}}", false},
    /* $exists: null is present. */
    {"{\"$payload.status\":{\"$exists\":true}}", true},
    {"{\"$payload.status\":{\"$exists\":false}}", false},
    {"{\"$payload.missing\":{\"$exists\":true}}", false},
    {"{\"$payload.missing\":{\"$exists\":false}}", true},
    {"{\"$payload.nil\":{\"$exists\":true}}", true},
    {"{\"$payload.nil\":{\"$exists\":false}}", false},
    {"{\"$payload.empty\":{\"$exists\":true}}", true},
    {"{\"$payload.items.5.sku\":{\"$exists\":false}}", true},
    {"{\"$payload.status.x\":{\"$exists\":true}}", false},
    /* $contains: substrings of strings, elements of arrays. */
    {"{\"$payload.name\":{\"$contains\":\"dget\"}}", true},
    {"{\"$payload.name\":{\"$contains\":\"gadget\"}}", false},
    {"{\"$payload.name\":{\"$contains\":\"widget\"}}", false},
    {"{\"$payload.name\":{\"$contains\":\"\"}}", true},
    {"{\"$payload.name\":{\"$contains\":\"Widget Pro\"}}", true},
    {"{\"$payload.name\":{\"$contains\":\"Widget Pro!\"}}", false},
    {"{\"$payload.tags\":{\"$contains\":\"vip\"}}", true},
    {"{\"$payload.tags\":{\"$contains\":\"vi\"}}", false},
    {"{\"$payload.nums\":{\"$contains\":2.0}}", true},
    {"{\"$payload.nums\":{\"$contains\":4}}", false},
    {"{\"$payload.nums\":{\"$contains\":\"2\"}}", false},
    {"{\"$payload.items\":{\"$contains\":{\"qty\":1,\"sku\":\"B2\"}}}", true},
    {"{\"$payload.items\":{\"$contains\":{\"sku\":\"B2\"}}}", false},
    {"{\"$payload.name\":{\"$contains\":1}}", false},
    {"{\"$payload.total\":{\"$contains\":\"1\"}}", false},
    {"{\"$payload.customer\":{\"$contains\":\"Ann\"}}", false},
    {"{\"$payload.missing\":{\"$contains\":\"\"}}", false},
    {"{\"$payload.missing\":{\"$contains\":null}}", false},
    /* $startsWith and $endsWith. */
    {"{\"$payload.name\":{\"$startsWith\":\"Widget\"}}", true},
    {"{\"$payload.name\":{\"$startsWith\":\"Pro\"}}", false},
    {"{\"$payload.name\":{\"$startsWith\":\"\"}}", true},
    {"{\"$payload.name\":{\"$startsWith\":\"Widget Pro\"}}", true},
    {"{\"$payload.name\":{\"$startsWith\":\"Widget Pro 2\"}}", false},
    {"{\"$payload.name\":{\"$startsWith\":\"widget\"}}", false},
    {"{\"$payload.total\":{\"$startsWith\":\"1\"}}", false},
    {"{\"$payload.tags\":{\"$startsWith\":\"urgent\"}}", false},
    {"{\"$payload.missing\":{\"$startsWith\":\"\"}}", false},
    {"{\"$payload.name\":{\"$endsWith\":\"Pro\"}}", true},
    {"{\"$payload.name\":{\"$endsWith\":\"Widget\"}}", false},
    {"{\"$payload.name\":{\"$endsWith\":\"\"}}", true},
    {"{\"$payload.name\":{\"$endsWith\":\"Widget Pro\"}}", true},
    {"{\"$payload.name\":{\"$endsWith\":\"xWidget Pro\"}}", false},
    {"{\"$payload.nil\":{\"$endsWith\":\"\"}}", false},
    {"{\"$payload.name\":{\"$startsWith\":\"Wid\",\"$endsWith\":\"Pro\",\"$contains\":\"t P\"}}",
     true},
    {"{\"$payload.name\":{\"$startsWith\":\"Wid\",\"$endsWith\":\"Pro\",\"$contains\":\"x\"}}",
     false},
    /* $and, $or, $not and their nesting. */
    {"{\"$and\":[{\"$payload.status\":\"completed\"},{\"$payload.total\":{\"$gt\":100}}]}", true},
    {"{\"$and\":[{\"$payload.status\":\"completed\"},{\"$payload.total\":{\"$gt\":200}}]}", false},
    {"{\"$and\":[{}]}", true},
    {"{\"$or\":[{\"$payload.status\":\"pending\"},{\"$payload.total\":150}]}", true},
    {"{\"$or\":[{\"$payload.total\":150},{\"$payload.status\":\"pending\"}]}", true},
    {"{\"$or\":[{\"$payload.status\":\"pending\"},{\"$payload.total\":1}]}", false},
    {"{\"$or\":[{}]}", true},
    {"{\"$not\":{\"$payload.status\":\"pending\"}}", true},
    {"{\"$not\":{\"$payload.status\":\"completed\"}}", false},
    {"{\"$not\":{}}", false},
    {"{\"$not\":{\"$not\":{\"$payload.status\":\"completed\"}}}", true},
    {"{\"$not\":{\"$payload.status\":\"completed\",\"$payload.total\":1}}", true},
    {"{\"$or\":[{\"$and\":[{\"$payload.flag\":true},{\"$not\":{\"$payload.customer.tier\":"
     "\"silver\"}}]},{\"$payload.x\":1}]}",
     true},
    {"{\"$or\":[{\"$and\":[{\"$payload.flag\":true},{\"$not\":{\"$payload.customer.tier\":"
     "\"gold\"}}]},{\"$payload.x\":1}]}",
     false},
    {"{\"$payload.status\":\"completed\",\"$or\":[{\"$payload.total\":1},{\"$payload.total\":"
     "150}]}",
     true},
    {"{\"$payload.status\":\"pending\",\"$or\":[{\"$payload.total\":150}]}", false},
    /* Array indexes and the other roots. */
    {"{\"$payload.items.0.sku\":\"A1\"}", true},
    {"{\"$payload.items.1.sku\":\"A1\"}", false},
    {"{\"$payload.items.1.qty\":{\"$lt\":2}}", true},
    {"{\"$payload.tags.1\":\"vip\"}", true},
    {"{\"$headers.x-source\":\"crm\"}", true},
    {"{\"${headers.X-Source}\":\"crm\"}", true},
    {"{\"$headers.X-SOURCE\":{\"$in\":[\"crm\",\"erp\"]}}", true},
    {"{\"$headers.x-source\":\"CRM\"}", false},
    {"{\"$headers.x-other\":{\"$exists\":false}}", true},
    {"{\"$headers\":{\"x-source\":\"crm\"}}", true},
    {"{\"$query.kind\":\"a\"}", true},
    {"{\"$query.Kind\":{\"$exists\":true}}", false},
    {"{\"$event.id\":\"evt_1\"}", true},
    {"{\"$event.id\":\"evt_2\"}", false},
    {"{\"$bridge.id\":{\"$startsWith\":\"brg_\"}}", true},
    {"{\"$payload\":{\"$exists\":true}}", true},
    {"{\"$payload\":{\"$contains\":\"x\"}}", false},
};

static void test_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        char err[256] = "";
        cJSON *f = parse_or_fail(match_cases[i].filter);
        if (filter_check(f, err, sizeof(err)) != 0)
            fail_msg("check(%s): %s", match_cases[i].filter, err);
        bool got = filter_match(f, &ctx);
        if (got != match_cases[i].want)
            fail_msg("match(%s): %d, want %d", match_cases[i].filter, got, match_cases[i].want);
        /* Negated, the answer flips: the match has no third outcome. */
        cJSON *not = cJSON_CreateObject();
        cJSON_AddItemToObject(not, "$not", f);
        assert_int_equal(filter_match(not, &ctx), !match_cases[i].want);
        cJSON_Delete(not );
    }
}

static void test_match_null_and_no_payload(void **state)
{
    (void)state;
    assert_true(filter_match(NULL, &ctx));
    char err[256];
    assert_int_equal(filter_check(NULL, err, sizeof(err)), 0);

    struct tmpl_ctx none;
    memset(&none, 0, sizeof(none));
    static const struct {
        const char *filter;
        bool want;
    } cases[] = {
        {"{}", true},
        {"{\"$payload\":{\"$exists\":true}}", false},
        {"{\"$payload\":null}", true},
        {"{\"$payload.a\":{\"$ne\":1}}", true},
        {"{\"$headers.x-source\":{\"$exists\":false}}", true},
        {"{\"$event.id\":null}", true},
        {"{\"$bridge.id\":{\"$startsWith\":\"\"}}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *f = parse_or_fail(cases[i].filter);
        if (filter_match(f, &none) != cases[i].want)
            fail_msg("match(%s) without context: want %d", cases[i].filter, cases[i].want);
        cJSON_Delete(f);
    }
}

/* A whole-body filter on a body that is not an object. */
static void test_match_scalar_body(void **state)
{
    (void)state;
    struct tmpl_ctx c = ctx;
    cJSON *b = cJSON_CreateNumber(7);
    c.payload = b;
    cJSON *f = parse_or_fail("{\"$payload\":{\"$gte\":7}}");
    assert_true(filter_match(f, &c));
    cJSON_Delete(f);
    f = parse_or_fail("{\"$payload.a\":{\"$exists\":true}}");
    assert_false(filter_match(f, &c));
    cJSON_Delete(f);
    cJSON_Delete(b);
}

/* ---- checking ---- */

static const struct {
    const char *filter, *err;
} bad_cases[] = {
    {"[]", "must be an object"},
    {"\"$payload.a\"", "must be an object"},
    {"{\"$payload.total\":{\"$foo\":1}}", "$payload.total: unknown operator $foo"},
    {"{\"$payload.total\":{\"$gt\":1,\"$foo\":1}}", "$payload.total: unknown operator $foo"},
    {"{\"$payload.total\":{\"$EQ\":1}}", "$payload.total: unknown operator $EQ"},
    {"{\"$payload.total\":{\"$\":1}}", "$payload.total: unknown operator $"},
    {"{\"$and\":[{\"$payload.a\":1},{\"$payload.total\":{\"$foo\":1}}]}",
     "$and/1/$payload.total: unknown operator $foo"},
    {"{\"$or\":[{\"$and\":[{\"$not\":{\"$payload.a\":{\"$x\":1}}}]}]}",
     "$or/0/$and/0/$not/$payload.a: unknown operator $x"},
    {"{\"$payload.kind\":{\"$in\":\"a\"}}", "$payload.kind: $in needs an array"},
    {"{\"$payload.kind\":{\"$in\":null}}", "$payload.kind: $in needs an array"},
    {"{\"$payload.kind\":{\"$nin\":{}}}", "$payload.kind: $nin needs an array"},
    {"{\"$payload.a\":{\"$exists\":1}}", "$payload.a: $exists needs true or false"},
    {"{\"$payload.a\":{\"$exists\":\"true\"}}", "$payload.a: $exists needs true or false"},
    {"{\"$payload.a\":{\"$startsWith\":1}}", "$payload.a: $startsWith needs a string"},
    {"{\"$payload.a\":{\"$endsWith\":null}}", "$payload.a: $endsWith needs a string"},
    {"{\"$payload.a\":{\"$gt\":true}}", "$payload.a: $gt needs a number or a string"},
    {"{\"$payload.a\":{\"$gte\":null}}", "$payload.a: $gte needs a number or a string"},
    {"{\"$payload.a\":{\"$lt\":[1]}}", "$payload.a: $lt needs a number or a string"},
    {"{\"$payload.a\":{\"$lte\":{}}}", "$payload.a: $lte needs a number or a string"},
    {"{\"$and\":[]}", "$and: must be a non-empty array of filter objects"},
    {"{\"$or\":[]}", "$or: must be a non-empty array of filter objects"},
    {"{\"$or\":{}}", "$or: must be a non-empty array of filter objects"},
    {"{\"$and\":{\"$payload.a\":1}}", "$and: must be a non-empty array of filter objects"},
    {"{\"$and\":\"x\"}", "$and: must be a non-empty array of filter objects"},
    {"{\"$and\":[1]}", "$and/0: must be a filter object"},
    {"{\"$or\":[{},[]]}", "$or/1: must be a filter object"},
    {"{\"$or\":[{},null]}", "$or/1: must be a filter object"},
    {"{\"$not\":[]}", "$not: must be a filter object"},
    {"{\"$not\":\"x\"}", "$not: must be a filter object"},
    {"{\"$not\":null}", "$not: must be a filter object"},
    {"{\"$not\":{\"$payload.a\":{\"$bad\":1}}}", "$not/$payload.a: unknown operator $bad"},
    {"{\"$not\":{\"$and\":[]}}", "$not/$and: must be a non-empty array of filter objects"},
    {"{\"$foo\":1}", "$foo: unknown reference root 'foo' at position 0"},
    {"{\"$nor\":[{}]}", "$nor: unknown reference root 'nor' at position 0"},
    {"{\"payload.a\":1}", "payload.a: not exactly one reference"},
    {"{\"\":1}", ": not exactly one reference"},
    {"{\"$payload.a b\":1}", "$payload.a b: not exactly one reference"},
    {"{\"$payload.a.\":1}", "$payload.a.: not exactly one reference"},
    {"{\"$$payload\":1}", "$$payload: not exactly one reference"},
    {"{\"${payload.a\":1}", "${payload.a: unclosed ${ at position 0"},
    {"{\"$event.x\":1}", "$event.x: unknown $event field 'x' at position 0"},
    {"{\"$env.TOKEN\":\"x\"}", "$env.TOKEN: $env is not allowed in a filter"},
    {"{\"${env.TOKEN}\":\"x\"}", "${env.TOKEN}: $env is not allowed in a filter"},
    {"{\"$and\":[{\"$env.A\":{\"$exists\":true}}]}",
     "$and/0/$env.A: $env is not allowed in a filter"},
    {"{\"$env\":1}", "$env: $env needs a name at position 0"},
    {"{\"$payload.a\":{\"$eq\":1,\"b\":2}}", "$payload.a: mixes operators and plain keys"},
    {"{\"$payload.a\":{\"b\":2,\"$eq\":1}}", "$payload.a: mixes operators and plain keys"},
    {"{\"$payload.a\":{\"b\":2,\"$foo\":1}}", "$payload.a: mixes operators and plain keys"},
    {"{\"$eq\":1}", "$eq: operator outside a reference's object"},
    {"{\"$in\":[1]}", "$in: operator outside a reference's object"},
    {"{\"$payload.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":"
     "{\"$x\":1}}",
     "$payload.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: unknown operator $x"},
    /* The first problem in document order is the one reported. */
    {"{\"$payload.a\":{\"$in\":1},\"$foo\":1}", "$payload.a: $in needs an array"},
};

static void test_check_refuses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        char err[256] = "";
        cJSON *f = parse_or_fail(bad_cases[i].filter);
        assert_int_equal(filter_check(f, err, sizeof(err)), -1);
        if (strcmp(err, bad_cases[i].err) != 0)
            fail_msg("check(%s): \"%s\", want \"%s\"", bad_cases[i].filter, err, bad_cases[i].err);
        /* A refused filter never matches, not even negated or as one $or branch. */
        assert_false(filter_match(f, &ctx));
        cJSON *not = cJSON_CreateObject();
        cJSON_AddItemToObject(not, "$not", cJSON_Duplicate(f, true));
        assert_false(filter_match(not, &ctx));
        cJSON_Delete(not );
        cJSON * or = parse_or_fail("{\"$or\":[{}]}");
        cJSON_AddItemToArray(cJSON_GetObjectItem(or, "$or"), f);
        assert_false(filter_match(or, &ctx));
        cJSON_Delete(or);
    }
}

/* Operands the check must accept: $eq, $ne and $contains take any JSON value. */
static void test_check_accepts(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}",
        "{\"$payload.a\":{\"$contains\":{\"x\":[1,null]}}}",
        "{\"$payload.a\":{\"$contains\":null}}",
        "{\"$payload.a\":{\"$eq\":[1,{\"$gt\":1}]}}",
        "{\"$payload.a\":{\"$ne\":{\"$weird\":1}}}",
        "{\"$payload.a\":{\"b\":{\"$gt\":1}}}",
        "{\"$payload.a\":{}}",
        "{\"$payload.a\":[{\"$foo\":1}]}",
        "{\"$payload.a\":{\"$in\":[],\"$nin\":[null,{}],\"$exists\":false}}",
        "{\"$payload.a\":{\"$gt\":\"a\",\"$lt\":2,\"$gte\":-1.5,\"$lte\":\"\"}}",
        "{\"$payload\":{\"$exists\":true},\"${headers.x}\":1,\"$query\":{}}",
        "{\"$event.id\":1,\"$event.received_at\":1,\"${bridge.id}\":1}",
        "{\"$and\":[{}],\"$or\":[{},{}],\"$not\":{}}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256] = "";
        cJSON *f = parse_or_fail(good[i]);
        if (filter_check(f, err, sizeof(err)) != 0)
            fail_msg("check(%s): %s", good[i], err);
        cJSON_Delete(f);
    }
}

/* `n` $not wrapped around a condition that holds. */
static cJSON *nested_not(int n)
{
    cJSON *f = parse_or_fail("{\"$payload.status\":\"completed\"}");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "$not", f);
        f = o;
    }
    return f;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char err[256];
    /* 63 $not make 64 levels of objects: the deepest allowed. */
    for (int n = 62; n <= 63; n++) {
        cJSON *f = nested_not(n);
        assert_int_equal(filter_check(f, err, sizeof(err)), 0);
        assert_int_equal(filter_match(f, &ctx), n % 2 == 0);
        cJSON_Delete(f);
    }
    for (int n = 64; n <= 66; n++) {
        cJSON *f = nested_not(n);
        assert_int_equal(filter_check(f, err, sizeof(err)), -1);
        assert_string_equal(err, "nested deeper than 64 levels");
        assert_false(filter_match(f, &ctx));
        cJSON_Delete(f);
    }

    /* Deep operand values count too. */
    for (int levels = 63; levels <= 64; levels++) {
        cJSON *v = cJSON_CreateNumber(1);
        for (int i = 0; i < levels; i++) {
            cJSON *a = cJSON_CreateArray();
            cJSON_AddItemToArray(a, v);
            v = a;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddItemToObject(f, "$payload.nums", v);
        /* The filter object plus `levels` arrays. */
        assert_int_equal(filter_check(f, err, sizeof(err)), levels + 1 <= 64 ? 0 : -1);
        assert_false(filter_match(f, &ctx));
        cJSON_Delete(f);
    }

    /* A deep $and chain, built as text. */
    char *s = xstrdup("{}");
    for (int i = 0; i < 40; i++) {
        char *t = xasprintf("{\"$and\":[%s]}", s);
        free(s);
        s = t;
    }
    cJSON *f = parse_or_fail(s);
    assert_int_equal(filter_check(f, err, sizeof(err)), -1);
    assert_false(filter_match(f, &ctx));
    cJSON_Delete(f);
    free(s);
}

/* Matching reads the event but never changes it. */
static void test_match_leaves_context(void **state)
{
    (void)state;
    char *before = cJSON_PrintUnformatted(body);
    cJSON *f = parse_or_fail("{\"$payload\":{\"$ne\":1},\"$payload.items\":{\"$contains\":"
                             "{\"sku\":\"A1\",\"qty\":2}},\"$payload.customer.name\":\"Ann\"}");
    assert_true(filter_match(f, &ctx));
    char *after = cJSON_PrintUnformatted(body);
    assert_string_equal(before, after);
    free(before);
    free(after);
    cJSON_Delete(f);
}

int main(void)
{
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_null_and_no_payload),
        cmocka_unit_test(test_match_scalar_body),
        cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_check_accepts),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_match_leaves_context),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_event.c - unit tests for common/event.c: the event shape built from a job, the
 * request body as JSON / text / base64 / null, UTF-8 checking and U+FFFD replacement in
 * attempt response bodies, attempts and summaries, and query-string decoding.
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

#include "event.h"
#include "hb.h"
#include "xalloc.h"

static const char *const event_keys[] = {"id",          "bridge_id",       "status",
                                         "received_at", "request",         "outbound",
                                         "attempts",    "next_attempt_at", "replay_of"};

/* A job with the given body; the strings point at literals, so never job_clear it. */
static struct job job_with_body(const char *body, size_t len)
{
    struct job j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "evt_01JD0000000000000000000000");
    snprintf(j.bridge_id, sizeof(j.bridge_id), "brg_01JD0000000000000000000001");
    j.received_ms = 1795341600123;
    j.method = (char *)"POST";
    j.path = (char *)"/hooks/abc";
    j.query = (char *)"a=1&b=x%20y";
    j.headers_json = (char *)"{\"content-type\":\"application/json\",\"authorization\":"
                             "\"[redacted]\"}";
    j.content_type = (char *)"application/json";
    j.body = (char *)body;
    j.body_len = len;
    j.replay_of = (char *)"";
    return j;
}

static char *print(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    assert_non_null(s);
    return s;
}

static void assert_json(const cJSON *v, const char *want)
{
    char *s = print(v);
    if (strcmp(s, want) != 0)
        fail_msg("json %s, expected %s", s, want);
    free(s);
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void test_event_shape(void **state)
{
    (void)state;
    struct job j = job_with_body("{\"a\":1}", 7);
    cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_int_equal(cJSON_GetArraySize(ev), sizeof(event_keys) / sizeof(event_keys[0]));
    for (size_t i = 0; i < sizeof(event_keys) / sizeof(event_keys[0]); i++)
        if (get(ev, event_keys[i]) == NULL)
            fail_msg("event lacks %s", event_keys[i]);
    assert_string_equal(get(ev, "id")->valuestring, j.id);
    assert_string_equal(get(ev, "bridge_id")->valuestring, j.bridge_id);
    assert_string_equal(get(ev, "status")->valuestring, "queued");
    assert_string_equal(get(ev, "received_at")->valuestring, "2026-11-22T10:00:00.123Z");
    assert_true(cJSON_IsNull(get(ev, "outbound")));
    assert_json(get(ev, "attempts"), "[]");
    assert_true(cJSON_IsNull(get(ev, "next_attempt_at")));
    assert_true(cJSON_IsNull(get(ev, "replay_of")));
    assert_json(
        get(ev, "request"),
        "{\"method\":\"POST\",\"path\":\"/hooks/abc\",\"query\":{\"a\":\"1\",\"b\":\"x y\"},"
        "\"headers\":{\"content-type\":\"application/json\",\"authorization\":"
        "\"[redacted]\"},\"body\":{\"a\":1}}");
    cJSON_Delete(ev);

    /* A scheduled replay. */
    j.replay_of = (char *)"evt_01JC0000000000000000000000";
    ev = event_from_job(&j, EVENT_STATUS_SCHEDULED, 1795341660000);
    assert_string_equal(get(ev, "status")->valuestring, "scheduled");
    assert_string_equal(get(ev, "next_attempt_at")->valuestring, "2026-11-22T10:01:00.000Z");
    assert_string_equal(get(ev, "replay_of")->valuestring, "evt_01JC0000000000000000000000");
    cJSON_Delete(ev);

    /* Unreadable stored headers and NULL strings still give a well-formed event. */
    j.headers_json = (char *)"not json";
    j.query = NULL;
    j.method = NULL;
    j.replay_of = NULL;
    ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_json(get(get(ev, "request"), "headers"), "{}");
    assert_json(get(get(ev, "request"), "query"), "{}");
    assert_string_equal(get(get(ev, "request"), "method")->valuestring, "");
    assert_true(cJSON_IsNull(get(ev, "replay_of")));
    cJSON_Delete(ev);
    j.headers_json = (char *)"[1]";
    ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_json(get(get(ev, "request"), "headers"), "{}");
    cJSON_Delete(ev);
}

struct body_case {
    const char *body;
    size_t len;
    const char *json;   /* request.body printed */
    const char *base64; /* request.body_base64, NULL when absent */
};

#define B(s) s, sizeof(s) - 1

static const struct body_case body_cases[] = {
    /* JSON of every kind, whitespace around it allowed */
    {B("{\"a\":1}"), "{\"a\":1}", NULL},
    {B(" [1, 2, {\"b\": null}]\n"), "[1,2,{\"b\":null}]", NULL},
    {B("42"), "42", NULL},
    /* a JSON string body stays its text, quotes included: a string always means text */
    {B("\"str\""), "\"\\\"str\\\"\"", NULL},
    {B("true"), "true", NULL},
    {B("{\"t\":\"\xe2\x98\x83\"}"), "{\"t\":\"\xe2\x98\x83\"}", NULL},
    /* not JSON, but UTF-8 text */
    {B("plain text\nline 2"), "\"plain text\\nline 2\"", NULL},
    {B("x=1&y=2"), "\"x=1&y=2\"", NULL},
    {B("{\"a\":1}trailing"), "\"{\\\"a\\\":1}trailing\"", NULL},
    {B("{\"a\":1"), "\"{\\\"a\\\":1\"", NULL},
    {B("   "), "\"   \"", NULL},
    {B("caf\xc3\xa9"), "\"caf\xc3\xa9\"", NULL},
    /* JSON that would not read back as received stays text: cJSON would keep the first of
     * two equal keys and cut a string at \u0000 */
    {B("{\"a\":1,\"a\":2}"), "\"{\\\"a\\\":1,\\\"a\\\":2}\"", NULL},
    {B("{\"a\":\"x\\u0000y\"}"), "\"{\\\"a\\\":\\\"x\\\\u0000y\\\"}\"", NULL},
    /* neither: base64 */
    {B("\x00\x01\x02\xff"), "null", "AAEC/w=="},
    {B("{\"a\":1}\x00"), "null", "eyJhIjoxfQA="},
    {B("{\"a\":\"\xff\"}"), "null", "eyJhIjoi/yJ9"},
    {B("caf\xe9"), "null", "Y2Fm6Q=="},
    {B("\xc0\xaf"), "null", "wK8="},             /* overlong '/' */
    {B("\xed\xa0\x80"), "null", "7aCA"},         /* surrogate */
    {B("\xf4\x90\x80\x80"), "null", "9JCAgA=="}, /* past U+10FFFF */
    {B("\xe2\x98"), "null", "4pg="},             /* cut short */
    /* empty */
    {"", 0, "null", NULL},
    {NULL, 0, "null", NULL},
};

static void test_request_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
        const struct body_case *c = &body_cases[i];
        struct job j = job_with_body(c->body, c->len);
        cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
        const cJSON *req = get(ev, "request");
        char *s = print(get(req, "body"));
        if (strcmp(s, c->json) != 0)
            fail_msg("case %zu: body %s, expected %s", i, s, c->json);
        free(s);
        const cJSON *b64 = get(req, "body_base64");
        if (c->base64 == NULL) {
            if (b64 != NULL)
                fail_msg("case %zu: unexpected body_base64", i);
        } else {
            if (!cJSON_IsString(b64) || strcmp(b64->valuestring, c->base64) != 0)
                fail_msg("case %zu: body_base64 %s, expected %s", i,
                         cJSON_IsString(b64) ? b64->valuestring : "(none)", c->base64);
        }
        /* Whatever the body, the event prints as JSON that parses back. */
        char *whole = print(ev);
        cJSON *again = cJSON_Parse(whole);
        assert_non_null(again);
        assert_true(cJSON_Compare(again, ev, true));
        cJSON_Delete(again);
        free(whole);
        cJSON_Delete(ev);
    }
}

/* The body is read by length: bytes past body_len (no NUL there) must not count. */
static void test_body_not_nul_terminated(void **state)
{
    (void)state;
    char *buf = xmalloc(7);
    memcpy(buf, "{\"a\":1}", 7);
    struct job j = job_with_body(buf, 7);
    cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_json(get(get(ev, "request"), "body"), "{\"a\":1}");
    cJSON_Delete(ev);

    j = job_with_body("[1]garbage", 3);
    ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_json(get(get(ev, "request"), "body"), "[1]");
    cJSON_Delete(ev);

    memcpy(buf, "text ok", 7);
    j = job_with_body(buf, 7);
    ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    assert_json(get(get(ev, "request"), "body"), "\"text ok\"");
    cJSON_Delete(ev);
    free(buf);
}

static void test_binary_body_round_trip(void **state)
{
    (void)state;
    unsigned char bin[259];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7);
    struct job j = job_with_body((const char *)bin, sizeof(bin));
    cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    const cJSON *b64 = get(get(ev, "request"), "body_base64");
    assert_true(cJSON_IsString(b64));
    assert_true(cJSON_IsNull(get(get(ev, "request"), "body")));
    /* Decode by hand (RFC 4648 alphabet) and compare. */
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char out[sizeof(bin) + 3];
    size_t o = 0;
    unsigned int acc = 0;
    int bits = 0;
    for (const char *p = b64->valuestring; *p && *p != '='; p++) {
        const char *at = strchr(alpha, *p);
        assert_non_null(at);
        acc = (acc << 6) | (unsigned int)(at - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    assert_int_equal(o, sizeof(bin));
    assert_memory_equal(out, bin, sizeof(bin));
    cJSON_Delete(ev);
}

static void test_attempt_shape(void **state)
{
    (void)state;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "X-Sink-Reply", "hello");
    cJSON *a = event_attempt(1, 1795341600123, 12, 500, NULL, h, "sink says hi", 12, false);
    assert_json(a, "{\"n\":1,\"started_at\":\"2026-11-22T10:00:00.123Z\",\"duration_ms\":12,"
                   "\"status\":500,\"error\":null,\"response\":{\"headers\":{\"X-Sink-Reply\":"
                   "\"hello\"},\"body\":\"sink says hi\",\"truncated\":false}}");
    /* The headers were copied, not taken. */
    assert_ptr_not_equal(get(get(a, "response"), "headers"), h);
    cJSON_Delete(h);
    cJSON_Delete(a);

    /* No HTTP answer: status null, the error kept, NULL headers and body tolerated. */
    a = event_attempt(3, 1795341600000, 30000, 0, "timeout after 30000 ms", NULL, NULL, 0, false);
    assert_json(a, "{\"n\":3,\"started_at\":\"2026-11-22T10:00:00.000Z\",\"duration_ms\":30000,"
                   "\"status\":null,\"error\":\"timeout after 30000 ms\",\"response\":"
                   "{\"headers\":{},\"body\":\"\",\"truncated\":false}}");
    cJSON_Delete(a);

    /* A JSON response body stays a string: it is what the destination said, verbatim. */
    a = event_attempt(2, 0, 0, 200, NULL, NULL, "{\"ok\":true}", 11, false);
    assert_string_equal(get(get(a, "response"), "body")->valuestring, "{\"ok\":true}");
    cJSON_Delete(a);
}

struct fffd_case {
    const char *in;
    size_t len;
    bool truncated;
    const char *out;
};

#define R "\xef\xbf\xbd" /* U+FFFD */

static const struct fffd_case fffd_cases[] = {
    {B("ascii"), false, "ascii"},
    {B("\xe2\x98\x83 \xf0\x9f\x98\x80"), false, "\xe2\x98\x83 \xf0\x9f\x98\x80"},
    {B("a\xffz"), false, "a" R "z"},
    {B("a\x00z"), false, "a" R "z"},
    {B("\x80\x80"), false, R R},
    {B("\xc0\xaf"), false, R R},             /* overlong: C0 is never a lead */
    {B("\xe0\x80\xaf"), false, R R R},       /* overlong 3-byte */
    {B("\xed\xa0\x80"), false, R R R},       /* surrogate */
    {B("\xf4\x90\x80\x80"), false, R R R R}, /* past U+10FFFF */
    {B("\xf5\x80"), false, R R},
    {B("\xe2\x98z"), false, R "z"}, /* one U+FFFD per maximal subpart */
    {B("\xf0\x9f\x98z"), false, R "z"},
    {B("ok\xe2\x98"), false, "ok" R}, /* cut short, not truncated: replaced */
    {B("ok\xe2\x98"), true, "ok"},    /* truncated: the partial char is dropped */
    {B("ok\xf0\x9f\x98"), true, "ok"},
    {B("ok\xff"), true, "ok" R}, /* not a partial char: still replaced */
    {B("ok\xe2\x41"), true, "ok" R "A"},
};

static void test_attempt_body_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(fffd_cases) / sizeof(fffd_cases[0]); i++) {
        const struct fffd_case *c = &fffd_cases[i];
        cJSON *a = event_attempt(1, 0, 0, 200, NULL, NULL, c->in, c->len, c->truncated);
        const cJSON *resp = get(a, "response");
        const char *got = get(resp, "body")->valuestring;
        if (strcmp(got, c->out) != 0)
            fail_msg("case %zu: body \"%s\", expected \"%s\"", i, got, c->out);
        assert_int_equal(cJSON_IsTrue(get(resp, "truncated")), c->truncated);
        cJSON_Delete(a);
    }
}

/* Bodies over the limit are cut to HB_RESPONSE_BODY_MAX and marked truncated. */
static void test_attempt_body_cap(void **state)
{
    (void)state;
    size_t len = 100 * 1024;
    char *big = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        big[i] = "0123456789abcdef"[i % 16];
    cJSON *a = event_attempt(1, 0, 5, 200, NULL, NULL, big, len, false);
    const cJSON *resp = get(a, "response");
    const char *body = get(resp, "body")->valuestring;
    assert_int_equal(strlen(body), HB_RESPONSE_BODY_MAX);
    assert_memory_equal(body, big, HB_RESPONSE_BODY_MAX);
    assert_true(cJSON_IsTrue(get(resp, "truncated")));
    cJSON_Delete(a);

    /* Exactly at the limit is not truncated. */
    a = event_attempt(1, 0, 5, 200, NULL, NULL, big, HB_RESPONSE_BODY_MAX, false);
    assert_true(cJSON_IsFalse(get(get(a, "response"), "truncated")));
    cJSON_Delete(a);

    /* A cut inside a 3-byte character drops it rather than replacing it. */
    memset(big, 'a', len);
    memcpy(big + HB_RESPONSE_BODY_MAX - 1, "\xe2\x98\x83", 3);
    a = event_attempt(1, 0, 5, 200, NULL, NULL, big, len, false);
    body = get(get(a, "response"), "body")->valuestring;
    assert_int_equal(strlen(body), HB_RESPONSE_BODY_MAX - 1);
    cJSON_Delete(a);
    free(big);
}

static void test_summary(void **state)
{
    (void)state;
    struct job j = job_with_body("{}", 2);
    cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    cJSON *s = event_summary(ev);
    assert_json(s, "{\"id\":\"evt_01JD0000000000000000000000\",\"bridge_id\":"
                   "\"brg_01JD0000000000000000000001\",\"status\":\"queued\",\"received_at\":"
                   "\"2026-11-22T10:00:00.123Z\",\"attempts\":0,\"last_status\":null,"
                   "\"next_attempt_at\":null,\"replay_of\":null}");
    cJSON_Delete(s);

    /* Two attempts: the count, and the status of the last one. */
    cJSON *attempts = cJSON_GetObjectItemCaseSensitive(ev, "attempts");
    cJSON_AddItemToArray(attempts, event_attempt(1, 0, 1, 500, NULL, NULL, "", 0, false));
    cJSON_AddItemToArray(attempts, event_attempt(2, 0, 1, 503, NULL, NULL, "", 0, false));
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "status", cJSON_CreateString("retrying"));
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "next_attempt_at",
                                           cJSON_CreateString("2026-11-22T10:05:00.000Z"));
    s = event_summary(ev);
    assert_string_equal(get(s, "status")->valuestring, "retrying");
    assert_int_equal(get(s, "attempts")->valueint, 2);
    assert_int_equal(get(s, "last_status")->valueint, 503);
    assert_string_equal(get(s, "next_attempt_at")->valuestring, "2026-11-22T10:05:00.000Z");
    assert_null(get(s, "request"));
    cJSON_Delete(s);

    /* A transport error last: last_status is null. */
    cJSON_AddItemToArray(attempts, event_attempt(3, 0, 1, 0, "refused", NULL, "", 0, false));
    s = event_summary(ev);
    assert_int_equal(get(s, "attempts")->valueint, 3);
    assert_true(cJSON_IsNull(get(s, "last_status")));
    cJSON_Delete(s);
    cJSON_Delete(ev);

    /* Missing members (an old or damaged row) show as null, never crash. */
    cJSON *empty = cJSON_CreateObject();
    s = event_summary(empty);
    assert_true(cJSON_IsNull(get(s, "id")));
    assert_int_equal(get(s, "attempts")->valueint, 0);
    cJSON_Delete(s);
    cJSON_Delete(empty);
}

struct query_case {
    const char *query;
    const char *json;
};

static const struct query_case query_cases[] = {
    {"", "{}"},
    {"a=1", "{\"a\":\"1\"}"},
    {"a=1&b=x%20y", "{\"a\":\"1\",\"b\":\"x y\"}"},
    {"q=1&r=two", "{\"q\":\"1\",\"r\":\"two\"}"},
    {"a+b=c+d", "{\"a b\":\"c d\"}"},
    {"a=%2B%26%3d", "{\"a\":\"+&=\"}"},
    {"a=1&a=2", "{\"a\":\"2\"}"},
    {"flag", "{\"flag\":\"\"}"},
    {"flag=", "{\"flag\":\"\"}"},
    {"a=b=c", "{\"a\":\"b=c\"}"},
    {"&&a=1&&", "{\"a\":\"1\"}"},
    {"=v", "{\"\":\"v\"}"},
    {"a=%", "{\"a\":\"%\"}"},
    {"a=%2", "{\"a\":\"%2\"}"},
    {"a=%zz", "{\"a\":\"%zz\"}"},
    {"a=%e2%98%83", "{\"a\":\"\xe2\x98\x83\"}"},
    {"a=%ff", "{\"a\":\"" R "\"}"},
    {"a=x%00y", "{\"a\":\"x" R "y\"}"},
    {"%ff=1", "{\"" R "\":\"1\"}"},
    {"k=%22quoted%22", "{\"k\":\"\\\"quoted\\\"\"}"},
};

static void test_query_object(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
        cJSON *q = event_query_object(query_cases[i].query);
        char *s = print(q);
        if (strcmp(s, query_cases[i].json) != 0)
            fail_msg("query \"%s\": %s, expected %s", query_cases[i].query, s, query_cases[i].json);
        free(s);
        cJSON_Delete(q);
    }
    cJSON *q = event_query_object(NULL);
    assert_json(q, "{}");
    cJSON_Delete(q);
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_cjson();
    return 0;
}

/* The ingress's straight-printed event is the same event as the one built through cJSON,
 * for checked JSON bodies, with and without a query, a due time and replay_of. */
static void test_json_trusted(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"order\":{\"id\":12345,\"total\":138.0,\"lines\":[{\"sku\":\"A-1\"}]}}",
        "[1, 2.5e3, true, null, \"h\xc3\xa9\"]",
        " {\"pretty\": [\n  1\n]} ",
        "42",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        for (int variant = 0; variant < 2; variant++) {
            struct job j = job_with_body(bodies[i], strlen(bodies[i]));
            int64_t next = 0;
            if (variant == 1) {
                j.query = (char *)"";
                j.replay_of = (char *)"evt_01JC0000000000000000000000";
                j.path = (char *)"/hooks/\"quoted\\path";
                next = 1795341660000;
            }
            char *text = event_json_trusted(&j, EVENT_STATUS_QUEUED, next);
            assert_non_null(text);
            cJSON *got = cJSON_Parse(text);
            if (got == NULL)
                fail_msg("not JSON: %s", text);
            cJSON *want = event_from_job(&j, EVENT_STATUS_QUEUED, next);
            if (!cJSON_Compare(got, want, true)) {
                char *w = print(want);
                fail_msg("body %zu variant %d:\n got %s\nwant %s", i, variant, text, w);
            }
            cJSON_Delete(got);
            cJSON_Delete(want);
            free(text);
        }
    }
    /* A path that is not valid UTF-8 needs cleaning: left to event_from_job. */
    struct job j = job_with_body("{}", 2);
    j.path = (char *)"/hooks/\xff";
    assert_null(event_json_trusted(&j, EVENT_STATUS_QUEUED, 0));
}

/* A body nested deeper than the strict checker allows is kept as text by both printers:
 * stored parsed, 999 levels put the event past cJSON's nesting limit, and the event could
 * no longer be read (listed, shown or replayed). Read back, it is the body as received. */
static void test_deep_body_reads_back(void **state)
{
    (void)state;
    size_t depth = 999;
    char *body = xmalloc(2 * depth);
    memset(body, '[', depth);
    memset(body + depth, ']', depth);
    struct job j = job_with_body(body, 2 * depth);
    j.content_type = (char *)"text/plain";
    char *text = event_json(&j, EVENT_STATUS_QUEUED, 0, NULL, NULL);
    cJSON *ev = cJSON_Parse(text);
    if (ev == NULL)
        fail_msg("the stored event does not read back");
    const cJSON *b = get(get(ev, "request"), "body");
    assert_true(cJSON_IsString(b));
    assert_int_equal(strlen(b->valuestring), 2 * depth);
    assert_memory_equal(b->valuestring, body, 2 * depth);
    struct job r;
    char err[256];
    assert_int_equal(event_request_to_job(ev, &r, err, sizeof(err)), 0);
    assert_int_equal(r.body_len, 2 * depth);
    assert_memory_equal(r.body, body, 2 * depth);
    job_clear(&r);
    cJSON_Delete(ev);
    free(text);
    /* At the limit it is still kept as JSON. */
    struct job k = job_with_body("[[[[1]]]]", 9);
    text = event_json(&k, EVENT_STATUS_QUEUED, 0, NULL, NULL);
    ev = cJSON_Parse(text);
    assert_true(cJSON_IsArray(get(get(ev, "request"), "body")));
    cJSON_Delete(ev);
    free(text);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_shape),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_body_not_nul_terminated),
        cmocka_unit_test(test_binary_body_round_trip),
        cmocka_unit_test(test_attempt_shape),
        cmocka_unit_test(test_attempt_body_utf8),
        cmocka_unit_test(test_attempt_body_cap),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_query_object),
        cmocka_unit_test(test_json_trusted),
        cmocka_unit_test(test_deep_body_reads_back),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

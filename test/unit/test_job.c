/*
 * test_job.c - unit tests for common/job.c: the HSET argv a job becomes, the job read back
 * from HGETALL pairs (a round trip with a body holding NUL bytes and strings that need
 * escaping), the older one-field-per-value layout, defaults for optional fields, and the
 * errors for missing or malformed required ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb.h"
#include "job.h"
#include "xalloc.h"

static const char body_with_nuls[] = "a\0b\0\0{\"x\":1}\xff";
#define BODY_LEN (sizeof(body_with_nuls) - 1)

static void job_sample(struct job *j)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "evt_01JD0000000000000000000000");
    snprintf(j->bridge_id, sizeof(j->bridge_id), "brg_01JD0000000000000000000001");
    j->received_ms = 1795341600123;
    j->method = xstrdup("POST");
    j->path = xstrdup("/hooks/abc");
    j->query = xstrdup("a=1&b=x%20y");
    j->headers_json = xstrdup("{\"content-type\":\"application/octet-stream\"}");
    j->content_type = xstrdup("application/octet-stream");
    j->body = xmalloc(BODY_LEN + 1);
    memcpy(j->body, body_with_nuls, BODY_LEN + 1);
    j->body_len = BODY_LEN;
    j->replay_of = xstrdup("evt_01JC0000000000000000000000");
    j->attempts = 2;
    j->requeues = 1;
}

/* The value argv holds for `field`, or fail. */
static size_t argv_value(const struct job_hset *h, const char *field, const char **value)
{
    for (int i = 2; i + 1 < h->argc; i += 2) {
        if (h->argvlen[i] == strlen(field) && memcmp(h->argv[i], field, h->argvlen[i]) == 0) {
            *value = h->argv[i + 1];
            return h->argvlen[i + 1];
        }
    }
    fail_msg("argv lacks %s", field);
    return 0;
}

static void test_hset_build(void **state)
{
    (void)state;
    struct job j;
    struct job_hset h;
    job_sample(&j);
    job_hset_build(&h, &j, "hb:job:evt_1");
    assert_int_equal(h.argc, 12);
    assert_int_equal(h.argvlen[0], 4);
    assert_memory_equal(h.argv[0], "HSET", 4);
    assert_int_equal(h.argvlen[1], strlen("hb:job:evt_1"));
    assert_memory_equal(h.argv[1], "hb:job:evt_1", h.argvlen[1]);

    static const struct {
        const char *field;
        const char *value;
    } want[] = {
        {JOB_F_BRIDGE, "brg_01JD0000000000000000000001"},
        {JOB_F_REQUEST,
         "{\"received_ms\":1795341600123,\"method\":\"POST\",\"path\":\"/hooks/abc\","
         "\"query\":\"a=1&b=x%20y\",\"content_type\":\"application/octet-stream\","
         "\"replay_of\":\"evt_01JC0000000000000000000000\","
         "\"headers\":{\"content-type\":\"application/octet-stream\"}}"},
        {JOB_F_ATTEMPTS, "2"},
        {JOB_F_REQUEUES, "1"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *v;
        size_t len = argv_value(&h, want[i].field, &v);
        if (len != strlen(want[i].value) || memcmp(v, want[i].value, len) != 0)
            fail_msg("%s is %.*s, expected %s", want[i].field, (int)len, v, want[i].value);
    }
    const char *body;
    assert_int_equal(argv_value(&h, JOB_F_BODY, &body), BODY_LEN);
    assert_memory_equal(body, body_with_nuls, BODY_LEN);
    /* The body is not copied: the argv points into the job. */
    assert_ptr_equal(body, j.body);
    job_hset_free(&h);
    job_clear(&j);
}

/* Empty and NULL strings, counts at zero (not written: absent reads as 0), no headers, and
 * strings that need escaping all come back as they went in. */
static void test_hset_build_edges(void **state)
{
    (void)state;
    struct job j, back;
    struct job_hset h;
    char err[HB_ERR_LEN];
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "evt_e");
    snprintf(j.bridge_id, sizeof(j.bridge_id), "brg_e");
    j.received_ms = 9007199254740992LL;
    j.path = xstrdup("/p/\"q\"\\\x01\x7f\xc3\xa9");
    job_hset_build(&h, &j, "k");
    assert_int_equal(h.argc, 8);
    const char *v;
    assert_int_equal(argv_value(&h, JOB_F_BODY, &v), 0);
    assert_int_equal(job_from_pairs(&back, j.id, h.argv + 2, h.argvlen + 2, (size_t)h.argc - 2, err,
                                    sizeof(err)),
                     0);
    assert_int_equal(back.received_ms, 9007199254740992LL);
    assert_string_equal(back.path, j.path);
    assert_string_equal(back.method, "");
    assert_string_equal(back.headers_json, "{}");
    assert_int_equal(back.attempts, 0);
    assert_int_equal(back.requeues, 0);
    job_hset_free(&h);
    job_clear(&back);
    job_clear(&j);
}

/* HGETALL hands back exactly what HSET wrote: argv[2..] is the pair list. */
static void test_round_trip(void **state)
{
    (void)state;
    struct job j, back;
    struct job_hset h;
    char err[HB_ERR_LEN];
    job_sample(&j);
    job_hset_build(&h, &j, "hb:job:x");
    assert_int_equal(job_from_pairs(&back, j.id, h.argv + 2, h.argvlen + 2, (size_t)h.argc - 2, err,
                                    sizeof(err)),
                     0);
    job_hset_free(&h);
    assert_string_equal(back.id, j.id);
    assert_string_equal(back.bridge_id, j.bridge_id);
    assert_int_equal(back.received_ms, j.received_ms);
    assert_string_equal(back.method, j.method);
    assert_string_equal(back.path, j.path);
    assert_string_equal(back.query, j.query);
    assert_string_equal(back.headers_json, j.headers_json);
    assert_string_equal(back.content_type, j.content_type);
    assert_int_equal(back.body_len, BODY_LEN);
    assert_memory_equal(back.body, body_with_nuls, BODY_LEN);
    assert_int_equal(back.body[BODY_LEN], '\0');
    assert_ptr_not_equal(back.body, j.body);
    assert_string_equal(back.replay_of, j.replay_of);
    assert_int_equal(back.attempts, 2);
    assert_int_equal(back.requeues, 1);
    job_clear(&j);
    job_clear(&back);
    /* job_clear zeroes, so a second clear is harmless. */
    job_clear(&back);
}

static void test_minimal_pairs_defaults(void **state)
{
    (void)state;
    const char *strs[] = {"bridge_id", "brg_1", "received_ms", "1000", "unknown", "ignored"};
    size_t lens[6];
    for (size_t i = 0; i < 6; i++)
        lens[i] = strlen(strs[i]);
    struct job j;
    char err[HB_ERR_LEN];
    assert_int_equal(job_from_pairs(&j, "evt_1", strs, lens, 6, err, sizeof(err)), 0);
    assert_string_equal(j.id, "evt_1");
    assert_string_equal(j.bridge_id, "brg_1");
    assert_int_equal(j.received_ms, 1000);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.requeues, 0);
    assert_string_equal(j.method, "");
    assert_string_equal(j.path, "");
    assert_string_equal(j.query, "");
    assert_string_equal(j.headers_json, "{}");
    assert_string_equal(j.content_type, "");
    assert_string_equal(j.replay_of, "");
    assert_non_null(j.body);
    assert_int_equal(j.body_len, 0);
    job_clear(&j);
}

/* Lengths rule, not NULs: values are cut out of a larger buffer as hiredis may hand them. */
static void test_pairs_use_lengths(void **state)
{
    (void)state;
    const char *buf = "bridge_idXXbrg_2YYreceived_ms42ZZattempts7";
    const char *strs[] = {buf, buf + 11, buf + 18, buf + 29, buf + 33, buf + 41};
    size_t lens[] = {9, 5, 11, 2, 8, 1};
    struct job j;
    char err[HB_ERR_LEN];
    assert_int_equal(job_from_pairs(&j, "evt_2", strs, lens, 6, err, sizeof(err)), 0);
    assert_string_equal(j.bridge_id, "brg_2");
    assert_int_equal(j.received_ms, 42);
    assert_int_equal(j.attempts, 7);
    job_clear(&j);

    /* A repeated field: the last one wins, without leaking the first. */
    const char *rep[] = {"bridge_id", "b", "received_ms", "1", "path", "/a", "path", "/b"};
    size_t rlens[8];
    for (size_t i = 0; i < 8; i++)
        rlens[i] = strlen(rep[i]);
    assert_int_equal(job_from_pairs(&j, "evt_3", rep, rlens, 8, err, sizeof(err)), 0);
    assert_string_equal(j.path, "/b");
    job_clear(&j);
}

struct bad_case {
    const char *pairs[8]; /* NULL-terminated */
    const char *err;
};

static const struct bad_case bad_cases[] = {
    {{"received_ms", "1", NULL}, "job evt_1: bridge_id missing"},
    {{"bridge_id", "brg_1", NULL}, "job evt_1: received_ms missing"},
    {{NULL}, "job evt_1: bridge_id missing"},
    {{"bridge_id", "", "received_ms", "1", NULL}, "job evt_1: bridge_id malformed"},
    {{"bridge_id", "brg_0123456789012345678901234567890", "received_ms", "1", NULL},
     "job evt_1: bridge_id malformed"},
    {{"bridge_id", "b", "received_ms", "", NULL}, "job evt_1: received_ms malformed"},
    {{"bridge_id", "b", "received_ms", "12x", NULL}, "job evt_1: received_ms malformed"},
    {{"bridge_id", "b", "received_ms", "-5", NULL}, "job evt_1: received_ms malformed"},
    {{"bridge_id", "b", "received_ms", "99999999999999999999", NULL},
     "job evt_1: received_ms malformed"},
    {{"bridge_id", "b", "received_ms", "1", "attempts", "two", NULL},
     "job evt_1: attempts malformed"},
    {{"bridge_id", "b", "received_ms", "1", "requeues", "-1", NULL},
     "job evt_1: requeues malformed"},
    {{"bridge_id", "b", "request", "{", NULL}, "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "[]", NULL}, "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "{\"method\":\"GET\"}", NULL}, "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "{\"received_ms\":1.5}", NULL}, "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "{\"received_ms\":-1}", NULL}, "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "{\"received_ms\":1,\"path\":7}", NULL},
     "job evt_1: request malformed"},
    {{"bridge_id", "b", "request", "{\"received_ms\":1,\"headers\":\"x\"}", NULL},
     "job evt_1: request malformed"},
    {{"bridge_id", "b", "received_ms", "1", "path", "/p", "attempts", NULL},
     "job evt_1: odd number of hash entries"},
};

static void test_bad_pairs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        size_t lens[8], n = 0;
        while (bad_cases[i].pairs[n] != NULL) {
            lens[n] = strlen(bad_cases[i].pairs[n]);
            n++;
        }
        struct job j;
        char err[HB_ERR_LEN] = "";
        if (job_from_pairs(&j, "evt_1", bad_cases[i].pairs, lens, n, err, sizeof(err)) == 0)
            fail_msg("case %zu accepted", i);
        assert_string_equal(err, bad_cases[i].err);
        /* A refused job owns nothing. */
        assert_null(j.method);
        assert_null(j.path);
        assert_null(j.body);
        job_clear(&j);
    }
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_cjson();
    return 0;
}

/* What the request field reads as through a cJSON tree (job.c's reading before it had a
 * path without one): 1 with the fields set, 0 when it is malformed. */
struct tree_read {
    long long received;
    const char *strs[6]; /* method, path, query, content_type, replay_of, only_route */
    char *headers;       /* printed back, or NULL when absent */
};

static int tree_read(const char *text, struct tree_read *t)
{
    static const char *const keys[] = {"method",       "path",      "query",
                                       "content_type", "replay_of", "only_route"};
    memset(t, 0, sizeof(*t));
    cJSON *o = cJSON_ParseWithLength(text, strlen(text));
    int ok = 0;
    if (!cJSON_IsObject(o))
        goto out;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "received_ms");
    if (!cJSON_IsNumber(r) || r->valuedouble < 0 || r->valuedouble > 9007199254740992.0 ||
        r->valuedouble != (double)(long long)r->valuedouble)
        goto out;
    t->received = (long long)r->valuedouble;
    for (size_t i = 0; i < 6; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (v != NULL && !cJSON_IsString(v))
            goto out;
        t->strs[i] = v ? xstrdup(v->valuestring) : NULL;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "headers");
    if (h != NULL && !cJSON_IsObject(h))
        goto out;
    t->headers = h ? cJSON_PrintUnformatted(h) : NULL;
    ok = 1;
out:
    cJSON_Delete(o);
    return ok;
}

/* The request field reads the same whether it takes the path without a tree (the texts
 * job_request_json writes) or falls back to cJSON (escapes, whitespace, other members,
 * other number forms, trailing bytes, malformed values). */
static void test_request_read_like_a_tree(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"received_ms\":1700000000000,\"method\":\"POST\",\"path\":\"/hooks/abc\",\"query\":"
        "\"a=1\",\"content_type\":\"application/json\",\"replay_of\":\"\",\"headers\":{\"host\":"
        "\"h:1\",\"content-type\":\"application/json\"}}",
        "{\"received_ms\":0,\"method\":\"GET\",\"headers\":{}}",
        "{\"received_ms\":1,\"only_route\":\"crm\",\"headers\":{\"a\":\"1\",\"a\":\"2\"}}",
        "{\"received_ms\":1700000000000,\"path\":\"/a\\\"b\\u00e9\\u0000c\",\"headers\":{}}",
        "{\"received_ms\":1700000000000,\"headers\":{\"x\":\"caf\\u00e9\\n\"}}",
        "{\"received_ms\":1700000000000,\"headers\":{\"x\":[\"1\",2]}}",
        "{\"received_ms\":1700000000000,\"headers\":{\"x\":\"\xff\xfe raw\"}}",
        "{ \"received_ms\": 1700000000000, \"method\": \"PUT\" }",
        "{\"received_ms\":1700000000000,\"method\":\"PUT\"} trailing",
        "{\"received_ms\":1700000000000,\"method\":\"PUT\",\"method\":\"GET\"}",
        "{\"received_ms\":1700000000000,\"other\":{\"deep\":[1,2,3]},\"method\":\"PUT\"}",
        "{\"received_ms\":1.7e12,\"method\":\"PUT\"}",
        "{\"received_ms\":01700000000000}",
        "{\"received_ms\":9007199254740992}",
        "{\"received_ms\":9007199254740993}",
        "{\"received_ms\":12345678901234567}",
        "{\"received_ms\":-5}",
        "{\"received_ms\":1.5}",
        "{\"method\":\"POST\"}",
        "{\"received_ms\":1,\"method\":7}",
        "{\"received_ms\":1,\"headers\":\"x\"}",
        "{\"received_ms\":1,\"headers\":{\"x\":\"1\"}",
        "[1]",
        "",
    };
    for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
        const char *pairs[4] = {JOB_F_BRIDGE, "brg_x", JOB_F_REQUEST, texts[k]};
        size_t lens[4] = {strlen(pairs[0]), strlen(pairs[1]), strlen(pairs[2]), strlen(texts[k])};
        struct job j;
        char err[HB_ERR_LEN];
        int rc = job_from_pairs(&j, "evt_a", pairs, lens, 4, err, sizeof(err));
        struct tree_read t;
        int ok = tree_read(texts[k], &t);
        if (ok != (rc == 0))
            fail_msg("text %zu: job_from_pairs %d (%s), tree %d", k, rc, rc ? err : "", ok);
        if (ok) {
            char *got[6] = {j.method, j.path, j.query, j.content_type, j.replay_of, j.only_route};
            assert_int_equal(j.received_ms, t.received);
            for (size_t i = 0; i < 6; i++) {
                /* Absent strings read as "" (only_route stays NULL). */
                const char *want = t.strs[i] ? t.strs[i] : (i == 5 ? NULL : "");
                if (want == NULL)
                    assert_null(got[i]);
                else if (got[i] == NULL || strcmp(got[i], want) != 0)
                    fail_msg("text %zu field %zu: \"%s\", want \"%s\"", k, i,
                             got[i] ? got[i] : "(null)", want);
            }
            const char *wh = t.headers ? t.headers : "{}";
            if (strcmp(j.headers_json, wh) != 0)
                fail_msg("text %zu headers: %s, want %s", k, j.headers_json, wh);
            job_clear(&j);
        }
        for (size_t i = 0; i < 6; i++)
            free((void *)t.strs[i]);
        free(t.headers);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hset_build),
        cmocka_unit_test(test_hset_build_edges),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_minimal_pairs_defaults),
        cmocka_unit_test(test_pairs_use_lengths),
        cmocka_unit_test(test_bad_pairs),
        cmocka_unit_test(test_request_read_like_a_tree),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * test_ids.c - unit tests for common/ids.c: the shape of ULID ids (prefix + 26 Crockford
 * characters, time first so that later ids sort later as plain strings), ids_valid on good
 * and broken ids, and endpoint tokens (32 URL-safe characters, distinct) with the
 * ids_endpoint_valid edge cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hb.h"
#include "ids.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void test_new_shape(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"brg_", "evt_", ""};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char id[HB_ID_LEN];
        size_t plen = strlen(prefixes[i]);
        ids_new(prefixes[i], 1795341600123, id, sizeof(id));
        assert_int_equal(strlen(id), plen + IDS_ULID_LEN);
        assert_memory_equal(id, prefixes[i], plen);
        for (size_t j = plen; id[j] != '\0'; j++)
            assert_non_null(strchr(crockford, id[j]));
        assert_true(ids_valid(prefixes[i], id));
    }
}

struct time_case {
    int64_t ms;
    const char *time_part; /* the first 10 ULID characters */
};

/* Increasing times; 1469918176385 is the example of the ULID specification. */
static const struct time_case time_cases[] = {
    {0, "0000000000"},
    {1, "0000000001"},
    {31, "000000000Z"},
    {32, "0000000010"},
    {1000, "00000000Z8"},
    {1469918176385, "01ARYZ6S41"},
    {1795341600123, NULL},
    {1795341600124, NULL},
    {1795341601000, NULL},
    {4102444800000, NULL},
    {(INT64_C(1) << 48) - 1, "7ZZZZZZZZZ"},
};

static void test_new_time_order(void **state)
{
    (void)state;
    char prev[HB_ID_LEN] = "";
    for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        char id[HB_ID_LEN];
        ids_new("evt_", time_cases[i].ms, id, sizeof(id));
        if (time_cases[i].time_part != NULL)
            assert_memory_equal(id + 4, time_cases[i].time_part, 10);
        if (i > 0 && strcmp(prev, id) >= 0)
            fail_msg("%s (ms %lld) does not sort after %s", id, (long long)time_cases[i].ms, prev);
        memcpy(prev, id, sizeof(id));
    }
}

/* The time bound: every id made before `ms` sorts below it, every id made at or after it
 * sorts above; too small a buffer gives "". */
static void test_time_bound(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        int64_t ms = time_cases[i].ms;
        char bound[HB_ID_LEN], id[HB_ID_LEN];
        ids_time_bound("evt_", ms, bound, sizeof(bound));
        assert_int_equal(strlen(bound), 4 + IDS_TIME_LEN);
        ids_new("evt_", ms, id, sizeof(id));
        assert_true(strcmp(id, bound) > 0);
        if (ms > 0) {
            ids_new("evt_", ms - 1, id, sizeof(id));
            assert_true(strcmp(id, bound) < 0);
        }
    }
    char small[8] = "x";
    ids_time_bound("evt_", 1000, small, sizeof(small));
    assert_string_equal(small, "");
}

static void test_new_random_part(void **state)
{
    (void)state;
    char a[HB_ID_LEN], b[HB_ID_LEN];
    ids_new("evt_", 1795341600123, a, sizeof(a));
    ids_new("evt_", 1795341600123, b, sizeof(b));
    /* Same millisecond: same time part, different 80-bit random part. */
    assert_memory_equal(a, b, 4 + 10);
    assert_string_not_equal(a + 14, b + 14);
}

static void test_new_small_buffer(void **state)
{
    (void)state;
    char out[HB_ID_LEN];
    memset(out, 'x', sizeof(out));
    /* "evt_" + 26 + NUL = 31 bytes; one less must not be written past. */
    ids_new("evt_", 1, out, 30);
    assert_string_equal(out, "");
    assert_int_equal(out[30], 'x');
    ids_new("evt_", 1, out, 31);
    assert_int_equal(strlen(out), 30);
}

struct valid_case {
    const char *prefix;
    const char *s;
    bool ok;
};

static const struct valid_case valid_cases[] = {
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAV", true},
    {"evt_", "evt_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
    {"evt_", "evt_00000000000000000000000000", true},
    {"", "01ARYZ6S41TSV4RRFFQ69G5FAV", true},
    {"evt_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAV", false},
    {"brg_", "BRG_01ARYZ6S41TSV4RRFFQ69G5FAV", false},
    {"brg_", "01ARYZ6S41TSV4RRFFQ69G5FAV", false},
    {"brg_", "brg01ARYZ6S41TSV4RRFFQ69G5FAVX", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FA", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAVV", false},
    {"brg_", "brg_", false},
    {"brg_", "", false},
    {"brg_", "brg_01aryz6s41tsv4rrffq69g5fav", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAI", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAL", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAO", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FAU", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FA-", false},
    {"brg_", "brg_01ARYZ6S41TSV4RR FQ69G5FAV", false},
    {"brg_", "brg_01ARYZ6S41TSV4RRFFQ69G5FA/", false},
    {"brg_", NULL, false},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        if (ids_valid(c->prefix, c->s) != c->ok)
            fail_msg("ids_valid(\"%s\", \"%s\") != %d", c->prefix, c->s ? c->s : "(null)", c->ok);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_endpoint_tokens(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char tok[N][IDS_ENDPOINT_LEN + 1];
    for (int i = 0; i < N; i++) {
        ids_endpoint(tok[i]);
        assert_int_equal(strlen(tok[i]), IDS_ENDPOINT_LEN);
        assert_int_equal(IDS_ENDPOINT_LEN, 32);
        for (int j = 0; j < IDS_ENDPOINT_LEN; j++) {
            char c = tok[i][j];
            bool url_safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!url_safe)
                fail_msg("token %s has '%c'", tok[i], c);
        }
        assert_true(ids_endpoint_valid(tok[i], strlen(tok[i])));
        /* Never '-' or '_' first: the token is an e-mail local part that mail tools take
         * for an option (1 in 32 tokens would start so). */
        if (tok[i][0] == '-' || tok[i][0] == '_')
            fail_msg("token %s starts with '%c'", tok[i], tok[i][0]);
    }
    qsort(tok, N, sizeof(*tok), cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(tok[i - 1], tok[i]) == 0)
            fail_msg("token %s drawn twice", tok[i]);
}

struct endpoint_case {
    const char *s;
    size_t len; /* (size_t)-1: strlen(s) */
    bool ok;
};

static const char s64[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
static const char s65[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_a";

static const struct endpoint_case endpoint_cases[] = {
    {"", (size_t)-1, false},
    {"a", (size_t)-1, true},
    {"A-_z9", (size_t)-1, true},
    {s64, (size_t)-1, true},
    {s65, (size_t)-1, false},
    {"abc/def", (size_t)-1, false},
    {"/", (size_t)-1, false},
    {"abc.def", (size_t)-1, false},
    {"..", (size_t)-1, false},
    {"a b", (size_t)-1, false},
    {"a%2F", (size_t)-1, false},
    {"a+b", (size_t)-1, false},
    {"a=", (size_t)-1, false},
    {"caf\xc3\xa9", (size_t)-1, false},
    /* Only `len` bytes count: the URL path is not NUL-terminated where the token ends. */
    {"abc/def", 3, true},
    {"abc\0def", 7, false},
    {"abc", 0, false},
};

static void test_endpoint_valid(void **state)
{
    (void)state;
    assert_int_equal(strlen(s64), 64);
    assert_int_equal(strlen(s65), 65);
    for (size_t i = 0; i < sizeof(endpoint_cases) / sizeof(endpoint_cases[0]); i++) {
        const struct endpoint_case *c = &endpoint_cases[i];
        size_t len = c->len == (size_t)-1 ? strlen(c->s) : c->len;
        if (ids_endpoint_valid(c->s, len) != c->ok)
            fail_msg("ids_endpoint_valid(\"%s\", %zu) != %d", c->s, len, c->ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_shape),        cmocka_unit_test(test_new_time_order),
        cmocka_unit_test(test_time_bound),       cmocka_unit_test(test_new_random_part),
        cmocka_unit_test(test_new_small_buffer), cmocka_unit_test(test_valid),
        cmocka_unit_test(test_endpoint_tokens),  cmocka_unit_test(test_endpoint_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

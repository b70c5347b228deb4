/*
 * test_text.c - unit tests for common/text.c: hex digits, strict percent-decoding of paths
 * (malformed escapes and %00 refused), lenient form decoding, the string hashes and JSON
 * string quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "body.h"
#include "dynbuf.h"
#include "text.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_hex_value(void **state)
{
    (void)state;
    const char *digits = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        assert_int_equal(text_hex_value(digits[i]), i);
        assert_int_equal(text_hex_value(digits[i] >= 'a' ? digits[i] - 32 : digits[i]), i);
    }
    for (int c = 0; c < 256; c++)
        if (strchr("0123456789abcdefABCDEF", c) == NULL || c == 0)
            assert_int_equal(text_hex_value(c), -1);
}

static void test_uridecode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"/bridges/brg_1", "/bridges/brg_1"},
        {"/a%20b", "/a b"},
        {"%2Fx%2f", "/x/"},
        {"%41%6a", "Aj"},
        {"", ""},
        {"%", NULL},
        {"%4", NULL},
        {"%zz", NULL},
        {"%00", NULL},
        {"a%4g", NULL},
        {"100%", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = text_uri_decode(cases[i].in);
        if (cases[i].out == NULL) {
            if (got != NULL)
                fail_msg("%s decoded to %s, want refused", cases[i].in, got);
        } else {
            if (got == NULL)
                fail_msg("%s refused, want %s", cases[i].in, cases[i].out);
            assert_string_equal(got, cases[i].out);
        }
        free(got);
    }
}

static void test_form_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
        size_t outlen;
    } cases[] = {
        {"a+b", "a b", 3},  {"x%20y", "x y", 3}, {"%zz", "%zz", 3},
        {"%4", "%4", 2},    {"100%", "100%", 4}, {"%41%6A", "Aj", 2},
        {"%00x", "\0x", 2}, {"", "", 0},         {"%e2%82%ac", "\xe2\x82\xac", 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        size_t n = text_form_decode(cases[i].in, strlen(cases[i].in), out);
        assert_int_equal(n, cases[i].outlen);
        assert_memory_equal(out, cases[i].out, n);
    }
    /* Only len bytes are read: an escape cut by the length stays literal. */
    char out[8];
    assert_int_equal(text_form_decode("%41", 2, out), 2);
    assert_memory_equal(out, "%4", 2);
}

static void test_u64(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {10, "10"},
                 {202, "202"},
                 {1795341600123ULL, "1795341600123"},
                 {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[21];
        memset(out, 'x', sizeof(out));
        assert_int_equal(text_u64(out, cases[i].v), strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_hash(void **state)
{
    (void)state;
    /* FNV-1a reference values. */
    assert_int_equal(text_hash(""), 2166136261u);
    assert_int_equal(text_hash("a"), 0xe40c292cu);
    assert_int_equal(text_hash("foobar"), 0xbf9cf968u);
    assert_true(text_hash("requests|a|202") != text_hash("requests|a|203"));
}

/* The keyed hash of one input in a process that has not hashed yet, from a child. */
static uint64_t keyed_hash_in_child(const char *s)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint64_t h = text_hash_keyed(s, strlen(s));
        _exit(write(fds[1], &h, sizeof(h)) == (ssize_t)sizeof(h) ? 0 : 1);
    }
    close(fds[1]);
    uint64_t h = 0;
    assert_int_equal(read(fds[0], &h, sizeof(h)), (ssize_t)sizeof(h));
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return h;
}

/* SipHash under a per-process key: stable within a process, over every byte (NULs too),
 * and another process (another key) gets other values, so collisions cannot be precomputed. */
static void test_hash_keyed(void **state)
{
    (void)state;
    /* Two fresh processes draw two keys: the same input hashes differently. (First, before
     * this process draws the key that children would inherit.) */
    uint64_t a = keyed_hash_in_child("Aa"), b = keyed_hash_in_child("Aa");
    assert_true(a != b);
    assert_true(text_hash_keyed("endpoint", 8) == text_hash_keyed("endpoint", 8));
    assert_true(text_hash_keyed("endpoint", 8) != text_hash_keyed("endpoinT", 8));
    assert_true(text_hash_keyed("a\0b", 3) != text_hash_keyed("a\0c", 3));
    assert_true(text_hash_keyed("", 0) != text_hash_keyed("\0", 1));
}

/* Numbers print so that they read back exactly, integers plainly: cJSON's own printer
 * gives 9.00719925474099e+15 for 2^53, which reads back as 2^53 - 2. */
static void test_json_number(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *want;
    } cases[] = {{9007199254740992.0, "9007199254740992"},
                 {9007199254740991.0, "9007199254740991"},
                 {-9007199254740992.0, "-9007199254740992"},
                 {0.1, "0.1"},
                 {1.5, "1.5"},
                 {123, "123"},
                 {-0.0, "0"},
                 {1e300, "1e+300"},
                 {0.30000000000000004, "0.30000000000000004"},
                 {1e17, "1e+17"}};
    char out[TEXT_JSON_NUMBER_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(text_json_number(out, cases[i].d), strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
    }
    text_json_number(out, NAN);
    assert_string_equal(out, "null");
    /* Any double reads back as itself. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof(d));
        if (!isfinite(d))
            continue;
        text_json_number(out, d);
        assert_true(strtod(out, NULL) == d);
    }
}

/* A whole value prints as compact JSON that cJSON reads back equal, big integers kept. */
static void test_json_print(void **state)
{
    (void)state;
    const char *text = "{\"const\":9007199254740992,\"a\":[1,2.5,\"x\\\"\\n\",true,false,null,{}],"
                       "\"e\":[],\"f\":-1e-300}";
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    char *out = text_json_print(v);
    assert_string_equal(out, "{\"const\":9007199254740992,\"a\":[1,2.5,\"x\\\"\\u000a\",true,false,"
                             "null,{}],\"e\":[],\"f\":-1e-300}");
    cJSON *back = cJSON_Parse(out);
    assert_true(cJSON_Compare(v, back, true));
    assert_true(cJSON_GetObjectItem(back, "const")->valuedouble == 9007199254740992.0);
    cJSON_Delete(back);
    free(out);
    cJSON_Delete(v);
    out = text_json_print(NULL);
    assert_string_equal(out, "");
    free(out);
    /* Strings kept whole by body_json_whole print with their U+0000 as \u0000 again. */
    const char *nul = "{\"k\":[\"a\\u0000b\",\"\\u0000\",\"\\\\u0000\"]}";
    v = body_json_whole(nul, strlen(nul), NULL);
    assert_non_null(v);
    out = text_json_print(v);
    assert_string_equal(out, nul);
    free(out);
    cJSON_Delete(v);
}

/* Quoting: what must be escaped is, the rest passes as is, and a JSON reader gives back
 * the input. */
static void test_json_quote(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, "\"\""},
        {"abc", 3, "\"abc\""},
        {"a\"b\\c/", 6, "\"a\\\"b\\\\c/\""},
        {"\n\t\x01\x1f\x7f", 5, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\""},
        {"h\xc3\xa9 \xf0\x9f\x98\x80", 8, "\"h\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"a\0b", 3, "\"a\\u0000b\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[TEXT_JSON_QUOTE_MAX(16)];
        size_t n = text_json_quote(out, cases[i].in, cases[i].len);
        if (n != strlen(cases[i].want) || memcmp(out, cases[i].want, n) != 0)
            fail_msg("case %zu: %.*s, want %s", i, (int)n, out, cases[i].want);
        if (memchr(cases[i].in, '\0', cases[i].len) != NULL)
            continue;
        cJSON *v = cJSON_ParseWithLength(out, n);
        assert_true(cJSON_IsString(v));
        assert_string_equal(v->valuestring, cases[i].in);
        cJSON_Delete(v);
    }
    /* The worst case fits the documented room exactly. */
    char worst[TEXT_JSON_QUOTE_MAX(4)];
    assert_int_equal(text_json_quote(worst, "\x01\x02\x03\x04", 4), TEXT_JSON_QUOTE_MAX(4));
}

static void test_tchar(void **state)
{
    (void)state;
    static const char ok[] = "!#$%&'*+-.^_`|~09azAZ";
    static const char bad[] = "\"(),/:;<=>?@[\\]{} \t\x7f";
    for (size_t i = 0; ok[i] != '\0'; i++)
        assert_true(text_is_tchar((unsigned char)ok[i]));
    for (size_t i = 0; bad[i] != '\0'; i++)
        assert_false(text_is_tchar((unsigned char)bad[i]));
    assert_false(text_is_tchar(0));
    assert_false(text_is_tchar(0x80));
    assert_true(text_is_token("X-Shop-Id"));
    assert_true(text_is_token("!#$%&'*+-.^_`|~09azAZ"));
    assert_false(text_is_token(""));
    assert_false(text_is_token("X Shop"));
    assert_false(text_is_token("X-Shop:"));
}

/* text_json_put_dynbuf: lead then the quoted string, long strings too, and the cap. */
static void test_json_put_dynbuf(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 4096);
    assert_int_equal(text_json_put_dynbuf(&b, "{\"a\":", "x\"y\n"), 0);
    assert_string_equal(dynbuf_ptr(&b), "{\"a\":\"x\\\"y\\u000a\"");
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dynbuf_free(&b);
    assert_int_equal(text_json_put_dynbuf(&b, "", big), 0);
    assert_int_equal(dynbuf_len(&b), sizeof(big) + 1);
    dynbuf_free(&b);
    dynbuf_init(&b, 10);
    assert_int_equal(text_json_put_dynbuf(&b, "", "0123456789"), DYNBUF_TOO_BIG);
    assert_int_equal(dynbuf_len(&b), 0);
    dynbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tchar),
        cmocka_unit_test(test_hex_value),
        cmocka_unit_test(test_uridecode),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_hash_keyed),
        cmocka_unit_test(test_json_number),
        cmocka_unit_test(test_json_print),
        cmocka_unit_test(test_json_quote),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_json_put_dynbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

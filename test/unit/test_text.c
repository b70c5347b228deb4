/*
 * test_text.c - unit tests for common/text.c: hex digits, strict percent-decoding of paths
 * (malformed escapes and %00 refused), lenient form decoding, and the string hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "text.h"

#include <stdlib.h>
#include <string.h>

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

static void test_hash(void **state)
{
    (void)state;
    /* FNV-1a reference values. */
    assert_int_equal(text_hash(""), 2166136261u);
    assert_int_equal(text_hash("a"), 0xe40c292cu);
    assert_int_equal(text_hash("foobar"), 0xbf9cf968u);
    assert_true(text_hash("requests|a|202") != text_hash("requests|a|203"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_value),
        cmocka_unit_test(test_uridecode),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_http.c - unit tests for ingress/http.c's pure helpers: splitting admin paths into
 * route segments and percent-decoding them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/http.h"

#include <stdlib.h>
#include <string.h>

struct split_case {
    const char *path;
    int max;
    int want;
    const char *segs[4];
};

static void test_split_path(void **state)
{
    (void)state;
    static const struct split_case cases[] = {
        {"/bridges", 8, 1, {"bridges"}},
        {"/bridges/", 8, 1, {"bridges"}},
        {"/bridges/brg_1", 8, 2, {"bridges", "brg_1"}},
        {"/bridges/brg_1/activate", 8, 3, {"bridges", "brg_1", "activate"}},
        {"bridges/x", 8, 2, {"bridges", "x"}},
        {"//bridges", 8, 1, {"bridges"}},
        {"/", 8, 0, {NULL}},
        {"", 8, 0, {NULL}},
        {"/a/b/c", 2, -1, {NULL}},
        {"/a/b", 2, 2, {"a", "b"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        const char *segs[8];
        int n = http_split_path(cases[i].path, buf, sizeof(buf), segs, cases[i].max);
        assert_int_equal(n, cases[i].want);
        for (int k = 0; k < n; k++)
            assert_string_equal(segs[k], cases[i].segs[k]);
    }
}

static void test_split_path_too_long(void **state)
{
    (void)state;
    char path[200];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    char buf[64];
    const char *segs[4];
    assert_int_equal(http_split_path(path, buf, sizeof(buf), segs, 4), -1);
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
        char *got = http_uridecode(cases[i].in);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_path),
        cmocka_unit_test(test_split_path_too_long),
        cmocka_unit_test(test_uridecode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

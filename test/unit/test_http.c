/*
 * test_http.c - unit tests for ingress/http.c's pure helpers: splitting admin paths into
 * route segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/http.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_path),
        cmocka_unit_test(test_split_path_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

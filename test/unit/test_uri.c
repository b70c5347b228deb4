/*
 * test_uri.c - common/uri.c: splitting URI references and authorities, the http(s) URL
 * check, and RFC 3986 section 5.4's resolution examples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "uri.h"

#include <stdlib.h>
#include <string.h>

/* Part `p` of length `n` as a string to compare ("(null)" when absent). */
static const char *part(const char *p, size_t n, char *buf, size_t size)
{
    if (p == NULL)
        return "(null)";
    assert_true(n < size);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static void test_split(void **state)
{
    (void)state;
    char b[128];
    struct uri_parts u;
    uri_split("https://u:p@example.com:8443/a/b?x=1&y#frag", &u);
    assert_string_equal(part(u.scheme, u.scheme_len, b, sizeof(b)), "https");
    assert_string_equal(part(u.auth, u.auth_len, b, sizeof(b)), "u:p@example.com:8443");
    assert_string_equal(part(u.path, u.path_len, b, sizeof(b)), "/a/b");
    assert_string_equal(part(u.query, u.query_len, b, sizeof(b)), "x=1&y");
    assert_string_equal(part(u.frag, u.frag_len, b, sizeof(b)), "frag");

    /* A relative reference: no scheme, no authority; the path is there though empty. */
    uri_split("#/definitions/a", &u);
    assert_null(u.scheme);
    assert_null(u.auth);
    assert_int_equal(u.path_len, 0);
    assert_null(u.query);
    assert_string_equal(part(u.frag, u.frag_len, b, sizeof(b)), "/definitions/a");

    /* A ':' after a '/' is in the path, not a scheme's end. */
    uri_split("a/b:c", &u);
    assert_null(u.scheme);
    assert_string_equal(part(u.path, u.path_len, b, sizeof(b)), "a/b:c");
}

static void test_authority_split(void **state)
{
    (void)state;
    char b[128];
    struct uri_authority a;
    const char *auth = "user@name:pw@[::1]:80";
    assert_int_equal(uri_authority_split(auth, strlen(auth), &a), 0);
    /* Userinfo ends at the last '@'. */
    assert_string_equal(part(a.userinfo, a.userinfo_len, b, sizeof(b)), "user@name:pw");
    assert_string_equal(part(a.host, a.host_len, b, sizeof(b)), "[::1]");
    assert_string_equal(part(a.port, a.port_len, b, sizeof(b)), "80");

    assert_int_equal(uri_authority_split("host:", 5, &a), 0);
    assert_null(a.userinfo);
    assert_string_equal(part(a.host, a.host_len, b, sizeof(b)), "host");
    assert_non_null(a.port);
    assert_int_equal(a.port_len, 0);

    assert_int_equal(uri_authority_split("[::1", 4, &a), -1);
    assert_int_equal(uri_authority_split("[::1]x", 6, &a), -1);
}

static void test_http_problem(void **state)
{
    (void)state;
    assert_null(uri_http_problem("http://example.com"));
    assert_null(uri_http_problem("HTTPS://u:p@[::1]:8443/x?y#z"));
    assert_null(uri_http_problem("http://${env.HOST}/orders/${payload.id}"));
    assert_null(uri_http_problem("http://host:/x"));
    assert_string_equal(uri_http_problem("ftp://example.com"),
                        "must start with http:// or https://");
    assert_string_equal(uri_http_problem("http://exa mple.com"),
                        "must not contain spaces or control characters");
    assert_string_equal(uri_http_problem("http:///x"), "must have a host");
    assert_string_equal(uri_http_problem("http://u@/x"), "must have a host");
    assert_string_equal(uri_http_problem("http://[]/x"), "must have a valid host");
    assert_string_equal(uri_http_problem("http://[::1/x"), "must have a valid host");
    assert_string_equal(uri_http_problem("http://h:8o/"), "must have a numeric port");
    assert_string_equal(uri_http_problem("http://h:65536/"), "must have a port in 1..65535");
    assert_string_equal(uri_http_problem("http://h:0/"), "must have a port in 1..65535");
}

/* RFC 3986 section 5.4.1 and 5.4.2, against its base "http://a/b/c/d;p?q". */
static void test_resolve_rfc_examples(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {";x", "http://a/b/c/;x"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"./../g", "http://a/b/g"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"/./g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {"..g", "http://a/b/c/..g"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = uri_resolve("http://a/b/c/d;p?q", cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("resolve '%s': got '%s', want '%s'", cases[i][0], got, cases[i][1]);
        free(got);
    }
    /* No base: the reference as it is, dot segments removed. */
    char *got = uri_resolve("", "#/definitions/a");
    assert_string_equal(got, "#/definitions/a");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_authority_split),
        cmocka_unit_test(test_http_problem),
        cmocka_unit_test(test_resolve_rfc_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

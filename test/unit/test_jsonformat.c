/*
 * test_jsonformat.c - unit tests for common/jsonformat.c: each format checker on valid and
 * invalid strings at the edges of its RFC (month lengths and leap years, leap seconds with
 * offsets, IPv6 compression, URI authorities, host name lengths, IDNA2008 A-labels and their
 * contextual rules), and the lookup by format name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "jsonformat.h"

struct fcase {
    const char *format, *s;
    bool valid;
};

static const struct fcase cases[] = {
    {"date", "2024-02-29", true},
    {"date", "2023-02-29", false},
    {"date", "2000-02-29", true},
    {"date", "1900-02-29", false},
    {"date", "2024-04-31", false},
    {"date", "2024-12-31", true},
    {"date", "2024-13-01", false},
    {"date", "2024-00-10", false},
    {"date", "2024-01-00", false},
    {"date", "2024-1-01", false},
    {"date", "2024-01-01T00:00:00Z", false},
    {"date", "", false},
    {"time", "23:59:60Z", true},
    {"time", "23:59:60+00:00", true},
    {"time", "15:59:60-08:00", true},
    {"time", "00:29:60-23:30", true},
    {"time", "23:59:60+01:00", false},
    {"time", "22:59:60Z", false},
    {"time", "12:00:00.123456z", true},
    {"time", "12:00:00", false},
    {"time", "12:00:00.Z", false},
    {"time", "24:00:00Z", false},
    {"time", "12:60:00Z", false},
    {"time", "12:00:00+24:00", false},
    {"time", "12:00:00+01", false},
    {"time", "12:00:00Z ", false},
    {"date-time", "1963-06-19T08:30:06.283185Z", true},
    {"date-time", "1963-06-19t08:30:06z", true},
    {"date-time", "1998-12-31T23:59:60Z", true},
    {"date-time", "1998-12-31T15:59:60.123-08:00", true},
    {"date-time", "1998-12-31T22:59:60Z", false},
    {"date-time", "1990-02-31T15:59:59Z", false},
    {"date-time", "1963-06-19 08:30:06Z", false},
    {"date-time", "1963-06-19T08:30:06Z\n", false},
    {"email", "joe.bloggs@example.com", true},
    {"email", "te~st@example.com", true},
    {"email", "a+tag@sub.example.org", true},
    {"email", "\"joe bloggs\"@example.com", true},
    {"email", "\"a\\\"b@c\"@example.com", true},
    {"email", "user@[192.168.2.1]", true},
    {"email", "user@[IPv6:2001:db8::1]", true},
    {"email", "user@[300.1.1.1]", false},
    {"email", ".test@example.com", false},
    {"email", "test.@example.com", false},
    {"email", "te..st@example.com", false},
    {"email", "joe bloggs@example.com", false},
    {"email", "@example.com", false},
    {"email", "joe@", false},
    {"email", "joe@-example.com", false},
    {"email", "2962", false},
    {"email", "\"unterminated@example.com", false},
    {"hostname", "www.example.com", true},
    {"hostname", "localhost", true},
    {"hostname", "1host", true},
    {"hostname", "a--b.com", true},
    {"hostname", "-a.com", false},
    {"hostname", "a-.com", false},
    {"hostname", "host_name", false},
    {"hostname", "example.", false},
    {"hostname", ".example", false},
    {"hostname", "", false},
    {"hostname", "caf\xc3\xa9.fr", false},
    {"hostname", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.com", true},
    {"hostname", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl.com", false},
    /* IDNA2008 A-labels */
    {"hostname", "xn--caf-dma.fr", true},             /* café */
    {"hostname", "XN--CAF-DMA.fr", true},             /* the prefix and Punycode ignore case */
    {"hostname", "xn--4gbwdl.xn--wgbh1c", true},      /* Arabic */
    {"hostname", "xn--9n2bp8q.xn--9t4b11yi5a", true}, /* Hangul */
    {"hostname", "xn--X", false},                     /* truncated Punycode */
    {"hostname", "xn--abc-", false},                  /* decodes to ASCII only */
    {"hostname", "xn--CAF-dma.fr", true},
    {"hostname", "xn--dca", false},           /* "É": upper case is not PVALID */
    {"hostname", "xn--hello-zed", false},     /* starts with a combining mark */
    {"hostname", "xn--07jt112bpxg", false},   /* U+302E is DISALLOWED */
    {"hostname", "xn--zca29lwxobi7a", true},  /* PVALID exceptions */
    {"hostname", "xn--ll-0ea", true},         /* l·l */
    {"hostname", "xn--al-0ea", false},        /* a·l */
    {"hostname", "xn--wva3je", true},         /* Greek keraia before Greek */
    {"hostname", "xn--wva3j", false},         /* keraia at the end */
    {"hostname", "xn--4dbc5h", true},         /* Hebrew geresh after Hebrew */
    {"hostname", "xn--5db1e", false},         /* geresh first */
    {"hostname", "xn--bck0j", true},          /* katakana middle dot with katakana */
    {"hostname", "xn--vek", false},           /* katakana middle dot alone */
    {"hostname", "xn--ngb6iyr", false},       /* mixed Arabic-Indic digits */
    {"hostname", "xn--11b2ezcw70k", true},    /* ZWJ after virama */
    {"hostname", "xn--11b2er09f", false},     /* ZWJ without virama */
    {"hostname", "xn--ngba5hb2804a", true},   /* ZWNJ between joining letters */
    {"hostname", "XN--aa---o47jg78q", false}, /* "--" in 3rd and 4th positions */
    /* The Bidi rule (RFC 5893), from the JSON-Schema-Test-Suite's idn-hostname.json */
    {"hostname", "xn--0-zmc", false},  /* a digit first, then a right-to-left letter */
    {"hostname", "xn--a-0hc", false},  /* left-to-right label with a right-to-left letter */
    {"hostname", "xn--0ca24w", false}, /* an A-label that decodes to a Bidi violation */
    {"hostname", "xn--4dbc5h", true},  /* right-to-left throughout */
    {"ipv4", "192.168.0.1", true},
    {"ipv4", "0.0.0.0", true},
    {"ipv4", "255.255.255.255", true},
    {"ipv4", "256.1.1.1", false},
    {"ipv4", "01.1.1.1", false},
    {"ipv4", "1.1.1", false},
    {"ipv4", "1.1.1.1.1", false},
    {"ipv4", "1.1.1.1.", false},
    {"ipv4", "1234.1.1.1", false},
    {"ipv4", "0x7f.0.0.1", false},
    {"ipv4", " 1.1.1.1", false},
    {"ipv6", "::", true},
    {"ipv6", "::1", true},
    {"ipv6", "1:2:3:4:5:6:7:8", true},
    {"ipv6", "1:2:3:4:5:6:7::", true},
    {"ipv6", "::2:3:4:5:6:7:8", true},
    {"ipv6", "1::8", true},
    {"ipv6", "::ffff:192.168.0.1", true},
    {"ipv6", "1000:1000:1000:1000:1000:1000:255.255.255.255", true},
    {"ipv6", "1:2:3:4:5:6:7:8:9", false},
    {"ipv6", "1:2:3:4:5:6:7", false},
    {"ipv6", "1::2::3", false},
    {"ipv6", ":1:2:3:4:5:6:7", false},
    {"ipv6", "1:2:3:4:5:6:7:", false},
    {"ipv6", "12345::", false},
    {"ipv6", "::ffff:192.168.0.01", false},
    {"ipv6", "1:2:3:4:5:6:7:1.2.3.4", false},
    {"ipv6", "::1.2.3.4:5", false},
    {"ipv6", "fe80::1%eth0", false},
    {"ipv6", "[::1]", false},
    {"uri", "http://foo.bar/?baz=qux#quux", true},
    {"uri", "http://-.~_!$&'()*+,;=:%40:80%2f::::::@example.com", true},
    {"uri", "ldap://[2001:db8::7]/c=GB?objectClass?one", true},
    {"uri", "http://[v1.fe80::a+en1]/", true},
    {"uri", "http://example.com:8080", true},
    {"uri", "mailto:John.Doe@example.com", true},
    {"uri", "urn:oasis:names:specification:docbook:dtd:xml:4.1.2", true},
    {"uri", "file:///etc/hosts", true},
    {"uri", "//foo.bar/", false},
    {"uri", "/abc", false},
    {"uri", "abc", false},
    {"uri", "1http://x", false},
    {"uri", "ht_tp://x", false},
    {"uri", "http://example.com:abc/", false},
    {"uri", "http://exa mple.com/", false},
    {"uri", "http://example.com/%6G", false},
    {"uri", "http://example.com/%A", false},
    {"uri", "http://example.com/a\\b", false},
    {"uri", "http://example.com/\xc2\xae", false},
    {"uri", "https://[@example.org/", false},
    {"uri", "http://[::ffff:01.2.3.4]/", false},
    {"uri", "http:/[::1]", false},
    {"uuid", "123e4567-e89b-12d3-a456-426614174000", true},
    {"uuid", "123E4567-E89B-12D3-A456-426614174000", true},
    {"uuid", "123e4567-e89b-12d3-a456-42661417400", false},
    {"uuid", "123e4567-e89b-12d3-a456-4266141740000", false},
    {"uuid", "123e4567e89b-12d3-a456-426614174000-", false},
    {"uuid", "g23e4567-e89b-12d3-a456-426614174000", false},
    {"uuid", "", false},
};

static void test_formats(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        jsonformat_check_fn *check = jsonformat_find(cases[i].format);
        assert_non_null(check);
        if (check(cases[i].s) != cases[i].valid)
            fail_msg("%s \"%s\": want %s", cases[i].format, cases[i].s,
                     cases[i].valid ? "valid" : "invalid");
    }
}

static void test_find(void **state)
{
    (void)state;
    assert_ptr_equal(jsonformat_find("date-time"), jsonformat_date_time);
    assert_ptr_equal(jsonformat_find("date"), jsonformat_date);
    assert_ptr_equal(jsonformat_find("time"), jsonformat_time);
    assert_ptr_equal(jsonformat_find("email"), jsonformat_email);
    assert_ptr_equal(jsonformat_find("hostname"), jsonformat_hostname);
    assert_ptr_equal(jsonformat_find("ipv4"), jsonformat_ipv4);
    assert_ptr_equal(jsonformat_find("ipv6"), jsonformat_ipv6);
    assert_ptr_equal(jsonformat_find("uri"), jsonformat_uri);
    assert_ptr_equal(jsonformat_find("uuid"), jsonformat_uuid);
    static const char *const unknown[] = {"",    "phone",        "regex", "idn-hostname",
                                          "URI", "uri-reference"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        assert_null(jsonformat_find(unknown[i]));
}

/* The 253-character limit counts the whole name. */
static void test_hostname_length(void **state)
{
    (void)state;
    char name[300];
    memset(name, 'a', sizeof(name));
    for (size_t i = 63; i < sizeof(name); i += 64)
        name[i] = '.';
    name[253] = '\0';
    assert_true(jsonformat_hostname(name));
    name[253] = 'a';
    name[254] = '\0';
    assert_false(jsonformat_hostname(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_hostname_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

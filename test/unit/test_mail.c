/*
 * test_mail.c - unit tests for worker/mail.c's Subject encoding: ASCII as it is, anything
 * else as RFC 2047 encoded words that each stay under 76 characters, hold whole UTF-8
 * characters, and decode back to the subject; no CR or LF gets through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dynbuf.h"
#include "mail.h"
#include "xalloc.h"

/* Decode the encoded words of `enc` back into one string (the caller frees). */
static char *decode_words(const char *enc)
{
    struct dynbuf out;
    dynbuf_init(&out, 1 << 20);
    const char *p = enc;
    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        p += 10;
        const char *end = strstr(p, "?=");
        assert_non_null(end);
        size_t len;
        unsigned char *bin = crypto_b64_decode(p, (size_t)(end - p), CRYPTO_B64_STD, false, &len);
        assert_non_null(bin);
        dynbuf_add(&out, bin, len);
        free(bin);
        p = end + 2;
    }
    return dynbuf_take(&out, NULL);
}

static void test_ascii_unchanged(void **state)
{
    (void)state;
    char *s = mail_subject_encode("Order A-1001 accepted");
    assert_string_equal(s, "Order A-1001 accepted");
    free(s);
}

static void test_utf8_encoded_words(void **state)
{
    (void)state;
    const char *subj = "Bestellung Nr. 1001 für Frau Ärger ist angenommen ✓ — danke schön, "
                       "wir melden uns, sobald die Ware unterwegs ist 📦";
    char *s = mail_subject_encode(subj);
    /* every line (folded with CRLF SP) is at most 76 characters */
    const char *line = s;
    while (line != NULL) {
        const char *nl = strstr(line, "\r\n");
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        assert_true(len <= 76);
        line = nl ? nl + 2 : NULL;
        if (line != NULL)
            assert_int_equal(line[0], ' ');
    }
    char *back = decode_words(s);
    assert_string_equal(back, subj);
    free(back);
    free(s);
}

static void test_no_line_breaks(void **state)
{
    (void)state;
    char *s = mail_subject_encode("Grüße\r\nBcc: victim@example.com");
    char *back = decode_words(s);
    assert_null(strchr(back, '\r'));
    assert_null(strchr(back, '\n'));
    for (const char *p = s; *p; p++)
        if (*p == '\r')
            assert_true(p[1] == '\n' && p[2] == ' '); /* only folding */
    free(back);
    free(s);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_unchanged),
        cmocka_unit_test(test_utf8_encoded_words),
        cmocka_unit_test(test_no_line_breaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

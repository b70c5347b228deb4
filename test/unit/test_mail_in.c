/*
 * test_mail_in.c - unit tests for common/mail_in.c with real MIME messages: a plain 8-bit
 * UTF-8 mail, a multipart/alternative with a quoted-printable HTML part and a base64 PNG
 * attachment, RFC 2047 subjects and names, groups and Cc, a Latin-1 body with no charset,
 * a declared ISO-8859-1 body, a forwarded message/rfc822 part, broken MIME (unclosed
 * boundary, bad base64) that still parses, repeated headers, and bytes that are no message.
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

#include "mail_in.h"
#include "utf8.h"

static cJSON *parse(const char *raw)
{
    char err[256] = "";
    cJSON *o = mail_in_parse(raw, strlen(raw), err, sizeof(err));
    if (o == NULL)
        fail_msg("mail_in_parse: %s", err);
    /* Whatever went in, what comes out prints as valid UTF-8 JSON. */
    char *s = cJSON_PrintUnformatted(o);
    assert_true(utf8_valid(s, strlen(s), false));
    cJSON *again = cJSON_Parse(s);
    assert_non_null(again);
    cJSON_Delete(again);
    free(s);
    return o;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL)
        fail_msg("no member %s", name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_plain_8bit(void **state)
{
    (void)state;
    cJSON *o = parse("From: \"Zoë Ångström\" <zoe@example.com>\r\n"
                     "To: orders@hooks.example, Bob <bob@example.org>\r\n"
                     "Subject: Größe\r\n"
                     "Date: Thu, 03 Dec 2026 11:30:00 +0100\r\n"
                     "Message-ID: <abc.123@example.com>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n"
                     "\r\n"
                     "Grüße aus Köln\r\n");
    const cJSON *from = cJSON_GetObjectItem(o, "from");
    assert_string_equal(str(from, "name"), "Zoë Ångström");
    assert_string_equal(str(from, "address"), "zoe@example.com");
    const cJSON *to = cJSON_GetObjectItem(o, "to");
    assert_int_equal(cJSON_GetArraySize(to), 2);
    assert_null(str(cJSON_GetArrayItem(to, 0), "name"));
    assert_string_equal(str(cJSON_GetArrayItem(to, 0), "address"), "orders@hooks.example");
    assert_string_equal(str(cJSON_GetArrayItem(to, 1), "name"), "Bob");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "cc")), 0);
    assert_string_equal(str(o, "subject"), "Größe");
    assert_string_equal(str(o, "date"), "2026-12-03T10:30:00Z");
    assert_string_equal(str(o, "message_id"), "abc.123@example.com");
    assert_string_equal(str(o, "text"), "Grüße aus Köln\r\n");
    assert_null(str(o, "html"));
    const cJSON *h = cJSON_GetObjectItem(o, "headers");
    assert_string_equal(str(h, "subject"), "Größe");
    assert_string_equal(str(h, "message-id"), "<abc.123@example.com>");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "attachments")), 0);
    cJSON_Delete(o);
}

static void test_multipart_qp_html_base64_attachment(void **state)
{
    (void)state;
    cJSON *o =
        parse("From: shop@example.com\r\n"
              "To: =?UTF-8?B?S8O2bmln?= <orders@x.test>\r\n"
              "Cc: a@x.test, Team: b@x.test, c@x.test;\r\n"
              "Subject: =?ISO-8859-1?Q?Bestellbest=E4tigung?= #42\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
              "\r\n"
              "preamble\r\n"
              "--outer\r\n"
              "Content-Type: multipart/alternative; boundary=inner\r\n"
              "\r\n"
              "--inner\r\n"
              "Content-Type: text/plain; charset=us-ascii\r\n"
              "\r\n"
              "Order 42 shipped.\r\n"
              "--inner\r\n"
              "Content-Type: text/html; charset=utf-8\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n"
              "\r\n"
              "<p style=3D\"color:red\">Order 42 =E2=9C=93 shipped, a very long line that is =\r\n"
              "soft-broken</p>\r\n"
              "--inner--\r\n"
              "--outer\r\n"
              "Content-Type: image/png\r\n"
              "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.png\r\n"
              "Content-Transfer-Encoding: base64\r\n"
              "\r\n"
              "iVBORw0KGgo=\r\n"
              "--outer--\r\n");
    assert_string_equal(str(o, "subject"), "Bestellbestätigung #42");
    const cJSON *to = cJSON_GetObjectItem(o, "to");
    assert_string_equal(str(cJSON_GetArrayItem(to, 0), "name"), "König");
    const cJSON *cc = cJSON_GetObjectItem(o, "cc");
    assert_int_equal(cJSON_GetArraySize(cc), 3); /* the group's members in its place */
    assert_string_equal(str(cJSON_GetArrayItem(cc, 1), "address"), "b@x.test");
    assert_string_equal(str(cJSON_GetObjectItem(o, "from"), "address"), "shop@example.com");
    assert_null(str(cJSON_GetObjectItem(o, "from"), "name"));
    assert_string_equal(str(o, "text"), "Order 42 shipped.");
    assert_string_equal(str(o, "html"), "<p style=\"color:red\">Order 42 ✓ shipped, a very long "
                                        "line that is soft-broken</p>");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "date")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "message_id")));
    const cJSON *atts = cJSON_GetObjectItem(o, "attachments");
    assert_int_equal(cJSON_GetArraySize(atts), 1);
    const cJSON *a = cJSON_GetArrayItem(atts, 0);
    assert_string_equal(str(a, "filename"), "résumé.png");
    assert_string_equal(str(a, "content_type"), "image/png");
    assert_int_equal(cJSON_GetObjectItem(a, "size")->valueint, 8);
    assert_string_equal(str(a, "content_base64"), "iVBORw0KGgo=");
    cJSON_Delete(o);
}

static void test_charsets(void **state)
{
    (void)state;
    /* No charset and not UTF-8: read as Latin-1. */
    cJSON *o = parse("From: a@b.c\r\nSubject: x\r\n\r\nCaf\xe9 cr\xe8"
                     "me\r\n");
    assert_string_equal(str(o, "text"), "Café crème\r\n");
    cJSON_Delete(o);
    /* Declared ISO-8859-1, quoted-printable. */
    o = parse("From: a@b.c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C4rger=\r\n");
    assert_string_equal(str(o, "text"), "Ärger");
    cJSON_Delete(o);
    /* Declared UTF-8 but broken: the bad byte becomes U+FFFD, the rest stays. */
    o = parse("From: a@b.c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok \xff ok");
    assert_string_equal(str(o, "text"), "ok \xEF\xBF\xBD ok");
    cJSON_Delete(o);
    /* A raw 8-bit Latin-1 header. */
    o = parse("From: J\xfc"
              "rgen <j@b.c>\r\nSubject: \xdc"
              "bung\r\n\r\nx");
    assert_string_equal(str(o, "subject"), "Übung");
    assert_string_equal(str(cJSON_GetObjectItem(o, "from"), "name"), "Jürgen");
    cJSON_Delete(o);
}

static void test_forwarded_and_repeated_headers(void **state)
{
    (void)state;
    cJSON *o = parse("Received: from a by b\r\n"
                     "Received: from c by d\r\n"
                     "From: a@b.c\r\n"
                     "Content-Type: multipart/mixed; boundary=B\r\n"
                     "\r\n"
                     "--B\r\n"
                     "Content-Type: text/plain\r\n"
                     "\r\n"
                     "see below\r\n"
                     "--B\r\n"
                     "Content-Type: message/rfc822\r\n"
                     "\r\n"
                     "From: inner@b.c\r\n"
                     "Subject: inner\r\n"
                     "\r\n"
                     "inner body\r\n"
                     "--B--\r\n");
    assert_string_equal(str(cJSON_GetObjectItem(o, "headers"), "received"),
                        "from a by b, from c by d");
    assert_string_equal(str(o, "text"), "see below");
    const cJSON *atts = cJSON_GetObjectItem(o, "attachments");
    assert_int_equal(cJSON_GetArraySize(atts), 1);
    const cJSON *a = cJSON_GetArrayItem(atts, 0);
    assert_string_equal(str(a, "content_type"), "message/rfc822");
    assert_true(cJSON_GetObjectItem(a, "size")->valueint > 20);
    cJSON_Delete(o);
}

static void test_malformed(void **state)
{
    (void)state;
    /* Unclosed boundary, a part without headers, base64 with junk: still a message. */
    cJSON *o = parse("From: a@b.c\r\n"
                     "Content-Type: multipart/mixed; boundary=\"never\"\r\n"
                     "\r\n"
                     "--never\r\n"
                     "Content-Type: application/pdf\r\n"
                     "Content-Transfer-Encoding: base64\r\n"
                     "\r\n"
                     "JVBE!!!Ri0x\r\n");
    const cJSON *atts = cJSON_GetObjectItem(o, "attachments");
    assert_int_equal(cJSON_GetArraySize(atts), 1);
    assert_string_equal(str(cJSON_GetArrayItem(atts, 0), "content_type"), "application/pdf");
    assert_null(str(cJSON_GetArrayItem(atts, 0), "filename"));
    cJSON_Delete(o);
    /* A header block only. */
    o = parse("Subject: only\r\n");
    assert_string_equal(str(o, "subject"), "only");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "from")));
    cJSON_Delete(o);
}

static void test_deep_nesting_bounded(void **state)
{
    (void)state;
    /* 5000 nested multiparts: parsed without exhausting the stack, walk cut at its depth. */
    size_t n = 5000, cap = n * 80 + 256, len = 0;
    char *raw = malloc(cap);
    len += (size_t)snprintf(raw + len, cap - len, "From: a@b.c\r\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(raw + len, cap - len,
                                "Content-Type: multipart/mixed; boundary=b%zu\r\n\r\n--b%zu\r\n", i,
                                i);
    len += (size_t)snprintf(raw + len, cap - len, "Content-Type: text/plain\r\n\r\ndeep\r\n");
    char err[256];
    cJSON *o = mail_in_parse(raw, len, err, sizeof(err));
    assert_non_null(o);
    cJSON_Delete(o);
    free(raw);
}

static void test_not_a_message(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(mail_in_parse("", 0, err, sizeof(err)));
    assert_true(err[0] != '\0');
}

static void test_ctype(void **state)
{
    (void)state;
    assert_true(mail_in_ctype_is_rfc822("message/rfc822"));
    assert_true(mail_in_ctype_is_rfc822("Message/RFC822; charset=utf-8"));
    assert_false(mail_in_ctype_is_rfc822("message/rfc8222"));
    assert_false(mail_in_ctype_is_rfc822("application/json"));
    assert_false(mail_in_ctype_is_rfc822(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_8bit),
        cmocka_unit_test(test_multipart_qp_html_base64_attachment),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_forwarded_and_repeated_headers),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_deep_nesting_bounded),
        cmocka_unit_test(test_not_a_message),
        cmocka_unit_test(test_ctype),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_smtpparse.c - unit tests for ingress/smtpparse.c, the pure SMTP command parser:
 * verbs in any case, HELO/EHLO domains, MAIL/RCPT paths (brackets, null path, source
 * routes, bare addresses) and parameters (SIZE, BODY, unknown ones), arguments refused
 * where none are allowed, long lines and NUL bytes, dot-unstuffing of DATA lines and the
 * endpoint a recipient address names.
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

#include "smtpparse.h"

static int parse(const char *line, struct smtpparse_cmd *cmd, struct smtpparse_error *e)
{
    return smtpparse_command(line, strlen(line), cmd, e);
}

static void test_verbs(void **state)
{
    (void)state;
    struct smtpparse_cmd c;
    struct smtpparse_error e;
    assert_int_equal(parse("EHLO client.example", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_EHLO);
    assert_string_equal(c.domain, "client.example");
    assert_int_equal(parse("helo [127.0.0.1]", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_HELO);
    assert_string_equal(c.domain, "[127.0.0.1]");
    assert_int_equal(parse("EHLO", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("data", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_DATA);
    assert_int_equal(parse("DATA now", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("QUIT", &c, &e), 0);
    assert_int_equal(parse("RSET", &c, &e), 0);
    assert_int_equal(parse("NOOP whatever", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_NOOP);
    assert_int_equal(parse("VRFY root", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_NOT_IMPLEMENTED);
    assert_int_equal(parse("STARTTLS", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_STARTTLS);
    assert_int_equal(parse("GET / HTTP/1.1", &c, &e), -1);
    assert_int_equal(e.code, 500);
    assert_int_equal(parse("", &c, &e), -1);
    assert_int_equal(e.code, 500);
    assert_int_equal(smtpparse_command("NOOP\0x", 6, &c, &e), -1);
    assert_int_equal(e.code, 500);
    char longline[SMTPPARSE_LINE_MAX + 10];
    memset(longline, 'a', sizeof(longline));
    memcpy(longline, "NOOP ", 5);
    assert_int_equal(smtpparse_command(longline, sizeof(longline), &c, &e), -1);
    assert_int_equal(e.code, 500);
}

static void test_mail_rcpt(void **state)
{
    (void)state;
    struct smtpparse_cmd c;
    struct smtpparse_error e;
    assert_int_equal(parse("MAIL FROM:<a@b.c>", &c, &e), 0);
    assert_int_equal(c.verb, SMTPPARSE_MAIL);
    assert_string_equal(c.path, "a@b.c");
    assert_int_equal(c.size, -1);
    assert_int_equal(parse("mail from: <a@b.c> SIZE=12345 BODY=8BITMIME", &c, &e), 0);
    assert_int_equal(c.size, 12345);
    assert_int_equal(parse("MAIL FROM:<>", &c, &e), 0);
    assert_string_equal(c.path, "");
    assert_int_equal(parse("MAIL FROM:a@b.c", &c, &e), 0);
    assert_string_equal(c.path, "a@b.c");
    assert_int_equal(parse("MAIL FROM:<a@b.c> SIZE=12x", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("MAIL FROM:<a@b.c> SIZE=9999999999999999999999", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("MAIL FROM:<a@b.c> SMTPUTF8", &c, &e), -1);
    assert_int_equal(e.code, 555);
    assert_int_equal(parse("MAIL TO:<a@b.c>", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("MAIL FROM:<a@b.c", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("MAIL FROM:<a@b.c>x", &c, &e), -1);
    assert_int_equal(parse("MAIL FROM:<a\x01@b.c>", &c, &e), -1);
    assert_int_equal(parse("RCPT TO:<@relay.example:orders@hooks.example>", &c, &e), 0);
    assert_string_equal(c.path, "orders@hooks.example");
    assert_int_equal(parse("RCPT TO:<orders@hooks.example> NOTIFY=NEVER", &c, &e), -1);
    assert_int_equal(e.code, 555);
    assert_int_equal(parse("RCPT TO:<>", &c, &e), -1);
    assert_int_equal(e.code, 501);
    assert_int_equal(parse("RCPT TO:", &c, &e), -1);
    assert_int_equal(e.code, 501);
    /* Longest path accepted, one more refused. */
    char line[400], path[SMTPPARSE_PATH_MAX + 2];
    memset(path, 'p', sizeof(path));
    path[SMTPPARSE_PATH_MAX] = '\0';
    snprintf(line, sizeof(line), "RCPT TO:<%s>", path);
    assert_int_equal(parse(line, &c, &e), 0);
    path[SMTPPARSE_PATH_MAX] = 'p';
    path[SMTPPARSE_PATH_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "RCPT TO:<%s>", path);
    assert_int_equal(parse(line, &c, &e), -1);
}

static void test_data_line(void **state)
{
    (void)state;
    const char *out;
    size_t n;
    assert_true(smtpparse_data_line(".", 1, &out, &n));
    assert_false(smtpparse_data_line("..", 2, &out, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(out, ".", 1);
    assert_false(smtpparse_data_line(".x", 2, &out, &n));
    assert_int_equal(n, 1);
    assert_false(smtpparse_data_line("", 0, &out, &n));
    assert_int_equal(n, 0);
    assert_false(smtpparse_data_line("a.", 2, &out, &n));
    assert_int_equal(n, 2);
}

static void test_rcpt_endpoint(void **state)
{
    (void)state;
    char ep[HB_ENDPOINT_LEN + 1];
    assert_true(smtpparse_rcpt_endpoint("orders_1-A@any.domain", ep));
    assert_string_equal(ep, "orders_1-A");
    assert_false(smtpparse_rcpt_endpoint("orders", ep));
    assert_false(smtpparse_rcpt_endpoint("orders@", ep));
    assert_false(smtpparse_rcpt_endpoint("@x.test", ep));
    assert_false(smtpparse_rcpt_endpoint("a+tag@x.test", ep));
    assert_false(smtpparse_rcpt_endpoint("a@b@c", ep));
    assert_false(smtpparse_rcpt_endpoint("\"quoted\"@x.test", ep));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs),
        cmocka_unit_test(test_mail_rcpt),
        cmocka_unit_test(test_data_line),
        cmocka_unit_test(test_rcpt_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

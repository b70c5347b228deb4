/*
 * test_smtpd.c - loopback tests for ingress/smtpd.c. Each test runs a real listener on
 * 127.0.0.1:0 and drives non-blocking client sockets from the same thread, turning the event
 * loop between client steps, with timeouts shortened to fractions of a second. Covered: the
 * conversation with pipelining, dot-stuffing and duplicate recipients; answers given later
 * and commands pipelined behind a message; a client gone before its answer; the limits
 * (message size after DATA, line length, recipients, refused commands, connections); the
 * command, idle and data timeouts (a trickling client does not extend them); a bare LF never
 * ending DATA; a stop that lets its 421 out; and smtpd_free with a message still waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/smtpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv {
    struct event_base *base;
    int lfd, port;
    struct smtpd *s;
    int messages;
    bool hold; /* keep the message for a later answer */
    struct smtpd_msg *held;
    char data[4096];
    size_t data_len;
    size_t nrcpts;
    char from[300];
};

struct cli {
    int fd;
    char buf[1 << 16];
    size_t len;
    bool eof;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct smtpd_rcpt_answer on_rcpt(const char *endpoint, const char *address, void *arg)
{
    (void)address;
    (void)arg;
    if (strncmp(endpoint, "known", 5) == 0)
        return (struct smtpd_rcpt_answer){250, "2.1.5 ok"};
    return (struct smtpd_rcpt_answer){550, "5.1.1 unknown endpoint"};
}

static void on_message(struct smtpd_msg *msg, void *arg)
{
    struct srv *s = arg;
    s->messages++;
    size_t len;
    const char *d = smtpd_msg_data(msg, &len);
    s->data_len = len < sizeof(s->data) ? len : sizeof(s->data) - 1;
    memcpy(s->data, d, s->data_len);
    s->data[s->data_len] = '\0';
    s->nrcpts = smtpd_msg_rcpt_count(msg);
    snprintf(s->from, sizeof(s->from), "%s", smtpd_msg_from(msg));
    if (s->hold) {
        s->held = msg;
        return;
    }
    smtpd_msg_reply(msg, 250, "2.0.0 queued as evt_test");
}

static void srv_start(struct srv *s, const struct smtpd_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t al = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    char err[256] = "";
    s->s = smtpd_new(s->base, s->lfd, cfg, on_rcpt, on_message, s, err, sizeof(err));
    assert_non_null(s->s);
}

static void srv_stop(struct srv *s)
{
    smtpd_free(s->s);
    if (s->held)
        smtpd_msg_reply(s->held, 250, "2.0.0 late"); /* detached: only freed */
    close(s->lfd);
    event_base_free(s->base);
}

static void pump(struct srv *s)
{
    event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void cli_connect(struct cli *c, struct srv *s)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

static void cli_send(struct cli *c, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(c->fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void cli_read(struct cli *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0)
            c->eof = true;
        return;
    }
}

/* Pump until the client holds `want` complete reply lines (last lines of multi-line replies
 * count once) or EOF or `ms` passed; returns the number of final reply lines. */
static int wait_replies(struct srv *s, struct cli *c, int want, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        pump(s);
        cli_read(c);
        int finals = 0;
        for (const char *p = c->buf; (p = strstr(p, "\r\n")) != NULL; p += 2) {
            const char *start = p;
            while (start > c->buf && start[-1] != '\n')
                start--;
            if (p - start >= 4 && start[3] == ' ')
                finals++;
        }
        if (finals >= want || c->eof || now_ms() > end)
            return finals;
        usleep(1000);
    }
}

static void cli_close(struct cli *c)
{
    close(c->fd);
}

static void test_conversation(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli c;
    cli_connect(&c, &s);
    assert_int_equal(wait_replies(&s, &c, 1, 2000), 1);
    assert_non_null(strstr(c.buf, "220 "));
    cli_send(&c, "EHLO client.example\r\n");
    wait_replies(&s, &c, 2, 2000);
    assert_non_null(strstr(c.buf, "250-PIPELINING\r\n"));
    assert_non_null(strstr(c.buf, "250 SIZE 1048576\r\n"));
    assert_null(strstr(c.buf, "STARTTLS"));
    /* Pipelined: the duplicate and the unknown recipient add nothing. */
    cli_send(&c, "MAIL FROM:<a@b.c> SIZE=20\r\nRCPT TO:<known1@x>\r\nRCPT TO:<known1@y>\r\n"
                 "RCPT TO:<nobody@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 7, 2000);
    assert_non_null(strstr(c.buf, "550 5.1.1"));
    assert_non_null(strstr(c.buf, "354 "));
    cli_send(&c, "Subject: x\r\n\r\n..leading dot\r\nbare\nLF\n.\nstill in\r\n.\r\n");
    wait_replies(&s, &c, 8, 2000);
    assert_non_null(strstr(c.buf, "250 2.0.0 queued as evt_test"));
    assert_int_equal(s.messages, 1);
    assert_int_equal(s.nrcpts, 1);
    assert_string_equal(s.from, "a@b.c");
    assert_string_equal(s.data, "Subject: x\r\n\r\n.leading dot\r\nbare\nLF\n.\nstill in\r\n");
    cli_send(&c, "QUIT\r\n");
    wait_replies(&s, &c, 9, 2000);
    assert_non_null(strstr(c.buf, "221 "));
    for (int i = 0; i < 50 && !c.eof; i++)
        wait_replies(&s, &c, 99, 10);
    assert_true(c.eof);
    cli_close(&c);
    srv_stop(&s);
}

static void test_later_answer_and_pipeline(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    s.hold = true;
    struct cli c;
    cli_connect(&c, &s);
    cli_send(&c, "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<known@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 5, 2000);
    cli_send(&c, "hi\r\n.\r\nNOOP\r\nRSET\r\n");
    wait_replies(&s, &c, 8, 300);
    assert_int_equal(s.messages, 1);
    assert_non_null(s.held);
    assert_null(strstr(c.buf, "2.0.0 ok")); /* NOOP waits behind the message */
    assert_int_equal(smtpd_active(s.s), 1);
    smtpd_msg_reply(s.held, 451, "4.3.0 try later");
    s.held = NULL;
    wait_replies(&s, &c, 7, 2000);
    const char *a = strstr(c.buf, "451 4.3.0 try later\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n");
    assert_non_null(a);
    assert_int_equal(smtpd_active(s.s), 0);
    /* A client gone before its answer: the answer only frees the message. */
    cli_send(&c, "MAIL FROM:<>\r\nRCPT TO:<known@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 10, 2000);
    cli_send(&c, "bye\r\n.\r\n");
    for (int i = 0; i < 100 && s.messages < 2; i++)
        wait_replies(&s, &c, 99, 5);
    assert_int_equal(s.messages, 2);
    cli_close(&c);
    for (int i = 0; i < 20; i++)
        pump(&s);
    smtpd_msg_reply(s.held, 250, "2.0.0 nobody hears this");
    s.held = NULL;
    /* And one still waiting when the server goes: srv_stop answers it after smtpd_free. */
    cli_connect(&c, &s);
    cli_send(&c, "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<known@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 5, 2000);
    cli_send(&c, "z\r\n.\r\n");
    for (int i = 0; i < 100 && s.messages < 3; i++)
        wait_replies(&s, &c, 99, 5);
    assert_non_null(s.held);
    srv_stop(&s);
    cli_close(&c);
}

static void test_limits(void **state)
{
    (void)state;
    struct smtpd_config cfg;
    smtpd_config_init(&cfg);
    cfg.max_message = 100;
    cfg.max_recipients = 2;
    cfg.max_errors = 3;
    struct srv s;
    srv_start(&s, &cfg);
    struct cli c;
    cli_connect(&c, &s);
    cli_send(&c, "EHLO x\r\nMAIL FROM:<a@b> SIZE=101\r\nMAIL FROM:<a@b> SIZE=100\r\n"
                 "RCPT TO:<known1@x>\r\nRCPT TO:<known2@x>\r\nRCPT TO:<known3@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 8, 2000);
    assert_non_null(strstr(c.buf, "552 5.3.4"));
    assert_non_null(strstr(c.buf, "452 4.5.3"));
    char big[300];
    memset(big, 'y', sizeof(big));
    memcpy(big + sizeof(big) - 3, "\r\n", 3);
    cli_send(&c, big);
    cli_send(&c, ".\r\n");
    wait_replies(&s, &c, 9, 2000);
    assert_non_null(strstr(c.buf, "\r\n552 5.3.4 message size exceeds the maximum\r\n"));
    assert_int_equal(s.messages, 0);
    /* Three refused commands end the session. */
    cli_send(&c, "BOGUS\r\nRCPT TO:<known@x>\r\nVRFY x\r\nNOOP\r\n");
    wait_replies(&s, &c, 12, 2000);
    assert_non_null(strstr(c.buf, "421 4.7.0 too many errors"));
    assert_null(strstr(c.buf + c.len - 60, "2.0.0 ok"));
    cli_close(&c);
    /* A line over the limit: 500 and closed. */
    cli_connect(&c, &s);
    char line[1200];
    memset(line, 'a', sizeof(line));
    line[sizeof(line) - 1] = '\0';
    cli_send(&c, line);
    wait_replies(&s, &c, 2, 2000);
    assert_non_null(strstr(c.buf, "500 5.5.2 line too long"));
    cli_close(&c);
    srv_stop(&s);
}

static void test_timeouts(void **state)
{
    (void)state;
    struct smtpd_config cfg;
    smtpd_config_init(&cfg);
    cfg.command_timeout_ms = 300;
    cfg.idle_timeout_ms = 500;
    cfg.data_timeout_ms = 400;
    struct srv s;
    srv_start(&s, &cfg);
    /* A trickled command is cut 300 ms after its first byte. The trickle lasts up to 3 s, so
     * an upper bound well under that shows it did not extend the timeout, with room for
     * busy cores. */
    struct cli c;
    cli_connect(&c, &s);
    wait_replies(&s, &c, 1, 2000);
    int64_t t0 = now_ms();
    for (int i = 0; i < 60 && !strstr(c.buf, "421"); i++) {
        if (send(c.fd, "E", 1, MSG_NOSIGNAL) != 1)
            break;
        wait_replies(&s, &c, 2, 50);
    }
    wait_replies(&s, &c, 2, 1000);
    int64_t took = now_ms() - t0;
    assert_non_null(strstr(c.buf, "421 4.4.2"));
    assert_true(took >= 250 && took < 2000);
    cli_close(&c);
    /* Idle. */
    cli_connect(&c, &s);
    t0 = now_ms();
    wait_replies(&s, &c, 2, 2000);
    took = now_ms() - t0;
    assert_non_null(strstr(c.buf, "421 4.4.2"));
    assert_true(took >= 450 && took < 3000);
    cli_close(&c);
    /* DATA as a whole, however steadily lines come. */
    cli_connect(&c, &s);
    cli_send(&c, "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<known@x>\r\nDATA\r\n");
    wait_replies(&s, &c, 5, 2000);
    t0 = now_ms();
    for (int i = 0; i < 100 && !strstr(c.buf, "421"); i++) {
        if (send(c.fd, "line\r\n", 6, MSG_NOSIGNAL) != 6)
            break;
        wait_replies(&s, &c, 6, 50);
    }
    took = now_ms() - t0;
    assert_non_null(strstr(c.buf, "421 4.4.2"));
    assert_true(took >= 350 && took < 3000);
    assert_int_equal(s.messages, 0);
    cli_close(&c);
    srv_stop(&s);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct smtpd_config cfg;
    smtpd_config_init(&cfg);
    cfg.max_connections = 2;
    struct srv s;
    srv_start(&s, &cfg);
    struct cli a, b, c;
    cli_connect(&a, &s);
    assert_int_equal(wait_replies(&s, &a, 1, 2000), 1);
    cli_connect(&b, &s);
    assert_int_equal(wait_replies(&s, &b, 1, 2000), 1);
    cli_connect(&c, &s); /* in the backlog: not greeted while two are open */
    assert_int_equal(wait_replies(&s, &c, 1, 200), 0);
    cli_send(&a, "QUIT\r\n");
    wait_replies(&s, &a, 2, 2000);
    cli_close(&a);
    assert_int_equal(wait_replies(&s, &c, 1, 2000), 1);
    cli_close(&b);
    cli_close(&c);
    srv_stop(&s);
}

static void test_stop_accepting(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli c;
    cli_connect(&c, &s);
    wait_replies(&s, &c, 1, 2000);
    smtpd_stop_accepting(s.s);
    /* The 421 still going out counts, so a shutdown waits for it. */
    assert_int_equal(smtpd_active(s.s), 1);
    wait_replies(&s, &c, 2, 2000);
    assert_non_null(strstr(c.buf, "421 4.3.2"));
    for (int i = 0; i < 100 && smtpd_active(s.s) > 0; i++)
        wait_replies(&s, &c, 99, 5);
    assert_int_equal(smtpd_active(s.s), 0);
    cli_close(&c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation),    cmocka_unit_test(test_later_answer_and_pipeline),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_max_connections), cmocka_unit_test(test_stop_accepting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

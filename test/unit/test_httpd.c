/*
 * test_httpd.c - loopback tests for ingress/httpd.c. Each test runs a real server on
 * 127.0.0.1:0 and drives non-blocking client sockets from the same thread, turning the event
 * loop (EVLOOP_ONCE | EVLOOP_NONBLOCK) between client steps, so that everything is
 * deterministic and no test takes more than about a second. Covered: GET/POST, keep-alive,
 * pipelining, chunked bodies, Expect: 100-continue, HEAD, Connection: close, HTTP/1.0, async
 * replies and clients that leave before them, the server's own JSON errors (400, 408, 413,
 * 431, 501, 505), the slowloris guard, idle close, max_connections, graceful stop, and the
 * lifetime of request pointers across a body read into a second buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv {
    struct event_base *base;
    int lfd;
    int port;
    struct httpd *h;
    int heads, requests;
    bool bad; /* a handler check failed (reported by the test) */
    char why[128];
    struct httpd_req *held;
    struct event *timer;
    const char *head_keep; /* X-Keep as seen by the head function */
    char peer[64];
};

struct cli {
    int fd;
    char buf[1 << 16];
    size_t len;
    bool eof;
};

struct resp {
    int status;
    char head[4096];
    char body[4096];
    size_t body_len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t fnv(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* What the echo handler answers, so that tests can compute the expected body. */
static size_t echo_text(char *out, size_t cap, const char *method, const char *path,
                        const char *query, const char *body, size_t len)
{
    int n = snprintf(out, cap, "%s %s q=%s n=%zu h=%08x", method, path, query != NULL ? query : "-",
                     len, (unsigned)fnv(body, len));
    return (size_t)n;
}

static void srv_fail(struct srv *s, const char *why)
{
    if (!s->bad)
        snprintf(s->why, sizeof(s->why), "%s", why);
    s->bad = true;
}

static enum httpd_next on_head(struct httpd_req *req, void *arg)
{
    struct srv *s = arg;
    s->heads++;
    const char *path = httpd_req_path(req);
    s->head_keep = httpd_req_header(req, "X-Keep");
    if (strcmp(path, "/missing") == 0) {
        httpd_reply_json_error(req, 404, "not_found", "no \"such\" endpoint");
        return HTTPD_REPLIED;
    }
    if (strcmp(path, "/forget") == 0)
        return HTTPD_REPLIED;
    if (strcmp(path, "/small") == 0)
        httpd_req_set_max_body(req, 10);
    return HTTPD_READ_BODY;
}

static void reply_held_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv *s = arg;
    (void)fd;
    (void)what;
    if (s->held != NULL)
        httpd_reply(s->held, 200, "text/plain", "late", 4);
    s->held = NULL;
}

static void on_request(struct httpd_req *req, void *arg)
{
    struct srv *s = arg;
    s->requests++;
    size_t len;
    const char *body = httpd_req_body(req, &len);
    const char *path = httpd_req_path(req);
    if (body[len] != '\0')
        srv_fail(s, "body not NUL-terminated");
    /* Pointers taken in the head function must still be good here. */
    const char *keep = httpd_req_header(req, "X-Keep");
    if (keep != s->head_keep || (keep != NULL && strcmp(keep, "kept") != 0))
        srv_fail(s, "header pointer moved between head and request");
    snprintf(s->peer, sizeof(s->peer), "%s", httpd_req_peer(req));
    if (strcmp(path, "/hold") == 0) {
        s->held = req;
        return;
    }
    if (strcmp(path, "/async") == 0) {
        s->held = req;
        struct timeval tv = {0, 50 * 1000};
        evtimer_add(s->timer, &tv);
        return;
    }
    if (strcmp(path, "/nocontent") == 0) {
        httpd_reply(req, 204, NULL, NULL, 0);
        return;
    }
    if (strcmp(path, "/headers") == 0) {
        if (httpd_reply_header(req, "X-Request-Id", "abc") != 0 ||
            httpd_reply_header(req, "Bad Name", "x") != -1 ||
            httpd_reply_header(req, "X-Split", "a\r\nb") != -1)
            srv_fail(s, "httpd_reply_header");
        char v[32];
        size_t n = httpd_req_header_count(req);
        const char *hn, *hv;
        if (!httpd_req_header_at(req, n - 1, &hn, &hv) || httpd_req_header_at(req, n, &hn, &hv))
            srv_fail(s, "httpd_req_header_at");
        snprintf(v, sizeof(v), "%zu %s=%s", n, hn, hv);
        httpd_reply(req, 200, "text/plain", v, strlen(v));
        return;
    }
    char out[256];
    size_t n =
        echo_text(out, sizeof(out), httpd_req_method(req), path, httpd_req_query(req), body, len);
    /* Reply with the request's own bytes too, to check that the reply copies first. */
    if (strcmp(path, "/self") == 0) {
        httpd_reply(req, 200, "text/plain", body, len);
        return;
    }
    httpd_reply(req, 200, "text/plain", out, n);
}

static void srv_start(struct srv *s, const struct httpd_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    s->base = event_base_new();
    assert_non_null(s->base);
    s->timer = evtimer_new(s->base, reply_held_cb, s);
    s->h = httpd_new(s->base, s->lfd, cfg, on_head, on_request, s);
    assert_non_null(s->h);
}

static void srv_stop(struct srv *s)
{
    if (s->bad)
        fail_msg("handler check: %s", s->why);
    httpd_free(s->h);
    event_free(s->timer);
    event_base_free(s->base);
    close(s->lfd);
}

static void pump(struct srv *s)
{
    event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    usleep(200);
}

static void pump_for(struct srv *s, int ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end)
        pump(s);
}

/*
 * How long a test waits for something that must happen. Only a failing test waits this
 * long, so it is generous: under ASan/UBSan on two shared cores a loop turn can take tens of
 * milliseconds. Timing assertions below bound from below (a timeout never fires early) and,
 * from above, only by what tells a right server from a wrong one, never by a tight window.
 */
#define WAIT_MS 5000

/* Run the server's loop until `cond` holds or WAIT_MS passed. */
#define PUMP_UNTIL(s, cond)                                                                        \
    do {                                                                                           \
        int64_t end_ = now_ms() + WAIT_MS;                                                         \
        while (!(cond) && now_ms() < end_)                                                         \
            pump(s);                                                                               \
    } while (0)

static struct cli *cli_open(struct srv *s)
{
    struct cli *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The kernel completes the handshake from the backlog: a blocking connect is fine. */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int fl = fcntl(c->fd, F_GETFL);
    assert_int_equal(fcntl(c->fd, F_SETFL, fl | O_NONBLOCK), 0);
    return c;
}

static void cli_close(struct cli *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

/* Read what is there; notes EOF (a reset counts as EOF). */
static void cli_fill(struct cli *c)
{
    while (!c->eof && c->len < sizeof(c->buf)) {
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n > 0)
            c->len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->eof = true;
        else
            break;
    }
}

/* Send everything, turning the loop while the socket is full; false if the server closed. */
static bool cli_send(struct srv *s, struct cli *c, const void *data, size_t len)
{
    const char *p = data;
    int64_t end = now_ms() + 3000;
    while (len > 0 && now_ms() < end) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pump(s);
            cli_fill(c); /* keep the answer; a full receive buffer could stall the server */
        } else {
            return false;
        }
    }
    return len == 0;
}

static bool cli_sends(struct srv *s, struct cli *c, const char *text)
{
    return cli_send(s, c, text, strlen(text));
}

/* Value of header `name` in a response head (copied into `out`), or NULL. */
static const char *resp_header(const struct resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = e != NULL ? (size_t)(e - v) : strlen(v);
            snprintf(out, cap, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

/*
 * Wait for one complete response (HEAD ones have no body) and take it off the client's
 * buffer. Returns 0, -1 on EOF before a whole response, -2 on timeout.
 */
static int cli_response(struct srv *s, struct cli *c, struct resp *r, bool head, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    memset(r, 0, sizeof(*r));
    for (;;) {
        cli_fill(c);
        char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (hend != NULL) {
            size_t hlen = (size_t)(hend - c->buf) + 4;
            assert_true(hlen < sizeof(r->head));
            memcpy(r->head, c->buf, hlen);
            r->head[hlen] = '\0';
            assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
            char v[32];
            size_t blen = 0;
            if (!head && resp_header(r, "Content-Length", v, sizeof(v)) != NULL)
                blen = strtoul(v, NULL, 10);
            if (c->len >= hlen + blen) {
                assert_true(blen < sizeof(r->body));
                memcpy(r->body, c->buf + hlen, blen);
                r->body[blen] = '\0';
                r->body_len = blen;
                memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
                c->len -= hlen + blen;
                return 0;
            }
        }
        if (c->eof)
            return -1;
        if (now_ms() >= end)
            return -2;
        pump(s);
    }
}

/* True when the server closes the connection (after any data) within timeout_ms. */
static bool cli_wait_eof(struct srv *s, struct cli *c, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        c->len = 0;
        cli_fill(c);
        if (c->eof)
            return true;
        pump(s);
    }
    return false;
}

static void expect_echo(const struct resp *r, const char *method, const char *path,
                        const char *query, const char *body, size_t len)
{
    char want[256];
    echo_text(want, sizeof(want), method, path, query, body, len);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, want);
}

/* Expect the server's own JSON error, Connection: close, then the end of the connection. */
static void expect_error(struct srv *s, struct cli *c, int status, const char *json)
{
    struct resp r;
    char v[64];
    assert_int_equal(cli_response(s, c, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, status);
    assert_string_equal(r.body, json);
    assert_non_null(resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(s, c, WAIT_MS));
}

static void test_get_and_post(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    char v[64];
    assert_true(cli_sends(&s, c, "GET /hello?x=1&y HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/hello", "x=1&y", "", 0);
    assert_non_null(resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/plain");
    assert_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_true(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    char peer[80];
    snprintf(peer, sizeof(peer), "%s", s.peer);
    assert_true(strncmp(peer, "127.0.0.1:", 10) == 0);

    static const char post[] = "POST /in HTTP/1.1\r\nContent-Length: 5\r\nX-Keep: kept\r\n\r\n"
                               "a\0b\nc";
    assert_true(cli_send(&s, c, post, sizeof(post) - 1));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/in", NULL, "a\0b\nc", 5);
    assert_true(cli_sends(&s, c, "POST /self HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_string_equal(r.body, "xyz");
    assert_int_equal(s.requests, 3);
    assert_int_equal(httpd_active(s.h), 0);
    cli_close(c);
    srv_stop(&s);
}

static void test_keepalive_and_pipelining(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    for (int i = 0; i < 3; i++) {
        char req[64], path[16];
        snprintf(path, sizeof(path), "/k%d", i);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
        assert_true(cli_sends(&s, c, req));
        assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
        expect_echo(&r, "GET", path, NULL, "", 0);
        assert_int_equal(httpd_connections(s.h), 1);
    }
    /* Three requests in one write, a POST with a body between two GETs, blank lines before
     * one (tolerated), and a chunked POST at the end. */
    assert_true(cli_sends(&s, c,
                          "GET /p1 HTTP/1.1\r\n\r\n"
                          "POST /p2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
                          "\r\n\r\nGET /p3?q HTTP/1.1\r\n\r\n"
                          "POST /p4 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "2\r\nab\r\n0\r\n\r\nGET /p5 HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/p1", NULL, "", 0);
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/p2", NULL, "body", 4);
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/p3", "q", "", 0);
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/p4", NULL, "ab", 2);
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/p5", NULL, "", 0);
    assert_int_equal(s.requests, 8);
    cli_close(c);
    srv_stop(&s);
}

static void test_chunked_body(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    static const char *parts[] = {
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Keep: kept\r\n\r\n5",
        ";ext=1\r\nhel",
        "lo\r\n",
        "6\r\n worl",
        "d\r\n0\r\nTrailer: 1\r\n",
        "\r\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        assert_true(cli_sends(&s, c, parts[i]));
        pump_for(&s, 5);
    }
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/c", NULL, "hello world", 11);

    /* A large chunked body: many chunks, decoded into the second buffer. */
    static char big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    assert_true(cli_sends(
        &s, c, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Keep: kept\r\n\r\n"));
    for (size_t off = 0; off < sizeof(big); off += 1000) {
        char line[16];
        snprintf(line, sizeof(line), "%x\r\n", 1000);
        assert_true(cli_sends(&s, c, line));
        assert_true(cli_send(&s, c, big + off, 1000));
        assert_true(cli_sends(&s, c, "\r\n"));
    }
    assert_true(cli_sends(&s, c, "0\r\n\r\nGET /after HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/big", NULL, big, sizeof(big));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/after", NULL, "", 0);
    cli_close(c);
    srv_stop(&s);
}

static void test_large_content_length_body(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    /* Head and body ending just before, at and just after the end of the 8 KiB buffer, with
     * the next request right behind (its first byte is where the body's NUL goes). */
    for (size_t total = 8190; total <= 8194; total++) {
        static char edge[8300];
        int hl = snprintf(edge, sizeof(edge),
                          "POST /edge HTTP/1.1\r\nContent-Length: %04zu\r\n\r\n", (size_t)0);
        size_t cl = total - (size_t)hl;
        snprintf(edge, sizeof(edge), "POST /edge HTTP/1.1\r\nContent-Length: %04zu\r\n\r\n", cl);
        memset(edge + hl, 'e', cl);
        memcpy(edge + total, "GET /n HTTP/1.1\r\n\r\n", 19);
        assert_true(cli_send(&s, c, edge, total + 19));
        assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
        expect_echo(&r, "POST", "/edge", NULL, edge + hl, cl);
        assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
        expect_echo(&r, "GET", "/n", NULL, "", 0);
    }
    static char big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    char head[128];
    snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nX-Keep: kept\r\nContent-Length: %zu\r\n\r\n",
             sizeof(big));
    assert_true(cli_sends(&s, c, head));
    assert_true(cli_send(&s, c, big, sizeof(big)));
    assert_true(cli_sends(&s, c, "GET /next HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "PUT", "/big", NULL, big, sizeof(big));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/next", NULL, "", 0);
    cli_close(c);
    srv_stop(&s);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    char v[64];
    assert_true(cli_sends(
        &s, c, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, true, WAIT_MS), 0);
    assert_int_equal(r.status, 100);
    assert_string_equal(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    static char body[2000];
    memset(body, 'x', sizeof(body));
    assert_true(cli_send(&s, c, body, sizeof(body)));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/e", NULL, body, sizeof(body));

    /* Refused at the head: the final answer comes instead of 100, and the connection closes
     * because the announced body was never read. */
    assert_true(cli_sends(
        &s, c, "POST /missing HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body,
                        "{\"error\":\"not_found\",\"message\":\"no \\\"such\\\" endpoint\"}");
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(&s, c, WAIT_MS));
    assert_int_equal(s.requests, 1);
    cli_close(c);

    /* Refused at the head without a body: the connection stays usable. */
    c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /missing HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 404);
    assert_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/ok", NULL, "", 0);
    /* A head function that claims a reply it did not make is answered 500. */
    assert_true(cli_sends(&s, c, "GET /forget HTTP/1.1\r\n\r\n"));
    expect_error(&s, c, 500,
                 "{\"error\":\"internal_error\",\"message\":\"head handler did not reply\"}");
    cli_close(c);
    srv_stop(&s);
}

static void test_head_and_bodyless(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    struct resp r;
    char v[64], want[256];
    assert_true(cli_sends(&s, c,
                          "HEAD /h HTTP/1.1\r\n\r\nGET /nocontent HTTP/1.1\r\n\r\n"
                          "GET /headers HTTP/1.1\r\nA: 1\r\nB:  two  \r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, true, WAIT_MS), 0);
    assert_int_equal(r.status, 200);
    size_t n = echo_text(want, sizeof(want), "HEAD", "/h", NULL, "", 0);
    assert_non_null(resp_header(&r, "Content-Length", v, sizeof(v)));
    assert_int_equal(strtoul(v, NULL, 10), n);
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 204);
    assert_null(resp_header(&r, "Content-Length", v, sizeof(v)));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "2 B=two");
    assert_non_null(resp_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_string_equal(v, "abc");
    /* Nothing else came: the HEAD answer had no body. */
    pump_for(&s, 20);
    cli_fill(c);
    assert_int_equal(c->len, 0);
    cli_close(c);
    srv_stop(&s);
}

static void test_connection_close_and_http10(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct resp r;
    char v[64];
    struct cli *c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/a", NULL, "", 0);
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(&s, c, WAIT_MS));
    cli_close(c);

    c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /b HTTP/1.0\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/b", NULL, "", 0);
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(&s, c, WAIT_MS));
    cli_close(c);

    c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "keep-alive");
    assert_true(cli_sends(&s, c, "GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/d", NULL, "", 0);
    cli_close(c);

    /* HTTP/1.0 with Transfer-Encoding (RFC 9112 section 6.1): answered, then closed, even
     * with keep-alive asked for; a request behind it is never read. */
    c = cli_open(&s);
    assert_true(cli_sends(&s, c,
                          "POST /e HTTP/1.0\r\nConnection: keep-alive\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                          "GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/e", NULL, "abc", 3);
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(&s, c, WAIT_MS));
    cli_close(c);
    PUMP_UNTIL(&s, httpd_connections(s.h) == 0);
    assert_int_equal(httpd_connections(s.h), 0);
    srv_stop(&s);
}

static void test_async_reply_and_client_gone(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct resp r;
    struct cli *c = cli_open(&s);
    assert_true(cli_sends(&s, c,
                          "POST /async HTTP/1.1\r\nX-Keep: kept\r\nContent-Length: 1\r\n\r\nz"
                          "GET /after HTTP/1.1\r\n\r\n"));
    int64_t t0 = now_ms();
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    assert_true(now_ms() - t0 >= 40);
    assert_string_equal(r.body, "late");
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/after", NULL, "", 0);

    /* The client leaves while the handler works. A FIN may be a half-close, so the socket
     * stays until the reply, which then goes nowhere; nothing leaks. */
    assert_true(cli_sends(&s, c, "GET /async HTTP/1.1\r\nX-Keep: kept\r\n\r\n"));
    while (s.held == NULL)
        pump(&s);
    assert_int_equal(httpd_active(s.h), 1);
    cli_close(c);
    pump_for(&s, 20);
    assert_int_equal(httpd_active(s.h), 1);
    while (s.held != NULL)
        pump(&s);
    PUMP_UNTIL(&s, httpd_active(s.h) == 0 && httpd_connections(s.h) == 0);
    assert_int_equal(httpd_active(s.h), 0);
    assert_int_equal(httpd_connections(s.h), 0);

    /* A reset closes the socket at once; the request waits for its reply all the same. */
    c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /hold HTTP/1.1\r\n\r\n"));
    while (s.held == NULL)
        pump(&s);
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    cli_close(c);
    PUMP_UNTIL(&s, httpd_connections(s.h) == 0);
    assert_int_equal(httpd_connections(s.h), 0);
    assert_int_equal(httpd_active(s.h), 1);
    httpd_reply(s.held, 200, NULL, "x", 1);
    s.held = NULL;
    PUMP_UNTIL(&s, httpd_active(s.h) == 0 && httpd_connections(s.h) == 0);
    assert_int_equal(httpd_active(s.h), 0);
    assert_int_equal(httpd_connections(s.h), 0);
    srv_stop(&s);
}

static void test_free_with_pending_request(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /hold HTTP/1.1\r\n\r\n"));
    while (s.held == NULL)
        pump(&s);
    struct httpd_req *held = s.held;
    s.held = NULL;
    httpd_free(s.h);
    s.h = NULL;
    event_free(s.timer);
    event_base_free(s.base);
    /* Detached: still readable, and the late reply frees it. */
    assert_string_equal(httpd_req_path(held), "/hold");
    httpd_reply(held, 200, NULL, "x", 1);
    c->len = 0;
    int64_t end = now_ms() + 1000;
    while (!c->eof && now_ms() < end)
        cli_fill(c);
    assert_true(c->eof);
    assert_int_equal(c->len, 0);
    cli_close(c);
    close(s.lfd);
}

static void test_bad_requests(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        size_t len;
        int status;
        const char *json;
    } cases[] = {
        {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11, 400,
         "{\"error\":\"bad_request\",\"message\":\"malformed request line\"}"},
        {"GARBAGEGARBAGEGARBAGE", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"method too long\"}"},
        {"GET /x HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"invalid content-length\"}"},
        {"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"content-length and transfer-encoding "
         "together\"}"},
        {"GET / HTTP/2.0\r\n\r\n", 0, 505,
         "{\"error\":\"http_version_not_supported\",\"message\":\"only HTTP/1.0 and HTTP/1.1 are "
         "supported\"}"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 501,
         "{\"error\":\"not_implemented\",\"message\":\"unsupported transfer-coding\"}"},
        {"POST /x HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n", 0, 413,
         "{\"error\":\"payload_too_large\",\"message\":\"request body too large\"}"},
        {"POST /small HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 0, 413,
         "{\"error\":\"payload_too_large\",\"message\":\"request body too large\"}"},
        {"POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n", 0, 413,
         "{\"error\":\"payload_too_large\",\"message\":\"request body too large\"}"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"malformed chunked body\"}"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"malformed chunked body\"}"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 0, 400,
         "{\"error\":\"bad_request\",\"message\":\"malformed chunked body\"}"},
    };
    struct srv s;
    srv_start(&s, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cli *c = cli_open(&s);
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].req);
        assert_true(cli_send(&s, c, cases[i].req, len));
        expect_error(&s, c, cases[i].status, cases[i].json);
        cli_close(c);
    }
    assert_int_equal(s.requests, 0);
    PUMP_UNTIL(&s, httpd_active(s.h) == 0);
    assert_int_equal(httpd_active(s.h), 0);
    srv_stop(&s);
}

static void test_chunked_over_limit(void **state)
{
    (void)state;
    struct httpd_config cfg = {.max_body = 100};
    struct srv s;
    srv_start(&s, &cfg);
    struct cli *c = cli_open(&s);
    /* The chunk announces more than the limit: refused before its bytes come. */
    assert_true(cli_sends(&s, c, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\nab"));
    expect_error(&s, c, 413,
                 "{\"error\":\"payload_too_large\",\"message\":\"request body too large\"}");
    cli_close(c);
    c = cli_open(&s);
    assert_true(cli_sends(&s, c, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"));
    static char fill[100];
    memset(fill, 'f', sizeof(fill));
    assert_true(cli_send(&s, c, fill, sizeof(fill)));
    assert_true(cli_sends(&s, c, "\r\n0\r\n\r\n"));
    struct resp r;
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "POST", "/x", NULL, fill, sizeof(fill));
    cli_close(c);
    srv_stop(&s);
}

static void test_header_limits(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    /* 1,000 short headers: under the byte limit, over the count. */
    size_t cap = 1000 * 16 + 64, n = 0;
    char *req = malloc(cap);
    assert_non_null(req);
    n += (size_t)snprintf(req + n, cap - n, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(req + n, cap - n, "X-H%d: v\r\n", i);
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    struct cli *c = cli_open(&s);
    assert_true(cli_send(&s, c, req, n));
    expect_error(&s, c, 431, "{\"error\":\"headers_too_large\",\"message\":\"too many headers\"}");
    cli_close(c);
    free(req);

    /* One 70 KB header line. */
    cap = 72000;
    req = malloc(cap);
    assert_non_null(req);
    n = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', 70000);
    n += 70000;
    memcpy(req + n, "\r\n\r\n", 4);
    n += 4;
    c = cli_open(&s);
    assert_true(cli_send(&s, c, req, n));
    expect_error(&s, c, 431,
                 "{\"error\":\"headers_too_large\",\"message\":\"request head too large\"}");
    cli_close(c);
    free(req);
    srv_stop(&s);
}

static void test_slowloris_and_timeouts(void **state)
{
    (void)state;
    struct httpd_config cfg = {
        .header_timeout_ms = 300, .body_timeout_ms = 300, .idle_timeout_ms = 200};
    struct srv s;
    srv_start(&s, &cfg);
    /* One byte every 100 ms never completes a head: 408 about 300 ms after the first. */
    struct cli *slow = cli_open(&s);
    struct cli *other = cli_open(&s);
    static const char trickle[] = "GET /slow HTTP/1.1\r\nX-A: bbbbbbbbbbbbbbbbbbbb";
    int64_t t0 = now_ms();
    struct resp r;
    size_t i = 0;
    bool served_other = false;
    for (; i < sizeof(trickle) - 1 && now_ms() - t0 < 1000; i++) {
        if (!cli_send(&s, slow, trickle + i, 1))
            break;
        /* Meanwhile another client is served at once. */
        if (i == 2) {
            assert_true(cli_sends(&s, other, "GET /fast HTTP/1.1\r\n\r\n"));
            assert_int_equal(cli_response(&s, other, &r, false, WAIT_MS), 0);
            expect_echo(&r, "GET", "/fast", NULL, "", 0);
            served_other = true;
        }
        int64_t next = t0 + 100 * (int64_t)(i + 1);
        while (now_ms() < next && slow->len == 0) {
            pump(&s);
            cli_fill(slow);
        }
        if (slow->len > 0)
            break;
    }
    assert_true(served_other);
    assert_int_equal(cli_response(&s, slow, &r, false, WAIT_MS), 0);
    int64_t took = now_ms() - t0;
    assert_int_equal(r.status, 408);
    assert_string_equal(
        r.body,
        "{\"error\":\"request_timeout\",\"message\":\"request head not received in time\"}");
    assert_true(cli_wait_eof(&s, slow, WAIT_MS));
    /* Not before the 300 ms timeout, and long before the trickle (4.4 s) would have ended:
     * a timer restarted by every byte would never have fired while the bytes came. */
    if (took < 250 || took > 2500)
        fail_msg("slow client answered after %lld ms", (long long)took);
    cli_close(slow);

    cli_close(other);

    /* An idle keep-alive connection is closed silently after idle_timeout_ms. */
    struct cli *idle = cli_open(&s);
    assert_true(cli_sends(&s, idle, "GET /i HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, idle, &r, false, WAIT_MS), 0);
    t0 = now_ms();
    assert_true(cli_wait_eof(&s, idle, WAIT_MS));
    took = now_ms() - t0;
    /* Not before the 200 ms idle timeout; the upper bound only tells it from never. */
    if (took < 150 || took > WAIT_MS - 500)
        fail_msg("idle connection closed after %lld ms", (long long)took);
    assert_int_equal(idle->len, 0);
    cli_close(idle);

    /* A connection that sends nothing at all gets the header timeout too. */
    struct cli *mute = cli_open(&s);
    assert_int_equal(cli_response(&s, mute, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 408);
    cli_close(mute);

    /* Body timeout: head complete, body never finished. */
    struct cli *body = cli_open(&s);
    assert_true(cli_sends(&s, body, "POST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    expect_error(&s, body, 408,
                 "{\"error\":\"request_timeout\",\"message\":\"request body not received in "
                 "time\"}");
    cli_close(body);
    srv_stop(&s);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct httpd_config cfg = {.max_connections = 2};
    struct srv s;
    srv_start(&s, &cfg);
    struct cli *c1 = cli_open(&s), *c2 = cli_open(&s);
    struct resp r;
    assert_true(cli_sends(&s, c1, "GET /1 HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c1, &r, false, WAIT_MS), 0);
    assert_true(cli_sends(&s, c2, "GET /2 HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c2, &r, false, WAIT_MS), 0);
    /* The third waits in the kernel's backlog, unanswered. */
    struct cli *c3 = cli_open(&s);
    assert_true(cli_sends(&s, c3, "GET /3 HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, c3, &r, false, 200), -2);
    assert_int_equal(httpd_connections(s.h), 2);
    /* One leaves: accepting resumes and the third is served. */
    cli_close(c1);
    assert_int_equal(cli_response(&s, c3, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/3", NULL, "", 0);
    assert_int_equal(httpd_connections(s.h), 2);
    cli_close(c2);
    cli_close(c3);
    srv_stop(&s);
}

static void test_accept_backoff_on_emfile(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct cli *c = cli_open(&s);
    assert_true(cli_sends(&s, c, "GET /fd HTTP/1.1\r\n\r\n"));
    /* No descriptor left for accept4: the server pauses instead of spinning... */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    assert_true(probe >= 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct resp r;
    int got = cli_response(&s, c, &r, false, 150);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(got, -2);
    assert_int_equal(httpd_connections(s.h), 0);
    /* ...and retries about 100 ms later. */
    assert_int_equal(cli_response(&s, c, &r, false, WAIT_MS), 0);
    expect_echo(&r, "GET", "/fd", NULL, "", 0);
    cli_close(c);
    srv_stop(&s);
}

static void test_stop_accepting(void **state)
{
    (void)state;
    struct srv s;
    srv_start(&s, NULL);
    struct resp r;
    char v[64];
    struct cli *idle = cli_open(&s), *busy = cli_open(&s);
    assert_true(cli_sends(&s, idle, "GET /i HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, idle, &r, false, WAIT_MS), 0);
    assert_true(cli_sends(&s, busy, "GET /hold HTTP/1.1\r\n\r\n"));
    while (s.held == NULL)
        pump(&s);
    httpd_stop_accepting(s.h);
    assert_true(cli_wait_eof(&s, idle, WAIT_MS));
    assert_int_equal(httpd_active(s.h), 1);
    assert_int_equal(httpd_connections(s.h), 1);
    /* New clients are not served any more. */
    struct cli *late = cli_open(&s);
    assert_true(cli_sends(&s, late, "GET /late HTTP/1.1\r\n\r\n"));
    assert_int_equal(cli_response(&s, late, &r, false, 100), -2);
    /* The request in flight finishes, with Connection: close. */
    httpd_reply(s.held, 202, "application/json", "{}", 2);
    s.held = NULL;
    assert_int_equal(cli_response(&s, busy, &r, false, WAIT_MS), 0);
    assert_int_equal(r.status, 202);
    assert_true(strncmp(r.head, "HTTP/1.1 202 Accepted\r\n", 23) == 0);
    assert_non_null(resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    assert_true(cli_wait_eof(&s, busy, WAIT_MS));
    assert_int_equal(httpd_active(s.h), 0);
    assert_int_equal(httpd_connections(s.h), 0);
    cli_close(idle);
    cli_close(busy);
    cli_close(late);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_post),
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_large_content_length_body),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_head_and_bodyless),
        cmocka_unit_test(test_connection_close_and_http10),
        cmocka_unit_test(test_async_reply_and_client_gone),
        cmocka_unit_test(test_free_with_pending_request),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_chunked_over_limit),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_slowloris_and_timeouts),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_accept_backoff_on_emfile),
        cmocka_unit_test(test_stop_accepting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

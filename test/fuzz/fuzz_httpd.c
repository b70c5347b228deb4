/*
 * fuzz_httpd.c - libFuzzer harness for ingress/httpd.c's connection state machine (head,
 * body, chunked body, handler, write, linger, keep-alive, pipelining, orphans): the input
 * goes to a real server over a loopback socket, split into reads at places the input
 * chooses, with handlers that answer from the head, at once, or later from the loop, and
 * a client that may leave while a request is with its handler.
 *
 * Input: byte 0 picks the size of each write (1..32 bytes), byte 1 how the client ends
 * (bit 0: close at once after its last write instead of a half-close; bit 1: read nothing
 * until the end, so answers queue up in the server). The rest is what the client sends.
 * Every request must be answered or its connection closed within a few seconds of the
 * client's last byte (timeouts are a few milliseconds here), and the server must end with
 * no connection and no request in flight; AddressSanitizer checks the rest.
 */
#include "httpd.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FUZZ_HELD_MAX 8

static struct event_base *base;
static struct httpd *server;
static struct sockaddr_un addr;
static socklen_t addr_len;
/* Requests a handler answers later (from the loop, in order), as ingress handlers do when
 * they wait for Redis. */
static struct httpd_req *held[FUZZ_HELD_MAX];
static size_t nheld;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum httpd_next on_head(struct httpd_req *req, void *arg)
{
    (void)arg;
    const char *path = httpd_req_path(req);
    if (strncmp(path, "/deny", 5) == 0) {
        /* Refused before the body, as an unknown endpoint is. */
        httpd_reply_json_error(req, 404, "not_found", "no such endpoint");
        return HTTPD_REPLIED;
    }
    if (strncmp(path, "/small", 6) == 0)
        httpd_req_set_max_body(req, 8);
    return HTTPD_READ_BODY;
}

static void on_request(struct httpd_req *req, void *arg)
{
    (void)arg;
    size_t len;
    const char *body = httpd_req_body(req, &len);
    if (body[len] != '\0')
        abort(); /* the body is always NUL-terminated */
    const char *path = httpd_req_path(req);
    if (strncmp(path, "/later", 6) == 0 && nheld < FUZZ_HELD_MAX) {
        held[nheld++] = req;
        return;
    }
    /* A header from the request, echoed: refused values must be refused, not sent. */
    const char *v = httpd_req_header(req, "X-Echo");
    if (v != NULL)
        (void)httpd_reply_header(req, "X-Echo", v);
    if (strncmp(path, "/self", 5) == 0) {
        httpd_reply(req, 200, "text/plain", body, len);
        return;
    }
    char out[64];
    int n = snprintf(out, sizeof(out), "%s %zu", httpd_req_method(req), len);
    httpd_reply(req, 200, "text/plain", out, (size_t)n);
}

static void answer_held(void)
{
    for (size_t i = 0; i < nheld; i++)
        httpd_reply(held[i], 202, "application/json", "{}", 2);
    nheld = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* As in the ingress: a write to a peer that left is an EPIPE, not the end of us. */
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (base == NULL || lfd < 0)
        abort();
    /* An abstract socket: nothing on disk to clean up, one per process. */
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    int n =
        snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "hb-fuzz-httpd-%d", (int)getpid());
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(lfd, (struct sockaddr *)&addr, addr_len) != 0 || listen(lfd, 16) != 0)
        abort();
    struct httpd_config cfg;
    httpd_config_init(&cfg);
    cfg.max_header_bytes = 512;
    cfg.max_headers = 8;
    cfg.max_body = 256;
    cfg.header_timeout_ms = 5;
    cfg.body_timeout_ms = 5;
    cfg.idle_timeout_ms = 5;
    cfg.write_timeout_ms = 5;
    cfg.linger_ms = 1;
    cfg.max_connections = 4;
    server = httpd_new(base, lfd, &cfg, on_head, on_request, NULL);
    if (server == NULL)
        abort();
    return 0;
}

/* Read what the server sent; returns false once it closed. */
static bool client_drain(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
}

static void turn(void)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    /* Held requests are answered on a later turn, so the server has moved on meanwhile. */
    if (nheld > 0 && (rand() & 1))
        answer_held();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = data[0] % 32 + 1;
    bool abrupt = data[1] & 1, lazy = data[1] & 2;
    data += 2;
    size -= 2;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addr_len) != 0)
        abort();
    srand((unsigned)size);
    size_t off = 0;
    int64_t deadline = now_ms() + 5000;
    while (off < size && now_ms() < deadline) {
        size_t n = size - off < step ? size - off : step;
        ssize_t w = write(fd, data + off, n);
        if (w > 0)
            off += (size_t)w;
        turn();
        if (!lazy && !client_drain(fd))
            break; /* the server closed: the rest is not read */
    }
    if (abrupt) {
        close(fd);
        fd = -1;
    } else {
        shutdown(fd, SHUT_WR);
    }
    bool open = fd >= 0;
    while ((open || httpd_connections(server) > 0 || nheld > 0) && now_ms() < deadline) {
        turn();
        if (open && !client_drain(fd))
            open = false;
        if (nheld > 0 && !open)
            answer_held(); /* an orphan's reply only frees it */
    }
    if (fd >= 0)
        close(fd);
    /* Requests whose connection lingered on are answered and freed too. */
    answer_held();
    for (int i = 0; i < 100 && httpd_connections(server) > 0; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(100);
    }
    if (httpd_connections(server) != 0 || httpd_active(server) != 0) {
        fprintf(stderr, "fuzz_httpd: %zu connections, %zu active after the client left\n",
                httpd_connections(server), httpd_active(server));
        abort();
    }
    return 0;
}

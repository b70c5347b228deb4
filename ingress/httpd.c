/*
 * httpd.c - a small HTTP/1.1 server on raw libevent events (see httpd.h).
 *
 * Each connection is a state machine over one read buffer: HEAD (reading the request line
 * and headers), BODY, HANDLER (the application owns the request), WRITE (the answer is
 * going out) and LINGER (after an error: our side is shut, the client's leftovers are read
 * and dropped so that closing does not reset the answer away). One timer per connection
 * enforces the deadline of the current state; libevent "common timeouts" make re-arming it
 * O(1), since every connection uses the same few durations.
 *
 * Buffers: the head is parsed in place in `buf` and never moves once a handler has seen it,
 * so the pointers handed out stay valid until the reply. A Content-Length body that fits
 * behind the head stays in `buf` (read with exact-size reads, so nothing of the next request
 * is swallowed); a larger one, and every chunked one, goes to a second buffer `bbuf`. Bytes
 * of a pipelined next request wait in the buffers until the current answer is written.
 * Connection objects and their buffers are recycled through a free list.
 */
#include "httpd.h"

#include "httpparse.h"
#include "listener.h"
#include "text.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HTTPD_BUF_INITIAL 8192
/* Buffers that grew past this are given back when their request is done. */
#define HTTPD_BUF_KEEP (64 * 1024)
/* Connection objects kept for reuse. */
#define HTTPD_FREE_MAX 64
#define HTTPD_REPLY_HEADERS_MAX 16

enum httpd_phase {
    HTTPD_PH_HEAD,
    HTTPD_PH_BODY,
    HTTPD_PH_HANDLER,
    HTTPD_PH_WRITE,
    HTTPD_PH_LINGER,
};

enum httpd_timer {
    HTTPD_T_NONE,
    HTTPD_T_IDLE,
    HTTPD_T_HEADER,
    HTTPD_T_BODY,
    HTTPD_T_WRITE,
    HTTPD_T_LINGER,
    HTTPD_T_COUNT,
};

struct httpd_req {
    struct httpd_conn *conn;
    const char *method, *target, *path, *query;
    int minor;
    const struct httpparse_header *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    size_t max_body;
    int64_t content_length;
    bool chunked, keep_alive, expect_continue, is_head;
};

struct httpd_conn {
    struct httpd_req req;
    struct httpd *h;              /* NULL once httpd_free detached this (orphaned) connection */
    LIST_ENTRY(httpd_conn) entry; /* in its server's conns, orphans or free */
    int fd;
    struct event *ev_read, *ev_write, *ev_timer;
    enum httpd_phase phase;
    unsigned seq; /* requests started on this connection */
    enum httpd_timer tkind;
    unsigned tseq;
    bool rd_on, wr_on, trestart;

    char *buf; /* head (parsed in place), small bodies, pipelined bytes */
    size_t cap, len;
    size_t hstart;   /* first byte of the head, after skipped empty lines */
    size_t body_off; /* first byte after the head */
    size_t next_off; /* first byte of the next request in buf */
    size_t body_end; /* where the body's NUL went over a pipelined byte */
    int saved;       /* the byte it replaced, or -1 */
    struct httpparse_scan scan;
    struct httpparse_header *headers;

    char *bbuf; /* bodies that do not fit behind the head; chunked framing */
    size_t bcap, blen;
    bool in_bbuf;
    size_t rpos, wpos; /* chunked: raw bytes consumed, decoded bytes */
    struct httpparse_chunked chunk;

    char *pathbuf;
    size_t pathcap;
    char *out; /* answer bytes not yet taken by the socket */
    size_t out_cap, out_off, out_len;
    char *uh; /* formatted httpd_reply_header lines */
    size_t uh_cap, uh_len;
    unsigned uh_count;

    struct sockaddr_storage peer_sa;
    char peer[LISTENER_PEER_LEN];

    bool in_cb;       /* inside the head or request function */
    bool counted;     /* counted in h->active */
    bool close_after; /* close once the answer is written */
    bool linger;      /* ... after reading off what the client still sends */
    bool peer_eof;
    bool rd_stall; /* pipelined bytes wait while the handler works */
    bool dead;     /* close at the end of the current callback */
    bool orphan;   /* closed while the handler owns the request */
};

struct httpd {
    struct event_base *base;
    struct listener *lst;
    bool stopping;
    struct httpd_config cfg;
    httpd_head_fn head;
    httpd_request_fn request;
    void *arg;
    struct timeval tvs[HTTPD_T_COUNT];
    const struct timeval *tv[HTTPD_T_COUNT];
    LIST_HEAD(, httpd_conn) conns, orphans, free;
    size_t nconns, nfree, active;
};

static void httpd_conn_run(struct httpd_conn *c);
static void httpd_listen_update(struct httpd *h);

void httpd_config_init(struct httpd_config *cfg)
{
    cfg->max_header_bytes = 65536;
    cfg->max_headers = 100;
    cfg->max_body = 1048576;
    cfg->header_timeout_ms = 10000;
    cfg->body_timeout_ms = 30000;
    cfg->idle_timeout_ms = 30000;
    cfg->write_timeout_ms = 30000;
    cfg->linger_ms = 2000;
    cfg->max_connections = 10000;
}

static const struct {
    int code;
    const char *reason;
    const char *error; /* the JSON error's name, for errors the server answers by itself */
} httpd_statuses[] = {
    {100, "Continue", NULL},
    {200, "OK", NULL},
    {201, "Created", NULL},
    {202, "Accepted", NULL},
    {204, "No Content", NULL},
    {301, "Moved Permanently", NULL},
    {302, "Found", NULL},
    {304, "Not Modified", NULL},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", NULL},
    {403, "Forbidden", NULL},
    {404, "Not Found", NULL},
    {405, "Method Not Allowed", NULL},
    {408, "Request Timeout", "request_timeout"},
    {409, "Conflict", NULL},
    {410, "Gone", NULL},
    {411, "Length Required", NULL},
    {413, "Payload Too Large", "payload_too_large"},
    {415, "Unsupported Media Type", NULL},
    {422, "Unprocessable Content", NULL},
    {429, "Too Many Requests", NULL},
    {431, "Request Header Fields Too Large", "headers_too_large"},
    {500, "Internal Server Error", "internal_error"},
    {501, "Not Implemented", "not_implemented"},
    {502, "Bad Gateway", NULL},
    {503, "Service Unavailable", NULL},
    {504, "Gateway Timeout", NULL},
    {505, "HTTP Version Not Supported", "http_version_not_supported"},
};

static size_t httpd_status_index(int code)
{
    size_t n = sizeof(httpd_statuses) / sizeof(httpd_statuses[0]);
    for (size_t i = 0; i < n; i++)
        if (httpd_statuses[i].code == code)
            return i;
    return n;
}

static const char *httpd_reason(int code)
{
    size_t i = httpd_status_index(code);
    return i < sizeof(httpd_statuses) / sizeof(httpd_statuses[0]) ? httpd_statuses[i].reason
                                                                  : "Status";
}

static const char *httpd_error_name(int code)
{
    size_t i = httpd_status_index(code);
    if (i < sizeof(httpd_statuses) / sizeof(httpd_statuses[0]) && httpd_statuses[i].error)
        return httpd_statuses[i].error;
    return "internal_error";
}

/*
 * Grow *p to hold at least `need` bytes, keeping its contents. Not common/dynbuf: the
 * socket reads land straight in a buffer's spare room (read(2) into buf + len), which a
 * dynbuf does not lend out; the read buffers are bounded by their callers (max_header_bytes,
 * max_body), the output ones by what our own handlers answer; and a recycled connection
 * keeps its buffers up to HTTPD_BUF_KEEP.
 */
static void httpd_reserve(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap < 256 ? 256 : *cap;
    while (n < need)
        n *= 2;
    *p = xrealloc(*p, n);
    *cap = n;
}

static void httpd_out_add(struct httpd_conn *c, const char *s, size_t n)
{
    if (n == 0)
        return;
    httpd_reserve(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void httpd_out_str(struct httpd_conn *c, const char *s)
{
    httpd_out_add(c, s, strlen(s));
}

static void httpd_out_uint(struct httpd_conn *c, size_t v)
{
    char tmp[24];
    httpd_out_add(c, tmp, text_u64(tmp, v));
}

/* {"error":…,"message":…} with both strings escaped; the caller frees it. */
static char *httpd_json_error(const char *error, const char *message, size_t *len)
{
    size_t cap = sizeof("{\"error\":,\"message\":}") + TEXT_JSON_QUOTE_MAX(strlen(error)) +
                 (message != NULL ? TEXT_JSON_QUOTE_MAX(strlen(message)) : 0);
    char *out = xmalloc(cap);
    char *o = text_json_put(out, "{\"error\":", error);
    if (message != NULL)
        o = text_json_put(o, ",\"message\":", message);
    *o++ = '}';
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

static void httpd_conn_req_reset(struct httpd_conn *c)
{
    memset(&c->req, 0, sizeof(c->req));
    c->req.conn = c;
    c->req.headers = c->headers;
    c->req.body = "";
    c->req.content_length = -1;
}

/* Free a connection object for good. Its descriptor is already closed. */
static void httpd_conn_destroy(struct httpd_conn *c)
{
    if (c->ev_read != NULL)
        event_free(c->ev_read);
    if (c->ev_write != NULL)
        event_free(c->ev_write);
    if (c->ev_timer != NULL)
        event_free(c->ev_timer);
    free(c->buf);
    free(c->bbuf);
    free(c->headers);
    free(c->pathbuf);
    free(c->out);
    free(c->uh);
    free(c);
}

/* Put a closed connection on the free list, giving back buffers that grew large. */
static void httpd_conn_recycle(struct httpd *h, struct httpd_conn *c)
{
    if (h->nfree >= HTTPD_FREE_MAX) {
        httpd_conn_destroy(c);
        return;
    }
    if (c->cap > HTTPD_BUF_KEEP) {
        free(c->buf);
        c->buf = xmalloc(HTTPD_BUF_INITIAL);
        c->cap = HTTPD_BUF_INITIAL;
    }
    if (c->bcap > HTTPD_BUF_KEEP) {
        free(c->bbuf);
        c->bbuf = NULL;
        c->bcap = 0;
    }
    if (c->out_cap > HTTPD_BUF_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    LIST_INSERT_HEAD(&h->free, c, entry);
    h->nfree++;
}

/*
 * Close the socket now. A connection whose request is with the handler becomes an orphan:
 * the object lives on until the reply, which is then dropped.
 */
static void httpd_conn_close(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    event_del(c->ev_read);
    event_del(c->ev_write);
    event_del(c->ev_timer);
    c->rd_on = c->wr_on = false;
    c->tkind = HTTPD_T_NONE;
    /* Nothing to do when close fails: the descriptor is released either way on Linux. */
    (void)close(c->fd);
    c->fd = -1;
    LIST_REMOVE(c, entry);
    h->nconns--;
    if (c->phase == HTTPD_PH_HANDLER) {
        c->orphan = true;
        LIST_INSERT_HEAD(&h->orphans, c, entry);
    } else {
        if (c->counted)
            h->active--;
        httpd_conn_recycle(h, c);
    }
    httpd_listen_update(h);
}

/*
 * Send what is queued in c->out, then body[0..blen) straight from the caller's memory, in
 * one gather write; whatever the socket does not take is queued in c->out.
 */
static void httpd_conn_flush(struct httpd_conn *c, const char *body, size_t blen)
{
    while (!c->dead && (c->out_off < c->out_len || blen > 0)) {
        struct iovec iov[2];
        int n = 0;
        size_t pend = c->out_len - c->out_off;
        if (pend > 0) {
            iov[n].iov_base = c->out + c->out_off;
            iov[n++].iov_len = pend;
        }
        if (blen > 0) {
            iov[n].iov_base = (void *)body;
            iov[n++].iov_len = blen;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        /* sendmsg is writev with flags: MSG_NOSIGNAL, so a gone client is EPIPE, not SIGPIPE. */
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            break;
        }
        c->trestart = true;
        size_t k = (size_t)w;
        if (k >= pend) {
            c->out_off = c->out_len = 0;
            body += k - pend;
            blen -= k - pend;
        } else {
            c->out_off += k;
        }
    }
    if (blen > 0 && !c->dead)
        httpd_out_add(c, body, blen);
}

/* Queue and start sending the answer to the current request. */
static void httpd_conn_respond(struct httpd_conn *c, int code, const char *ctype, const char *body,
                               size_t len)
{
    struct httpd_req *req = &c->req;
    if (c->phase != HTTPD_PH_HANDLER && (req->chunked || req->content_length > 0))
        c->close_after = c->linger = true; /* the body was not read */
    if (!req->keep_alive || c->h->stopping || c->peer_eof)
        c->close_after = true;
    if (code < 200 || code > 999)
        code = 500; /* 1xx are not final answers */
    bool bodyless = code == 204 || code == 304;
    httpd_out_str(c, "HTTP/1.1 ");
    httpd_out_uint(c, (size_t)code);
    httpd_out_add(c, " ", 1);
    httpd_out_str(c, httpd_reason(code));
    if (ctype != NULL) {
        httpd_out_str(c, "\r\nContent-Type: ");
        httpd_out_str(c, ctype);
    }
    if (!bodyless) {
        httpd_out_str(c, "\r\nContent-Length: ");
        httpd_out_uint(c, len);
    }
    if (c->close_after)
        httpd_out_str(c, "\r\nConnection: close");
    else if (req->minor == 0)
        httpd_out_str(c, "\r\nConnection: keep-alive");
    httpd_out_add(c, "\r\n", 2);
    httpd_out_add(c, c->uh, c->uh_len);
    httpd_out_add(c, "\r\n", 2);
    c->uh_len = 0;
    c->uh_count = 0;
    c->phase = HTTPD_PH_WRITE;
    if (req->is_head || bodyless)
        len = 0;
    httpd_conn_flush(c, body, len);
}

/* Answer an error of the server's own and close after it. Returns 1 (progress). */
static int httpd_conn_error(struct httpd_conn *c, int code, const char *message)
{
    c->close_after = c->linger = true;
    c->uh_len = 0;
    c->uh_count = 0;
    size_t len;
    char *body = httpd_json_error(httpd_error_name(code), message, &len);
    httpd_conn_respond(c, code, "application/json", body, len);
    free(body);
    return 1;
}

/* Decide where the body will be read to, once the head function let it be read. */
static void httpd_conn_body_begin(struct httpd_conn *c)
{
    struct httpd_req *req = &c->req;
    size_t avail = c->len - c->body_off;
    size_t cl = req->content_length > 0 ? (size_t)req->content_length : 0;
    c->phase = HTTPD_PH_BODY;
    if (!req->chunked && (cl == 0 || c->body_off + cl < c->cap))
        return;
    size_t take = req->chunked || avail < cl ? avail : cl;
    size_t want = req->chunked ? take + 1 : cl + 1;
    httpd_reserve(&c->bbuf, &c->bcap, want < HTTPD_BUF_INITIAL ? HTTPD_BUF_INITIAL : want);
    memcpy(c->bbuf, c->buf + c->body_off, take);
    c->blen = take;
    c->in_bbuf = true;
    c->next_off = c->body_off + take;
    c->rpos = c->wpos = 0;
    if (req->chunked)
        httpparse_chunked_init(&c->chunk, c->h->cfg.max_header_bytes);
}

/* PH_HEAD: parse a complete head and ask the head function. Returns 1 on progress. */
static int httpd_conn_head(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *req = &c->req;
    /* RFC 9112 2.2: ignore empty lines before a request; drop them so they cost nothing. */
    while (c->hstart < c->len && (c->buf[c->hstart] == '\r' || c->buf[c->hstart] == '\n'))
        c->hstart++;
    if (c->hstart == c->len) {
        c->len = c->hstart = 0;
        return 0;
    }
    const char *err = NULL;
    size_t hlen = 0;
    int r = httpparse_head_end(c->buf + c->hstart, c->len - c->hstart, &c->scan, &hlen, &err);
    if (r < 0)
        return httpd_conn_error(c, -r, err);
    if ((r == 0 && c->len - c->hstart > h->cfg.max_header_bytes) || hlen > h->cfg.max_header_bytes)
        return httpd_conn_error(c, 431, "request head too large");
    if (r == 0)
        return 0;
    struct httpparse_head ph;
    r = httpparse_head(c->buf + c->hstart, hlen, &ph, c->headers, h->cfg.max_headers);
    if (r < 0)
        return httpd_conn_error(c, -r, ph.error);
    req->method = ph.method;
    req->target = ph.target;
    req->minor = ph.minor;
    req->nheaders = ph.nheaders;
    req->content_length = ph.content_length;
    req->chunked = ph.chunked;
    req->expect_continue = ph.expect_continue;
    req->keep_alive = !ph.conn_close && (ph.minor == 1 || ph.conn_keep_alive);
    req->is_head = strcmp(ph.method, "HEAD") == 0;
    req->max_body = h->cfg.max_body;
    req->path = req->target;
    const char *q = memchr(ph.target, '?', ph.target_len);
    if (q != NULL) {
        size_t plen = (size_t)(q - ph.target);
        httpd_reserve(&c->pathbuf, &c->pathcap, plen + 1);
        memcpy(c->pathbuf, ph.target, plen);
        c->pathbuf[plen] = '\0';
        req->path = c->pathbuf;
        req->query = q + 1;
    }
    c->body_off = c->next_off = c->hstart + hlen;
    c->counted = true;
    h->active++;

    c->in_cb = true;
    enum httpd_next next = h->head != NULL ? h->head(req, h->arg) : HTTPD_READ_BODY;
    c->in_cb = false;
    if (c->phase != HTTPD_PH_HEAD)
        return 1; /* it replied */
    if (next == HTTPD_REPLIED)
        return httpd_conn_error(c, 500, "head handler did not reply");
    if (req->content_length > 0 && (uint64_t)req->content_length > req->max_body)
        return httpd_conn_error(c, 413, "request body too large");
    httpd_conn_body_begin(c);
    /* Clients that asked wait for this before sending the body; a head answer skips it. */
    if (req->expect_continue && req->minor == 1 && c->len == c->body_off &&
        (req->chunked || req->content_length > 0)) {
        httpd_out_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
        httpd_conn_flush(c, NULL, 0);
    }
    return 1;
}

/* PH_BODY: once the body is complete, hand the request to the request function. */
static int httpd_conn_body(struct httpd_conn *c)
{
    struct httpd_req *req = &c->req;
    size_t cl = req->content_length > 0 ? (size_t)req->content_length : 0;
    if (req->chunked) {
        int r = httpparse_chunked(&c->chunk, c->bbuf, &c->rpos, c->blen, &c->wpos);
        if (c->wpos + httpparse_chunked_pending(&c->chunk) > req->max_body)
            return httpd_conn_error(c, 413, "request body too large");
        if (r < 0)
            return httpd_conn_error(
                c, -r, r == -431 ? "chunk trailers too large" : "malformed chunked body");
        if (r == 0) {
            /* Keep undecoded bytes next to the decoded ones: bbuf then holds the body and at
             * most one partial line, which bounds it by max_body plus the line limits. */
            memmove(c->bbuf + c->wpos, c->bbuf + c->rpos, c->blen - c->rpos);
            c->blen -= c->rpos - c->wpos;
            c->rpos = c->wpos;
            return 0;
        }
        c->bbuf[c->wpos] = '\0'; /* wpos < rpos: the framing left room */
        req->body = c->bbuf;
        req->body_len = c->wpos;
    } else if (cl > 0 && c->in_bbuf) {
        if (c->blen < cl)
            return 0;
        c->bbuf[cl] = '\0';
        req->body = c->bbuf;
        req->body_len = cl;
    } else if (cl > 0) {
        size_t end = c->body_off + cl;
        if (c->len < end)
            return 0;
        /* The NUL may land on the next pipelined request's first byte: keep it aside. */
        if (c->len > end)
            c->saved = (unsigned char)c->buf[end];
        c->buf[end] = '\0';
        c->body_end = c->next_off = end;
        req->body = c->buf + c->body_off;
        req->body_len = cl;
    }
    c->phase = HTTPD_PH_HANDLER;
    c->in_cb = true;
    c->h->request(req, c->h->arg);
    c->in_cb = false;
    return 1;
}

/* Ready the connection for the next request on it, keeping pipelined bytes. */
static void httpd_conn_next(struct httpd_conn *c)
{
    if (c->saved >= 0)
        c->buf[c->body_end] = (char)c->saved;
    c->saved = -1;
    size_t n;
    if (c->req.chunked) {
        n = c->blen - c->rpos;
        httpd_reserve(&c->buf, &c->cap, n);
        memcpy(c->buf, c->bbuf + c->rpos, n);
    } else {
        n = c->len - c->next_off;
        memmove(c->buf, c->buf + c->next_off, n);
    }
    c->len = n;
    if (c->cap > HTTPD_BUF_KEEP && n <= HTTPD_BUF_INITIAL) {
        c->buf = xrealloc(c->buf, HTTPD_BUF_INITIAL);
        c->cap = HTTPD_BUF_INITIAL;
    }
    if (c->bcap > HTTPD_BUF_KEEP) {
        free(c->bbuf);
        c->bbuf = NULL;
        c->bcap = 0;
    }
    c->hstart = c->body_off = c->next_off = 0;
    c->blen = c->rpos = c->wpos = 0;
    c->in_bbuf = false;
    memset(&c->scan, 0, sizeof(c->scan));
    httpd_conn_req_reset(c);
    c->linger = c->rd_stall = false;
    c->seq++;
    c->phase = HTTPD_PH_HEAD;
}

/* PH_WRITE: once the answer is out, close or go on with the next request. */
static int httpd_conn_written(struct httpd_conn *c)
{
    if (c->out_off < c->out_len)
        return 0;
    if (c->counted) {
        c->counted = false;
        c->h->active--;
    }
    if (!c->close_after) {
        httpd_conn_next(c);
        return 1;
    }
    /* Closing with unread input makes the kernel send a reset, which can destroy the answer
     * before the client reads it; so shut our side and read what still comes for a while. */
    bool unread = c->linger || c->len > c->next_off || (c->req.chunked && c->blen > c->rpos);
    if (unread && !c->peer_eof) {
        if (shutdown(c->fd, SHUT_WR) < 0) {
            c->dead = true;
            return 0;
        }
        c->phase = HTTPD_PH_LINGER;
        return 0;
    }
    c->dead = true;
    return 0;
}

static enum httpd_timer httpd_conn_timer_kind(const struct httpd_conn *c)
{
    switch (c->phase) {
    case HTTPD_PH_HEAD:
        return c->len == 0 && c->seq > 0 ? HTTPD_T_IDLE : HTTPD_T_HEADER;
    case HTTPD_PH_BODY:
        return HTTPD_T_BODY;
    case HTTPD_PH_WRITE:
        return HTTPD_T_WRITE;
    case HTTPD_PH_LINGER:
        return HTTPD_T_LINGER;
    default:
        return HTTPD_T_NONE;
    }
}

/* Make the read/write events and the timer match the state. May close the connection. */
static void httpd_conn_sync(struct httpd_conn *c)
{
    bool rd = false, wr = c->out_off < c->out_len;
    if (c->phase == HTTPD_PH_HEAD || c->phase == HTTPD_PH_BODY)
        rd = !c->peer_eof;
    else if (c->phase == HTTPD_PH_HANDLER)
        rd = !c->peer_eof && !c->rd_stall; /* only to notice a client that leaves */
    else if (c->phase == HTTPD_PH_LINGER)
        rd = true;
    int rc = 0;
    if (rd != c->rd_on)
        rc |= rd ? event_add(c->ev_read, NULL) : event_del(c->ev_read);
    if (wr != c->wr_on)
        rc |= wr ? event_add(c->ev_write, NULL) : event_del(c->ev_write);
    c->rd_on = rd;
    c->wr_on = wr;
    enum httpd_timer kind = httpd_conn_timer_kind(c);
    /* Re-arm on a new state or a new request, never for more bytes of the same head: the
     * header deadline runs from its first byte however slowly the rest trickles in. */
    if (kind != c->tkind || (kind != HTTPD_T_NONE && c->tseq != c->seq) ||
        (kind == HTTPD_T_WRITE && c->trestart)) {
        if (kind == HTTPD_T_NONE)
            rc |= event_del(c->ev_timer);
        else
            rc |= event_add(c->ev_timer, c->h->tv[kind]);
        c->tkind = kind;
        c->tseq = c->seq;
    }
    c->trestart = false;
    if (rc != 0)
        httpd_conn_close(c);
}

/* Advance the connection as far as its bytes allow, then wait for events. May free it. */
static void httpd_conn_run(struct httpd_conn *c)
{
    int progress = 1;
    while (progress && !c->dead) {
        switch (c->phase) {
        case HTTPD_PH_HEAD:
            progress = httpd_conn_head(c);
            break;
        case HTTPD_PH_BODY:
            progress = httpd_conn_body(c);
            break;
        case HTTPD_PH_WRITE:
            progress = httpd_conn_written(c);
            break;
        default:
            progress = 0;
        }
    }
    if (c->dead)
        httpd_conn_close(c);
    else
        httpd_conn_sync(c);
}

/* Where the next read goes in the current state; *room 0 when nothing may be read. */
static char *httpd_conn_read_dst(struct httpd_conn *c, size_t *room)
{
    const struct httpd_config *cfg = &c->h->cfg;
    size_t cl = c->req.content_length > 0 ? (size_t)c->req.content_length : 0;
    if (c->phase == HTTPD_PH_LINGER) {
        *room = c->cap;
        return c->buf;
    }
    if (c->phase == HTTPD_PH_HEAD) {
        /* One byte past the limit is enough to tell that the head is too large. */
        size_t limit = c->hstart + cfg->max_header_bytes + 1;
        if (c->len == c->cap && c->cap < limit)
            httpd_reserve(&c->buf, &c->cap, c->cap * 2 < limit ? c->cap * 2 : limit);
        *room = c->cap - c->len;
        return c->buf + c->len;
    }
    if (!c->in_bbuf) { /* exact-size reads: the next request's bytes stay in the socket */
        *room = c->len < c->body_off + cl ? c->body_off + cl - c->len : 0;
        return c->buf + c->len;
    }
    if (!c->req.chunked) {
        *room = c->blen < cl ? cl - c->blen : 0;
        return c->bbuf + c->blen;
    }
    size_t limit = c->req.max_body + cfg->max_header_bytes + HTTPPARSE_CHUNK_LINE_MAX + 16;
    if (c->blen == c->bcap && c->bcap < limit)
        httpd_reserve(&c->bbuf, &c->bcap, c->bcap * 2 < limit ? c->bcap * 2 : limit);
    *room = c->bcap - c->blen;
    return c->bbuf + c->blen;
}

static void httpd_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpd_conn *c = arg;
    (void)what;
    if (c->phase == HTTPD_PH_WRITE) {
        httpd_conn_run(c);
        return;
    }
    if (c->phase == HTTPD_PH_HANDLER) {
        /* Peek only: the buffers must not change under the handler's pointers. */
        char b;
        ssize_t n = recv(fd, &b, 1, MSG_PEEK);
        if (n > 0)
            c->rd_stall = true;
        else if (n == 0)
            c->peer_eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->dead = true;
        httpd_conn_run(c);
        return;
    }
    size_t room;
    char *dst = httpd_conn_read_dst(c, &room);
    if (room == 0) {
        /* Only reachable if a limit above is inconsistent; refuse instead of spinning. */
        if (c->phase == HTTPD_PH_BODY)
            httpd_conn_error(c, 413, "request body too large");
        httpd_conn_run(c);
        return;
    }
    ssize_t n = read(fd, dst, room);
    if (n > 0) {
        if (c->phase == HTTPD_PH_LINGER)
            ; /* dropped */
        else if (c->in_bbuf)
            c->blen += (size_t)n;
        else
            c->len += (size_t)n;
    } else if (n == 0) {
        /* A client that leaves mid-request gets no answer: there is nobody to read it. */
        c->peer_eof = true;
        c->dead = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->dead = true;
    }
    httpd_conn_run(c);
}

static void httpd_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpd_conn *c = arg;
    (void)fd;
    (void)what;
    httpd_conn_flush(c, NULL, 0);
    httpd_conn_run(c);
}

static void httpd_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct httpd_conn *c = arg;
    (void)fd;
    (void)what;
    enum httpd_timer kind = c->tkind;
    c->tkind = HTTPD_T_NONE;
    if (kind == HTTPD_T_HEADER)
        httpd_conn_error(c, 408, "request head not received in time");
    else if (kind == HTTPD_T_BODY)
        httpd_conn_error(c, 408, "request body not received in time");
    else
        c->dead = true; /* idle, stalled writer, or linger over */
    httpd_conn_run(c);
}

/* Set up a connection object for an accepted socket. Returns -1 (fd not taken) on failure. */
static int httpd_conn_new(struct httpd *h, int fd, const struct sockaddr_storage *sa)
{
    struct httpd_conn *c = LIST_FIRST(&h->free);
    if (c != NULL) {
        LIST_REMOVE(c, entry);
        h->nfree--;
    } else {
        c = xcalloc(1, sizeof(*c));
        c->buf = xmalloc(HTTPD_BUF_INITIAL);
        c->cap = HTTPD_BUF_INITIAL;
        c->headers = xcalloc(h->cfg.max_headers, sizeof(*c->headers));
        c->ev_read = event_new(h->base, -1, 0, NULL, NULL);
        c->ev_write = event_new(h->base, -1, 0, NULL, NULL);
        c->ev_timer = event_new(h->base, -1, 0, NULL, NULL);
        if (c->ev_read == NULL || c->ev_write == NULL || c->ev_timer == NULL)
            goto out_destroy;
    }
    if (event_assign(c->ev_read, h->base, fd, EV_READ | EV_PERSIST, httpd_conn_read_cb, c) < 0 ||
        event_assign(c->ev_write, h->base, fd, EV_WRITE | EV_PERSIST, httpd_conn_write_cb, c) < 0 ||
        event_assign(c->ev_timer, h->base, -1, 0, httpd_conn_timer_cb, c) < 0)
        goto out_destroy;
    c->h = h;
    c->fd = fd;
    c->phase = HTTPD_PH_HEAD;
    c->seq = c->tseq = 0;
    c->tkind = HTTPD_T_NONE;
    c->rd_on = c->wr_on = c->trestart = false;
    c->len = c->hstart = c->body_off = c->next_off = 0;
    c->blen = c->rpos = c->wpos = 0;
    c->saved = -1;
    memset(&c->scan, 0, sizeof(c->scan));
    c->out_off = c->out_len = c->uh_len = 0;
    c->uh_count = 0;
    memcpy(&c->peer_sa, sa, sizeof(*sa));
    c->peer[0] = '\0';
    c->in_cb = c->counted = c->close_after = c->linger = false;
    c->peer_eof = c->rd_stall = c->dead = c->orphan = c->in_bbuf = false;
    httpd_conn_req_reset(c);
    LIST_INSERT_HEAD(&h->conns, c, entry);
    h->nconns++;
    httpd_conn_sync(c);
    return 0;

out_destroy:
    c->fd = -1;
    httpd_conn_destroy(c);
    return -1;
}

/* Take connections exactly when allowed: not stopping, below max_connections. */
static void httpd_listen_update(struct httpd *h)
{
    listener_want(h->lst, !h->stopping && h->nconns < h->cfg.max_connections);
}

static void httpd_on_accept(int fd, const struct sockaddr_storage *ss, void *arg)
{
    struct httpd *h = arg;
    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
        int one = 1;
        /* Answers are one gather write: Nagle would only delay them. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
            /* Not fatal: the connection works, a little slower. */
        }
    }
    if (httpd_conn_new(h, fd, ss) < 0)
        (void)close(fd);
    httpd_listen_update(h);
}

/* Zero fields mean the default: callers set only what they change. */
static void httpd_config_fill(struct httpd_config *cfg, const struct httpd_config *def)
{
    size_t *sizes[] = {&cfg->max_header_bytes, &cfg->max_headers, &cfg->max_body};
    const size_t dsizes[] = {def->max_header_bytes, def->max_headers, def->max_body};
    unsigned *nums[] = {&cfg->header_timeout_ms, &cfg->body_timeout_ms, &cfg->idle_timeout_ms,
                        &cfg->write_timeout_ms,  &cfg->linger_ms,       &cfg->max_connections};
    const unsigned dnums[] = {def->header_timeout_ms, def->body_timeout_ms, def->idle_timeout_ms,
                              def->write_timeout_ms,  def->linger_ms,       def->max_connections};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (*sizes[i] == 0)
            *sizes[i] = dsizes[i];
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (*nums[i] == 0)
            *nums[i] = dnums[i];
}

struct httpd *httpd_new(struct event_base *base, int listen_fd, const struct httpd_config *cfg,
                        httpd_head_fn head, httpd_request_fn request, void *arg)
{
    struct httpd_config def;
    httpd_config_init(&def);
    struct httpd *h = xcalloc(1, sizeof(*h));
    h->base = base;
    h->head = head;
    h->request = request;
    h->arg = arg;
    LIST_INIT(&h->conns);
    LIST_INIT(&h->orphans);
    LIST_INIT(&h->free);
    h->cfg = cfg != NULL ? *cfg : def;
    httpd_config_fill(&h->cfg, &def);
    const unsigned ms[HTTPD_T_COUNT] = {
        [HTTPD_T_IDLE] = h->cfg.idle_timeout_ms, [HTTPD_T_HEADER] = h->cfg.header_timeout_ms,
        [HTTPD_T_BODY] = h->cfg.body_timeout_ms, [HTTPD_T_WRITE] = h->cfg.write_timeout_ms,
        [HTTPD_T_LINGER] = h->cfg.linger_ms,
    };
    for (int k = HTTPD_T_IDLE; k < HTTPD_T_COUNT; k++) {
        h->tvs[k].tv_sec = ms[k] / 1000;
        h->tvs[k].tv_usec = (ms[k] % 1000) * 1000;
        /* Common timeouts keep same-length timers in a queue: re-arming one is O(1). */
        h->tv[k] = event_base_init_common_timeout(base, &h->tvs[k]);
        if (h->tv[k] == NULL)
            h->tv[k] = &h->tvs[k];
    }
    if (request == NULL)
        goto out_free;
    h->lst = listener_new(base, listen_fd, httpd_on_accept, h);
    if (h->lst == NULL)
        goto out_free;
    return h;

out_free:
    free(h);
    return NULL;
}

void httpd_stop_accepting(struct httpd *h)
{
    h->stopping = true;
    httpd_listen_update(h);
    struct httpd_conn *c = LIST_FIRST(&h->conns), *next;
    for (; c != NULL; c = next) {
        next = LIST_NEXT(c, entry);
        if (c->phase == HTTPD_PH_HEAD && c->len == 0)
            httpd_conn_close(c);
    }
}

size_t httpd_active(const struct httpd *h)
{
    return h->active;
}

size_t httpd_connections(const struct httpd *h)
{
    return h->nconns;
}

void httpd_free(struct httpd *h)
{
    if (h == NULL)
        return;
    h->stopping = true;
    httpd_listen_update(h);
    while (!LIST_EMPTY(&h->conns))
        httpd_conn_close(LIST_FIRST(&h->conns));
    /* Orphans outlive the server: without events or a server, a reply just frees them. */
    for (struct httpd_conn *c = LIST_FIRST(&h->orphans), *next; c != NULL; c = next) {
        next = LIST_NEXT(c, entry);
        event_free(c->ev_read);
        event_free(c->ev_write);
        event_free(c->ev_timer);
        c->ev_read = c->ev_write = c->ev_timer = NULL;
        /* Out of the list without touching it: the list head goes with `h`. */
        c->h = NULL;
    }
    while (!LIST_EMPTY(&h->free)) {
        struct httpd_conn *c = LIST_FIRST(&h->free);
        LIST_REMOVE(c, entry);
        httpd_conn_destroy(c);
    }
    listener_free(h->lst);
    free(h);
}

const char *httpd_req_method(const struct httpd_req *req)
{
    return req->method;
}

bool httpd_req_method_is(const struct httpd_req *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

const char *httpd_req_target(const struct httpd_req *req)
{
    return req->target;
}

const char *httpd_req_path(const struct httpd_req *req)
{
    return req->path;
}

const char *httpd_req_query(const struct httpd_req *req)
{
    return req->query;
}

int httpd_req_minor(const struct httpd_req *req)
{
    return req->minor;
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

size_t httpd_req_header_count(const struct httpd_req *req)
{
    return req->nheaders;
}

bool httpd_req_header_at(const struct httpd_req *req, size_t i, const char **name,
                         const char **value)
{
    if (i >= req->nheaders)
        return false;
    *name = req->headers[i].name;
    *value = req->headers[i].value;
    return true;
}

const char *httpd_req_body(const struct httpd_req *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body;
}

const char *httpd_req_peer(const struct httpd_req *req)
{
    struct httpd_conn *c = req->conn;
    if (c->peer[0] == '\0')
        listener_peer_name(&c->peer_sa, c->peer, sizeof(c->peer));
    return c->peer;
}

void httpd_req_set_max_body(struct httpd_req *req, size_t max_body)
{
    req->max_body = max_body;
}

int httpd_reply_header(struct httpd_req *req, const char *name, const char *value)
{
    struct httpd_conn *c = req->conn;
    if (c->uh_count >= HTTPD_REPLY_HEADERS_MAX || *name == '\0' || strpbrk(value, "\r\n") != NULL)
        return -1;
    for (const char *p = name; *p != '\0'; p++)
        if (!text_is_tchar((unsigned char)*p))
            return -1;
    size_t nl = strlen(name), vl = strlen(value);
    httpd_reserve(&c->uh, &c->uh_cap, c->uh_len + nl + vl + 4);
    memcpy(c->uh + c->uh_len, name, nl);
    memcpy(c->uh + c->uh_len + nl, ": ", 2);
    memcpy(c->uh + c->uh_len + nl + 2, value, vl);
    memcpy(c->uh + c->uh_len + nl + 2 + vl, "\r\n", 2);
    c->uh_len += nl + vl + 4;
    c->uh_count++;
    return 0;
}

void httpd_reply(struct httpd_req *req, int code, const char *content_type, const void *body,
                 size_t len)
{
    struct httpd_conn *c = req->conn;
    if (c->orphan) {
        struct httpd *h = c->h;
        if (h == NULL) {
            httpd_conn_destroy(c);
            return;
        }
        LIST_REMOVE(c, entry);
        h->active--;
        httpd_conn_recycle(h, c);
        return;
    }
    if (c->phase == HTTPD_PH_WRITE || c->phase == HTTPD_PH_LINGER)
        return; /* a second reply: ignored */
    httpd_conn_respond(c, code, content_type, body, len);
    /* From inside our own callback the caller's loop goes on; from outside, continue in a
     * fresh callback so that the next pipelined request never runs inside this call. */
    if (c->in_cb)
        return;
    if (c->dead)
        httpd_conn_close(c);
    else
        event_active(c->ev_write, EV_WRITE, 1);
}

void httpd_reply_json_error(struct httpd_req *req, int code, const char *error, const char *message)
{
    size_t len;
    char *body = httpd_json_error(error, message, &len);
    httpd_reply(req, code, "application/json", body, len);
    free(body);
}

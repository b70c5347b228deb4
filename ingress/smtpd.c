/*
 * smtpd.c - an SMTP listener on libevent bufferevents (see smtpd.h).
 *
 * Each connection is a small state machine: CMD (reading command lines, pipelined ones
 * answered in order), DATA (reading the message, dot-stuffing undone, kept up to the size
 * limit and then read off and dropped so the client still gets its 552 at the end), WAIT
 * (the owner decides; the socket is not read, so pipelined bytes wait in the kernel) and
 * CLOSING (a last reply is going out). One timer per connection holds the deadline of what
 * is awaited: the next command (idle), the rest of a started command, or the whole DATA.
 *
 * The end of DATA is only ever CRLF "." CRLF: a bare LF never ends a line of the message,
 * so a message cannot smuggle a second one past us (the 2023 SMTP smuggling attacks).
 */
#include "smtpd.h"

#include "hb.h"
#include "listener.h"
#include "smtpparse.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

/* A DATA line longer than this is taken in pieces rather than waiting for its CRLF. */
#define SMTPD_DATA_CHUNK (64 * 1024)
#define SMTPD_LINGER_POLL_MS 20

enum smtpd_phase { SMTPD_CMD, SMTPD_DATA, SMTPD_WAIT, SMTPD_CLOSING };

struct smtpd_rcpt {
    char endpoint[HB_ENDPOINT_LEN + 1];
    char address[SMTPPARSE_PATH_MAX + 1];
};

struct smtpd_msg {
    struct smtpd *s;             /* NULL once smtpd_free detached it */
    struct smtpd_conn *conn;     /* NULL once the client is gone */
    LIST_ENTRY(smtpd_msg) entry; /* in s->waiting */
    char *data;
    size_t len;
    struct smtpd_rcpt *rcpts;
    size_t nrcpts;
    char from[SMTPPARSE_PATH_MAX + 1];
    char helo[SMTPPARSE_DOMAIN_MAX + 1];
    char peer[LISTENER_PEER_LEN];
};

struct smtpd_conn {
    struct smtpd *s;
    LIST_ENTRY(smtpd_conn) entry; /* in s->conns */
    struct bufferevent *bev;
    struct event *timer;
    enum smtpd_phase phase;
    bool helo_seen, in_mail;
    bool cmd_timer;  /* the rest of a started command is awaited */
    bool line_start; /* DATA: the next byte starts a line */
    bool too_big;    /* DATA: past max_message; read off and refused at the end */
    bool in_cb;      /* inside a read callback: frees wait for its end */
    bool tls;        /* STARTTLS done: bev is the OpenSSL filter */
    bool dead;
    unsigned errors;
    unsigned linger_polls; /* CLOSING behind TLS: checks of the socket's output */
    char helo[SMTPPARSE_DOMAIN_MAX + 1];
    char from[SMTPPARSE_PATH_MAX + 1];
    struct smtpd_rcpt *rcpts;
    size_t nrcpts;
    char *data;
    size_t len, cap;
    struct smtpd_msg *msg;
    char peer[LISTENER_PEER_LEN];
};

struct smtpd {
    struct event_base *base;
    struct listener *lst;
    struct smtpd_config cfg;
    char hostname[256];
    smtpd_rcpt_fn rcpt;
    smtpd_message_fn message;
    void *arg;
    LIST_HEAD(, smtpd_conn) conns;
    LIST_HEAD(, smtpd_msg) waiting;
    size_t nconns, active;
    size_t closing; /* connections whose last reply is going out */
    bool stopping;
    struct timeval tv_cmd, tv_idle, tv_data, tv_write;
    SSL_CTX *tls; /* NULL: no STARTTLS */
};

void smtpd_config_init(struct smtpd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_message = 1048576;
    cfg->max_recipients = 100;
    cfg->max_errors = 10;
    cfg->command_timeout_ms = 10000;
    cfg->idle_timeout_ms = 30000;
    cfg->data_timeout_ms = 30000;
    cfg->write_timeout_ms = 30000;
    cfg->max_connections = 10000;
}

static struct timeval smtpd_tv(unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static void smtpd_listen_update(struct smtpd *s)
{
    listener_want(s->lst, !s->stopping && s->nconns < s->cfg.max_connections);
}

static void smtpd_send(struct smtpd_conn *c, int code, const char *text)
{
    evbuffer_add_printf(bufferevent_get_output(c->bev), "%d %s\r\n", code, text);
}

static void smtpd_reset(struct smtpd_conn *c)
{
    c->in_mail = false;
    c->from[0] = '\0';
    c->nrcpts = 0;
    free(c->data);
    c->data = NULL;
    c->len = c->cap = 0;
    c->too_big = false;
}

static void smtpd_conn_free(struct smtpd_conn *c)
{
    if (c->in_cb) {
        c->dead = true;
        return;
    }
    struct smtpd *s = c->s;
    if (c->msg != NULL)
        c->msg->conn = NULL; /* its owner still answers it; the answer only frees it */
    if (c->phase == SMTPD_CLOSING)
        s->closing--;
    bufferevent_free(c->bev);
    event_free(c->timer);
    LIST_REMOVE(c, entry);
    free(c->rcpts);
    free(c->data);
    free(c);
    s->nconns--;
    smtpd_listen_update(s);
}

/* Send a last reply and close once it is written. */
static void smtpd_close_with(struct smtpd_conn *c, int code, const char *text)
{
    smtpd_send(c, code, text);
    if (c->phase != SMTPD_CLOSING)
        c->s->closing++;
    c->phase = SMTPD_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    evtimer_del(c->timer);
}

/* A refused command; too many of them end the session. */
static void smtpd_refuse(struct smtpd_conn *c, int code, const char *text)
{
    if (++c->errors >= c->s->cfg.max_errors) {
        smtpd_close_with(c, 421, "4.7.0 too many errors, closing connection");
        return;
    }
    smtpd_send(c, code, text);
}

static void smtpd_ehlo(struct smtpd_conn *c)
{
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
                        "%s250 SIZE %zu\r\n",
                        c->s->hostname, c->s->tls && !c->tls ? "250-STARTTLS\r\n" : "",
                        c->s->cfg.max_message);
}

static void smtpd_on_read(struct bufferevent *bev, void *arg);
static void smtpd_on_write(struct bufferevent *bev, void *arg);
static void smtpd_on_event(struct bufferevent *bev, short what, void *arg);

/*
 * STARTTLS (RFC 3207): answer 220 in the clear, then put libevent's OpenSSL filter over the
 * connection. Whatever the client sent after the command is dropped unread: bytes pipelined
 * before the handshake must not be taken as commands of the encrypted session (the
 * CVE-2011-0411 injection). The session starts over: a new EHLO is required.
 */
static void smtpd_starttls(struct smtpd_conn *c)
{
    struct smtpd *s = c->s;
    if (s->tls == NULL || c->tls) {
        smtpd_refuse(c, 502, "5.5.1 command not implemented");
        return;
    }
    if (c->in_mail) {
        smtpd_refuse(c, 503, "5.5.1 STARTTLS inside a transaction");
        return;
    }
    SSL *ssl = SSL_new(s->tls);
    if (ssl == NULL) {
        smtpd_send(c, 454, "4.7.0 TLS not available due to temporary reason");
        return;
    }
    smtpd_send(c, 220, "2.0.0 ready to start TLS");
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    struct bufferevent *tb = bufferevent_openssl_filter_new(
        s->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (tb == NULL) {
        SSL_free(ssl);
        smtpd_close_with(c, 421, "4.7.0 TLS setup failed, closing connection");
        return;
    }
    c->bev = tb;
    c->tls = true;
    c->helo_seen = false;
    smtpd_reset(c);
    bufferevent_setcb(tb, smtpd_on_read, smtpd_on_write, smtpd_on_event, c);
    bufferevent_set_timeouts(tb, NULL, &s->tv_write);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
    /* The handshake and the new EHLO are one command's worth of time. */
    c->cmd_timer = true;
    evtimer_add(c->timer, &s->tv_cmd);
}

static void smtpd_rcpt(struct smtpd_conn *c, const char *path)
{
    struct smtpd *s = c->s;
    char ep[HB_ENDPOINT_LEN + 1];
    if (!smtpparse_rcpt_endpoint(path, ep)) {
        smtpd_refuse(c, 550, "5.1.1 no such endpoint");
        return;
    }
    if (c->nrcpts >= s->cfg.max_recipients) {
        smtpd_send(c, 452, "4.5.3 too many recipients");
        return;
    }
    struct smtpd_rcpt_answer a = s->rcpt(ep, path, s->arg);
    if (a.code != 250) {
        if (a.code >= 500)
            smtpd_refuse(c, a.code, a.text);
        else
            smtpd_send(c, a.code, a.text);
        return;
    }
    /* One event per bridge: a second address for the same endpoint adds nothing. */
    for (size_t i = 0; i < c->nrcpts; i++)
        if (strcmp(c->rcpts[i].endpoint, ep) == 0) {
            smtpd_send(c, 250, "2.1.5 ok");
            return;
        }
    if (c->rcpts == NULL)
        c->rcpts = xcalloc(s->cfg.max_recipients, sizeof(*c->rcpts));
    struct smtpd_rcpt *r = &c->rcpts[c->nrcpts++];
    snprintf(r->endpoint, sizeof(r->endpoint), "%s", ep);
    snprintf(r->address, sizeof(r->address), "%s", path);
    smtpd_send(c, 250, "2.1.5 ok");
}

static void smtpd_command(struct smtpd_conn *c, const char *line, size_t len)
{
    struct smtpd *s = c->s;
    struct smtpparse_cmd cmd;
    struct smtpparse_error e;
    if (smtpparse_command(line, len, &cmd, &e) != 0) {
        smtpd_refuse(c, e.code, e.text);
        return;
    }
    switch (cmd.verb) {
    case SMTPPARSE_HELO:
    case SMTPPARSE_EHLO:
        smtpd_reset(c);
        c->helo_seen = true;
        snprintf(c->helo, sizeof(c->helo), "%s", cmd.domain);
        if (cmd.verb == SMTPPARSE_EHLO)
            smtpd_ehlo(c);
        else
            evbuffer_add_printf(bufferevent_get_output(c->bev), "250 %s\r\n", s->hostname);
        return;
    case SMTPPARSE_MAIL:
        if (!c->helo_seen) {
            smtpd_refuse(c, 503, "5.5.1 send HELO or EHLO first");
        } else if (c->in_mail) {
            smtpd_refuse(c, 503, "5.5.1 nested MAIL command");
        } else if (cmd.size >= 0 && (unsigned long long)cmd.size > s->cfg.max_message) {
            smtpd_send(c, 552, "5.3.4 message size exceeds the maximum");
        } else {
            c->in_mail = true;
            snprintf(c->from, sizeof(c->from), "%s", cmd.path);
            smtpd_send(c, 250, "2.1.0 ok");
        }
        return;
    case SMTPPARSE_RCPT:
        if (!c->in_mail)
            smtpd_refuse(c, 503, "5.5.1 need MAIL first");
        else
            smtpd_rcpt(c, cmd.path);
        return;
    case SMTPPARSE_DATA:
        if (!c->in_mail) {
            smtpd_refuse(c, 503, "5.5.1 need MAIL first");
        } else if (c->nrcpts == 0) {
            smtpd_refuse(c, 554, "5.5.1 no valid recipients");
        } else {
            smtpd_send(c, 354, "end data with <CR><LF>.<CR><LF>");
            c->phase = SMTPD_DATA;
            c->line_start = true;
            c->cmd_timer = false;
            evtimer_add(c->timer, &s->tv_data);
        }
        return;
    case SMTPPARSE_RSET:
        smtpd_reset(c);
        smtpd_send(c, 250, "2.0.0 ok");
        return;
    case SMTPPARSE_NOOP:
        smtpd_send(c, 250, "2.0.0 ok");
        return;
    case SMTPPARSE_QUIT:
        smtpd_close_with(c, 221, "2.0.0 bye");
        return;
    case SMTPPARSE_STARTTLS:
        smtpd_starttls(c);
        return;
    case SMTPPARSE_NOT_IMPLEMENTED:
        smtpd_refuse(c, 502, "5.5.1 command not implemented");
        return;
    }
}

static void smtpd_data_append(struct smtpd_conn *c, const char *p, size_t n)
{
    if (c->too_big)
        return;
    if (c->len + n > c->s->cfg.max_message) {
        /* Keep reading to the end marker so the client hears the 552 in order. */
        c->too_big = true;
        free(c->data);
        c->data = NULL;
        c->len = c->cap = 0;
        return;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        c->data = xrealloc(c->data, cap);
        c->cap = cap;
    }
    memcpy(c->data + c->len, p, n);
    c->len += n;
}

/* The end marker came: refuse an oversized message, else hand it to the owner. */
static void smtpd_data_done(struct smtpd_conn *c)
{
    struct smtpd *s = c->s;
    evtimer_del(c->timer);
    if (c->too_big) {
        c->phase = SMTPD_CMD;
        smtpd_reset(c);
        smtpd_send(c, 552, "5.3.4 message size exceeds the maximum");
        return;
    }
    struct smtpd_msg *m = xcalloc(1, sizeof(*m));
    m->s = s;
    m->conn = c;
    m->data = c->data ? c->data : xstrdup("");
    m->data[c->len] = '\0';
    m->len = c->len;
    c->data = NULL;
    c->len = c->cap = 0;
    m->rcpts = xmalloc(c->nrcpts * sizeof(*m->rcpts));
    memcpy(m->rcpts, c->rcpts, c->nrcpts * sizeof(*m->rcpts));
    m->nrcpts = c->nrcpts;
    memcpy(m->from, c->from, sizeof(m->from));
    memcpy(m->helo, c->helo, sizeof(m->helo));
    memcpy(m->peer, c->peer, sizeof(m->peer));
    LIST_INSERT_HEAD(&s->waiting, m, entry);
    s->active++;
    smtpd_reset(c);
    c->msg = m;
    c->phase = SMTPD_WAIT;
    bufferevent_disable(c->bev, EV_READ);
    s->message(m, s->arg);
}

/* One step of DATA: false when more bytes are needed. */
static bool smtpd_data(struct smtpd_conn *c, struct evbuffer *in)
{
    size_t eol_len = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
    if (p.pos < 0) {
        size_t have = evbuffer_get_length(in);
        if (have <= SMTPD_DATA_CHUNK)
            return false;
        /* A long line: take it in pieces, all but a last byte that may be its CR. */
        size_t take = have - 1;
        const char *b = (const char *)evbuffer_pullup(in, (ev_ssize_t)take);
        size_t skip = c->line_start && b[0] == '.' ? 1 : 0;
        smtpd_data_append(c, b + skip, take - skip);
        evbuffer_drain(in, take);
        c->line_start = false;
        return true;
    }
    size_t n = (size_t)p.pos;
    const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)(n + eol_len));
    const char *out = line;
    size_t outn = n;
    if (c->line_start && smtpparse_data_line(line, n, &out, &outn)) {
        evbuffer_drain(in, n + eol_len);
        smtpd_data_done(c);
        return true;
    }
    smtpd_data_append(c, out, outn);
    smtpd_data_append(c, "\r\n", 2);
    evbuffer_drain(in, n + eol_len);
    c->line_start = true;
    return true;
}

static void smtpd_process(struct smtpd_conn *c)
{
    struct smtpd *s = c->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->dead && (c->phase == SMTPD_CMD || c->phase == SMTPD_DATA)) {
        if (c->phase == SMTPD_DATA) {
            if (!smtpd_data(c, in))
                break;
            continue;
        }
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (line == NULL) {
            size_t pending = evbuffer_get_length(in);
            if (pending > SMTPPARSE_LINE_MAX + 2) {
                smtpd_close_with(c, 500, "5.5.2 line too long");
            } else if (pending > 0) {
                if (!c->cmd_timer) {
                    c->cmd_timer = true;
                    evtimer_add(c->timer, &s->tv_cmd);
                }
            } else {
                c->cmd_timer = false;
                evtimer_add(c->timer, &s->tv_idle);
            }
            break;
        }
        c->cmd_timer = false;
        struct bufferevent *before = c->bev;
        smtpd_command(c, line, n);
        free(line);
        if (c->bev != before)
            break; /* STARTTLS: the rest comes through the TLS filter */
    }
}

static void smtpd_on_read(struct bufferevent *bev, void *arg)
{
    struct smtpd_conn *c = arg;
    (void)bev;
    c->in_cb = true;
    smtpd_process(c);
    c->in_cb = false;
    if (c->dead)
        smtpd_conn_free(c);
}

/* Close a CLOSING connection once its last reply reached the socket. Behind the TLS filter
 * "written" only means handed to the socket's bufferevent, whose own writes the filter
 * watches, so that one is polled until it is empty (at most the write timeout). */
static void smtpd_finish(struct smtpd_conn *c)
{
    struct bufferevent *under = bufferevent_get_underlying(c->bev);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return; /* the write callback comes back */
    if (under != NULL && evbuffer_get_length(bufferevent_get_output(under)) > 0 &&
        c->linger_polls++ < c->s->cfg.write_timeout_ms / SMTPD_LINGER_POLL_MS) {
        struct timeval tv = smtpd_tv(SMTPD_LINGER_POLL_MS);
        evtimer_add(c->timer, &tv);
        return;
    }
    smtpd_conn_free(c);
}

static void smtpd_on_write(struct bufferevent *bev, void *arg)
{
    struct smtpd_conn *c = arg;
    (void)bev;
    if (c->phase == SMTPD_CLOSING)
        smtpd_finish(c);
}

static void smtpd_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtpd_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return; /* the TLS handshake is done; the client's EHLO follows */
    /* EOF, an error (TLS ones too) or a write that made no progress: the client is gone. */
    smtpd_conn_free(c);
}

static void smtpd_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct smtpd_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->phase == SMTPD_CMD || c->phase == SMTPD_DATA)
        smtpd_close_with(c, 421, "4.4.2 timeout, closing connection");
    else if (c->phase == SMTPD_CLOSING)
        smtpd_finish(c);
}

static void smtpd_on_accept(int fd, const struct sockaddr_storage *sa, void *arg)
{
    struct smtpd *s = arg;
    struct smtpd_conn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->timer = evtimer_new(s->base, smtpd_on_timer, c);
    listener_peer_name(sa, c->peer, sizeof(c->peer));
    LIST_INSERT_HEAD(&s->conns, c, entry);
    s->nconns++;
    smtpd_listen_update(s);
    bufferevent_setcb(c->bev, smtpd_on_read, smtpd_on_write, smtpd_on_event, c);
    bufferevent_set_timeouts(c->bev, NULL, &s->tv_write);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    evbuffer_add_printf(bufferevent_get_output(c->bev), "220 %s ESMTP hookbridge\r\n", s->hostname);
    c->phase = SMTPD_CMD;
    evtimer_add(c->timer, &s->tv_idle);
}

/* A server context for STARTTLS: TLS 1.2 or later, the certificate chain and its key. */
static SSL_CTX *smtpd_tls_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "tls cert %s: %s", cert, ERR_reason_error_string(ERR_get_error()));
        goto out_free;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls key %s: %s", key, ERR_reason_error_string(ERR_get_error()));
        goto out_free;
    }
    return ctx;
out_free:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
fail:
    snprintf(err, errlen, "tls: cannot make a context");
    return NULL;
}

struct smtpd *smtpd_new(struct event_base *base, int listen_fd, const struct smtpd_config *cfg,
                        smtpd_rcpt_fn rcpt, smtpd_message_fn message, void *arg, char *err,
                        size_t errlen)
{
    struct smtpd *s = xcalloc(1, sizeof(*s));
    LIST_INIT(&s->conns);
    LIST_INIT(&s->waiting);
    struct smtpd_config def;
    smtpd_config_init(&def);
    s->cfg = cfg ? *cfg : def;
#define SMTPD_DEFAULT(f)                                                                           \
    if (s->cfg.f == 0)                                                                             \
    s->cfg.f = def.f
    SMTPD_DEFAULT(max_message);
    SMTPD_DEFAULT(max_recipients);
    SMTPD_DEFAULT(max_errors);
    SMTPD_DEFAULT(command_timeout_ms);
    SMTPD_DEFAULT(idle_timeout_ms);
    SMTPD_DEFAULT(data_timeout_ms);
    SMTPD_DEFAULT(write_timeout_ms);
    SMTPD_DEFAULT(max_connections);
#undef SMTPD_DEFAULT
    snprintf(s->hostname, sizeof(s->hostname), "%s",
             cfg && cfg->hostname ? cfg->hostname : "hookbridge");
    s->cfg.hostname = NULL;
    if (cfg && cfg->tls_cert && cfg->tls_key) {
        s->tls = smtpd_tls_ctx(cfg->tls_cert, cfg->tls_key, err, errlen);
        if (s->tls == NULL) {
            free(s);
            return NULL;
        }
    }
    s->cfg.tls_cert = s->cfg.tls_key = NULL;
    s->base = base;
    s->rcpt = rcpt;
    s->message = message;
    s->arg = arg;
    s->tv_cmd = smtpd_tv(s->cfg.command_timeout_ms);
    s->tv_idle = smtpd_tv(s->cfg.idle_timeout_ms);
    s->tv_data = smtpd_tv(s->cfg.data_timeout_ms);
    s->tv_write = smtpd_tv(s->cfg.write_timeout_ms);
    s->lst = listener_new(base, listen_fd, smtpd_on_accept, s);
    if (s->lst == NULL) {
        snprintf(err, errlen, "smtp listener: cannot serve on the socket");
        SSL_CTX_free(s->tls);
        free(s);
        return NULL;
    }
    return s;
}

void smtpd_stop_accepting(struct smtpd *s)
{
    if (s == NULL || s->stopping)
        return;
    s->stopping = true;
    smtpd_listen_update(s);
    /* Connections between messages, or in one, are told to come back; one whose message
     * waits for its answer gets it first (smtpd_msg_reply closes it then). */
    struct smtpd_conn *c;
    LIST_FOREACH(c, &s->conns, entry)
    if (c->phase == SMTPD_CMD || c->phase == SMTPD_DATA)
        smtpd_close_with(c, 421, "4.3.2 shutting down, try again later");
}

size_t smtpd_active(const struct smtpd *s)
{
    return s ? s->active + s->closing : 0;
}

void smtpd_free(struct smtpd *s)
{
    if (s == NULL)
        return;
    /* Detached without touching the list, whose head goes with `s`. */
    struct smtpd_msg *m;
    LIST_FOREACH(m, &s->waiting, entry)
    {
        m->s = NULL;
        m->conn = NULL;
    }
    while (!LIST_EMPTY(&s->conns)) {
        struct smtpd_conn *c = LIST_FIRST(&s->conns);
        c->msg = NULL;
        c->in_cb = false;
        smtpd_conn_free(c);
    }
    listener_free(s->lst);
    SSL_CTX_free(s->tls);
    free(s);
}

const char *smtpd_msg_data(const struct smtpd_msg *msg, size_t *len)
{
    if (len)
        *len = msg->len;
    return msg->data;
}

size_t smtpd_msg_rcpt_count(const struct smtpd_msg *msg)
{
    return msg->nrcpts;
}

const char *smtpd_msg_rcpt_endpoint(const struct smtpd_msg *msg, size_t i)
{
    return i < msg->nrcpts ? msg->rcpts[i].endpoint : NULL;
}

const char *smtpd_msg_rcpt_address(const struct smtpd_msg *msg, size_t i)
{
    return i < msg->nrcpts ? msg->rcpts[i].address : NULL;
}

const char *smtpd_msg_from(const struct smtpd_msg *msg)
{
    return msg->from;
}

const char *smtpd_msg_helo(const struct smtpd_msg *msg)
{
    return msg->helo;
}

const char *smtpd_msg_peer(const struct smtpd_msg *msg)
{
    return msg->peer;
}

void smtpd_msg_reply(struct smtpd_msg *msg, int code, const char *text)
{
    struct smtpd *s = msg->s;
    struct smtpd_conn *c = msg->conn;
    if (s != NULL) {
        LIST_REMOVE(msg, entry);
        s->active--;
    }
    free(msg->data);
    free(msg->rcpts);
    free(msg);
    if (c == NULL)
        return;
    c->msg = NULL;
    if (s->stopping) {
        smtpd_close_with(c, code, text);
        return;
    }
    smtpd_send(c, code, text);
    c->phase = SMTPD_CMD;
    bufferevent_enable(c->bev, EV_READ);
    if (c->in_cb)
        return; /* answered from inside the message function: the read loop goes on */
    /* Commands pipelined behind the message wait in the buffer: read them now. */
    c->in_cb = true;
    smtpd_process(c);
    c->in_cb = false;
    if (c->dead)
        smtpd_conn_free(c);
}

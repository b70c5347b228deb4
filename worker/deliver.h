/*
 * deliver.h - outbound HTTP requests with libcurl multi on the worker's libevent loop.
 *
 * Many requests are in flight at once on one thread: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake (CURLMOPT_TIMERFUNCTION), as in curl's
 * docs/examples/hiperfifo.c. Connections to a destination are kept alive and reused.
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct deliver;
struct deliver_call;

struct deliver_request {
    const char *method; /* GET POST PUT PATCH DELETE */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated */
    const char *body;           /* must live until the call completes; NULL for none */
    size_t body_len;
    long timeout_ms;
    /* Mutual TLS and a private CA (PEM text, NULL for none): passed to libcurl from memory,
     * never written to a file. */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
    /* An e-mail route: `mail_rcpt` non-NULL makes this an SMTP call to url (smtp:// or
     * smtps://) sending `body` as the message. The SMTP reply code is the result's
     * http_status, also when the call fails (a 4xx or 5xx reply). */
    const char *mail_from;
    const char *const *mail_rcpt; /* NULL-terminated */
    const char *username;         /* NULL: no login */
    const char *password;
    bool starttls; /* smtp://: refuse to send unless STARTTLS succeeds */
};

struct deliver_result {
    int http_status;   /* 0 when no response arrived; the SMTP reply code for mail */
    const char *error; /* NULL, or why the request failed (transport, timeout) */
    cJSON *headers;    /* response headers, names lower-cased; owned by the call */
    const char *body;  /* first HB_RESPONSE_BODY_MAX bytes of the response body */
    size_t body_len;
    bool truncated;     /* the body was longer */
    long retry_after_s; /* Retry-After in seconds, or -1 */
    int64_t started_ms; /* wall clock */
    long duration_ms;
};

/* Called once when the call completes; `res` is valid only during the call. */
typedef void (*deliver_done_cb)(const struct deliver_result *res, void *arg);

/* A client keeping up to `max_conns` connections open; with `deny_private`, connections to
 * internal addresses are refused (common/netpolicy.h) and the call fails saying so. NULL
 * when libcurl or libevent cannot set it up. */
struct deliver *deliver_new(struct event_base *base, long max_conns, bool deny_private);

/*
 * Send every request through `proxy` (HOOKBRIDGE_PROXY; NULL or "" for none; proxies in the
 * environment are never used). With deny_private, each destination's host is then resolved
 * here and refused when any address is internal, since the address connected is the
 * proxy's. Returns 0, or -1 with `err` when the resolver cannot be set up.
 */
int deliver_set_proxy(struct deliver *d, const char *proxy, char *err, size_t errlen);

/*
 * Start a request. Returns the call (freed by deliver itself after `cb` returns), or NULL
 * with `err` set, in which case `cb` is never called.
 */
struct deliver_call *deliver_start(struct deliver *d, const struct deliver_request *rq,
                                   deliver_done_cb cb, void *arg, char *err, size_t errlen);

/* Abandon a call that has not completed: its callback is not called. */
void deliver_cancel(struct deliver_call *call);

/* Calls in flight. */
int deliver_active(const struct deliver *d);

/* Easy handles kept for the next requests (up to max_conns of deliver_new). */
long deliver_pooled(const struct deliver *d);

/*
 * A Retry-After header value as seconds to wait from `now_ms`: delay-seconds, or an
 * HTTP-date in any of RFC 9110's three forms (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
 * RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"), rounded
 * up to whole seconds; a date now or past gives 0; at most a week. -1 when absent or
 * malformed.
 */
long deliver_retry_after(const char *value, int64_t now_ms);

/* Free; every call must have completed or been cancelled. */
void deliver_free(struct deliver *d);

#endif

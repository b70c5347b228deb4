/*
 * httpd.h - hookbridge's own small HTTP/1.1 server on a libevent loop.
 *
 * It replaces evhttp for the ingress because evhttp cannot bound how long a client takes to
 * send its head (slowloris), answers limits with its own HTML instead of our JSON errors,
 * reads a whole body before a handler can refuse it, and allocates on every request. Here a
 * connection reads into one buffer that is parsed in place (ingress/httpparse.c), a handler
 * sees the head before the body is read (two-phase API), every limit and timeout answers
 * JSON, and responses go out with one gather write.
 *
 * Lifetime rules for handlers (the short version):
 *  - A struct httpd_req and every pointer obtained from it (method, target, path, query,
 *    header names and values, body, peer) stay valid from the head callback until the
 *    handler calls one of the httpd_reply* functions, and become invalid inside that call.
 *    httpd_reply copies what it needs first, so replying with the request's own bytes is fine.
 *  - Exactly one reply per request, from any callback of the same event loop, at any time.
 *    If the client went away meanwhile, the request stays valid all the same; the reply is
 *    then discarded and the request freed.
 *  - After httpd_free, a request still waiting is detached: it stays valid, and the
 *    handler's eventual reply frees it (a handler that never replies leaks it).
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct httpd;
struct httpd_req;

/* Limits and timeouts. A zero field means the default given here. */
struct httpd_config {
    size_t max_header_bytes;    /* request line + headers; over: 431 (65536) */
    size_t max_headers;         /* over: 431 (100) */
    size_t max_body;            /* decoded body; over: 413 (1048576) */
    unsigned header_timeout_ms; /* first byte (or accept) to end of head: 408 (10000) */
    unsigned body_timeout_ms;   /* end of head to end of body: 408 (30000) */
    unsigned idle_timeout_ms;   /* keep-alive wait for a next request: close (30000) */
    unsigned write_timeout_ms;  /* no progress writing a response: close (30000) */
    unsigned linger_ms;         /* read-and-discard after an error answer (2000) */
    unsigned max_connections;   /* accepting pauses above this (10000) */
};

enum httpd_next {
    HTTPD_READ_BODY, /* read the body, then call the request function */
    HTTPD_REPLIED,   /* the head function replied; the body is not read */
};

/*
 * Called once the request line and headers are in, before any of the body is read. Returns
 * HTTPD_READ_BODY, or HTTPD_REPLIED after calling an httpd_reply* function itself. When it
 * replies and a body was announced (Content-Length > 0 or chunked), the answer carries
 * "Connection: close", the connection stops being read for requests and is closed after a
 * short linger; a head without a body keeps the connection alive. It may also change the
 * body limit for this request (httpd_req_set_max_body). Returning HTTPD_REPLIED without
 * replying is a bug, answered 500.
 */
typedef enum httpd_next (*httpd_head_fn)(struct httpd_req *req, void *arg);

/* Called once the whole body is in. Must lead to exactly one httpd_reply*, now or later. */
typedef void (*httpd_request_fn)(struct httpd_req *req, void *arg);

/* Fill `cfg` with the defaults. */
void httpd_config_init(struct httpd_config *cfg);

/*
 * Serve HTTP on `listen_fd` (a listening socket; made non-blocking here, not owned: close it
 * after httpd_free) from `base`. `cfg` may be NULL for all defaults; it is copied. `head`
 * may be NULL (always read the body); `request` is required. Both get `arg`. Returns NULL
 * when the listener cannot be set up.
 */
struct httpd *httpd_new(struct event_base *base, int listen_fd, const struct httpd_config *cfg,
                        httpd_head_fn head, httpd_request_fn request, void *arg);

/*
 * Begin a graceful shutdown: stop accepting, close connections that wait for a next request,
 * and close the others once their current request is answered. Idempotent.
 */
void httpd_stop_accepting(struct httpd *h);

/*
 * Requests in flight: head received and answer not yet fully sent (reading its body, waiting
 * for the handler, or writing). Zero means a shutdown can free the server without cutting
 * a request short.
 */
size_t httpd_active(const struct httpd *h);

/* Open client connections (lingering ones included). */
size_t httpd_connections(const struct httpd *h);

/*
 * Close every connection and the server. Requests still waiting for a reply are detached
 * (see the lifetime rules above). Not to be called from inside a head or request function.
 * NULL is ignored.
 */
void httpd_free(struct httpd *h);

/* The method, e.g. "POST" (any token of up to 16 characters; handlers decide). */
const char *httpd_req_method(const struct httpd_req *req);

/* Whether the method is exactly `method` (methods are case-sensitive). */
bool httpd_req_method_is(const struct httpd_req *req, const char *method);

/* The request target as sent, e.g. "/hooks/abc?x=1" (not decoded). */
const char *httpd_req_target(const struct httpd_req *req);

/* The target up to '?', not percent-decoded, e.g. "/hooks/abc". */
const char *httpd_req_path(const struct httpd_req *req);

/* The target after '?', or NULL when there is no '?'. */
const char *httpd_req_query(const struct httpd_req *req);

/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
int httpd_req_minor(const struct httpd_req *req);

/* The first value of header `name` (case-insensitive), OWS trimmed, or NULL. */
const char *httpd_req_header(const struct httpd_req *req, const char *name);

/* Number of request headers, and the i-th one in order (false when i is out of range). */
size_t httpd_req_header_count(const struct httpd_req *req);
bool httpd_req_header_at(const struct httpd_req *req, size_t i, const char **name,
                         const char **value);

/*
 * The body (decoded when chunked) and its length in *len (len may be NULL). Always
 * NUL-terminated after *len bytes, though it may hold NUL bytes itself. Empty before the
 * request function is called.
 */
const char *httpd_req_body(const struct httpd_req *req, size_t *len);

/* The client's address as "1.2.3.4:5678" or "[::1]:5678" ("unix" for other families). */
const char *httpd_req_peer(const struct httpd_req *req);

/* Body limit for this request (from the head function); over it the server answers 413. */
void httpd_req_set_max_body(struct httpd_req *req, size_t max_body);

/*
 * Add a response header (copied) for the coming reply. At most 16 per response. Returns 0,
 * or -1 when the name is not a token, the value holds CR, LF or NUL, or there are already
 * 16. Content-Length and Connection are the server's own: do not add them.
 */
int httpd_reply_header(struct httpd_req *req, const char *name, const char *value);

/*
 * Answer the request with `code`, `content_type` (NULL: no Content-Type) and body[0..len)
 * (body may be NULL when len is 0). The body is sent straight from `body` when the socket
 * takes it, and what it cannot take is copied, so the caller keeps ownership of `body` and
 * may free it when this returns. HEAD requests get the headers only; 204 and 304 carry no
 * body and no Content-Length; codes outside 200..999 are sent as 500. The request and its
 * pointers are invalid after this call.
 */
void httpd_reply(struct httpd_req *req, int code, const char *content_type, const void *body,
                 size_t len);

/*
 * Answer {"error": error, "message": message} (message NULL: omitted) as application/json,
 * both JSON-escaped. Same lifetime rule as httpd_reply.
 */
void httpd_reply_json_error(struct httpd_req *req, int code, const char *error,
                            const char *message);

#endif

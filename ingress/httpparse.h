/*
 * httpparse.h - the pure HTTP/1.1 request parser behind ingress/httpd.c.
 *
 * It works on bytes already in a buffer and knows nothing about sockets, so that every rule
 * of RFC 9112 we enforce can be tested on a string. The head is parsed in place: names,
 * values, the method and the target become NUL-terminated pointers into the caller's buffer,
 * with no allocation. Chunked bodies are decoded in place too, the decoded bytes moved down
 * over the chunk framing. Errors are reported as the HTTP status the server should answer,
 * negated (-400, -431, -501, -505), with a short static message.
 */
#ifndef HTTPPARSE_H
#define HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest method accepted (any token up to this many characters). */
#define HTTPPARSE_METHOD_MAX 16
/* Longest chunk-size line, extensions included; longer is a 400. */
#define HTTPPARSE_CHUNK_LINE_MAX 4096
/* Content-Length values above this are reported as this (always over any body limit). */
#define HTTPPARSE_LENGTH_HUGE INT64_MAX

/* One header: NUL-terminated pointers into the parsed buffer, lengths without the NUL. */
struct httpparse_header {
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
};

/* What httpparse_head found. Pointers point into the parsed buffer. */
struct httpparse_head {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor;              /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
    size_t nheaders;        /* entries filled in the caller's header array */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool conn_close;        /* Connection: close, or HTTP/1.0 with Transfer-Encoding */
    bool conn_keep_alive;   /* Connection: keep-alive */
    bool expect_continue;   /* Expect: 100-continue */
    const char *error;      /* static message when the parse failed */
};

/* Progress of httpparse_head_end over a growing buffer; zero it for each new request. */
struct httpparse_scan {
    size_t pos;   /* where the search for the blank line resumes */
    bool line_ok; /* the request line is complete and was checked */
};

/*
 * Look for the end of the head (the empty line after the headers; CRLF or bare LF line
 * ends) in buf[0..len), resuming where the last call on the same request stopped, so that
 * a head arriving a byte at a time costs O(n) overall. It also checks the method as soon as
 * it arrives and the request line as soon as it is complete, so that garbage is refused
 * without waiting for a blank line that may never come. Returns 1 with *end = the head's
 * length (blank line included), 0 when more bytes are needed, or -400 / -505 with *error
 * set to a static message.
 */
int httpparse_head_end(const char *buf, size_t len, struct httpparse_scan *scan, size_t *end,
                       const char **error);

/*
 * Parse a complete head, buf[0..len) as delimited by httpparse_head_end, in place: the
 * request line and up to `max_headers` headers go into `out` and `headers`, NUL bytes are
 * written over separators. Returns 0, or -400 (malformed: bad request line, bad header
 * name, obs-fold, CR/NUL in a value, bad or conflicting Content-Length, Content-Length
 * with Transfer-Encoding), -431 (more than max_headers headers), -501 (a transfer-coding
 * other than chunked) or -505 (a version other than HTTP/1.0 and 1.1), with out->error set.
 * The buffer is left partly rewritten on failure.
 */
int httpparse_head(char *buf, size_t len, struct httpparse_head *out,
                   struct httpparse_header *headers, size_t max_headers);

/* State of an in-place chunked decoder; set up with httpparse_chunked_init. */
struct httpparse_chunked {
    int state;
    uint64_t left;        /* bytes of the current chunk still to come */
    size_t trailer_bytes; /* trailer section so far */
    size_t max_trailer_bytes;
};

void httpparse_chunked_init(struct httpparse_chunked *st, size_t max_trailer_bytes);

/*
 * Decode chunked framing in place. Raw bytes are buf[*rpos..len); decoded bytes are
 * written at buf[*wpos..] (*wpos <= *rpos always, so the output never overtakes the
 * input) and both offsets advance. Only whole lines are consumed, so a partial chunk-size
 * line stays at *rpos until more bytes come. Chunk extensions and trailers are skipped.
 * Returns 1 when the last chunk and trailers are done (*rpos is then just past them), 0
 * when more bytes are needed, -400 for malformed framing or -431 for trailers over the
 * limit.
 */
int httpparse_chunked(struct httpparse_chunked *st, char *buf, size_t *rpos, size_t len,
                      size_t *wpos);

/* Bytes of the chunk being decoded that have not arrived yet (for early limit checks). */
uint64_t httpparse_chunked_pending(const struct httpparse_chunked *st);

#endif

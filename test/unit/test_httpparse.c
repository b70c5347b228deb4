/*
 * test_httpparse.c - unit tests for ingress/httpparse.c: heads that parse (CRLF and bare LF,
 * OWS trimming, framing and connection headers), every malformed head and the status it
 * earns, the incremental head-end search fed a byte at a time (with early refusal of
 * garbage), and the in-place chunked decoder fed at every split point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/httpparse.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAXH 8

/* Parse `text` (a complete head) in a private copy; returns httpparse_head's result. */
static int parse(const char *text, size_t len, struct httpparse_head *out,
                 struct httpparse_header *hdrs, char *copy)
{
    memcpy(copy, text, len);
    return httpparse_head(copy, len, out, hdrs, MAXH);
}

static void test_parse_simple(void **state)
{
    (void)state;
    static const char req[] = "GET /hooks/abc?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                              "X-Empty:\r\nX-Trim: \t a b \t\r\n\r\n";
    char copy[sizeof(req)];
    struct httpparse_head h;
    struct httpparse_header hd[MAXH];
    assert_int_equal(parse(req, sizeof(req) - 1, &h, hd, copy), 0);
    assert_string_equal(h.method, "GET");
    assert_int_equal(h.method_len, 3);
    assert_string_equal(h.target, "/hooks/abc?x=1");
    assert_int_equal(h.target_len, 14);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.nheaders, 3);
    assert_string_equal(hd[0].name, "Host");
    assert_string_equal(hd[0].value, "example.com");
    assert_int_equal(hd[0].value_len, 11);
    assert_string_equal(hd[1].name, "X-Empty");
    assert_string_equal(hd[1].value, "");
    assert_string_equal(hd[2].value, "a b");
    assert_int_equal(hd[2].value_len, 3);
    assert_int_equal(h.content_length, -1);
    assert_false(h.chunked);
    assert_false(h.conn_close);
    assert_false(h.expect_continue);
}

static void test_parse_bare_lf_and_framing(void **state)
{
    (void)state;
    static const char req[] = "POST / HTTP/1.0\nCONTENT-length: 42\ncontent-length:42\n"
                              "Connection: Keep-Alive, Upgrade\nExpect: 100-Continue\n\n";
    char copy[sizeof(req)];
    struct httpparse_head h;
    struct httpparse_header hd[MAXH];
    assert_int_equal(parse(req, sizeof(req) - 1, &h, hd, copy), 0);
    assert_string_equal(h.method, "POST");
    assert_int_equal(h.minor, 0);
    assert_int_equal(h.content_length, 42);
    assert_true(h.conn_keep_alive);
    assert_false(h.conn_close);
    assert_true(h.expect_continue);
    assert_int_equal(h.nheaders, 4);
    assert_string_equal(hd[3].value, "100-Continue");

    static const char req2[] =
        "PUT /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"
        "Connection: close\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    char copy2[sizeof(req2)];
    /* CL + TE is refused; CL alone that large saturates instead. */
    assert_int_equal(parse(req2, sizeof(req2) - 1, &h, hd, copy2), -400);
    static const char req3[] = "PUT /x HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n"
                               "Connection: close\r\n\r\n";
    char copy3[sizeof(req3)];
    assert_int_equal(parse(req3, sizeof(req3) - 1, &h, hd, copy3), 0);
    assert_true(h.chunked);
    assert_true(h.conn_close);
    static const char req4[] = "PUT /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    char copy4[sizeof(req4)];
    assert_int_equal(parse(req4, sizeof(req4) - 1, &h, hd, copy4), 0);
    assert_true(h.content_length == HTTPPARSE_LENGTH_HUGE);
    static const char req5[] = "ABCDEFGHIJKLMNOP /a HTTP/1.1\r\n\r\n";
    char copy5[sizeof(req5)];
    assert_int_equal(parse(req5, sizeof(req5) - 1, &h, hd, copy5), 0);
    assert_string_equal(h.method, "ABCDEFGHIJKLMNOP");
}

/* RFC 9112 section 6.1: HTTP/1.0 with Transfer-Encoding closes after the answer, even when
 * the client asked to keep the connection. */
static void test_http10_chunked_closes(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        bool close;
    } cases[] = {
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        {"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        {"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char copy[256];
        struct httpparse_head h;
        struct httpparse_header hd[MAXH];
        assert_int_equal(parse(cases[i].req, strlen(cases[i].req), &h, hd, copy), 0);
        if (h.conn_close != cases[i].close)
            fail_msg("case %zu: conn_close %d", i, h.conn_close);
    }
}

static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    int want;
    const char *error;
} bad_heads[] = {
    {"GET  / HTTP/1.1\r\n\r\n", 0, -400, "malformed request line"},
    {"GET / HTTP/1.1 \r\n\r\n", 0, -400, "malformed http version"},
    {"GET /\x01 HTTP/1.1\r\n\r\n", 0, -400, "malformed request line"},
    {"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 0, -400, "malformed request line"},
    {"GET http://x/ HTTP/1.1\r\n\r\n", 0, -400, "request target must start with /"},
    {"GET * HTTP/1.1\r\n\r\n", 0, -400, "request target must start with /"},
    {"GET / http/1.1\r\n\r\n", 0, -400, "malformed http version"},
    {"GET / HTTP/1\r\n\r\n", 0, -400, "malformed http version"},
    {"GET / HTTP/1.10\r\n\r\n", 0, -400, "malformed http version"},
    {"GET / HTTP/2.0\r\n\r\n", 0, -505, "only HTTP/1.0 and HTTP/1.1 are supported"},
    {"GET / HTTP/1.2\r\n\r\n", 0, -505, "only HTTP/1.0 and HTTP/1.1 are supported"},
    {"GET / HTTP/0.9\r\n\r\n", 0, -505, "only HTTP/1.0 and HTTP/1.1 are supported"},
    {"ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n", 0, -400, "method too long"},
    {"G(T / HTTP/1.1\r\n\r\n", 0, -400, "malformed request line"},
    {"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 0, -400, "obsolete line folding"},
    {"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 0, -400, "obsolete line folding"},
    {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, -400, "malformed header"},
    {"GET / HTTP/1.1\r\n: x\r\n\r\n", 0, -400, "malformed header"},
    {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 0, -400, "malformed header"},
    {"GET / HTTP/1.1\r\nA\x00: x\r\n\r\n", 26, -400, "malformed header"},
    {"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n", 26, -400, "invalid character in header value"},
    {"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 0, -400, "invalid character in header value"},
    {"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 0, -400, "invalid content-length"},
    {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0, -400, "invalid content-length"},
    {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 0, -400, "invalid content-length"},
    {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 0, -400, "invalid content-length"},
    {"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 0, -400, "invalid content-length"},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, -400,
     "conflicting content-length headers"},
    {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, -400,
     "content-length and transfer-encoding together"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0, -400,
     "content-length and transfer-encoding together"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, -501, "unsupported transfer-coding"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, -501,
     "unsupported transfer-coding"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 0,
     -501, "unsupported transfer-coding"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, -400,
     "chunked applied twice"},
    {"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 0, -400, "empty transfer-encoding"},
    {"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: "
     "9\r\n\r\n",
     0, -431, "too many headers"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
        size_t len = bad_heads[i].len != 0 ? bad_heads[i].len : strlen(bad_heads[i].text);
        char copy[256];
        struct httpparse_head h;
        struct httpparse_header hd[MAXH];
        assert_true(len <= sizeof(copy));
        int r = parse(bad_heads[i].text, len, &h, hd, copy);
        if (r != bad_heads[i].want || h.error == NULL || strcmp(h.error, bad_heads[i].error) != 0)
            fail_msg("case %zu: got %d (%s), want %d (%s)", i, r, h.error ? h.error : "-",
                     bad_heads[i].want, bad_heads[i].error);
    }
}

/* Feed a head one byte at a time; returns the result when it stops being 0. */
static int feed_bytewise(const char *text, size_t len, size_t *at, size_t *end, const char **err)
{
    struct httpparse_scan scan = {0, false};
    for (size_t n = 1; n <= len; n++) {
        int r = httpparse_head_end(text, n, &scan, end, err);
        if (r != 0) {
            *at = n;
            return r;
        }
    }
    *at = len;
    return 0;
}

static void test_head_end_incremental(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int want;
        size_t at;  /* bytes fed when the answer came */
        size_t end; /* head length, for complete heads */
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 1, 27, 27},
        {"GET / HTTP/1.1\nHost: a\n\nBODY", 1, 24, 24},
        {"GET / HTTP/1.1\n\r\nX", 1, 17, 17},
        {"GET / HTTP/1.0\r\n\r\n", 1, 18, 18},
        {"GET / HTTP/1.1\r\nHost: a\r\n", 0, 25, 0},
        {"\x16\x03\x01\x00\xa5", -400, 1, 0},
        {"GET\x01", -400, 4, 0},
        {" GET", -400, 1, 0},
        {"AAAAAAAAAAAAAAAAAAAAAAAA", -400, 17, 0},
        {"GET /x HTTP/9.9\r\nHost: a\r\n\r\n", -505, 17, 0},
        {"GET /x HTTP/1.1 junk\r\n\r\n", -400, 22, 0},
        {"GET /x\r\n\r\n", -400, 8, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t at = 0, end = 0;
        const char *err = NULL;
        int r = feed_bytewise(cases[i].text, strlen(cases[i].text), &at, &end, &err);
        if (r != cases[i].want || at != cases[i].at || (r == 1 && end != cases[i].end))
            fail_msg("case %zu: got %d at %zu end %zu, want %d at %zu end %zu", i, r, at, end,
                     cases[i].want, cases[i].at, cases[i].end);
        if (r < 0)
            assert_non_null(err);
    }
    /* All at once gives the same answer. */
    struct httpparse_scan scan = {0, false};
    size_t end = 0;
    const char *err = NULL;
    assert_int_equal(httpparse_head_end("GET / HTTP/1.1\r\n\r\n", 18, &scan, &end, &err), 1);
    assert_int_equal(end, 18);
}

/* Decode `raw` with the buffer growing by `step` bytes per call; returns the final result. */
static int decode_in_steps(const char *raw, size_t len, size_t step, char *out, size_t *outlen,
                           size_t *consumed, size_t max_trailer)
{
    char buf[8192];
    assert_true(len <= sizeof(buf));
    memcpy(buf, raw, len);
    struct httpparse_chunked st;
    httpparse_chunked_init(&st, max_trailer);
    size_t rpos = 0, wpos = 0, have = 0;
    int r = 0;
    while (r == 0 && have < len) {
        have = have + step < len ? have + step : len;
        r = httpparse_chunked(&st, buf, &rpos, have, &wpos);
    }
    memcpy(out, buf, wpos);
    *outlen = wpos;
    *consumed = rpos;
    return r;
}

static void test_chunked_decode(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        int want;
        const char *body;
        size_t consumed; /* bytes of raw used when done (the rest is the next request) */
    } cases[] = {
        {"5\r\nhello\r\n0\r\n\r\n", 1, "hello", 15},
        {"5;ext=1;b=\"x\"\r\nhello\r\n6 ; e\r\n world\r\n0\r\nT: x\r\nU: y\r\n\r\n", 1,
         "hello world", 54},
        /* Chunk framing is CRLF only: a bare LF anywhere in it is a 400. */
        {"3\nabc\n0\n\n", -400, "", 0},
        {"3\r\nabc\n0\r\n\r\n", -400, "abc", 0},
        {"3\r\nabc\r\n0\n\r\n", -400, "abc", 0},
        {"3\r\nabc\r\n0\r\n\n", -400, "abc", 0},
        {"0\r\nT: x\n\r\n", -400, "", 0},
        {"3;e=1\n", -400, "", 0},
        {"A\r\n0123456789\r\n00\r\n\r\n", 1, "0123456789", 21},
        {"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 1, "a", 11},
        {"0\r\n\r\n", 1, "", 5},
        {"x\r\n", -400, "", 0},
        {"\r\n", -400, "", 0},
        {"5\r\nhelloX\r\n", -400, "hello", 0},
        {"5\r\nhello\rX", -400, "hello", 0},
        {"5 x\r\nhello\r\n", -400, "", 0},
        {"10000000000000000\r\n", -400, "", 0},
        {"3\r\nabc\r\n", 0, "abc", 8},
        {"3\r\nab", 0, "ab", 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].raw);
        for (size_t step = 1; step <= len; step++) {
            char out[8192];
            size_t outlen, consumed;
            int r = decode_in_steps(cases[i].raw, len, step, out, &outlen, &consumed, 1024);
            if (r != cases[i].want)
                fail_msg("case %zu step %zu: got %d, want %d", i, step, r, cases[i].want);
            if (r >= 0 &&
                (outlen != strlen(cases[i].body) || memcmp(out, cases[i].body, outlen) != 0))
                fail_msg("case %zu step %zu: body %.*s", i, step, (int)outlen, out);
            if (r == 1 && consumed != cases[i].consumed)
                fail_msg("case %zu step %zu: consumed %zu", i, step, consumed);
        }
    }
}

static void test_chunked_limits(void **state)
{
    (void)state;
    char raw[6000], out[8192];
    size_t outlen, consumed;
    /* A chunk-size line longer than the limit, even without its LF yet. */
    memset(raw, '0', sizeof(raw));
    assert_int_equal(
        decode_in_steps(raw, HTTPPARSE_CHUNK_LINE_MAX + 1, 512, out, &outlen, &consumed, 1024),
        -400);
    /* Trailers over the limit. */
    static const char trail[] = "0\r\nA: 0123456789\r\nB: 0123456789\r\n\r\n";
    assert_int_equal(decode_in_steps(trail, strlen(trail), 1, out, &outlen, &consumed, 20), -431);
    assert_int_equal(decode_in_steps(trail, strlen(trail), 1, out, &outlen, &consumed, 40), 1);
    /* The pending count lets the server refuse a huge chunk before its bytes arrive. */
    char buf[] = "1000\r\nabc";
    struct httpparse_chunked st;
    httpparse_chunked_init(&st, 100);
    size_t rpos = 0, wpos = 0;
    assert_int_equal(httpparse_chunked(&st, buf, &rpos, strlen(buf), &wpos), 0);
    assert_int_equal(wpos, 3);
    assert_int_equal(httpparse_chunked_pending(&st), 0x1000 - 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http10_chunked_closes),
        cmocka_unit_test(test_parse_simple),
        cmocka_unit_test(test_parse_bare_lf_and_framing),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_head_end_incremental),
        cmocka_unit_test(test_chunked_decode),
        cmocka_unit_test(test_chunked_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

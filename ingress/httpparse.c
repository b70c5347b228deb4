/*
 * httpparse.c - in-place HTTP/1.1 request head parser and chunked decoder (see httpparse.h).
 *
 * Strict where laxness lets two parsers disagree about where a request ends (request
 * smuggling: Content-Length with Transfer-Encoding, duplicate lengths that differ, obs-fold,
 * whitespace before the colon, bare CR, a chunk line ended by a bare LF), lenient where it
 * costs nothing (bare LF line ends in the head, empty list elements, unknown Expect values).
 */
#include "httpparse.h"

#include "text.h"

#include <string.h>

enum {
    HTTPPARSE_CH_SIZE,
    HTTPPARSE_CH_DATA,
    HTTPPARSE_CH_DATA_END,
    HTTPPARSE_CH_TRAILER,
    HTTPPARSE_CH_DONE,
};

static int httpparse_fail(const char **error, int status, const char *message)
{
    *error = message;
    return status;
}

/*
 * Check the method prefix of a request line that may still be arriving: a token of at most
 * HTTPPARSE_METHOD_MAX characters followed by a space. Random bytes fail here at once.
 */
static int httpparse_method_prefix(const char *buf, size_t len, const char **error)
{
    for (size_t i = 0; i < len && i <= HTTPPARSE_METHOD_MAX; i++) {
        if (buf[i] == ' ')
            return i == 0 ? httpparse_fail(error, -400, "malformed request line") : 0;
        if (!text_is_tchar((unsigned char)buf[i]))
            return httpparse_fail(error, -400, "malformed request line");
    }
    if (len > HTTPPARSE_METHOD_MAX)
        return httpparse_fail(error, -400, "method too long");
    return 0;
}

/*
 * Validate the request line buf[0..n) (without its LF) and note where its parts are:
 * METHOD SP origin-form-target SP HTTP/1.x [CR].
 */
static int httpparse_request_line(const char *buf, size_t n, struct httpparse_head *out)
{
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    size_t i = 0;
    while (i < n && text_is_tchar((unsigned char)buf[i]))
        i++;
    if (i == 0 || i == n || buf[i] != ' ')
        return httpparse_fail(&out->error, -400, "malformed request line");
    if (i > HTTPPARSE_METHOD_MAX)
        return httpparse_fail(&out->error, -400, "method too long");
    out->method = buf;
    out->method_len = i;
    size_t t = ++i;
    /* Only visible ASCII: a raw space, control or 8-bit byte is no part of a valid target. */
    while (i < n && buf[i] > 0x20 && buf[i] < 0x7f)
        i++;
    if (i == t || i == n || buf[i] != ' ')
        return httpparse_fail(&out->error, -400, "malformed request line");
    if (buf[t] != '/')
        return httpparse_fail(&out->error, -400, "request target must start with /");
    out->target = buf + t;
    out->target_len = i - t;
    const char *v = buf + i + 1;
    if (n - i - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return httpparse_fail(&out->error, -400, "malformed http version");
    if (v[5] != '1' || v[7] > '1')
        return httpparse_fail(&out->error, -505, "only HTTP/1.0 and HTTP/1.1 are supported");
    out->minor = v[7] - '0';
    return 0;
}

int httpparse_head_end(const char *buf, size_t len, struct httpparse_scan *scan, size_t *end,
                       const char **error)
{
    if (!scan->line_ok) {
        int r = httpparse_method_prefix(buf, len, error);
        if (r < 0)
            return r;
    }
    size_t i = scan->pos;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (nl == NULL)
            break;
        i = (size_t)(nl - buf);
        if (!scan->line_ok) {
            struct httpparse_head tmp;
            int r = httpparse_request_line(buf, i, &tmp);
            if (r < 0)
                return httpparse_fail(error, r, tmp.error);
            scan->line_ok = true;
        }
        /* A blank line is LF LF or LF CR LF; wait for the bytes that decide which. */
        if (i + 1 >= len || (buf[i + 1] == '\r' && i + 2 >= len)) {
            scan->pos = i;
            return 0;
        }
        if (buf[i + 1] == '\n') {
            *end = i + 2;
            return 1;
        }
        if (buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            *end = i + 3;
            return 1;
        }
        i++;
    }
    scan->pos = len;
    return 0;
}

/* Next element of a comma-separated header list, OWS trimmed; NULL after the last one. */
static const char *httpparse_list_next(const char *p, const char **elem, size_t *elen)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return NULL;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *e = p;
        while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *elem = start;
        *elen = (size_t)(e - start);
        return p;
    }
}

static bool httpparse_ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* What the framing headers said, checked once all headers are in. */
struct httpparse_framing {
    bool te_seen;
    bool te_other;
};

static int httpparse_content_length(struct httpparse_head *out, const char *v)
{
    if (*v == '\0')
        return httpparse_fail(&out->error, -400, "invalid content-length");
    int64_t n = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return httpparse_fail(&out->error, -400, "invalid content-length");
        /* Saturate: any length this big is refused by the body limit, not as malformed. */
        if (n > (HTTPPARSE_LENGTH_HUGE - 9) / 10)
            n = HTTPPARSE_LENGTH_HUGE;
        else
            n = n * 10 + (*p - '0');
    }
    if (out->content_length >= 0 && out->content_length != n)
        return httpparse_fail(&out->error, -400, "conflicting content-length headers");
    out->content_length = n;
    return 0;
}

static int httpparse_known_header(struct httpparse_head *out, struct httpparse_framing *fr,
                                  const char *name, size_t name_len, const char *value)
{
    const char *p = value, *e;
    size_t elen;
    if (httpparse_ieq(name, name_len, "content-length"))
        return httpparse_content_length(out, value);
    if (httpparse_ieq(name, name_len, "transfer-encoding")) {
        fr->te_seen = true;
        while ((p = httpparse_list_next(p, &e, &elen)) != NULL) {
            if (!httpparse_ieq(e, elen, "chunked"))
                fr->te_other = true;
            else if (out->chunked)
                return httpparse_fail(&out->error, -400, "chunked applied twice");
            else
                out->chunked = true;
        }
    } else if (httpparse_ieq(name, name_len, "connection")) {
        while ((p = httpparse_list_next(p, &e, &elen)) != NULL) {
            if (httpparse_ieq(e, elen, "close"))
                out->conn_close = true;
            else if (httpparse_ieq(e, elen, "keep-alive"))
                out->conn_keep_alive = true;
        }
    } else if (httpparse_ieq(name, name_len, "expect")) {
        if (strcasecmp(value, "100-continue") == 0)
            out->expect_continue = true;
    }
    return 0;
}

int httpparse_head(char *buf, size_t len, struct httpparse_head *out,
                   struct httpparse_header *headers, size_t max_headers)
{
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    char *end = buf + len;
    char *p = memchr(buf, '\n', len);
    if (p == NULL)
        return httpparse_fail(&out->error, -400, "incomplete request head");
    int r = httpparse_request_line(buf, (size_t)(p - buf), out);
    if (r < 0)
        return r;
    buf[out->method_len] = '\0';
    buf[out->method_len + 1 + out->target_len] = '\0';
    p++;
    struct httpparse_framing fr = {false, false};
    for (;;) {
        if (p >= end)
            return httpparse_fail(&out->error, -400, "incomplete request head");
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
            break;
        if (*p == ' ' || *p == '\t')
            return httpparse_fail(&out->error, -400, "obsolete line folding");
        char *name = p;
        while (p < end && text_is_tchar((unsigned char)*p))
            p++;
        if (p == name || p >= end || *p != ':')
            return httpparse_fail(&out->error, -400, "malformed header");
        size_t name_len = (size_t)(p - name);
        *p++ = '\0';
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        char *value = p;
        char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL)
            return httpparse_fail(&out->error, -400, "incomplete request head");
        char *vend = lf;
        if (vend > value && vend[-1] == '\r')
            vend--;
        for (const char *q = value; q < vend; q++)
            if (*q == '\0' || *q == '\r')
                return httpparse_fail(&out->error, -400, "invalid character in header value");
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        *vend = '\0';
        p = lf + 1;
        if (out->nheaders == max_headers)
            return httpparse_fail(&out->error, -431, "too many headers");
        headers[out->nheaders].name = name;
        headers[out->nheaders].name_len = name_len;
        headers[out->nheaders].value = value;
        headers[out->nheaders].value_len = (size_t)(vend - value);
        out->nheaders++;
        r = httpparse_known_header(out, &fr, name, name_len, value);
        if (r < 0)
            return r;
    }
    if (fr.te_seen) {
        if (out->content_length >= 0)
            return httpparse_fail(&out->error, -400,
                                  "content-length and transfer-encoding together");
        if (fr.te_other)
            return httpparse_fail(&out->error, -501, "unsupported transfer-coding");
        if (!out->chunked)
            return httpparse_fail(&out->error, -400, "empty transfer-encoding");
        /* RFC 9112 section 6.1: an HTTP/1.0 recipient may not know chunked, so whatever
         * framing an intermediary saw may differ from ours; answer, then close. */
        if (out->minor == 0)
            out->conn_close = true;
    }
    return 0;
}

void httpparse_chunked_init(struct httpparse_chunked *st, size_t max_trailer_bytes)
{
    memset(st, 0, sizeof(*st));
    st->state = HTTPPARSE_CH_SIZE;
    st->max_trailer_bytes = max_trailer_bytes;
}

uint64_t httpparse_chunked_pending(const struct httpparse_chunked *st)
{
    return st->state == HTTPPARSE_CH_DATA ? st->left : 0;
}

/*
 * Parse one chunk-size line, line[0..n) without its LF: hex size, BWS, extensions, CR.
 * Chunk lines must end in CRLF (RFC 9112 section 7.1): a peer taking a bare LF for part of
 * the line would see other chunk boundaries than ours.
 */
static int httpparse_chunk_size(const char *line, size_t n, uint64_t *size)
{
    if (n == 0 || line[n - 1] != '\r')
        return -400;
    n--;
    uint64_t v = 0;
    size_t i = 0;
    int h;
    while (i < n && (h = text_hex_value(line[i])) >= 0) {
        if (v > (UINT64_MAX >> 4))
            return -400;
        v = (v << 4) | (uint64_t)h;
        i++;
    }
    if (i == 0)
        return -400;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < n && line[i] != ';')
        return -400;
    for (; i < n; i++)
        if (line[i] == '\0' || line[i] == '\r')
            return -400;
    *size = v;
    return 0;
}

int httpparse_chunked(struct httpparse_chunked *st, char *buf, size_t *rpos, size_t len,
                      size_t *wpos)
{
    size_t r = *rpos, w = *wpos;
    int ret = 0;
    while (ret == 0 && (r < len || st->state == HTTPPARSE_CH_DONE)) {
        const char *lf;
        size_t n;
        switch (st->state) {
        case HTTPPARSE_CH_SIZE:
            lf = memchr(buf + r, '\n', len - r);
            n = lf != NULL ? (size_t)(lf - (buf + r)) : len - r;
            if (n > HTTPPARSE_CHUNK_LINE_MAX) {
                ret = -400;
                break;
            }
            if (lf == NULL)
                goto out;
            if (httpparse_chunk_size(buf + r, n, &st->left) < 0) {
                ret = -400;
                break;
            }
            r += n + 1;
            st->state = st->left == 0 ? HTTPPARSE_CH_TRAILER : HTTPPARSE_CH_DATA;
            break;
        case HTTPPARSE_CH_DATA:
            n = len - r < st->left ? len - r : (size_t)st->left;
            if (w != r)
                memmove(buf + w, buf + r, n);
            w += n;
            r += n;
            st->left -= n;
            if (st->left == 0)
                st->state = HTTPPARSE_CH_DATA_END;
            break;
        case HTTPPARSE_CH_DATA_END:
            if (buf[r] == '\r') {
                if (r + 1 >= len)
                    goto out;
                if (buf[r + 1] != '\n') {
                    ret = -400;
                    break;
                }
                r += 2;
            } else {
                ret = -400;
                break;
            }
            st->state = HTTPPARSE_CH_SIZE;
            break;
        case HTTPPARSE_CH_TRAILER:
            lf = memchr(buf + r, '\n', len - r);
            n = lf != NULL ? (size_t)(lf - (buf + r)) + 1 : len - r;
            if (st->trailer_bytes + n > st->max_trailer_bytes) {
                ret = -431;
                break;
            }
            if (lf == NULL)
                goto out;
            if (n < 2 || buf[r + n - 2] != '\r') {
                ret = -400; /* trailer lines and the last line end in CRLF too */
                break;
            }
            st->trailer_bytes += n;
            r += n;
            if (n == 2)
                st->state = HTTPPARSE_CH_DONE;
            break;
        case HTTPPARSE_CH_DONE:
            ret = 1;
            break;
        }
    }
out:
    *rpos = r;
    *wpos = w;
    return ret;
}

/*
 * uri.c - RFC 3986 URI references (see uri.h).
 */
#include "uri.h"

#include "dynbuf.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* No cap of its own: a resolved URI is never longer than its base and reference together,
 * both already in memory, so running out of memory (xalloc.h: abort) comes first. */
#define URI_RESOLVED_MAX (SIZE_MAX / 4)

void uri_split(const char *s, struct uri_parts *u)
{
    memset(u, 0, sizeof(*u));
    size_t n = strcspn(s, ":/?#");
    if (n > 0 && s[n] == ':') {
        u->scheme = s;
        u->scheme_len = n;
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        u->auth = s + 2;
        u->auth_len = strcspn(u->auth, "/?#");
        s = u->auth + u->auth_len;
    }
    u->path = s;
    u->path_len = strcspn(s, "?#");
    s += u->path_len;
    if (*s == '?') {
        u->query = s + 1;
        u->query_len = strcspn(u->query, "#");
        s = u->query + u->query_len;
    }
    if (*s == '#') {
        u->frag = s + 1;
        u->frag_len = strlen(u->frag);
    }
}

int uri_authority_split(const char *auth, size_t len, struct uri_authority *a)
{
    memset(a, 0, sizeof(*a));
    const char *end = auth + len;
    const char *host = auth;
    for (const char *c = auth; c < end; c++)
        if (*c == '@')
            host = c + 1;
    if (host != auth) {
        a->userinfo = auth;
        a->userinfo_len = (size_t)(host - 1 - auth);
    }
    const char *host_end;
    if (host < end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (close == NULL)
            return -1;
        host_end = close + 1;
        if (host_end < end && *host_end != ':')
            return -1;
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        host_end = colon != NULL ? colon : end;
    }
    a->host = host;
    a->host_len = (size_t)(host_end - host);
    if (host_end < end) {
        a->port = host_end + 1;
        a->port_len = (size_t)(end - a->port);
    }
    return 0;
}

const char *uri_http_problem(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return "must start with http:// or https://";
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7F)
            return "must not contain spaces or control characters";
    struct uri_parts u;
    struct uri_authority a;
    uri_split(url, &u);
    if (uri_authority_split(u.auth, u.auth_len, &a) != 0 || (a.host_len == 2 && a.host[0] == '['))
        return "must have a valid host";
    if (a.host_len == 0)
        return "must have a host";
    if (a.port != NULL) {
        /* An empty port means the default (RFC 3986 allows "host:"). */
        long val = 0;
        for (size_t i = 0; i < a.port_len; i++) {
            if (a.port[i] < '0' || a.port[i] > '9')
                return "must have a numeric port";
            val = val * 10 + (a.port[i] - '0');
            if (val > 65535)
                return "must have a port in 1..65535";
        }
        if (a.port_len > 0 && val == 0)
            return "must have a port in 1..65535";
    }
    return NULL;
}

static void uri_add(struct dynbuf *b, const char *p, size_t n)
{
    if (dynbuf_add(b, p, n) != 0)
        abort(); /* past URI_RESOLVED_MAX: memory ran out long before */
}

/* RFC 3986 5.2.4, appending the result to `out`. */
static void remove_dot_segments(struct dynbuf *out, const char *path, size_t len)
{
    char *in = xstrndup(path, len);
    char *p = in;
    size_t start = dynbuf_len(out);
    while (*p != '\0') {
        if (strncmp(p, "../", 3) == 0) {
            p += 3;
        } else if (strncmp(p, "./", 2) == 0 || strncmp(p, "/./", 3) == 0) {
            p += 2;
        } else if (strcmp(p, "/.") == 0) {
            p[1] = '/';
            p++;
        } else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
            /* "/../g" goes on as "/g", and "/.." as "/". */
            if (p[3] == '/') {
                p += 3;
            } else {
                p += 2;
                *p = '/';
            }
            /* Drop the output's last segment and the '/' before it. */
            const char *o = dynbuf_ptr(out);
            size_t olen = dynbuf_len(out);
            while (olen > start && o[olen - 1] != '/')
                olen--;
            if (olen > start)
                olen--;
            dynbuf_truncate(out, olen);
        } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
            break;
        } else {
            size_t seg = 1 + strcspn(p + 1, "/");
            if (*p != '/')
                seg = strcspn(p, "/");
            uri_add(out, p, seg);
            p += seg;
        }
    }
    free(in);
}

char *uri_resolve(const char *base, const char *ref)
{
    struct uri_parts b, r;
    struct dynbuf t;
    dynbuf_init(&t, URI_RESOLVED_MAX);
    uri_split(base, &b);
    uri_split(ref, &r);
    const struct uri_parts *auth_from = &r, *scheme_from = &b;
    if (r.scheme != NULL)
        scheme_from = &r;
    else if (r.auth == NULL)
        auth_from = &b;
    if (scheme_from->scheme != NULL) {
        uri_add(&t, scheme_from->scheme, scheme_from->scheme_len);
        uri_add(&t, ":", 1);
    }
    if (auth_from->auth != NULL) {
        uri_add(&t, "//", 2);
        uri_add(&t, auth_from->auth, auth_from->auth_len);
    }
    const char *query = r.query;
    size_t query_len = r.query_len;
    if (r.scheme != NULL || r.auth != NULL || (r.path_len > 0 && r.path[0] == '/')) {
        remove_dot_segments(&t, r.path, r.path_len);
    } else if (r.path_len == 0) {
        uri_add(&t, b.path, b.path_len);
        if (query == NULL) {
            query = b.query;
            query_len = b.query_len;
        }
    } else {
        /* Merge: the base path up to its last "/", then the reference's path. */
        struct dynbuf merged;
        dynbuf_init(&merged, URI_RESOLVED_MAX);
        if (b.auth != NULL && b.path_len == 0) {
            uri_add(&merged, "/", 1);
        } else {
            size_t keep = b.path_len;
            while (keep > 0 && b.path[keep - 1] != '/')
                keep--;
            uri_add(&merged, b.path, keep);
        }
        uri_add(&merged, r.path, r.path_len);
        remove_dot_segments(&t, dynbuf_ptr(&merged), dynbuf_len(&merged));
        dynbuf_free(&merged);
    }
    if (query != NULL) {
        uri_add(&t, "?", 1);
        uri_add(&t, query, query_len);
    }
    if (r.frag != NULL) {
        uri_add(&t, "#", 1);
        uri_add(&t, r.frag, r.frag_len);
    }
    return dynbuf_take(&t, NULL);
}

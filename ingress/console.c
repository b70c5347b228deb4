/*
 * console.c - serves the embedded console files (see console.h).
 */
#include "console.h"

#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool console_path(const char *path)
{
    return strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0;
}

static const struct console_file *console_find(const char *name)
{
    for (size_t i = 0; i < console_nfiles; i++)
        if (strcmp(console_files[i].name, name) == 0)
            return &console_files[i];
    return NULL;
}

/* Whether Accept-Encoding lists gzip without "q=0" (browsers send "gzip, deflate, br"). */
static bool console_accepts_gzip(const struct httpd_req *req)
{
    const char *ae = httpd_req_header(req, "Accept-Encoding");
    if (ae == NULL)
        return false;
    const char *g = strcasestr(ae, "gzip");
    if (g == NULL)
        return false;
    const char *end = strchr(g, ',');
    const char *q = strstr(g, "q=0");
    return q == NULL || (end != NULL && q > end) || strncmp(q, "q=0.", 4) == 0;
}

/* Whether If-None-Match names `etag` (a list, or "*"). */
static bool console_not_modified(const struct httpd_req *req, const char *etag)
{
    const char *inm = httpd_req_header(req, "If-None-Match");
    return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

void console_handle(struct httpd_req *req)
{
    const char *path = httpd_req_path(req);
    if (!httpd_req_method_is(req, "GET") && !httpd_req_method_is(req, "HEAD")) {
        httpd_reply_header(req, "Allow", "GET, HEAD");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    const struct console_file *f =
        console_find(strcmp(path, "/") == 0 ? "index.html" : path + strlen("/ui/"));
    if (f == NULL) {
        httpd_reply_json_error(req, 404, "not_found", "no such console file");
        return;
    }
    httpd_reply_header(req, "Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                       "base-uri 'none'; form-action 'self'");
    httpd_reply_header(req, "X-Frame-Options", "DENY");
    httpd_reply_header(req, "X-Content-Type-Options", "nosniff");
    httpd_reply_header(req, "Referrer-Policy", "no-referrer");
    /* Revalidated on each load (304 while unchanged), so a new build is seen at once. */
    httpd_reply_header(req, "Cache-Control", "no-cache");
    httpd_reply_header(req, "Vary", "Accept-Encoding");
    /* The gzip bytes are another representation, so they get their own tag. */
    bool gz = console_accepts_gzip(req);
    char etag[64];
    size_t el = strlen(f->etag);
    snprintf(etag, sizeof(etag), "%.*s%s", (int)(el - 1), f->etag, gz ? "-gz\"" : "\"");
    httpd_reply_header(req, "ETag", etag);
    if (console_not_modified(req, etag)) {
        httpd_reply(req, 304, NULL, NULL, 0);
        return;
    }
    if (gz) {
        httpd_reply_header(req, "Content-Encoding", "gzip");
        httpd_reply(req, 200, f->content_type, f->gz, f->gzlen);
    } else {
        httpd_reply(req, 200, f->content_type, f->data, f->len);
    }
}

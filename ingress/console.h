/*
 * console.h - the web console's files (ui/), compiled into the ingress by scripts/embed-ui
 * and served on the admin listener: "/" is ui/index.html, "/ui/{name}" the others.
 *
 * Each file is embedded twice, as is and gzip-compressed at build time, with an ETag made
 * from its content, so serving costs no compression and no file system at run time.
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include "httpd.h"

#include <stdbool.h>
#include <stddef.h>

/* One embedded file (the generated build/gen/ui.c defines the table). */
struct console_file {
    const char *name;         /* path under ui/, e.g. "app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* the same bytes, gzip-compressed */
    size_t gzlen;
    const char *etag; /* quoted, e.g. "\"3f2a…\"" */
};

extern const struct console_file console_files[];
extern const size_t console_nfiles;

/* Whether `path` is one of the console's (served without a token: the pages sign in). */
bool console_path(const char *path);

/* Serve GET/HEAD `/` and `/ui/…` with ETag (304 on If-None-Match), gzip when accepted, and
 * the console's security headers (CSP, X-Frame-Options); 404 for unknown files, 405 for
 * other methods. */
void console_handle(struct httpd_req *req);

#endif

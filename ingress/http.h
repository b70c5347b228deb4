/*
 * http.h - small helpers shared by the ingress routes on top of ingress/httpd.h: a JSON
 * reply from a cJSON tree, reading a JSON request body, splitting a path. Everything else a
 * route needs (headers, raw and error replies) it calls in httpd.h directly.
 */
#ifndef HTTP_H
#define HTTP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct httpd_req;

/* Reply `code` with `json` serialized (compact) and Content-Type application/json. Does
 * not take ownership of `json`. */
void http_reply_json(struct httpd_req *req, int code, const cJSON *json);

/*
 * How deep an admin request body may nest: a bridge holds its payload template and filter
 * one level down, and those may nest BODY_MAX_DEPTH (64) levels themselves.
 */
#define HTTP_ADMIN_MAX_DEPTH 65

/*
 * Parse the request body as a JSON object for the admin API, strictly (body_check_json_opts):
 * valid UTF-8, no \u0000 in strings or keys, no duplicate keys, at most HTTP_ADMIN_MAX_DEPTH
 * levels. On failure replies 400 invalid_json itself, the message naming the field
 * ("request body has \u0000 in the string at /outbound_url"), and returns NULL.
 */
cJSON *http_body_json_object(struct httpd_req *req);

/*
 * Split a decoded path ("/api/bridges/brg_1/activate") into at most `max` segments,
 * pointing into `buf` (a copy the function makes, buflen bytes). Returns the count, or -1
 * when the path is too long or has more segments.
 */
int http_split_path(const char *path, char *buf, size_t buflen, const char **segs, int max);

#endif

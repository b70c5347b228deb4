/*
 * http.h - small helpers shared by the ingress routes on top of ingress/httpd.h: JSON
 * replies, the SPEC's error shape, reading a JSON request body, splitting a path.
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

/* Reply with raw bytes and a content type. */
void http_reply_raw(struct httpd_req *req, int code, const char *ctype, const char *body,
                    size_t len);

/* Reply {"error": code_name, "message": message} (message may be NULL: omitted). */
void http_reply_error(struct httpd_req *req, int code, const char *error, const char *message);

/* Reply with no body (204). */
void http_reply_empty(struct httpd_req *req, int code);

/* Add a response header before replying. */
void http_header(struct httpd_req *req, const char *name, const char *value);

/* Whether the request's method is `method`. */
bool http_method_is(const struct httpd_req *req, const char *method);

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

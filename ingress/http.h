/*
 * http.h - small helpers around evhttp requests shared by the ingress routes: JSON
 * replies, the SPEC's error shape, reading a request body, splitting a path.
 */
#ifndef HTTP_H
#define HTTP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;

/* Reply `code` with `json` serialized (compact) and Content-Type application/json. Does
 * not take ownership of `json`. */
void http_reply_json(struct evhttp_request *req, int code, const cJSON *json);

/* Reply with raw bytes and a content type. */
void http_reply_raw(struct evhttp_request *req, int code, const char *ctype, const char *body,
                    size_t len);

/* Reply {"error": code_name, "message": message} (message may be NULL: omitted). */
void http_reply_error(struct evhttp_request *req, int code, const char *error, const char *message);

/* Reply 204 with no body. */
void http_reply_empty(struct evhttp_request *req, int code);

/*
 * Copy the request body into a new NUL-terminated buffer (*len without the NUL). The
 * caller frees it.
 */
char *http_body(struct evhttp_request *req, size_t *len);

/*
 * Parse the request body as a JSON object for the admin API. On failure replies 400
 * invalid_json (or "body must be a JSON object") itself and returns NULL.
 */
cJSON *http_body_json_object(struct evhttp_request *req);

/*
 * Split a decoded path ("/api/bridges/brg_1/activate") into at most `max` segments,
 * pointing into `buf` (a copy the function makes, buflen bytes). Returns the count, or -1
 * when the path is too long or has more segments.
 */
int http_split_path(const char *path, char *buf, size_t buflen, const char **segs, int max);

/* Method name for an evhttp command ("GET", …). */
const char *http_method_name(int cmd);

#endif

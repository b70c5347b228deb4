/*
 * http.c - reply and request helpers for evhttp handlers (see http.h).
 */
#include "http.h"

#include "xalloc.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *http_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "";
    }
}

void http_reply_raw(struct evhttp_request *req, int code, const char *ctype, const char *body,
                    size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, http_reason(code), buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int code, const cJSON *json)
{
    char *s = cJSON_PrintUnformatted(json);
    http_reply_raw(req, code, "application/json", s, strlen(s));
    free(s);
}

void http_reply_error(struct evhttp_request *req, int code, const char *error, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", error);
    if (message != NULL)
        cJSON_AddStringToObject(o, "message", message);
    http_reply_json(req, code, o);
    cJSON_Delete(o);
}

void http_reply_empty(struct evhttp_request *req, int code)
{
    evhttp_send_reply(req, code, http_reason(code), NULL);
}

char *http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = xmalloc(n + 1);
    evbuffer_copyout(in, body, n);
    body[n] = '\0';
    *len = n;
    return body;
}

cJSON *http_body_json_object(struct evhttp_request *req)
{
    size_t len;
    char *body = http_body(req, &len);
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (json == NULL) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body is not valid JSON (near byte %zu)",
                 end ? (size_t)(end - body) : (size_t)0);
        http_reply_error(req, 400, "invalid_json", msg);
        free(body);
        return NULL;
    }
    free(body);
    if (!cJSON_IsObject(json)) {
        http_reply_error(req, 400, "invalid_json", "request body must be a JSON object");
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

int http_split_path(const char *path, char *buf, size_t buflen, const char **segs, int max)
{
    size_t n = strlen(path);
    if (n + 1 > buflen)
        return -1;
    memcpy(buf, path, n + 1);
    int count = 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p != '\0') {
        if (count == max)
            return -1;
        segs[count++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
        /* A trailing slash ("/api/bridges/") names the same resource. */
    }
    return count;
}

const char *http_method_name(int cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "UNKNOWN";
    }
}

/*
 * http.c - reply and request helpers for the ingress routes (see http.h).
 */
#include "http.h"

#include "body.h"
#include "hb.h"
#include "httpd.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_reply_json(struct httpd_req *req, int code, const cJSON *json)
{
    char *s = cJSON_PrintUnformatted(json);
    httpd_reply(req, code, "application/json", s, strlen(s));
    free(s);
}

cJSON *http_body_json_object(struct httpd_req *req)
{
    size_t len;
    const char *body = httpd_req_body(req, &len);
    char err[HB_ERR_LEN];
    /* cJSON alone would store invalid UTF-8, cut a string at \u0000 and keep the first of
     * two equal keys: the strict checker refuses all three, naming the field. A bridge's
     * "schema" may hold \u0000 (const and enum compare such strings; the validator and the
     * store keep them whole), nothing else may. */
    const struct body_json_check strict = {.flags = BODY_JSON_NO_NUL,
                                           .max_depth = HTTP_ADMIN_MAX_DEPTH,
                                           .subject = "request body",
                                           .nul_ok_under = "schema"};
    if (!body_check_json_opts(body, len, &strict, NULL, err, sizeof(err))) {
        httpd_reply_json_error(req, 400, "invalid_json", err);
        return NULL;
    }
    /* The body is NUL-terminated by httpd; with len + 1 cJSON insists on one whole value. */
    cJSON *json = body_json_whole(body, len, NULL);
    if (json == NULL) {
        httpd_reply_json_error(req, 400, "invalid_json", "request body is not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(json)) {
        httpd_reply_json_error(req, 400, "invalid_json", "request body must be a JSON object");
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

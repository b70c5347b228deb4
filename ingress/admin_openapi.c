/*
 * admin_openapi.c - GET /api/openapi.json: the admin API described as OpenAPI 3.1.
 *
 * The document is schemas/openapi.json, compiled in like the other schemas; the test
 * test_console_api.py checks it against the routes this process answers, so a route added
 * without its description fails the suite.
 */
#include "admin.h"

#include "http.h"
#include "schemas.h"

#include <string.h>

void admin_openapi_handle(struct httpd_req *req)
{
    if (!httpd_req_method_is(req, "GET")) {
        httpd_reply_header(req, "Allow", "GET");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    httpd_reply(req, 200, "application/json", schema_openapi_json, strlen(schema_openapi_json));
}

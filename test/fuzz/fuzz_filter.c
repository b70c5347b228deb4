/*
 * fuzz_filter.c - libFuzzer harness for common/filter.c: the input is split at the first
 * NUL into a filter (JSON) and an inbound body (JSON); a filter that filter_check accepts
 * is evaluated against the body. Nothing may crash or leak, whatever the nesting.
 */
#include "filter.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    cJSON *filter = cJSON_ParseWithLength((const char *)data, flen);
    cJSON *body = nul ? cJSON_ParseWithLength((const char *)nul + 1, size - flen - 1) : NULL;
    cJSON *headers = cJSON_Parse("{\"x-source\":\"crm\"}");
    cJSON *query = cJSON_Parse("{\"kind\":\"a\"}");
    struct tmpl_ctx ctx = {body,    headers, query, NULL, "evt_1", "2026-01-01T00:00:00.000Z",
                           "brg_1", false};
    char err[256];
    if (filter != NULL) {
        bool checked = filter_check(filter, err, sizeof(err)) == 0;
        bool m = filter_match(filter, &ctx);
        if (!checked && m && cJSON_IsObject(filter) && filter->child != NULL)
            abort(); /* a refused filter never matches */
    }
    cJSON_Delete(filter);
    cJSON_Delete(body);
    cJSON_Delete(headers);
    cJSON_Delete(query);
    return 0;
}

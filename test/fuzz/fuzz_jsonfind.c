/*
 * fuzz_jsonfind.c - libFuzzer harness for common/jsonfind.c: any bytes as a body are
 * walked for a few payload references; nothing may crash, leak or read out of bounds, and
 * whenever the body parses as the ingress parses it (body_to_json_whole) the fast path
 * must render exactly what the template engine renders against the tree.
 */
#include "body.h"
#include "jsonfind.h"
#include "template.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tmpls[] = {"$payload.a",     "$payload.id",  "${payload.a.b}",
                                        "$payload.a.0",   "$payload.0",   "$payload.0.a.1",
                                        "$payload.a.b.c", "$payload.a-b", "$payload.items.2.id"};
    const char *body = (const char *)data;
    char err[256];
    cJSON *tree = body_to_json_whole("application/json", body, size, err, sizeof(err));
    struct tmpl_ctx ctx = {.payload = tree, .redact_env = true};
    for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
        struct jsonfind_text t;
        bool fast = jsonfind_payload_ref(tmpls[i], body, size, &t);
        if (tree != NULL) {
            if (!fast)
                abort(); /* a checked body is always followed */
            char *want = tmpl_render_text(tmpls[i], &ctx, TMPL_TEXT, err, sizeof(err));
            if (want == NULL || strlen(want) != t.len || memcmp(want, t.ptr, t.len) != 0)
                abort();
            free(want);
        }
        free(t.owned);
    }
    cJSON_Delete(tree);
    return 0;
}

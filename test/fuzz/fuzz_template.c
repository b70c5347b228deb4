/*
 * fuzz_template.c - libFuzzer harness for common/template.c: any bytes as a template string
 * are checked, rendered as text in every mode and as a one-string JSON payload against a
 * fixed context. Nothing may crash, leak or read out of bounds; a template tmpl_check
 * accepts must render.
 */
#include "template.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *payload, *headers, *query, *env;

static void fuzz_init(void)
{
    payload = cJSON_Parse("{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"n\":1.5},\"s\":\"t\",\"z\":null,"
                          "\"arr\":[true,false]}");
    headers = cJSON_Parse("{\"x-shop\":\"s1\",\"content-type\":\"application/json\"}");
    query = cJSON_Parse("{\"q\":\"1\"}");
    env = cJSON_Parse("{\"API_TOKEN\":\"secret\",\"JWT-secret\":\"j\"}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fuzz_init();
        ready = 1;
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct tmpl_ctx ctx = {payload, headers, query, env, "evt_1", "2026-01-01T00:00:00.000Z",
                           "brg_1", false};
    char err[256];
    int ok = tmpl_check(s, err, sizeof(err)) == 0;
    static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_URL, TMPL_HEADER};
    for (size_t i = 0; i < 3; i++) {
        ctx.redact_env = i == 1;
        char *out = tmpl_render_text(s, &ctx, modes[i], err, sizeof(err));
        if (ok && out == NULL)
            abort(); /* checked templates must render */
        if (out != NULL && modes[i] == TMPL_HEADER && strpbrk(out, "\r\n") != NULL &&
            strpbrk(s, "\r\n") == NULL)
            abort(); /* header mode must not let a value inject a line */
        free(out);
    }
    cJSON *str = cJSON_CreateString(s);
    cJSON *r = tmpl_render_json(str, &ctx, err, sizeof(err));
    if (ok && r == NULL)
        abort();
    cJSON_Delete(r);
    cJSON_Delete(str);
    cJSON *ref = NULL;
    if (tmpl_ref_resolve(s, &ctx, &ref, err, sizeof(err)) == 0)
        cJSON_Delete(ref);
    /* Also as a JSON payload template when the bytes are JSON. */
    cJSON *doc = cJSON_ParseWithLength(s, size);
    if (doc != NULL) {
        if (tmpl_check_json(doc, err, sizeof(err)) == 0) {
            cJSON *out = tmpl_render_json(doc, &ctx, err, sizeof(err));
            if (out == NULL)
                abort();
            cJSON_Delete(out);
        }
        cJSON_Delete(doc);
    }
    free(s);
    return 0;
}

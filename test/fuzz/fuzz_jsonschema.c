/*
 * fuzz_jsonschema.c - libFuzzer harness for common/jsonschema.c: the input is split at the
 * first NUL into a schema and an instance (both JSON); a schema that compiles validates the
 * instance with error collection on and off, and both answers must agree.
 */
#include "jsonschema.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    cJSON *schema = cJSON_ParseWithLength((const char *)data, slen);
    cJSON *inst = nul ? cJSON_ParseWithLength((const char *)nul + 1, size - slen - 1) : NULL;
    struct jsonschema *js = NULL;
    char err[256];
    if (schema != NULL && jsonschema_compile(schema, &js, err, sizeof(err)) == 0) {
        cJSON *target = inst ? inst : schema;
        cJSON *errors = cJSON_CreateArray();
        bool a = jsonschema_validate(js, target, errors, 50);
        bool b = jsonschema_validate(js, target, NULL, 0);
        if (a != b || (!a && cJSON_GetArraySize(errors) == 0) ||
            (a && cJSON_GetArraySize(errors) != 0))
            abort();
        cJSON_Delete(errors);
        jsonschema_free(js);
    }
    cJSON_Delete(schema);
    cJSON_Delete(inst);
    return 0;
}

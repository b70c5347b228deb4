/*
 * jsonrow.c - reading the members of a stored JSON row (jsonrow.h).
 */
#include "jsonrow.h"

#include <string.h>

bool jsonrow_int(const cJSON *o, const char *key, int64_t def, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9.0e15 && v->valuedouble <= 9.0e15))
        return false;
    *out = (int64_t)v->valuedouble;
    return (double)*out == v->valuedouble;
}

bool jsonrow_json(const cJSON *o, const char *key, bool object, cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (object && !cJSON_IsObject(v))
        return false;
    cJSON_Delete(*out);
    *out = cJSON_Duplicate(v, true);
    return true;
}

bool jsonrow_str_buf(const cJSON *o, const char *key, char *buf, size_t buflen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= buflen)
        return false;
    memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

cJSON *jsonrow_copy_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

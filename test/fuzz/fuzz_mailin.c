/*
 * fuzz_mailin.c - libFuzzer harness for common/mail_in.c: any bytes as an e-mail (what the
 * SMTP listener and POST message/rfc822 hand it). GMime must not crash or hang on them, and
 * what comes out must be valid UTF-8 JSON of the SPEC's shape: an object whose from is an
 * object or null, to/cc and attachments arrays, headers an object.
 */
#include "mail_in.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *s = mail_in_json((const char *)data, size, err, sizeof(err));
    if (s == NULL)
        return 0;
    if (!utf8_valid(s, strlen(s), false))
        abort();
    cJSON *o = cJSON_Parse(s);
    if (o == NULL || !cJSON_IsObject(o))
        abort();
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
    if (!cJSON_IsObject(from) && !cJSON_IsNull(from))
        abort();
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "to")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "cc")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "attachments")) ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "headers")))
        abort();
    cJSON_Delete(o);
    free(s);
    return 0;
}

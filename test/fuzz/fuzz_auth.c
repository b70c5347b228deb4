/*
 * fuzz_auth.c - libFuzzer harness for the signature headers the auth presets parse
 * (common/auth.c): Stripe-Signature's "t=…,v1=…" list, webhook-signature's space-separated
 * entries, Slack's v0= and timestamp, and the hmac forms. The first byte picks the preset;
 * the rest is split at NULs into the signature header, a timestamp header, an id header and
 * the body. Nothing may crash or leak, and nothing random may pass.
 */
#include "auth.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_hdrs {
    const char *sig, *ts, *id;
};

static const char *fuzz_header(void *arg, const char *name)
{
    const struct fuzz_hdrs *h = arg;
    if (strcmp(name, "webhook-timestamp") == 0 || strcmp(name, "x-slack-request-timestamp") == 0)
        return h->ts;
    if (strcmp(name, "webhook-id") == 0)
        return h->id;
    return h->sig;
}

static const char *const fuzz_auth_json[] = {
    "{\"type\":\"stripe\",\"secret\":\"whsec_test\"}",
    "{\"type\":\"standard-webhooks\",\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
    "{\"type\":\"slack\",\"secret\":\"slack\"}",
    "{\"type\":\"github\",\"secret\":\"gh\"}",
    "{\"type\":\"xero\",\"secret\":\"xero\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t which = data[0] % (sizeof(fuzz_auth_json) / sizeof(fuzz_auth_json[0]));
    /* Four NUL-terminated fields from the rest (missing ones are absent headers). */
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *fields[4] = {NULL, NULL, NULL, NULL};
    size_t pos = 0, n = 0;
    while (n < 3 && pos < size - 1) {
        fields[n++] = copy + pos;
        pos += strlen(copy + pos) + 1;
    }
    const char *body = pos < size - 1 ? copy + pos : "";
    size_t body_len = pos < size - 1 ? size - 1 - pos : 0;
    struct fuzz_hdrs h = {fields[0], fields[1], fields[2]};
    cJSON *j = cJSON_Parse(fuzz_auth_json[which]);
    struct auth_params p;
    char err[256], why[256];
    if (auth_params_from_json(j, &p, err, sizeof(err)) != 0)
        abort();
    if (auth_verify(&p, fuzz_header, &h, body, body_len, 1700000000, why, sizeof(why)))
        abort(); /* a forged HMAC-SHA256 is not something a fuzzer finds */
    cJSON_Delete(j);
    free(copy);
    return 0;
}

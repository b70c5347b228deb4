/*
 * test_bridge.c - unit tests for common/bridge.c: every validation rule of bridge_from_api
 * with a good and a bad value, defaults on create, PATCH merge semantics (absent keeps,
 * null resets, a refused PATCH changes nothing), secrets sealed and masked (env,
 * auth.secret, signing_secret), templates, filters and inbound schemas checked at save, the
 * API shape, and the SQLite form's exact round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "clock.h"
#include "store.h"
#include "hb.h"
#include "ids.h"
#include "xalloc.h"

#define URL "\"outbound_url\":\"http://127.0.0.1:9/in\""

/* HOOKBRIDGE_SECRET_KEY for these tests, and another one. */
static const unsigned char key[CRYPTO_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_key[CRYPTO_KEY_LEN] = "fedcba9876543210fedcba9876543210";

/* Stored in *out before a call that must fail, to see that the failure resets it. */
static struct bridge sentinel;

/* Run bridge_from_api on JSON text; the field and error land in the given buffers. */
static int from_text(const char *json, const struct bridge *base, struct bridge **out,
                     char field[64], char err[HB_ERR_LEN])
{
    cJSON *in = cJSON_Parse(json);
    if (in == NULL)
        fail_msg("test input is not json: %s", json);
    field[0] = err[0] = '\0';
    int rc = bridge_from_api(in, base, key, out, field, 64, err, HB_ERR_LEN);
    cJSON_Delete(in);
    return rc;
}

static struct bridge *must_create(const char *json)
{
    char field[64], err[HB_ERR_LEN];
    struct bridge *b = NULL;
    if (from_text(json, NULL, &b, field, err) != 0)
        fail_msg("%s refused: %s: %s", json, field, err);
    assert_non_null(b);
    return b;
}

static void test_create_defaults(void **state)
{
    (void)state;
    int64_t before = clock_now_ms();
    struct bridge *b = must_create("{" URL "}");
    assert_true(ids_valid("brg_", b->id));
    assert_true(ids_endpoint_valid(b->endpoint, strlen(b->endpoint)));
    assert_int_equal(strlen(b->endpoint), IDS_ENDPOINT_LEN);
    assert_string_equal(b->name, "");
    assert_string_equal(b->routes[0].outbound_url, "http://127.0.0.1:9/in");
    assert_string_equal(b->routes[0].method, "POST");
    assert_true(cJSON_IsObject(b->routes[0].headers));
    assert_null(b->routes[0].headers->child);
    assert_int_equal(b->routes[0].delay_seconds, 0);
    assert_int_equal(b->routes[0].retries, 3);
    assert_null(b->routes[0].retry_delays);
    assert_int_equal(b->routes[0].n_retry_delays, 0);
    assert_int_equal(b->routes[0].timeout_ms, 30000);
    assert_true(b->active);
    assert_true(b->created_ms >= before && b->created_ms <= clock_now_ms());
    assert_int_equal(b->updated_ms, b->created_ms);

    struct bridge *b2 = must_create("{" URL "}");
    assert_string_not_equal(b->id, b2->id);
    assert_string_not_equal(b->endpoint, b2->endpoint);
    bridge_free(b);
    bridge_free(b2);
}

static void test_create_all_fields(void **state)
{
    (void)state;
    struct bridge *b = must_create(
        "{\"name\":\"n\",\"outbound_url\":\"https://example.com/a?b=c\",\"method\":\"PATCH\","
        "\"headers\":{\"X-A\":\"1\",\"X-B\":\"two\"},\"delay_seconds\":604800,\"retries\":25,"
        "\"retry_delays\":[1,5,60],\"timeout_ms\":1500,\"active\":false}");
    assert_string_equal(b->name, "n");
    assert_string_equal(b->routes[0].outbound_url, "https://example.com/a?b=c");
    assert_string_equal(b->routes[0].method, "PATCH");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b->routes[0].headers, "X-A")->valuestring,
                        "1");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b->routes[0].headers, "X-B")->valuestring,
                        "two");
    assert_int_equal(b->routes[0].delay_seconds, 604800);
    assert_int_equal(b->routes[0].retries, 25);
    assert_int_equal(b->routes[0].n_retry_delays, 3);
    assert_int_equal(b->routes[0].retry_delays[0], 1);
    assert_int_equal(b->routes[0].retry_delays[1], 5);
    assert_int_equal(b->routes[0].retry_delays[2], 60);
    assert_int_equal(b->routes[0].timeout_ms, 1500);
    assert_false(b->active);
    bridge_free(b);
}

struct rule_case {
    const char *fields; /* JSON members added after outbound_url */
    const char *field;  /* NULL: accepted; else the field named in the error */
    const char *err;    /* expected error text (exact) when refused */
};

static const struct rule_case rule_cases[] = {
    /* name */
    {"\"name\":\"orders\"", NULL, NULL},
    {"\"name\":\"\"", NULL, NULL},
    {"\"name\":12", "name", "must be a string of at most 200 characters"},
    {"\"name\":true", "name", "must be a string of at most 200 characters"},
    /* method */
    {"\"method\":\"GET\"", NULL, NULL},
    {"\"method\":\"PUT\"", NULL, NULL},
    {"\"method\":\"DELETE\"", NULL, NULL},
    {"\"method\":\"post\"", "method", "must be one of GET, POST, PUT, PATCH, DELETE"},
    {"\"method\":\"FOO\"", "method", "must be one of GET, POST, PUT, PATCH, DELETE"},
    {"\"method\":\"HEAD\"", "method", "must be one of GET, POST, PUT, PATCH, DELETE"},
    {"\"method\":1", "method", "must be one of GET, POST, PUT, PATCH, DELETE"},
    /* headers */
    {"\"headers\":{}", NULL, NULL},
    {"\"headers\":{\"Authorization\":\"Bearer $env.T\",\"X-a_b.c~!\":\"v: w\"}", NULL, NULL},
    {"\"headers\":{\"X-Empty\":\"\"}", NULL, NULL},
    {"\"headers\":\"X-A: 1\"", "headers", "must be an object of header names to string values"},
    {"\"headers\":[]", "headers", "must be an object of header names to string values"},
    {"\"headers\":{\"X-A\":1}", "headers", "X-A: must be a string"},
    {"\"headers\":{\"X-A\":null}", "headers", "X-A: must be a string"},
    {"\"headers\":{\"X A\":\"1\"}", "headers", "\"X A\" is not a valid header name"},
    {"\"headers\":{\"X:A\":\"1\"}", "headers", "\"X:A\" is not a valid header name"},
    {"\"headers\":{\"\":\"1\"}", "headers", "\"\" is not a valid header name"},
    {"\"headers\":{\"X-\\u00e9\":\"1\"}", "headers", "\"X-\xc3\xa9\" is not a valid header name"},
    {"\"headers\":{\"X-A\":\"a\\r\\nX-Evil: 1\"}", "headers", "X-A: must not contain cr or lf"},
    {"\"headers\":{\"X-A\":\"a\\nb\"}", "headers", "X-A: must not contain cr or lf"},
    /* Framing and connection headers are curl's to set, in any case. */
    {"\"headers\":{\"Content-Length\":\"5\"}", "headers",
     "\"Content-Length\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"X-A\":\"1\",\"transfer-ENCODING\":\"chunked\"}", "headers",
     "\"transfer-ENCODING\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"HOST\":\"internal\"}", "headers",
     "\"HOST\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"connection\":\"close\"}", "headers",
     "\"connection\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"Upgrade\":\"h2c\"}", "headers",
     "\"Upgrade\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"te\":\"trailers\"}", "headers",
     "\"te\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"Trailer\":\"X\"}", "headers",
     "\"Trailer\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"Keep-Alive\":\"timeout=5\"}", "headers",
     "\"Keep-Alive\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"expect\":\"100-continue\"}", "headers",
     "\"expect\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"Proxy-Authorization\":\"Basic x\"}", "headers",
     "\"Proxy-Authorization\" is set by hookbridge itself and may not be given"},
    {"\"headers\":{\"proxy-connection\":\"x\"}", "headers",
     "\"proxy-connection\" is set by hookbridge itself and may not be given"},
    /* Only those names: similar ones are ordinary headers. */
    {"\"headers\":{\"X-Content-Length\":\"5\",\"Hosts\":\"a\",\"Proxy\":\"b\",\"TEs\":\"c\"}", NULL,
     NULL},
    /* delay_seconds */
    {"\"delay_seconds\":0", NULL, NULL},
    {"\"delay_seconds\":604800", NULL, NULL},
    {"\"delay_seconds\":60.0", NULL, NULL},
    {"\"delay_seconds\":604801", "delay_seconds", "must be an integer in 0..604800"},
    {"\"delay_seconds\":-1", "delay_seconds", "must be an integer in 0..604800"},
    {"\"delay_seconds\":1.5", "delay_seconds", "must be an integer in 0..604800"},
    {"\"delay_seconds\":\"10\"", "delay_seconds", "must be an integer in 0..604800"},
    {"\"delay_seconds\":1e300", "delay_seconds", "must be an integer in 0..604800"},
    /* retries */
    {"\"retries\":0", NULL, NULL},
    {"\"retries\":25", NULL, NULL},
    {"\"retries\":26", "retries", "must be an integer in 0..25"},
    {"\"retries\":99", "retries", "must be an integer in 0..25"},
    {"\"retries\":-1", "retries", "must be an integer in 0..25"},
    {"\"retries\":\"3\"", "retries", "must be an integer in 0..25"},
    {"\"retries\":2.5", "retries", "must be an integer in 0..25"},
    {"\"retries\":false", "retries", "must be an integer in 0..25"},
    /* retry_delays */
    {"\"retry_delays\":null", NULL, NULL},
    {"\"retry_delays\":[0]", NULL, NULL},
    {"\"retry_delays\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,604800]",
     NULL, NULL},
    {"\"retry_delays\":[]", "retry_delays", "must be null or an array of 1..25 integers"},
    {"\"retry_delays\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26]",
     "retry_delays", "must be null or an array of 1..25 integers"},
    {"\"retry_delays\":\"soon\"", "retry_delays", "must be null or an array of 1..25 integers"},
    {"\"retry_delays\":{\"a\":1}", "retry_delays", "must be null or an array of 1..25 integers"},
    {"\"retry_delays\":[1,\"x\"]", "retry_delays", "item 1 must be an integer in 0..604800"},
    {"\"retry_delays\":[-1]", "retry_delays", "item 0 must be an integer in 0..604800"},
    {"\"retry_delays\":[1,604801]", "retry_delays", "item 1 must be an integer in 0..604800"},
    {"\"retry_delays\":[0.5]", "retry_delays", "item 0 must be an integer in 0..604800"},
    /* timeout_ms */
    {"\"timeout_ms\":100", NULL, NULL},
    {"\"timeout_ms\":300000", NULL, NULL},
    {"\"timeout_ms\":99", "timeout_ms", "must be an integer in 100..300000"},
    {"\"timeout_ms\":300001", "timeout_ms", "must be an integer in 100..300000"},
    {"\"timeout_ms\":-5", "timeout_ms", "must be an integer in 100..300000"},
    {"\"timeout_ms\":1000.25", "timeout_ms", "must be an integer in 100..300000"},
    /* active */
    {"\"active\":true", NULL, NULL},
    {"\"active\":false", NULL, NULL},
    {"\"active\":\"yes\"", "active", "must be true or false"},
    {"\"active\":1", "active", "must be true or false"},
    /* later features: only their "not set" forms */
    {"\"payload\":null", NULL, NULL},
    {"\"schema\":null", NULL, NULL},
    {"\"filter\":null", NULL, NULL},
    {"\"notify_url\":null", NULL, NULL},
    {"\"signing_secret\":null", NULL, NULL},
    {"\"env\":null", NULL, NULL},
    {"\"env\":{}", NULL, NULL},
    {"\"auth\":null", NULL, NULL},
    {"\"auth\":{\"type\":\"none\"}", NULL, NULL},
    {"\"payload\":{\"a\":\"$payload.x\"}", NULL, NULL},
    {"\"payload\":[1,\"$$\",{\"b\":\"${payload.items.0.id}\"}]", NULL, NULL},
    {"\"schema\":{\"type\":\"object\"}", NULL, NULL},
    {"\"schema\":true", NULL, NULL},
    {"\"schema\":\"object\"", "schema", "must be a JSON Schema (an object or a boolean) or null"},
    {"\"filter\":{\"$payload.status\":\"completed\"}", NULL, NULL},
    {"\"filter\":[]", "filter", "must be an object or null"},
    {"\"notify_url\":\"http://x/\"", NULL, NULL},
    {"\"notify_url\":\"ftp://x/\"", "notify_url", "must start with http:// or https://"},
    {"\"signing_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"", NULL, NULL},
    {"\"signing_secret\":\"whsec_AAAA\"", "signing_secret",
     "must be null or \"whsec_\" followed by the base64 of a 16..64 byte key (the Standard "
     "Webhooks form)"},
    {"\"signing_secret\":\"********\"", "signing_secret",
     "\"********\" keeps a stored value, but there is none"},
    /* sources (common/source.h) */
    {"\"response\":{\"status\":200,\"body\":\"ok $event.id\",\"content_type\":\"text/plain\"}",
     NULL, NULL},
    {"\"response\":{\"status\":300}", "response", "status: must be an integer in 200..299"},
    {"\"response\":{\"body\":\"$payload.x\"}", "response",
     "body: may only refer to $event.id and $bridge.id (position 0)"},
    {"\"response\":{\"code\":200}", "response", "code: is not a known member"},
    {"\"response\":{\"body\":\"at ${event.received_at}\"}", "response",
     "body: may only refer to $event.id and $bridge.id (position 3)"},
    {"\"response\":{\"content_type\":\"a\\nb\"}", "response",
     "content_type: must be a media type of at most 255 printable bytes"},
    {"\"challenge\":{\"when\":{\"$payload.type\":\"url_verification\"},"
     "\"respond\":\"$payload.challenge\"}",
     NULL, NULL},
    {"\"challenge\":{\"respond\":\"x\"}", "challenge", "when: must be a non-empty filter object"},
    {"\"challenge\":{\"when\":{\"$payload.a\":{\"$bogus\":1}},\"respond\":\"x\"}", "challenge",
     "when: $payload.a: unknown operator $bogus"},
    {"\"challenge\":{\"when\":{\"$payload.a\":1}}", "challenge", "respond: is required"},
    {"\"dedup\":{\"key\":\"$payload.orderid\",\"window_seconds\":60,"
     "\"on_duplicate\":\"reject\"}",
     NULL, NULL},
    {"\"dedup\":{\"key\":\"\"}", "dedup", "key: must be a non-empty string of at most 4096 bytes"},
    {"\"dedup\":{\"key\":\"${payload\"}", "dedup", "key: unclosed ${ at position 0"},
    {"\"dedup\":{\"key\":\"$payload.id\",\"window_seconds\":0}", "dedup",
     "window_seconds: must be an integer in 1..2592000"},
    {"\"dedup\":{\"key\":\"$payload.id\",\"on_duplicate\":\"drop\"}", "dedup",
     "on_duplicate: must be accept or reject"},
    {"\"split\":\"$payload.events\"", NULL, NULL},
    {"\"split\":null", NULL, NULL},
    {"\"split\":\"$headers.x\"", "split",
     "must be null or one $payload reference to an array, e.g. \"$payload.events\""},
    {"\"split\":\"events: $payload.events\"", "split",
     "must be null or one $payload reference to an array, e.g. \"$payload.events\""},
    {"\"env\":{\"A\":\"b\",\"JWT-secret\":\"x\",\"gone\":null}", NULL, NULL},
    {"\"env\":[]", "env", "must be an object of names to string values"},
    {"\"env\":{\"A\":1}", "env", "A: must be a string of at most 8192 bytes, or null"},
    {"\"env\":{\"A\":\"********\"}", "env",
     "A: \"********\" keeps a stored value, but there is none"},
    {"\"auth\":{\"type\":\"token\",\"secret\":\"s\"}", NULL, NULL},
    {"\"auth\":{\"type\":\"token\"}", "auth", "secret: is required"},
    {"\"auth\":[]", "auth", "must be an object such as {\"type\": \"none\"}"},
    /* server-made fields are ignored, whatever their value */
    {"\"id\":\"brg_x\",\"endpoint\":7,\"inbound_url\":null,\"created_at\":\"x\","
     "\"updated_at\":[]",
     NULL, NULL},
    /* anything else is refused */
    {"\"frobnicate\":1", "frobnicate", "unknown field"},
    {"\"Name\":\"x\"", "Name", "unknown field"},
    {"\"retries\":1,\"nope\":true", "nope", "unknown field"},
};

static void test_validation_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
        const struct rule_case *c = &rule_cases[i];
        char json[1024], field[64], err[HB_ERR_LEN];
        snprintf(json, sizeof(json), "{" URL ",%s}", c->fields);
        struct bridge *b = NULL;
        int rc = from_text(json, NULL, &b, field, err);
        if (c->field == NULL) {
            if (rc != 0)
                fail_msg("%s: refused: %s: %s", json, field, err);
            assert_non_null(b);
        } else {
            if (rc == 0)
                fail_msg("%s: accepted, expected %s: %s", json, c->field, c->err);
            assert_null(b);
            if (strcmp(field, c->field) != 0 || strcmp(err, c->err) != 0)
                fail_msg("%s: got %s: %s, expected %s: %s", json, field, err, c->field, c->err);
        }
        bridge_free(b);
    }
}

struct url_case {
    const char *url_json; /* the outbound_url value as JSON */
    const char *err;      /* NULL: accepted */
};

static const struct url_case url_cases[] = {
    {"\"http://127.0.0.1:9/in\"", NULL},
    {"\"https://example.com\"", NULL},
    {"\"HTTPS://Example.com/\"", NULL},
    {"\"http://user:pw@host:8080/p?q=1#f\"", NULL},
    {"\"http://[::1]:8080/x\"", NULL},
    {"\"http://host:/x\"", NULL},
    {"\"https://api.example.com/invoices/$payload.job.id\"", NULL},
    {"\"https://api.example.com/i/${payload.job.id}?k=$env.KEY\"", NULL},
    {"null", "is required"},
    {"42", "must be a string"},
    {"[\"http://x\"]", "must be a string"},
    {"\"\"", "must start with http:// or https://"},
    {"\"ftp://example.com/\"", "must start with http:// or https://"},
    {"\"example.com/x\"", "must start with http:// or https://"},
    {"\"http:/example.com\"", "must start with http:// or https://"},
    {"\"http://\"", "must have a host"},
    {"\"http:///path\"", "must have a host"},
    {"\"http://:80/x\"", "must have a host"},
    {"\"http://user@/x\"", "must have a host"},
    {"\"http://[]/x\"", "must have a valid host"},
    {"\"http://[::1/x\"", "must have a valid host"},
    {"\"http://[::1]x/\"", "must have a valid host"},
    {"\"http://host:http/x\"", "must have a numeric port"},
    {"\"http://host:65536/x\"", "must have a port in 1..65535"},
    {"\"http://host:0/x\"", "must have a port in 1..65535"},
    {"\"http://exa mple.com/\"", "must not contain spaces or control characters"},
    {"\"http://example.com/a b\"", "must not contain spaces or control characters"},
    {"\"http://example.com/\\r\\n\"", "must not contain spaces or control characters"},
};

static void test_outbound_url(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        const struct url_case *c = &url_cases[i];
        char json[256], field[64], err[HB_ERR_LEN];
        snprintf(json, sizeof(json), "{\"outbound_url\":%s}", c->url_json);
        struct bridge *b = NULL;
        int rc = from_text(json, NULL, &b, field, err);
        if (c->err == NULL) {
            if (rc != 0)
                fail_msg("%s refused: %s: %s", c->url_json, field, err);
        } else {
            if (rc == 0)
                fail_msg("%s accepted, expected: %s", c->url_json, c->err);
            assert_string_equal(field, "outbound_url");
            assert_string_equal(err, c->err);
        }
        bridge_free(b);
    }
}

/* Limits counted at their edges: name in characters, url in bytes, 50 headers. */
static void test_limits(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *b = NULL;
    size_t cap = 8192;
    char *json = malloc(cap);
    char *long_str = malloc(4096);

    /* 200 two-byte characters are 400 bytes but still 200 characters. */
    for (int i = 0; i < 200; i++)
        memcpy(long_str + 2 * i, "\xc3\xa9", 2);
    long_str[400] = '\0';
    snprintf(json, cap, "{" URL ",\"name\":\"%s\"}", long_str);
    assert_int_equal(from_text(json, NULL, &b, field, err), 0);
    assert_int_equal(strlen(b->name), 400);
    bridge_free(b);
    snprintf(json, cap, "{" URL ",\"name\":\"%sx\"}", long_str);
    assert_int_equal(from_text(json, NULL, &b, field, err), -1);
    assert_string_equal(field, "name");

    /* outbound_url of exactly 2048 bytes, then 2049. */
    memset(long_str, 'a', 4096);
    const char *prefix = "http://h/";
    memcpy(long_str, prefix, strlen(prefix));
    long_str[2048] = '\0';
    snprintf(json, cap, "{\"outbound_url\":\"%s\"}", long_str);
    assert_int_equal(from_text(json, NULL, &b, field, err), 0);
    bridge_free(b);
    long_str[2048] = 'a';
    long_str[2049] = '\0';
    snprintf(json, cap, "{\"outbound_url\":\"%s\"}", long_str);
    assert_int_equal(from_text(json, NULL, &b, field, err), -1);
    assert_string_equal(field, "outbound_url");
    assert_string_equal(err, "must be at most 2048 characters");

    /* 50 headers, then 51. */
    for (int n = 50; n <= 51; n++) {
        size_t o = (size_t)snprintf(json, cap, "{" URL ",\"headers\":{");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(json + o, cap - o, "%s\"X-H%d\":\"v\"", i ? "," : "", i);
        snprintf(json + o, cap - o, "}}");
        int rc = from_text(json, NULL, &b, field, err);
        if (n == 50) {
            assert_int_equal(rc, 0);
            assert_int_equal(cJSON_GetArraySize(b->routes[0].headers), 50);
            bridge_free(b);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(field, "headers");
            assert_string_equal(err, "must hold at most 50 headers");
        }
    }
    free(json);
    free(long_str);
}

static void test_not_an_object(void **state)
{
    (void)state;
    static const char *const inputs[] = {"[]", "\"http://x\"", "null", "42", "true"};
    char field[64], err[HB_ERR_LEN];
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct bridge *b = &sentinel;
        assert_int_equal(from_text(inputs[i], NULL, &b, field, err), -1);
        assert_null(b);
        assert_string_equal(field, "");
        assert_string_equal(err, "the bridge must be a json object");
    }
    struct bridge *b = NULL;
    assert_int_equal(bridge_from_api(NULL, NULL, key, &b, field, sizeof(field), err, sizeof(err)),
                     -1);
    assert_string_equal(field, "");

    /* A create without outbound_url names it. */
    assert_int_equal(from_text("{\"name\":\"no url\"}", NULL, &b, field, err), -1);
    assert_string_equal(field, "outbound_url");
    assert_string_equal(err, "is required");
    assert_int_equal(from_text("{}", NULL, &b, field, err), -1);
    assert_string_equal(field, "outbound_url");
}

static struct bridge *full_base(void)
{
    return must_create("{\"name\":\"a\",\"outbound_url\":\"http://127.0.0.1:9/a\","
                       "\"method\":\"PUT\",\"headers\":{\"X-Static\":\"yes\"},"
                       "\"retry_delays\":[2,4],\"timeout_ms\":700,\"delay_seconds\":9,"
                       "\"retries\":5,\"active\":false,"
                       "\"payload\":{\"t\":\"$payload.total\",\"n\":\"Job ${payload.id}\"},"
                       "\"env\":{\"API_TOKEN\":\"tok-123\"},"
                       "\"auth\":{\"type\":\"hmac-sha256\",\"secret\":\"hush\","
                       "\"header\":\"X-Sig\",\"encoding\":\"base64\"},"
                       "\"schema\":{\"type\":\"object\",\"required\":[\"id\"]},"
                       "\"filter\":{\"$payload.status\":\"done\"},"
                       "\"notify_url\":\"http://127.0.0.1:9/failed\","
                       "\"signing_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}");
}

static bool json_same(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return cJSON_Compare(a, b, true);
}

static bool str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void assert_same_bridge(const struct bridge *a, const struct bridge *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->endpoint, b->endpoint);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->routes[0].outbound_url, b->routes[0].outbound_url);
    assert_string_equal(a->routes[0].method, b->routes[0].method);
    assert_true(cJSON_Compare(a->routes[0].headers, b->routes[0].headers, true));
    assert_int_equal(a->routes[0].delay_seconds, b->routes[0].delay_seconds);
    assert_int_equal(a->routes[0].retries, b->routes[0].retries);
    assert_int_equal(a->routes[0].n_retry_delays, b->routes[0].n_retry_delays);
    for (size_t i = 0; i < a->routes[0].n_retry_delays; i++)
        assert_int_equal(a->routes[0].retry_delays[i], b->routes[0].retry_delays[i]);
    assert_true((a->routes[0].retry_delays == NULL) == (b->routes[0].retry_delays == NULL));
    assert_int_equal(a->routes[0].timeout_ms, b->routes[0].timeout_ms);
    assert_int_equal(a->active, b->active);
    assert_true(json_same(a->routes[0].payload, b->routes[0].payload));
    assert_true(json_same(a->env, b->env));
    assert_true(json_same(a->auth, b->auth));
    assert_true(json_same(a->schema, b->schema));
    assert_true(json_same(a->routes[0].filter, b->routes[0].filter));
    assert_true(str_same(a->routes[0].notify_url, b->routes[0].notify_url));
    assert_true(str_same(a->routes[0].signing_secret, b->routes[0].signing_secret));
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
}

static void test_patch_keeps_absent_fields(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *base = full_base();
    base->created_ms -= 5000; /* so that a kept created_at is told from a new one */
    base->updated_ms = base->created_ms;
    struct bridge *p = NULL;
    assert_int_equal(from_text("{\"retries\":7}", base, &p, field, err), 0);
    assert_int_equal(p->routes[0].retries, 7);
    assert_string_equal(p->id, base->id);
    assert_string_equal(p->endpoint, base->endpoint);
    assert_int_equal(p->created_ms, base->created_ms);
    assert_true(p->updated_ms > base->updated_ms);
    assert_string_equal(p->name, "a");
    assert_string_equal(p->routes[0].outbound_url, "http://127.0.0.1:9/a");
    assert_string_equal(p->routes[0].method, "PUT");
    assert_true(cJSON_Compare(p->routes[0].headers, base->routes[0].headers, true));
    assert_int_equal(p->routes[0].n_retry_delays, 2);
    assert_int_equal(p->routes[0].retry_delays[1], 4);
    assert_true(p->routes[0].retry_delays != base->routes[0].retry_delays);
    assert_int_equal(p->routes[0].timeout_ms, 700);
    assert_int_equal(p->routes[0].delay_seconds, 9);
    assert_false(p->active);
    bridge_free(p);

    /* An empty PATCH is fine and only moves updated_at. */
    assert_int_equal(from_text("{}", base, &p, field, err), 0);
    assert_int_equal(p->routes[0].retries, 5);
    bridge_free(p);

    /* Headers are replaced as a whole, not merged key by key. */
    assert_int_equal(from_text("{\"headers\":{\"X-New\":\"1\"}}", base, &p, field, err), 0);
    assert_int_equal(cJSON_GetArraySize(p->routes[0].headers), 1);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(p->routes[0].headers, "X-New"));
    bridge_free(p);
    bridge_free(base);
}

static void test_patch_null_resets(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *base = full_base();
    struct bridge *p = NULL;
    assert_int_equal(from_text("{\"name\":null,\"method\":null,\"headers\":null,"
                               "\"delay_seconds\":null,\"retries\":null,\"retry_delays\":null,"
                               "\"timeout_ms\":null,\"active\":null,\"payload\":null,"
                               "\"env\":null,\"auth\":null}",
                               base, &p, field, err),
                     0);
    assert_string_equal(p->name, "");
    assert_string_equal(p->routes[0].method, "POST");
    assert_null(p->routes[0].headers->child);
    assert_int_equal(p->routes[0].delay_seconds, 0);
    assert_int_equal(p->routes[0].retries, 3);
    assert_null(p->routes[0].retry_delays);
    assert_int_equal(p->routes[0].n_retry_delays, 0);
    assert_int_equal(p->routes[0].timeout_ms, 30000);
    assert_true(p->active);
    assert_string_equal(p->routes[0].outbound_url, "http://127.0.0.1:9/a");
    bridge_free(p);

    p = &sentinel;
    assert_int_equal(from_text("{\"outbound_url\":null}", base, &p, field, err), -1);
    assert_null(p);
    assert_string_equal(field, "outbound_url");
    assert_string_equal(err, "is required");
    bridge_free(base);
}

static void test_patch_refused_changes_nothing(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *base = full_base();
    struct bridge *p = NULL;
    char *store = bridge_to_store(base);
    static const char *const bad[] = {
        "{\"name\":\"nope\",\"retries\":99}",
        "{\"retry_delays\":null,\"headers\":{\"X-A\":1}}",
        "{\"headers\":{\"X-New\":\"1\"},\"env\":{\"A b\":\"x\"}}",
        "{\"active\":true,\"zzz\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = &sentinel;
        assert_int_equal(from_text(bad[i], base, &p, field, err), -1);
        assert_null(p);
        char *now = bridge_to_store(base);
        assert_string_equal(now, store);
        free(now);
    }
    assert_int_equal(from_text("{\"filter\":{\"$payload.a\":{\"$nope\":1}}}", base, &p, field, err),
                     -1);
    assert_string_equal(field, "filter");
    assert_non_null(strstr(err, "$nope"));
    free(store);
    bridge_free(base);
}

/* Clients PATCH back what they GET: the API shape must be accepted as PATCH input. */
static void test_patch_back_api_shape(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *base = full_base();
    cJSON *api = bridge_to_api(base, "http://localhost:8080");
    struct bridge *p = NULL;
    if (bridge_from_api(api, base, key, &p, field, sizeof(field), err, sizeof(err)) != 0)
        fail_msg("patching back the api shape: %s: %s", field, err);
    p->updated_ms = base->updated_ms;
    assert_same_bridge(p, base);
    bridge_free(p);
    cJSON_Delete(api);
    bridge_free(base);
}

static const char *const api_keys[] = {
    "id",
    "name",
    "endpoint",
    "inbound_url",
    "outbound_url",
    "method",
    "headers",
    "payload",
    "delay_seconds",
    "retries",
    "retry_delays",
    "timeout_ms",
    "env",
    "auth",
    "schema",
    "filter",
    "notify_url",
    "signing_secret",
    "active",
    "created_at",
    "updated_at",
    "response",
    "challenge",
    "dedup",
    "split",
    /* flow control (common/flow.c) */
    "rate_limit",
    "max_concurrency",
    "circuit",
    "deliveries",
};

static void test_to_api(void **state)
{
    (void)state;
    struct bridge *b = full_base();
    b->created_ms = 1795341600123;
    b->updated_ms = 1795341660000;
    static const char *const publics[] = {"http://localhost:8080", "http://localhost:8080/",
                                          "https://hooks.example.com//"};
    static const char *const bases[] = {"http://localhost:8080", "http://localhost:8080",
                                        "https://hooks.example.com"};
    for (size_t k = 0; k < 3; k++) {
        cJSON *o = bridge_to_api(b, publics[k]);
        assert_int_equal(cJSON_GetArraySize(o), sizeof(api_keys) / sizeof(api_keys[0]));
        for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++)
            if (cJSON_GetObjectItemCaseSensitive(o, api_keys[i]) == NULL)
                fail_msg("bridge_to_api lacks %s", api_keys[i]);
        char want[256];
        snprintf(want, sizeof(want), "%s/hooks/%s", bases[k], b->endpoint);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "inbound_url")->valuestring, want);
        cJSON_Delete(o);
    }

    cJSON *o = bridge_to_api(b, "http://localhost:8080");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, b->id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring, "a");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "method")->valuestring, "PUT");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "created_at")->valuestring,
                        "2026-11-22T10:00:00.123Z");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "updated_at")->valuestring,
                        "2026-11-22T10:01:00.000Z");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "active")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "timeout_ms")->valuedouble, 700);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "retry_delays"));
    assert_string_equal(s, "[2,4]");
    free(s);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "headers"));
    assert_string_equal(s, "{\"X-Static\":\"yes\"}");
    free(s);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "payload"));
    assert_string_equal(s, "{\"t\":\"$payload.total\",\"n\":\"Job ${payload.id}\"}");
    free(s);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "notify_url")->valuestring,
                        "http://127.0.0.1:9/failed");
    /* A bridge with none of the optional features shows them in their "not set" form. */
    struct bridge *plain = must_create("{" URL "}");
    cJSON *po = bridge_to_api(plain, "http://localhost:8080");
    static const char *const nulls[] = {"payload", "schema", "filter", "notify_url",
                                        "signing_secret"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(po, nulls[i])));
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(po, "env"));
    assert_string_equal(s, "{}");
    free(s);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(po, "auth"));
    assert_string_equal(s, "{\"type\":\"none\"}");
    cJSON_Delete(po);
    bridge_free(plain);
    free(s);
    cJSON_Delete(o);

    /* Without retry_delays the API shows null. */
    struct bridge *d = must_create("{" URL "}");
    o = bridge_to_api(d, "http://x");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "retry_delays")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "headers")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring, "");
    cJSON_Delete(o);
    bridge_free(d);
    bridge_free(b);
}

static void test_store_round_trip(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    struct bridge *bridges[] = {
        full_base(),
        must_create("{" URL "}"),
        must_create("{" URL ",\"name\":\"\\u00e9t\\u00e9 \\\"q\\\" \\\\\",\"retry_delays\":[0],"
                    "\"headers\":{\"X-U\":\"\\u2603\"}}"),
    };
    for (size_t i = 0; i < sizeof(bridges) / sizeof(bridges[0]); i++) {
        struct bridge *b = bridges[i];
        char *s = bridge_to_store(b);
        struct bridge *back = NULL;
        if (bridge_from_store(s, &back, err, sizeof(err)) != 0)
            fail_msg("bridge_from_store(%s): %s", s, err);
        assert_same_bridge(back, b);
        char *again = bridge_to_store(back);
        assert_string_equal(again, s);
        /* Timestamps are stored as ms integers. */
        cJSON *o = cJSON_Parse(s);
        assert_int_equal((int64_t)cJSON_GetObjectItemCaseSensitive(o, "created_ms")->valuedouble,
                         b->created_ms);
        cJSON_Delete(o);
        free(again);
        free(s);
        bridge_free(back);
        bridge_free(b);
    }
}

static void test_store_malformed(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    static const struct {
        const char *json;
        const char *err;
    } cases[] = {
        {"", "bridge json: not a json object"},
        {"not json", "bridge json: not a json object"},
        {"[]", "bridge json: not a json object"},
        {"{\"endpoint\":\"e\",\"outbound_url\":\"http://x\"}",
         "bridge json: id missing or malformed"},
        {"{\"id\":\"brg_x\",\"outbound_url\":\"http://x\"}",
         "bridge json: endpoint missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\"}", "bridge json: outbound_url missing or malformed"},
        {"{\"id\":\"brg_0123456789012345678901234567890123\",\"endpoint\":\"e\","
         "\"outbound_url\":\"http://x\"}",
         "bridge json: id missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://"
         "x\",\"method\":\"OPTIONSX\"}",
         "bridge json: method missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://x\",\"retries\":\"3\"}",
         "bridge json: retries missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://x\",\"headers\":[]}",
         "bridge json: headers missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://x\","
         "\"retry_delays\":[1,\"a\"]}",
         "bridge json: retry_delays missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://x\",\"active\":1}",
         "bridge json: active missing or malformed"},
        {"{\"id\":\"brg_x\",\"endpoint\":\"e\",\"outbound_url\":\"http://x\",\"created_ms\":1.5}",
         "bridge json: created_ms missing or malformed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bridge *b = &sentinel;
        err[0] = '\0';
        if (bridge_from_store(cases[i].json, &b, err, sizeof(err)) == 0)
            fail_msg("bridge_from_store(%s) accepted", cases[i].json);
        assert_null(b);
        assert_string_equal(err, cases[i].err);
    }
    struct bridge *b = NULL;
    assert_int_equal(bridge_from_store(NULL, &b, err, sizeof(err)), -1);

    /* A row from before a field existed loads with the defaults; unknown keys are left. */
    assert_int_equal(bridge_from_store("{\"id\":\"brg_x\",\"endpoint\":\"e\","
                                       "\"outbound_url\":\"http://x\",\"future\":{\"a\":1}}",
                                       &b, err, sizeof(err)),
                     0);
    assert_string_equal(b->routes[0].method, "POST");
    assert_int_equal(b->routes[0].retries, 3);
    assert_int_equal(b->routes[0].timeout_ms, 30000);
    assert_true(b->active);
    assert_string_equal(b->name, "");
    bridge_free(b);
    bridge_free(NULL);
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_cjson();
    if (sodium_init() < 0)
        return 1;
    return 0;
}

/* No form of a bridge outside the struct's sealed fields may hold a plain secret. */
static void assert_no_plain_secrets(const char *text)
{
    static const char *const secrets[] = {"tok-123", "hush", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("secret %s found in %s", secrets[i], text);
}

static void test_secrets_sealed_and_masked(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    struct bridge *b = full_base();
    char *stored = bridge_to_store(b);
    assert_no_plain_secrets(stored);
    cJSON *api = bridge_to_api(b, "http://x");
    char *shown = cJSON_PrintUnformatted(api);
    assert_no_plain_secrets(shown);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(api, "env");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(env, "API_TOKEN")->valuestring,
                        BRIDGE_SECRET_MASK);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(api, "auth");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(auth, "secret")->valuestring,
                        BRIDGE_SECRET_MASK);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(auth, "type")->valuestring, "hmac-sha256");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(api, "signing_secret")->valuestring,
                        BRIDGE_SECRET_MASK);
    free(shown);
    cJSON_Delete(api);

    /* What the worker and the ingress open, with the right key only. */
    cJSON *plain = bridge_env_open(b, key, err, sizeof(err));
    assert_non_null(plain);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(plain, "API_TOKEN")->valuestring,
                        "tok-123");
    cJSON_Delete(plain);
    assert_null(bridge_env_open(b, other_key, err, sizeof(err)));
    assert_non_null(strstr(err, "API_TOKEN"));
    struct auth_params p;
    char *secret = NULL;
    assert_int_equal(bridge_auth_open(b, key, &p, &secret, err, sizeof(err)), 0);
    assert_int_equal(p.type, AUTH_HMAC_SHA256);
    assert_true(p.base64);
    assert_string_equal(p.header, "x-sig");
    assert_string_equal(secret, "hush");
    assert_int_equal(p.secret_len, 4);
    bridge_secret_free(secret);
    assert_int_equal(bridge_auth_open(b, other_key, &p, &secret, err, sizeof(err)), -1);
    assert_null(secret);
    char *ws = route_signing_secret_open(&b->routes[0], key, err, sizeof(err));
    assert_string_equal(ws, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    bridge_secret_free(ws);
    assert_null(route_signing_secret_open(&b->routes[0], other_key, err, sizeof(err)));
    assert_true(err[0] != '\0');

    /* A round trip through SQLite's form keeps the sealed values as they are. */
    struct bridge *back = NULL;
    assert_int_equal(bridge_from_store(stored, &back, err, sizeof(err)), 0);
    assert_same_bridge(back, b);
    bridge_free(back);
    free(stored);
    bridge_free(b);
}

static void test_secret_patch_rules(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    struct bridge *b = full_base();
    struct bridge *p = NULL;
    /* The mask keeps, a new value replaces, null deletes, other names stay. */
    assert_int_equal(
        from_text("{\"env\":{\"API_TOKEN\":\"********\",\"NEW\":\"n-1\"}}", b, &p, field, err), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(p->env, "API_TOKEN")->valuestring,
                        cJSON_GetObjectItemCaseSensitive(b->env, "API_TOKEN")->valuestring);
    struct bridge *q = NULL;
    assert_int_equal(from_text("{\"env\":{\"API_TOKEN\":null}}", p, &q, field, err), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(q->env, "API_TOKEN"));
    cJSON *plain = bridge_env_open(q, key, err, sizeof(err));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(plain, "NEW")->valuestring, "n-1");
    cJSON_Delete(plain);
    bridge_free(q);
    bridge_free(p);

    /* auth: changing the header without the secret keeps the secret. */
    assert_int_equal(from_text("{\"auth\":{\"type\":\"hmac-sha256\",\"header\":\"X-Other\","
                               "\"secret\":\"********\"}}",
                               b, &p, field, err),
                     0);
    struct auth_params ap;
    char *secret = NULL;
    assert_int_equal(bridge_auth_open(p, key, &ap, &secret, err, sizeof(err)), 0);
    assert_string_equal(secret, "hush");
    assert_string_equal(ap.header, "x-other");
    assert_false(ap.base64);
    bridge_secret_free(secret);
    bridge_free(p);
    assert_int_equal(from_text("{\"auth\":{\"type\":\"none\"}}", b, &p, field, err), 0);
    assert_null(p->auth);
    bridge_free(p);
    assert_int_equal(
        from_text("{\"signing_secret\":\"********\",\"auth\":null}", b, &p, field, err), 0);
    assert_string_equal(p->routes[0].signing_secret, b->routes[0].signing_secret);
    assert_null(p->auth);
    bridge_free(p);
    bridge_free(b);
}

/* Templates, filters and inbound schemas are refused at save with the field named. */
static const struct {
    const char *json;
    const char *field;
    const char *in_err; /* a part of the message */
} checked_cases[] = {
    {"\"outbound_url\":\"http://x/${payload.id\"", "outbound_url", "unclosed"},
    {"\"outbound_url\":\"http://x/$foo.x\"", "outbound_url", "foo"},
    {"\"headers\":{\"X-A\":\"$nope.a\"}", "headers", "X-A"},
    {"\"payload\":{\"a\":{\"b\":\"${payload\"}}", "payload", "/a/b"},
    {"\"filter\":{\"$payload.total\":{\"$between\":[1,2]}}", "filter", "$between"},
    {"\"schema\":{\"type\":\"object\",\"$dynamicRef\":\"#x\"}", "schema", "$dynamicRef"},
    {"\"schema\":{\"properties\":{\"a\":{\"format\":\"phone\"}}}", "schema", "phone"},
    {"\"env\":{\"has space\":\"x\"}", "env", "has space"},
    {"\"auth\":{\"type\":\"magic\",\"secret\":\"x\"}", "auth", "type"},
    {"\"auth\":{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"encoding\":\"rot13\"}", "auth",
     "encoding"},
};

static void test_checked_at_save(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN], json[512];
    for (size_t i = 0; i < sizeof(checked_cases) / sizeof(checked_cases[0]); i++) {
        struct bridge *b = &sentinel;
        snprintf(json, sizeof(json), "{" URL ",%s}", checked_cases[i].json);
        if (strstr(checked_cases[i].json, "outbound_url") != NULL)
            snprintf(json, sizeof(json), "{%s}", checked_cases[i].json);
        if (from_text(json, NULL, &b, field, err) == 0)
            fail_msg("%s accepted", json);
        assert_null(b);
        if (strcmp(field, checked_cases[i].field) != 0 ||
            strstr(err, checked_cases[i].in_err) == NULL)
            fail_msg("%s: got %s: %s; want %s: ...%s...", json, field, err, checked_cases[i].field,
                     checked_cases[i].in_err);
    }
}

static void test_needs_json(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool needs;
    } cases[] = {
        {"{" URL "}", false},
        {"{\"outbound_url\":\"http://x/$payload.id\"}", true},
        {"{\"outbound_url\":\"http://x/${payload.id}\"}", true},
        {"{\"outbound_url\":\"http://x/$$payload.id\"}", false},
        {"{\"outbound_url\":\"http://x/${query.payload}\"}", false},
        {"{\"outbound_url\":\"http://x/$query.a\"}", false},
        {"{" URL ",\"headers\":{\"X-Id\":\"$payload.id\"}}", true},
        {"{" URL ",\"headers\":{\"X-Id\":\"$headers.x-id\"}}", false},
        {"{" URL ",\"payload\":{\"a\":1}}", true},
        {"{" URL ",\"schema\":true}", true},
        {"{" URL ",\"filter\":{}}", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bridge *b = must_create(cases[i].json);
        if (bridge_needs_json(b) != cases[i].needs)
            fail_msg("%s: needs_json %d", cases[i].json, !cases[i].needs);
        bridge_free(b);
    }
}

static void test_key_check(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    char path[] = "/tmp/hb-test-bridge-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct store *st = NULL;
    assert_int_equal(store_open(path, &st, err, sizeof err), 0);
    assert_int_equal(bridge_key_check(st, key, err, sizeof(err)), 0);
    assert_int_equal(bridge_key_check(st, key, err, sizeof(err)), 0);
    assert_int_equal(bridge_key_check(st, other_key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "HOOKBRIDGE_SECRET_KEY"));
    store_close(st);
    /* A second process with the wrong key is refused the same way. */
    assert_int_equal(store_open(path, &st, err, sizeof err), 0);
    assert_int_equal(bridge_key_check(st, other_key, err, sizeof(err)), -1);
    assert_int_equal(bridge_key_check(st, key, err, sizeof(err)), 0);
    store_close(st);
    char side[sizeof(path) + 8];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

#define ROUTES                                                                                     \
    "\"routes\":[{\"name\":\"crm\",\"outbound_url\":\"http://127.0.0.1:9/crm\",\"retries\":1,"     \
    "\"signing_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"},"                              \
    "{\"name\":\"ledger\",\"outbound_url\":\"http://127.0.0.1:9/l\",\"method\":\"PUT\","           \
    "\"filter\":{\"$payload.total\":{\"$gt\":0}}}]"

static void expect_refused(const char *json, const struct bridge *base, const char *want_field,
                           const char *want_err)
{
    char field[64], err[HB_ERR_LEN];
    struct bridge *b = &sentinel;
    if (from_text(json, base, &b, field, err) == 0)
        fail_msg("%s accepted", json);
    assert_null(b);
    if (strcmp(field, want_field) != 0)
        fail_msg("%s: field %s (%s), want %s", json, field, err, want_field);
    if (want_err != NULL && strstr(err, want_err) == NULL)
        fail_msg("%s: error \"%s\", want \"%s\"", json, err, want_err);
}

static void test_routes(void **state)
{
    (void)state;
    struct bridge *b = must_create("{\"name\":\"n\"," ROUTES "}");
    assert_true(b->has_routes);
    assert_int_equal(b->n_routes, 2);
    assert_string_equal(b->routes[0].name, "crm");
    assert_int_equal(b->routes[0].retries, 1);
    assert_string_equal(b->routes[1].method, "PUT");
    assert_non_null(b->routes[1].filter);
    assert_null(strstr(b->routes[0].signing_secret, "MfKQ9r8"));
    assert_ptr_equal(bridge_route(b, "ledger"), &b->routes[1]);
    assert_null(bridge_route(b, "default"));
    assert_true(bridge_needs_json(b));

    /* The API shows routes and no top-level outbound fields; the secret masked. */
    cJSON *api = bridge_to_api(b, "http://h");
    assert_null(cJSON_GetObjectItem(api, "outbound_url"));
    cJSON *routes = cJSON_GetObjectItem(api, "routes");
    assert_int_equal(cJSON_GetArraySize(routes), 2);
    cJSON *r0 = cJSON_GetArrayItem(routes, 0);
    assert_string_equal(cJSON_GetObjectItem(r0, "name")->valuestring, "crm");
    assert_string_equal(cJSON_GetObjectItem(r0, "signing_secret")->valuestring, BRIDGE_SECRET_MASK);
    char *shown = cJSON_PrintUnformatted(api);
    assert_null(strstr(shown, "MfKQ9r8"));
    free(shown);

    /* The SQLite form round-trips, secrets sealed. */
    char *stored = bridge_to_store(b);
    assert_null(strstr(stored, "MfKQ9r8"));
    char err[HB_ERR_LEN], field[64];
    struct bridge *back = NULL;
    assert_int_equal(bridge_from_store(stored, &back, err, sizeof(err)), 0);
    assert_true(back->has_routes);
    assert_int_equal(back->n_routes, 2);
    assert_string_equal(back->routes[0].signing_secret, b->routes[0].signing_secret);
    char *again = bridge_to_store(back);
    assert_string_equal(stored, again);
    free(again);
    free(stored);
    bridge_free(back);

    /* PATCH: a GET sent back keeps everything, masked secret included; a listed route starts
     * from the stored one of its name; routes left out are gone. */
    cJSON_DeleteItemFromObject(api, "id");
    char *patch = cJSON_PrintUnformatted(api);
    struct bridge *p = NULL;
    assert_int_equal(from_text(patch, b, &p, field, err), 0);
    assert_string_equal(p->routes[0].signing_secret, b->routes[0].signing_secret);
    bridge_free(p);
    free(patch);
    assert_int_equal(
        from_text("{\"routes\":[{\"name\":\"ledger\",\"retries\":5}]}", b, &p, field, err), 0);
    assert_int_equal(p->n_routes, 1);
    assert_string_equal(p->routes[0].method, "PUT");
    assert_int_equal(p->routes[0].retries, 5);
    bridge_free(p);
    /* Back to one default route: its outbound_url must come with it. */
    expect_refused("{\"routes\":null}", b, "outbound_url", "is required");
    assert_int_equal(from_text("{\"routes\":null," URL "}", b, &p, field, err), 0);
    assert_false(p->has_routes);
    assert_int_equal(p->n_routes, 1);
    assert_string_equal(p->routes[0].name, "default");
    bridge_free(p);
    expect_refused("{\"retries\":2}", b, "retries", "routes");
    cJSON_Delete(api);
    bridge_free(b);

    /* A bridge without routes reads back as it always did: no "routes" member. */
    b = must_create("{" URL "}");
    assert_false(b->has_routes);
    api = bridge_to_api(b, "http://h");
    assert_null(cJSON_GetObjectItem(api, "routes"));
    assert_non_null(cJSON_GetObjectItem(api, "outbound_url"));
    cJSON_Delete(api);
    stored = bridge_to_store(b);
    assert_null(strstr(stored, "routes"));
    free(stored);
    bridge_free(b);

    expect_refused("{" URL "," ROUTES "}", NULL, "outbound_url", "routes");
    expect_refused("{\"routes\":[]}", NULL, "routes", "1..16");
    expect_refused("{\"routes\":[{\"name\":\"a\",\"outbound_url\":\"http://x/\"},"
                   "{\"name\":\"b\",\"outbound_url\":\"ftp://x\"}]}",
                   NULL, "routes[1].outbound_url", "http");
    expect_refused("{\"routes\":[{\"name\":\"a\"}]}", NULL, "routes[0].outbound_url",
                   "is required");
    expect_refused("{\"routes\":[{\"name\":\"A b\",\"outbound_url\":\"http://x/\"}]}", NULL,
                   "routes[0].name", NULL);
    expect_refused("{\"routes\":[{\"outbound_url\":\"http://x/\"}]}", NULL, "routes[0].name", NULL);
    expect_refused("{\"routes\":[{\"name\":\"a\",\"outbound_url\":\"http://x/\"},"
                   "{\"name\":\"a\",\"outbound_url\":\"http://y/\"}]}",
                   NULL, "routes[1].name", "unique");
    expect_refused("{\"routes\":[{\"name\":\"a\",\"outbound_url\":\"http://x/\",\"env\":{}}]}",
                   NULL, "routes[0].env", "unknown field");
    expect_refused("{\"routes\":[{\"name\":\"a\",\"outbound_url\":\"http://x/\","
                   "\"signing_secret\":\"********\"}]}",
                   NULL, "routes[0].signing_secret", "no");
    char many[4096];
    size_t n = (size_t)snprintf(many, sizeof(many), "{\"routes\":[");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n,
                              "%s{\"name\":\"r%d\",\"outbound_url\":\"http://x/\"}", i ? "," : "",
                              i);
    snprintf(many + n, sizeof(many) - n, "]}");
    expect_refused(many, NULL, "routes", "1..16");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_create_all_fields),
        cmocka_unit_test(test_validation_rules),
        cmocka_unit_test(test_outbound_url),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_patch_keeps_absent_fields),
        cmocka_unit_test(test_patch_null_resets),
        cmocka_unit_test(test_patch_refused_changes_nothing),
        cmocka_unit_test(test_patch_back_api_shape),
        cmocka_unit_test(test_to_api),
        cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_store_malformed),
        cmocka_unit_test(test_secrets_sealed_and_masked),
        cmocka_unit_test(test_secret_patch_rules),
        cmocka_unit_test(test_checked_at_save),
        cmocka_unit_test(test_needs_json),
        cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * test_auth.c - unit tests for common/auth.c: the checks on a bridge's `auth` object (every
 * member, every message), and auth_verify for tokens (own header and Bearer), HMAC
 * signatures in GitHub, Shopify and Xero style, and HS256 JWTs, including missing headers,
 * empty bodies, bodies with NUL bytes, and reasons that never repeat a secret or credential.
 *
 * Signatures and tokens marked "openssl" or "python3" were produced by the command quoted
 * next to them, run by hand, so that they do not depend on crypto.c being right.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "xalloc.h"

/* Inbound headers as the sender spelled them; looked up case-insensitively like evhttp. */
struct hdr {
    const char *name, *value;
};

struct hdrs {
    const struct hdr *h;
    size_t n;
};

static const char *hdrs_find(void *arg, const char *name)
{
    const struct hdrs *hs = arg;
    /* auth.h promises lower-case names. */
    for (const char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            fail_msg("header looked up as \"%s\"", name);
    for (size_t i = 0; i < hs->n; i++)
        if (strcasecmp(hs->h[i].name, name) == 0)
            return hs->h[i].value;
    return NULL;
}

static int params_from_text(const char *text, struct auth_params *p, cJSON **json, char *err)
{
    *json = cJSON_Parse(text);
    if (*json == NULL)
        fail_msg("test json does not parse: %s", text);
    err[0] = '\0';
    return auth_params_from_json(*json, p, err, 256);
}

/* A JSON string of n copies of c, for the length limits. */
static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_params_valid(void **state)
{
    (void)state;
    char *s1024 = repeat('s', 1024);
    char *p63 = repeat('p', 63);
    char *h127 = repeat('H', 127);
    char *h127_lower = repeat('h', 127);
    char *long_secret = xasprintf("{\"type\":\"token\",\"secret\":\"%s\"}", s1024);
    char *long_prefix = xasprintf("{\"type\":\"hmac-sha256\",\"secret\":\"k\",\"header\":\"X-S\","
                                  "\"prefix\":\"%s\"}",
                                  p63);
    char *long_header = xasprintf("{\"type\":\"token\",\"secret\":\"k\",\"header\":\"%s\"}", h127);
    const struct {
        const char *json;
        enum auth_type type;
        const char *header, *prefix, *secret;
        bool base64;
    } cases[] = {
        {"null", AUTH_NONE, "", "", NULL, false},
        {"{\"type\":\"none\"}", AUTH_NONE, "", "", NULL, false},
        {"{\"type\":\"token\",\"secret\":\"tok-123\"}", AUTH_TOKEN, "", "", "tok-123", false},
        {"{\"secret\":\"tok-123\",\"header\":\"X-Api-Key\",\"type\":\"token\"}", AUTH_TOKEN,
         "x-api-key", "", "tok-123", false},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"gh\",\"header\":\"X-Hub-Signature-256\","
         "\"encoding\":\"hex\",\"prefix\":\"sha256=\"}",
         AUTH_HMAC_SHA256, "x-hub-signature-256", "sha256=", "gh", false},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"sh\",\"header\":\"X-Shopify-Hmac-Sha256\","
         "\"encoding\":\"base64\"}",
         AUTH_HMAC_SHA256, "x-shopify-hmac-sha256", "", "sh", true},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"xe\",\"header\":\"x-xero-signature\","
         "\"encoding\":\"base64\",\"prefix\":\"\"}",
         AUTH_HMAC_SHA256, "x-xero-signature", "", "xe", true},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"k\",\"header\":\"X-S\"}", AUTH_HMAC_SHA256, "x-s",
         "", "k", false},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"j\"}", AUTH_JWT_HS256, "", "", "j", false},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"j\",\"header\":\"X-Jwt\"}", AUTH_JWT_HS256, "x-jwt",
         "", "j", false},
        {"{\"type\":\"token\",\"secret\":\"k\",\"header\":\"!#$%&'*+-.^_`|~09azAZ\"}", AUTH_TOKEN,
         "!#$%&'*+-.^_`|~09azaz", "", "k", false},
        {"{\"type\":\"token\",\"secret\":\"caf\\u00e9 \\\" \\\\\"}", AUTH_TOKEN, "", "",
         "caf\xc3\xa9 \" \\", false},
        {long_secret, AUTH_TOKEN, "", "", s1024, false},
        {long_prefix, AUTH_HMAC_SHA256, "x-s", p63, "k", false},
        {long_header, AUTH_TOKEN, h127_lower, "", "k", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_params p;
        cJSON *json;
        char err[256];
        memset(&p, 0x5a, sizeof(p));
        if (params_from_text(cases[i].json, &p, &json, err) != 0)
            fail_msg("case %zu refused: %s", i, err);
        assert_int_equal(p.type, cases[i].type);
        assert_string_equal(p.header, cases[i].header);
        assert_string_equal(p.prefix, cases[i].prefix);
        assert_int_equal(p.base64, cases[i].base64);
        if (cases[i].secret == NULL) {
            assert_null(p.secret);
            assert_int_equal(p.secret_len, 0);
        } else {
            const cJSON *sj = cJSON_GetObjectItemCaseSensitive(json, "secret");
            /* Points into the JSON, not a copy. */
            assert_ptr_equal(p.secret, sj->valuestring);
            assert_int_equal(p.secret_len, strlen(cases[i].secret));
            assert_memory_equal(p.secret, cases[i].secret, p.secret_len);
        }
        cJSON_Delete(json);
    }
    struct auth_params p;
    char err[256];
    memset(&p, 0x5a, sizeof(p));
    assert_int_equal(auth_params_from_json(NULL, &p, err, sizeof(err)), 0);
    assert_int_equal(p.type, AUTH_NONE);
    assert_null(p.secret);
    free(long_header);
    free(long_prefix);
    free(long_secret);
    free(h127_lower);
    free(h127);
    free(p63);
    free(s1024);
}

static void test_params_invalid(void **state)
{
    (void)state;
    char *s1025 = repeat('s', 1025);
    char *p64 = repeat('p', 64);
    char *h128 = repeat('h', 128);
    char *too_long_secret = xasprintf("{\"type\":\"token\",\"secret\":\"%s\"}", s1025);
    char *too_long_prefix = xasprintf("{\"type\":\"hmac-sha256\",\"secret\":\"k\","
                                      "\"header\":\"X-S\",\"prefix\":\"%s\"}",
                                      p64);
    char *too_long_header =
        xasprintf("{\"type\":\"token\",\"secret\":\"k\",\"header\":\"%s\"}", h128);
    const char *types = "type: must be one of none, token, hmac-sha256, jwt-hs256, stripe, "
                        "github, shopify, xero, standard-webhooks, slack";
    const char *bad_header = "header: must be a valid http header name";
    const struct {
        const char *json, *err;
    } cases[] = {
        {"[]", "must be an object such as {\"type\": \"none\"}"},
        {"\"none\"", "must be an object such as {\"type\": \"none\"}"},
        {"{}", "type: is required"},
        {"{\"secret\":\"x\"}", "type: is required"},
        {"{\"type\":\"magic\",\"secret\":\"hunter2\"}", types},
        {"{\"type\":\"Token\",\"secret\":\"x\"}", types},
        {"{\"type\":\"hmac\",\"secret\":\"x\"}", types},
        {"{\"type\":\"\"}", types},
        {"{\"type\":1}", types},
        {"{\"type\":null}", types},
        {"{\"type\":[\"none\"]}", types},
        {"{\"type\":\"none\",\"secret\":\"hunter2\"}", "secret: not allowed with type none"},
        {"{\"type\":\"none\",\"header\":\"X-A\"}", "header: not allowed with type none"},
        {"{\"type\":\"none\",\"prefix\":\"\"}", "prefix: not allowed with type none"},
        {"{\"type\":\"none\",\"bogus\":1}",
         "bogus: is not a known member (type, secret, header, encoding, prefix, "
         "require_exp, audience, issuer, tolerance_seconds)"},
        {"{\"type\":\"token\",\"secret\":\"hunter2\",\"extra\":true}",
         "extra: is not a known member (type, secret, header, encoding, prefix, "
         "require_exp, audience, issuer, tolerance_seconds)"},
        {"{\"type\":\"token\",\"Secret\":\"x\"}",
         "Secret: is not a known member (type, secret, header, encoding, prefix, "
         "require_exp, audience, issuer, tolerance_seconds)"},
        {"{\"type\":\"token\",\"secret\":\"hunter2\",\"secret\":\"y\"}",
         "secret: appears more than once"},
        {"{\"type\":\"none\",\"type\":\"token\"}", "type: appears more than once"},
        {"{\"type\":\"token\"}", "secret: is required"},
        {"{\"type\":\"token\",\"header\":\"X-Api-Key\"}", "secret: is required"},
        {"{\"type\":\"hmac-sha256\",\"header\":\"X-S\"}", "secret: is required"},
        {"{\"type\":\"jwt-hs256\"}", "secret: is required"},
        {"{\"type\":\"token\",\"secret\":\"\"}", "secret: must be a non-empty string"},
        {"{\"type\":\"token\",\"secret\":5}", "secret: must be a non-empty string"},
        {"{\"type\":\"token\",\"secret\":null}", "secret: must be a non-empty string"},
        {"{\"type\":\"token\",\"secret\":{}}", "secret: must be a non-empty string"},
        {too_long_secret, "secret: must be at most 1024 bytes"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\"}", "header: is required for type hmac-sha256"},
        /* A wrong value is reported before a missing header. */
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"encoding\":\"rot13\"}",
         "encoding: must be hex or base64"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"prefix\":[]}",
         "prefix: must be a string of at most 63 bytes"},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"\"}",
         "header: must be a non-empty string"},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":7}",
         "header: must be a non-empty string"},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"X Api\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"X-Api:\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"X-\\u00c4\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"x\\tb\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"x\\nb\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"(x)\"}", bad_header},
        {"{\"type\":\"token\",\"secret\":\"x\",\"header\":\"a@b\"}", bad_header},
        {too_long_header, "header: must be at most 127 bytes"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"header\":\"X-S\",\"encoding\":\"rot13\"}",
         "encoding: must be hex or base64"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"header\":\"X-S\",\"encoding\":\"HEX\"}",
         "encoding: must be hex or base64"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"header\":\"X-S\",\"encoding\":null}",
         "encoding: must be hex or base64"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"header\":\"X-S\",\"prefix\":5}",
         "prefix: must be a string of at most 63 bytes"},
        {too_long_prefix, "prefix: must be a string of at most 63 bytes"},
        {"{\"type\":\"token\",\"secret\":\"x\",\"encoding\":\"hex\"}",
         "encoding: only applies to type hmac-sha256"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"prefix\":\"Bearer \"}",
         "prefix: only applies to type hmac-sha256"},
        {"{\"type\":\"token\",\"secret\":\"x\",\"require_exp\":true}",
         "require_exp: only applies to type jwt-hs256"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"x\",\"header\":\"X-S\",\"audience\":\"a\"}",
         "audience: only applies to type jwt-hs256"},
        {"{\"type\":\"none\",\"issuer\":\"i\"}", "issuer: not allowed with type none"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"require_exp\":1}",
         "require_exp: must be true or false"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"require_exp\":\"true\"}",
         "require_exp: must be true or false"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"audience\":\"\"}",
         "audience: must be a non-empty string of at most 255 bytes"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"audience\":[\"a\"]}",
         "audience: must be a non-empty string of at most 255 bytes"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"x\",\"issuer\":null}",
         "issuer: must be a non-empty string of at most 255 bytes"},
        {"{\"type\":\"github\",\"secret\":\"x\",\"header\":\"X-Sig\"}",
         "header: is fixed by type github"},
        {"{\"type\":\"xero\",\"secret\":\"x\",\"encoding\":\"hex\"}",
         "encoding: only applies to type hmac-sha256"},
        {"{\"type\":\"shopify\",\"secret\":\"x\",\"tolerance_seconds\":5}",
         "tolerance_seconds: only applies to types stripe, standard-webhooks and slack"},
        {"{\"type\":\"stripe\"}", "secret: is required"},
        {"{\"type\":\"stripe\",\"secret\":\"whsec_x\",\"tolerance_seconds\":0}",
         "tolerance_seconds: must be an integer in 1..86400"},
        {"{\"type\":\"slack\",\"secret\":\"x\",\"tolerance_seconds\":1.5}",
         "tolerance_seconds: must be an integer in 1..86400"},
        {"{\"type\":\"slack\",\"secret\":\"x\",\"tolerance_seconds\":\"300\"}",
         "tolerance_seconds: must be an integer in 1..86400"},
        {"{\"type\":\"stripe\",\"secret\":\"x\",\"tolerance_seconds\":86401}",
         "tolerance_seconds: must be an integer in 1..86400"},
        {"{\"type\":\"standard-webhooks\",\"secret\":\"not-whsec\"}",
         "secret: must be \"whsec_\" followed by the base64 of a 16..64 byte key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_params p;
        cJSON *json;
        char err[256];
        int rc = params_from_text(cases[i].json, &p, &json, err);
        if (rc != -1 || strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu %.80s: rc %d err \"%s\", want \"%s\"", i, cases[i].json, rc, err,
                     cases[i].err);
        /* The secret never appears in a message (short ones would match words). */
        const cJSON *sj = cJSON_GetObjectItemCaseSensitive(json, "secret");
        if (cJSON_IsString(sj) && strlen(sj->valuestring) >= 4)
            assert_null(strstr(err, sj->valuestring));
        cJSON_Delete(json);
    }
    free(too_long_header);
    free(too_long_prefix);
    free(too_long_secret);
    free(h128);
    free(p64);
    free(s1025);
}

static void test_type_names_and_credential_header(void **state)
{
    (void)state;
    assert_string_equal(auth_type_name(AUTH_NONE), "none");
    assert_string_equal(auth_type_name(AUTH_TOKEN), "token");
    assert_string_equal(auth_type_name(AUTH_HMAC_SHA256), "hmac-sha256");
    assert_string_equal(auth_type_name(AUTH_JWT_HS256), "jwt-hs256");
    const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"type\":\"none\"}", NULL},
        {"{\"type\":\"token\",\"secret\":\"k\"}", "authorization"},
        {"{\"type\":\"token\",\"secret\":\"k\",\"header\":\"X-Api-Key\"}", "x-api-key"},
        {"{\"type\":\"hmac-sha256\",\"secret\":\"k\",\"header\":\"X-Hub-Signature-256\"}",
         "x-hub-signature-256"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"k\"}", "authorization"},
        {"{\"type\":\"jwt-hs256\",\"secret\":\"k\",\"header\":\"X-Jwt\"}", "x-jwt"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_params p;
        cJSON *json;
        char err[256];
        assert_int_equal(params_from_text(cases[i].json, &p, &json, err), 0);
        const char *got = auth_credential_header(&p);
        if (cases[i].want == NULL)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
        cJSON_Delete(json);
    }
}

struct verify_case {
    const char *name, *value; /* the one inbound header, or name NULL for none */
    const void *body;
    size_t body_len;
    const char *why; /* NULL: passes */
};

/* Run cases against the params of `json`; no reason may contain `secret` or the value. */
static void run_verify_cases(const char *json, const char *secret, const struct verify_case *c,
                             size_t n, int64_t now)
{
    struct auth_params p;
    cJSON *j;
    char err[256];
    if (params_from_text(json, &p, &j, err) != 0)
        fail_msg("params %s: %s", json, err);
    for (size_t i = 0; i < n; i++) {
        struct hdr h[2] = {{"Content-Type", "application/json"}, {c[i].name, c[i].value}};
        struct hdrs hs = {h, c[i].name != NULL ? 2 : 1};
        char why[256] = "";
        bool ok = auth_verify(&p, hdrs_find, &hs, c[i].body, c[i].body_len, now, why, sizeof(why));
        if (c[i].why == NULL && !ok)
            fail_msg("%s case %zu refused: %s", json, i, why);
        if (c[i].why != NULL && (ok || strcmp(why, c[i].why) != 0))
            fail_msg("%s case %zu: ok %d why \"%s\", want \"%s\"", json, i, ok, why, c[i].why);
        if (strstr(why, secret) != NULL)
            fail_msg("case %zu: the reason \"%s\" holds the secret", i, why);
        /* Values shorter than 4 bytes would match words by chance. */
        if (c[i].value != NULL && strlen(c[i].value) >= 4 && strstr(why, c[i].value) != NULL)
            fail_msg("case %zu: the reason \"%s\" holds the credential", i, why);
    }
    cJSON_Delete(j);
}

#define BODY(s) s, sizeof(s) - 1

/*
 * GitHub's documented example (docs.github.com, "Validating webhook deliveries"):
 *   printf '%s' 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
 *   printf '' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
 *   printf 'a\0b\0c' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
 */
#define GH_SIG "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
#define GH_SIG_UPPER "757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"
#define GH_SIG_EMPTY "66a0c074deaa0f489ead6537e0d32f9a344b90bbeda705b6ed45ecd3b413fb40"
#define GH_SIG_NUL "64fa3b8936a914b246f8ee45a3bb2599b0bfc97789ab9bec54ddc74775602429"

static void test_verify_github(void **state)
{
    (void)state;
    const char *h = "X-Hub-Signature-256";
    const char *mismatch = "x-hub-signature-256 does not match the body";
    const char *not_hex = "x-hub-signature-256 is not the hex of a sha256 hmac";
    const struct verify_case cases[] = {
        {h, "sha256=" GH_SIG, BODY("Hello, World!"), NULL},
        {"x-hub-signature-256", "sha256=" GH_SIG, BODY("Hello, World!"), NULL},
        {h, "sha256=" GH_SIG_UPPER, BODY("Hello, World!"), NULL},
        {h, "SHA256=" GH_SIG, BODY("Hello, World!"), NULL},
        {h, " sha256=" GH_SIG " ", BODY("Hello, World!"), NULL},
        {h, "sha256=" GH_SIG_EMPTY, "", 0, NULL},
        {h, "sha256=" GH_SIG_EMPTY, NULL, 0, NULL},
        {h, "sha256=" GH_SIG_NUL, BODY("a\0b\0c"), NULL},
        /* The bytes after a NUL count. */
        {h, "sha256=" GH_SIG_NUL, BODY("a\0b\0d"), mismatch},
        {h, "sha256=" GH_SIG_NUL, BODY("a"), mismatch},
        {h, "sha256=" GH_SIG, BODY("Hello, World!\n"), mismatch},
        {h, "sha256=" GH_SIG, BODY("Hello, World"), mismatch},
        {h, "sha256=" GH_SIG_EMPTY, BODY("Hello, World!"), mismatch},
        {h, "sha256=657107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
         BODY("Hello, World!"), mismatch},
        {h, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
         BODY("Hello, World!"), mismatch},
        {h, GH_SIG, BODY("Hello, World!"),
         "x-hub-signature-256 does not start with the expected prefix"},
        {h, "sha1=" GH_SIG, BODY("Hello, World!"),
         "x-hub-signature-256 does not start with the expected prefix"},
        {h, "sha256", BODY("Hello, World!"),
         "x-hub-signature-256 does not start with the expected prefix"},
        {h, "", BODY("Hello, World!"),
         "x-hub-signature-256 does not start with the expected prefix"},
        {h, "sha256=", BODY("Hello, World!"), not_hex},
        {h, "sha256=757107ea0eb2509fc211221cce984b8a", BODY("Hello, World!"), not_hex},
        {h, "sha256=" GH_SIG "00", BODY("Hello, World!"), not_hex},
        {h, "sha256=" GH_SIG "0", BODY("Hello, World!"), not_hex},
        {h, "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
         BODY("Hello, World!"), not_hex},
        {h, "sha256=757107ea0eb2509fc211221cce984b8a 7570b6d7586c22c46f4379c8b043e17",
         BODY("Hello, World!"), not_hex},
        {h, "sha256=dXUHqg6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=", BODY("Hello, World!"), not_hex},
        {NULL, NULL, BODY("Hello, World!"), "missing x-hub-signature-256 header"},
        {"X-Hub-Signature", "sha256=" GH_SIG, BODY("Hello, World!"),
         "missing x-hub-signature-256 header"},
    };
    run_verify_cases(
        "{\"type\":\"hmac-sha256\",\"secret\":\"It's a Secret to Everybody\","
        "\"header\":\"X-Hub-Signature-256\",\"encoding\":\"hex\",\"prefix\":\"sha256=\"}",
        "It's a Secret to Everybody", cases, sizeof(cases) / sizeof(cases[0]), 0);
    /* hex is the default encoding. */
    run_verify_cases("{\"type\":\"hmac-sha256\",\"secret\":\"It's a Secret to Everybody\","
                     "\"header\":\"X-Hub-Signature-256\",\"prefix\":\"sha256=\"}",
                     "It's a Secret to Everybody", cases, sizeof(cases) / sizeof(cases[0]), 0);
}

/*
 * printf '%s' '{"id":820982911946154508,"email":"jon@example.com"}' \
 *   | openssl dgst -sha256 -hmac 'shpss_5ecr3t' -binary | base64
 * (without "-binary | base64": the hex form used below, 09d18562…)
 */
#define SHOPIFY_BODY "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}"
#define SHOPIFY_SIG "CdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPmk="

static void test_verify_shopify(void **state)
{
    (void)state;
    const char *h = "X-Shopify-Hmac-Sha256";
    const char *mismatch = "x-shopify-hmac-sha256 does not match the body";
    const char *not_b64 = "x-shopify-hmac-sha256 is not valid base64";
    const struct verify_case cases[] = {
        {h, SHOPIFY_SIG, BODY(SHOPIFY_BODY), NULL},
        /* Lenient base64: no padding, URL alphabet. */
        {h, "CdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPmk", BODY(SHOPIFY_BODY), NULL},
        {h, "CdGFYp1FUEbwtq0MkBDyWEM2q-K0BZH3v5rqYI0HPmk=", BODY(SHOPIFY_BODY), NULL},
        {h, SHOPIFY_SIG, BODY(SHOPIFY_BODY " "), mismatch},
        {h, "DdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPmk=", BODY(SHOPIFY_BODY), mismatch},
        /* The right bytes minus the last one, and plus one. */
        {h, "CdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPg==", BODY(SHOPIFY_BODY), mismatch},
        {h, "CdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPmkA", BODY(SHOPIFY_BODY), mismatch},
        {h, "", BODY(SHOPIFY_BODY), mismatch},
        {h, "not base64!", BODY(SHOPIFY_BODY), not_b64},
        {h, "CdGFYp1FUEbwtq0MkBDyWEM2q+K0BZH3v5rqYI0HPmk==", BODY(SHOPIFY_BODY), not_b64},
        {h, "CdGFYp1FUEbwtq0M kBDyWEM2q+K0BZH3v5rqYI0HPmk=", BODY(SHOPIFY_BODY), not_b64},
        /* The hex of the same HMAC is not what this bridge expects. */
        {h, "09d185629d455046f0b6ad0c9010f2584336abe2b40591f7bf9aea608d073e69", BODY(SHOPIFY_BODY),
         mismatch},
        {NULL, NULL, BODY(SHOPIFY_BODY), "missing x-shopify-hmac-sha256 header"},
    };
    run_verify_cases("{\"type\":\"hmac-sha256\",\"secret\":\"shpss_5ecr3t\","
                     "\"header\":\"X-Shopify-Hmac-Sha256\",\"encoding\":\"base64\"}",
                     "shpss_5ecr3t", cases, sizeof(cases) / sizeof(cases[0]), 0);
}

/*
 * printf '%s'
 * '{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}' \ |
 * openssl dgst -sha256 -hmac 'xero-webhook-key' -binary | base64
 */
#define XERO_BODY                                                                                  \
    "{\"events\":[],\"firstEventSequence\":0,\"lastEventSequence\":0,\"entropy\":"                 \
    "\"S0m3r4Nd0mt3xt\"}"
#define XERO_SIG "Jk5oeRqkvxspr6ZqkjgzOcJkUe7yZPsZrwBHTeueGFc="

static void test_verify_xero(void **state)
{
    (void)state;
    const struct verify_case cases[] = {
        {"x-xero-signature", XERO_SIG, BODY(XERO_BODY), NULL},
        {"X-Xero-Signature", XERO_SIG, BODY(XERO_BODY), NULL},
        /* Xero's "intent to receive" check sends a wrong signature and expects a 401. */
        {"x-xero-signature", "Jk5oeRqkvxspr6ZqkjgzOcJkUe7yZPsZrwBHTeueGFd=", BODY(XERO_BODY),
         "x-xero-signature is not valid base64"},
        {"x-xero-signature", "Ik5oeRqkvxspr6ZqkjgzOcJkUe7yZPsZrwBHTeueGFc=", BODY(XERO_BODY),
         "x-xero-signature does not match the body"},
        {"x-xero-signature", XERO_SIG, "", 0, "x-xero-signature does not match the body"},
        {NULL, NULL, BODY(XERO_BODY), "missing x-xero-signature header"},
    };
    run_verify_cases("{\"type\":\"hmac-sha256\",\"secret\":\"xero-webhook-key\","
                     "\"header\":\"x-xero-signature\",\"encoding\":\"base64\"}",
                     "xero-webhook-key", cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_verify_token(void **state)
{
    (void)state;
    const char *x = "X-Api-Key";
    const struct verify_case own_header[] = {
        {x, "tok-123", BODY("{}"), NULL},
        {"x-api-key", "tok-123", NULL, 0, NULL},
        {x, " tok-123\t", BODY("{}"), NULL},
        {x, "tok-1234", BODY("{}"), "token mismatch"},
        {x, "tok-12", BODY("{}"), "token mismatch"},
        {x, "TOK-123", BODY("{}"), "token mismatch"},
        {x, "", BODY("{}"), "token mismatch"},
        {x, "Bearer tok-123", BODY("{}"), "token mismatch"},
        {"Authorization", "Bearer tok-123", BODY("{}"), "missing x-api-key header"},
        {NULL, NULL, BODY("{}"), "missing x-api-key header"},
    };
    run_verify_cases("{\"type\":\"token\",\"secret\":\"tok-123\",\"header\":\"X-Api-Key\"}",
                     "tok-123", own_header, sizeof(own_header) / sizeof(own_header[0]), 0);

    const char *a = "Authorization";
    const char *not_bearer = "authorization is not a bearer token";
    const struct verify_case bearer[] = {
        {a, "Bearer tok-123", BODY("{}"), NULL},
        {"authorization", "bearer tok-123", BODY("{}"), NULL},
        {a, "BEARER    tok-123", BODY("{}"), NULL},
        {a, "BeArEr tok-123 ", BODY("{}"), NULL},
        {a, "Bearer tok-124", BODY("{}"), "token mismatch"},
        {a, "Bearer tok-123 x", BODY("{}"), "token mismatch"},
        {a, "Bearer  tok-12", BODY("{}"), "token mismatch"},
        {a, "tok-123", BODY("{}"), not_bearer},
        {a, "Bearertok-123", BODY("{}"), not_bearer},
        {a, "Bearer\ttok-123", BODY("{}"), not_bearer},
        {a, "Bearer", BODY("{}"), not_bearer},
        {a, "Bearer   ", BODY("{}"), not_bearer},
        {a, "Basic dG9rLTEyMzo=", BODY("{}"), not_bearer},
        {a, "", BODY("{}"), not_bearer},
        {"X-Api-Key", "tok-123", BODY("{}"), "missing authorization header"},
        {NULL, NULL, BODY("{}"), "missing authorization header"},
    };
    run_verify_cases("{\"type\":\"token\",\"secret\":\"tok-123\"}", "tok-123", bearer,
                     sizeof(bearer) / sizeof(bearer[0]), 0);
}

/*
 * python3 (standard library only):
 *   def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
 *   def tok(header, payload, secret, alg=hashlib.sha256):
 *       h = b64u(json.dumps(header, separators=(",", ":")).encode())
 *       p = b64u(json.dumps(payload, separators=(",", ":")).encode())
 *       s = b64u(hmac.new(secret.encode(), (h + "." + p).encode(), alg).digest())
 *       return h + "." + p + "." + s
 *   tok({"alg":"HS256"}, {"sub":"svc-billing","nbf":1699990000,"exp":1700000000},
 *       "hookbridge-jwt-secret")
 *   tok({"alg":"HS512","typ":"JWT"}, {"sub":"svc-billing"}, "hookbridge-jwt-secret",
 *       hashlib.sha512)
 * and the same as JWT_GOOD with the header {"alg":"none"} and an empty signature.
 */
#define JWT_GOOD                                                                                   \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsIm5iZiI6MTY5OTk5MDAwMCwiZXhwIjoxNzAwMDAwMD"  \
    "AwfQ.Ga9V4WXj4bhpZzqfCnGYVJOdjPX0DoCh6vJbCmkkIWM"
#define JWT_HS512                                                                                  \
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyJ9.IoyQYDOech6t-fOb4_3v7Pjh"   \
    "Av6AoPVwxPlLCBbbjPrBg4niG4JoA1mvMFiM-RmWTrnYw4kaNnHOfoXLNbt1QQ"
#define JWT_NONE                                                                                   \
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMtYmlsbGluZyIsIm5iZiI6MTY5OTk5MDAwMCwiZXhwIjoxNzAwMDAwMD"   \
    "AwfQ."
#define JWT_SECRET "hookbridge-jwt-secret"
#define JWT_NOW 1699995000

static void test_verify_jwt(void **state)
{
    (void)state;
    const char *a = "Authorization";
    const struct verify_case bearer[] = {
        {a, "Bearer " JWT_GOOD, BODY("{}"), NULL},
        {a, "bearer  " JWT_GOOD, NULL, 0, NULL},
        {a, JWT_GOOD, BODY("{}"), "authorization is not a bearer token"},
        {a, "Bearer " JWT_HS512, BODY("{}"), "jwt alg must be HS256"},
        {a, "Bearer " JWT_NONE, BODY("{}"), "jwt alg must be HS256"},
        {a, "Bearer " JWT_GOOD "x", BODY("{}"), "jwt signature mismatch"},
        {a, "Bearer " JWT_GOOD ".e30", BODY("{}"), "jwt malformed"},
        {a, "Bearer not-a-jwt", BODY("{}"), "jwt malformed"},
        {"X-Jwt", JWT_GOOD, BODY("{}"), "missing authorization header"},
        {NULL, NULL, BODY("{}"), "missing authorization header"},
    };
    const char *bearer_json = "{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\"}";
    run_verify_cases(bearer_json, JWT_SECRET, bearer, sizeof(bearer) / sizeof(bearer[0]), JWT_NOW);

    /* exp 1700000000 and nbf 1699990000 with the 60 s leeway of auth.h. */
    const struct {
        int64_t now;
        const char *why;
    } times[] = {
        {1700000059, NULL},
        {1700000060, "jwt expired"},
        {1699989940, NULL},
        {1699989939, "jwt not yet valid"},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        const struct verify_case c[] = {{a, "Bearer " JWT_GOOD, BODY("{}"), times[i].why}};
        run_verify_cases(bearer_json, JWT_SECRET, c, 1, times[i].now);
    }

    /* Under another secret the same token fails. */
    const struct verify_case other[] = {
        {a, "Bearer " JWT_GOOD, BODY("{}"), "jwt signature mismatch"},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"hookbridge-jwt-secreT\"}",
                     "hookbridge-jwt-secreT", other, 1, JWT_NOW);

    /* With its own header: the bare token or Bearer, and Authorization is not looked at. */
    const struct verify_case own[] = {
        {"X-Jwt", JWT_GOOD, BODY("{}"), NULL},
        {"x-jwt", "Bearer " JWT_GOOD, BODY("{}"), NULL},
        {"X-Jwt", " " JWT_GOOD " ", BODY("{}"), NULL},
        {"X-Jwt", JWT_NONE, BODY("{}"), "jwt alg must be HS256"},
        {"X-Jwt", "Token " JWT_GOOD, BODY("{}"), "jwt malformed"},
        {a, "Bearer " JWT_GOOD, BODY("{}"), "missing x-jwt header"},
        {NULL, NULL, BODY("{}"), "missing x-jwt header"},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\",\"header\":\"X-Jwt\"}",
                     JWT_SECRET, own, sizeof(own) / sizeof(own[0]), JWT_NOW);
}

/*
 * python3, tok() above with JWT_SECRET:
 *   tok({"alg":"HS256"}, {"sub":"svc","iss":"https://idp.example","aud":"hookbridge",
 *       "exp":1700000000}, S)
 *   the same with "aud":["other","hookbridge"]
 *   tok({"alg":"HS256"}, {"sub":"svc","iat":1700000000}, S)
 */
#define JWT_AUD                                                                                    \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoiaG9va2J" \
    "yaWRnZSIsImV4cCI6MTcwMDAwMDAwMH0.DDLlOzAN6O8RONayq5x6R-N632m-ZOWpbOobywRduy4"
#define JWT_AUD_LIST                                                                               \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjpbIm90aGV" \
    "yIiwiaG9va2JyaWRnZSJdLCJleHAiOjE3MDAwMDAwMDB9.By-zFcCnh-oUVfrtCa4SDHCQV9WF5b76-Cyqpv4Txwk"
#define JWT_NO_EXP                                                                                 \
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJpYXQiOjE3MDAwMDAwMDB9.39lovejpm_4v-pqMiN2_aWAP-"      \
    "YQYine"                                                                                       \
    "jbHrOB2nE_0M"

/* require_exp, audience and issuer from the bridge's auth object reach the check. */
static void test_verify_jwt_rules(void **state)
{
    (void)state;
    const char *a = "Authorization";
    struct auth_params p;
    cJSON *json;
    char err[256];

    /* Absent require_exp is false: auth objects stored before it existed keep working. */
    assert_int_equal(params_from_text("{\"type\":\"jwt-hs256\",\"secret\":\"j\"}", &p, &json, err),
                     0);
    assert_false(p.require_exp);
    assert_string_equal(p.audience, "");
    assert_string_equal(p.issuer, "");
    cJSON_Delete(json);
    assert_int_equal(params_from_text("{\"type\":\"jwt-hs256\",\"secret\":\"j\",\"require_exp\":"
                                      "true,\"audience\":\"hb\",\"issuer\":\"https://i\"}",
                                      &p, &json, err),
                     0);
    assert_true(p.require_exp);
    assert_string_equal(p.audience, "hb");
    assert_string_equal(p.issuer, "https://i");
    cJSON_Delete(json);

    const struct verify_case plain[] = {
        {a, "Bearer " JWT_NO_EXP, BODY("{}"), NULL},
        {a, "Bearer " JWT_AUD, BODY("{}"), NULL},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\"}", JWT_SECRET, plain, 2,
                     JWT_NOW);
    const struct verify_case exp[] = {
        {a, "Bearer " JWT_NO_EXP, BODY("{}"), "jwt has no exp"},
        {a, "Bearer " JWT_AUD, BODY("{}"), NULL},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\",\"require_exp\":true}",
                     JWT_SECRET, exp, 2, JWT_NOW);
    const struct verify_case aud[] = {
        {a, "Bearer " JWT_AUD, BODY("{}"), NULL},
        {a, "Bearer " JWT_AUD_LIST, BODY("{}"), NULL},
        {a, "Bearer " JWT_NO_EXP, BODY("{}"), "jwt has no iss"},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\",\"audience\":"
                     "\"hookbridge\",\"issuer\":\"https://idp.example\"}",
                     JWT_SECRET, aud, 3, JWT_NOW);
    const struct verify_case wrong[] = {
        {a, "Bearer " JWT_AUD, BODY("{}"), "jwt audience mismatch"},
        {a, "Bearer " JWT_AUD_LIST, BODY("{}"), "jwt audience mismatch"},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\",\"audience\":"
                     "\"billing\"}",
                     JWT_SECRET, wrong, 2, JWT_NOW);
    const struct verify_case iss[] = {
        {a, "Bearer " JWT_AUD, BODY("{}"), "jwt issuer mismatch"},
    };
    run_verify_cases("{\"type\":\"jwt-hs256\",\"secret\":\"" JWT_SECRET "\",\"issuer\":"
                     "\"https://idp.example.evil\"}",
                     JWT_SECRET, iss, 1, JWT_NOW);
}

/*
 * The presets against signatures made by python3's hmac module from each provider's
 * documented algorithm (not by crypto.c), over
 *   body = b'{"id":"evt_1","type":"invoice.paid"}', timestamp 1700000000:
 * stripe: hmac.new(b"whsec_test", b"1700000000." + body, sha256).hexdigest()
 * slack:  hmac.new(b"8f742231b10e8888abcd99yyyzzz85a5", b"v0:1700000000:" + body, ...)
 * standard-webhooks: base64(hmac.new(b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
 *                     b"msg_1.1700000000." + body, sha256).digest())
 */
#define PRESET_BODY "{\"id\":\"evt_1\",\"type\":\"invoice.paid\"}"
#define STRIPE_SIG "4aa90aa69730f112c87accbf54203d1076675eae3b18a5cb82b5ab9e7f5cd5bc"
#define SLACK_SIG "63c28b5d732033fdccf86ef2b2dacad9331c6a7f565fca0bfb807fc744d1ed49"
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
#define STD_SIG "v1,OIVTiNRrhJSBx6zl79nIEOHpS2EbXqN7S6enn5T8DlQ="

static bool preset_verify(const char *json, const struct hdr *h, size_t n, int64_t now, char *why)
{
    struct auth_params p;
    cJSON *j;
    char err[256];
    if (params_from_text(json, &p, &j, err) != 0)
        fail_msg("%s refused: %s", json, err);
    struct hdrs hs = {h, n};
    why[0] = '\0';
    bool ok = auth_verify(&p, hdrs_find, &hs, PRESET_BODY, strlen(PRESET_BODY), now, why, 256);
    cJSON_Delete(j);
    return ok;
}

static void test_verify_presets(void **state)
{
    (void)state;
    char why[256];
    const char *stripe = "{\"type\":\"stripe\",\"secret\":\"whsec_test\"}";
    const struct hdr s_ok[] = {{"Stripe-Signature", "t=1700000000,v1=" STRIPE_SIG}};
    /* Several v1 (a secret being rolled) and a v0 that is ignored. */
    const struct hdr s_many[] = {
        {"Stripe-Signature", "t=1700000000,v1=" ZERO64 ",v0=ab,v1=" STRIPE_SIG}};
    const struct hdr s_wrong[] = {{"Stripe-Signature", "t=1700000001,v1=" STRIPE_SIG}};
    const struct hdr s_not[] = {{"Stripe-Signature", "t=1700000000"}};
    assert_true(preset_verify(stripe, s_ok, 1, 1700000000, why));
    assert_true(preset_verify(stripe, s_ok, 1, 1700000300, why));
    assert_true(preset_verify(stripe, s_many, 1, 1700000000, why));
    assert_false(preset_verify(stripe, s_ok, 1, 1700000301, why));
    assert_non_null(strstr(why, "tolerance"));
    assert_false(preset_verify(stripe, s_ok, 1, 1699999699, why));
    assert_false(preset_verify(stripe, s_wrong, 1, 1700000000, why));
    assert_false(preset_verify(stripe, s_not, 1, 1700000000, why));
    assert_false(preset_verify(stripe, NULL, 0, 1700000000, why));
    assert_true(preset_verify("{\"type\":\"stripe\",\"secret\":\"whsec_test\","
                              "\"tolerance_seconds\":1000}",
                              s_ok, 1, 1700000900, why));

    const char *slack = "{\"type\":\"slack\",\"secret\":\"8f742231b10e8888abcd99yyyzzz85a5\"}";
    const struct hdr k_ok[] = {{"X-Slack-Request-Timestamp", "1700000000"},
                               {"X-Slack-Signature", "v0=" SLACK_SIG}};
    const struct hdr k_ts[] = {{"X-Slack-Request-Timestamp", "1700000001"},
                               {"X-Slack-Signature", "v0=" SLACK_SIG}};
    assert_true(preset_verify(slack, k_ok, 2, 1700000100, why));
    assert_false(preset_verify(slack, k_ok, 2, 1700000301, why));
    assert_false(preset_verify(slack, k_ts, 2, 1700000000, why));
    assert_false(preset_verify(slack, k_ok + 1, 1, 1700000000, why));

    const char *std = "{\"type\":\"standard-webhooks\","
                      "\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}";
    const struct hdr w_ok[] = {{"webhook-id", "msg_1"},
                               {"webhook-timestamp", "1700000000"},
                               {"webhook-signature", "v1,AAAA " STD_SIG}};
    const struct hdr w_id[] = {{"webhook-id", "msg_2"},
                               {"webhook-timestamp", "1700000000"},
                               {"webhook-signature", STD_SIG}};
    assert_true(preset_verify(std, w_ok, 3, 1700000000, why));
    assert_false(preset_verify(std, w_ok, 3, 1700000301, why));
    assert_false(preset_verify(std, w_id, 3, 1700000000, why));
    assert_false(preset_verify(std, w_ok + 1, 2, 1700000000, why));
    /* Reasons never carry the signature. */
    assert_null(strstr(why, "OIVT"));

    /* github, shopify and xero read their own header in their own form. */
    struct auth_params p;
    cJSON *j;
    char err[256];
    assert_int_equal(params_from_text("{\"type\":\"github\",\"secret\":\"k\"}", &p, &j, err), 0);
    assert_string_equal(p.header, "x-hub-signature-256");
    assert_string_equal(p.prefix, "sha256=");
    assert_false(p.base64);
    cJSON_Delete(j);
    assert_int_equal(params_from_text("{\"type\":\"xero\",\"secret\":\"k\"}", &p, &j, err), 0);
    assert_string_equal(p.header, "x-xero-signature");
    assert_true(p.base64);
    assert_string_equal(auth_challenge_scheme(&p), "Signature");
    cJSON_Delete(j);
}

static void test_verify_none_and_broken_params(void **state)
{
    (void)state;
    struct auth_params p;
    char err[256];
    assert_int_equal(auth_params_from_json(NULL, &p, err, sizeof(err)), 0);
    struct hdrs none = {NULL, 0};
    char why[64] = "untouched";
    assert_true(auth_verify(&p, hdrs_find, &none, NULL, 0, 0, why, sizeof(why)));
    assert_string_equal(why, "untouched");

    /* Params that were not made by auth_params_from_json: no secret, no pass. */
    memset(&p, 0, sizeof(p));
    p.type = AUTH_TOKEN;
    struct hdr h[] = {{"Authorization", "Bearer "}};
    struct hdrs hs = {h, 1};
    assert_false(auth_verify(&p, hdrs_find, &hs, NULL, 0, 0, why, sizeof(why)));
    assert_string_equal(why, "auth secret missing");
    /* A short why buffer is cut, not overrun. */
    p.secret = "k";
    p.secret_len = 1;
    char tiny[8];
    assert_false(auth_verify(&p, hdrs_find, &hs, NULL, 0, 0, tiny, sizeof(tiny)));
    assert_string_equal(tiny, "authori");
}

static int setup(void **state)
{
    (void)state;
    xalloc_init_cjson();
    return sodium_init() < 0 ? 1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_valid),
        cmocka_unit_test(test_params_invalid),
        cmocka_unit_test(test_type_names_and_credential_header),
        cmocka_unit_test(test_verify_github),
        cmocka_unit_test(test_verify_shopify),
        cmocka_unit_test(test_verify_xero),
        cmocka_unit_test(test_verify_token),
        cmocka_unit_test(test_verify_jwt),
        cmocka_unit_test(test_verify_jwt_rules),
        cmocka_unit_test(test_verify_presets),
        cmocka_unit_test(test_verify_none_and_broken_params),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * test_destcfg.c - unit tests for common/destcfg.c: tls, email and oauth2 checked member
 * by member, secrets sealed on the way in, kept when left out or masked, masked on the way
 * out and opened again with the key; the smtp:// URL rules and the rules between fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "destcfg.h"
#include "hb.h"
#include "xalloc.h"

static const unsigned char key[CRYPTO_KEY_LEN] = "0123456789abcdef0123456789abcdef";

#define PEM "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define KEYPEM "-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n"

/* destcfg_set on JSON text; returns its answer and leaves the error in `err`. */
static int set_text(const char *field, cJSON **slot, const char *json, char err[HB_ERR_LEN])
{
    cJSON *v = cJSON_Parse(json);
    if (v == NULL)
        fail_msg("test input is not json: %s", json);
    err[0] = '\0';
    int rc = destcfg_set(field, slot, v, key, err, HB_ERR_LEN);
    cJSON_Delete(v);
    return rc;
}

static void must_refuse(const char *field, const char *json, const char *want)
{
    char err[HB_ERR_LEN];
    cJSON *slot = NULL;
    if (set_text(field, &slot, json, err) == 0)
        fail_msg("%s %s accepted", field, json);
    if (strstr(err, want) == NULL)
        fail_msg("%s %s: error %s lacks %s", field, json, err, want);
    assert_null(slot);
}

static void test_tls(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    cJSON *slot = NULL;
    assert_int_equal(set_text("tls", &slot,
                              "{\"client_cert\":\"" PEM "\",\"client_key\":\"" KEYPEM
                              "\",\"ca\":\"" PEM "\"}",
                              err),
                     0);
    char *text = cJSON_PrintUnformatted(slot);
    assert_null(strstr(text, "SECRETKEYBYTES")); /* sealed in the stored form */
    free(text);
    cJSON *api = destcfg_to_api("tls", slot);
    assert_string_equal(cJSON_GetObjectItem(api, "client_key")->valuestring, BRIDGE_SECRET_MASK);
    assert_string_equal(cJSON_GetObjectItem(api, "ca")->valuestring, PEM);
    cJSON_Delete(api);
    char *plain = destcfg_get(slot, "client_key", key, err, sizeof(err));
    assert_non_null(plain);
    assert_string_equal(plain, KEYPEM);
    destcfg_secret_free(plain);
    /* the key left out, or masked, is kept */
    assert_int_equal(set_text("tls", &slot, "{\"client_cert\":\"" PEM "\"}", err), 0);
    plain = destcfg_get(slot, "client_key", key, err, sizeof(err));
    assert_string_equal(plain, KEYPEM);
    destcfg_secret_free(plain);
    assert_int_equal(
        set_text("tls", &slot, "{\"client_cert\":\"" PEM "\",\"client_key\":\"********\"}", err),
        0);
    assert_non_null(cJSON_GetObjectItem(slot, "client_key"));
    /* null in the member removes it; then the cert alone is refused */
    assert_int_not_equal(
        set_text("tls", &slot, "{\"client_cert\":\"" PEM "\",\"client_key\":null}", err), 0);
    assert_non_null(strstr(err, "client_key"));
    assert_int_equal(set_text("tls", &slot, "null", err), 0);
    assert_null(slot);
    must_refuse("tls", "{\"ca\":\"not pem\"}", "ca: must be PEM");
    must_refuse("tls", "{\"client_cert\":\"" PEM "\"}", "give both or neither");
    must_refuse("tls", "{\"cert\":\"" PEM "\"}", "cert: unknown member");
    must_refuse("tls", "{\"client_key\":\"********\"}", "there is none");
    must_refuse("tls", "[]", "must be an object");
}

static void test_email(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    cJSON *slot = NULL;
    assert_int_equal(set_text("email", &slot,
                              "{\"from\":\"orders@shop.example\",\"to\":[\"$payload.email\"],"
                              "\"subject\":\"Order ${payload.id}\",\"text\":\"hi\","
                              "\"username\":\"u\",\"password\":\"pw-SECRET\",\"starttls\":false}",
                              err),
                     0);
    char *text = cJSON_PrintUnformatted(slot);
    assert_null(strstr(text, "pw-SECRET"));
    free(text);
    cJSON_Delete(slot);
    must_refuse("email", "{\"from\":\"nobody\",\"to\":[\"a@b\"],\"text\":\"x\"}", "from:");
    must_refuse("email", "{\"from\":\"a@b\",\"to\":[],\"text\":\"x\"}", "to:");
    must_refuse("email", "{\"from\":\"a@b\",\"to\":[\"$nope.x\"],\"text\":\"x\"}", "to:");
    must_refuse("email", "{\"from\":\"a@b\",\"to\":[\"c@d\"]}", "text or html");
    must_refuse("email", "{\"to\":[\"c@d\"],\"text\":\"x\"}", "from: is required");
    must_refuse("email", "{\"from\":\"a@b\",\"to\":[\"c@d\"],\"text\":\"x\",\"starttls\":1}",
                "starttls");
    must_refuse("email", "{\"from\":\"a@b>\\r\\nRCPT TO:<x@y\",\"to\":[\"c@d\"],\"text\":\"x\"}",
                "from:");
}

static void test_oauth2(void **state)
{
    (void)state;
    char err[HB_ERR_LEN];
    cJSON *slot = NULL;
    assert_int_equal(
        set_text("oauth2", &slot,
                 "{\"grant\":\"refresh_token\",\"token_url\":\"https://t.example/token\","
                 "\"client_id\":\"id\",\"client_secret\":\"cs-SECRET\","
                 "\"refresh_token\":\"rt-SECRET\"}",
                 err),
        0);
    char *text = cJSON_PrintUnformatted(slot);
    assert_null(strstr(text, "SECRET"));
    free(text);
    /* a PATCH that leaves both secrets out keeps them */
    assert_int_equal(set_text("oauth2", &slot,
                              "{\"grant\":\"refresh_token\",\"token_url\":\"https://t.example/t2\","
                              "\"client_id\":\"id\",\"client_auth\":\"body\"}",
                              err),
                     0);
    char *rt = destcfg_get(slot, "refresh_token", key, err, sizeof(err));
    assert_string_equal(rt, "rt-SECRET");
    destcfg_secret_free(rt);
    char *cid = destcfg_get(slot, "client_id", key, err, sizeof(err));
    assert_string_equal(cid, "id");
    destcfg_secret_free(cid);
    assert_null(destcfg_get(slot, "scope", key, err, sizeof(err)));
    assert_string_equal(err, "");
    cJSON_Delete(slot);
    must_refuse("oauth2",
                "{\"grant\":\"refresh_token\",\"token_url\":\"https://t/x\",\"client_id\":\"i\"}",
                "refresh_token: is required");
    must_refuse(
        "oauth2",
        "{\"grant\":\"client_credentials\",\"token_url\":\"https://t/x\",\"client_id\":\"i\"}",
        "client_secret: is required");
    must_refuse("oauth2",
                "{\"grant\":\"password\",\"token_url\":\"https://t/x\",\"client_id\":\"i\"}",
                "grant: must be");
    must_refuse("oauth2",
                "{\"grant\":\"client_credentials\",\"token_url\":\"ftp://t/x\",\"client_id\":\"i\","
                "\"client_secret\":\"s\"}",
                "token_url");
    must_refuse(
        "oauth2",
        "{\"grant\":\"client_credentials\",\"token_url\":\"https://t/x\",\"client_id\":\"i\","
        "\"client_secret\":\"s\",\"client_auth\":\"jwt\"}",
        "client_auth: must be basic or body");
}

static void test_route_rules(void **state)
{
    (void)state;
    char field[64], err[HB_ERR_LEN];
    cJSON *email = cJSON_CreateObject();
    cJSON *oauth2 = cJSON_CreateObject();
    assert_true(destcfg_is_smtp_url("SMTPS://mail.example:465"));
    assert_false(destcfg_is_smtp_url("https://mail.example"));
    assert_null(destcfg_smtp_url_problem("smtp://mail.example:587"));
    assert_non_null(destcfg_smtp_url_problem("smtp://:587"));
    assert_non_null(destcfg_smtp_url_problem("smtp://$env.HOST:587"));
    assert_int_equal(destcfg_check_route("smtp://m:25", email, NULL, field, 64, err, sizeof(err)),
                     0);
    assert_int_not_equal(
        destcfg_check_route("smtp://m:25", NULL, NULL, field, 64, err, sizeof(err)), 0);
    assert_string_equal(field, "email");
    assert_int_not_equal(
        destcfg_check_route("https://x/", email, NULL, field, 64, err, sizeof(err)), 0);
    assert_string_equal(field, "email");
    assert_int_not_equal(
        destcfg_check_route("smtp://m:25", email, oauth2, field, 64, err, sizeof(err)), 0);
    assert_string_equal(field, "oauth2");
    assert_int_equal(destcfg_check_route("https://x/", NULL, oauth2, field, 64, err, sizeof(err)),
                     0);
    cJSON_Delete(email);
    cJSON_Delete(oauth2);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_oauth2),
        cmocka_unit_test(test_route_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

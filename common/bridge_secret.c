/*
 * bridge_secret.c - a bridge's sealed secrets opened for use: the env values and the
 * inbound auth secret (for one request, then wiped), and the check at start that
 * HOOKBRIDGE_SECRET_KEY is the key this database's secrets were sealed with.
 *
 * Kept apart from bridge.c, which seals secrets as they arrive and never opens one: the
 * code that holds plain secrets is this file alone.
 */
#include "bridge.h"

#include "store.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRIDGE_KEY_CHECK "secret_key_check"
#define BRIDGE_KEY_CHECK_TEXT "hookbridge secret key check"

void bridge_secret_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

cJSON *bridge_env_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                       size_t errlen)
{
    cJSON *env = cJSON_CreateObject();
    for (const cJSON *e = b->env ? b->env->child : NULL; e != NULL; e = e->next) {
        char why[HB_ERR_LEN];
        char *plain =
            cJSON_IsString(e) ? crypto_open(key, e->valuestring, NULL, why, sizeof(why)) : NULL;
        if (plain == NULL) {
            snprintf(err, errlen, "env %.64s: %s", e->string,
                     cJSON_IsString(e) ? why : "not a sealed value");
            cJSON_Delete(env);
            return NULL;
        }
        cJSON_AddStringToObject(env, e->string, plain);
        bridge_secret_free(plain);
    }
    return env;
}

int bridge_auth_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN],
                     struct auth_params *p, char **secret, char *err, size_t errlen)
{
    *secret = NULL;
    if (b->auth == NULL) {
        memset(p, 0, sizeof(*p));
        p->type = AUTH_NONE;
        return 0;
    }
    const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(b->auth, "secret");
    char why[HB_ERR_LEN];
    char *plain = cJSON_IsString(sealed)
                      ? crypto_open(key, sealed->valuestring, NULL, why, sizeof(why))
                      : NULL;
    if (plain == NULL) {
        snprintf(err, errlen, "auth secret: %s", cJSON_IsString(sealed) ? why : "missing");
        return -1;
    }
    /* Check the settings with the real secret in place, exactly as the API did. */
    cJSON *open = cJSON_Duplicate(b->auth, true);
    cJSON_ReplaceItemInObjectCaseSensitive(open, "secret", cJSON_CreateString(plain));
    int rc = auth_params_from_json(open, p, err, errlen);
    /* p->secret points into `open`; repoint it at our own copy before freeing the tree. */
    if (rc == 0) {
        p->secret = plain;
        p->secret_len = strlen(plain);
        *secret = plain;
    } else {
        bridge_secret_free(plain);
    }
    const cJSON *tmp = cJSON_GetObjectItemCaseSensitive(open, "secret");
    if (cJSON_IsString(tmp))
        sodium_memzero(tmp->valuestring, strlen(tmp->valuestring));
    cJSON_Delete(open);
    return rc;
}

int bridge_key_check(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                     size_t errlen)
{
    char serr[HB_ERR_LEN];
    char *sealed = NULL;
    int rc = store_meta_get(st, BRIDGE_KEY_CHECK, &sealed, serr, sizeof serr);
    if (rc == STORE_NOTFOUND) {
        char *mine = crypto_seal(key, BRIDGE_KEY_CHECK_TEXT, strlen(BRIDGE_KEY_CHECK_TEXT));
        /* Two processes starting together: the first insert wins, both then check it. */
        rc = store_meta_insert(st, BRIDGE_KEY_CHECK, mine, serr, sizeof serr);
        free(mine);
        if (rc == 0)
            rc = store_meta_get(st, BRIDGE_KEY_CHECK, &sealed, serr, sizeof serr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "secret key check: %s", serr);
        free(sealed);
        return -1;
    }
    char why[HB_ERR_LEN];
    char *plain = crypto_open(key, sealed, NULL, why, sizeof(why));
    free(sealed);
    bool ok = plain != NULL && strcmp(plain, BRIDGE_KEY_CHECK_TEXT) == 0;
    free(plain);
    if (!ok) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_SECRET_KEY: not the key this database's secrets were sealed with");
        return -1;
    }
    return 0;
}

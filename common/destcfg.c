/*
 * destcfg.c - checking and storing a route's tls, email and oauth2 settings (see
 * destcfg.h). One table per field names its members, their kind and which are secrets, so
 * a member cannot be accepted without being checked or a secret stored unsealed.
 */
#include "destcfg.h"

#include "bridge.h"
#include "template.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A PEM certificate chain or key; CA bundles of a few dozen certificates fit. */
#define DESTCFG_PEM_MAX (64 * 1024)
#define DESTCFG_STR_MAX 4096
#define DESTCFG_TEXT_MAX (64 * 1024)
#define DESTCFG_TO_MAX 50

enum destcfg_kind {
    DK_STR,      /* a non-empty string */
    DK_TEXT,     /* a template string (may be empty) */
    DK_TO,       /* an array of 1..DESTCFG_TO_MAX template strings */
    DK_BOOL,     /* true or false */
    DK_HTTP_URL, /* an http:// or https:// URL */
    DK_PEM,      /* PEM text */
    DK_ADDRESS,  /* an e-mail address */
};

struct destcfg_member {
    const char *name;
    enum destcfg_kind kind;
    bool secret;
    bool required;
    const char *const *choices; /* DK_STR: the values allowed; NULL for any */
};

static const char *const destcfg_grants[] = {"client_credentials", "refresh_token", NULL};
static const char *const destcfg_client_auth[] = {"basic", "body", NULL};

static const struct destcfg_member destcfg_tls[] = {
    {"client_cert", DK_PEM, false, false, NULL},
    {"client_key", DK_PEM, true, false, NULL},
    {"ca", DK_PEM, false, false, NULL},
    {NULL, DK_STR, false, false, NULL},
};

static const struct destcfg_member destcfg_email[] = {
    {"from", DK_ADDRESS, false, true, NULL},  {"to", DK_TO, false, true, NULL},
    {"subject", DK_TEXT, false, false, NULL}, {"text", DK_TEXT, false, false, NULL},
    {"html", DK_TEXT, false, false, NULL},    {"username", DK_STR, false, false, NULL},
    {"password", DK_STR, true, false, NULL},  {"starttls", DK_BOOL, false, false, NULL},
    {NULL, DK_STR, false, false, NULL},
};

static const struct destcfg_member destcfg_oauth2[] = {
    {"grant", DK_STR, false, true, destcfg_grants},
    {"token_url", DK_HTTP_URL, false, true, NULL},
    {"client_id", DK_STR, false, true, NULL},
    {"client_secret", DK_STR, true, false, NULL},
    {"scope", DK_STR, false, false, NULL},
    {"refresh_token", DK_STR, true, false, NULL},
    {"client_auth", DK_STR, false, false, destcfg_client_auth},
    {NULL, DK_STR, false, false, NULL},
};

static const struct {
    const char *field;
    const struct destcfg_member *members;
} destcfg_fields[] = {
    {"tls", destcfg_tls},
    {"email", destcfg_email},
    {"oauth2", destcfg_oauth2},
};

static const struct destcfg_member *destcfg_members(const char *field)
{
    for (size_t i = 0; i < sizeof(destcfg_fields) / sizeof(destcfg_fields[0]); i++)
        if (strcmp(field, destcfg_fields[i].field) == 0)
            return destcfg_fields[i].members;
    return NULL;
}

bool destcfg_is_field(const char *field)
{
    return destcfg_members(field) != NULL;
}

static const struct destcfg_member *destcfg_member(const struct destcfg_member *ms,
                                                   const char *name)
{
    for (; ms->name != NULL; ms++)
        if (strcmp(ms->name, name) == 0)
            return ms;
    return NULL;
}

static bool destcfg_is_mask(const cJSON *v)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, BRIDGE_SECRET_MASK) == 0;
}

/* An address as SMTP's MAIL FROM takes it: local@domain, no spaces, brackets or line
 * breaks (which would end the command early). */
static bool destcfg_address_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strlen(s) > 254)
        return false;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c == 0x7F || *c == '<' || *c == '>' || *c == ',')
            return false;
    return true;
}

/* Check one given (non-secret-kept) member value. */
static int destcfg_check_member(const struct destcfg_member *m, const cJSON *v, char *err,
                                size_t errlen)
{
    switch (m->kind) {
    case DK_BOOL:
        if (!cJSON_IsBool(v)) {
            snprintf(err, errlen, "%s: must be true or false", m->name);
            return -1;
        }
        return 0;
    case DK_TO: {
        int n = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || n < 1 || n > DESTCFG_TO_MAX) {
            snprintf(err, errlen, "%s: must be an array of 1..%d addresses", m->name,
                     DESTCFG_TO_MAX);
            return -1;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            char why[HB_ERR_LEN];
            if (!cJSON_IsString(e) || e->valuestring[0] == '\0' ||
                strlen(e->valuestring) > DESTCFG_STR_MAX) {
                snprintf(err, errlen, "%s: each address must be a non-empty string", m->name);
                return -1;
            }
            if (tmpl_check(e->valuestring, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "%s: %s", m->name, why);
                return -1;
            }
        }
        return 0;
    }
    default:
        break;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s: must be a string", m->name);
        return -1;
    }
    const char *s = v->valuestring;
    size_t len = strlen(s);
    switch (m->kind) {
    case DK_TEXT: {
        char why[HB_ERR_LEN];
        if (len > DESTCFG_TEXT_MAX) {
            snprintf(err, errlen, "%s: must be at most %d bytes", m->name, DESTCFG_TEXT_MAX);
            return -1;
        }
        if (tmpl_check(s, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s: %s", m->name, why);
            return -1;
        }
        return 0;
    }
    case DK_HTTP_URL: {
        const char *why = bridge_url_problem(s);
        if (why != NULL || len > DESTCFG_STR_MAX) {
            snprintf(err, errlen, "%s: %s", m->name, why ? why : "is too long");
            return -1;
        }
        return 0;
    }
    case DK_PEM:
        if (len > DESTCFG_PEM_MAX || strstr(s, "-----BEGIN ") == NULL) {
            snprintf(err, errlen, "%s: must be PEM text (-----BEGIN ...) of at most %d bytes",
                     m->name, DESTCFG_PEM_MAX);
            return -1;
        }
        return 0;
    case DK_ADDRESS:
        if (!destcfg_address_ok(s)) {
            snprintf(err, errlen, "%s: must be an e-mail address such as orders@example.com",
                     m->name);
            return -1;
        }
        return 0;
    default:
        break;
    }
    if (len == 0 || len > DESTCFG_STR_MAX) {
        snprintf(err, errlen, "%s: must be a non-empty string of at most %d bytes", m->name,
                 DESTCFG_STR_MAX);
        return -1;
    }
    if (m->choices != NULL) {
        for (const char *const *c = m->choices; *c; c++)
            if (strcmp(s, *c) == 0)
                return 0;
        snprintf(err, errlen, "%s: must be %s or %s", m->name, m->choices[0], m->choices[1]);
        return -1;
    }
    return 0;
}

/* Rules between the members of one field. */
static int destcfg_check_whole(const char *field, const cJSON *o, char *err, size_t errlen)
{
    if (strcmp(field, "tls") == 0) {
        bool cert = cJSON_GetObjectItemCaseSensitive(o, "client_cert") != NULL;
        bool key = cJSON_GetObjectItemCaseSensitive(o, "client_key") != NULL;
        if (cert != key) {
            snprintf(err, errlen, "client_cert and client_key: give both or neither");
            return -1;
        }
    } else if (strcmp(field, "email") == 0) {
        if (cJSON_GetObjectItemCaseSensitive(o, "text") == NULL &&
            cJSON_GetObjectItemCaseSensitive(o, "html") == NULL) {
            snprintf(err, errlen, "text or html: give at least one");
            return -1;
        }
        if ((cJSON_GetObjectItemCaseSensitive(o, "password") != NULL) &&
            cJSON_GetObjectItemCaseSensitive(o, "username") == NULL) {
            snprintf(err, errlen, "password: needs username");
            return -1;
        }
    } else if (strcmp(field, "oauth2") == 0) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "grant");
        bool refresh = cJSON_IsString(g) && strcmp(g->valuestring, "refresh_token") == 0;
        if (refresh && cJSON_GetObjectItemCaseSensitive(o, "refresh_token") == NULL) {
            snprintf(err, errlen, "refresh_token: is required with grant refresh_token");
            return -1;
        }
        if (!refresh && cJSON_GetObjectItemCaseSensitive(o, "refresh_token") != NULL) {
            snprintf(err, errlen, "refresh_token: only with grant refresh_token");
            return -1;
        }
        if (!refresh && cJSON_GetObjectItemCaseSensitive(o, "client_secret") == NULL) {
            snprintf(err, errlen, "client_secret: is required with grant client_credentials");
            return -1;
        }
    }
    return 0;
}

int destcfg_set(const char *field, cJSON **slot, const cJSON *v,
                const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
    const struct destcfg_member *ms = destcfg_members(field);
    if (ms == NULL) {
        snprintf(err, errlen, "unknown destination field");
        return -1;
    }
    if (cJSON_IsNull(v)) {
        cJSON_Delete(*slot);
        *slot = NULL;
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object or null");
        return -1;
    }
    cJSON *out = cJSON_CreateObject();
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        const struct destcfg_member *m = destcfg_member(ms, e->string);
        if (m == NULL) {
            snprintf(err, errlen, "%s: unknown member", e->string);
            goto fail;
        }
        if (cJSON_GetObjectItemCaseSensitive(out, e->string) != NULL) {
            snprintf(err, errlen, "%s: given twice", e->string);
            goto fail;
        }
        if (cJSON_IsNull(e))
            continue;
        if (m->secret && destcfg_is_mask(e)) {
            const cJSON *old = *slot ? cJSON_GetObjectItemCaseSensitive(*slot, m->name) : NULL;
            if (!cJSON_IsString(old)) {
                snprintf(err, errlen, "%s: \"%s\" keeps a stored value, but there is none", m->name,
                         BRIDGE_SECRET_MASK);
                goto fail;
            }
            cJSON_AddStringToObject(out, m->name, old->valuestring);
            continue;
        }
        if (destcfg_check_member(m, e, err, errlen) != 0)
            goto fail;
        if (m->secret) {
            char *sealed = crypto_seal(key, e->valuestring, strlen(e->valuestring));
            cJSON_AddStringToObject(out, m->name, sealed);
            free(sealed);
        } else {
            cJSON_AddItemToObject(out, m->name, cJSON_Duplicate(e, true));
        }
    }
    /* Secrets left out keep their stored values (write-only fields are sent back masked or
     * not at all); null, above, removes one. */
    for (const struct destcfg_member *m = ms; m->name != NULL; m++) {
        if (!m->secret || cJSON_GetObjectItemCaseSensitive(v, m->name) != NULL || *slot == NULL)
            continue;
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(*slot, m->name);
        if (cJSON_IsString(old))
            cJSON_AddStringToObject(out, m->name, old->valuestring);
    }
    for (const struct destcfg_member *m = ms; m->name != NULL; m++) {
        if (m->required && cJSON_GetObjectItemCaseSensitive(out, m->name) == NULL) {
            snprintf(err, errlen, "%s: is required", m->name);
            goto fail;
        }
    }
    if (destcfg_check_whole(field, out, err, errlen) != 0)
        goto fail;
    cJSON_Delete(*slot);
    *slot = out;
    return 0;
fail:
    cJSON_Delete(out);
    return -1;
}

cJSON *destcfg_to_api(const char *field, const cJSON *stored)
{
    const struct destcfg_member *ms = destcfg_members(field);
    if (stored == NULL || ms == NULL)
        return cJSON_CreateNull();
    cJSON *o = cJSON_Duplicate(stored, true);
    for (const struct destcfg_member *m = ms; m->name != NULL; m++)
        if (m->secret && cJSON_GetObjectItemCaseSensitive(o, m->name) != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(o, m->name,
                                                   cJSON_CreateString(BRIDGE_SECRET_MASK));
    return o;
}

bool destcfg_is_smtp_url(const char *url)
{
    return url != NULL &&
           (strncasecmp(url, "smtp://", 7) == 0 || strncasecmp(url, "smtps://", 8) == 0);
}

const char *destcfg_smtp_url_problem(const char *url)
{
    if (!destcfg_is_smtp_url(url))
        return "must start with smtp:// or smtps://";
    /* The authority rules are HTTP's; only the scheme differs. */
    const char *rest = strstr(url, "://") + 3;
    char *as_http = xasprintf("http://%s", rest);
    const char *why = bridge_url_problem(as_http);
    free(as_http);
    if (why == NULL && strchr(rest, '$') != NULL)
        return "must not hold templates (the mail server is fixed per route)";
    return why;
}

int destcfg_check_route(const char *outbound_url, const cJSON *email, const cJSON *oauth2,
                        char *field, size_t fieldlen, char *err, size_t errlen)
{
    bool smtp = destcfg_is_smtp_url(outbound_url);
    if (smtp && email == NULL) {
        snprintf(field, fieldlen, "email");
        snprintf(err, errlen, "is required when outbound_url is smtp:// or smtps://");
        return -1;
    }
    if (!smtp && email != NULL) {
        snprintf(field, fieldlen, "email");
        snprintf(err, errlen, "needs an smtp:// or smtps:// outbound_url");
        return -1;
    }
    if (smtp && oauth2 != NULL) {
        snprintf(field, fieldlen, "oauth2");
        snprintf(err, errlen, "is for HTTP destinations, not e-mail");
        return -1;
    }
    return 0;
}

char *destcfg_get(const cJSON *stored, const char *member, const unsigned char key[CRYPTO_KEY_LEN],
                  char *err, size_t errlen)
{
    err[0] = '\0';
    const cJSON *v = stored ? cJSON_GetObjectItemCaseSensitive(stored, member) : NULL;
    if (!cJSON_IsString(v))
        return NULL;
    if (!crypto_is_sealed(v->valuestring))
        return xstrdup(v->valuestring);
    char why[HB_ERR_LEN];
    char *plain = crypto_open(key, v->valuestring, NULL, why, sizeof(why));
    if (plain == NULL)
        snprintf(err, errlen, "%s: %s", member, why);
    return plain;
}

void destcfg_secret_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

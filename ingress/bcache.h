/*
 * bcache.h - the ingress's cache of bridges by endpoint, with what checking a request
 * needs made once: the inbound schema compiled, the auth secret decrypted.
 *
 * Every inbound request starts with a bridge lookup; reading and parsing the SQLite row,
 * compiling a JSON Schema (regexes included) and opening a secret each time would cost
 * more than the rest of the request. Entries live BCACHE_TTL_MS at most, so a change made
 * by another process shows within that time, and this process drops everything at once
 * when it changes a bridge itself (bcache_forget) or hears of another's change.
 */
#ifndef BCACHE_H
#define BCACHE_H

#include "auth.h"
#include "crypto.h"
#include "hb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BCACHE_TTL_MS 1000

struct bridge;
struct jsonschema;
struct store;
struct bcache;

struct bcache_entry {
    struct bridge *b;
    struct jsonschema *schema; /* compiled b->schema, or NULL */
    struct auth_params auth;   /* secret decrypted (auth_secret) */
    char *auth_secret;
    /* Non-empty when the bridge's auth secret cannot be opened: its requests get a 500
     * rather than being let through unchecked. */
    char auth_err[HB_ERR_LEN];
    bool needs_json; /* bridge_needs_json */
};

struct bcache *bcache_new(struct store *st, const unsigned char key[CRYPTO_KEY_LEN]);

/*
 * The bridge whose endpoint is `endpoint`. Returns the entry (valid until the next call
 * into this cache), or NULL with *rc STORE_NOTFOUND (no such bridge) or -1 (`err`: the
 * store failed or the row is unreadable).
 */
const struct bcache_entry *bcache_get(struct bcache *c, const char *endpoint, int *rc, char *err,
                                      size_t errlen);

/* Drop every entry (a bridge was created, changed or deleted). */
void bcache_forget(struct bcache *c);

void bcache_free(struct bcache *c);

#endif

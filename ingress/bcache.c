/*
 * bcache.c - bridges by endpoint, cached with what requests need (see bcache.h).
 *
 * A chained hash table; bridges are few (tens to thousands) and change rarely, so a full
 * drop on any change is simpler than per-entry invalidation and costs one reload each.
 */
#include "bcache.h"

#include "bridge.h"
#include "clock.h"
#include "jsonschema.h"
#include "log.h"
#include "store.h"
#include "text.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BCACHE_BUCKETS 1024
/* Past this many entries everything is dropped: a flood of distinct endpoints must not
 * grow memory without bound. */
#define BCACHE_MAX_ENTRIES 20000

struct bcache_node {
    struct bcache_node *next;
    struct bcache_entry e;
    int64_t loaded_mono;
};

struct bcache {
    struct store *st;
    unsigned char key[CRYPTO_KEY_LEN];
    struct bcache_node *buckets[BCACHE_BUCKETS];
    int count;
};

/* Endpoints come from the request path: a keyed hash, so that a client cannot choose paths
 * that all land in one bucket (each lookup would then walk them all). */
static unsigned bcache_hash(const char *endpoint)
{
    return (unsigned)(text_hash_keyed(endpoint, strlen(endpoint)) % BCACHE_BUCKETS);
}

static void bcache_node_free(struct bcache_node *n)
{
    bridge_free(n->e.b);
    jsonschema_free(n->e.schema);
    bridge_secret_free(n->e.auth_secret);
    free(n);
}

struct bcache *bcache_new(struct store *st, const unsigned char key[CRYPTO_KEY_LEN])
{
    struct bcache *c = xcalloc(1, sizeof(*c));
    c->st = st;
    memcpy(c->key, key, CRYPTO_KEY_LEN);
    return c;
}

void bcache_forget(struct bcache *c)
{
    for (int i = 0; i < BCACHE_BUCKETS; i++) {
        struct bcache_node *n = c->buckets[i];
        while (n != NULL) {
            struct bcache_node *next = n->next;
            bcache_node_free(n);
            n = next;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

void bcache_free(struct bcache *c)
{
    if (c == NULL)
        return;
    bcache_forget(c);
    sodium_memzero(c->key, sizeof(c->key));
    free(c);
}

/* Load one bridge and prepare what requests need. */
static struct bcache_node *bcache_load(struct bcache *c, const char *endpoint, int *rc, char *err,
                                       size_t errlen)
{
    char serr[HB_ERR_LEN];
    char *json = NULL;
    struct bridge *b = NULL;
    *rc = store_bridge_get_by_endpoint(c->st, endpoint, &json, serr, sizeof serr);
    if (*rc != 0) {
        snprintf(err, errlen, "%s", *rc == STORE_NOTFOUND ? "unknown endpoint" : serr);
        return NULL;
    }
    if (bridge_from_store(json, &b, err, errlen) != 0) {
        free(json);
        *rc = -1;
        return NULL;
    }
    free(json);
    struct bcache_node *n = xcalloc(1, sizeof(*n));
    n->e.b = b;
    n->e.needs_json = bridge_needs_json(b);
    n->loaded_mono = clock_mono_ms();
    if (b->schema != NULL && jsonschema_compile(b->schema, &n->e.schema, serr, sizeof(serr)) != 0) {
        /* It compiled at save; failing now means a damaged row or an older build. */
        snprintf(err, errlen, "bridge %s: stored schema does not compile: %s", b->id, serr);
        bcache_node_free(n);
        *rc = -1;
        return NULL;
    }
    if (bridge_auth_open(b, c->key, &n->e.auth, &n->e.auth_secret, n->e.auth_err,
                         sizeof(n->e.auth_err)) != 0 &&
        n->e.auth_err[0] == '\0')
        snprintf(n->e.auth_err, sizeof(n->e.auth_err), "auth settings unreadable");
    return n;
}

const struct bcache_entry *bcache_get(struct bcache *c, const char *endpoint, int *rc, char *err,
                                      size_t errlen)
{
    unsigned h = bcache_hash(endpoint);
    int64_t now = clock_mono_ms();
    struct bcache_node **pp = &c->buckets[h];
    while (*pp != NULL) {
        struct bcache_node *n = *pp;
        if (strcmp(n->e.b->endpoint, endpoint) == 0) {
            if (now - n->loaded_mono < BCACHE_TTL_MS) {
                *rc = 0;
                return &n->e;
            }
            *pp = n->next;
            bcache_node_free(n);
            c->count--;
            break;
        }
        pp = &n->next;
    }
    struct bcache_node *n = bcache_load(c, endpoint, rc, err, errlen);
    if (n == NULL)
        return NULL;
    if (c->count >= BCACHE_MAX_ENTRIES)
        bcache_forget(c);
    n->next = c->buckets[h];
    c->buckets[h] = n;
    c->count++;
    return &n->e;
}

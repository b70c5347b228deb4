/*
 * wbridges.c - the worker's parsed bridges by id, cached for WBRIDGES_TTL_MS (wbridges.h).
 *
 * A chained hash table owned by the process's single event loop thread (no locks). Each
 * node counts its references: one for being in the table, one per task holding it.
 */
#include "wbridges.h"

#include "bridge.h"
#include "clock.h"
#include "hb.h"
#include "store.h"
#include "shash.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WBRIDGES_BUCKETS 1024

struct wbridge {
    struct wbridge *next; /* in its bucket, while in the table */
    struct bridge *b;
    int64_t loaded_mono;
    int refs;
};

static struct wbridge *wbridges_buckets[WBRIDGES_BUCKETS];
static int wbridges_n;

static unsigned wbridges_hash(const char *id)
{
    return (unsigned)(shash(id, strlen(id)) % WBRIDGES_BUCKETS);
}

void wbridges_release(struct wbridge *ref)
{
    if (ref == NULL || --ref->refs > 0)
        return;
    bridge_free(ref->b);
    free(ref);
}

const struct bridge *wbridges_bridge(const struct wbridge *ref)
{
    return ref->b;
}

/* Take every node out of the table (all, or only those older than the TTL). */
static void wbridges_drop(bool expired_only, int64_t now)
{
    for (int i = 0; i < WBRIDGES_BUCKETS; i++) {
        struct wbridge **pp = &wbridges_buckets[i];
        while (*pp != NULL) {
            struct wbridge *n = *pp;
            if (expired_only && now - n->loaded_mono < WBRIDGES_TTL_MS) {
                pp = &n->next;
                continue;
            }
            *pp = n->next;
            n->next = NULL;
            wbridges_n--;
            wbridges_release(n);
        }
    }
}

void wbridges_forget(void)
{
    wbridges_drop(false, 0);
}

int wbridges_get(struct store *st, const char *id, bool fresh, struct wbridge **ref, char *err,
                 size_t errlen)
{
    unsigned h = wbridges_hash(id);
    int64_t now = clock_mono_ms();
    struct wbridge **pp = &wbridges_buckets[h];
    while (*pp != NULL) {
        struct wbridge *n = *pp;
        if (strcmp(n->b->id, id) == 0) {
            if (!fresh && now - n->loaded_mono < WBRIDGES_TTL_MS) {
                n->refs++;
                *ref = n;
                return 0;
            }
            /* Tasks still holding it keep their copy; new ones get the bridge as it is now. */
            *pp = n->next;
            n->next = NULL;
            wbridges_n--;
            wbridges_release(n);
            break;
        }
        pp = &n->next;
    }

    char *json = NULL;
    struct bridge *b = NULL;
    int rc = store_bridge_get(st, id, &json, err, errlen);
    if (rc != 0)
        return rc == STORE_NOTFOUND ? STORE_NOTFOUND : -1;
    if (bridge_from_store(json, &b, err, errlen) != 0) {
        free(json);
        return -1;
    }
    free(json);
    if (wbridges_n >= WBRIDGES_MAX_ENTRIES) {
        wbridges_drop(true, now);
        if (wbridges_n >= WBRIDGES_MAX_ENTRIES)
            wbridges_forget();
    }
    struct wbridge *n = xcalloc(1, sizeof(*n));
    n->b = b;
    n->loaded_mono = now;
    n->refs = 2; /* the table's and the caller's */
    n->next = wbridges_buckets[h];
    wbridges_buckets[h] = n;
    wbridges_n++;
    *ref = n;
    return 0;
}

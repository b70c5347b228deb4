/*
 * tmpdb.h - a fresh SQLite file in a temporary directory for one cmocka test, shared by
 * the unit tests of modules that need a real database (store, evwriter). Header-only: each
 * test is one program.
 */
#ifndef TMPDB_H
#define TMPDB_H

#include "hb.h"
#include "store.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tmpdb {
    char dir[64];
    char path[128];
    struct store *st;
};

/* A new directory under $TMPDIR (or /tmp) with hookbridge.db opened in it; NULL on failure. */
static inline struct tmpdb *tmpdb_open(void)
{
    struct tmpdb *d = xcalloc(1, sizeof(*d));
    const char *tmp = getenv("TMPDIR");
    snprintf(d->dir, sizeof(d->dir), "%s/hb-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(d->dir) == NULL) {
        free(d);
        return NULL;
    }
    snprintf(d->path, sizeof(d->path), "%s/hookbridge.db", d->dir);
    char err[HB_ERR_LEN];
    if (store_open(d->path, &d->st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rmdir(d->dir);
        free(d);
        return NULL;
    }
    return d;
}

/* Close it and remove the file, its WAL and the directory. Returns rmdir's result. */
static inline int tmpdb_close(struct tmpdb *d)
{
    store_close(d->st);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", d->path, suffixes[i]);
        unlink(p);
    }
    int rc = rmdir(d->dir);
    free(d);
    return rc;
}

#endif

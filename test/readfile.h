/*
 * readfile.h - a whole file as a NUL-terminated string, for test programs (the schema
 * test-suite runner, test/tools/schema_check). Header-only: each is one program.
 */
#ifndef READFILE_H
#define READFILE_H

#include "xalloc.h"

#include <stdio.h>

/* The file's bytes plus a NUL, or NULL when it cannot be opened. The caller frees it. */
static inline char *readfile(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, len = 0, n;
    char *buf = xmalloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

#endif

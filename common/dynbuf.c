/*
 * dynbuf.c - the capped growable buffer (see dynbuf.h).
 *
 * Growth doubles, so appends cost amortized O(1), but never allocates past max + 1 (the
 * NUL): a buffer capped at 4 MiB never holds more than that, whatever is added.
 */
#include "dynbuf.h"

#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYNBUF_FIRST 64

void dynbuf_init(struct dynbuf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->size = 0;
    b->max = max < SIZE_MAX ? max : SIZE_MAX - 1; /* room for the NUL */
}

/* Make room for `n` more bytes and the NUL, or free the buffer when that passes the cap. */
static int dynbuf_reserve(struct dynbuf *b, size_t n)
{
    if (n > b->max - b->len) {
        dynbuf_free(b);
        return DYNBUF_TOO_BIG;
    }
    size_t need = b->len + n + 1;
    if (need > b->size) {
        size_t size = b->size ? b->size : DYNBUF_FIRST;
        while (size < need)
            size = size > SIZE_MAX / 2 ? need : size * 2;
        if (size > b->max + 1)
            size = b->max + 1;
        b->p = xrealloc(b->p, size);
        b->size = size;
    }
    return 0;
}

int dynbuf_add(struct dynbuf *b, const void *mem, size_t n)
{
    int rc = dynbuf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->p + b->len, mem, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int dynbuf_addstr(struct dynbuf *b, const char *s)
{
    return dynbuf_add(b, s, strlen(s));
}

int dynbuf_addc(struct dynbuf *b, char c)
{
    return dynbuf_add(b, &c, 1);
}

int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        va_end(again);
        return -1;
    }
    int rc = dynbuf_reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *dynbuf_ptr(const struct dynbuf *b)
{
    return b->p ? b->p : "";
}

size_t dynbuf_len(const struct dynbuf *b)
{
    return b->len;
}

size_t dynbuf_max(const struct dynbuf *b)
{
    return b->max;
}

size_t dynbuf_room(const struct dynbuf *b)
{
    return b->max - b->len;
}

void dynbuf_truncate(struct dynbuf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->p[len] = '\0';
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
    char *out = b->p ? b->p : xstrdup("");
    if (len != NULL)
        *len = b->len;
    b->p = NULL;
    b->len = 0;
    b->size = 0;
    return out;
}

void dynbuf_free(struct dynbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->size = 0;
}

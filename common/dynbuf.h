/*
 * dynbuf.h - a growable byte buffer with a size cap, after curl's dynbuf
 * (docs/internals/DYNBUF.md): the largest size is given at init, and growing past it is a
 * clean error instead of an allocation as large as an attacker's input asks for.
 *
 * Used wherever output grows with data a sender controls (rendered templates), so that
 * one request cannot make a process allocate gigabytes. Allocation failure aborts, as
 * everywhere in hookbridge (xalloc.h).
 *
 * The struct is on the caller's stack; its fields are private to dynbuf.c.
 */
#ifndef DYNBUF_H
#define DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

/* What an add returns when the contents would grow past the buffer's maximum. */
#define DYNBUF_TOO_BIG (-2)

struct dynbuf {
    char *p;     /* NULL until something is added */
    size_t len;  /* bytes held, without the terminating NUL */
    size_t size; /* bytes allocated */
    size_t max;  /* the most `len` may become */
};

/* Start empty; the contents may never exceed `max` bytes. Allocates nothing. */
void dynbuf_init(struct dynbuf *b, size_t max);

/*
 * Append `n` bytes of `mem` (which may hold NULs). Returns 0, or DYNBUF_TOO_BIG when the
 * contents would exceed the maximum: then, as in curl, the buffer is freed and emptied, so
 * a caller that stops at the first error leaks nothing and never uses a half result.
 */
int dynbuf_add(struct dynbuf *b, const void *mem, size_t n);

/* dynbuf_add of a NUL-terminated string. */
int dynbuf_addstr(struct dynbuf *b, const char *s);

/* dynbuf_add of one byte. */
int dynbuf_addc(struct dynbuf *b, char c);

/* dynbuf_add of printf-formatted text (curl's curlx_dyn_addf). Returns 0, DYNBUF_TOO_BIG
 * (the buffer freed, as dynbuf_add), or -1 when the format fails (the buffer unchanged). */
int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dynbuf_printf with a va_list (curl's curlx_dyn_vaddf); `ap` is used up. */
int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents, always NUL-terminated ("" when empty); valid until the next change. */
const char *dynbuf_ptr(const struct dynbuf *b);

size_t dynbuf_len(const struct dynbuf *b);

/* The most the contents may hold, as given at init. */
size_t dynbuf_max(const struct dynbuf *b);

/* Bytes that may still be added. */
size_t dynbuf_room(const struct dynbuf *b);

/* Cut the contents to their first `len` bytes (a no-op when they are not longer). */
void dynbuf_truncate(struct dynbuf *b, size_t len);

/*
 * Hand the contents over: returns a NUL-terminated string the caller frees (never NULL;
 * "" when empty), sets *len when `len` is not NULL, and leaves the buffer empty with the
 * same maximum.
 */
char *dynbuf_take(struct dynbuf *b, size_t *len);

/* Free the contents; the buffer is empty and usable again with the same maximum. */
void dynbuf_free(struct dynbuf *b);

#endif

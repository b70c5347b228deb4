/*
 * xalloc.h - allocation that never returns NULL.
 *
 * hookbridge decides out-of-memory once, here: like tmux's xmalloc.c, an allocation
 * failure logs one line and aborts. A process that cannot allocate cannot keep its
 * promises about accepted jobs either, and the queue in Redis survives the abort (worker
 * jobs are put back by the reaper), so dying loudly is the safe choice.
 */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Print into a new string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Make cJSON allocate through xmalloc so that it never returns NULL on OOM either. */
void xalloc_init_cjson(void);

#endif

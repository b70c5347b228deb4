/*
 * log.c - structured logging to stderr (see log.h).
 *
 * Each record is formatted into one buffer and written with a single write(2), so lines
 * from several processes sharing a terminal or a pipe do not interleave.
 */
#include "log.h"

#include "clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum log_level log_min = LOG_INFO;
static bool log_json = true;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

int log_setup(const char *level, const char *format, char *err, size_t errlen)
{
    int found = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, log_names[i]) == 0)
            found = i;
    if (found < 0) {
        snprintf(err, errlen, "log level %s: must be debug, info, warn or error", level);
        return -1;
    }
    if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        snprintf(err, errlen, "log format %s: must be json or text", format);
        return -1;
    }
    log_min = (enum log_level)found;
    log_json = strcmp(format, "json") == 0;
    static bool at_exit;
    if (!at_exit && atexit(log_flush) == 0)
        at_exit = true;
    return 0;
}

bool log_enabled(enum log_level lvl)
{
    return lvl >= log_min;
}

struct log_line {
    char buf[8192];
    size_t len;
    bool cut; /* something did not fit */
};

static void log_put(struct log_line *l, const char *s, size_t n)
{
    /* Keep room for the closing characters; long records are cut, never overflow. */
    size_t room = sizeof(l->buf) - 8 - l->len;
    if (n > room) {
        n = room;
        l->cut = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void log_puts(struct log_line *l, const char *s)
{
    log_put(l, s, strlen(s));
}

static void log_put_json_string(struct log_line *l, const char *s)
{
    log_put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *out = esc;
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            n = 6;
        } else {
            out = (const char *)p;
            n = 1;
        }
        /* Cut between characters, never inside an escape, and keep room for the quote. */
        if (n + 1 > sizeof(l->buf) - 8 - l->len) {
            l->cut = true;
            break;
        }
        log_put(l, out, n);
    }
    log_put(l, "\"", 1);
}

static bool log_is_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '\0' || strlen(p) > 15)
        return false;
    /* JSON numbers have no leading zeros: "007" stays a string. */
    if (p[0] == '0' && p[1] != '\0')
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/*
 * Lines wait in a buffer and go out together (log_flush, called by each process's timer,
 * or when it fills): one write per request would cost the ingress more than the rest of
 * the request. Warnings and errors flush at once, with everything before them, so what
 * explains a failure is on disk before anything else happens.
 */
static char log_pending[64 * 1024];
static size_t log_pending_len;
/* The ingress's event writer thread logs too. Uncontended, the lock costs next to nothing. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t r = write(STDERR_FILENO, s, n);
        if (r <= 0)
            return; /* a closed or full stderr must not stop the process */
        s += r;
        n -= (size_t)r;
    }
}

static void log_flush_locked(void)
{
    log_write_all(log_pending, log_pending_len);
    log_pending_len = 0;
}

void log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    log_flush_locked();
    pthread_mutex_unlock(&log_lock);
}

static void log_out(const char *line, size_t n, bool now)
{
    pthread_mutex_lock(&log_lock);
    if (log_pending_len + n > sizeof(log_pending))
        log_flush_locked();
    if (n > sizeof(log_pending)) {
        log_write_all(line, n);
    } else {
        memcpy(log_pending + log_pending_len, line, n);
        log_pending_len += n;
        if (now)
            log_flush_locked();
    }
    pthread_mutex_unlock(&log_lock);
}

static void log_emit(enum log_level lvl, const char *msg, va_list ap)
{
    struct log_line l = {.len = 0};
    char ts[CLOCK_ISO_LEN];
    clock_iso8601(clock_now_ms(), ts);
    if (log_json) {
        log_puts(&l, "{\"ts\":\"");
        log_puts(&l, ts);
        log_puts(&l, "\",\"level\":\"");
        log_puts(&l, log_names[lvl]);
        log_puts(&l, "\",\"msg\":");
        log_put_json_string(&l, msg);
    } else {
        log_puts(&l, ts);
        log_puts(&l, " ");
        log_puts(&l, log_names[lvl]);
        log_puts(&l, " ");
        log_puts(&l, msg);
    }
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *val = va_arg(ap, const char *);
        if (val == NULL)
            continue;
        if (log_json) {
            size_t mark = l.len;
            l.cut = false;
            log_puts(&l, ",");
            log_put_json_string(&l, key);
            log_puts(&l, ":");
            if (log_is_number(val))
                log_puts(&l, val);
            else
                log_put_json_string(&l, val);
            /* Half a field would break the JSON: one that does not fit is left out whole. */
            if (l.cut)
                l.len = mark;
        } else {
            log_puts(&l, " ");
            log_puts(&l, key);
            log_puts(&l, "=");
            log_puts(&l, val);
        }
    }
    if (log_json)
        memcpy(l.buf + l.len++, "}", 1);
    l.buf[l.len++] = '\n';
    log_out(l.buf, l.len, lvl >= LOG_WARN);
}

void log_kv(enum log_level lvl, const char *msg, ...)
{
    if (lvl < log_min)
        return;
    va_list ap;
    va_start(ap, msg);
    log_emit(lvl, msg, ap);
    va_end(ap);
}

static void log_no_fields(enum log_level lvl, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_emit(lvl, msg, ap);
    va_end(ap);
}

void log_msgf(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_no_fields(lvl, msg, (const char *)NULL);
}

/*
 * log.h - one line per record on stderr, JSON by default ("ts, level, msg" and fields),
 * or `key=value` text for people at a terminal.
 *
 * Callers never pass secrets: values are logged as given. Records are buffered (log_flush)
 * so that a busy process makes one write for many lines. Fields are (key, value) string
 * pairs ended by NULL; a value made only of digits is written as a JSON number.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set level and format from their names; -1 and a message in err on an unknown name. */
int log_setup(const char *level, const char *format, char *err, size_t errlen);

/* True when records of `lvl` are written (to skip building fields that would be dropped). */
bool log_enabled(enum log_level lvl);

/* Write a record: log_kv(LOG_INFO, "delivered", "event_id", id, "status", "200", NULL). */
void log_kv(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));

/* Write out buffered records. Records below LOG_WARN wait in a buffer until this is called
 * (each process does every LOG_FLUSH_MS), until it fills, or until the process exits;
 * warnings and errors are written at once. */
void log_flush(void);

#define LOG_FLUSH_MS 100

/* Write a record whose message is formatted, with no fields. */
void log_msgf(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

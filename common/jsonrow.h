/*
 * jsonrow.h - reading the members of a stored JSON row (a bridge or a route as the store
 * keeps it), where a missing member takes its default, so that rows written before a field
 * existed still load, and a malformed one is an error the caller names.
 */
#ifndef JSONROW_H
#define JSONROW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A whole-number member into *out: absent gives `def`; anything but a whole number within
 * ±9e15 (exact in a double) returns false. */
bool jsonrow_int(const cJSON *o, const char *key, int64_t def, int64_t *out);

/* An optional JSON member: absent or null leaves *out as it is; else *out (freed first)
 * becomes a copy. `object` requires an object, else false. */
bool jsonrow_json(const cJSON *o, const char *key, bool object, cJSON **out);

/* A string member copied into buf (buflen bytes with its NUL): false when missing, not a
 * string, or too long. */
bool jsonrow_str_buf(const cJSON *o, const char *key, char *buf, size_t buflen);

/* For writing an optional member: a deep copy of `v`, or a JSON null when `v` is NULL. */
cJSON *jsonrow_copy_or_null(const cJSON *v);

#endif

/*
 * ids.h - identifiers: ULID-based ids ("brg_…", "evt_…") and unguessable endpoint tokens.
 *
 * ULIDs sort by creation time, so "newest first" and the `before` cursor of the events
 * list are plain string comparisons on the primary key.
 */
#ifndef IDS_H
#define IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDS_ULID_LEN 26
/* The ULID's leading characters that hold its time. */
#define IDS_TIME_LEN 10
/* 24 random bytes (192 bits) in unpadded base64url. */
#define IDS_ENDPOINT_LEN 32

/* Write prefix + a ULID for time `ms` into out (at least strlen(prefix) + 27 bytes). */
void ids_new(const char *prefix, int64_t ms, char *out, size_t outlen);

/*
 * Write prefix + the time part of a ULID for `ms` (at least strlen(prefix) + 11 bytes):
 * every id made before `ms` sorts below it, so "older than" is a range of the primary key
 * and needs no index of its own.
 */
void ids_time_bound(const char *prefix, int64_t ms, char *out, size_t outlen);

/* Write a fresh endpoint token (IDS_ENDPOINT_LEN characters + NUL). */
void ids_endpoint(char out[IDS_ENDPOINT_LEN + 1]);

/* True when `s` is `prefix` followed by a well-formed ULID. */
bool ids_valid(const char *prefix, const char *s);

/* True when `s` looks like an endpoint token (1..64 characters of [A-Za-z0-9_-]). */
bool ids_endpoint_valid(const char *s, size_t len);

#endif

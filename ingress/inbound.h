/*
 * inbound.h - what a bridge's source settings (common/source.h) do to one inbound request:
 * the handshake answer of `challenge`, the key of `dedup`, and the answer to an accepted
 * request (`response`, the xero preset's empty 200, a split's event_ids, or the 202).
 */
#ifndef INBOUND_H
#define INBOUND_H

#include "bcache.h"
#include "httpd.h"
#include "template.h"

#include <stdbool.h>
#include <stddef.h>

#define INBOUND_HASH_HEX 65

/* Lower-case hex of the SHA-256 of `n` bytes. */
void inbound_sha256_hex(const void *p, size_t n, char hex[INBOUND_HASH_HEX]);

/*
 * Whether the request described by `ctx` is the bridge's handshake. Returns 1 with *body
 * (the rendered `respond`, the caller frees it) and *ctype set; 0 when the bridge has no
 * challenge or the request does not match `when`; -1 with `err` when rendering failed.
 */
int inbound_challenge(const struct bridge *b, const struct tmpl_ctx *ctx, char **body,
                      const char **ctype, char *err, size_t errlen);

/*
 * The bridge's dedup key for this request: true with `hex` (the hash of the rendered key),
 * *ttl_s and *reject; false when the bridge has no dedup or the key renders empty (an
 * empty or missing key is not deduplicated).
 */
bool inbound_dedup_key(const struct bridge *b, const struct tmpl_ctx *ctx,
                       char hex[INBOUND_HASH_HEX], long *ttl_s, bool *reject);

/*
 * Whether this bridge's dedup key can be rendered from the body's text (jsonfind.h) instead
 * of a parsed payload: the key is one `$payload.a.b` reference and nothing else in the
 * source settings (challenge, split) needs the tree.
 */
bool inbound_dedup_from_text(const struct bridge *b);

/*
 * inbound_dedup_key for a bridge inbound_dedup_from_text accepts, the key rendered
 * straight from `body` (checked with body_check_json); the same result as rendering it
 * against the parsed body.
 */
bool inbound_dedup_key_text(const struct bridge *b, const char *body, size_t len,
                            char hex[INBOUND_HASH_HEX], long *ttl_s, bool *reject);

/*
 * Answer an accepted request. `record` is enqueue_batch's ("1:evt_…" or "S:evt_…,…") or,
 * with `plain`, one bare event id. `status` is "queued" or "scheduled"; `replayed` adds
 * Idempotent-Replayed: true. The xero preset answers 200 with no body, a `response`
 * replaces the answer, a split lists event_ids; else 202 {"event_id","status"}.
 */
void inbound_answer(struct httpd_req *req, const struct bcache_entry *e, const char *record,
                    bool plain, const char *status, bool replayed);

/* Whether the bridge's challenge or dedup may refer to `root` ("headers", "query"): the
 * objects are built only for those that do (a cheap over-estimate: a plain substring). */
bool inbound_uses(const struct bridge *b, const char *root);

/* The first event id of a record (a bare id with `plain`), copied into `out`. */
void inbound_first_id(const char *record, bool plain, char *out, size_t outlen);

#endif

/*
 * shash.h - a keyed string hash for tables whose keys come from outside (form names, JSON
 * object keys). An unkeyed hash lets a sender pick keys that all land in one bucket and turn
 * each insert into a scan of the table; SipHash-2-4 (libsodium's crypto_shorthash) under a
 * key drawn at random once per process leaves nothing to aim at.
 */
#ifndef SHASH_H
#define SHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of s[0..len) (may hold any bytes) under this process's random key. Safe to
 * call from any thread; the key is drawn on first use. */
uint64_t shash(const void *s, size_t len);

#endif

/*
 * ids.c - ULIDs and endpoint tokens (see ids.h). Randomness comes from libsodium, which
 * reads the kernel's CSPRNG; endpoints are secrets handed to senders, so they must be
 * unguessable, not merely unique.
 */
#include "ids.h"

#include <sodium.h>
#include <string.h>

static const char ids_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* 48 bits of time in 10 characters, most significant first. */
static void ids_time(int64_t ms, char out[IDS_TIME_LEN])
{
    uint64_t t = (uint64_t)ms;
    for (int i = IDS_TIME_LEN - 1; i >= 0; i--) {
        out[i] = ids_crockford[t & 31];
        t >>= 5;
    }
}

/* out = prefix + the NUL-terminated `tail`, or "" when it does not fit. */
static void ids_join(const char *prefix, const char *tail, char *out, size_t outlen)
{
    size_t plen = strlen(prefix), tlen = strlen(tail);
    if (outlen < plen + tlen + 1) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    memcpy(out, prefix, plen);
    memcpy(out + plen, tail, tlen + 1);
}

void ids_time_bound(const char *prefix, int64_t ms, char *out, size_t outlen)
{
    char t[IDS_TIME_LEN + 1];
    ids_time(ms, t);
    t[IDS_TIME_LEN] = '\0';
    ids_join(prefix, t, out, outlen);
}

/*
 * Random bytes for ids, drawn from the kernel 4 KiB at a time: one getrandom(2) per id was
 * a system call on every inbound request. Per thread, so threads never share bytes; a
 * process that forks after making ids would share the rest of its pool with the child
 * (ours never fork). Ids need uniqueness, not secrecy; endpoints, which are secrets, draw
 * their own bytes.
 */
#define IDS_POOL 4096
static _Thread_local unsigned char ids_pool[IDS_POOL];
static _Thread_local size_t ids_pool_left;

static const unsigned char *ids_random(size_t n)
{
    if (ids_pool_left < n) {
        randombytes_buf(ids_pool, sizeof(ids_pool));
        ids_pool_left = sizeof(ids_pool);
    }
    ids_pool_left -= n;
    return ids_pool + ids_pool_left;
}

void ids_new(const char *prefix, int64_t ms, char *out, size_t outlen)
{
    char ulid[IDS_ULID_LEN + 1];
    ids_time(ms, ulid);
    const unsigned char *rnd = ids_random(IDS_ULID_LEN - IDS_TIME_LEN);
    for (int i = IDS_TIME_LEN; i < IDS_ULID_LEN; i++)
        ulid[i] = ids_crockford[rnd[i - IDS_TIME_LEN] & 31];
    ulid[IDS_ULID_LEN] = '\0';
    ids_join(prefix, ulid, out, outlen);
}

void ids_endpoint(char out[IDS_ENDPOINT_LEN + 1])
{
    unsigned char rnd[24];
    randombytes_buf(rnd, sizeof(rnd));
    /* The token is also the local part of the bridge's e-mail address, and command-line
     * mailers (swaks, mail(1)) take an address starting with '-' for an option: the first
     * character is drawn again until it is a letter or digit (its top 6 bits below 62). That
     * costs 0.05 bits of the 192. */
    while ((rnd[0] >> 2) >= 62)
        randombytes_buf(rnd, 1);
    sodium_bin2base64(out, IDS_ENDPOINT_LEN + 1, rnd, sizeof(rnd),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool ids_valid(const char *prefix, const char *s)
{
    size_t plen = strlen(prefix);
    if (s == NULL || strncmp(s, prefix, plen) != 0 || strlen(s) != plen + IDS_ULID_LEN)
        return false;
    for (const char *p = s + plen; *p; p++)
        if (strchr(ids_crockford, *p) == NULL)
            return false;
    return true;
}

bool ids_endpoint_valid(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

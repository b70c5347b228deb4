/*
 * shash.c - keyed string hash, random key per process (see shash.h).
 */
#include "shash.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

static unsigned char shash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t shash_once = PTHREAD_ONCE_INIT;

static void shash_init(void)
{
    /* Both mains call sodium_init first; calling it again is harmless and lets unit tests
     * and tools use the hash without it. */
    if (sodium_init() < 0)
        abort();
    crypto_shorthash_keygen(shash_key);
}

uint64_t shash(const void *s, size_t len)
{
    pthread_once(&shash_once, shash_init);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, len > 0 ? s : (const void *)"", len, shash_key);
    uint64_t h = 0;
    for (size_t i = 0; i < crypto_shorthash_BYTES; i++)
        h = h << 8 | out[i];
    return h;
}

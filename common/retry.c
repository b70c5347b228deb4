/*
 * retry.c - the retry schedule (see retry.h).
 */
#include "retry.h"

#include <sodium.h>
#include <stdlib.h>

long retry_delay_seconds(int k, const long *delays, size_t ndelays, unsigned jitter)
{
    if (k < 0)
        k = 0;
    if (ndelays > 0) {
        size_t i = (size_t)k < ndelays ? (size_t)k : ndelays - 1;
        return delays[i];
    }
    long kk = k;
    return kk * kk * kk * kk + 15 + (long)(jitter % 30) * (kk + 1);
}

unsigned retry_jitter(void)
{
    return randombytes_uniform(30);
}

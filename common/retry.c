/*
 * retry.c - the retry schedule (see retry.h).
 */
#include "retry.h"

#include "clock.h"

#include <errno.h>
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

long retry_after_seconds(const char *value, int64_t now_ms)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        /* Too many digits for a long is still a valid delta-seconds: the cap below applies. */
        if (errno == ERANGE)
            errno = 0;
        if (errno != 0 || *end != '\0' || v < 0)
            return -1;
        /* Cap absurd values at a week, the longest delay a bridge may ask for. */
        return v > 604800 ? 604800 : v;
    }
    int64_t when;
    if (!clock_parse_http_date(value, &when))
        return -1;
    if (when <= now_ms)
        return 0;
    long secs = (long)((when - now_ms + 999) / 1000);
    return secs > 604800 ? 604800 : secs;
}

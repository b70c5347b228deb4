/*
 * clock.c - time helpers (see clock.h).
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_iso8601(int64_t ms, char out[CLOCK_ISO_LEN])
{
    /* Every log line and event prints one, mostly within the same second as the last: the
     * "YYYY-MM-DDTHH:MM:SS." part is kept per thread, and gmtime_r (which takes glibc's
     * time zone lock) and snprintf run once a second instead of once a line. */
    static _Thread_local int64_t cached_secs = INT64_MIN;
    static _Thread_local char cached[CLOCK_ISO_LEN]; /* 20 used; room for snprintf's worst case */
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int frac = (int)(ms - secs * 1000);
    if (secs != cached_secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        /* Years past 9999 cannot come from a real clock; clamping keeps the width fixed. */
        int year = tm.tm_year + 1900;
        if (year < 0 || year > 9999)
            year = 9999;
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.", year % 10000,
                 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
                 tm.tm_sec % 100);
        cached_secs = secs;
    }
    memcpy(out, cached, 20);
    out[20] = (char)('0' + frac / 100);
    out[21] = (char)('0' + frac / 10 % 10);
    out[22] = (char)('0' + frac % 10);
    out[23] = 'Z';
    out[24] = '\0';
}

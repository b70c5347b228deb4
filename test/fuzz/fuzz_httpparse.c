/*
 * fuzz_httpparse.c - libFuzzer harness for ingress/httpparse.c, the parser every inbound
 * byte goes through first. The first input byte picks a read size (1..16 bytes), so heads
 * and chunked bodies arrive split at every possible place, as they do off a socket; every
 * parsed name and value must be a NUL-terminated string of its reported length, and the
 * chunked decoder must never write past what it read.
 */
#include "httpparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] % 16 + 1;
    data++;
    size--;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    struct httpparse_scan scan = {0, false};
    size_t end = 0, n = 0;
    const char *err = NULL;
    int r = 0;
    while (r == 0 && n < size) {
        n = n + step < size ? n + step : size;
        r = httpparse_head_end(buf, n, &scan, &end, &err);
    }
    if (r == 1) {
        if (end > n)
            abort();
        struct httpparse_header hd[8];
        struct httpparse_head h;
        if (httpparse_head(buf, end, &h, hd, 8) == 0) {
            for (size_t i = 0; i < h.nheaders; i++)
                if (strlen(hd[i].name) != hd[i].name_len || strlen(hd[i].value) != hd[i].value_len)
                    abort();
            if (strlen(h.method) != h.method_len || strlen(h.target) != h.target_len)
                abort();
        }
        /* Whatever follows the head, as a chunked body. */
        struct httpparse_chunked st;
        httpparse_chunked_init(&st, 64);
        size_t rpos = end, wpos = end, have = end;
        int cr = 0;
        while (cr == 0 && have < size) {
            have = have + step < size ? have + step : size;
            cr = httpparse_chunked(&st, buf, &rpos, have, &wpos);
            if (wpos > rpos || rpos > have)
                abort();
        }
    }
    free(buf);
    return 0;
}

/*
 * test_shash.c - unit tests for common/shash.c: the hash is a function of the bytes (equal
 * input, equal hash; length counts, NULs included), and names that an unkeyed FNV-1a puts in
 * one slot spread over the slots of a table like any others.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shash.h"
#include "xalloc.h"

static void test_shash_deterministic(void **state)
{
    (void)state;
    assert_true(shash("status", 6) == shash("status", 6));
    char copy[] = "status";
    assert_true(shash(copy, 6) == shash("status", 6));
    assert_true(shash("status", 6) != shash("statu", 5));
    assert_true(shash("a\0b", 3) != shash("a\0c", 3));
    assert_true(shash("", 0) != shash("\0", 1));
}

/* FNV-1a's low bits depend only on the low bits before each byte, so names built from
 * blocks that agree there all share a slot; under shash they use about as many slots as
 * random names would. */
static void test_shash_spreads_fnv_collisions(void **state)
{
    (void)state;
    enum { BITS = 12, STAGES = 10 };
    const uint32_t mask = (1u << BITS) - 1;
    static const char az[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char blocks[STAGES][2][3];
    int seen[1 << BITS];
    uint32_t h = 2166136261u;
    for (int st = 0; st < STAGES; st++) {
        memset(seen, 0xFF, sizeof(seen));
        bool found = false;
        for (int i = 0; i < 62 * 62 && !found; i++) {
            uint32_t t = ((h ^ (unsigned char)az[i / 62]) * 16777619u ^ (unsigned char)az[i % 62]) *
                         16777619u;
            if (seen[t & mask] < 0) {
                seen[t & mask] = i;
                continue;
            }
            int p = seen[t & mask];
            snprintf(blocks[st][0], 3, "%c%c", az[p / 62], az[p % 62]);
            snprintf(blocks[st][1], 3, "%c%c", az[i / 62], az[i % 62]);
            h = t & mask;
            found = true;
        }
        assert_true(found);
    }
    /* 1024 names, 4096 slots: all in one slot under FNV-1a, about 900 slots at random. */
    static bool used[1 << BITS];
    int slots = 0;
    for (int n = 0; n < 1 << STAGES; n++) {
        char name[2 * STAGES];
        uint32_t f = 2166136261u;
        for (int st = 0; st < STAGES; st++)
            memcpy(name + 2 * st, blocks[st][(n >> st) & 1], 2);
        for (int k = 0; k < 2 * STAGES; k++)
            f = (f ^ (unsigned char)name[k]) * 16777619u;
        assert_int_equal(f & mask, h);
        uint64_t s = shash(name, sizeof(name)) & mask;
        if (!used[s]) {
            used[s] = true;
            slots++;
        }
    }
    if (slots < 800)
        fail_msg("1024 names in only %d slots", slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shash_deterministic),
        cmocka_unit_test(test_shash_spreads_fnv_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

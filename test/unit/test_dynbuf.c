/*
 * test_dynbuf.c - unit tests for common/dynbuf.c: appends up to the cap exactly, one byte
 * more is DYNBUF_TOO_BIG and frees the contents, take hands the string over, truncate and
 * free leave a usable buffer, and growth never allocates past the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dynbuf.h"

#include <stdlib.h>
#include <string.h>

static void test_empty(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 16);
    assert_string_equal(dynbuf_ptr(&b), "");
    assert_int_equal(dynbuf_len(&b), 0);
    assert_int_equal(dynbuf_room(&b), 16);
    size_t len = 99;
    char *s = dynbuf_take(&b, &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    dynbuf_free(&b);
}

static void test_add_up_to_the_cap(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 10);
    assert_int_equal(dynbuf_addstr(&b, "hello"), 0);
    assert_int_equal(dynbuf_addc(&b, ' '), 0);
    assert_int_equal(dynbuf_add(&b, "wo\0d", 4), 0);
    assert_int_equal(dynbuf_len(&b), 10);
    assert_int_equal(dynbuf_room(&b), 0);
    assert_memory_equal(dynbuf_ptr(&b), "hello wo\0d", 11);
    /* Adding nothing to a full buffer is fine. */
    assert_int_equal(dynbuf_add(&b, "", 0), 0);
    assert_int_equal(dynbuf_len(&b), 10);
    dynbuf_free(&b);
}

static void test_past_the_cap_frees(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 8);
    assert_int_equal(dynbuf_addstr(&b, "12345678"), 0);
    assert_int_equal(dynbuf_addc(&b, '9'), DYNBUF_TOO_BIG);
    /* Freed and emptied: no half result is left to use. */
    assert_int_equal(dynbuf_len(&b), 0);
    assert_string_equal(dynbuf_ptr(&b), "");
    /* Still usable with the same cap. */
    assert_int_equal(dynbuf_addstr(&b, "abc"), 0);
    assert_int_equal(dynbuf_addstr(&b, "123456"), DYNBUF_TOO_BIG);
    assert_int_equal(dynbuf_len(&b), 0);
    /* A single add larger than the cap fails without allocating its size. */
    assert_int_equal(dynbuf_add(&b, "x", (size_t)-1), DYNBUF_TOO_BIG);
    dynbuf_free(&b);
}

static void test_growth_stays_under_the_cap(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dynbuf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(dynbuf_len(&b), 1000);
    assert_true(b.size <= 1001);
    assert_int_equal(dynbuf_addc(&b, 'x'), DYNBUF_TOO_BIG);

    /* A large cap is a limit, not an allocation. */
    dynbuf_init(&b, (size_t)1 << 40);
    assert_int_equal(dynbuf_addstr(&b, "small"), 0);
    assert_true(b.size < 1024);
    dynbuf_free(&b);
}

static void test_take_and_truncate(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 64);
    assert_int_equal(dynbuf_addstr(&b, "abcdef"), 0);
    dynbuf_truncate(&b, 3);
    assert_string_equal(dynbuf_ptr(&b), "abc");
    dynbuf_truncate(&b, 10); /* longer than the contents: nothing */
    assert_string_equal(dynbuf_ptr(&b), "abc");
    size_t len = 0;
    char *s = dynbuf_take(&b, &len);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    free(s);
    /* Empty again, cap kept. */
    assert_int_equal(dynbuf_len(&b), 0);
    assert_int_equal(dynbuf_room(&b), 64);
    assert_int_equal(dynbuf_addstr(&b, "again"), 0);
    assert_string_equal(dynbuf_ptr(&b), "again");
    dynbuf_free(&b);
    assert_int_equal(dynbuf_len(&b), 0);
}

static void test_printf_appends_and_respects_the_cap(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 16);
    assert_int_equal(dynbuf_printf(&b, "%s=%d", "a", 42), 0);
    assert_int_equal(dynbuf_printf(&b, ";%lld", 7LL), 0);
    assert_string_equal(dynbuf_ptr(&b), "a=42;7");
    assert_int_equal(dynbuf_len(&b), 6);
    /* Exactly up to the cap is fine, one byte past it frees and empties. */
    assert_int_equal(dynbuf_printf(&b, "%010d", 0), 0);
    assert_int_equal(dynbuf_len(&b), 16);
    assert_int_equal(dynbuf_printf(&b, "%c", 'x'), DYNBUF_TOO_BIG);
    assert_int_equal(dynbuf_len(&b), 0);
    assert_string_equal(dynbuf_ptr(&b), "");
    /* A long text in one call grows the buffer past its first size. */
    dynbuf_init(&b, 1000);
    assert_int_equal(dynbuf_printf(&b, "%0500d", 1), 0);
    assert_int_equal(dynbuf_len(&b), 500);
    assert_int_equal(dynbuf_ptr(&b)[499], '1');
    dynbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_up_to_the_cap),
        cmocka_unit_test(test_past_the_cap_frees),
        cmocka_unit_test(test_growth_stays_under_the_cap),
        cmocka_unit_test(test_take_and_truncate),
        cmocka_unit_test(test_printf_appends_and_respects_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

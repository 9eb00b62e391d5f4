/* Growable buffer: appends, formatting past the small-buffer path, detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_and_printf(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_buf_puts(&b, "ab");
    pfs_buf_putc(&b, 'c');
    pfs_buf_append(&b, "\0d", 2);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "abc\0d", 5);
    pfs_buf_reset(&b);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pfs_buf_printf(&b, "%s|%d", big, 42);
    assert_int_equal(b.len, 999 + 3);
    assert_string_equal(b.data + 999, "|42");
    assert_int_equal(pfs_buf_status(&b), 0);
    char *s = pfs_buf_detach(&b);
    assert_null(b.data);
    assert_int_equal(strlen(s), 1002);
    free(s);
    pfs_buf_cleanup(&b);
}

static void test_detach_empty(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    char *s = pfs_buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_secret_cleanup(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_buf_puts(&b, "secret");
    pfs_buf_cleanup_secret(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_printf),
        cmocka_unit_test(test_detach_empty),
        cmocka_unit_test(test_secret_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The directory cache: sorted inserts, updates, removal, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "listing.h"

static void test_sorted_and_updated(void **state)
{
    (void)state;
    struct pfs_listing *l = pfs_listing_new();
    const char *names[] = {"m", "a", "z", "b", "a-b", "a/b", "y"};
    for (size_t i = 0; i < 7; i++)
        pfs_listing_put(l, names[i], i % 2, i, (int64_t)i);
    assert_int_equal(l->n, 7);
    for (size_t i = 1; i < l->n; i++)
        assert_true(strcmp(l->e[i - 1].name, l->e[i].name) < 0);
    struct pfs_dentry *d = pfs_listing_find(l, "z");
    assert_non_null(d);
    assert_int_equal(d->size, 2);
    d->meta_fetched = true;
    pfs_listing_put(l, "z", true, 99, 5); /* an update forgets the metadata */
    d = pfs_listing_find(l, "z");
    assert_int_equal(l->n, 7);
    assert_true(d->is_dir);
    assert_int_equal(d->size, 99);
    assert_false(d->meta_fetched);
    pfs_listing_remove(l, "a");
    pfs_listing_remove(l, "not-there");
    assert_int_equal(l->n, 6);
    assert_null(pfs_listing_find(l, "a"));
    assert_non_null(pfs_listing_find(l, "a-b"));
    char name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "f%04d", (i * 7919) % 1000);
        pfs_listing_put(l, name, false, 0, 0);
    }
    assert_int_equal(l->n, 1006);
    for (size_t i = 1; i < l->n; i++)
        assert_true(strcmp(l->e[i - 1].name, l->e[i].name) < 0);
    pfs_listing_free(l);
}

static void test_null_and_empty(void **state)
{
    (void)state;
    assert_null(pfs_listing_find(NULL, "x"));
    pfs_listing_put(NULL, "x", false, 0, 0);
    struct pfs_listing *l = pfs_listing_new();
    assert_null(pfs_listing_find(l, "x"));
    pfs_listing_remove(l, "x");
    pfs_listing_free(l);
    pfs_listing_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted_and_updated),
        cmocka_unit_test(test_null_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The negative-lookup cache: expiry, forgetting, per-parent names, the bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "negcache.h"

static void test_expiry_and_forget(void **state)
{
    (void)state;
    struct pfs_negcache *nc = pfs_negcache_new(100);
    pfs_negcache_add(nc, 1, "gone", 10.0);
    assert_true(pfs_negcache_known(nc, 1, "gone", 5.0));
    assert_false(pfs_negcache_known(nc, 2, "gone", 5.0)); /* another directory */
    assert_false(pfs_negcache_known(nc, 1, "other", 5.0));
    assert_false(pfs_negcache_known(nc, 1, "gone", 10.0)); /* expired, and dropped */
    assert_int_equal(pfs_negcache_size(nc), 0);
    pfs_negcache_add(nc, 1, "gone", 10.0);
    pfs_negcache_add(nc, 1, "gone", 20.0); /* re-adding replaces */
    assert_int_equal(pfs_negcache_size(nc), 1);
    assert_true(pfs_negcache_known(nc, 1, "gone", 15.0));
    pfs_negcache_forget(nc, 1, "gone");
    assert_false(pfs_negcache_known(nc, 1, "gone", 15.0));
    pfs_negcache_free(nc);
}

static void test_bounded(void **state)
{
    (void)state;
    struct pfs_negcache *nc = pfs_negcache_new(50);
    char name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        pfs_negcache_add(nc, 7, name, 100.0);
        assert_true(pfs_negcache_size(nc) <= 50);
    }
    assert_true(pfs_negcache_known(nc, 7, "n999", 1.0));
    pfs_negcache_free(nc);
    pfs_negcache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_and_forget),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

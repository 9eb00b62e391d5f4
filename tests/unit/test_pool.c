/* Worker pool: every task runs once, concurrency never exceeds the workers,
 * groups wait for exactly their tasks, and free drains the queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"

static _Atomic int running, peak, done;

static void task(void *arg)
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
    usleep(200);
    atomic_fetch_add((_Atomic int *)arg, 1);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&done, 1);
}

static void test_bounded_and_complete(void **state)
{
    (void)state;
    struct pfs_pool *p;
    assert_int_equal(pfs_pool_new(&p, 4), 0);
    assert_int_equal(pfs_pool_threads(p), 4);
    _Atomic int counter = 0;
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (int i = 0; i < 200; i++)
        assert_int_equal(pfs_pool_submit(p, &g, task, &counter), 0);
    pfs_task_group_wait(&g);
    assert_int_equal(atomic_load(&counter), 200);
    assert_true(atomic_load(&peak) <= 4);
    assert_true(atomic_load(&peak) >= 2);
    pfs_task_group_cleanup(&g);

    /* Tasks without a group still run before free returns. */
    atomic_store(&done, 0);
    _Atomic int other = 0;
    for (int i = 0; i < 50; i++)
        assert_int_equal(pfs_pool_submit(p, NULL, task, &other), 0);
    pfs_pool_free(p);
    assert_int_equal(atomic_load(&other), 50);
}

static void test_bad_size(void **state)
{
    (void)state;
    struct pfs_pool *p = (struct pfs_pool *)1;
    assert_int_not_equal(pfs_pool_new(&p, 0), 0);
    assert_null(p);
    pfs_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_and_complete),
        cmocka_unit_test(test_bad_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

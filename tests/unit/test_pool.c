/* Worker pool: every task runs once, concurrency never exceeds the workers,
 * groups wait for exactly their tasks, and free drains the queue; classes run
 * in priority order within their caps, and a task that waits for tasks it
 * submitted never deadlocks the pool. Each test runs under alarm(): a
 * deadlock fails it instead of hanging. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* A gate a task can wait at until the test opens it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void gate_wait(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_set(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static struct pfs_pool *nest_pool;
static _Atomic int leaves;

static void leaf(void *arg)
{
    (void)arg;
    usleep(1000);
    atomic_fetch_add(&leaves, 1);
}

/* A rename's copy: submits its parts to the pool it runs on and waits. */
static void parent(void *arg)
{
    int parts = *(int *)arg;
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (int i = 0; i < parts; i++)
        assert_int_equal(pfs_pool_submit(nest_pool, &g, leaf, NULL), 0);
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
}

static void test_nested_wait_never_deadlocks(void **state)
{
    (void)state;
    /* More waiting parents than workers, in every class: with a plain FIFO
     * every worker would wait for parts queued behind the other parents. */
    for (int cls = 0; cls < PFS_TASK_CLASSES; cls++) {
        for (size_t threads = 1; threads <= 3; threads++) {
            alarm(20);
            assert_int_equal(pfs_pool_new(&nest_pool, threads), 0);
            atomic_store(&leaves, 0);
            int parts = 4;
            struct pfs_task_group g;
            pfs_task_group_init(&g);
            for (int i = 0; i < 6; i++)
                assert_int_equal(
                    pfs_pool_submit_class(nest_pool, &g, (enum pfs_task_class)cls, parent, &parts),
                    0);
            pfs_task_group_wait(&g);
            pfs_task_group_cleanup(&g);
            assert_int_equal(atomic_load(&leaves), 6 * 4);
            pfs_pool_free(nest_pool);
            alarm(0);
        }
    }
}

static void test_background_cannot_starve_readahead(void **state)
{
    (void)state;
    alarm(20);
    struct pfs_pool *p;
    assert_int_equal(pfs_pool_new(&p, 2), 0);
    assert_int_equal(pfs_pool_class_limit(p, PFS_TASK_FOREGROUND), 2);
    assert_int_equal(pfs_pool_class_limit(p, PFS_TASK_BACKGROUND), 1);
    gate_open = false;
    /* Background tasks that block until a read-ahead task opens the gate:
     * only one of them may hold a worker, so the other stays for the read. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_BACKGROUND, gate_wait, NULL), 0);
    usleep(20000);
    assert_int_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_READAHEAD, gate_set, NULL), 0);
    pfs_pool_free(p); /* drains: hangs (alarm) if the gate never opens */
    assert_true(gate_open);
    alarm(0);
}

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[8];
static size_t n_order;

static void record(void *arg)
{
    pthread_mutex_lock(&order_lock);
    order[n_order++] = *(const char *)arg;
    pthread_mutex_unlock(&order_lock);
}

static void test_priority_order(void **state)
{
    (void)state;
    alarm(20);
    struct pfs_pool *p;
    assert_int_equal(pfs_pool_new(&p, 1), 0);
    gate_open = false;
    n_order = 0;
    assert_int_equal(pfs_pool_submit(p, NULL, gate_wait, NULL), 0);
    usleep(20000); /* the worker now waits at the gate */
    static const char b = 'b', r = 'r', f = 'f';
    assert_int_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_BACKGROUND, record, (void *)&b), 0);
    assert_int_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_READAHEAD, record, (void *)&r), 0);
    assert_int_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_BACKGROUND, record, (void *)&b), 0);
    assert_int_equal(pfs_pool_submit(p, NULL, record, (void *)&f), 0);
    assert_int_not_equal(pfs_pool_submit_class(p, NULL, PFS_TASK_CLASSES, record, (void *)&f), 0);
    gate_set(NULL);
    pfs_pool_free(p);
    order[n_order] = 0;
    assert_string_equal(order, "frbb");
    alarm(0);
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
        cmocka_unit_test(test_nested_wait_never_deadlocks),
        cmocka_unit_test(test_background_cannot_starve_readahead),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_bad_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

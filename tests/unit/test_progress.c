/* Uploads in flight: begin/add/end, the snapshot's order and remaining
 * bytes, a full table, the unmount line, and a reporter that waits for its
 * start condition and then writes that line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "progress.h"

static void test_snapshot(void **state)
{
    (void)state;
    struct pfs_progress_item items[4];
    uint64_t rest = 1;
    assert_int_equal(pfs_progress_snapshot(items, 4, &rest), 0);
    assert_int_equal(rest, 0);
    char line[256];
    pfs_progress_describe(line, sizeof(line));
    assert_string_equal(line, "");

    int a = pfs_progress_begin("small", 10);
    int b = pfs_progress_begin("big", 40 << 20);
    assert_true(a >= 0 && b >= 0 && a != b);
    pfs_progress_add(b, 24 << 20);
    pfs_progress_add(a, 4);
    assert_int_equal(pfs_progress_snapshot(items, 1, &rest), 2);
    assert_string_equal(items[0].key, "big"); /* the largest first */
    assert_int_equal(items[0].sent, 24 << 20);
    assert_int_equal(rest, (16 << 20) + 6);
    pfs_progress_describe(line, sizeof(line));
    assert_string_equal(line, "waiting for 2 uploads (16.0 MiB to send; largest big 24.0 MiB of "
                              "40.0 MiB)");
    pfs_progress_set_total(a, 100 << 20); /* a stream grows */
    assert_int_equal(pfs_progress_snapshot(items, 4, NULL), 2);
    assert_string_equal(items[0].key, "small");
    pfs_progress_end(a);
    pfs_progress_end(b);
    assert_int_equal(pfs_progress_snapshot(items, 4, &rest), 0);
    /* Ids outside the table are ignored. */
    pfs_progress_add(-1, 5);
    pfs_progress_end(-1);
    pfs_progress_end(PFS_PROGRESS_SLOTS);
}

static void test_full_table(void **state)
{
    (void)state;
    int ids[PFS_PROGRESS_SLOTS];
    for (int i = 0; i < PFS_PROGRESS_SLOTS; i++)
        assert_true((ids[i] = pfs_progress_begin("k", 1)) >= 0);
    assert_int_equal(pfs_progress_begin("one too many", 1), -1);
    for (int i = 0; i < PFS_PROGRESS_SLOTS; i++)
        pfs_progress_end(ids[i]);
    assert_int_equal(pfs_progress_snapshot(NULL, 0, NULL), 0);
}

static atomic_bool go;

static bool started(void *ctx)
{
    (void)ctx;
    return atomic_load(&go);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_reporter(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    int id = pfs_progress_begin("x", 1 << 20);
    struct pfs_progress_reporter *r;
    assert_int_equal(pfs_progress_reporter_start(&r, f, 0, started, NULL), 0);
    sleep_ms(300); /* not started: nothing written whatever the timing */
    pfs_progress_reporter_stop(r);
    fflush(f);
    assert_int_equal(len, 0);
    atomic_store(&go, true);
    assert_int_equal(pfs_progress_reporter_start(&r, f, 0, started, NULL), 0);
    for (int i = 0; i < 500; i++) { /* waits for the line, at most 5 s */
        pfs_progress_reporter_stop(r);
        fflush(f);
        if (len)
            break;
        assert_int_equal(pfs_progress_reporter_start(&r, f, 0, started, NULL), 0);
        sleep_ms(10);
    }
    assert_non_null(strstr(text, "presignfs: unmounting: waiting for 1 upload (1.0 MiB to send; "
                                 "largest x 0.0 MiB of 1.0 MiB) ...\n"));
    pfs_progress_end(id);
    fclose(f);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_reporter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

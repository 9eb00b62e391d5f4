/* The live counters: kinds, outcomes, histogram buckets, the log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

static int reset(void **state)
{
    (void)state;
    pfs_stats_reset();
    return 0;
}

static void test_kinds(void **state)
{
    (void)state;
    assert_int_equal(pfs_stats_req_kind("GET", true), PFS_REQ_GET);
    assert_int_equal(pfs_stats_req_kind("GET", false), PFS_REQ_LIST);
    assert_int_equal(pfs_stats_req_kind("PUT", true), PFS_REQ_PUT);
    assert_int_equal(pfs_stats_req_kind("HEAD", false), PFS_REQ_HEAD);
    assert_int_equal(pfs_stats_req_kind("DELETE", true), PFS_REQ_DELETE);
    assert_int_equal(pfs_stats_req_kind("POST", false), PFS_REQ_POST);
    assert_int_equal(pfs_stats_req_kind("PATCH", true), PFS_REQ_OTHER);
    assert_string_equal(pfs_stats_req_name(PFS_REQ_LIST), "LIST");
    assert_string_equal(pfs_stats_fuse_name(PFS_FOP_READDIRPLUS), "readdirplus");
    assert_string_equal(pfs_stats_fuse_name(PFS_FOP_STATFS), "statfs");
}

static void test_counts(void **state)
{
    (void)state;
    for (int i = 0; i < 10; i++)
        pfs_stats_request(PFS_REQ_PUT, true, 1, 3000);
    pfs_stats_request(PFS_REQ_PUT, false, 6, 20000000); /* past the last bound */
    pfs_stats_request(PFS_REQ_HEAD, true, 2, 1000);     /* on a bound: that bucket */
    pfs_stats_resign();
    pfs_stats_fuse_op(PFS_FOP_CREATE);
    pfs_stats_fuse_op(PFS_FOP_CREATE);
    pfs_stats_fuse_op(PFS_FOP_N); /* out of range: ignored */
    struct pfs_stats_snapshot s;
    pfs_stats_snapshot(&s);
    assert_int_equal(s.req[PFS_REQ_PUT].ok, 10);
    assert_int_equal(s.req[PFS_REQ_PUT].failed, 1);
    assert_int_equal(s.req[PFS_REQ_PUT].latency_sum_us, 10 * 3000 + 20000000);
    assert_int_equal(s.req[PFS_REQ_PUT].buckets[2], 10); /* <= 5 ms */
    assert_int_equal(s.req[PFS_REQ_PUT].buckets[PFS_STATS_N_BUCKETS], 1);
    assert_int_equal(s.req[PFS_REQ_HEAD].buckets[0], 1);
    assert_int_equal(s.req[PFS_REQ_GET].ok + s.req[PFS_REQ_GET].failed, 0);
    assert_int_equal(s.retries, 5 + 1);
    assert_int_equal(s.resigns, 1);
    assert_int_equal(s.fuse[PFS_FOP_CREATE], 2);
    pfs_stats_reset();
    pfs_stats_snapshot(&s);
    assert_int_equal(s.req[PFS_REQ_PUT].ok, 0);
    assert_int_equal(s.fuse[PFS_FOP_CREATE], 0);
}

static void test_line(void **state)
{
    (void)state;
    for (int i = 0; i < 10; i++)
        pfs_stats_request(PFS_REQ_PUT, true, 1, 10);
    pfs_stats_request(PFS_REQ_LIST, false, 3, 10);
    pfs_stats_fuse_op(PFS_FOP_CREATE);
    pfs_stats_bytes(5, 0);
    pfs_stats_bytes(7, 100);
    struct pfs_stats_snapshot s;
    pfs_stats_snapshot(&s);
    assert_int_equal(s.bytes_in, 12);
    assert_int_equal(s.bytes_out, 100);
    char line[512];
    int n = pfs_stats_format_line(line, sizeof(line), &s);
    assert_string_equal(
        line, "requests PUT=10 LIST=1 failed=1 retries=2 resigns=0 bytes_in=12 bytes_out=100 "
              "fuse create=1");
    assert_int_equal(n, (int)strlen(line));
    char small[12];
    assert_int_equal(pfs_stats_format_line(small, sizeof(small), &s), n);
    assert_string_equal(small, "requests PU");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kinds, reset),
        cmocka_unit_test_setup(test_counts, reset),
        cmocka_unit_test_setup(test_line, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

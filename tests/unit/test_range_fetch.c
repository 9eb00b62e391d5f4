/* One range of a pinned version (range_fetch.c) over the scripted fake
 * transport: without a data cache exactly the range, with If-Match and its
 * bytes reported as they arrive; with one, a miss fetches whole blocks and
 * stores them, so the same range again costs no GET and names the version
 * from the cache. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client_fx.h"
#include "pattern_fx.h"
#include "range_fetch.h"
#include "testutil.h"

#define MiB (1024ull * 1024)

/* A 206 of [from, from + len) of the object, version "v1". */
static void push_range(struct fx *f, uint64_t from, size_t len, uint64_t total)
{
    fx_push_pattern(f, from, len, total, "\"v1\"", NULL);
}

static size_t last_valid;

static void arrived(void *ctx, size_t valid, bool has_crc64, uint64_t crc64)
{
    (void)ctx, (void)has_crc64, (void)crc64;
    last_valid = valid;
}

static void test_without_a_cache_exactly_the_range(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    struct pfs_range_source src = {.client = f->c, .bucket = "bkt"};
    push_range(f, 1000, 3000, 10000);
    char buf[3000];
    size_t got;
    struct pfs_status st;
    struct pfs_range_fetch r = {.key = "k", .if_match = "\"v1\"", .arrived = arrived};
    last_valid = 0;
    assert_int_equal(pfs_range_fetch(&src, buf, sizeof(buf), 1000, &got, &r, &st), 0);
    assert_int_equal(got, 3000);
    fx_check_pattern(buf, 1000, 3000);
    assert_string_equal(r.got_etag, "\"v1\"");
    assert_true(r.from_store);
    assert_int_equal(last_valid, 3000);
    assert_string_equal(fake_http_header(f->fake, 0, "Range"), "bytes=1000-3999");
    assert_string_equal(fake_http_header(f->fake, 0, "If-Match"), "\"v1\"");
    destroy(f);
}

static void test_a_cache_miss_stores_whole_blocks(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    char *dir = tu_mkdtemp(), err[256];
    struct pfs_dcache *dc;
    assert_int_equal(pfs_dcache_open(&dc, dir, 0, err, sizeof(err)), 0);
    struct pfs_range_source src = {.client = f->c, .dc = dc, .bucket = "bkt"};
    const uint64_t size = 3 * MiB;
    push_range(f, MiB, MiB, size); /* the block around the read */
    char buf[4096];
    size_t got;
    struct pfs_status st;
    struct pfs_range_fetch r = {.key = "k", .if_match = "\"v1\"", .arrived = arrived};
    last_valid = 0;
    assert_int_equal(pfs_range_fetch(&src, buf, sizeof(buf), MiB + 100, &got, &r, &st), 0);
    assert_int_equal(got, sizeof(buf));
    fx_check_pattern(buf, MiB + 100, sizeof(buf));
    assert_string_equal(fake_http_header(f->fake, 0, "Range"), "bytes=1048576-2097151");
    assert_int_equal(last_valid, 0); /* a widened GET is not read as it arrives */
    struct pfs_range_fetch again = {.key = "k", .if_match = "\"v1\""};
    assert_int_equal(pfs_range_fetch(&src, buf, sizeof(buf), MiB + 5000, &got, &again, &st), 0);
    assert_int_equal(got, sizeof(buf));
    fx_check_pattern(buf, MiB + 5000, sizeof(buf));
    assert_false(again.from_store);
    assert_string_equal(again.got_etag, "\"v1\"");
    assert_int_equal(fake_http_count(f->fake), 1);
    pfs_dcache_close(dc);
    tu_rmtree(dir);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_a_cache_exactly_the_range),
        cmocka_unit_test(test_a_cache_miss_stores_whole_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

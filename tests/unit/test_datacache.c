/* The clean-data cache: hits and misses, LRU eviction order, the size bound
 * (block files on disk, not just the index), a corrupt or torn block is
 * dropped and never returned, an ETag change misses, the index survives a
 * reopen, leftovers of a crash are removed, a second opener is refused, and
 * the free-space margin without a size limit. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "datacache.h"
#include "testutil.h"

/* A block of 1000 bytes is charged one 4 KiB page; the directory's own
 * reserve is 64 KiB: this limit holds three such blocks. */
#define SMALL 1000
#define THREE ((64u << 10) + 3 * 4096)

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

static void fill(char *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(seed * 31 + (int)(i * 7));
}

static struct pfs_dcache *open_cache(uint64_t limit)
{
    struct pfs_dcache *dc = NULL;
    char err[256];
    assert_int_equal(pfs_dcache_open(&dc, dir, limit, err, sizeof(err)), 0);
    return dc;
}

static void put_block(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t b, int seed)
{
    char data[SMALL];
    fill(data, sizeof(data), seed);
    struct pfs_dcache_meta m = {.has_crc64 = true, .crc64 = 1234567u + (uint64_t)seed};
    assert_int_equal(pfs_dcache_put(dc, id, b, data, sizeof(data), &m), 0);
}

static bool has_block(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t b, int seed)
{
    static char buf[PFS_DCACHE_BLOCK];
    char want[SMALL];
    struct pfs_dcache_meta m = {0};
    ssize_t n = pfs_dcache_get(dc, id, b, buf, &m);
    if (n < 0) {
        assert_int_equal(n, -ENOENT);
        return false;
    }
    fill(want, sizeof(want), seed);
    assert_int_equal(n, SMALL);
    assert_memory_equal(buf, want, SMALL);
    assert_true(m.has_crc64);
    assert_int_equal(m.crc64, 1234567u + (uint64_t)seed);
    return true;
}

/* Sum of the sizes of the block files (and any temporary file) in dir. */
static uint64_t disk_bytes(void)
{
    uint64_t sum = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        char p[600];
        struct stat sb;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && stat(p, &sb) == 0)
            sum += ((uint64_t)sb.st_size + 4095) & ~4095ull;
    }
    closedir(d);
    return sum;
}

static void block_path(const struct pfs_dcache_id *id, uint64_t b, char *out, size_t len)
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", id->h[i]);
    snprintf(out, len, "%s/%s.%016llx.blk", dir, hex, (unsigned long long)b);
}

static void test_hit_miss_and_etag(void **state)
{
    (void)state;
    struct pfs_dcache *dc = open_cache(0);
    struct pfs_dcache_id v1, v1q, v2, other;
    pfs_dcache_id(&v1, "bkt", "a/file", "abc");
    pfs_dcache_id(&v1q, "bkt", "a/file", "\"abc\"");
    pfs_dcache_id(&v2, "bkt", "a/file", "abd");
    pfs_dcache_id(&other, "bkt2", "a/file", "abc");
    assert_memory_equal(v1.h, v1q.h, sizeof(v1.h)); /* quotes do not count */
    assert_memory_not_equal(v1.h, other.h, sizeof(v1.h));
    assert_false(has_block(dc, &v1, 0, 1));
    put_block(dc, &v1, 0, 1);
    assert_true(has_block(dc, &v1q, 0, 1));
    assert_false(has_block(dc, &v1, 1, 1));    /* another block */
    assert_false(has_block(dc, &v2, 0, 1));    /* a new ETag never reads old blocks */
    assert_false(has_block(dc, &other, 0, 1)); /* nor another bucket */
    struct pfs_dcache_stats st;
    pfs_dcache_get_stats(dc, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 4);
    assert_int_equal(st.hit_bytes, SMALL);
    assert_int_equal(st.stored_bytes, SMALL);
    assert_int_equal(st.blocks, 1);
    char big[PFS_DCACHE_BLOCK + 1];
    assert_int_equal(pfs_dcache_put(dc, &v1, 5, big, sizeof(big), NULL), -EINVAL);
    assert_int_equal(pfs_dcache_put(dc, &v1, 5, big, 0, NULL), -EINVAL);
    pfs_dcache_close(dc);
}

static void test_lru_order_and_bound(void **state)
{
    (void)state;
    struct pfs_dcache *dc = open_cache(THREE);
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, "b", "k", "e");
    put_block(dc, &id, 0, 0);
    put_block(dc, &id, 1, 1);
    put_block(dc, &id, 2, 2);
    assert_true(has_block(dc, &id, 0, 0)); /* 0 is now the most recent: 1 is the oldest */
    put_block(dc, &id, 3, 3);
    assert_false(has_block(dc, &id, 1, 1));
    assert_true(has_block(dc, &id, 2, 2)); /* most recent first: 2, 3, 0 */
    put_block(dc, &id, 4, 4);              /* evicts 0 */
    assert_false(has_block(dc, &id, 0, 0));
    assert_true(has_block(dc, &id, 2, 2));
    assert_true(has_block(dc, &id, 3, 3));
    assert_true(has_block(dc, &id, 4, 4));
    struct pfs_dcache_stats st;
    pfs_dcache_get_stats(dc, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.blocks, 3);
    assert_true(st.bytes <= THREE);
    assert_int_equal(disk_bytes(), st.bytes); /* evicted files are gone from disk */
    for (uint64_t b = 10; b < 40; b++)
        put_block(dc, &id, b, (int)b);
    assert_true(disk_bytes() + (64u << 10) <= THREE);
    pfs_dcache_close(dc);
    /* A limit that cannot hold one full block stores none (config.c asks
     * for at least 4M). */
    dc = open_cache(1 << 20);
    static char full[PFS_DCACHE_BLOCK];
    assert_int_equal(pfs_dcache_put(dc, &id, 0, full, sizeof(full), NULL), -ENOSPC);
    assert_true(disk_bytes() <= 1 << 20);
    pfs_dcache_close(dc);
}

static void corrupt_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void test_checksum_failure(void **state)
{
    (void)state;
    struct pfs_dcache *dc = open_cache(0);
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, "b", "corrupt", "e");
    char path[600];
    /* A flipped data byte, a flipped header byte, a torn (truncated) file,
     * a file of another block under this name: each is a miss, deleted. */
    for (int mode = 0; mode < 4; mode++) {
        put_block(dc, &id, 0, mode);
        put_block(dc, &id, 1, 7);
        block_path(&id, 0, path, sizeof(path));
        if (mode == 0)
            corrupt_byte(path, 80 + 500);
        else if (mode == 1)
            corrupt_byte(path, 50);
        else if (mode == 2)
            assert_int_equal(truncate(path, 80 + 400), 0);
        else {
            char other[600];
            block_path(&id, 1, other, sizeof(other));
            assert_int_equal(rename(other, path), 0);
        }
        assert_false(has_block(dc, &id, 0, mode));
        assert_int_equal(access(path, F_OK), -1);  /* dropped from disk */
        assert_false(has_block(dc, &id, 0, mode)); /* and from the index */
        put_block(dc, &id, 0, mode);               /* fetched again: good as new */
        assert_true(has_block(dc, &id, 0, mode));
        pfs_dcache_drop(dc, &id);
        assert_false(has_block(dc, &id, 0, mode));
    }
    struct pfs_dcache_stats st;
    pfs_dcache_get_stats(dc, &st);
    assert_int_equal(st.corrupt, 4);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.bytes, 0);
    pfs_dcache_close(dc);
}

static void test_restart(void **state)
{
    (void)state;
    struct pfs_dcache *dc = open_cache(0);
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, "b", "persist", "e");
    for (uint64_t b = 0; b < 3; b++)
        put_block(dc, &id, b, (int)b + 10);
    /* Use order 1, 2, 0 (most recent last); mtimes 1 s apart, as a
     * filesystem with coarse timestamps would still order them. */
    char path[600];
    const uint64_t order[] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        block_path(&id, order[i], path, sizeof(path));
        struct timespec ts[2] = {{1000000 + i, 0}, {1000000 + i, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    pfs_dcache_close(dc);
    /* A crash left a temporary file half written. */
    tu_write(dir, "tmp.abcdef", "half a block", 0600);
    tu_write(dir, "unrelated.txt", "not ours", 0600);
    dc = open_cache(THREE - 4096); /* a smaller limit: the oldest goes at open */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/tmp.abcdef", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_false(has_block(dc, &id, 1, 11)); /* the least recently used */
    assert_true(has_block(dc, &id, 2, 12));
    assert_true(has_block(dc, &id, 0, 10));
    /* A second mount of the same directory is refused while this one runs. */
    struct pfs_dcache *again = NULL;
    char err[256] = "";
    assert_int_equal(pfs_dcache_open(&again, dir, 0, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "in use by another mount"));
    pfs_dcache_close(dc);
    dc = open_cache(0);
    assert_true(has_block(dc, &id, 2, 12));
    pfs_dcache_close(dc);
}

static uint64_t fake_avail;

static int fake_space(void *ctx, uint64_t *avail, uint64_t *total)
{
    (void)ctx;
    *avail = fake_avail;
    *total = 100ull << 30;
    return 0;
}

static void test_margin(void **state)
{
    (void)state;
    assert_int_equal(pfs_dcache_margin(4ull << 30), 1ull << 30); /* at least 1 GiB */
    assert_int_equal(pfs_dcache_margin(100ull << 30), 10ull << 30);
    assert_int_equal(pfs_dcache_margin(1ull << 40), 20ull << 30); /* at most 20 GiB */
    struct pfs_dcache *dc = open_cache(0);
    pfs_dcache_set_space_fn(dc, fake_space, NULL);
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, "b", "margin", "e");
    fake_avail = (10ull << 30) + (1u << 20); /* room for the margin and a bit */
    put_block(dc, &id, 0, 0);
    put_block(dc, &id, 1, 1);
    /* The disk filled up meanwhile: storing evicts down to the margin ... */
    fake_avail = 10ull << 30;
    put_block(dc, &id, 2, 2);
    assert_false(has_block(dc, &id, 0, 0));
    assert_true(has_block(dc, &id, 2, 2));
    /* ... and with nothing left to evict, it stores nothing. */
    fake_avail = 1u << 20;
    char data[SMALL] = {0};
    pfs_dcache_drop(dc, &id);
    assert_int_equal(pfs_dcache_put(dc, &id, 9, data, sizeof(data), NULL), -ENOSPC);
    assert_false(has_block(dc, &id, 9, 0));
    pfs_dcache_close(dc);
}

/* Readers of the same blocks store and read them at once (as handles of
 * one mount do): every hit returns the exact bytes, nothing is torn. */
struct racer {
    struct pfs_dcache *dc;
    struct pfs_dcache_id id;
    int bad;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    static _Thread_local char buf[PFS_DCACHE_BLOCK];
    char want[SMALL * 50];
    for (int round = 0; round < 200; round++) {
        uint64_t b = (uint64_t)(round % 8);
        size_t len = SMALL * (1 + b);
        fill(want, len, (int)b);
        ssize_t n = pfs_dcache_get(r->dc, &r->id, b, buf, NULL);
        if (n >= 0 && (n != (ssize_t)len || memcmp(buf, want, len) != 0))
            r->bad++;
        if (n < 0)
            pfs_dcache_put(r->dc, &r->id, b, want, len, NULL);
        if (round % 50 == 49)
            pfs_dcache_drop(r->dc, &r->id); /* and the others miss and store again */
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct pfs_dcache *dc = open_cache(0);
    struct racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.dc = dc};
        pfs_dcache_id(&r[i].id, "b", "shared", "e");
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
    struct pfs_dcache_stats st;
    pfs_dcache_get_stats(dc, &st);
    assert_true(st.hits > 0);
    assert_int_equal(st.corrupt, 0);
    /* A block dropped while another thread stored it again may leave the
     * index counting a file already unlinked (a later miss), never the
     * other way: the disk holds at most what the limit accounts for. */
    assert_true(disk_bytes() <= st.bytes);
    pfs_dcache_close(dc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_miss_and_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_order_and_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_margin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

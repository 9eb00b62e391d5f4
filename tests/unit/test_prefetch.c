/* Read-ahead over the scripted transport: replies sent straight from a chunk
 * (pfs_prefetch_read_zc) outlive their reader and give the budget back at the
 * last unpin; a stream's first read is answered by a short GET alone and the
 * window follows at the second read; full-size buffers are used again and
 * freed once read-ahead is idle (readbudget.c). A one-thread pool keeps
 * requests in submission order. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client_fx.h"
#include "prefetch.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

static char pattern_at(uint64_t off)
{
    return (char)('a' + (off * 7 + off / 4093) % 26);
}

static void push_range(struct fx *f, uint64_t from, size_t len, uint64_t total)
{
    char *body = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        body[i] = pattern_at(from + i);
    body[len] = '\0';
    char cr[128];
    snprintf(cr, sizeof(cr), "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from,
             from + len - 1, total);
    fake_http_push(f->fake, 206, body, (const char *[]){cr, "ETag: \"v1\"", NULL});
    free(body);
}

static void check_bytes(const char *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_at(off + i))
            fail_msg("byte %" PRIu64 " differs", off + i);
}

static uint64_t used(struct pfs_budget *b)
{
    uint64_t u, limit;
    pfs_budget_usage(b, &u, &limit);
    return u;
}

static void test_reply_from_the_chunk_outlives_its_reader(void **state)
{
    (void)state;
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 1);
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, 64 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    push_range(f, 0, 16, 16);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", 16);
    assert_non_null(p);
    char buf[8];
    memset(buf, 'X', sizeof(buf));
    const void *zc;
    struct pfs_prefetch_pin *pin;
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read_zc(p, buf, 4, 0, &zc, &pin, &st), 4);
    assert_non_null(zc);
    assert_non_null(pin);
    check_bytes(zc, 0, 4);
    assert_memory_equal(buf, "XXXXXXXX", 8); /* nothing was copied */
    /* The handle closes while the reply is still being written. */
    pfs_prefetch_free(p);
    assert_int_equal(used(b), 16);
    check_bytes(zc, 0, 4);
    pfs_prefetch_unpin(pin);
    assert_int_equal(used(b), 0);
    pfs_prefetch_unpin(NULL);
    assert_int_equal(fake_http_count(f->fake), 1); /* the object is shorter than a head */
    pfs_budget_free(b);
    destroy(f);
}

static void test_first_read_takes_a_short_get_then_the_window(void **state)
{
    (void)state;
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 1);
    const uint64_t size = 4 * MiB, head = PFS_PREFETCH_HEAD;
    /* A budget of exactly these two chunks: no read-ahead beyond them. */
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, head + PFS_PREFETCH_MIN_WINDOW, PFS_PREFETCH_MAX_CHUNK), 0);
    push_range(f, 0, head, size);
    push_range(f, head, PFS_PREFETCH_MIN_WINDOW, size);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    char buf[8192];
    const void *zc;
    struct pfs_prefetch_pin *pin;
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read_zc(p, buf, 4096, 0, &zc, &pin, &st), 4096);
    assert_non_null(zc);
    check_bytes(zc, 0, 4096);
    pfs_prefetch_unpin(pin);
    assert_int_equal(fake_http_count(f->fake), 1); /* the window waits for a second read */
    assert_string_equal(fake_http_header(f->fake, 0, "Range"), "bytes=0-131071");
    /* The second read crosses into the window's first chunk, which starts
     * whole where the short one ends; the crossing read is copied. */
    assert_int_equal(pfs_prefetch_read_zc(p, buf, 8192, head - 4096, &zc, &pin, &st), 8192);
    assert_null(zc);
    assert_null(pin);
    check_bytes(buf, head - 4096, 8192);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_header(f->fake, 1, "Range"), "bytes=131072-1179647");
    assert_string_equal(fake_http_header(f->fake, 1, "If-Match"), "\"v1\"");
    pfs_prefetch_free(p);
    assert_int_equal(fake_http_count(f->fake), 2);
    pfs_budget_free(b);
    destroy(f);
}

struct reader {
    struct pfs_prefetch *p;
    uint64_t off;
    size_t len;
    char buf[4096];
    ssize_t n;
};

static void *read_in_thread(void *arg)
{
    struct reader *r = arg;
    struct pfs_status st;
    r->n = pfs_prefetch_read(r->p, r->buf, r->len, r->off, &st);
    return NULL;
}

/* A read waits for its chunk; another read of the handle jumps, which drops
 * that chunk, and the chunk's task then frees it. The waiting read must look
 * again rather than touch the freed chunk (ASan), and reads the right bytes
 * with a GET of its own. */
static void test_a_chunk_dropped_while_a_read_waits_for_it(void **state)
{
    (void)state;
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 1);
    const uint64_t size = 4 * MiB, head = PFS_PREFETCH_HEAD;
    struct pfs_budget *b; /* room for the short chunk alone: no read-ahead after it */
    assert_int_equal(pfs_budget_new(&b, head, PFS_PREFETCH_MAX_CHUNK), 0);
    push_range(f, 0, head, size);       /* 0: the short chunk, held */
    push_range(f, 3 * MiB, 4096, size); /* 1: the jump's own GET */
    push_range(f, 0, 4096, size);       /* 2: the waiting read's own GET */
    fake_http_hold(f->fake, 0);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    struct reader a = {.p = p, .off = 0, .len = 4096};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_in_thread, &a), 0);
    fake_http_wait_held(f->fake);
    while (pfs_prefetch_waiting(p) == 0)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* until it waits: not a timing guess */
    char buf[4096];
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read(p, buf, 4096, 3 * MiB, &st), 4096);
    check_bytes(buf, 3 * MiB, 4096);
    fake_http_release(f->fake);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.n, 4096);
    check_bytes(a.buf, 0, 4096);
    assert_int_equal(fake_http_count(f->fake), 3);
    assert_string_equal(fake_http_header(f->fake, 2, "Range"), "bytes=0-4095");
    pfs_prefetch_free(p);
    assert_int_equal(used(b), 0);
    pfs_budget_free(b);
    destroy(f);
}

static char object_byte(unsigned long long off)
{
    return pattern_at(off);
}

/* Reads 64 MiB in 1 MiB reads, each group of eight in the order given;
 * returns the GETs it cost and checks that every byte was fetched once (a
 * read taken for a jump drops the window, whose bytes are fetched again)
 * and that no chunk outlived its last read. */
static size_t read_in_groups_of_eight(const int order[8])
{
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 1);
    const uint64_t size = 64 * MiB;
    fake_http_serve_object(f->fake, size, "\"v1\"", object_byte);
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, 512 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    char *buf = malloc(MiB);
    struct pfs_status st;
    for (uint64_t group = 0; group < size / (8 * MiB); group++)
        for (int i = 0; i < 8; i++) {
            uint64_t off = (group * 8 + (uint64_t)order[i]) * MiB;
            assert_int_equal(pfs_prefetch_read(p, buf, MiB, off, &st), (ssize_t)MiB);
            check_bytes(buf, off, MiB);
        }
    free(buf);
    assert_int_equal(used(b), 0); /* each chunk went as soon as all of it was read */
    pfs_prefetch_free(p);
    size_t gets = fake_http_count(f->fake);
    uint64_t fetched = 0;
    for (size_t i = 0; i < gets; i++) {
        unsigned long long a, z;
        const char *range = fake_http_header(f->fake, i, "Range");
        assert_non_null(range);
        assert_int_equal(sscanf(range, "bytes=%llu-%llu", &a, &z), 2);
        fetched += z - a + 1;
    }
    assert_int_equal(fetched, size);
    pfs_budget_free(b);
    destroy(f);
    return gets;
}

/* With a larger read_ahead_kb the kernel sends 1 MiB reads, eight at a time,
 * taken by several FUSE threads: they arrive in any order within that span.
 * None of them may count as a jump (which dropped the window and fetched it
 * again: 661 GETs for 512 MiB with read_ahead_kb=4096). */
static void test_reads_arriving_out_of_order_stay_sequential(void **state)
{
    (void)state;
    static const int in_order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const int scrambled[8] = {0, 3, 1, 7, 2, 6, 4, 5};
    size_t ordered = read_in_groups_of_eight(in_order);
    assert_true(ordered <= 16); /* the chunks grow from 1 MiB to the largest */
    /* The window grows a little later (12 and 15 GETs), never starts over. */
    assert_true(read_in_groups_of_eight(scrambled) <= 16);
}

static void test_full_size_buffers_are_reused_while_reading(void **state)
{
    (void)state;
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, 100, 10), 0);
    assert_true(pfs_budget_try_take(b, 10));
    assert_true(pfs_budget_try_take(b, 10));
    char *one = pfs_budget_buf_get(b, 10), *two = pfs_budget_buf_get(b, 10);
    assert_non_null(one);
    assert_non_null(two);
    pfs_budget_buf_put(b, one, 10);
    pfs_budget_give(b, 10);
    assert_int_equal(pfs_budget_spares(b), 1); /* still reading: kept */
    assert_ptr_equal(pfs_budget_buf_get(b, 10), one);
    assert_int_equal(pfs_budget_spares(b), 0);
    char *small = pfs_budget_buf_get(b, 3); /* another size: plain malloc */
    pfs_budget_buf_put(b, small, 3);
    assert_int_equal(pfs_budget_spares(b), 0);
    pfs_budget_buf_put(b, one, 10);
    pfs_budget_buf_put(b, two, 10);
    assert_int_equal(pfs_budget_spares(b), 2);
    pfs_budget_give(b, 10);
    assert_int_equal(used(b), 0);
    assert_int_equal(pfs_budget_spares(b), 0); /* idle: nothing held */
    assert_false(pfs_budget_try_take(b, 101));
    pfs_budget_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_from_the_chunk_outlives_its_reader),
        cmocka_unit_test(test_first_read_takes_a_short_get_then_the_window),
        cmocka_unit_test(test_full_size_buffers_are_reused_while_reading),
        cmocka_unit_test(test_a_chunk_dropped_while_a_read_waits_for_it),
        cmocka_unit_test(test_reads_arriving_out_of_order_stay_sequential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Read-ahead over the scripted transport: replies sent straight from a chunk
 * (pfs_prefetch_read_zc) outlive their reader and give the budget back at the
 * last unpin; a stream's first read is answered by a short GET alone and the
 * window follows at the second read; full-size buffers are used again and
 * freed once read-ahead is idle (readbudget.c); reads that arrive out of
 * order stay one stream, a range read twice counts once, and a jump forgets
 * a long read. A one-thread pool keeps requests in submission order. */
#include <inttypes.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client_fx.h"
#include "pattern_fx.h"
#include "crc64.h"
#include "prefetch.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

/* A 206 of [from, from + len) of the object, version "v1". */
static void push_range(struct fx *f, uint64_t from, size_t len, uint64_t total)
{
    fx_push_pattern(f, from, len, total, "\"v1\"", NULL);
}

/* Returns once every read-ahead task submitted so far has ended: a no-op
 * task of the same class behind them on the one-thread pool. */
static void noop(void *arg)
{
    (void)arg;
}

static void settle(struct fx *f)
{
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    assert_int_equal(pfs_pool_submit_class(f->pool, &g, PFS_TASK_READAHEAD, noop, NULL), 0);
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
}

/* Until n reads of p wait: not a timing guess. */
static void wait_for_waiting(struct pfs_prefetch *p, int n)
{
    while (pfs_prefetch_waiting(p) < n)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
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
    fx_check_pattern(zc, 0, 4);
    assert_memory_equal(buf, "XXXXXXXX", 8); /* nothing was copied */
    /* The handle closes while the reply is still being written. */
    pfs_prefetch_free(p);
    assert_int_equal(used(b), 16);
    fx_check_pattern(zc, 0, 4);
    pfs_prefetch_unpin(pin);
    settle(f); /* the bytes may have been taken while the chunk's GET still ran */
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
    fx_check_pattern(zc, 0, 4096);
    pfs_prefetch_unpin(pin);
    assert_int_equal(fake_http_count(f->fake), 1); /* the window waits for a second read */
    assert_string_equal(fake_http_header(f->fake, 0, "Range"), "bytes=0-131071");
    /* The second read crosses into the window's first chunk, which starts
     * whole where the short one ends; the crossing read is copied. */
    assert_int_equal(pfs_prefetch_read_zc(p, buf, 8192, head - 4096, &zc, &pin, &st), 8192);
    assert_null(zc);
    assert_null(pin);
    fx_check_pattern(buf, head - 4096, 8192);
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
    wait_for_waiting(p, 1);
    char buf[4096];
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read(p, buf, 4096, 3 * MiB, &st), 4096);
    fx_check_pattern(buf, 3 * MiB, 4096);
    fake_http_release(f->fake);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.n, 4096);
    fx_check_pattern(a.buf, 0, 4096);
    assert_int_equal(fake_http_count(f->fake), 3);
    assert_string_equal(fake_http_header(f->fake, 2, "Range"), "bytes=0-4095");
    pfs_prefetch_free(p);
    settle(f); /* the dropped chunk's task (the waiting read may go on before it ends) */
    assert_int_equal(used(b), 0);
    pfs_budget_free(b);
    destroy(f);
}

/* Releases a held request once told to, or after 5 s if never told: a read
 * that wrongly waits for the whole body then returns, and the test fails on
 * what it sees instead of hanging. */
struct watchdog {
    struct fake_http *fake;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool go, released;
    pthread_t t;
};

static void *watchdog_run(void *arg)
{
    struct watchdog *w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&w->lock);
    while (!w->go && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    w->released = true;
    pthread_mutex_unlock(&w->lock);
    fake_http_release(w->fake);
    return NULL;
}

static void watchdog_start(struct watchdog *w, struct fake_http *fake)
{
    *w = (struct watchdog){.fake = fake};
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    assert_int_equal(pthread_create(&w->t, NULL, watchdog_run, w), 0);
}

static bool watchdog_released(struct watchdog *w)
{
    pthread_mutex_lock(&w->lock);
    bool r = w->released;
    pthread_mutex_unlock(&w->lock);
    return r;
}

static void watchdog_release(struct watchdog *w)
{
    pthread_mutex_lock(&w->lock);
    w->go = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->t, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

/* One reader of a 64 KiB object pinned at "v1", whose one chunk is the
 * whole object; on a one-thread pool whose client retries `retries` times. */
#define SMALL (64 * KiB)

struct small {
    struct fx *f;
    struct pfs_budget *b;
    struct pfs_prefetch *p;
};

static struct small small_new_of(enum pfs_dialect d, int retries)
{
    struct small s = {.f = make_pool(d, retries, 1)};
    assert_int_equal(pfs_budget_new(&s.b, 64 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    s.p = pfs_prefetch_new(s.f->c, s.f->pool, s.b, NULL, "bkt", "k", "\"v1\"", SMALL);
    assert_non_null(s.p);
    return s;
}

static struct small small_new(int retries)
{
    return small_new_of(PFS_DIALECT_S3, retries);
}

/* The small object's bytes (malloc'd, NUL-ended), and in crc a TOS header
 * naming a CRC-64 that is not theirs. */
static char *small_body_with_wrong_crc(char crc[96])
{
    char *body = malloc(SMALL + 1);
    for (uint64_t i = 0; i < SMALL; i++)
        body[i] = fx_pattern_at(i);
    body[SMALL] = '\0';
    snprintf(crc, 96, "x-tos-hash-crc64ecma: %" PRIu64, pfs_crc64_update(0, body, SMALL) ^ 1);
    return body;
}

static void small_free(struct small *s)
{
    pfs_prefetch_free(s->p);
    pfs_budget_free(s->b);
    destroy(s->f);
}

static char other_byte(uint64_t off)
{
    return (char)('A' + off % 26);
}

/* Queues the whole small object as a 206 of version etag, its bytes from
 * byte_at; cut (0: none) ends the body after that many bytes with a reset. */
static void push_small(struct small *s, char (*byte_at)(uint64_t), const char *etag, size_t cut)
{
    char *body = malloc(SMALL + 1), tag[32];
    for (uint64_t i = 0; i < SMALL; i++)
        body[i] = byte_at(i);
    body[SMALL] = '\0';
    snprintf(tag, sizeof(tag), "ETag: %s", etag);
    const char *headers[] = {"Content-Range: bytes 0-65535/65536", tag, NULL};
    fake_http_push_cut(s->f->fake, 206, body, headers, cut);
    free(body);
}

/* Holds the first GET after held bytes of its body and reads the first
 * 4 KiB: answered from the chunk (pinned, *pin) while the rest of the body
 * is still held. The watchdog releases the hold. */
static const void *read_head_while_held(struct small *s, struct watchdog *w, size_t held,
                                        struct pfs_prefetch_pin **pin)
{
    fake_http_hold_body(s->f->fake, 0, held);
    watchdog_start(w, s->f->fake);
    char buf[4096];
    const void *zc;
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read_zc(s->p, buf, 4096, 0, &zc, pin, &st), 4096);
    assert_false(watchdog_released(w)); /* answered before the rest of the body */
    assert_non_null(zc);
    fx_check_pattern(zc, 0, 4096);
    return zc;
}

/* The bytes of a chunk are read as they arrive: with its GET held after
 * half of its body, a read of the first half returns (while the transfer is
 * still held), a read of the second half waits for it, and both are the
 * object's bytes, from the one GET. */
static void test_a_chunk_is_read_while_it_arrives(void **state)
{
    (void)state;
    struct small s = small_new(0);
    push_small(&s, fx_pattern_at, "\"v1\"", 0);
    struct watchdog w;
    struct pfs_prefetch_pin *pin;
    read_head_while_held(&s, &w, 32 * KiB, &pin);
    pfs_prefetch_unpin(pin);
    char buf[4096];
    struct pfs_status st;
    struct reader r = {.p = s.p, .off = 40 * KiB, .len = 4096};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_in_thread, &r), 0);
    wait_for_waiting(s.p, 1); /* past what has arrived: it waits */
    watchdog_release(&w);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.n, 4096);
    fx_check_pattern(r.buf, 40 * KiB, 4096);
    assert_int_equal(pfs_prefetch_read(s.p, buf, 4096, SMALL - 4096, &st), 4096);
    fx_check_pattern(buf, SMALL - 4096, 4096);
    assert_int_equal(fake_http_count(s.f->fake), 1);
    assert_string_equal(fake_http_header(s.f->fake, 0, "If-Match"), "\"v1\"");
    small_free(&s);
}

/* A chunk's GET is cut after some of its bytes were read; the retry is
 * answered by another version (a store that ignores If-Match). The bytes
 * already read stay those of the pinned version, even in a reply still
 * sending from the chunk (the retry writes nothing below what was read), and
 * the rest of the chunk is an I/O error, never the other version's bytes. */
static void test_a_retry_never_rewrites_what_was_read(void **state)
{
    (void)state;
    struct small s = small_new(1);
    push_small(&s, fx_pattern_at, "\"v1\"", 32 * KiB);
    push_small(&s, other_byte, "\"v2\"", 0);
    struct watchdog w;
    struct pfs_prefetch_pin *pin;
    const void *zc = read_head_while_held(&s, &w, 16 * KiB, &pin);
    char buf[4096];
    struct pfs_status st;
    watchdog_release(&w); /* the cut, then the other version's answer */
    settle(s.f);
    assert_int_equal(fake_http_count(s.f->fake), 2);
    fx_check_pattern(zc, 0, 4096); /* still the pinned version's */
    pfs_prefetch_unpin(pin);
    assert_int_equal(pfs_prefetch_read(s.p, buf, 4096, 8 * KiB, &st), -1);
    assert_int_equal(st.error, -EIO);
    assert_int_equal(pfs_prefetch_read(s.p, buf, 4096, 40 * KiB, &st), -1);
    assert_int_equal(st.error, -EIO);
    small_free(&s);
}

/* The same cut, retried by the same version: every byte read is right, the
 * ones read before the cut and the ones after it. */
static void test_a_retry_of_the_same_version_goes_on(void **state)
{
    (void)state;
    struct small s = small_new(1);
    push_small(&s, fx_pattern_at, "\"v1\"", 32 * KiB);
    push_small(&s, fx_pattern_at, "\"v1\"", 0);
    char buf[16384];
    struct pfs_status st;
    for (uint64_t off = 0; off < SMALL; off += sizeof(buf)) {
        assert_int_equal(pfs_prefetch_read(s.p, buf, sizeof(buf), off, &st), (ssize_t)sizeof(buf));
        fx_check_pattern(buf, off, sizeof(buf));
    }
    assert_int_equal(fake_http_count(s.f->fake), 2);
    small_free(&s);
}

static char object_byte(unsigned long long off)
{
    return fx_pattern_at(off);
}

static char other_object_byte(unsigned long long off)
{
    return other_byte(off);
}

struct all_reads {
    struct pfs_prefetch *p;
    ssize_t last;
    _Atomic bool done;
};

static void *read_small_in_thread(void *arg)
{
    struct all_reads *r = arg;
    char buf[16384];
    struct pfs_status st;
    for (uint64_t off = 0; off < SMALL; off += sizeof(buf))
        r->last = pfs_prefetch_read(r->p, buf, sizeof(buf), off, &st);
    atomic_store(&r->done, true);
    return NULL;
}

/* TOS: an object of one chunk whose bytes are not those its CRC-64 names,
 * read while its GET is held after the whole body, before its end. The CRC
 * was learned only when a GET ended, so the read that completed the object
 * from bytes still arriving could not be checked (cat got the corrupt
 * bytes, exit 0; found by a review helper). Now the answer's headers tell
 * it before any byte is read: the reads go on while the transfer is held,
 * and the one that completes the object fails with EIO. */
static void test_a_corrupt_object_read_as_it_arrives_fails_at_the_end(void **state)
{
    (void)state;
    struct small s = small_new_of(PFS_DIALECT_TOS, 0);
    char crc[96], *body = small_body_with_wrong_crc(crc);
    fake_http_push(
        s.f->fake, 206, body,
        (const char *[]){"Content-Range: bytes 0-65535/65536", "ETag: \"v1\"", crc, NULL});
    free(body);
    fake_http_hold_body(s.f->fake, 0, SMALL);
    struct all_reads r = {.p = s.p};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_small_in_thread, &r), 0);
    while (!fake_http_body_held(s.f->fake))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    while (!atomic_load(&r.done) && pfs_prefetch_waiting(s.p) == 0)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    bool read_before_the_end = atomic_load(&r.done);
    fake_http_release(s.f->fake);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(read_before_the_end);
    assert_int_equal(r.last, -1);
    small_free(&s);
}

/* A read of 8 KiB in a thread of its own. */
struct wide_reader {
    struct pfs_prefetch *p;
    uint64_t off;
    char buf[8192];
    ssize_t n;
};

static void *read_wide_in_thread(void *arg)
{
    struct wide_reader *r = arg;
    struct pfs_status st;
    r->n = pfs_prefetch_read(r->p, r->buf, sizeof(r->buf), r->off, &st);
    return NULL;
}

/* TOS: the read that completes a corrupt object is not the one at its end
 * (the kernel reads ahead out of order): the tail is read first, then the
 * head completes the object and fails. The application's read of the head
 * again must fail too: answered, as before, it got the bytes the CRC
 * refused while only reads of the end failed. */
static void test_every_read_after_a_crc_mismatch_fails(void **state)
{
    (void)state;
    struct small s = small_new_of(PFS_DIALECT_TOS, 0);
    char crc[96], *body = small_body_with_wrong_crc(crc);
    const char *half = "Content-Range: bytes 32768-65535/65536",
               *head = "Content-Range: bytes 0-32767/65536";
    fake_http_push(s.f->fake, 206, body + SMALL / 2,
                   (const char *[]){half, "ETag: \"v1\"", crc, NULL});
    body[SMALL / 2] = '\0';
    fake_http_push(s.f->fake, 206, body, (const char *[]){head, "ETag: \"v1\"", crc, NULL});
    fake_http_push(s.f->fake, 206, body, (const char *[]){head, "ETag: \"v1\"", crc, NULL});
    free(body);
    char buf[SMALL / 2];
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read(s.p, buf, sizeof(buf), SMALL / 2, &st),
                     (ssize_t)sizeof(buf));
    assert_int_equal(pfs_prefetch_read(s.p, buf, sizeof(buf), 0, &st), -1);
    assert_int_equal(st.error, -EIO);
    assert_int_equal(pfs_prefetch_read(s.p, buf, sizeof(buf), 0, &st), -1);
    assert_int_equal(st.error, -EIO);
    assert_int_equal(fake_http_count(s.f->fake), 3);
    small_free(&s);
}

/* Queues a 206 of [from, from + len) of a TOS object of size bytes, naming
 * its (right) CRC-64. */
static void push_tos_range(struct fx *f, uint64_t from, size_t len, uint64_t size, uint64_t crc)
{
    char crch[96];
    snprintf(crch, sizeof(crch), "x-tos-hash-crc64ecma: %" PRIu64, crc);
    fx_push_pattern(f, from, len, size, "\"v1\"", crch);
}

/* TOS: a read waits for a chunk only because no answer has said yet whether
 * the store names a CRC; then a read elsewhere (a GET of its own: no budget
 * for read-ahead) learns it. The waiting read must wake and take its bytes as
 * they arrive, not sleep until the chunk's GET ends (held here, after part
 * of its body: found by a review helper). */
static void test_a_read_waiting_for_the_crc_wakes_when_any_answer_tells(void **state)
{
    (void)state;
    struct fx *f = make_pool(PFS_DIALECT_TOS, 0, 1);
    const uint64_t size = 4 * MiB, head = PFS_PREFETCH_HEAD;
    struct pfs_budget *b; /* the short first chunk alone */
    assert_int_equal(pfs_budget_new(&b, head, PFS_PREFETCH_MAX_CHUNK), 0);
    push_tos_range(f, 0, head, size, 42);    /* 0: H, held before its answer, then in its body */
    push_tos_range(f, head, 4096, size, 42); /* 1: the other read's own GET */
    fake_http_hold(f->fake, 0);
    fake_http_hold_body(f->fake, 0, 64 * KiB);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    struct reader a = {.p = p, .off = 0, .len = 4096};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_in_thread, &a), 0);
    fake_http_wait_held(f->fake);
    wait_for_waiting(p, 1);
    char buf[4096];
    struct pfs_status st;
    assert_int_equal(pfs_prefetch_read(p, buf, 4096, head, &st), 4096); /* learns the CRC */
    fx_check_pattern(buf, head, 4096);
    struct watchdog w;
    watchdog_start(&w, f->fake); /* releases H's body hold only if A never returns */
    fake_http_release_one(f->fake, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_false(watchdog_released(&w)); /* A returned while H's body was held */
    assert_int_equal(a.n, 4096);
    fx_check_pattern(a.buf, 0, 4096);
    watchdog_release(&w);
    pfs_prefetch_free(p);
    pfs_budget_free(b);
    destroy(f);
}

static void wait_for_requests(struct fx *f, size_t n)
{
    while (fake_http_count(f->fake) < n)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* One read never returns two versions' bytes. The handle's version comes
 * from cached attributes (not confirmed by the store). R1 and R2 wait for
 * the first, short chunk H, held before its answer; the window's chunk C2
 * has all its bytes, its transfer held before its end; A reads across C2's
 * end into C3 (held): it takes C2's last bytes (version 1) and waits for
 * C3. The object is replaced; H is answered 412. A handle that served
 * nothing may take the new version, but this one did serve (A's bytes), so
 * the reads fail or are all of one version; before, A got version 1 then
 * version 2 (found by a review helper). */
static void test_one_read_never_mixes_two_versions(void **state)
{
    (void)state;
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 3);
    const uint64_t size = 2000 * KiB, c2_end = PFS_PREFETCH_HEAD + PFS_PREFETCH_MIN_WINDOW;
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, 64 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    fake_http_serve_object(f->fake, size, "\"v1\"", object_byte);
    fake_http_hold(f->fake, 0);                               /* H */
    fake_http_hold_body(f->fake, 1, PFS_PREFETCH_MIN_WINDOW); /* C2 */
    fake_http_hold_also(f->fake, 2);                          /* C3 */
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    struct reader r1 = {.p = p, .off = 0, .len = 4096};
    struct reader r2 = {.p = p, .off = 4096, .len = 4096};
    struct wide_reader ra = {.p = p, .off = c2_end - 4096};
    pthread_t t1, t2, ta;
    assert_int_equal(pthread_create(&t1, NULL, read_in_thread, &r1), 0);
    wait_for_requests(f, 1);
    wait_for_waiting(p, 1);
    assert_int_equal(pthread_create(&t2, NULL, read_in_thread, &r2), 0);
    wait_for_requests(f, 2);
    wait_for_waiting(p, 2);
    while (!fake_http_body_held(f->fake))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(pthread_create(&ta, NULL, read_wide_in_thread, &ra), 0);
    wait_for_requests(f, 3);
    wait_for_waiting(p, 3);
    fake_http_serve_object(f->fake, size, "\"v2\"", other_object_byte);
    fake_http_release_one(f->fake, 0);
    assert_int_equal(pthread_join(t1, NULL), 0);
    assert_int_equal(pthread_join(t2, NULL), 0);
    fake_http_release(f->fake);
    assert_int_equal(pthread_join(ta, NULL), 0);
    if (ra.n > 4096) {
        bool first_v1 = ra.buf[0] == fx_pattern_at(c2_end - 4096);
        bool second_v1 = ra.buf[4096] == fx_pattern_at(c2_end);
        assert_true(first_v1 == second_v1);
    }
    pfs_prefetch_free(p);
    pfs_budget_free(b);
    destroy(f);
}

struct read_at {
    uint64_t off;
    size_t len;
};

struct read_cost {
    size_t gets;
    uint64_t fetched, twice; /* bytes fetched, and of those, fetched before */
    uint64_t held;           /* read-ahead memory still taken after the last read */
};

/* Reads an object of size bytes in the reads given (checking every byte)
 * and returns what it cost, counted once every task has ended. */
static struct read_cost cost_of(uint64_t size, const struct read_at *r, size_t n)
{
    struct fx *f = make_pool(PFS_DIALECT_S3, 0, 1);
    fake_http_serve_object(f->fake, size, "\"v1\"", object_byte);
    struct pfs_budget *b;
    assert_int_equal(pfs_budget_new(&b, 512 * MiB, PFS_PREFETCH_MAX_CHUNK), 0);
    struct pfs_prefetch *p = pfs_prefetch_new(f->c, f->pool, b, NULL, "bkt", "k", "\"v1\"", size);
    char *buf = malloc(MiB);
    struct pfs_status st;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pfs_prefetch_read(p, buf, r[i].len, r[i].off, &st), (ssize_t)r[i].len);
        fx_check_pattern(buf, r[i].off, r[i].len);
    }
    free(buf);
    uint64_t held = used(b);
    pfs_prefetch_free(p);
    pfs_budget_free(b); /* waits for every read-ahead task to give back */
    struct read_cost c = {fake_http_count(f->fake), 0, 0, held};
    uint8_t *seen = calloc(size / 4096 + 1, 1);
    for (size_t i = 0; i < c.gets; i++) {
        unsigned long long a, z;
        const char *range = fake_http_header(f->fake, i, "Range");
        assert_non_null(range);
        assert_int_equal(sscanf(range, "bytes=%llu-%llu", &a, &z), 2);
        c.fetched += z - a + 1;
        for (unsigned long long pg = a / 4096; pg <= z / 4096; pg++)
            c.twice += seen[pg]++ ? 4096 : 0;
    }
    free(seen);
    destroy(f);
    return c;
}

/* Reads 64 MiB in 1 MiB reads, each group of eight in the order given;
 * returns the GETs it cost and checks that every byte was fetched once (a
 * read taken for a jump drops the window, whose bytes are fetched again)
 * and that no chunk outlived its last read. */
static size_t read_in_groups_of_eight(const int order[8])
{
    const uint64_t size = 64 * MiB;
    struct read_at r[64];
    for (size_t i = 0; i < 64; i++)
        r[i] = (struct read_at){(i / 8 * 8 + (uint64_t)order[i % 8]) * MiB, MiB};
    struct read_cost c = cost_of(size, r, 64);
    assert_int_equal(c.fetched, size);
    assert_int_equal(c.held, 0); /* each chunk went as soon as all of it was read */
    return c.gets;
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

/* The kernel may ask for a range again (O_DIRECT, a retried read, pages
 * reclaimed): counted twice, its chunk went before its last bytes were
 * read, and those cost a GET of their own. */
static void test_a_range_read_twice_counts_once(void **state)
{
    (void)state;
    struct read_at r[16];
    size_t n = 0;
    r[n++] = (struct read_at){0, 128 * KiB};
    r[n++] = (struct read_at){128 * KiB, 128 * KiB}; /* in the window's first chunk */
    r[n++] = (struct read_at){128 * KiB, 128 * KiB}; /* again */
    for (uint64_t o = 256 * KiB; o < 1152 * KiB; o += 128 * KiB)
        r[n++] = (struct read_at){o, 128 * KiB};
    struct read_cost c = cost_of(8 * MiB, r, n);
    assert_int_equal(c.twice, 0);
}

static uint64_t next_random(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

/* One long read (mmap read-around, a larger read_ahead_kb) widens how far
 * out of order reads may arrive; a jump forgets it, so the random 4 KiB
 * reads after it stay jumps and fetch about what they ask for. */
static void test_a_jump_forgets_a_long_read(void **state)
{
    (void)state;
    const uint64_t size = 64 * MiB;
    struct read_at r[121];
    size_t n = 0;
    r[n++] = (struct read_at){0, MiB};
    for (uint64_t x = 42; n < 121;)
        r[n++] = (struct read_at){next_random(&x) % (size / 4096) * 4096, 4096};
    struct read_cost c = cost_of(size, r, n);
    /* The first read's window (a few MiB), then a range of about a page
     * or two for each of the 120 reads, never a chunk each. */
    assert_true(c.fetched < 16 * MiB);
    assert_true(c.gets <= 130);
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
        cmocka_unit_test(test_a_chunk_is_read_while_it_arrives),
        cmocka_unit_test(test_a_retry_never_rewrites_what_was_read),
        cmocka_unit_test(test_a_retry_of_the_same_version_goes_on),
        cmocka_unit_test(test_a_corrupt_object_read_as_it_arrives_fails_at_the_end),
        cmocka_unit_test(test_one_read_never_mixes_two_versions),
        cmocka_unit_test(test_every_read_after_a_crc_mismatch_fails),
        cmocka_unit_test(test_a_read_waiting_for_the_crc_wakes_when_any_answer_tells),
        cmocka_unit_test(test_reads_arriving_out_of_order_stay_sequential),
        cmocka_unit_test(test_a_range_read_twice_counts_once),
        cmocka_unit_test(test_a_jump_forgets_a_long_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

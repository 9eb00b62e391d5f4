/* URL cache: reuse, refresh inside the margin, invalidation, eviction, and 8
 * threads at once, over a fake clock and a counting fake source. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "urlcache.h"

struct fake_clock {
    _Atomic int64_t now;
};

static int64_t fake_now(void *ctx)
{
    return atomic_load(&((struct fake_clock *)ctx)->now);
}

struct fake_source {
    _Atomic int signs;
    int64_t lifetime;
    int fail_with; /* when non-zero, presign fails with this */
};

/* The URL names the request and the signing time, so a test can tell a reused
 * URL from a re-signed one. */
static int fake_presign(void *ctx, char **url_out, int64_t *expires_at_out,
                        const struct pfs_sign_request *req, int64_t now)
{
    struct fake_source *fs = ctx;
    if (fs->fail_with)
        return fs->fail_with;
    int n = atomic_fetch_add(&fs->signs, 1) + 1;
    char buf[256];
    snprintf(buf, sizeof(buf), "http://x/%s/%.*s?t=%lld&n=%d", req->method, (int)req->key_len,
             req->key, (long long)now, n);
    *url_out = strdup(buf);
    *expires_at_out = now + fs->lifetime;
    return *url_out ? 0 : -ENOMEM;
}

static void fake_destroy(void *ctx)
{
    (void)ctx;
}

static const struct pfs_url_source_ops fake_ops = {fake_presign, fake_destroy, NULL};

/* A batching source: one presign_many call is one "round trip"; a key
 * starting with "deny" is refused per URL. */
static _Atomic int batch_calls;

static int fake_presign_many(void *ctx, char **urls_out, int64_t *expires_at_out, int *rcs_out,
                             const struct pfs_sign_request *reqs, size_t n, int64_t now)
{
    atomic_fetch_add(&batch_calls, 1);
    for (size_t i = 0; i < n; i++) {
        urls_out[i] = NULL;
        rcs_out[i] = strncmp(reqs[i].key, "deny", 4) == 0
                         ? -EACCES
                         : fake_presign(ctx, &urls_out[i], &expires_at_out[i], &reqs[i], now);
    }
    return ((struct fake_source *)ctx)->fail_with;
}

static const struct pfs_url_source_ops batch_ops = {fake_presign, fake_destroy, fake_presign_many};

struct fixture {
    struct fake_clock clock_state;
    struct pfs_clock clock;
    struct fake_source src_state;
    struct pfs_url_source src;
    struct pfs_urlcache *cache;
};

static struct fixture *make(size_t capacity, int64_t lifetime, int64_t margin)
{
    struct fixture *f = calloc(1, sizeof(*f));
    atomic_store(&f->clock_state.now, 1700000000);
    f->clock = (struct pfs_clock){fake_now, &f->clock_state};
    f->src_state.lifetime = lifetime;
    f->src = (struct pfs_url_source){&fake_ops, &f->src_state};
    assert_int_equal(pfs_urlcache_new(&f->cache, &f->src, &f->clock, capacity, margin), 0);
    return f;
}

static void destroy(struct fixture *f)
{
    pfs_urlcache_free(f->cache);
    free(f);
}

static struct pfs_sign_request req_for(const char *method, const char *key)
{
    return (struct pfs_sign_request){
        .method = method, .bucket = "b", .key = key, .key_len = strlen(key)};
}

static char *get(struct fixture *f, struct pfs_sign_request r)
{
    char *url = NULL;
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &r), 0);
    return url;
}

static void test_reuse_within_lifetime(void **state)
{
    (void)state;
    struct fixture *f = make(16, 3600, 360);
    char *a = get(f, req_for("GET", "k"));
    atomic_fetch_add(&f->clock_state.now, 3000); /* 600 s of life left > margin */
    char *b = get(f, req_for("GET", "k"));
    assert_string_equal(a, b);
    assert_int_equal(atomic_load(&f->src_state.signs), 1);
    /* Method, key, query and headers are all part of the identity. */
    char *c = get(f, req_for("PUT", "k"));
    char *d = get(f, req_for("GET", "k2"));
    struct pfs_kv q[] = {{"partNumber", "1"}};
    struct pfs_sign_request rq = req_for("GET", "k");
    rq.query = q;
    rq.n_query = 1;
    char *e = get(f, rq);
    struct pfs_kv h[] = {{"x-amz-meta-mode", "0100644"}};
    struct pfs_sign_request rh = req_for("GET", "k");
    rh.headers = h;
    rh.n_headers = 1;
    char *g = get(f, rh);
    assert_int_equal(atomic_load(&f->src_state.signs), 5);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 5);
    assert_int_equal(st.refreshes, 0);
    free(a), free(b), free(c), free(d), free(e), free(g);
    destroy(f);
}

static void test_refresh_inside_margin(void **state)
{
    (void)state;
    struct fixture *f = make(16, 3600, 360);
    char *a = get(f, req_for("GET", "k"));
    atomic_fetch_add(&f->clock_state.now, 3600 - 360 - 1); /* 361 s left: still served */
    char *b = get(f, req_for("GET", "k"));
    assert_string_equal(a, b);
    atomic_fetch_add(&f->clock_state.now, 1); /* exactly the margin left: re-sign */
    char *c = get(f, req_for("GET", "k"));
    assert_string_not_equal(a, c);
    char *d = get(f, req_for("GET", "k")); /* the refreshed URL is reused */
    assert_string_equal(c, d);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.refreshes, 1);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(pfs_urlcache_size(f->cache), 1);
    free(a), free(b), free(c), free(d);
    destroy(f);
}

static void test_invalidate(void **state)
{
    (void)state;
    struct fixture *f = make(16, 3600, 360);
    char *a = get(f, req_for("GET", "k"));
    struct pfs_sign_request r = req_for("GET", "k");
    pfs_urlcache_invalidate(f->cache, &r, a);
    char *b = get(f, r);
    assert_string_not_equal(a, b);
    /* A stale rejection (for a URL already replaced) keeps the newer URL. */
    pfs_urlcache_invalidate(f->cache, &r, a);
    char *c = get(f, r);
    assert_string_equal(b, c);
    /* NULL drops whatever is cached. */
    pfs_urlcache_invalidate(f->cache, &r, NULL);
    char *d = get(f, r);
    assert_string_not_equal(c, d);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.invalidations, 2);
    free(a), free(b), free(c), free(d);
    destroy(f);
}

static void test_eviction_at_capacity(void **state)
{
    (void)state;
    struct fixture *f = make(4, 3600, 360);
    char key[16];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        free(get(f, req_for("GET", key)));
    }
    free(get(f, req_for("GET", "k0"))); /* k0 becomes most recent; k1 is oldest */
    free(get(f, req_for("GET", "k4"))); /* evicts k1 */
    assert_int_equal(pfs_urlcache_size(f->cache), 4);
    int before = atomic_load(&f->src_state.signs);
    free(get(f, req_for("GET", "k0")));
    free(get(f, req_for("GET", "k2")));
    assert_int_equal(atomic_load(&f->src_state.signs), before);
    free(get(f, req_for("GET", "k1")));
    assert_int_equal(atomic_load(&f->src_state.signs), before + 1);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(pfs_urlcache_size(f->cache), 4);
    destroy(f);
}

static void test_source_error_propagates(void **state)
{
    (void)state;
    struct fixture *f = make(4, 3600, 360);
    f->src_state.fail_with = -EIO;
    char *url = (char *)1;
    struct pfs_sign_request r = req_for("GET", "k");
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &r), -EIO);
    assert_null(url);
    assert_int_equal(pfs_urlcache_size(f->cache), 0);
    destroy(f);
}

/* A signer that does not answer: a cached URL inside its refresh margin is
 * still handed out until it nearly expires; then -EIO; then, the source
 * back, a fresh URL. A refusal (-EACCES) is never papered over. */
static void test_stale_while_source_down(void **state)
{
    (void)state;
    struct fixture *f = make(4, 3600, 360);
    char *a = get(f, req_for("GET", "k"));
    f->src_state.fail_with = -EIO;
    atomic_fetch_add(&f->clock_state.now, 3600 - 100); /* inside the margin */
    char *b = get(f, req_for("GET", "k"));
    assert_string_equal(a, b);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.stale, 1);
    char *url = NULL;
    struct pfs_sign_request r = req_for("GET", "k");
    f->src_state.fail_with = -EACCES;
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &r), -EACCES);
    assert_null(url);
    f->src_state.fail_with = -EIO;
    atomic_fetch_add(&f->clock_state.now, 100 - PFS_URLCACHE_STALE_MIN); /* about to expire */
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &r), -EIO);
    assert_null(url);
    r = req_for("GET", "never-cached");
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &r), -EIO);
    f->src_state.fail_with = 0;
    char *c = get(f, req_for("GET", "k"));
    assert_string_not_equal(a, c);
    free(a), free(b), free(c);
    destroy(f);
}

#define THREADS 8
#define ROUNDS 20000

struct worker {
    struct fixture *f;
    int id;
    int bad;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char key[32];
    for (int i = 0; i < ROUNDS; i++) {
        /* A hot set that stays cached (hits, and refreshes as time passes) and a
         * cold tail larger than the capacity (evictions). */
        if (i % 10)
            snprintf(key, sizeof(key), "hot%d", (i + w->id) % 8);
        else
            snprintf(key, sizeof(key), "cold%d", (i * 7 + w->id) % 200);
        struct pfs_sign_request r = req_for(i % 3 ? "GET" : "HEAD", key);
        char *url = NULL;
        int64_t before = atomic_load(&w->f->clock_state.now);
        if (pfs_urlcache_get(w->f->cache, &url, &r) != 0 || !url) {
            w->bad++;
            continue;
        }
        /* Every URL handed out is for the key asked and has life left. */
        char want[64];
        snprintf(want, sizeof(want), "/%s/%s?", r.method, key);
        long long t = atoll(strstr(url, "?t=") + 3);
        if (!strstr(url, want) || t + w->f->src_state.lifetime <= before + 30)
            w->bad++;
        if (i % 1999 == 0)
            pfs_urlcache_invalidate(w->f->cache, &r, url);
        if (w->id == 0 && i % 10 == 0)
            atomic_fetch_add(&w->f->clock_state.now, 1);
        free(url);
    }
    return NULL;
}

static void test_threads_hammer(void **state)
{
    (void)state;
    struct fixture *f = make(32, 300, 30);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){f, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
    }
    assert_int_equal(bad, 0);
    struct pfs_urlcache_stats st;
    pfs_urlcache_stats(f->cache, &st);
    assert_int_equal(st.hits + st.misses + st.refreshes, (uint64_t)THREADS * ROUNDS);
    print_message("hits %llu misses %llu refreshes %llu evictions %llu\n",
                  (unsigned long long)st.hits, (unsigned long long)st.misses,
                  (unsigned long long)st.refreshes, (unsigned long long)st.evictions);
    assert_true(st.hits > 0 && st.evictions > 0 && st.refreshes > 0);
    assert_true(pfs_urlcache_size(f->cache) <= 32);
    destroy(f);
}

/* A prefetch signs what is missing or due in one batch; gets then hit, a
 * one-shot (uncached) get takes its URL out; refusals and a failed batch are
 * left to the gets; a source without batching is not asked. */
static void test_prefetch_batches(void **state)
{
    (void)state;
    struct fixture *f = make(64, 3600, 360);
    f->src = (struct pfs_url_source){&batch_ops, &f->src_state};
    atomic_store(&batch_calls, 0);
    char *a = get(f, req_for("HEAD", "k0")); /* cached already: not asked again */
    assert_int_equal(atomic_load(&f->src_state.signs), 1);
    const char *keys[] = {"k0", "k1", "k2", "k3", "deny4"};
    struct pfs_sign_request reqs[5];
    for (int i = 0; i < 5; i++)
        reqs[i] = req_for("HEAD", keys[i]);
    assert_int_equal(pfs_urlcache_prefetch(f->cache, reqs, 5), 3);
    assert_int_equal(atomic_load(&batch_calls), 1);
    assert_int_equal(atomic_load(&f->src_state.signs), 4); /* k1..k3 */
    for (int i = 0; i < 4; i++)
        free(get(f, reqs[i]));
    assert_int_equal(atomic_load(&f->src_state.signs), 4); /* all hits */
    char *url = NULL;
    assert_int_equal(pfs_urlcache_get(f->cache, &url, &reqs[4]), 0); /* signed alone */
    free(url);
    assert_int_equal(atomic_load(&f->src_state.signs), 5);

    /* One-shot URLs: taken out by the first uncached get, then signed anew. */
    struct pfs_sign_request part = req_for("PUT", "big");
    assert_int_equal(pfs_urlcache_prefetch(f->cache, &part, 1), 1);
    size_t before = pfs_urlcache_size(f->cache);
    assert_int_equal(pfs_urlcache_get_uncached(f->cache, &url, &part), 0);
    free(url);
    assert_int_equal(atomic_load(&f->src_state.signs), 6);
    assert_int_equal(pfs_urlcache_size(f->cache), before - 1);
    assert_int_equal(pfs_urlcache_get_uncached(f->cache, &url, &part), 0);
    free(url);
    assert_int_equal(atomic_load(&f->src_state.signs), 7);

    /* A prefetch never asks for more than half the cache. */
    struct pfs_sign_request many[100];
    char names[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        many[i] = req_for("GET", names[i]);
    }
    assert_int_equal(pfs_urlcache_prefetch(f->cache, many, 100), 32);

    /* A failed batch is reported and caches nothing. */
    f->src_state.fail_with = -EIO;
    struct pfs_sign_request other = req_for("GET", "other");
    assert_int_equal(pfs_urlcache_prefetch(f->cache, &other, 1), -EIO);
    f->src_state.fail_with = 0;
    int signs = atomic_load(&f->src_state.signs);
    free(get(f, other));
    assert_int_equal(atomic_load(&f->src_state.signs), signs + 1);
    free(a);
    destroy(f);

    /* Local keys: prefetch is a no-op. */
    f = make(64, 3600, 360);
    atomic_store(&batch_calls, 0);
    assert_int_equal(pfs_urlcache_prefetch(f->cache, reqs, 4), 0);
    assert_int_equal(atomic_load(&f->src_state.signs), 0);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_within_lifetime),
        cmocka_unit_test(test_refresh_inside_margin),
        cmocka_unit_test(test_invalidate),
        cmocka_unit_test(test_eviction_at_capacity),
        cmocka_unit_test(test_source_error_propagates),
        cmocka_unit_test(test_stale_while_source_down),
        cmocka_unit_test(test_threads_hammer),
        cmocka_unit_test(test_prefetch_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

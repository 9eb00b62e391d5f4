/* The client over the scripted fake transport: the fixture shared by the
 * client's unit tests (test_client.c, test_client_hostile.c). */
#ifndef PFS_TEST_CLIENT_FX_H
#define PFS_TEST_CLIENT_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client.h"
#include "fake_http.h"

struct fx {
    struct fake_http *fake;
    struct pfs_endpoint ep;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_pool *pool;
    struct pfs_client *c;
    unsigned sleeps[32];
    size_t n_sleeps;
};

static inline void record_sleep(void *ctx, unsigned ms)
{
    struct fx *f = ctx;
    if (f->n_sleeps < 32)
        f->sleeps[f->n_sleeps++] = ms;
}

/* The client over a pool of `threads` workers (one: tasks run in the order
 * they were submitted, so scripted answers meet their requests). */
static inline struct fx *make_pool(enum pfs_dialect d, int retries, size_t threads)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->fake = fake_http_new();
    const char *why;
    assert_int_equal(pfs_endpoint_parse(&f->ep,
                                        d == PFS_DIALECT_TOS ? "https://tos-cn-beijing.volces.com"
                                                             : "http://127.0.0.1:9000",
                                        &why),
                     0);
    struct pfs_sign_params params = {.dialect = d,
                                     .endpoint = &f->ep,
                                     .region = d == PFS_DIALECT_TOS ? "cn-beijing" : "us-east-1",
                                     .addressing = d == PFS_DIALECT_TOS ? PFS_ADDRESSING_VIRTUAL
                                                                        : PFS_ADDRESSING_PATH};
    struct pfs_cred *cred;
    assert_int_equal(pfs_cred_new(&cred, "AK", "SK", NULL), 0);
    assert_int_equal(pfs_url_source_local_new(&f->src, &params, cred, 3600), 0);
    assert_int_equal(pfs_urlcache_new(&f->urls, f->src, &pfs_clock_realtime, 0, 360), 0);
    assert_int_equal(pfs_pool_new(&f->pool, threads), 0);
    struct pfs_client_opts opts = {.retries = retries,
                                   .base_delay_ms = 100,
                                   .max_delay_ms = 400,
                                   .sleep_ms = record_sleep,
                                   .sleep_ctx = f};
    assert_int_equal(
        pfs_client_new(&f->c, fake_http_transport(f->fake), f->urls, f->pool, d, "bkt", &opts), 0);
    return f;
}

static inline struct fx *make(enum pfs_dialect d, int retries)
{
    return make_pool(d, retries, 4);
}

static inline void destroy(struct fx *f)
{
    assert_int_equal(fake_http_pending(f->fake), 0);
    pfs_client_free(f->c);
    pfs_pool_free(f->pool);
    pfs_urlcache_free(f->urls);
    pfs_url_source_free(f->src);
    fake_http_free(f->fake);
    free(f);
}

static inline const char *url_of(struct fx *f, size_t i)
{
    return fake_http_request(f->fake, i)->url;
}

/* What the log writes to stderr between capture_begin and capture_end. */
struct log_capture {
    FILE *file;
    int saved;
};

static inline void capture_begin(struct log_capture *c)
{
    c->file = tmpfile();
    c->saved = dup(2);
    fflush(stderr);
    dup2(fileno(c->file), 2);
}

static inline void capture_end(struct log_capture *c, char *out, size_t out_len)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    rewind(c->file);
    size_t n = fread(out, 1, out_len - 1, c->file);
    out[n] = '\0';
    fclose(c->file);
}

#endif

/* The client and libcurl against tests/server/hostile.js (started by
 * tests/integration/test_hostile.sh): headers over the caps, bodies whose
 * length lies, ranges that are not the one asked for, redirects to another
 * port (the trap counts any request that reaches it), oversized error and
 * listing bodies, listings that loop and names that are not UTF-8. Each must
 * end in a clear error or the right bytes, never a hang ([S70]-[S72]). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "list_guard.h"

#define RETRIES 2

struct env {
    struct pfs_endpoint ep;
    struct pfs_http *http;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *client;
    const char *endpoint;
};

static struct env E;

static void no_sleep(void *ctx, unsigned ms)
{
    (void)ctx;
    (void)ms;
}

static int setup(void **state)
{
    (void)state;
    E.endpoint = getenv("PFS_HOSTILE_ENDPOINT");
    if (!E.endpoint) {
        fprintf(stderr, "run me through tests/integration/test_hostile.sh\n");
        return -1;
    }
    const char *why;
    if (pfs_endpoint_parse(&E.ep, E.endpoint, &why) != 0 || pfs_http_curl_new(&E.http, NULL) != 0)
        return -1;
    struct pfs_sign_params params = {.dialect = PFS_DIALECT_S3,
                                     .endpoint = &E.ep,
                                     .region = "us-east-1",
                                     .addressing = PFS_ADDRESSING_PATH};
    struct pfs_cred *cred;
    if (pfs_cred_new(&cred, "AK", "SK", NULL) != 0 ||
        pfs_url_source_local_new(&E.src, &params, cred, 3600) != 0 ||
        pfs_urlcache_new(&E.urls, E.src, &pfs_clock_realtime, 0, 360) != 0)
        return -1;
    struct pfs_client_opts opts = {.retries = RETRIES, .sleep_ms = no_sleep};
    return pfs_client_new(&E.client, E.http, E.urls, NULL, PFS_DIALECT_S3, "hb", &opts);
}

static int teardown(void **state)
{
    (void)state;
    pfs_client_free(E.client);
    pfs_urlcache_free(E.urls);
    pfs_url_source_free(E.src);
    pfs_http_free(E.http);
    return 0;
}

/* The hostile server's control: POST reset, or GET stats into out. */
static void control(const char *what, char *out, size_t out_len)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/__hostile/%s", E.endpoint, what);
    struct pfs_buf body;
    pfs_buf_init(&body);
    struct pfs_http_request req = {.method = out ? "GET" : "POST",
                                   .url = url,
                                   .sink = {.kind = PFS_SINK_BUFFER, .buf = &body, .max = 65536}};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    /* The connection may hold the excess of a "long" answer: that attempt
     * is a reset (the client would retry it too), the next one is clean. */
    int rc = pfs_http_perform(E.http, &req, &resp);
    if (rc == -ECONNRESET) {
        pfs_http_response_reset(&resp);
        rc = pfs_http_perform(E.http, &req, &resp);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(resp.status, 200);
    if (out)
        snprintf(out, out_len, "%s", body.data ? body.data : "");
    pfs_http_response_cleanup(&resp);
    pfs_buf_cleanup(&body);
}

/* Requests the server saw for mode since the last reset. */
static long requests_of(const char *mode)
{
    char stats[4096], pat[64];
    control("stats", stats, sizeof(stats));
    snprintf(pat, sizeof(pat), "\"%s\":", mode);
    const char *p = strstr(stats, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static long trap_hits(void)
{
    char stats[4096];
    control("stats", stats, sizeof(stats));
    const char *p = strstr(stats, "\"trap\":");
    assert_non_null(p);
    return strtol(p + 7, NULL, 10);
}

/* The object's bytes as the server makes them. */
static int object_byte(size_t i)
{
    return (int)((7 * i + 3) & 255);
}

static void expect_bytes(const unsigned char *buf, size_t offset, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(buf[i], object_byte(offset + i));
}

/* A GET of 100 bytes at offset of key fails with EIO, a message holding
 * reason, after `attempts` attempts, with no bytes returned. */
static void expect_get_fails(const char *key, uint64_t offset, const char *reason, int attempts)
{
    unsigned char buf[100];
    size_t got = 77;
    struct pfs_status st;
    control("reset", NULL, 0);
    assert_int_equal(pfs_client_get_range(E.client, buf, sizeof(buf), offset, &got, key, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    if (!strstr(st.message, reason))
        fail_msg("[S72] %s: message '%s' lacks '%s'", key, st.message, reason);
    assert_int_equal(st.attempts, attempts);
}

static void test_headers_over_the_caps(void **state)
{
    (void)state;
    const char *why = "the response's headers exceed the caps";
    expect_get_fails("many-headers-a", 0, why, 1);
    expect_get_fails("huge-header-a", 0, why, 1);
    expect_get_fails("header-total-a", 0, why, 1);
}

/* A Content-Length that promises more than comes: retried, never taken as
 * a short object; once the server is honest, the right bytes. */
static void test_short_body_then_close(void **state)
{
    (void)state;
    expect_get_fails("short-a", 0, "", RETRIES + 1);
    assert_int_equal(requests_of("short"), RETRIES + 1);
    unsigned char buf[100];
    size_t got = 0;
    struct pfs_status st;
    control("reset", NULL, 0);
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 200, &got, "short-once-a", &st), 0);
    assert_int_equal(got, 100);
    assert_int_equal(st.attempts, 2);
    expect_bytes(buf, 200, 100);
}

/* More bytes than the Content-Length: the declared ones are the answer, and
 * the connection is not reused with the excess in it. */
static void test_long_body(void **state)
{
    (void)state;
    unsigned char buf[100];
    size_t got = 0;
    struct pfs_status st;
    for (int i = 0; i < 3; i++) {
        memset(buf, 0, sizeof(buf));
        assert_int_equal(
            pfs_client_get_range(E.client, buf, 100, 100 * (uint64_t)i, &got, "long-a", &st), 0);
        assert_int_equal(got, 100);
        expect_bytes(buf, 100 * (size_t)i, 100);
    }
}

static void test_range_not_the_one_asked(void **state)
{
    (void)state;
    expect_get_fails("range-short-a", 0, "fewer bytes than asked for", 1);
    expect_get_fails("range-shifted-a", 100, "does not start at the requested offset", 1);
}

static void test_redirects_not_followed(void **state)
{
    (void)state;
    control("reset", NULL, 0);
    const char *keys[] = {"redirect-301-a", "redirect-302-a", "redirect-307-a"};
    for (size_t i = 0; i < 3; i++) {
        expect_get_fails(keys[i], 0, "not followed", 1);
        struct pfs_status st;
        struct pfs_object_info info;
        assert_int_equal(pfs_client_head(E.client, &info, "redirect-307-a", &st), 0);
        pfs_object_info_cleanup(&info);
    }
    struct pfs_status st;
    unsigned char buf[100];
    size_t got;
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 0, &got, "redirect-307-b", &st), -1);
    assert_non_null(strstr(st.message, "redirected to http://127.0.0.1:"));
    assert_non_null(strstr(st.message, "/hb/redirect-307-b, not followed"));
    assert_null(strstr(st.message, "Signature"));
    assert_non_null(strstr(st.message, "(the store names endpoint 127.0.0.1:"));
    assert_string_equal(st.service_code, "TemporaryRedirect");
    assert_int_equal(trap_hits(), 0);
}

/* A 4 MiB error body: a 500, retried, each time held only up to the cap. */
static void test_big_error_body(void **state)
{
    (void)state;
    expect_get_fails("big-error-a", 0, "", RETRIES + 1);
}

struct walk {
    size_t pages;
    char *first_key;
};

static int on_page(void *ctx, const struct pfs_list_page *page)
{
    struct walk *w = ctx;
    w->pages++;
    if (!w->first_key && page->n_entries)
        w->first_key = strdup(page->entries[0].key);
    return 0;
}

/* Walking prefix MODE/ fails with EIO naming reason after `requests` LISTs. */
static void expect_walk_fails(const char *mode, const char *reason, long requests)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s/", mode);
    struct pfs_list_params lp = {.prefix = prefix, .delimiter = "/"};
    struct pfs_status st;
    struct walk w = {0};
    control("reset", NULL, 0);
    assert_int_equal(pfs_client_list_each(E.client, &lp, on_page, &w, &st), -1);
    free(w.first_key);
    assert_int_equal(pfs_status_errno(&st), EIO);
    if (!strstr(st.message, reason))
        fail_msg("[S70] %s: message '%s' lacks '%s'", mode, st.message, reason);
    assert_int_equal(requests_of(mode), requests);
}

static void test_listings_that_loop(void **state)
{
    (void)state;
    expect_walk_fails("loop-same", "went backwards", 2);
    expect_walk_fails("loop-cycle", "names continuation token 'A' again", 3);
    expect_walk_fails("backwards", "went backwards", 2);
    expect_walk_fails("empty-forever", "empty truncated pages in a row",
                      PFS_LIST_MAX_EMPTY_PAGES + 1);
    expect_walk_fails("big-listing", "larger body than expected", 1);
}

static void test_names_not_utf8(void **state)
{
    (void)state;
    expect_walk_fails("nonutf8-raw", "not UTF-8", 1);
    struct pfs_list_params lp = {.prefix = "nonutf8-url/", .delimiter = "/"};
    struct pfs_status st;
    struct walk w = {0};
    assert_int_equal(pfs_client_list_each(E.client, &lp, on_page, &w, &st), 0);
    assert_string_equal(w.first_key, "nonutf8-url/\xff\xfe"
                                     "x");
    free(w.first_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_over_the_caps),
        cmocka_unit_test(test_short_body_then_close),
        cmocka_unit_test(test_long_body),
        cmocka_unit_test(test_range_not_the_one_asked),
        cmocka_unit_test(test_redirects_not_followed),
        cmocka_unit_test(test_big_error_body),
        cmocka_unit_test(test_listings_that_loop),
        cmocka_unit_test(test_names_not_utf8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

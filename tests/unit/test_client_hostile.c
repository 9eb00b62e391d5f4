/* The client against a hostile store, through the scripted fake transport:
 * listings that loop or go backwards (both dialects), GET bodies that are not
 * the range asked for, redirects, names that are not UTF-8, the caps on
 * headers and bodies. Each must end in a
 * clear error (EIO, one log line naming the bucket and prefix), never a walk
 * that runs forever ([S70]-[S72] of doc/SEMANTICS.md). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "fake_http.h"
#include "list_guard.h"
#include "log.h"
#include "client_fx.h"

/* One listing page in the dialect's format: keys and prefixes given as
 * space-separated lists ("" for none), token NULL for the last page. */
static char *page_body(enum pfs_dialect d, const char *keys, const char *prefixes,
                       const char *token)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    bool tos = d == PFS_DIALECT_TOS;
    pfs_buf_puts(&b, tos ? "{\"EncodingType\":\"url\",\"Contents\":["
                         : "<ListBucketResult><EncodingType>url</EncodingType>");
    const char *lists[2] = {keys, prefixes};
    for (int which = 0; which < 2; which++) {
        if (tos && which == 1)
            pfs_buf_puts(&b, "],\"CommonPrefixes\":[");
        char *copy = strdup(lists[which]), *save = NULL;
        bool first = true;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            if (tos)
                pfs_buf_printf(&b,
                               which ? "%s{\"Prefix\":\"%s\"}" : "%s{\"Key\":\"%s\",\"Size\":1}",
                               first ? "" : ",", w);
            else
                pfs_buf_printf(&b,
                               which ? "<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>"
                                     : "<Contents><Key>%s</Key><Size>1</Size></Contents>",
                               w);
            first = false;
        }
        free(copy);
    }
    if (tos)
        pfs_buf_printf(&b, "],\"IsTruncated\":%s,\"NextContinuationToken\":\"%s\"}",
                       token ? "true" : "false", token ? token : "");
    else if (token)
        pfs_buf_printf(&b,
                       "<IsTruncated>true</IsTruncated><NextContinuationToken>%s"
                       "</NextContinuationToken></ListBucketResult>",
                       token);
    else
        pfs_buf_puts(&b, "<IsTruncated>false</IsTruncated></ListBucketResult>");
    return pfs_buf_detach(&b);
}

static void push_page(struct fx *f, enum pfs_dialect d, const char *keys, const char *prefixes,
                      const char *token)
{
    char *body = page_body(d, keys, prefixes, token);
    fake_http_push(f->fake, 200, body, NULL);
    free(body);
}

struct seen {
    size_t pages, names;
};

static int count_page(void *ctx, const struct pfs_list_page *page)
{
    struct seen *s = ctx;
    s->pages++;
    s->names += page->n_entries + page->n_prefixes;
    return 0;
}

/* Walks prefix "d/" and expects it to fail with EIO after `requests`
 * requests, fn having seen `pages` pages, the log line naming bucket, prefix
 * and `reason`. */
static void expect_loop(struct fx *f, size_t requests, size_t pages, const char *reason)
{
    struct pfs_list_params lp = {.prefix = "d/", .delimiter = "/"};
    struct pfs_status st;
    struct seen seen = {0};
    struct log_capture cap;
    capture_begin(&cap);
    int rc = pfs_client_list_each(f->c, &lp, count_page, &seen, &st);
    char log[4096];
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(rc, -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_non_null(strstr(st.message, reason));
    assert_int_equal(fake_http_count(f->fake), requests);
    assert_int_equal(seen.pages, pages);
    assert_non_null(strstr(log, "LIST bkt prefix 'd/': "));
    assert_non_null(strstr(log, reason));
    assert_null(strchr(strchr(log, '\n') + 1, '\n')); /* one line */
}

static void same_token_forever(enum pfs_dialect d)
{
    struct fx *f = make(d, 0);
    push_page(f, d, "d/a d/b", "", "T1");
    push_page(f, d, "d/c", "", "T1"); /* the answer to T1 names T1 again */
    expect_loop(f, 2, 1, "names continuation token 'T1' again");
    /* The second request did carry T1. */
    assert_non_null(strstr(url_of(f, 1), "continuation-token=T1"));
    destroy(f);
}

static void test_same_token_s3(void **state)
{
    (void)state;
    same_token_forever(PFS_DIALECT_S3);
}

static void test_same_token_tos(void **state)
{
    (void)state;
    same_token_forever(PFS_DIALECT_TOS);
}

/* Empty truncated pages cycling T1 -> T2 -> T1. */
static void token_cycle(enum pfs_dialect d)
{
    struct fx *f = make(d, 0);
    push_page(f, d, "d/a", "", "T1");
    push_page(f, d, "", "", "T2");
    push_page(f, d, "", "", "T1");
    expect_loop(f, 3, 2, "names continuation token 'T1' again");
    destroy(f);
}

static void test_token_cycle_s3(void **state)
{
    (void)state;
    token_cycle(PFS_DIALECT_S3);
}

static void test_token_cycle_tos(void **state)
{
    (void)state;
    token_cycle(PFS_DIALECT_TOS);
}

/* Fresh tokens each time, but the keys start over: a page that does not
 * sort after the last name of the page before. */
static void keys_backwards(enum pfs_dialect d)
{
    struct fx *f = make(d, 0);
    push_page(f, d, "d/b", "d/c/", "T1");
    push_page(f, d, "d/a", "", "T2");
    expect_loop(f, 2, 1, "went backwards: page 2 begins at 'd/a', not after 'd/c/'");
    destroy(f);
}

static void test_keys_backwards_s3(void **state)
{
    (void)state;
    keys_backwards(PFS_DIALECT_S3);
}

static void test_keys_backwards_tos(void **state)
{
    (void)state;
    keys_backwards(PFS_DIALECT_TOS);
}

/* A page that repeats the last name of the page before is no progress either. */
static void test_page_repeats_last_name(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    push_page(f, PFS_DIALECT_S3, "d/a d/b", "", "T1");
    push_page(f, PFS_DIALECT_S3, "d/b d/c", "", "T2");
    expect_loop(f, 2, 1, "page 2 begins at 'd/b', not after 'd/b'");
    destroy(f);
}

/* Empty truncated pages with ever new tokens: bounded. */
static void empty_pages_forever(enum pfs_dialect d)
{
    struct fx *f = make(d, 0);
    for (int i = 0; i <= PFS_LIST_MAX_EMPTY_PAGES; i++) {
        char token[16];
        snprintf(token, sizeof(token), "E%d", i);
        push_page(f, d, "", "", token);
    }
    expect_loop(f, PFS_LIST_MAX_EMPTY_PAGES + 1, PFS_LIST_MAX_EMPTY_PAGES,
                "empty truncated pages in a row");
    destroy(f);
}

static void test_empty_pages_s3(void **state)
{
    (void)state;
    empty_pages_forever(PFS_DIALECT_S3);
}

static void test_empty_pages_tos(void **state)
{
    (void)state;
    empty_pages_forever(PFS_DIALECT_TOS);
}

/* What real stores do passes: prefixes and keys interleaved across pages, a
 * prefix followed by keys past its subtree, empty truncated pages (S3 skipping
 * delete markers) up to the bound, then the end. */
static void honest_walk(enum pfs_dialect d)
{
    struct fx *f = make(d, 0);
    push_page(f, d, "d/a", "d/b/", "T1");
    for (int i = 0; i < PFS_LIST_MAX_EMPTY_PAGES; i++) {
        char token[16];
        snprintf(token, sizeof(token), "E%d", i);
        push_page(f, d, "", "", token);
    }
    push_page(f, d, "d/b0 d/c", "", "T2");
    push_page(f, d, "", "d/e/", "T1"); /* an old token is fine once names moved on */
    push_page(f, d, "d/f", "", NULL);
    struct pfs_list_params lp = {.prefix = "d/", .delimiter = "/"};
    struct pfs_status st;
    struct seen seen = {0};
    assert_int_equal(pfs_client_list_each(f->c, &lp, count_page, &seen, &st), 0);
    assert_int_equal(seen.pages, PFS_LIST_MAX_EMPTY_PAGES + 4);
    assert_int_equal(seen.names, 6);
    destroy(f);
}

static void test_honest_walk_s3(void **state)
{
    (void)state;
    honest_walk(PFS_DIALECT_S3);
}

static void test_honest_walk_tos(void **state)
{
    (void)state;
    honest_walk(PFS_DIALECT_TOS);
}

/* ---- GETs whose body is not the range asked for ---- */

/* A ranged GET of len bytes at offset answered with status, body and
 * headers: 0 with *got, or -1 with st. */
static int get_answered(struct fx *f, long status, const char *body, const char *const *headers,
                        uint64_t offset, size_t len, size_t *got, struct pfs_status *st)
{
    char buf[128];
    fake_http_push(f->fake, status, body, headers);
    return pfs_client_get_range(f->c, buf, len, offset, got, "k", st);
}

#define H(...) ((const char *[]){__VA_ARGS__, NULL})

static void expect_refused(struct fx *f, long status, const char *body, const char *const *headers,
                           uint64_t offset, size_t len, const char *reason)
{
    size_t got = 99;
    struct pfs_status st;
    assert_int_equal(get_answered(f, status, body, headers, offset, len, &got, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_non_null(strstr(st.message, reason));
}

static void test_get_body_not_the_range(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    const char *ten = "0123456789";
    /* Fewer bytes than asked, the object going on past them. */
    expect_refused(f, 206, ten, H("Content-Range: bytes 0-19/100"), 0, 20,
                   "length is not the Content-Range's");
    expect_refused(f, 206, ten, H("Content-Range: bytes 0-9/100"), 0, 20,
                   "fewer bytes than asked for");
    expect_refused(f, 206, ten, H("Content-Range: bytes 0-9/*"), 0, 20,
                   "fewer bytes than asked for");
    /* Another range, none, or a malformed one. */
    expect_refused(f, 206, ten, H("Content-Range: bytes 10-19/100"), 0, 10, "offset");
    expect_refused(f, 206, ten, H("Content-Length: 10"), 0, 10, "without a valid Content-Range");
    expect_refused(f, 206, ten, H("Content-Range: bytes 9-0/100"), 9, 10,
                   "without a valid Content-Range");
    expect_refused(f, 206, ten, H("Content-Range: items 0-9/100"), 0, 10,
                   "without a valid Content-Range");
    /* A 200 whose length nothing vouches for, or that lies about it. */
    expect_refused(f, 200, ten, NULL, 0, 20, "without a Content-Length");
    expect_refused(f, 200, ten, H("Content-Length: 12"), 0, 20, "not its Content-Length");
    /* Honest answers pass: the end of the object, a whole small object. */
    size_t got = 0;
    struct pfs_status st;
    assert_int_equal(get_answered(f, 206, ten, H("Content-Range: bytes 5-14/15"), 5, 20, &got, &st),
                     0);
    assert_int_equal(got, 10);
    assert_int_equal(get_answered(f, 206, ten, H("Content-Range: bytes 0-9/*"), 0, 10, &got, &st),
                     0);
    assert_int_equal(got, 10);
    assert_int_equal(get_answered(f, 200, ten, H("Content-Length: 10"), 0, 20, &got, &st), 0);
    assert_int_equal(got, 10);
    assert_int_equal(get_answered(f, 200, ten, H("Transfer-Encoding: chunked"), 0, 20, &got, &st),
                     0);
    assert_int_equal(got, 10);
    destroy(f);
}

/* A GET to the end of the object (into a file) must reach it. */
static void test_get_to_fd_short_of_the_end(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_TOS, 0);
    FILE *tmp = tmpfile();
    uint64_t got = 0;
    struct pfs_status st;
    fake_http_push(f->fake, 206, "56789", H("Content-Range: bytes 5-9/20"));
    assert_int_equal(
        pfs_client_get_to_fd(f->c, fileno(tmp), 0, 5, UINT64_MAX, &got, NULL, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(got, 0);
    fake_http_push(f->fake, 206, "56789", H("Content-Range: bytes 5-9/10"));
    assert_int_equal(
        pfs_client_get_to_fd(f->c, fileno(tmp), 0, 5, UINT64_MAX, &got, NULL, "k", &st), 0);
    assert_int_equal(got, 5);
    fclose(tmp);
    destroy(f);
}

/* ---- redirects: never followed, the error names where they point ---- */

static void test_redirect_not_followed(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 3);
    fake_http_push(f->fake, 301,
                   "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting "
                   "to access must be addressed using the specified endpoint.</Message><Bucket>"
                   "bkt</Bucket><Endpoint>bkt.s3.eu-west-1.amazonaws.com</Endpoint><RequestId>R1"
                   "</RequestId></Error>",
                   H("Location: http://198.51.100.7:81/bkt/k?X-Amz-Signature=abc123&x=1"));
    struct pfs_object_info info;
    char buf[4];
    size_t got;
    struct pfs_status st;
    struct log_capture cap;
    capture_begin(&cap);
    assert_int_equal(pfs_client_get_range(f->c, buf, 4, 0, &got, "k", &st), -1);
    char log[4096];
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(st.http_status, 301);
    assert_string_equal(st.service_code, "PermanentRedirect");
    assert_string_equal(st.message,
                        "redirected to http://198.51.100.7:81/bkt/k, "
                        "not followed (the store names endpoint bkt.s3.eu-west-1.amazonaws.com)");
    assert_null(strstr(log, "abc123"));
    assert_non_null(strstr(log, "not followed"));
    /* One request: no retry, no re-sign, nothing sent to the Location. */
    assert_int_equal(fake_http_count(f->fake), 1);
    /* TOS, a bodiless 307 on a HEAD. */
    struct fx *t = make(PFS_DIALECT_TOS, 3);
    fake_http_push(t->fake, 307, NULL, H("Location: https://other.example:8443/k"));
    assert_int_equal(pfs_client_head(t->c, &info, "k", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_string_equal(st.service_code, "Redirect");
    assert_string_equal(st.message, "redirected to https://other.example:8443/k, not followed");
    assert_int_equal(fake_http_count(t->fake), 1);
    destroy(t);
    destroy(f);
}

/* ---- listings with names that are not UTF-8 ---- */

static int first_key(void *ctx, const struct pfs_list_page *page)
{
    char **out = ctx;
    *out = page->n_entries ? strdup(page->entries[0].key) : NULL;
    return 0;
}

static void non_utf8_listing(enum pfs_dialect d, const char *raw_body, const char *encoded_body)
{
    struct fx *f = make(d, 0);
    struct pfs_list_params lp = {.prefix = "d/", .delimiter = "/"};
    struct pfs_status st;
    char *key = NULL;
    /* Raw invalid UTF-8: the parser refuses the page, the walk fails. */
    fake_http_push(f->fake, 200, raw_body, NULL);
    struct log_capture cap;
    capture_begin(&cap);
    assert_int_equal(pfs_client_list_each(f->c, &lp, first_key, &key, &st), -1);
    char log[4096];
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_non_null(strstr(st.message, "not UTF-8"));
    assert_non_null(strstr(log, "LIST bkt prefix 'd/': unreadable listing"));
    assert_null(key);
    /* Url-encoded, it decodes to the bytes it names: a legal key. */
    fake_http_push(f->fake, 200, encoded_body, NULL);
    assert_int_equal(pfs_client_list_each(f->c, &lp, first_key, &key, &st), 0);
    assert_string_equal(key, "d/\xff\xfe"
                             "x");
    free(key);
    destroy(f);
}

static void test_non_utf8_s3(void **state)
{
    (void)state;
    non_utf8_listing(PFS_DIALECT_S3,
                     "<ListBucketResult><Contents><Key>d/\xff\xfex</Key><Size>1</Size></Contents>"
                     "<IsTruncated>false</IsTruncated></ListBucketResult>",
                     "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>d%2F%FF%FEx"
                     "</Key><Size>1</Size></Contents><IsTruncated>false</IsTruncated>"
                     "</ListBucketResult>");
}

static void test_non_utf8_tos(void **state)
{
    (void)state;
    non_utf8_listing(
        PFS_DIALECT_TOS,
        "{\"EncodingType\":\"\",\"Contents\":[{\"Key\":\"d/\xff\xfex\",\"Size\":1}],"
        "\"IsTruncated\":false,\"NextContinuationToken\":\"\"}",
        "{\"EncodingType\":\"url\",\"Contents\":[{\"Key\":\"d%2F%FF%FEx\",\"Size\":1}],"
        "\"IsTruncated\":false,\"NextContinuationToken\":\"\"}");
}

/* ---- caps on what a response may make us hold ---- */

static void test_header_caps(void **state)
{
    (void)state;
    struct pfs_http_response r;
    pfs_http_response_init(&r);
    for (int i = 0; i < PFS_HTTP_MAX_HEADERS; i++)
        assert_int_equal(pfs_http_response_add_header(&r, "X-A", 3, "v", 1), 0);
    assert_int_equal(pfs_http_response_add_header(&r, "X-A", 3, "v", 1), -E2BIG);
    pfs_http_response_reset(&r);
    char *big = malloc(PFS_HTTP_MAX_HEADER_TOTAL);
    memset(big, 'v', PFS_HTTP_MAX_HEADER_TOTAL);
    assert_int_equal(pfs_http_response_add_header(&r, "x", 1, big, PFS_HTTP_MAX_HEADER_BYTES),
                     -E2BIG);
    size_t each = PFS_HTTP_MAX_HEADER_BYTES - 1, fit = PFS_HTTP_MAX_HEADER_TOTAL / (each + 1);
    for (size_t i = 0; i < fit; i++)
        assert_int_equal(pfs_http_response_add_header(&r, "x", 1, big, each), 0);
    assert_int_equal(pfs_http_response_add_header(&r, "x", 1, big, each), -E2BIG);
    assert_int_equal(r.header_bytes, fit * (each + 1));
    /* A new status line (after a 1xx) starts the count afresh. */
    pfs_http_response_clear_headers(&r);
    assert_int_equal(pfs_http_response_add_header(&r, "x", 1, big, each), 0);
    free(big);
    pfs_http_response_cleanup(&r);
}

/* A listing page over list_max_body: EIO naming the cap, not a page. */
static void test_listing_body_cap(void **state)
{
    (void)state;
    struct fx *f = make(PFS_DIALECT_S3, 0);
    pfs_client_free(f->c);
    struct pfs_client_opts opts = {.list_max_body = 64, .sleep_ms = record_sleep, .sleep_ctx = f};
    assert_int_equal(pfs_client_new(&f->c, fake_http_transport(f->fake), f->urls, NULL,
                                    PFS_DIALECT_S3, "bkt", &opts),
                     0);
    char *body = page_body(PFS_DIALECT_S3, "d/a d/b d/c", "", NULL);
    assert_true(strlen(body) > 64);
    fake_http_push(f->fake, 200, body, NULL);
    free(body);
    struct pfs_list_page page;
    struct pfs_list_params lp = {.prefix = "d/"};
    struct pfs_status st;
    assert_int_equal(pfs_client_list(f->c, &page, &lp, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_non_null(strstr(st.message, "larger body than expected (over 64 bytes)"));
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_token_s3),
        cmocka_unit_test(test_same_token_tos),
        cmocka_unit_test(test_token_cycle_s3),
        cmocka_unit_test(test_token_cycle_tos),
        cmocka_unit_test(test_keys_backwards_s3),
        cmocka_unit_test(test_keys_backwards_tos),
        cmocka_unit_test(test_page_repeats_last_name),
        cmocka_unit_test(test_empty_pages_s3),
        cmocka_unit_test(test_empty_pages_tos),
        cmocka_unit_test(test_honest_walk_s3),
        cmocka_unit_test(test_honest_walk_tos),
        cmocka_unit_test(test_get_body_not_the_range),
        cmocka_unit_test(test_get_to_fd_short_of_the_end),
        cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_non_utf8_s3),
        cmocka_unit_test(test_non_utf8_tos),
        cmocka_unit_test(test_header_caps),
        cmocka_unit_test(test_listing_body_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

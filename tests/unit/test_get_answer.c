/* A GET's answer checked before its body counts as the object's bytes
 * (get_answer.c): the exact range of a 206, the checked length of a 200,
 * the object's size an answer states, and the decimal of a header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "get_answer.h"

static void answer(struct pfs_http_response *r, long status, const char *name, const char *value)
{
    pfs_http_response_init(r);
    r->status = status;
    if (name)
        assert_int_equal(pfs_http_response_add_header(r, name, strlen(name), value, strlen(value)),
                         0);
}

static const char *partial(const char *content_range, uint64_t off, uint64_t len, uint64_t got)
{
    struct pfs_http_response r;
    answer(&r, 206, content_range ? "Content-Range" : NULL, content_range);
    const char *why = pfs_get_answer_partial_fault(&r, off, len, got);
    pfs_http_response_cleanup(&r);
    return why;
}

static void test_a_206_holds_exactly_its_range(void **state)
{
    (void)state;
    assert_null(partial("bytes 100-199/1000", 100, 100, 100));
    assert_null(partial("bytes 900-999/1000", 900, 500, 100)); /* short at the end */
    assert_null(partial("bytes 0-9/10", 0, UINT64_MAX, 10));   /* to the end */
    assert_string_equal(partial(NULL, 0, 10, 10), "a 206 without a valid Content-Range");
    assert_string_equal(partial("bytes 5-4/10", 5, 1, 0), "a 206 without a valid Content-Range");
    assert_string_equal(partial("items 0-9/10", 0, 10, 10), "a 206 without a valid Content-Range");
    assert_string_equal(partial("bytes 0-9", 0, 10, 10), "a 206 without a valid Content-Range");
    assert_string_equal(partial("bytes 1-10/100", 0, 10, 10),
                        "Content-Range does not start at the requested offset");
    assert_string_equal(partial("bytes 0-9/100", 0, 10, 9),
                        "the body's length is not the Content-Range's");
    assert_string_equal(partial("bytes 0-19/100", 0, 10, 20),
                        "the store sent more bytes than asked for");
    /* Fewer bytes than asked for, where the object goes on (or its size is
     * not stated): a cut answer, never a shorter file. */
    assert_string_equal(partial("bytes 0-9/100", 0, 20, 10),
                        "the store sent fewer bytes than asked for, short of the object's end");
    assert_string_equal(partial("bytes 0-9/*", 0, 20, 10),
                        "the store sent fewer bytes than asked for, short of the object's end");
    assert_string_equal(partial("bytes 0-9/100", 0, UINT64_MAX, 10),
                        "the store sent fewer bytes than asked for, short of the object's end");
}

static void test_a_200_has_a_checked_length(void **state)
{
    (void)state;
    struct pfs_http_response r;
    answer(&r, 200, "Content-Length", "42");
    assert_null(pfs_get_answer_whole_fault(&r, 42));
    assert_string_equal(pfs_get_answer_whole_fault(&r, 41),
                        "the body's length is not its Content-Length");
    pfs_http_response_cleanup(&r);
    answer(&r, 200, "Transfer-Encoding", "chunked");
    assert_null(pfs_get_answer_whole_fault(&r, 7));
    pfs_http_response_cleanup(&r);
    answer(&r, 200, NULL, NULL); /* a body that ends when the connection does */
    assert_string_equal(pfs_get_answer_whole_fault(&r, 7), "a 200 without a Content-Length");
    pfs_http_response_cleanup(&r);
    answer(&r, 200, "Content-Length", "4x");
    assert_string_equal(pfs_get_answer_whole_fault(&r, 4), "a 200 without a Content-Length");
    pfs_http_response_cleanup(&r);
}

static void test_the_size_an_answer_states(void **state)
{
    (void)state;
    struct pfs_http_response r;
    answer(&r, 206, "Content-Range", "bytes 0-9/12345");
    assert_int_equal(pfs_get_answer_total(&r, 0), 12345);
    pfs_http_response_cleanup(&r);
    answer(&r, 206, "Content-Range", "bytes 0-9/*");
    assert_true(pfs_get_answer_total(&r, 0) == UINT64_MAX);
    pfs_http_response_cleanup(&r);
    answer(&r, 206, "Content-Range", "bytes 0-9/12x");
    assert_true(pfs_get_answer_total(&r, 0) == UINT64_MAX);
    pfs_http_response_cleanup(&r);
    answer(&r, 200, "Content-Length", "99");
    r.body_bytes = 99; /* a 200 from the start is the whole object */
    assert_int_equal(pfs_get_answer_total(&r, 0), 99);
    assert_true(pfs_get_answer_total(&r, 5) == UINT64_MAX);
    pfs_http_response_cleanup(&r);
}

static void test_a_header_decimal(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(pfs_header_decimal_u64(&v, "0"), 0);
    assert_int_equal(v, 0);
    assert_int_equal(pfs_header_decimal_u64(&v, "18446744073709551609"), 0);
    assert_true(v == 18446744073709551609ull);
    const char *bad[] = {
        NULL, "", "-1", "+1", " 1", "1 ", "1e3", "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_int_equal(pfs_header_decimal_u64(&v, bad[i]), -1);
        assert_int_equal(v, 7);
    }
}

/* Whether an answer's bytes may be read before it ends: the version asked
 * for, the range asked for (or a 200 from offset 0), nothing else. */
static uint64_t streamable(long status, const char *content_range, const char *etag, uint64_t off,
                           uint64_t len, const char *want)
{
    struct pfs_http_response r;
    answer(&r, status, content_range ? "Content-Range" : NULL, content_range);
    if (etag)
        assert_int_equal(pfs_http_response_add_header(&r, "ETag", 4, etag, strlen(etag)), 0);
    uint64_t ok = pfs_get_answer_streamable(&r, off, len, want);
    pfs_http_response_cleanup(&r);
    return ok;
}

/* A 200 from 0 with a Content-Length: no more than that. */
static uint64_t whole_streamable(const char *content_length, uint64_t len)
{
    struct pfs_http_response r;
    answer(&r, 200, "Content-Length", content_length);
    assert_int_equal(pfs_http_response_add_header(&r, "ETag", 4, "\"v1\"", 4), 0);
    uint64_t n = pfs_get_answer_streamable(&r, 0, len, "\"v1\"");
    pfs_http_response_cleanup(&r);
    return n;
}

static void test_an_answer_read_as_it_arrives(void **state)
{
    (void)state;
    assert_int_equal(streamable(206, "bytes 100-199/1000", "\"v1\"", 100, 100, "\"v1\""), 100);
    /* The end of the object: the range's length, not what was asked. */
    assert_int_equal(streamable(206, "bytes 100-149/150", "v1", 100, 100, "\"v1\""), 50);
    assert_int_equal(streamable(200, NULL, "\"v1\"", 0, 100, "\"v1\""), 100);
    assert_false(streamable(200, NULL, "\"v1\"", 100, 100, "\"v1\"")); /* Range ignored */
    assert_false(streamable(206, "bytes 100-199/1000", "\"v2\"", 100, 100, "\"v1\""));
    assert_false(streamable(206, "bytes 100-199/1000", NULL, 100, 100, "\"v1\""));
    assert_false(streamable(206, "bytes 100-199/1000", "\"v1\"", 100, 100, NULL));
    assert_false(streamable(206, "bytes 100-199/1000", "\"v1\"", 100, 100, ""));
    assert_false(streamable(206, "bytes 101-199/1000", "\"v1\"", 100, 100, "\"v1\""));
    assert_false(streamable(206, "bytes 100-200/1000", "\"v1\"", 100, 100, "\"v1\""));
    assert_false(streamable(206, "bytes 100-99/1000", "\"v1\"", 100, 100, "\"v1\""));
    assert_false(streamable(206, NULL, "\"v1\"", 100, 100, "\"v1\""));
    assert_false(streamable(206, "items 100-199/1000", "\"v1\"", 100, 100, "\"v1\""));
    assert_false(streamable(304, NULL, "\"v1\"", 0, 100, "\"v1\""));
    assert_int_equal(whole_streamable("40", 100), 40);
    assert_int_equal(whole_streamable("400", 100), 100);
    assert_true(pfs_get_answer_same_etag("\"abc\"", "abc"));
    assert_false(pfs_get_answer_same_etag("\"abc\"", "abcd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_206_holds_exactly_its_range),
        cmocka_unit_test(test_a_200_has_a_checked_length),
        cmocka_unit_test(test_the_size_an_answer_states),
        cmocka_unit_test(test_a_header_decimal),
        cmocka_unit_test(test_an_answer_read_as_it_arrives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

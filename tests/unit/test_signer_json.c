/* The signer's JSON: round trips (UTF-8, binary and NUL keys, valueless
 * query parameters), every refusal of a malformed request, the caps, and a
 * deterministic mutation fuzz of all three parsers (run under ASan in CI). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "signer_json.h"

static void test_round_trip(void **state)
{
    (void)state;
    struct pfs_kv q[] = {{"uploads", NULL}, {"prefix", "a/b c"}};
    struct pfs_kv h[] = {{"x-amz-meta-mode", "33188"}};
    static const char binary[] = {'k', '\xff', '\x00', 'z'};
    struct pfs_sign_request reqs[] = {
        {.method = "POST",
         .bucket = "b",
         .key = "dir/\xe6\x96\x87.txt",
         .key_len = 9,
         .query = q,
         .n_query = 2,
         .headers = h,
         .n_headers = 1},
        {.method = "GET", .bucket = "b", .key = binary, .key_len = sizeof(binary)},
        {.method = "HEAD", .bucket = "b", .key = "", .key_len = 0},
    };
    int64_t expires[] = {60, 0, 604800};
    struct pfs_buf body;
    pfs_buf_init(&body);
    assert_int_equal(pfs_signer_json_encode_request(&body, reqs, expires, 3), 0);
    assert_non_null(strstr(body.data, "\"key_hex\":\"6bff007a\""));
    struct pfs_signer_batch b;
    char why[256];
    assert_int_equal(pfs_signer_json_parse_request(&b, body.data, body.len, why, sizeof(why)), 0);
    assert_int_equal(b.n_items, 3);
    const struct pfs_sign_request *r = &b.items[0].req;
    assert_string_equal(r->method, "POST");
    assert_int_equal(r->key_len, 9);
    assert_memory_equal(r->key, "dir/\xe6\x96\x87.txt", 9);
    assert_int_equal(r->n_query, 2);
    assert_string_equal(r->query[0].name, "uploads");
    assert_null(r->query[0].value);
    assert_string_equal(r->query[1].value, "a/b c");
    assert_int_equal(r->n_headers, 1);
    assert_string_equal(r->headers[0].value, "33188");
    assert_int_equal(b.items[0].expires, 60);
    assert_int_equal(b.items[1].req.key_len, sizeof(binary));
    assert_memory_equal(b.items[1].req.key, binary, sizeof(binary));
    assert_int_equal(b.items[1].expires, 0);
    assert_int_equal(b.items[2].req.key_len, 0);
    assert_int_equal(b.items[2].expires, 604800);
    pfs_signer_batch_cleanup(&b);
    pfs_buf_cleanup(&body);

    /* A key holding \u0000 in "key" is read with its length. */
    const char *nul =
        "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"a\\u0000b\"}]}";
    assert_int_equal(pfs_signer_json_parse_request(&b, nul, strlen(nul), why, sizeof(why)), 0);
    assert_int_equal(b.items[0].req.key_len, 3);
    assert_memory_equal(b.items[0].req.key, "a\0b", 3);
    pfs_signer_batch_cleanup(&b);
}

static void expect_bad(const char *doc, int rc, const char *needle)
{
    struct pfs_signer_batch b;
    char why[256] = "";
    int got = pfs_signer_json_parse_request(&b, doc, strlen(doc), why, sizeof(why));
    if (got != rc || !strstr(why, needle))
        print_error("%s: rc %d why '%s'\n", doc, got, why);
    assert_int_equal(got, rc);
    assert_non_null(strstr(why, needle));
    pfs_signer_batch_cleanup(&b);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("", -EINVAL, "not JSON");
    expect_bad("[]", -EINVAL, "expected {\"requests\"");
    expect_bad("{\"requests\":[]}", -EINVAL, "is empty");
    expect_bad("{\"version\":2,\"requests\":[{}]}", -EINVAL, "unsupported version");
    expect_bad("{\"requests\":[1]}", -EINVAL, "must be an object");
    expect_bad("{\"requests\":[{\"bucket\":\"b\"}]}", -EINVAL, "needs \"method\"");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"colour\":1}]}", -EINVAL,
               "unknown field 'colour'");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"k\",\"key_hex\":"
               "\"6b\"}]}",
               -EINVAL, "both given");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key_hex\":\"6\"}]}", -EINVAL,
               "hex digits");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key_hex\":\"zz\"}]}", -EINVAL,
               "hex digits");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"expires\":0}]}", -EINVAL,
               "1..604800");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"expires\":604801}]}", -EINVAL,
               "1..604800");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"query\":[[\"a\"]]}]}",
               -EINVAL, "query[0]");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"headers\":[[\"a\",null]]}]}",
               -EINVAL, "headers[0]");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\\u0000c\"}]}", -EINVAL,
               "NUL byte");
    expect_bad("{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"query\":[[\"a\\u0000\","
               "\"v\"]]}]}",
               -EINVAL, "NUL byte");
    expect_bad("{\"requests\":[], \"requests\":[]}", -EINVAL, "not JSON");

    /* The caps. */
    struct pfs_buf big;
    pfs_buf_init(&big);
    pfs_buf_puts(&big, "{\"requests\":[");
    for (int i = 0; i <= PFS_SIGNER_MAX_BATCH; i++)
        pfs_buf_printf(&big, "%s{\"method\":\"GET\",\"bucket\":\"b\"}", i ? "," : "");
    pfs_buf_puts(&big, "]}");
    expect_bad(big.data, -E2BIG, "more than 1000");
    pfs_buf_reset(&big);
    pfs_buf_puts(&big, "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"query\":[");
    for (int i = 0; i <= PFS_SIGNER_MAX_PAIRS; i++)
        pfs_buf_printf(&big, "%s[\"n%d\",null]", i ? "," : "", i);
    pfs_buf_puts(&big, "]}]}");
    expect_bad(big.data, -E2BIG, "more than 64 pairs");
    pfs_buf_cleanup(&big);
    struct pfs_signer_batch b;
    char why[128];
    assert_int_equal(
        pfs_signer_json_parse_request(&b, "{}", (size_t)PFS_SIGNER_MAX_BODY + 1, why, sizeof(why)),
        -E2BIG);
    pfs_signer_batch_cleanup(&b);
}

static void test_results_and_errors(void **state)
{
    (void)state;
    struct pfs_signer_result in[2] = {{.url = "https://b.example/k?X=1", .expires_at = 1700000000},
                                      {.error = -EACCES}};
    snprintf(in[1].message, sizeof(in[1].message), "needs write access");
    struct pfs_buf body;
    pfs_buf_init(&body);
    assert_int_equal(pfs_signer_json_encode_results(&body, in, 2), 0);
    struct pfs_signer_result out[2];
    char why[128];
    assert_int_equal(pfs_signer_json_parse_results(out, 2, body.data, body.len, why, sizeof(why)),
                     0);
    assert_string_equal(out[0].url, "https://b.example/k?X=1");
    assert_int_equal(out[0].expires_at, 1700000000);
    assert_int_equal(out[1].error, -EACCES);
    assert_string_equal(out[1].message, "needs write access");
    pfs_signer_result_cleanup(&out[0]);
    pfs_signer_result_cleanup(&out[1]);
    /* A count that does not match is an error, not a guess. */
    struct pfs_signer_result three[3];
    assert_int_equal(pfs_signer_json_parse_results(three, 3, body.data, body.len, why, sizeof(why)),
                     -EINVAL);
    pfs_buf_reset(&body);
    assert_int_equal(pfs_signer_json_encode_error(&body, "unauthorized", "unknown token"), 0);
    char code[32], msg[64];
    pfs_signer_json_parse_error(body.data, body.len, code, sizeof(code), msg, sizeof(msg));
    assert_string_equal(code, "unauthorized");
    assert_string_equal(msg, "unknown token");
    pfs_signer_json_parse_error("<html>", 6, code, sizeof(code), msg, sizeof(msg));
    assert_string_equal(code, "");
    pfs_buf_cleanup(&body);
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Flips, inserts, deletes and truncates bytes of valid documents. Every
 * parser must answer (0 or an error with a reason) without a sanitizer
 * report or a leak. */
static void test_fuzz(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"version\":1,\"requests\":[{\"method\":\"PUT\",\"bucket\":\"b\",\"key\":\"a/b\","
        "\"query\":[[\"partNumber\",\"1\"],[\"uploads\",null]],\"headers\":[[\"content-type\","
        "\"x\"]],\"expires\":60},{\"method\":\"GET\",\"bucket\":\"b\",\"key_hex\":\"00ff\"}]}",
        "{\"results\":[{\"url\":\"http://h/b/k\",\"expires_at\":5},{\"error\":\"forbidden\","
        "\"message\":\"no\"}]}",
        "{\"dialect\":\"s3\",\"endpoint\":\"http://h\",\"region\":\"r\",\"addressing\":\"path\","
        "\"client\":\"c\",\"access\":\"read\",\"max_expires\":60,\"max_batch\":1000}",
    };
    const char alphabet[] = "{}[]\":,\\u0 null1-ax";
    int accepted = 0;
    for (int iter = 0; iter < 30000; iter++) {
        const char *seed = seeds[iter % 3];
        size_t len = strlen(seed);
        char buf[1024];
        memcpy(buf, seed, len);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t pos = next() % len;
            switch (next() % 4) {
            case 0:
                buf[pos] = alphabet[next() % (sizeof(alphabet) - 1)];
                break;
            case 1:
                buf[pos] = (char)(next() & 0xff);
                break;
            case 2:
                if (len < sizeof(buf) - 1) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = alphabet[next() % (sizeof(alphabet) - 1)];
                    len++;
                }
                break;
            default:
                len = pos;
                break;
            }
        }
        char why[256] = "";
        struct pfs_signer_batch b;
        int rc = pfs_signer_json_parse_request(&b, buf, len, why, sizeof(why));
        if (rc == 0) {
            accepted++;
            for (size_t i = 0; i < b.n_items; i++) {
                assert_non_null(b.items[i].req.method);
                assert_non_null(b.items[i].req.bucket);
                assert_non_null(b.items[i].req.key);
                for (size_t j = 0; j < b.items[i].req.n_query; j++)
                    assert_non_null(b.items[i].req.query[j].name);
            }
        } else {
            assert_true(why[0] != '\0' || rc == -ENOMEM);
        }
        pfs_signer_batch_cleanup(&b);
        struct pfs_signer_result res[2];
        rc = pfs_signer_json_parse_results(res, 2, buf, len, why, sizeof(why));
        for (int i = 0; rc == 0 && i < 2; i++) {
            assert_true(res[i].error != 0 || res[i].url != NULL);
            pfs_signer_result_cleanup(&res[i]);
        }
        if (rc != 0)
            for (int i = 0; i < 2; i++)
                pfs_signer_result_cleanup(&res[i]);
        struct pfs_signer_info info;
        pfs_signer_json_parse_info(&info, buf, len, why, sizeof(why));
        char code[32], msg[64];
        pfs_signer_json_parse_error(buf, len, code, sizeof(code), msg, sizeof(msg));
    }
    assert_true(accepted > 0); /* the mutations do not only produce garbage */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_results_and_errors),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

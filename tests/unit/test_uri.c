/* Percent-encoding rules and endpoint normalisation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uri.h"

static char *enc(const char *s, size_t n, bool keep_slash)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_uri_encode(&b, s, n, keep_slash);
    return pfs_buf_detach(&b);
}

static void check(const char *in, bool keep_slash, const char *want)
{
    char *got = enc(in, strlen(in), keep_slash);
    assert_string_equal(got, want);
    free(got);
}

static void test_encode(void **state)
{
    (void)state;
    check("AZaz09-_.~", false, "AZaz09-_.~");
    check("a b+c%d*e!'()", false, "a%20b%2Bc%25d%2Ae%21%27%28%29");
    check("dir/sub dir/", true, "dir/sub%20dir/");
    check("dir/sub", false, "dir%2Fsub");
    check("?#&=;,:@$", true, "%3F%23%26%3D%3B%2C%3A%40%24");
    check("\xe4\xb8\xad", true, "%E4%B8%AD");
    check("a/./b/../c", true, "a/./b/../c");
    char *z = enc("a\0b", 3, true);
    assert_string_equal(z, "a%00b");
    free(z);
    check("", true, "");
}

static void test_decode(void **state)
{
    (void)state;
    struct pfs_buf b;
    pfs_buf_init(&b);
    assert_int_equal(pfs_uri_decode(&b, "a%20b+%2f%E4%b8%AD", 18), 0);
    assert_string_equal(b.data, "a b+/\xe4\xb8\xad");
    pfs_buf_reset(&b);
    assert_int_equal(pfs_uri_decode(&b, "bad%2", 5), -EINVAL);
    pfs_buf_reset(&b);
    assert_int_equal(pfs_uri_decode(&b, "bad%zz", 6), -EINVAL);
    pfs_buf_reset(&b);
    assert_int_equal(pfs_uri_decode(&b, "%", 1), -EINVAL);
    pfs_buf_reset(&b);
    assert_int_equal(pfs_uri_decode_form(&b, "a%20b+c%2B%2f", 13), 0);
    assert_string_equal(b.data, "a b c+/");
    pfs_buf_reset(&b);
    assert_int_equal(pfs_uri_decode_form(&b, "x+%2", 4), -EINVAL);
    pfs_buf_cleanup(&b);
}

static void test_endpoint_ok(void **state)
{
    (void)state;
    struct pfs_endpoint ep;
    const char *why;
    assert_int_equal(pfs_endpoint_parse(&ep, "https://TOS-CN-Beijing.Volces.com", &why), 0);
    assert_true(ep.https);
    assert_string_equal(ep.host, "tos-cn-beijing.volces.com");
    assert_int_equal(ep.port, 0);
    assert_false(ep.host_is_ip);
    assert_int_equal(pfs_endpoint_parse(&ep, "http://127.0.0.1:9000/", &why), 0);
    assert_false(ep.https);
    assert_int_equal(ep.port, 9000);
    assert_true(ep.host_is_ip);
    /* Default ports are dropped so the signed Host equals what curl sends. */
    assert_int_equal(pfs_endpoint_parse(&ep, "https://h.example:443", &why), 0);
    assert_int_equal(ep.port, 0);
    assert_int_equal(pfs_endpoint_parse(&ep, "http://h.example:80", &why), 0);
    assert_int_equal(ep.port, 0);
    assert_int_equal(pfs_endpoint_parse(&ep, "http://h.example:443", &why), 0);
    assert_int_equal(ep.port, 443);
    assert_int_equal(pfs_endpoint_parse(&ep, "http://[::1]:9000", &why), 0);
    assert_string_equal(ep.host, "[::1]");
    assert_true(ep.host_is_ip);
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_endpoint_authority(&b, &ep, NULL);
    assert_string_equal(b.data, "[::1]:9000");
    pfs_buf_reset(&b);
    assert_int_equal(pfs_endpoint_parse(&ep, "https://s3.local.test:8080", &why), 0);
    pfs_endpoint_authority(&b, &ep, "bkt");
    assert_string_equal(b.data, "bkt.s3.local.test:8080");
    pfs_buf_cleanup(&b);
}

static void test_endpoint_bad(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "ftp://h",
                         "h.example",
                         "http://",
                         "http://h:",
                         "http://h:0",
                         "http://h:65536",
                         "http://h:99999999999",
                         "http://h:80x",
                         "http://h/path",
                         "http://user@h",
                         "http://[::1",
                         "http://[zz]:80",
                         "http://h?x=1",
                         "http://-h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pfs_endpoint ep;
        const char *why = NULL;
        if (pfs_endpoint_parse(&ep, bad[i], &why) != -EINVAL)
            fail_msg("endpoint '%s' was accepted", bad[i]);
        assert_non_null(why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_endpoint_ok),
        cmocka_unit_test(test_endpoint_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* s3fs's xattr encoding (src/xattrs.c), with s3fs's own test vectors
 * (test_string_util.cpp test_parse_xattrs) under its URL encoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xattrs.h"

static void test_s3fs_vectors(void **state)
{
    (void)state;
    struct pfs_xattrs x = {0};
    int err;
    assert_null(pfs_xattrs_encode(&x, &err));
    assert_int_equal(err, 0);
    assert_int_equal(pfs_xattrs_set(&x, "foo", "bar", 3), 0);
    char *e = pfs_xattrs_encode(&x, &err);
    assert_string_equal(e, "%7B%22foo%22%3A%22YmFy%22%7D"); /* {"foo":"YmFy"} */
    free(e);
    assert_int_equal(pfs_xattrs_set(&x, "1234", "5678", 4), 0);
    e = pfs_xattrs_encode(&x, &err);
    assert_string_equal(e, "%7B%221234%22%3A%22NTY3OA%3D%3D%22%2C%22foo%22%3A%22YmFy%22%7D");
    pfs_xattrs_cleanup(&x);
    assert_int_equal(pfs_xattrs_parse(&x, e), 0);
    free(e);
    assert_int_equal(x.n, 2);
    assert_memory_equal(pfs_xattrs_find(&x, "1234")->value, "5678", 4);
    assert_memory_equal(pfs_xattrs_find(&x, "foo")->value, "bar", 3);
    pfs_xattrs_cleanup(&x);
    /* a name with ':' (s3fs splits at the last one) */
    assert_int_equal(pfs_xattrs_parse(&x, "%7B%22foo%3Abar%22%3A%22YmF6%22%7D"), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(pfs_xattrs_find(&x, "foo:bar")->len, 3);
    pfs_xattrs_cleanup(&x);
}

static void test_edit_and_binary(void **state)
{
    (void)state;
    struct pfs_xattrs x = {0};
    const uint8_t bin[] = {0, 1, 0xff, '"', ',', 0};
    assert_int_equal(pfs_xattrs_set(&x, "user.b", bin, sizeof(bin)), 0);
    assert_int_equal(pfs_xattrs_set(&x, "user.a", "", 0), 0);
    assert_int_equal(pfs_xattrs_set(&x, "user.b", "new", 3), 0);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.e[0].name, "user.a");
    assert_int_equal(pfs_xattrs_set(&x, "bad\"name", "v", 1), -EINVAL);
    assert_int_equal(pfs_xattrs_set(&x, "bad,name", "v", 1), -EINVAL);
    assert_int_equal(pfs_xattrs_set(&x, "", "v", 1), -EINVAL);
    assert_int_equal(pfs_xattrs_set(&x, "user.c", bin, sizeof(bin)), 0);
    int err;
    char *e = pfs_xattrs_encode(&x, &err);
    pfs_xattrs_cleanup(&x);
    assert_int_equal(pfs_xattrs_parse(&x, e), 0);
    free(e);
    assert_int_equal(x.n, 3);
    assert_int_equal(pfs_xattrs_find(&x, "user.a")->len, 0);
    assert_int_equal(pfs_xattrs_find(&x, "user.c")->len, sizeof(bin));
    assert_memory_equal(pfs_xattrs_find(&x, "user.c")->value, bin, sizeof(bin));
    assert_int_equal(pfs_xattrs_remove(&x, "user.a"), 0);
    assert_int_equal(pfs_xattrs_remove(&x, "user.a"), -ENODATA);
    assert_null(pfs_xattrs_find(&x, "user.a"));
    pfs_xattrs_remove(&x, "user.b");
    pfs_xattrs_remove(&x, "user.c");
    assert_null(pfs_xattrs_encode(&x, &err)); /* nothing left: no header */
    pfs_xattrs_cleanup(&x);
}

static void test_foreign_garbage(void **state)
{
    (void)state;
    struct pfs_xattrs x;
    const char *bad[] = {"", "not json", "%ZZ", "%7B", "%7D%7B", "%7B%22a%22%7D",
                         "%7B%22a%22%3A%22%21%21%22%7D", "%7B%3A%22YQ%3D%3D%22%7D",
                         /* a NUL in the name (found by fuzz.meta) */
                         "%7B%22%00a%22%3A%22YQ%3D%3D%22%7D", "%7B%22a%00%22%3A%22YQ%3D%3D%22%7D"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pfs_xattrs_parse(&x, bad[i]), 0);
        assert_int_equal(x.n, 0);
        pfs_xattrs_cleanup(&x);
    }
    assert_int_equal(pfs_xattrs_parse(&x, NULL), 0);
    /* one bad pair among good ones is skipped */
    assert_int_equal(pfs_xattrs_parse(&x, "{\"a\":\"YQ==\",junk,\"b\":\"Yg==\"}"), 0);
    assert_int_equal(x.n, 2);
    pfs_xattrs_cleanup(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3fs_vectors),
        cmocka_unit_test(test_edit_and_binary),
        cmocka_unit_test(test_foreign_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

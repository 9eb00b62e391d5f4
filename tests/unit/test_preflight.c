/* Pre-mount checks: bucket names by dialect and addressing, an empty mount
 * point, a usable cache directory (made with its parents, a file refused, an
 * unwritable one refused, "full" by the free-space floor). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "preflight.h"
#include "testutil.h"

static char *dir;
static char why[1024];

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

static void name_ok(const char *n, enum pfs_dialect d, enum pfs_addressing a)
{
    if (pfs_preflight_bucket_name(n, d, a, why, sizeof(why)) != 0)
        fail_msg("'%s' refused: %s", n, why);
}

static void name_bad(const char *n, enum pfs_dialect d, enum pfs_addressing a, const char *needle)
{
    assert_int_equal(pfs_preflight_bucket_name(n, d, a, why, sizeof(why)), -EINVAL);
    if (!strstr(why, needle) || !strstr(why, "bucket name"))
        fail_msg("'%s': message '%s' lacks '%s'", n, why, needle);
}

static void test_bucket_names(void **state)
{
    (void)state;
    const enum pfs_dialect T = PFS_DIALECT_TOS, S = PFS_DIALECT_S3;
    const enum pfs_addressing V = PFS_ADDRESSING_VIRTUAL, P = PFS_ADDRESSING_PATH;
    name_ok("ftest", S, P);
    name_ok("my-bucket-01", T, V);
    name_ok("logs.example.com", S, V);
    name_ok("Legacy_Bucket.Name", S, P); /* us-east-1 took these, path-style */
    name_bad("ab", S, P, "3 to 255");
    name_bad("ab", T, V, "3 to 63");
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    name_bad(longname, S, P, "3 to 255");
    longname[64] = '\0';
    name_bad(longname, S, V, "3 to 63");
    name_bad("Upper", T, V, "lower-case letters, digits and '-'");
    name_bad("a.b.c", T, V, "lower-case letters, digits and '-'");
    name_bad("bad bucket", S, P, "letters, digits");
    name_bad("bad\x01name", S, P, "letters, digits");
    name_bad("-abc", T, V, "begin and end");
    name_bad("abc.", S, V, "begin and end");
    name_bad("a..b", S, V, "two dots");
}

static void test_mountpoint_empty(void **state)
{
    (void)state;
    char mp[400];
    snprintf(mp, sizeof(mp), "%.300s/mp", dir);
    assert_int_equal(mkdir(mp, 0700), 0);
    assert_int_equal(pfs_preflight_mountpoint_empty(mp, why, sizeof(why)), 0);
    tu_write(mp, "file.txt", "x", 0600);
    assert_int_equal(pfs_preflight_mountpoint_empty(mp, why, sizeof(why)), -EEXIST);
    assert_non_null(strstr(why, "is not empty (it holds 'file.txt')"));
    assert_non_null(strstr(why, "-o nonempty"));
    snprintf(mp, sizeof(mp), "%s/none", dir);
    assert_int_equal(pfs_preflight_mountpoint_empty(mp, why, sizeof(why)), -ENOENT);
}

static void test_cache_dir(void **state)
{
    (void)state;
    char p[600];
    /* Parents are made: a fresh account has no ~/.cache. */
    snprintf(p, sizeof(p), "%s/home/.cache/presignfs", dir);
    assert_int_equal(pfs_preflight_cache_dir(p, 0, why, sizeof(why)), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* The probe file is gone again. */
    assert_int_equal(pfs_preflight_mountpoint_empty(p, why, sizeof(why)), 0);

    const char *f = tu_write(dir, "afile", "x", 0600);
    assert_int_equal(pfs_preflight_cache_dir(f, 0, why, sizeof(why)), -ENOTDIR);
    assert_non_null(strstr(why, "is not a directory"));
    snprintf(p, sizeof(p), "%s/afile/sub", dir);
    assert_int_equal(pfs_preflight_cache_dir(p, 0, why, sizeof(why)), -ENOTDIR);
    assert_non_null(strstr(why, "cannot create it"));

    /* Full: more free space asked for than any disk has. */
    snprintf(p, sizeof(p), "%s/home/.cache/presignfs", dir);
    assert_int_equal(pfs_preflight_cache_dir(p, UINT64_MAX, why, sizeof(why)), -ENOSPC);
    assert_non_null(strstr(why, "is full"));

    /* Unwritable (root writes anywhere: the mount test covers it as root
     * with a read-only file system). */
    if (geteuid() != 0) {
        snprintf(p, sizeof(p), "%s/ro", dir);
        assert_int_equal(mkdir(p, 0500), 0);
        assert_int_equal(pfs_preflight_cache_dir(p, 0, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "cannot create a file in it"));
        chmod(p, 0700);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_names),
        cmocka_unit_test(test_mountpoint_empty),
        cmocka_unit_test(test_cache_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The runtime registry: where it lives, the checks on that directory, and
 * mount point -> cache_dir entries under different spellings of a path. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "runtime.h"
#include "testutil.h"

static char *tmp;
static char rt[PATH_MAX], mnt[PATH_MAX], cache[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    tmp = tu_mkdtemp();
    assert_non_null(tmp);
    snprintf(rt, sizeof(rt), "%s/rt", tmp);
    snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    assert_int_equal(mkdir(mnt, 0755), 0);
    assert_int_equal(mkdir(cache, 0700), 0);
    setenv("PRESIGNFS_RUNTIME_DIR", rt, 1);
    pfs_log_set_level(PFS_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp);
    return 0;
}

static void test_dir(void **state)
{
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), 0);
    assert_string_equal(out, rt);
    struct stat st;
    assert_int_equal(stat(rt, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), 0); /* exists: fine */
    assert_int_equal(pfs_runtime_dir(out, 4), -ENAMETOOLONG);

    /* Others may write to it: refused. */
    chmod(rt, 0777);
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), -EPERM);
    chmod(rt, 0700);
    /* Not a directory, or a symbolic link to one. */
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/file", tmp);
    tu_write(tmp, "file", "x", 0600);
    setenv("PRESIGNFS_RUNTIME_DIR", f, 1);
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), -ENOTDIR);
    snprintf(f, sizeof(f), "%s/link", tmp);
    assert_int_equal(symlink(rt, f), 0);
    setenv("PRESIGNFS_RUNTIME_DIR", f, 1);
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), -ENOTDIR);

    /* Without the override: $XDG_RUNTIME_DIR/presignfs. */
    unsetenv("PRESIGNFS_RUNTIME_DIR");
    setenv("XDG_RUNTIME_DIR", tmp, 1);
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), 0);
    snprintf(f, sizeof(f), "%s/presignfs", tmp);
    assert_string_equal(out, f);
    setenv("PRESIGNFS_RUNTIME_DIR", "", 1); /* empty counts as unset */
    assert_int_equal(pfs_runtime_dir(out, sizeof(out)), 0);
    assert_string_equal(out, f);
    setenv("PRESIGNFS_RUNTIME_DIR", rt, 1);
}

static void test_register_lookup(void **state)
{
    (void)state;
    char out[PATH_MAX], spelled[PATH_MAX + 32], want[PATH_MAX];
    assert_int_equal(pfs_runtime_lookup(mnt, out, sizeof(out)), -ENOENT);
    assert_int_equal(pfs_runtime_register(mnt, cache), 0);
    char *real = realpath(cache, NULL);
    snprintf(want, sizeof(want), "%s", real);
    free(real);
    assert_int_equal(pfs_runtime_lookup(mnt, out, sizeof(out)), 0);
    assert_string_equal(out, want);

    /* Other spellings of the same mount point. */
    snprintf(spelled, sizeof(spelled), "%s/", mnt);
    assert_int_equal(pfs_runtime_lookup(spelled, out, sizeof(out)), 0);
    assert_string_equal(out, want);
    snprintf(spelled, sizeof(spelled), "%s/../mnt/.", mnt);
    assert_int_equal(pfs_runtime_lookup(spelled, out, sizeof(out)), 0);
    snprintf(spelled, sizeof(spelled), "%s/mntlink", tmp);
    assert_int_equal(symlink(mnt, spelled), 0);
    assert_int_equal(pfs_runtime_lookup(spelled, out, sizeof(out)), 0);
    assert_string_equal(out, want);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmp), 0);
    assert_int_equal(pfs_runtime_lookup("mnt", out, sizeof(out)), 0);
    assert_string_equal(out, want);
    /* A relative cache_dir is stored absolute. */
    assert_int_equal(pfs_runtime_register("mnt", "cache/"), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(pfs_runtime_lookup(mnt, out, sizeof(out)), 0);
    assert_string_equal(out, want);

    /* A different mount point is a different entry. */
    assert_int_equal(pfs_runtime_lookup(tmp, out, sizeof(out)), -ENOENT);
    /* Too small a buffer. */
    assert_int_equal(pfs_runtime_lookup(mnt, out, 5), -ENAMETOOLONG);

    /* Re-registering replaces; unregistering forgets (twice is fine). */
    assert_int_equal(pfs_runtime_register(mnt, tmp), 0);
    assert_int_equal(pfs_runtime_lookup(mnt, out, sizeof(out)), 0);
    real = realpath(tmp, NULL);
    assert_string_equal(out, real);
    free(real);
    pfs_runtime_unregister(mnt);
    assert_int_equal(pfs_runtime_lookup(mnt, out, sizeof(out)), -ENOENT);
    pfs_runtime_unregister(mnt);

    /* A cache_dir that does not exist cannot be registered. */
    snprintf(spelled, sizeof(spelled), "%s/nope", tmp);
    assert_int_equal(pfs_runtime_register(mnt, spelled), -ENOENT);

    /* A mount point that cannot be resolved (gone, or a dead mount) is its
     * parent plus its name. */
    snprintf(spelled, sizeof(spelled), "%s/gone", tmp);
    assert_int_equal(pfs_runtime_register(spelled, cache), 0);
    assert_int_equal(pfs_runtime_lookup(spelled, out, sizeof(out)), 0);
    assert_string_equal(out, want);
    snprintf(spelled, sizeof(spelled), "%s/../%s/gone/", tmp, strrchr(tmp, '/') + 1);
    assert_int_equal(pfs_runtime_lookup(spelled, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_hostile_entry(void **state)
{
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(pfs_runtime_register(mnt, cache), 0);
    /* Find the entry file and overwrite it. */
    char cmd[PATH_MAX * 2];
    const char *bad[] = {"", "relative/path\n", "/with\nnewline\n\n", "/nul"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(cmd, sizeof(cmd), "for f in '%s'/*.mount; do printf '%%s' '%s' > \"$f\"; done", rt,
                 bad[i]);
        assert_int_equal(system(cmd), 0);
        if (i == 3) {
            snprintf(cmd, sizeof(cmd), "for f in '%s'/*.mount; do printf '/a\\000b' > \"$f\"; done",
                     rt);
            assert_int_equal(system(cmd), 0);
        }
        int rc = pfs_runtime_lookup(mnt, out, sizeof(out));
        if (i == 2) {
            assert_int_equal(rc, 0); /* one newline is stripped, the rest is the name */
            assert_string_equal(out, "/with\nnewline\n");
        } else {
            assert_int_equal(rc, -EINVAL);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_entry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

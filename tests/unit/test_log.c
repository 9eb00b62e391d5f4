/* Log redaction: no signature, token or access key survives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void test_redact(void **state)
{
    (void)state;
    char out[512];
    pfs_log_redact_url(out, sizeof(out),
                       "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F2024"
                       "&X-Amz-Security-Token=TOKEN&prefix=a&X-Amz-Signature=abcdef");
    assert_string_equal(out, "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                             "REDACTED&X-Amz-Security-Token=REDACTED&prefix=a&X-Amz-Signature="
                             "REDACTED");
    pfs_log_redact_url(out, sizeof(out), "https://h/k?x-tos-signature=ff&X-Tos-Security-Token=t");
    assert_null(strstr(out, "ff"));
    assert_null(strstr(out, "=t"));
    pfs_log_redact_url(out, sizeof(out), "https://h/k");
    assert_string_equal(out, "https://h/k");
    /* Truncation never overruns and keeps a terminator. */
    char small[10];
    pfs_log_redact_url(small, sizeof(small), "http://host/k?X-Amz-Signature=abcdef");
    assert_int_equal(strlen(small), 9);
}

static void test_levels(void **state)
{
    (void)state;
    enum pfs_log_level l;
    assert_int_equal(pfs_log_parse_level(&l, "DEBUG"), 0);
    assert_int_equal(l, PFS_LOG_DEBUG);
    assert_int_not_equal(pfs_log_parse_level(&l, "loud"), 0);
    pfs_log_set_level(PFS_LOG_ERROR);
    assert_int_equal(pfs_log_get_level(), PFS_LOG_ERROR);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* logrotate moves the file away and sends SIGHUP: later lines go to a new
 * file of the old name, none to the moved one. */
static void test_reopen(void **state)
{
    (void)state;
    char dir[] = "/tmp/pfs-test-log-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], moved[128];
    snprintf(path, sizeof(path), "%s/presignfs.log", dir);
    snprintf(moved, sizeof(moved), "%s/presignfs.log.1", dir);
    assert_int_equal(pfs_log_reopen(), 0); /* no file yet: nothing to do */
    pfs_log_set_level(PFS_LOG_INFO);
    assert_int_equal(pfs_log_open_file(path), 0);
    PFS_INFO("before rotation");
    assert_int_equal(rename(path, moved), 0);
    PFS_INFO("still the old file");
    assert_int_equal(pfs_log_reopen(), 0);
    PFS_INFO("after rotation");
    char *old = slurp(moved);
    assert_non_null(old);
    assert_non_null(strstr(old, "before rotation"));
    assert_non_null(strstr(old, "still the old file"));
    assert_null(strstr(old, "after rotation"));
    char *cur = slurp(path);
    assert_non_null(cur);
    assert_non_null(strstr(cur, "presignfs: info: after rotation"));
    assert_null(strstr(cur, "before"));
    /* The directory gone: the old file stays in use, the error is returned. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(moved), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(pfs_log_reopen(), -ENOENT);
    PFS_INFO("into the unlinked file");
    pfs_log_close_file();
    pfs_log_set_level(PFS_LOG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

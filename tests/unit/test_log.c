/* Log redaction: no signature, token or access key survives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

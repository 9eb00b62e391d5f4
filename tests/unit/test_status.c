/* Store outcomes: the errno, field truncation and the log line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"

static void test_errno_and_describe(void **state)
{
    (void)state;
    struct pfs_status st;
    pfs_status_clear(&st);
    assert_int_equal(pfs_status_errno(&st), 0);
    st.error = -EACCES;
    st.http_status = 403;
    st.attempts = 2;
    pfs_status_set(&st, "SignatureDoesNotMatch", "bad signature", "REQ1");
    assert_int_equal(pfs_status_errno(&st), EACCES);
    char line[256];
    pfs_status_describe(&st, line, sizeof(line));
    assert_string_equal(line, "HTTP 403 SignatureDoesNotMatch: bad signature (request id REQ1, 2 "
                              "attempts)");
    pfs_status_clear(&st);
    st.error = -EIO;
    st.attempts = 1;
    pfs_status_describe(&st, line, sizeof(line));
    assert_non_null(strstr(line, "no response"));
    assert_non_null(strstr(line, "1 attempt)"));
}

static void test_truncation(void **state)
{
    (void)state;
    struct pfs_status st;
    pfs_status_clear(&st);
    char longtext[1000];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    pfs_status_set(&st, longtext, longtext, longtext);
    assert_int_equal(strlen(st.service_code), sizeof(st.service_code) - 1);
    assert_int_equal(strlen(st.message), sizeof(st.message) - 1);
    pfs_status_set(&st, NULL, "kept?", NULL);
    assert_int_equal(strlen(st.service_code), sizeof(st.service_code) - 1);
    assert_string_equal(st.message, "kept?");
    /* A hostile store's text stays one log line. */
    pfs_status_set(&st, "Slow\rDown", "line one\npresignfs: forged", "id\t1");
    assert_string_equal(st.service_code, "Slow Down");
    assert_string_equal(st.message, "line one presignfs: forged");
    assert_string_equal(st.request_id, "id 1");
}

/* Upload failures by class: what retrying cannot fix is permanent; what a
 * fresh URL, a pause or another attempt may fix is not. */
static void test_permanent_classes(void **state)
{
    (void)state;
    struct pfs_status st;
    static const struct {
        int error;
        long http;
        const char *code, *message;
        bool permanent;
    } cases[] = {
        {-EACCES, 403, "AccessDenied", "Access Denied", true},
        {-ENAMETOOLONG, 400, "KeyTooLongError", "key too long", true},
        {-EFBIG, 400, "EntityTooLarge", "too large", true},
        {-EDQUOT, 403, "QuotaExceeded", "quota", true},
        {-ENOSPC, 507, "", "", true},
        {-EACCES, 403, "SignatureDoesNotMatch", "bad signature", false},
        {-EACCES, 403, "AccessDenied", "Request has expired", false},
        {-EACCES, 400, "ExpiredToken", "token", false},
        {-EACCES, 403, "RequestTimeTooSkewed", "clock", false},
        {-EIO, 503, "SlowDown", "slow down", false},
        {-EIO, 500, "InternalError", "oops", false},
        {-ETIMEDOUT, 0, "", "", false},
        {-EIO, 0, "", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pfs_status_clear(&st);
        st.error = cases[i].error;
        st.http_status = cases[i].http;
        pfs_status_set(&st, cases[i].code, cases[i].message, NULL);
        if (pfs_status_permanent(&st) != cases[i].permanent)
            fail_msg("case %zu (%s %s): expected permanent=%d", i, cases[i].code, cases[i].message,
                     cases[i].permanent);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_and_describe),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_permanent_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

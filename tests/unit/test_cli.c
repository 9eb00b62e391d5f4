/* The presign verb in-process: argument handling, exit statuses, and the
 * URL it prints for a known-answer case. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "status.h"

static char out_text[8192], err_text[8192];

static int run(int argc, const char **argv)
{
    FILE *out = tmpfile(), *err = tmpfile();
    int status = pfs_cli_presign(argc, (char **)argv, out, err);
    rewind(out);
    rewind(err);
    size_t n = fread(out_text, 1, sizeof(out_text) - 1, out);
    out_text[n] = '\0';
    n = fread(err_text, 1, sizeof(err_text) - 1, err);
    err_text[n] = '\0';
    fclose(out);
    fclose(err);
    return status;
}

static int setup(void **state)
{
    (void)state;
    setenv("HOME", "/nonexistent", 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("PRESIGNFS_CONFIG");
    setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    return 0;
}

static void test_parse_time(void **state)
{
    (void)state;
    long long t;
    assert_int_equal(pfs_cli_parse_time(&t, "20130524T000000Z"), 0);
    assert_int_equal(t, 1369353600LL);
    assert_int_equal(pfs_cli_parse_time(&t, "20240229T235959Z"), 0);
    const char *bad[] = {"",
                         "20130524",
                         "20130524T000000",
                         "2013-05-24T00:00:00Z",
                         "20130231T000000Z",
                         "20131324T000000Z",
                         "20130524T250000Z",
                         "2013052aT000000Z",
                         "19690101T000000Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pfs_cli_parse_time(&t, bad[i]) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_known_answer(void **state)
{
    (void)state;
    const char *argv[] = {"presign",
                          "-o",
                          "dialect=s3,endpoint=https://s3.amazonaws.com",
                          "-o",
                          "region=us-east-1",
                          "--expires",
                          "86400",
                          "--at",
                          "20130524T000000Z",
                          "examplebucket",
                          "test.txt"};
    assert_int_equal(run(11, argv), PFS_EXIT_OK);
    assert_string_equal(out_text,
                        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-"
                        "SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%"
                        "2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
                        "SignedHeaders=host&X-Amz-Signature="
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404\n");
    assert_string_equal(err_text, "");
}

static void test_method_query_header(void **state)
{
    (void)state;
    const char *argv[] = {"presign",
                          "-o",
                          "dialect=s3,endpoint=http://127.0.0.1:9000,region=r",
                          "-X",
                          "post",
                          "--query",
                          "uploads",
                          "--query",
                          "x=a=b",
                          "-H",
                          "Content-Type: text/plain",
                          "bkt",
                          "k"};
    assert_int_equal(run(13, argv), PFS_EXIT_OK);
    assert_non_null(strstr(out_text, "http://127.0.0.1:9000/bkt/k?"));
    assert_non_null(strstr(out_text, "&uploads=&"));
    assert_non_null(strstr(out_text, "&x=a%3Db"));
    assert_non_null(strstr(out_text, "X-Amz-SignedHeaders=content-type%3Bhost&"));
    assert_int_equal(strchr(out_text, '\n') - out_text + 1, (long)strlen(out_text));
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *o = "dialect=s3,endpoint=http://127.0.0.1:9000,region=r";
    const char *no_bucket[] = {"presign", "-o", o};
    assert_int_equal(run(3, no_bucket), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "BUCKET"));
    const char *too_many[] = {"presign", "-o", o, "b", "k", "extra"};
    assert_int_equal(run(6, too_many), PFS_EXIT_USAGE);
    const char *bad_exp[] = {"presign", "-o", o, "--expires", "604801", "b", "k"};
    assert_int_equal(run(7, bad_exp), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "604800"));
    const char *zero_exp[] = {"presign", "-o", o, "--expires", "0", "b", "k"};
    assert_int_equal(run(7, zero_exp), PFS_EXIT_USAGE);
    const char *bad_at[] = {"presign", "-o", o, "--at", "yesterday", "b", "k"};
    assert_int_equal(run(7, bad_at), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "--at yesterday"));
    const char *bad_method[] = {"presign", "-o", o, "-X", "PATCH", "b", "k"};
    assert_int_equal(run(7, bad_method), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "method"));
    const char *bad_opt[] = {"presign", "--frobnicate", "b"};
    assert_int_equal(run(3, bad_opt), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "--frobnicate"));
    const char *bad_header[] = {"presign", "-o", o, "-H", "nocolon", "b", "k"};
    assert_int_equal(run(7, bad_header), PFS_EXIT_USAGE);
    const char *bad_cfg[] = {"presign", "-o", "endpoint=http://h", "b"};
    assert_int_equal(run(4, bad_cfg), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "no region"));
    assert_string_equal(out_text, "");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    const char *no_cred[] = {"presign", "-o", o, "b", "k"};
    assert_int_equal(run(5, no_cred), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "AWS_SECRET_ACCESS_KEY"));
    setup(NULL);
}

/* Issue 11, finding 4: a 403 on the bucket check (a HEAD: no body, only
 * x-tos-ec) says what it usually means instead of a bare error code. */
static void test_explain_bucket_check(void **state)
{
    (void)state;
    struct pfs_status st;
    pfs_status_clear(&st);
    st.http_status = 403;
    st.attempts = 2;
    pfs_status_set(&st, "AccessDenied", "0002-00000001", "RID");
    pfs_cli_explain_bucket_check(&st, NULL, true);
    char what[600];
    pfs_status_describe(&st, what, sizeof(what));
    assert_string_equal(what, "HTTP 403 AccessDenied: the store refused the bucket check "
                              "(0002-00000001): usually a wrong access key, secret key or region; "
                              "`presignfs check` says more (request id RID, 2 attempts)");
    pfs_status_clear(&st);
    st.http_status = 403;
    st.attempts = 1;
    pfs_status_set(&st, "", "", NULL);
    pfs_cli_explain_bucket_check(&st, NULL, false);
    pfs_status_describe(&st, what, sizeof(what));
    assert_string_equal(what, "HTTP 403 AccessDenied: the store refused the bucket check: usually "
                              "a wrong access key, secret key or region (1 attempt)");
    pfs_status_clear(&st);
    st.http_status = 404;
    st.attempts = 1;
    pfs_cli_explain_bucket_check(&st, NULL, true);
    assert_string_equal(st.service_code, "NoSuchBucket");
    pfs_status_clear(&st);
    st.http_status = 503;
    pfs_status_set(&st, "SlowDown", "busy", NULL);
    pfs_cli_explain_bucket_check(&st, NULL, true);
    assert_string_equal(st.message, "busy");
    /* Issue 10: the region the store names, and a clock far from the store's. */
    pfs_status_clear(&st);
    st.http_status = 400;
    pfs_status_set(&st, "AuthorizationQueryParametersError", "", NULL);
    pfs_status_set_region(&st, "eu-west-1");
    pfs_cli_explain_bucket_check(&st, "us-east-1", true);
    assert_string_equal(st.message, "wrong region 'us-east-1': the store says the bucket is in "
                                    "'eu-west-1' (region = eu-west-1)");
    st.http_status = 403; /* the right region named: a key problem, as before */
    pfs_status_set(&st, "AccessDenied", "", NULL);
    pfs_status_set_region(&st, "us-east-1");
    pfs_cli_explain_bucket_check(&st, "us-east-1", false);
    assert_non_null(strstr(st.message, "usually a wrong access key"));
    pfs_status_clear(&st);
    st.http_status = 403;
    st.has_clock_skew = true;
    st.clock_skew = 3600;
    pfs_cli_explain_bucket_check(&st, "r", true);
    assert_string_equal(st.service_code, "RequestTimeTooSkewed");
    assert_string_equal(st.message, "this machine's clock is 3600 s behind the store's (at most "
                                    "900 s are allowed): correct it (NTP)");
    st.clock_skew = -5; /* a store that says so, whatever the Date */
    pfs_status_set(&st, "RequestTimeTooSkewed", "", NULL);
    pfs_cli_explain_bucket_check(&st, "r", true);
    assert_non_null(strstr(st.message, "5 s ahead of the store's"));
    st.clock_skew = 30; /* a small difference: not the problem */
    pfs_status_set(&st, "AccessDenied", "", NULL);
    pfs_cli_explain_bucket_check(&st, "r", true);
    assert_non_null(strstr(st.message, "usually a wrong access key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),   cmocka_unit_test(test_explain_bucket_check),
        cmocka_unit_test(test_known_answer), cmocka_unit_test(test_method_query_header),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

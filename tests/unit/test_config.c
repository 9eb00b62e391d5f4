/* Configuration: defaults, precedence (file < -o), derived defaults, and one
 * test per kind of bad input, each checking the message names its source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    /* Isolate from the developer's own files. */
    setenv("HOME", dir, 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("PRESIGNFS_CONFIG");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

/* Loads with the given -o strings; returns the status and leaves err filled. */
static int load(struct pfs_config *cfg, struct pfs_config_error *err, const char *o1,
                const char *o2)
{
    const char *opts[2];
    size_t n = 0;
    if (o1)
        opts[n++] = o1;
    if (o2)
        opts[n++] = o2;
    pfs_config_init(cfg);
    memset(err, 0, sizeof(*err));
    return pfs_config_load(cfg, opts, n, err);
}

static void expect_error(const char *o1, const char *o2, const char *needle1, const char *needle2)
{
    struct pfs_config cfg;
    struct pfs_config_error err;
    assert_int_equal(load(&cfg, &err, o1, o2), -1);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err.msg, needle1, needle2 ? needle2 : "");
    assert_null(strchr(err.msg, '\n'));
    pfs_config_cleanup(&cfg);
}

static void test_defaults_and_ip_addressing(void **state)
{
    (void)state;
    struct pfs_config cfg;
    struct pfs_config_error err;
    assert_int_equal(load(&cfg, &err, "endpoint=http://127.0.0.1:9000,region=us-east-1", NULL), 0);
    assert_int_equal(cfg.dialect, PFS_DIALECT_TOS);
    assert_int_equal(cfg.url_expires, 3600);
    assert_int_equal(cfg.url_refresh_margin, 360);
    assert_int_equal(cfg.url_cache_size, 4096);
    assert_int_equal(cfg.addressing, PFS_ADDRESSING_PATH); /* IP endpoint */
    assert_null(cfg.source_file);
    pfs_config_cleanup(&cfg);

    assert_int_equal(load(&cfg, &err, "endpoint=https://tos-cn-beijing.volces.com",
                          "region=cn-beijing,url_expires=600"),
                     0);
    assert_int_equal(cfg.addressing, PFS_ADDRESSING_VIRTUAL);
    assert_int_equal(cfg.url_refresh_margin, 60); /* follows url_expires */
    pfs_config_cleanup(&cfg);

    assert_int_equal(load(&cfg, &err, "endpoint=http://[::1]:1,region=r,addressing=virtual", NULL),
                     0);
    assert_int_equal(cfg.addressing, PFS_ADDRESSING_VIRTUAL); /* explicit wins */
    pfs_config_cleanup(&cfg);
}

static void test_file_then_command_line(void **state)
{
    (void)state;
    const char *path = tu_write(dir, "a.conf",
                                "# comment\n"
                                "dialect = s3\n"
                                "endpoint = http://127.0.0.1:9000\n"
                                "[presignfs]\n"
                                "region = us-east-1\n"
                                "url_expires = 900\n"
                                "url_refresh_margin = 30 ; inline comment\n",
                                0644);
    char opt[600];
    snprintf(opt, sizeof(opt), "config=%s,url_expires=1200", path);
    struct pfs_config cfg;
    struct pfs_config_error err;
    assert_int_equal(load(&cfg, &err, opt, NULL), 0);
    assert_int_equal(cfg.dialect, PFS_DIALECT_S3);
    assert_string_equal(cfg.region, "us-east-1");
    assert_int_equal(cfg.url_expires, 1200);      /* command line wins */
    assert_int_equal(cfg.url_refresh_margin, 30); /* from the file */
    assert_string_equal(cfg.source_file, path);
    pfs_config_cleanup(&cfg);

    /* $PRESIGNFS_CONFIG, then the per-user default file. */
    setenv("PRESIGNFS_CONFIG", path, 1);
    assert_int_equal(load(&cfg, &err, NULL, NULL), 0);
    assert_int_equal(cfg.url_expires, 900);
    pfs_config_cleanup(&cfg);
    unsetenv("PRESIGNFS_CONFIG");

    char user_dir[600];
    snprintf(user_dir, sizeof(user_dir), "%s/.config", dir);
    mkdir(user_dir, 0700);
    strcat(user_dir, "/presignfs");
    mkdir(user_dir, 0700);
    tu_write(user_dir, "presignfs.conf", "endpoint=http://10.0.0.1\nregion=r1\n", 0600);
    assert_int_equal(load(&cfg, &err, NULL, NULL), 0);
    assert_string_equal(cfg.region, "r1");
    pfs_config_cleanup(&cfg);
    char user_file[700];
    snprintf(user_file, sizeof(user_file), "%s/presignfs.conf", user_dir);
    unlink(user_file);

    /* An -o value may hold an escaped comma. */
    assert_int_equal(load(&cfg, &err, "endpoint=http://h,region=r,credentials=/x\\,y", NULL), 0);
    assert_string_equal(cfg.credentials, "/x,y");
    pfs_config_cleanup(&cfg);
}

static void test_errors(void **state)
{
    (void)state;
    const char *base = "endpoint=http://127.0.0.1:9000,region=us-east-1";
    expect_error(base, "colour=blue", "-o colour=blue", "unknown option 'colour'");
    expect_error(base, "url_expires=abc", "-o url_expires=abc", "whole number");
    expect_error(base, "url_expires=0", "url_expires must be between 1 and 604800", NULL);
    expect_error(base, "url_expires=604801", "between 1 and 604800", NULL);
    expect_error(base, "url_expires=-5", "whole number", NULL);
    expect_error(base, "url_expires=99999999999999999999999", "whole number", NULL);
    expect_error(base, "dialect=gcs", "dialect must be 'tos' or 's3'", NULL);
    expect_error(base, "addressing=dns", "addressing must be", NULL);
    expect_error(base, "log_level=loud", "log_level", NULL);
    expect_error(base, "region=", "region must not be empty", NULL);
    expect_error(base, "noequals", "-o noequals", "expected key=value");
    expect_error(base, "url_expires=100,url_refresh_margin=100", "url_refresh_margin", NULL);
    expect_error("region=us-east-1", NULL, "no endpoint", NULL);
    expect_error("endpoint=http://h", NULL, "no region", NULL);
    expect_error("endpoint=http://h,region=us east", NULL, "region", NULL);
    expect_error("endpoint=h.example,region=r", NULL, "endpoint 'h.example' is not valid",
                 "http://");
    expect_error("config=/nonexistent/presignfs.conf", NULL, "/nonexistent/presignfs.conf",
                 "cannot read");
    /* Input quoted in a message cannot break it into two lines. */
    expect_error(base, "colour\nfake: line=x", "unknown option 'colour?fake: line'", NULL);
}

static void test_file_errors(void **state)
{
    (void)state;
    char opt[600];
    const char *p = tu_write(dir, "bad1.conf", "endpoint = http://h\ncolour = blue\n", 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    char where[600];
    snprintf(where, sizeof(where), "%s:2:", p);
    expect_error(opt, NULL, where, "unknown option 'colour'");

    p = tu_write(dir, "bad2.conf", "region = r\nendpoint = http://h\nurl_expires = 0\n", 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    snprintf(where, sizeof(where), "%s:3:", p);
    expect_error(opt, NULL, where, "between 1 and 604800");

    p = tu_write(dir, "bad3.conf", "region = r\nthis line has no equals\n", 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    snprintf(where, sizeof(where), "%s:2:", p);
    expect_error(opt, NULL, where, NULL);

    p = tu_write(dir, "bad4.conf", "[other]\nregion = r\n", 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    expect_error(opt, NULL, "unknown section [other]", NULL);

    p = tu_write(dir, "bad5.conf", "config = /etc/x\n", 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    expect_error(opt, NULL, "'config' can only be given", NULL);

    char longline[400];
    memset(longline, 'a', sizeof(longline));
    memcpy(longline, "region = ", 9);
    longline[sizeof(longline) - 2] = '\n';
    longline[sizeof(longline) - 1] = '\0';
    p = tu_write(dir, "bad6.conf", longline, 0644);
    snprintf(opt, sizeof(opt), "config=%s", p);
    snprintf(where, sizeof(where), "%s:1:", p);
    expect_error(opt, NULL, where, "longer than");

    /* A missing default file is fine; a missing region is then the error. */
    expect_error("endpoint=http://h", NULL, "no region", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_ip_addressing),
        cmocka_unit_test(test_file_then_command_line),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

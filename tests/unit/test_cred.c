/* Credentials: environment per dialect, the credentials file, its mode check,
 * and every way it can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "cred.h"
#include "testutil.h"

static char *dir;

static void clear_env(void)
{
    const char *vars[] = {"TOS_ACCESS_KEY",    "TOS_SECRET_KEY",        "TOS_SECURITY_TOKEN",
                          "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    clear_env();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

static void cfg_for(struct pfs_config *cfg, enum pfs_dialect d, const char *cred_file)
{
    pfs_config_init(cfg);
    cfg->dialect = d;
    cfg->credentials = cred_file ? strdup(cred_file) : NULL;
}

static void test_env_per_dialect(void **state)
{
    (void)state;
    struct pfs_config cfg;
    struct pfs_config_error err;
    struct pfs_cred *c = NULL;
    setenv("TOS_ACCESS_KEY", "tak", 1);
    setenv("TOS_SECRET_KEY", "tsk", 1);
    setenv("TOS_SECURITY_TOKEN", "ttok", 1);
    setenv("AWS_ACCESS_KEY_ID", "aak", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ask", 1);
    cfg_for(&cfg, PFS_DIALECT_TOS, NULL);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), 0);
    assert_string_equal(c->access_key, "tak");
    assert_string_equal(c->secret_key, "tsk");
    assert_string_equal(c->session_token, "ttok");
    pfs_cred_free(c);
    pfs_config_cleanup(&cfg);
    cfg_for(&cfg, PFS_DIALECT_S3, NULL);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), 0);
    assert_string_equal(c->access_key, "aak");
    assert_null(c->session_token);
    pfs_cred_free(c);
    pfs_config_cleanup(&cfg);
    clear_env();
}

static void test_env_missing(void **state)
{
    (void)state;
    struct pfs_config cfg;
    struct pfs_config_error err;
    struct pfs_cred *c = NULL;
    setenv("TOS_ACCESS_KEY", "tak", 1); /* secret missing */
    cfg_for(&cfg, PFS_DIALECT_TOS, NULL);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), -1);
    assert_null(c);
    assert_non_null(strstr(err.msg, "missing credentials"));
    assert_non_null(strstr(err.msg, "TOS_SECRET_KEY"));
    pfs_config_cleanup(&cfg);
    cfg_for(&cfg, PFS_DIALECT_S3, NULL);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
    pfs_config_cleanup(&cfg);
    clear_env();
}

static void test_file(void **state)
{
    (void)state;
    char token[600];
    /* A long STS token written over indented continuation lines. */
    snprintf(token, sizeof(token), "session_token = %0150d\n  %0150d\n", 1, 2);
    char text[900];
    snprintf(text, sizeof(text), "[default]\naccess_key = AK\nsecret_key = S/K+=\n%s", token);
    const char *p = tu_write(dir, "cred", text, 0600);
    struct pfs_config cfg;
    struct pfs_config_error err;
    struct pfs_cred *c = NULL;
    setenv("TOS_ACCESS_KEY", "from-env", 1);
    setenv("TOS_SECRET_KEY", "from-env", 1);
    cfg_for(&cfg, PFS_DIALECT_TOS, p);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), 0);
    assert_string_equal(c->access_key, "AK"); /* the file wins over the environment */
    assert_string_equal(c->secret_key, "S/K+=");
    assert_int_equal(strlen(c->session_token), 300);
    pfs_cred_free(c);
    pfs_config_cleanup(&cfg);
    clear_env();
}

static void expect_file_error(const char *text, mode_t mode, const char *needle1,
                              const char *needle2)
{
    const char *p = tu_write(dir, "credbad", text, mode);
    struct pfs_config cfg;
    struct pfs_config_error err;
    struct pfs_cred *c = NULL;
    cfg_for(&cfg, PFS_DIALECT_S3, p);
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), -1);
    assert_null(c);
    if (!strstr(err.msg, p) || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message '%s' lacks the path or '%s'", err.msg, needle1);
    pfs_config_cleanup(&cfg);
}

static void test_file_errors(void **state)
{
    (void)state;
    const char *good = "access_key = a\nsecret_key = b\n";
    expect_file_error(good, 0644, "mode 0644", "chmod 600");
    expect_file_error(good, 0640, "mode 0640", NULL);
    expect_file_error(good, 0604, "mode 0604", NULL);
    expect_file_error("access_key = a\n", 0600, "secret_key", NULL);
    expect_file_error("access_key = a\nsecret_key = b\npassword = c\n", 0600,
                      ":3:", "unknown key 'password'");

    struct pfs_config cfg;
    struct pfs_config_error err;
    struct pfs_cred *c = NULL;
    cfg_for(&cfg, PFS_DIALECT_S3, "/nonexistent/cred");
    assert_int_equal(pfs_config_load_credentials(&c, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/cred"));
    pfs_config_cleanup(&cfg);
}

static void test_cred_new_copies(void **state)
{
    (void)state;
    char ak[] = "AK", sk[] = "SK";
    struct pfs_cred *c = NULL;
    assert_int_equal(pfs_cred_new(&c, ak, sk, ""), 0);
    ak[0] = sk[0] = 'X';
    assert_string_equal(c->access_key, "AK");
    assert_null(c->session_token); /* "" means none */
    pfs_cred_free(c);
    pfs_cred_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_per_dialect),
        cmocka_unit_test(test_env_missing),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_cred_new_copies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

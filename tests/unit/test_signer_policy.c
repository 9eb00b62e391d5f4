/* The signer's policy: the clients file (mode, keys, errors), token lookup,
 * what a client may have signed, expiry caps and the rate limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "signer_policy.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    return 0;
}

#define TOKEN_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TOKEN_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char *good_file = "; clients of the signer\n"
                               "[backup-host]\n"
                               "token = " TOKEN_A "\n"
                               "allow = my-bucket/backups/ other/x/   ; two prefixes\n"
                               "access = write\n"
                               "max_expires = 900\n"
                               "rate = 10\n"
                               "burst = 20\n"
                               "[reader]\n"
                               "token = " TOKEN_B "\n"
                               "allow = my-bucket\n";

static struct pfs_signer_policy *load_ok(const char *text)
{
    struct pfs_signer_policy *p = NULL;
    struct pfs_config_error err = {{0}};
    const char *path = tu_write(dir, "clients", text, 0600);
    int rc = pfs_signer_policy_load(&p, path, &err);
    if (rc != 0)
        print_error("unexpected: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return p;
}

static void expect_load_error(const char *text, mode_t mode, const char *needle)
{
    struct pfs_signer_policy *p = NULL;
    struct pfs_config_error err = {{0}};
    const char *path = tu_write(dir, "clients", text, mode);
    assert_int_equal(pfs_signer_policy_load(&p, path, &err), -1);
    assert_null(p);
    if (!strstr(err.msg, needle))
        print_error("message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    /* A refused file never echoes a token. */
    assert_null(strstr(err.msg, TOKEN_A));
}

static void test_load(void **state)
{
    (void)state;
    struct pfs_signer_policy *p = load_ok(good_file);
    assert_int_equal(p->n_clients, 2);
    const struct pfs_signer_client *c = &p->clients[0];
    assert_string_equal(c->name, "backup-host");
    assert_int_equal(c->n_allow, 2);
    assert_string_equal(c->allow[0].bucket, "my-bucket");
    assert_string_equal(c->allow[0].prefix, "backups/");
    assert_string_equal(c->allow[1].bucket, "other");
    assert_string_equal(c->allow[1].prefix, "x/");
    assert_int_equal(c->access, PFS_SIGNER_WRITE);
    assert_int_equal(c->max_expires, 900);
    assert_true(c->rate == 10 && c->burst == 20);
    const struct pfs_signer_client *r = &p->clients[1];
    assert_int_equal(r->access, PFS_SIGNER_READ); /* the default */
    assert_int_equal(r->max_expires, 3600);
    assert_string_equal(r->allow[0].prefix, "");
    pfs_signer_policy_free(p);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error(good_file, 0644, "chmod 600");
    expect_load_error(good_file, 0640, "mode 0640");
    expect_load_error("token = " TOKEN_A "\n", 0600, "outside a [client] section");
    expect_load_error("[a]\ntoken = short\nallow = b\n", 0600, "token must be 16 to");
    expect_load_error("[a]\nallow = b\n", 0600, "token must be");
    expect_load_error("[a]\ntoken = " TOKEN_A "\n", 0600, "allow = BUCKET");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\naccess = admin\n", 0600,
                      "access must be 'read' or 'write'");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\nmax_expires = 604801\n", 0600,
                      "max_expires");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\nmax_expires = 1.5\n", 0600,
                      "max_expires");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\ncolour = red\n", 0600,
                      "unknown key 'colour'");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = /x\n", 0600, "bucket name");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\n[b]\ntoken = " TOKEN_A "\nallow = c\n",
                      0600, "same token");
    expect_load_error("; nothing\n", 0600, "no [client] section");
    expect_load_error("[a]\ntoken = " TOKEN_A "\nallow = b\nrate = 0\n", 0600, "rate must be");
    struct pfs_signer_policy *p = NULL;
    struct pfs_config_error err;
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    assert_int_equal(pfs_signer_policy_load(&p, missing, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read"));
}

static void test_find(void **state)
{
    (void)state;
    struct pfs_signer_policy *p = load_ok(good_file);
    const struct pfs_signer_client *c = pfs_signer_policy_find(p, TOKEN_A, strlen(TOKEN_A));
    assert_non_null(c);
    assert_string_equal(c->name, "backup-host");
    c = pfs_signer_policy_find(p, TOKEN_B, strlen(TOKEN_B));
    assert_non_null(c);
    assert_string_equal(c->name, "reader");
    /* A prefix, an extension or a one-byte change of a token is no token. */
    assert_null(pfs_signer_policy_find(p, TOKEN_A, strlen(TOKEN_A) - 1));
    assert_null(pfs_signer_policy_find(p, TOKEN_A "a", strlen(TOKEN_A) + 1));
    assert_null(pfs_signer_policy_find(p, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 32));
    assert_null(pfs_signer_policy_find(p, "", 0));
    pfs_signer_policy_free(p);
}

static void test_constant_time_compare(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 7, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(pfs_crypto_equal(a, b, 32));
    for (size_t i = 0; i < 32; i++) {
        b[i] ^= 1;
        assert_false(pfs_crypto_equal(a, b, 32));
        b[i] ^= 1;
    }
    assert_true(pfs_crypto_equal(a, b, 0));
}

static int check(const struct pfs_signer_client *c, enum pfs_dialect d, const char *method,
                 const char *bucket, const char *key, const struct pfs_kv *q, size_t nq,
                 const struct pfs_kv *h, size_t nh, char *why)
{
    struct pfs_sign_request r = {.method = method,
                                 .bucket = bucket,
                                 .key = key,
                                 .key_len = strlen(key),
                                 .query = q,
                                 .n_query = nq,
                                 .headers = h,
                                 .n_headers = nh};
    return pfs_signer_policy_check(c, d, &r, why, 256);
}

static void test_policy(void **state)
{
    (void)state;
    struct pfs_signer_policy *p = load_ok(good_file);
    const struct pfs_signer_client *w = &p->clients[0], *ro = &p->clients[1];
    char why[256];
    const enum pfs_dialect S3 = PFS_DIALECT_S3, TOS = PFS_DIALECT_TOS;
    /* Prefix-limited writer. */
    assert_int_equal(check(w, S3, "GET", "my-bucket", "backups/a", NULL, 0, NULL, 0, why), 0);
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/a", NULL, 0, NULL, 0, why), 0);
    assert_int_equal(check(w, S3, "DELETE", "other", "x/y", NULL, 0, NULL, 0, why), 0);
    assert_int_equal(check(w, S3, "GET", "my-bucket", "backupsX", NULL, 0, NULL, 0, why), -EACCES);
    assert_non_null(strstr(why, "outside the prefixes"));
    assert_int_equal(check(w, S3, "GET", "third", "backups/a", NULL, 0, NULL, 0, why), -EACCES);
    assert_non_null(strstr(why, "bucket third is not allowed"));
    assert_int_equal(check(w, S3, "PATCH", "my-bucket", "backups/a", NULL, 0, NULL, 0, why),
                     -EACCES);
    /* Multipart within the prefix. */
    struct pfs_kv uploads[] = {{"uploads", NULL}};
    struct pfs_kv part[] = {{"partNumber", "3"}, {"uploadId", "u1"}};
    assert_int_equal(check(w, S3, "POST", "my-bucket", "backups/big", uploads, 1, NULL, 0, why), 0);
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/big", part, 2, NULL, 0, why), 0);
    /* Sub-resources that are not object data are never signed. */
    struct pfs_kv acl[] = {{"acl", NULL}};
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/a", acl, 1, NULL, 0, why), -EACCES);
    assert_non_null(strstr(why, "sub-resource 'acl'"));
    struct pfs_kv acl_h[] = {{"x-amz-acl", "public-read"}};
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/a", NULL, 0, acl_h, 1, why),
                     -EACCES);
    struct pfs_kv meta_h[] = {{"x-amz-meta-mode", "33188"}, {"content-type", "text/plain"}};
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/a", NULL, 0, meta_h, 2, why), 0);
    /* The other dialect's headers are not ours. */
    assert_int_equal(check(w, TOS, "PUT", "my-bucket", "backups/a", NULL, 0, meta_h, 1, why),
                     -EACCES);
    struct pfs_kv tmeta_h[] = {{"x-tos-meta-mode", "33188"}};
    assert_int_equal(check(w, TOS, "PUT", "my-bucket", "backups/a", NULL, 0, tmeta_h, 1, why), 0);
    /* A copy must be allowed to read its source. */
    struct pfs_kv copy_in[] = {{"x-amz-copy-source", "my-bucket/backups/old%20name"}};
    struct pfs_kv copy_out[] = {{"x-amz-copy-source", "my-bucket/secret/file"}};
    struct pfs_kv copy_tos[] = {{"x-tos-copy-source", "/other/x%2Fa"}};
    struct pfs_kv copy_tos_out[] = {{"x-tos-copy-source", "/other/y%2Fa"}};
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/new", NULL, 0, copy_in, 1, why), 0);
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "backups/new", NULL, 0, copy_out, 1, why),
                     -EACCES);
    assert_non_null(strstr(why, "copy source my-bucket/secret/file"));
    assert_int_equal(check(w, TOS, "PUT", "other", "x/b", NULL, 0, copy_tos, 1, why), 0);
    assert_int_equal(check(w, TOS, "PUT", "other", "x/b", NULL, 0, copy_tos_out, 1, why), -EACCES);
    /* Listings: a prefix client lists within its prefixes only. */
    struct pfs_kv list_in[] = {{"list-type", "2"}, {"prefix", "backups/sub/"}, {"delimiter", "/"}};
    struct pfs_kv list_out[] = {{"list-type", "2"}, {"prefix", "back"}};
    struct pfs_kv list_all[] = {{"list-type", "2"}, {"delimiter", "/"}};
    assert_int_equal(check(w, S3, "GET", "my-bucket", "", list_in, 3, NULL, 0, why), 0);
    assert_int_equal(check(w, S3, "GET", "my-bucket", "", list_out, 2, NULL, 0, why), -EACCES);
    assert_int_equal(check(w, S3, "GET", "my-bucket", "", list_all, 2, NULL, 0, why), -EACCES);
    assert_non_null(strstr(why, "needs a prefix"));
    assert_int_equal(check(w, S3, "HEAD", "my-bucket", "", NULL, 0, NULL, 0, why), 0);
    /* Bucket-wide deletes need the whole bucket. */
    struct pfs_kv del[] = {{"delete", NULL}};
    assert_int_equal(check(w, S3, "POST", "my-bucket", "", del, 1, NULL, 0, why), -EACCES);
    assert_int_equal(check(w, S3, "PUT", "my-bucket", "", NULL, 0, NULL, 0, why), -EACCES);

    /* Whole-bucket reader. */
    assert_int_equal(check(ro, S3, "GET", "my-bucket", "anything", NULL, 0, NULL, 0, why), 0);
    assert_int_equal(check(ro, S3, "HEAD", "my-bucket", "a", NULL, 0, NULL, 0, why), 0);
    assert_int_equal(check(ro, S3, "GET", "my-bucket", "", list_all, 2, NULL, 0, why), 0);
    assert_int_equal(check(ro, S3, "PUT", "my-bucket", "a", NULL, 0, NULL, 0, why), -EACCES);
    assert_non_null(strstr(why, "needs write access"));
    assert_int_equal(check(ro, S3, "DELETE", "my-bucket", "a", NULL, 0, NULL, 0, why), -EACCES);
    assert_int_equal(check(ro, S3, "POST", "my-bucket", "", del, 1, NULL, 0, why), -EACCES);
    pfs_signer_policy_free(p);
}

static void test_expires(void **state)
{
    (void)state;
    struct pfs_signer_policy *p = load_ok(good_file);
    const struct pfs_signer_client *w = &p->clients[0];
    assert_int_equal(pfs_signer_policy_expires(w, 0), 900);
    assert_int_equal(pfs_signer_policy_expires(w, 60), 60);
    assert_int_equal(pfs_signer_policy_expires(w, 900), 900);
    assert_int_equal(pfs_signer_policy_expires(w, 901), 900);
    assert_int_equal(pfs_signer_policy_expires(w, 604800), 900);
    assert_int_equal(pfs_signer_policy_expires(w, -5), 900);
    pfs_signer_policy_free(p);
}

static void test_rate(void **state)
{
    (void)state;
    struct pfs_signer_rate r = {0};
    double retry;
    /* Starts full: 20 at once, then nothing until it refills at 10/s. */
    assert_true(pfs_signer_rate_take(&r, 10, 20, 100.0, 20, &retry));
    assert_false(pfs_signer_rate_take(&r, 10, 20, 100.0, 1, &retry));
    assert_true(retry > 0.09 && retry < 0.11);
    assert_true(pfs_signer_rate_take(&r, 10, 20, 100.15, 1, &retry));
    assert_false(pfs_signer_rate_take(&r, 10, 20, 100.15, 1, &retry));
    /* Never more than burst, however long it rested. */
    assert_true(pfs_signer_rate_take(&r, 10, 20, 1000.0, 20, &retry));
    assert_false(pfs_signer_rate_take(&r, 10, 20, 1000.0, 1, &retry));
    /* A batch larger than the burst can never pass. */
    assert_false(pfs_signer_rate_take(&r, 10, 20, 5000.0, 21, &retry));
    assert_true(retry == 0);
    /* A clock that goes back takes nothing away and adds nothing. */
    assert_true(pfs_signer_rate_take(&r, 10, 20, 4000.0, 20, &retry));
    assert_false(pfs_signer_rate_take(&r, 10, 20, 3000.0, 1, &retry));
}

/* Client certificates: cert_sha256 and cert_subject parse (a bad
 * fingerprint is refused), a client naming either needs a verified
 * certificate that matches; one that names none goes on without, but never
 * with a certificate that does not verify. */
static void test_client_certs(void **state)
{
    (void)state;
    expect_load_error("[c]\ntoken = " TOKEN_A "\nallow = b\ncert_sha256 = 12:34\n", 0600,
                      "64 hex digits");
    expect_load_error("[c]\ntoken = " TOKEN_A "\nallow = b\ncert_sha256 = " // 65 digits
                      "0000000000000000000000000000000000000000000000000000000000000000f\n",
                      0600, "64 hex digits");
    struct pfs_signer_policy *p = load_ok(
        "[pinned]\ntoken = " TOKEN_A "\nallow = b\ncert_sha256 = "
        "AB:01:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
        "00:00:00:FF\n"
        "[named]\ntoken = " TOKEN_B "\nallow = b\ncert_subject = CN=mount-host,O=t\n"
        "[plain]\ntoken = 0123456789abcdef0123\nallow = b\n");
    const struct pfs_signer_client *pinned = &p->clients[0], *named = &p->clients[1],
                                   *plain = &p->clients[2];
    assert_true(pinned->has_cert_sha256);
    assert_int_equal(pinned->cert_sha256[0], 0xab);
    assert_int_equal(pinned->cert_sha256[31], 0xff);
    char why[256];
    struct pfs_signer_peer_cert cert = {.present = true, .verified = true};
    snprintf(cert.subject, sizeof(cert.subject), "CN=mount-host,O=t");
    memcpy(cert.sha256, pinned->cert_sha256, sizeof(cert.sha256));
    assert_int_equal(pfs_signer_policy_check_cert(pinned, &cert, why, sizeof(why)), 0);
    assert_int_equal(pfs_signer_policy_check_cert(named, &cert, why, sizeof(why)), 0);
    assert_int_equal(pfs_signer_policy_check_cert(plain, &cert, why, sizeof(why)), 0);
    assert_int_equal(pfs_signer_policy_check_cert(plain, NULL, why, sizeof(why)), 0);
    assert_int_equal(pfs_signer_policy_check_cert(pinned, NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "must present a client certificate"));
    cert.sha256[5] ^= 1;
    assert_int_equal(pfs_signer_policy_check_cert(pinned, &cert, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "fingerprint"));
    snprintf(cert.subject, sizeof(cert.subject), "CN=other,O=t");
    assert_int_equal(pfs_signer_policy_check_cert(named, &cert, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "subject 'CN=other,O=t'"));
    cert.verified = false;
    snprintf(cert.why, sizeof(cert.why), "signer not found");
    assert_int_equal(pfs_signer_policy_check_cert(plain, &cert, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not trusted: signer not found"));
    pfs_signer_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),   cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_find),   cmocka_unit_test(test_constant_time_compare),
        cmocka_unit_test(test_policy), cmocka_unit_test(test_expires),
        cmocka_unit_test(test_rate),   cmocka_unit_test(test_client_certs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

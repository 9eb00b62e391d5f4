/* The signing service's request handling without an HTTP server: every
 * known-answer row of presign-vectors.tsv (TOS and S3) signed through the
 * service's JSON, authentication, refusals, expiry caps, the rate limit, and
 * SIGHUP-style reloads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cli.h"
#include "signer.h"
#include "signer_json.h"
#include "testutil.h"
#include "uri.h"

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

#define TOKEN_W "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
#define TOKEN_R "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"

struct fixture {
    struct pfs_config cfg;
    struct pfs_signer *s;
    const char *clients;
};

static void open_signer(struct fixture *f, const char *dialect, const char *endpoint,
                        const char *region, const char *addressing, const char *ak, const char *sk,
                        const char *token, const char *clients_text)
{
    pfs_config_init(&f->cfg);
    struct pfs_config_error err = {{0}};
    assert_int_equal(pfs_config_set(&f->cfg, "dialect", dialect, "t", &err), 0);
    assert_int_equal(pfs_config_set(&f->cfg, "endpoint", endpoint, "t", &err), 0);
    assert_int_equal(pfs_config_set(&f->cfg, "region", region, "t", &err), 0);
    assert_int_equal(pfs_config_set(&f->cfg, "addressing", addressing, "t", &err), 0);
    assert_int_equal(pfs_config_finish(&f->cfg, &err), 0);
    struct pfs_cred *cred = NULL;
    assert_int_equal(pfs_cred_new(&cred, ak, sk, token), 0);
    f->clients = tu_write(dir, "clients", clients_text, 0600);
    int rc = pfs_signer_new(&f->s, &f->cfg, cred, f->clients, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void close_signer(struct fixture *f)
{
    pfs_signer_free(f->s);
    pfs_config_cleanup(&f->cfg);
}

static int call(struct fixture *f, struct pfs_signer_reply *r, const char *method, const char *path,
                const char *token, const char *body, int64_t now, double mono)
{
    char auth[128];
    snprintf(auth, sizeof(auth), "Bearer %s", token ? token : "");
    pfs_signer_handle(f->s, r, method, path, token ? auth : NULL, body, body ? strlen(body) : 0,
                      "127.0.0.1", now, mono);
    return r->status;
}

static char *decode(const char *s, size_t n)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    assert_int_equal(pfs_uri_decode(&b, s, n), 0);
    if (!b.data)
        return strdup("");
    return pfs_buf_detach(&b);
}

static const char *param(const char *url, const char *name, char *out, size_t out_len)
{
    const char *p = strstr(url, name);
    assert_non_null(p);
    p += strlen(name);
    size_t n = strcspn(p, "&");
    snprintf(out, out_len, "%.*s", (int)n, p);
    return out;
}

#define ALL_CLIENTS                                                                                \
    "[all]\ntoken = " TOKEN_W "\nallow = examplebucket\naccess = write\nmax_expires = 604800\n"

/* Each row through the JSON request, the policy and the signer: the
 * signature must be the SDK's. */
static void test_vectors_through_signer(void **state)
{
    (void)state;
    FILE *vf = fopen(PFS_TEST_DATA "/presign-vectors.tsv", "r");
    assert_non_null(vf);
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, tos_rows = 0;
    bool header = false;
    while (getline(&line, &cap, vf) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        if (!header) {
            header = true;
            continue;
        }
        char *copy = strdup(line), *field[14];
        int nf = 0;
        for (char *save = NULL, *t = strtok_r(copy, "\t", &save); t && nf < 14;
             t = strtok_r(NULL, "\t", &save))
            field[nf++] = t;
        assert_int_equal(nf, 14);
        if (strcmp(field[5], "examplebucket") != 0) {
            free(copy);
            continue;
        }
        struct fixture f;
        open_signer(&f, field[0], field[2], field[3], field[4], field[10], field[11],
                    strcmp(field[12], "-") ? field[12] : NULL, ALL_CLIENTS);
        char *key = strcmp(field[6], "-") ? decode(field[6], strlen(field[6])) : strdup("");
        struct pfs_kv q[16];
        char *qs[32];
        size_t nq = 0, ns = 0;
        if (strcmp(field[7], "-")) {
            for (const char *p = field[7]; p && *p;) {
                const char *amp = strchr(p, '&');
                size_t seg = amp ? (size_t)(amp - p) : strlen(p);
                const char *eq = memchr(p, '=', seg);
                qs[ns] = decode(p, eq ? (size_t)(eq - p) : seg);
                qs[ns + 1] = eq ? decode(eq + 1, seg - (size_t)(eq - p) - 1) : strdup("");
                q[nq++] = (struct pfs_kv){qs[ns], qs[ns + 1]};
                ns += 2;
                p = amp ? amp + 1 : NULL;
            }
        }
        struct pfs_sign_request req = {.method = field[1],
                                       .bucket = field[5],
                                       .key = key,
                                       .key_len = strlen(key),
                                       .query = q,
                                       .n_query = nq};
        int64_t expires = atoll(field[8]);
        struct pfs_buf body;
        pfs_buf_init(&body);
        assert_int_equal(pfs_signer_json_encode_request(&body, &req, &expires, 1), 0);
        long long when;
        assert_int_equal(pfs_cli_parse_time(&when, field[9]), 0);
        struct pfs_signer_reply r;
        pfs_signer_reply_init(&r);
        int status = call(&f, &r, "POST", "/v1/presign", TOKEN_W, body.data, when, 1.0);
        if (status != 200)
            print_error("row %s: HTTP %d %s\n", line, status, r.body.data);
        assert_int_equal(status, 200);
        struct pfs_signer_result res;
        char why[256];
        assert_int_equal(
            pfs_signer_json_parse_results(&res, 1, r.body.data, r.body.len, why, sizeof(why)), 0);
        if (res.error)
            print_error("row %s refused: %s\n", line, res.message);
        assert_int_equal(res.error, 0);
        char got[128], want[128];
        const char *sig = strcmp(field[0], "tos") == 0 ? "X-Tos-Signature=" : "X-Amz-Signature=";
        assert_string_equal(param(res.url, sig, got, sizeof(got)),
                            param(field[13], sig, want, sizeof(want)));
        assert_int_equal(res.expires_at, when + expires);
        rows++;
        tos_rows += strcmp(field[0], "tos") == 0;
        pfs_signer_result_cleanup(&res);
        pfs_signer_reply_cleanup(&r);
        pfs_buf_cleanup(&body);
        for (size_t i = 0; i < ns; i++)
            free(qs[i]);
        free(key);
        free(copy);
        close_signer(&f);
    }
    free(line);
    fclose(vf);
    assert_true(rows >= 40);
    assert_true(tos_rows >= 20);
}

#define TWO_CLIENTS                                                                                \
    "[writer]\ntoken = " TOKEN_W "\nallow = b/home/\naccess = write\nmax_expires = 600\n"          \
    "rate = 1\nburst = 3\n"                                                                        \
    "[reader]\ntoken = " TOKEN_R "\nallow = b\n"

static void open_two(struct fixture *f)
{
    open_signer(f, "s3", "http://127.0.0.1:9000", "us-east-1", "path", "AK", "SK", NULL,
                TWO_CLIENTS);
}

static void test_auth(void **state)
{
    (void)state;
    struct fixture f;
    open_two(&f);
    struct pfs_signer_reply r;
    pfs_signer_reply_init(&r);
    const char *one = "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"x\"}]}";
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", NULL, one, 1000, 1), 401);
    assert_non_null(strstr(r.body.data, "unauthorized"));
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", "wrong-token-wrong-token", one, 1000, 1),
                     401);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, one, 1000, 1), 200);
    assert_non_null(strstr(r.body.data, "\"url\":\"http://127.0.0.1:9000/b/x?"));
    /* Neither the secret key nor the token ever shows in a reply. */
    assert_null(strstr(r.body.data, TOKEN_R));
    assert_int_equal(call(&f, &r, "GET", "/v1/presign", TOKEN_R, NULL, 1000, 1), 405);
    assert_int_equal(call(&f, &r, "GET", "/nope", TOKEN_R, NULL, 1000, 1), 404);
    assert_int_equal(call(&f, &r, "GET", "/v1/health", NULL, NULL, 1000, 1), 200);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, "{\"requests\":[", 1000, 1), 400);
    assert_int_equal(call(&f, &r, "GET", "/v1/info", TOKEN_W, NULL, 1000, 1), 200);
    struct pfs_signer_info info;
    char why[128];
    assert_int_equal(pfs_signer_json_parse_info(&info, r.body.data, r.body.len, why, sizeof(why)),
                     0);
    assert_string_equal(info.dialect, "s3");
    assert_string_equal(info.endpoint, "http://127.0.0.1:9000");
    assert_string_equal(info.client, "writer");
    assert_string_equal(info.access, "write");
    assert_int_equal(info.max_expires, 600);
    pfs_signer_reply_cleanup(&r);
    close_signer(&f);
}

static void test_batch_refusals_and_caps(void **state)
{
    (void)state;
    struct fixture f;
    open_two(&f);
    struct pfs_signer_reply r;
    pfs_signer_reply_init(&r);
    const char *batch =
        "{\"requests\":["
        "{\"method\":\"PUT\",\"bucket\":\"b\",\"key\":\"home/a\",\"expires\":86400},"
        "{\"method\":\"PUT\",\"bucket\":\"b\",\"key\":\"etc/passwd\"},"
        "{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"home/b\",\"expires\":60}]}";
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, batch, 1000, 1), 200);
    struct pfs_signer_result res[3];
    char why[128];
    assert_int_equal(
        pfs_signer_json_parse_results(res, 3, r.body.data, r.body.len, why, sizeof(why)), 0);
    assert_int_equal(res[0].error, 0);
    assert_int_equal(res[0].expires_at, 1000 + 600); /* capped at max_expires */
    assert_non_null(strstr(res[0].url, "X-Amz-Expires=600&"));
    assert_int_equal(res[1].error, -EACCES);
    assert_non_null(strstr(res[1].message, "outside the prefixes"));
    assert_int_equal(res[2].error, 0);
    assert_int_equal(res[2].expires_at, 1060);
    for (int i = 0; i < 3; i++)
        pfs_signer_result_cleanup(&res[i]);
    /* The read-only client may not write anything. */
    const char *put = "{\"requests\":[{\"method\":\"PUT\",\"bucket\":\"b\",\"key\":\"home/a\"}]}";
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, put, 1000, 1), 200);
    assert_int_equal(
        pfs_signer_json_parse_results(res, 1, r.body.data, r.body.len, why, sizeof(why)), 0);
    assert_int_equal(res[0].error, -EACCES);
    assert_non_null(strstr(res[0].message, "needs write access"));
    pfs_signer_result_cleanup(&res[0]);
    pfs_signer_reply_cleanup(&r);
    close_signer(&f);
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct fixture f;
    open_two(&f);
    struct pfs_signer_reply r;
    pfs_signer_reply_init(&r);
    const char *two = "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"home/a\"},"
                      "{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"home/b\"}]}";
    const char *one = "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"home/a\"}]}";
    /* burst 3, rate 1/s: 2 + 1 pass, the next waits a second. */
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, two, 1000, 50.0), 200);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, one, 1000, 50.0), 200);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, one, 1000, 50.0), 429);
    assert_int_equal(r.retry_after, 1);
    /* Another client has its own bucket. */
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, one, 1000, 50.0), 200);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, one, 1000, 51.0), 200);
    pfs_signer_reply_cleanup(&r);
    close_signer(&f);
}

static void test_reload(void **state)
{
    (void)state;
    struct fixture f;
    open_two(&f);
    struct pfs_signer_reply r;
    pfs_signer_reply_init(&r);
    const char *one = "{\"requests\":[{\"method\":\"GET\",\"bucket\":\"b\",\"key\":\"x\"}]}";
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, one, 1000, 1), 200);
    struct pfs_config_error err;
    /* A broken file is refused and the old policy stays. */
    tu_write(dir, "clients", "[reader]\ntoken = short\nallow = b\n", 0600);
    assert_int_equal(pfs_signer_reload(f.s, &err), -1);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, one, 1000, 1), 200);
    /* A token removed from the file stops working after the reload. */
    tu_write(dir, "clients", "[writer]\ntoken = " TOKEN_W "\nallow = b\n", 0600);
    assert_int_equal(pfs_signer_reload(f.s, &err), 0);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_R, one, 1000, 1), 401);
    assert_int_equal(call(&f, &r, "POST", "/v1/presign", TOKEN_W, one, 1000, 1), 200);
    pfs_signer_reply_cleanup(&r);
    close_signer(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_through_signer),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_batch_refusals_and_caps),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Known-answer tests for both signers: every row of presign-vectors.tsv, plus
 * the error cases and the signed-header extension. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "buf.h"
#include "cli.h"
#include "sign.h"
#include "uri.h"

#define MAX_FIELDS 14
#define MAX_PAIRS 32

struct pair {
    char *name;
    char *value;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *decode(const char *s, size_t n)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    assert_int_equal(pfs_uri_decode(&b, s, n), 0);
    pfs_buf_putc(&b, '\0'); /* a decoded empty string still needs storage */
    return pfs_buf_detach(&b);
}

/* Splits a query "a=b&c" into decoded pairs ("c" has an empty value). */
static size_t split_query(struct pair *out, const char *q)
{
    size_t n = 0;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seg);
        assert_true(n < MAX_PAIRS);
        out[n].name = decode(q, eq ? (size_t)(eq - q) : seg);
        out[n].value = eq ? decode(eq + 1, seg - (size_t)(eq - q) - 1) : strdup("");
        n++;
        q = amp ? amp + 1 : NULL;
    }
    qsort(out, n, sizeof(*out), cmp_pair);
    return n;
}

struct url_parts {
    char scheme[16];
    char host[300];
    char *path;
    struct pair pairs[MAX_PAIRS];
    size_t n_pairs;
};

static void parse_url(struct url_parts *u, const char *url)
{
    const char *sep = strstr(url, "://");
    assert_non_null(sep);
    snprintf(u->scheme, sizeof(u->scheme), "%.*s", (int)(sep - url), url);
    const char *h = sep + 3;
    size_t hl = strcspn(h, "/?");
    snprintf(u->host, sizeof(u->host), "%.*s", (int)hl, h);
    const char *p = h + hl;
    size_t pl = strcspn(p, "?");
    u->path = pl ? strndup(p, pl) : strdup("/");
    u->n_pairs = split_query(u->pairs, p[pl] == '?' ? p + pl + 1 : NULL);
}

static void free_url(struct url_parts *u)
{
    free(u->path);
    for (size_t i = 0; i < u->n_pairs; i++) {
        free(u->pairs[i].name);
        free(u->pairs[i].value);
    }
}

static bool same_url(const char *got, const char *want, char *why, size_t why_len)
{
    struct url_parts g, w;
    parse_url(&g, got);
    parse_url(&w, want);
    bool ok = true;
    if (strcasecmp(g.scheme, w.scheme) || strcasecmp(g.host, w.host)) {
        snprintf(why, why_len, "scheme/host differ");
        ok = false;
    } else if (strcmp(g.path, w.path)) {
        snprintf(why, why_len, "path differs: got %s", g.path);
        ok = false;
    } else if (g.n_pairs != w.n_pairs) {
        snprintf(why, why_len, "%zu query pairs, expected %zu", g.n_pairs, w.n_pairs);
        ok = false;
    } else {
        for (size_t i = 0; i < g.n_pairs && ok; i++)
            if (strcmp(g.pairs[i].name, w.pairs[i].name) ||
                strcmp(g.pairs[i].value, w.pairs[i].value)) {
                snprintf(why, why_len, "query pair %s=%s differs from expected %s=%s",
                         g.pairs[i].name, g.pairs[i].value, w.pairs[i].name, w.pairs[i].value);
                ok = false;
            }
    }
    free_url(&g);
    free_url(&w);
    return ok;
}

/* Returns the signature parameter's value in url, for the explicit check. */
static const char *signature_of(const char *url)
{
    const char *s = strstr(url, "-Signature=");
    return s ? s + strlen("-Signature=") : "";
}

static void test_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(PFS_TEST_DATA "/presign-vectors.tsv", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, failures = 0, s3_rows = 0, tos_rows = 0;
    bool header_seen = false;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!header_seen) { /* the column-name line */
            header_seen = true;
            continue;
        }
        char *copy = strdup(line);
        char *field[MAX_FIELDS];
        int nf = 0;
        for (char *save = NULL, *t = strtok_r(copy, "\t", &save); t && nf < MAX_FIELDS;
             t = strtok_r(NULL, "\t", &save))
            field[nf++] = t;
        assert_int_equal(nf, MAX_FIELDS);

        struct pfs_endpoint ep;
        const char *why = NULL;
        assert_int_equal(pfs_endpoint_parse(&ep, field[2], &why), 0);
        char *key = strcmp(field[6], "-") ? decode(field[6], strlen(field[6])) : strdup("");
        struct pair qp[MAX_PAIRS];
        size_t nq = 0;
        struct pfs_kv q[MAX_PAIRS];
        if (strcmp(field[7], "-")) {
            /* Keep caller order: split without sorting by re-splitting by hand. */
            const char *p = field[7];
            while (p && *p) {
                const char *amp = strchr(p, '&');
                size_t seg = amp ? (size_t)(amp - p) : strlen(p);
                const char *eq = memchr(p, '=', seg);
                qp[nq].name = decode(p, eq ? (size_t)(eq - p) : seg);
                qp[nq].value = eq ? decode(eq + 1, seg - (size_t)(eq - p) - 1) : strdup("");
                q[nq] = (struct pfs_kv){qp[nq].name, qp[nq].value};
                nq++;
                p = amp ? amp + 1 : NULL;
            }
        }
        long long when;
        assert_int_equal(pfs_cli_parse_time(&when, field[9]), 0);
        bool s3 = strcmp(field[0], "s3") == 0;
        struct pfs_sign_params params = {
            .dialect = s3 ? PFS_DIALECT_S3 : PFS_DIALECT_TOS,
            .endpoint = &ep,
            .region = field[3],
            .addressing =
                strcmp(field[4], "path") == 0 ? PFS_ADDRESSING_PATH : PFS_ADDRESSING_VIRTUAL,
            .access_key = field[10],
            .secret_key = field[11],
            .session_token = strcmp(field[12], "-") ? field[12] : NULL,
        };
        struct pfs_sign_request req = {.method = field[1],
                                       .bucket = field[5],
                                       .key = key,
                                       .key_len = strlen(key),
                                       .query = q,
                                       .n_query = nq};
        char *url = NULL;
        int rc = pfs_sign_presign(&url, &params, &req, when, atoll(field[8]), &why);
        char diff[512] = "";
        if (rc != 0 || !same_url(url, field[13], diff, sizeof(diff)) ||
            strcmp(signature_of(url), signature_of(field[13])) != 0) {
            failures++;
            print_error("vector row failed (%s):\n  row: %s\n  got: %s\n", rc ? why : diff, line,
                        url ? url : "(none)");
        }
        rows++;
        s3 ? s3_rows++ : tos_rows++;
        free(url);
        free(key);
        for (size_t i = 0; i < nq; i++) {
            free(qp[i].name);
            free(qp[i].value);
        }
        free(copy);
    }
    free(line);
    fclose(f);
    print_message("%d vector rows (%d s3, %d tos), %d failed\n", rows, s3_rows, tos_rows, failures);
    assert_true(rows >= 57);
    assert_true(s3_rows > 0 && tos_rows > 0);
    assert_int_equal(failures, 0);
}

static struct pfs_endpoint ep_local;
static const struct pfs_sign_params base_params = {
    .dialect = PFS_DIALECT_S3,
    .endpoint = &ep_local,
    .region = "us-east-1",
    .addressing = PFS_ADDRESSING_PATH,
    .access_key = "AK",
    .secret_key = "SK",
};

static int setup_endpoint(void **state)
{
    (void)state;
    const char *why;
    return pfs_endpoint_parse(&ep_local, "http://127.0.0.1:9000", &why);
}

static int sign_simple(char **url, const struct pfs_sign_request *req, long long expires,
                       const char **why)
{
    return pfs_sign_presign(url, &base_params, req, 1700000000, expires, why);
}

static void test_expiry_range(void **state)
{
    (void)state;
    struct pfs_sign_request req = {.method = "GET", .bucket = "b", .key = "k", .key_len = 1};
    char *url = NULL;
    const char *why = NULL;
    assert_int_equal(sign_simple(&url, &req, 0, &why), -ERANGE);
    assert_null(url);
    assert_non_null(strstr(why, "604800"));
    assert_int_equal(sign_simple(&url, &req, 604801, &why), -ERANGE);
    assert_int_equal(sign_simple(&url, &req, -5, &why), -ERANGE);
    assert_int_equal(sign_simple(&url, &req, 1, &why), 0);
    assert_non_null(strstr(url, "X-Amz-Expires=1&"));
    free(url);
    assert_int_equal(sign_simple(&url, &req, 604800, &why), 0);
    assert_non_null(strstr(url, "X-Amz-Expires=604800&"));
    free(url);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char *url = NULL;
    const char *why = NULL;
    struct pfs_sign_request req = {.method = "FETCH", .bucket = "b", .key = "k", .key_len = 1};
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    req.method = "GET";
    req.bucket = "a/b";
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    req.bucket = "";
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    req.bucket = "b";
    struct pfs_kv dup[] = {{"prefix", "a"}, {"prefix", "b"}};
    req.query = dup;
    req.n_query = 2;
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    struct pfs_kv clash[] = {{"X-Amz-Date", "20200101T000000Z"}};
    req.query = clash;
    req.n_query = 1;
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    req.n_query = 0;
    struct pfs_kv hostheader[] = {{"Host", "evil"}};
    req.headers = hostheader;
    req.n_headers = 1;
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    struct pfs_kv badname[] = {{"x-amz meta", "v"}};
    req.headers = badname;
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    struct pfs_kv ctl[] = {{"x-amz-meta-a", "v\r\nInjected: 1"}};
    req.headers = ctl;
    assert_int_equal(sign_simple(&url, &req, 60, &why), -EINVAL);
    assert_null(url);
}

static void test_signed_headers_sorted(void **state)
{
    (void)state;
    struct pfs_kv h[] = {{"X-Amz-Meta-Mode", "  0100644  "},
                         {"content-type", "text/plain"},
                         {"x-amz-copy-source", "/b/a%20b"}};
    struct pfs_sign_request req = {
        .method = "PUT", .bucket = "b", .key = "k", .key_len = 1, .headers = h, .n_headers = 3};
    char *url = NULL;
    const char *why;
    assert_int_equal(sign_simple(&url, &req, 60, &why), 0);
    assert_non_null(
        strstr(url, "X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-copy-source%3Bx-amz-meta-"
                    "mode&"));
    /* The whitespace around a value is not significant: same signature. */
    h[0].value = "0100644";
    char *url2 = NULL;
    assert_int_equal(sign_simple(&url2, &req, 60, &why), 0);
    assert_string_equal(url, url2);
    /* A different value is. */
    h[0].value = "0100600";
    char *url3 = NULL;
    assert_int_equal(sign_simple(&url3, &req, 60, &why), 0);
    assert_string_not_equal(signature_of(url), signature_of(url3));
    free(url);
    free(url2);
    free(url3);
}

static void test_bucket_level_and_valueless(void **state)
{
    (void)state;
    struct pfs_kv q[] = {{"delete", NULL}};
    struct pfs_sign_request req = {.method = "POST", .bucket = "bkt", .query = q, .n_query = 1};
    char *url = NULL;
    const char *why;
    assert_int_equal(sign_simple(&url, &req, 60, &why), 0);
    assert_true(strncmp(url, "http://127.0.0.1:9000/bkt?X-Amz-", 32) == 0);
    assert_non_null(strstr(url, "&delete=&"));
    free(url);
}

static void test_token_is_signed(void **state)
{
    (void)state;
    struct pfs_sign_params p = base_params;
    p.session_token = "tok/en+=";
    struct pfs_sign_request req = {.method = "GET", .bucket = "b", .key = "k", .key_len = 1};
    char *a = NULL, *b = NULL;
    assert_int_equal(pfs_sign_presign(&a, &p, &req, 1700000000, 60, NULL), 0);
    assert_non_null(strstr(a, "X-Amz-Security-Token=tok%2Fen%2B%3D&"));
    p.session_token = "other";
    assert_int_equal(pfs_sign_presign(&b, &p, &req, 1700000000, 60, NULL), 0);
    assert_string_not_equal(signature_of(a), signature_of(b));
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test_setup(test_expiry_range, setup_endpoint),
        cmocka_unit_test_setup(test_bad_inputs, setup_endpoint),
        cmocka_unit_test_setup(test_signed_headers_sorted, setup_endpoint),
        cmocka_unit_test_setup(test_bucket_level_and_valueless, setup_endpoint),
        cmocka_unit_test_setup(test_token_is_signed, setup_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The presigning algorithm shared by TOS4-HMAC-SHA256 and AWS SigV4 (see sign.h).
 * Every dialect difference lives in struct dialect_consts, so the two can never
 * drift apart in canonicalisation. */
#include "sign.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"

struct dialect_consts {
    const char *name;
    const char *param_prefix; /* "X-Amz-" / "X-Tos-" */
    const char *algorithm;
    const char *key_prefix; /* prepended to the secret for the first HMAC */
    const char *service;
    const char *terminator;
};

static const struct dialect_consts S3 = {"s3",   "X-Amz-", "AWS4-HMAC-SHA256",
                                         "AWS4", "s3",     "aws4_request"};
static const struct dialect_consts TOS = {"tos", "X-Tos-", "TOS4-HMAC-SHA256",
                                          "",    "tos",    "request"};

static const struct dialect_consts *consts_of(enum pfs_dialect d)
{
    return d == PFS_DIALECT_S3 ? &S3 : &TOS;
}

const char *pfs_dialect_name(enum pfs_dialect d)
{
    return consts_of(d)->name;
}

struct enc_pair {
    char *name;
    char *value;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

struct canon_header {
    char *name;  /* lower-cased */
    char *value; /* trimmed, inner whitespace runs collapsed */
};

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const struct canon_header *)a)->name, ((const struct canon_header *)b)->name);
}

static bool is_token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char *canon_header_value(const char *v)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    bool pending_space = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            pending_space = b.len > 0;
            continue;
        }
        if (pending_space)
            pfs_buf_putc(&b, ' ');
        pending_space = false;
        pfs_buf_putc(&b, *v);
    }
    return pfs_buf_detach(&b);
}

static bool valid_method(const char *m)
{
    static const char *const ok[] = {"GET", "PUT", "HEAD", "DELETE", "POST"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(m, ok[i]) == 0)
            return true;
    return false;
}

static bool valid_plain_text(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || *s == 0x7f || *s == '/')
            return false;
    return true;
}

static int fail(const char **why, const char *msg, int err)
{
    if (why)
        *why = msg;
    return err;
}

static void free_pairs(struct enc_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

static void free_headers(struct canon_header *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static char *encode_component(const char *s, bool keep_slash)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_uri_encode(&b, s, strlen(s), keep_slash);
    return pfs_buf_detach(&b);
}

/* kSigning = HMAC chain over date, region, service, terminator (presign spec 5.3). */
static void derive_signing_key(uint8_t out[PFS_SHA256_LEN], const struct dialect_consts *dc,
                               const char *secret, const char *date8, const char *region)
{
    struct pfs_buf k;
    pfs_buf_init(&k);
    pfs_buf_puts(&k, dc->key_prefix);
    pfs_buf_puts(&k, secret);
    uint8_t a[PFS_SHA256_LEN], b[PFS_SHA256_LEN];
    pfs_crypto_hmac_sha256(a, k.data ? k.data : "", k.len, date8, strlen(date8));
    pfs_buf_cleanup_secret(&k);
    pfs_crypto_hmac_sha256(b, a, sizeof(a), region, strlen(region));
    pfs_crypto_hmac_sha256(a, b, sizeof(b), dc->service, strlen(dc->service));
    pfs_crypto_hmac_sha256(out, a, sizeof(a), dc->terminator, strlen(dc->terminator));
    pfs_crypto_wipe(a, sizeof(a));
    pfs_crypto_wipe(b, sizeof(b));
}

/* Validates the caller's headers and returns them canonicalised and sorted. */
static int canon_headers(struct canon_header **out, const struct pfs_sign_request *req,
                         const char **why)
{
    *out = NULL;
    if (req->n_headers == 0)
        return 0;
    struct canon_header *h = calloc(req->n_headers, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *n = req->headers[i].name, *v = req->headers[i].value;
        if (!n || !*n || !v) {
            free_headers(h, req->n_headers);
            return fail(why, "a header to sign has no name or no value", -EINVAL);
        }
        for (const char *c = n; *c; c++)
            if (!is_token_char((unsigned char)*c)) {
                free_headers(h, req->n_headers);
                return fail(why, "a header name has a character that is not allowed", -EINVAL);
            }
        for (const char *c = v; *c; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t') {
                free_headers(h, req->n_headers);
                return fail(why, "a header value has a control character", -EINVAL);
            }
        h[i].name = strdup(n);
        h[i].value = canon_header_value(v);
        if (!h[i].name || !h[i].value) {
            free_headers(h, req->n_headers);
            return -ENOMEM;
        }
        for (char *c = h[i].name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    qsort(h, req->n_headers, sizeof(*h), cmp_header);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcmp(h[i].name, "host") == 0 || (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0)) {
            free_headers(h, req->n_headers);
            return fail(why, "a header to sign is 'host' or appears twice", -EINVAL);
        }
    }
    *out = h;
    return 0;
}

int pfs_sign_presign(char **url_out, const struct pfs_sign_params *params,
                     const struct pfs_sign_request *req, int64_t now, int64_t expires,
                     const char **why)
{
    *url_out = NULL;
    const struct dialect_consts *dc = consts_of(params->dialect);
    if (expires < PFS_EXPIRES_MIN || expires > PFS_EXPIRES_MAX)
        return fail(why, "expiry must be between 1 and 604800 seconds", -ERANGE);
    if (!req->method || !valid_method(req->method))
        return fail(why, "method must be GET, PUT, HEAD, DELETE or POST", -EINVAL);
    if (!valid_plain_text(req->bucket))
        return fail(why, "bucket name is empty or has '/', spaces or control characters", -EINVAL);
    if (!valid_plain_text(params->region))
        return fail(why, "region is empty or has '/', spaces or control characters", -EINVAL);
    if (!params->access_key || !*params->access_key || !params->secret_key)
        return fail(why, "credentials are missing", -EINVAL);

    time_t t = (time_t)now;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
        return fail(why, "signing time is outside the years 1970..9999", -EINVAL);
    char datetime[17], date8[9];
    strftime(datetime, sizeof(datetime), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date8, datetime, 8);
    date8[8] = '\0';

    struct canon_header *hdrs = NULL;
    int rc = canon_headers(&hdrs, req, why);
    if (rc)
        return rc;

    struct pfs_buf signed_headers, scope, credential, expires_text, b;
    pfs_buf_init(&signed_headers);
    pfs_buf_init(&scope);
    pfs_buf_init(&credential);
    pfs_buf_init(&expires_text);
    pfs_buf_init(&b);
    /* "host" takes its sorted place among the caller's headers (content-type
     * sorts before it). */
    size_t host_at = 0;
    while (host_at < req->n_headers && strcmp(hdrs[host_at].name, "host") < 0)
        host_at++;
    for (size_t i = 0; i <= req->n_headers; i++) {
        if (i)
            pfs_buf_putc(&signed_headers, ';');
        if (i == host_at)
            pfs_buf_puts(&signed_headers, "host");
        else
            pfs_buf_puts(&signed_headers, hdrs[i < host_at ? i : i - 1].name);
    }
    pfs_buf_printf(&scope, "%s/%s/%s/%s", date8, params->region, dc->service, dc->terminator);
    pfs_buf_printf(&credential, "%s/%s", params->access_key, scope.data ? scope.data : "");
    pfs_buf_printf(&expires_text, "%lld", (long long)expires);

    bool token = params->session_token && *params->session_token;
    struct {
        const char *suffix;
        const char *value;
    } auth[] = {
        {"Algorithm", dc->algorithm},
        {"Credential", credential.data},
        {"Date", datetime},
        {"Expires", expires_text.data},
        {"SignedHeaders", signed_headers.data},
        {"Security-Token", params->session_token},
    };
    size_t n_auth = token ? 6 : 5;
    size_t n_pairs = req->n_query + n_auth;
    struct enc_pair *pairs = calloc(n_pairs, sizeof(*pairs));
    char *url = NULL;
    if (!pairs || pfs_buf_status(&credential) || pfs_buf_status(&signed_headers) ||
        pfs_buf_status(&expires_text)) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < req->n_query; i++) {
        const char *n = req->query[i].name, *v = req->query[i].value;
        if (!n || !*n) {
            rc = fail(why, "a query parameter has an empty name", -EINVAL);
            goto out;
        }
        pairs[i].name = encode_component(n, false);
        pairs[i].value = encode_component(v ? v : "", false);
    }
    for (size_t i = 0; i < n_auth; i++) {
        size_t j = req->n_query + i;
        pfs_buf_reset(&b);
        pfs_buf_puts(&b, dc->param_prefix);
        pfs_buf_puts(&b, auth[i].suffix);
        pairs[j].name = pfs_buf_detach(&b);
        pairs[j].value = encode_component(auth[i].value, false);
    }
    for (size_t i = 0; i < n_pairs; i++)
        if (!pairs[i].name || !pairs[i].value) {
            rc = -ENOMEM;
            goto out;
        }
    qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);
    for (size_t i = 1; i < n_pairs; i++)
        if (strcmp(pairs[i].name, pairs[i - 1].name) == 0) {
            rc = fail(why, "a query parameter appears twice or collides with an auth parameter",
                      -EINVAL);
            goto out;
        }

    /* The path and query are built once and used both in the canonical request
     * and in the URL, so what is sent is byte-for-byte what was signed. */
    struct pfs_buf path, query, host, canon;
    pfs_buf_init(&path);
    pfs_buf_init(&query);
    pfs_buf_init(&host);
    pfs_buf_init(&canon);
    pfs_buf_putc(&path, '/');
    if (params->addressing == PFS_ADDRESSING_PATH) {
        pfs_uri_encode(&path, req->bucket, strlen(req->bucket), false);
        if (req->key_len)
            pfs_buf_putc(&path, '/');
    }
    pfs_uri_encode(&path, req->key ? req->key : "", req->key_len, true);
    for (size_t i = 0; i < n_pairs; i++) {
        if (i)
            pfs_buf_putc(&query, '&');
        pfs_buf_puts(&query, pairs[i].name);
        pfs_buf_putc(&query, '=');
        pfs_buf_puts(&query, pairs[i].value);
    }
    pfs_endpoint_authority(&host, params->endpoint,
                           params->addressing == PFS_ADDRESSING_VIRTUAL ? req->bucket : NULL);

    pfs_buf_printf(&canon, "%s\n%s\n%s\n", req->method, path.data, query.data);
    for (size_t i = 0; i <= req->n_headers; i++) {
        if (i == host_at)
            pfs_buf_printf(&canon, "host:%s\n", host.data);
        else
            pfs_buf_printf(&canon, "%s:%s\n", hdrs[i < host_at ? i : i - 1].name,
                           hdrs[i < host_at ? i : i - 1].value);
    }
    pfs_buf_printf(&canon, "\n%s\nUNSIGNED-PAYLOAD", signed_headers.data);

    uint8_t digest[PFS_SHA256_LEN], kSigning[PFS_SHA256_LEN], sig[PFS_SHA256_LEN];
    char digest_hex[2 * PFS_SHA256_LEN + 1], sig_hex[2 * PFS_SHA256_LEN + 1];
    if (pfs_buf_status(&canon) || pfs_buf_status(&path) || pfs_buf_status(&query) ||
        pfs_buf_status(&host)) {
        rc = -ENOMEM;
    } else {
        pfs_crypto_sha256(digest, canon.data, canon.len);
        pfs_crypto_hex(digest_hex, digest, sizeof(digest));
        pfs_buf_reset(&b);
        pfs_buf_printf(&b, "%s\n%s\n%s\n%s", dc->algorithm, datetime, scope.data, digest_hex);
        derive_signing_key(kSigning, dc, params->secret_key, date8, params->region);
        pfs_crypto_hmac_sha256(sig, kSigning, sizeof(kSigning), b.data, b.len);
        pfs_crypto_wipe(kSigning, sizeof(kSigning));
        pfs_crypto_hex(sig_hex, sig, sizeof(sig));

        pfs_buf_reset(&b);
        pfs_buf_printf(&b, "%s://%s%s?%s&%sSignature=%s",
                       params->endpoint->https ? "https" : "http", host.data, path.data, query.data,
                       dc->param_prefix, sig_hex);
        url = pfs_buf_detach(&b);
        rc = url ? 0 : -ENOMEM;
    }
    pfs_buf_cleanup(&path);
    pfs_buf_cleanup(&query);
    pfs_buf_cleanup(&host);
    pfs_buf_cleanup(&canon);

out:
    if (pairs)
        free_pairs(pairs, n_pairs);
    free_headers(hdrs, req->n_headers);
    pfs_buf_cleanup(&signed_headers);
    pfs_buf_cleanup(&scope);
    pfs_buf_cleanup(&credential);
    pfs_buf_cleanup(&expires_text);
    pfs_buf_cleanup(&b);
    *url_out = url;
    return rc;
}

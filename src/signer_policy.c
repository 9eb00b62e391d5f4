/* The signing service's policy (see signer_policy.h and doc/SIGNER.md). */
#include "signer_policy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "crypto.h"
#include "uri.h"

static void free_client(struct pfs_signer_client *c)
{
    free(c->name);
    free(c->cert_subject);
    for (size_t i = 0; i < c->n_allow; i++) {
        free(c->allow[i].bucket);
        free(c->allow[i].prefix);
    }
    free(c->allow);
    pfs_crypto_wipe(c->token_hash, sizeof(c->token_hash));
}

void pfs_signer_policy_free(struct pfs_signer_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_clients; i++)
        free_client(&p->clients[i]);
    free(p->clients);
    free(p);
}

struct load_ctx {
    struct pfs_signer_policy *p;
    struct pfs_buf *tokens; /* one per client, wiped at the end */
    bool *has_allow;
    size_t cap;
};

static int msgf(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int msgf(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

static struct pfs_signer_client *client_for(struct load_ctx *ctx, const char *section)
{
    struct pfs_signer_policy *p = ctx->p;
    for (size_t i = 0; i < p->n_clients; i++)
        if (strcmp(p->clients[i].name, section) == 0)
            return &p->clients[i];
    if (p->n_clients == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 8;
        struct pfs_signer_client *nc = realloc(p->clients, cap * sizeof(*nc));
        if (!nc)
            return NULL;
        p->clients = nc;
        struct pfs_buf *nt = realloc(ctx->tokens, cap * sizeof(*nt));
        if (!nt)
            return NULL;
        ctx->tokens = nt;
        bool *na = realloc(ctx->has_allow, cap * sizeof(*na));
        if (!na)
            return NULL;
        ctx->has_allow = na;
        ctx->cap = cap;
    }
    struct pfs_signer_client *c = &p->clients[p->n_clients];
    memset(c, 0, sizeof(*c));
    c->name = strdup(section);
    if (!c->name)
        return NULL;
    c->access = PFS_SIGNER_READ;
    c->max_expires = PFS_DEFAULT_URL_EXPIRES;
    c->rate = PFS_SIGNER_DEFAULT_RATE;
    c->burst = PFS_SIGNER_DEFAULT_BURST;
    pfs_buf_init(&ctx->tokens[p->n_clients]);
    ctx->has_allow[p->n_clients] = false;
    p->n_clients++;
    return c;
}

/* "bucket" or "bucket/prefix", several separated by spaces. */
static int add_allow(struct pfs_signer_client *c, const char *value, char *msg, size_t msg_len)
{
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        size_t n = strcspn(p, " \t");
        const char *slash = memchr(p, '/', n);
        size_t bl = slash ? (size_t)(slash - p) : n;
        if (bl == 0)
            return msgf(msg, msg_len, "allow: '%.*s' does not start with a bucket name", (int)n, p);
        struct pfs_signer_allow *na = realloc(c->allow, (c->n_allow + 1) * sizeof(*na));
        if (!na)
            return msgf(msg, msg_len, "out of memory");
        c->allow = na;
        struct pfs_signer_allow *a = &c->allow[c->n_allow];
        a->bucket = strndup(p, bl);
        a->prefix = slash ? strndup(slash + 1, n - bl - 1) : strdup("");
        if (!a->bucket || !a->prefix) {
            free(a->bucket);
            free(a->prefix);
            return msgf(msg, msg_len, "out of memory");
        }
        c->n_allow++;
        p += n;
    }
}

static int parse_number(double *out, const char *value, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= min) || v > max)
        return -1;
    *out = v;
    return 0;
}

/* 64 hex digits, colons between bytes allowed (as openssl x509 -fingerprint
 * -sha256 prints them). */
static int parse_fingerprint(struct pfs_signer_client *c, const char *value, char *msg,
                             size_t msg_len)
{
    char hex[2 * PFS_SHA256_LEN + 1];
    size_t n = 0;
    for (const char *p = value; *p; p++)
        if (*p != ':') {
            if (n == sizeof(hex) - 1 || pfs_uri_hexval(*p) < 0) {
                n = 0;
                break;
            }
            hex[n++] = *p;
        }
    if (n != sizeof(hex) - 1)
        return msgf(msg, msg_len,
                    "cert_sha256 must be the 64 hex digits of a SHA-256 fingerprint, not '%.100s'",
                    value);
    for (size_t i = 0; i < PFS_SHA256_LEN; i++)
        c->cert_sha256[i] =
            (uint8_t)(pfs_uri_hexval(hex[2 * i]) << 4 | pfs_uri_hexval(hex[2 * i + 1]));
    c->has_cert_sha256 = true;
    return 0;
}

static int load_handler(void *user, const char *section, const char *name, const char *value,
                        char *msg, size_t msg_len)
{
    struct load_ctx *ctx = user;
    if (!*section)
        return msgf(msg, msg_len, "'%.60s' is outside a [client] section", name);
    struct pfs_signer_client *c = client_for(ctx, section);
    if (!c)
        return msgf(msg, msg_len, "out of memory");
    size_t idx = (size_t)(c - ctx->p->clients);
    double v;
    if (strcmp(name, "token") == 0) {
        /* Continuation lines arrive as repeated calls: joined. */
        pfs_buf_puts(&ctx->tokens[idx], value);
        return 0;
    }
    if (strcmp(name, "allow") == 0) {
        ctx->has_allow[idx] = true;
        return add_allow(c, value, msg, msg_len);
    }
    if (strcmp(name, "access") == 0) {
        if (strcmp(value, "read") == 0)
            c->access = PFS_SIGNER_READ;
        else if (strcmp(value, "write") == 0)
            c->access = PFS_SIGNER_WRITE;
        else
            return msgf(msg, msg_len, "access must be 'read' or 'write', not '%.40s'", value);
        return 0;
    }
    if (strcmp(name, "max_expires") == 0) {
        if (parse_number(&v, value, PFS_EXPIRES_MIN, PFS_EXPIRES_MAX) != 0 || v != floor(v))
            return msgf(msg, msg_len, "max_expires must be whole seconds, 1..604800, not '%.40s'",
                        value);
        c->max_expires = (int64_t)v;
        return 0;
    }
    if (strcmp(name, "rate") == 0) {
        if (parse_number(&v, value, 0.001, 1e9) != 0)
            return msgf(msg, msg_len, "rate must be URLs per second (> 0), not '%.40s'", value);
        c->rate = v;
        return 0;
    }
    if (strcmp(name, "burst") == 0) {
        if (parse_number(&v, value, 1, 1e9) != 0)
            return msgf(msg, msg_len, "burst must be a number of URLs (>= 1), not '%.40s'", value);
        c->burst = v;
        return 0;
    }
    if (strcmp(name, "cert_subject") == 0) {
        free(c->cert_subject);
        c->cert_subject = strdup(value);
        return c->cert_subject ? 0 : msgf(msg, msg_len, "out of memory");
    }
    if (strcmp(name, "cert_sha256") == 0)
        return parse_fingerprint(c, value, msg, msg_len);
    return msgf(msg, msg_len,
                "unknown key '%.60s' (token, allow, access, max_expires, rate, burst, "
                "cert_subject, cert_sha256)",
                name);
}

int pfs_signer_policy_load(struct pfs_signer_policy **out, const char *path,
                           struct pfs_config_error *err)
{
    *out = NULL;
    struct load_ctx ctx = {0};
    ctx.p = calloc(1, sizeof(*ctx.p));
    if (!ctx.p) {
        snprintf(err->msg, sizeof(err->msg), "clients file %s: out of memory", path);
        return -1;
    }
    int rc = pfs_config_read_private_ini(path, "clients file", load_handler, &ctx, err);
    struct pfs_signer_policy *p = ctx.p;
    for (size_t i = 0; rc == 0 && i < p->n_clients; i++) {
        struct pfs_signer_client *c = &p->clients[i];
        struct pfs_buf *t = &ctx.tokens[i];
        if (pfs_buf_status(t)) {
            snprintf(err->msg, sizeof(err->msg), "clients file %s: out of memory", path);
            rc = -1;
        } else if (t->len < PFS_SIGNER_TOKEN_MIN || t->len > PFS_SIGNER_TOKEN_MAX) {
            snprintf(err->msg, sizeof(err->msg),
                     "clients file %s: [%s]: token must be %d to %d bytes (e.g. openssl rand "
                     "-hex 32)",
                     path, c->name, PFS_SIGNER_TOKEN_MIN, PFS_SIGNER_TOKEN_MAX);
            rc = -1;
        } else if (!ctx.has_allow[i] || c->n_allow == 0) {
            snprintf(err->msg, sizeof(err->msg),
                     "clients file %s: [%s]: allow = BUCKET[/PREFIX] ... is required", path,
                     c->name);
            rc = -1;
        } else {
            pfs_crypto_sha256(c->token_hash, t->data, t->len);
            for (size_t j = 0; j < i; j++)
                if (pfs_crypto_equal(c->token_hash, p->clients[j].token_hash, PFS_SHA256_LEN)) {
                    snprintf(err->msg, sizeof(err->msg),
                             "clients file %s: [%s] and [%s] have the same token", path,
                             p->clients[j].name, c->name);
                    rc = -1;
                }
        }
    }
    if (rc == 0 && p->n_clients == 0) {
        snprintf(err->msg, sizeof(err->msg), "clients file %s: no [client] section", path);
        rc = -1;
    }
    for (size_t i = 0; i < p->n_clients; i++)
        pfs_buf_cleanup_secret(&ctx.tokens[i]);
    free(ctx.tokens);
    free(ctx.has_allow);
    if (rc != 0) {
        pfs_signer_policy_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

const struct pfs_signer_client *pfs_signer_policy_find(const struct pfs_signer_policy *p,
                                                       const char *token, size_t token_len)
{
    uint8_t h[PFS_SHA256_LEN];
    pfs_crypto_sha256(h, token, token_len);
    const struct pfs_signer_client *found = NULL;
    for (size_t i = 0; i < p->n_clients; i++) {
        bool eq = pfs_crypto_equal(h, p->clients[i].token_hash, PFS_SHA256_LEN);
        /* no early exit: every client is compared */
        found = eq ? &p->clients[i] : found;
    }
    pfs_crypto_wipe(h, sizeof(h));
    return found;
}

int64_t pfs_signer_policy_expires(const struct pfs_signer_client *c, int64_t wanted)
{
    if (wanted <= 0 || wanted > c->max_expires)
        return c->max_expires;
    return wanted;
}

static int deny(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int deny(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -EACCES;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    return pl <= len && memcmp(s, prefix, pl) == 0;
}

/* Whether c may touch key (len bytes) of bucket. */
static bool key_allowed(const struct pfs_signer_client *c, const char *bucket, const char *key,
                        size_t len)
{
    for (size_t i = 0; i < c->n_allow; i++)
        if (strcmp(c->allow[i].bucket, bucket) == 0 && starts_with(key, len, c->allow[i].prefix))
            return true;
    return false;
}

static bool bucket_known(const struct pfs_signer_client *c, const char *bucket)
{
    for (size_t i = 0; i < c->n_allow; i++)
        if (strcmp(c->allow[i].bucket, bucket) == 0)
            return true;
    return false;
}

static bool whole_bucket(const struct pfs_signer_client *c, const char *bucket)
{
    return key_allowed(c, bucket, "", 0);
}

/* Sub-resources presignfs and ordinary tools use. Anything else (acl,
 * policy, tagging, lifecycle, website, cors, ...) changes or reveals more
 * than objects and is never signed. */
static bool query_allowed(const char *name)
{
    static const char *const names[] = {
        "list-type",   "prefix",        "delimiter",          "max-keys",   "continuation-token",
        "start-after", "encoding-type", "fetch-owner",        "fetch-meta", "marker",
        "uploads",     "uploadId",      "partNumber",         "key-marker", "upload-id-marker",
        "max-uploads", "max-parts",     "part-number-marker", "delete",     "versionId",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return strncmp(name, "response-", 9) == 0;
}

static const char *dialect_prefix(enum pfs_dialect d)
{
    return d == PFS_DIALECT_S3 ? "x-amz-" : "x-tos-";
}

/* Signed headers: content headers, user metadata and the copy headers. ACL
 * and grant headers (which could make an object public) are refused. */
static bool header_allowed(enum pfs_dialect d, const char *name)
{
    static const char *const plain[] = {
        "content-type",     "content-md5",      "content-disposition",
        "content-encoding", "content-language", "cache-control",
        "expires"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (strcasecmp(name, plain[i]) == 0)
            return true;
    const char *dp = dialect_prefix(d);
    if (strncasecmp(name, dp, 6) != 0)
        return false;
    const char *rest = name + 6;
    static const char *const ours[] = {"copy-source", "copy-source-range", "metadata-directive"};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (strcasecmp(rest, ours[i]) == 0)
            return true;
    return strncasecmp(rest, "meta-", 5) == 0;
}

/* A copy reads its source: that must be allowed too. TOS "/bucket/key"
 * (escaped), S3 "bucket/key" (escaped, optional "?versionId=..."). */
static int check_copy_source(const struct pfs_signer_client *c, const char *value, char *why,
                             size_t why_len)
{
    const char *p = value;
    if (*p == '/')
        p++;
    const char *slash = strchr(p, '/');
    if (!slash || slash == p)
        return deny(why, why_len, "copy source '%.200s' is not BUCKET/KEY", value);
    size_t vlen = strcspn(slash + 1, "?");
    char bucket[256];
    if ((size_t)(slash - p) >= sizeof(bucket))
        return deny(why, why_len, "copy source bucket name is too long");
    memcpy(bucket, p, (size_t)(slash - p));
    bucket[slash - p] = '\0';
    struct pfs_buf key;
    pfs_buf_init(&key);
    int rc = 0;
    if (pfs_uri_decode(&key, slash + 1, vlen) != 0 || pfs_buf_status(&key))
        rc = deny(why, why_len, "copy source '%.200s' is not percent-encoded", value);
    else if (!key_allowed(c, bucket, key.data ? key.data : "", key.len))
        rc = deny(why, why_len, "copy source %s/%.200s is outside what this client may read",
                  bucket, key.data ? key.data : "");
    pfs_buf_cleanup(&key);
    return rc;
}

int pfs_signer_policy_check(const struct pfs_signer_client *c, enum pfs_dialect d,
                            const struct pfs_sign_request *req, char *why, size_t why_len)
{
    why[0] = '\0';
    const char *m = req->method ? req->method : "";
    bool read = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool write = strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "DELETE") == 0;
    if (!read && !write)
        return deny(why, why_len, "method '%.20s' is not signed", m);
    if (write && c->access != PFS_SIGNER_WRITE)
        return deny(why, why_len, "%s needs write access; this client has read access", m);
    if (!req->bucket || !bucket_known(c, req->bucket))
        return deny(why, why_len, "bucket %.100s is not allowed for this client",
                    req->bucket ? req->bucket : "(none)");
    const char *list_prefix = NULL;
    for (size_t i = 0; i < req->n_query; i++) {
        const char *name = req->query[i].name ? req->query[i].name : "";
        if (!query_allowed(name))
            return deny(why, why_len, "sub-resource '%.60s' is not signed", name);
        if (strcmp(name, "prefix") == 0)
            list_prefix = req->query[i].value ? req->query[i].value : "";
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name ? req->headers[i].name : "";
        if (!header_allowed(d, name))
            return deny(why, why_len, "header '%.60s' is not signed", name);
        const char *rest = name + (strlen(name) > 6 ? 6 : strlen(name));
        if (strncasecmp(name, dialect_prefix(d), 6) == 0 && strcasecmp(rest, "copy-source") == 0) {
            int rc = check_copy_source(c, req->headers[i].value ? req->headers[i].value : "", why,
                                       why_len);
            if (rc)
                return rc;
        }
    }
    if (req->key_len > 0) {
        if (!key_allowed(c, req->bucket, req->key, req->key_len))
            return deny(why, why_len, "key %.*s is outside the prefixes allowed for bucket %s",
                        (int)(req->key_len > 200 ? 200 : req->key_len), req->key, req->bucket);
        return 0;
    }
    /* Bucket-level requests. */
    if (strcmp(m, "HEAD") == 0 && req->n_query == 0)
        return 0; /* the bucket exists: nothing more is revealed */
    if (whole_bucket(c, req->bucket)) {
        if (strcmp(m, "POST") == 0 && req->n_query == 1 &&
            strcmp(req->query[0].name, "delete") == 0)
            return 0;
        if (read)
            return 0;
        return deny(why, why_len, "bucket-level %s is not signed (only POST ?delete)", m);
    }
    if (strcmp(m, "GET") != 0)
        return deny(why, why_len,
                    "bucket-level %s needs the whole bucket %s; this client has prefixes only", m,
                    req->bucket);
    if (!list_prefix)
        return deny(why, why_len,
                    "a listing of bucket %s needs a prefix within those allowed for this client",
                    req->bucket);
    if (!key_allowed(c, req->bucket, list_prefix, strlen(list_prefix)))
        return deny(why, why_len,
                    "listing prefix '%.200s' is outside the prefixes allowed for bucket %s",
                    list_prefix, req->bucket);
    return 0;
}

bool pfs_signer_rate_take(struct pfs_signer_rate *r, double rate, double burst, double now,
                          double cost, double *retry_after_out)
{
    if (retry_after_out)
        *retry_after_out = 0;
    if (!r->started) {
        r->tokens = burst;
        r->last = now;
        r->started = true;
    }
    if (now > r->last) {
        r->tokens += (now - r->last) * rate;
        if (r->tokens > burst)
            r->tokens = burst;
        r->last = now;
    }
    if (cost > burst)
        return false;
    if (r->tokens >= cost) {
        r->tokens -= cost;
        return true;
    }
    if (retry_after_out)
        *retry_after_out = (cost - r->tokens) / rate;
    return false;
}

int pfs_signer_policy_check_cert(const struct pfs_signer_client *c,
                                 const struct pfs_signer_peer_cert *peer, char *why, size_t why_len)
{
    bool required = c->cert_subject || c->has_cert_sha256;
    if (peer && peer->present && !peer->verified) {
        /* Even where none is required, a certificate that does not verify
         * is a client that is not what it claims. */
        snprintf(why, why_len, "client certificate not trusted: %s", peer->why);
        return -1;
    }
    if (!required)
        return 0;
    if (!peer || !peer->present) {
        snprintf(why, why_len, "client %s must present a client certificate", c->name);
        return -1;
    }
    if (c->cert_subject && strcmp(c->cert_subject, peer->subject) != 0) {
        snprintf(why, why_len, "client certificate subject '%.200s' is not the one of client %s",
                 peer->subject, c->name);
        return -1;
    }
    if (c->has_cert_sha256 &&
        !pfs_crypto_equal(c->cert_sha256, peer->sha256, sizeof(c->cert_sha256))) {
        snprintf(why, why_len, "client certificate fingerprint is not the one of client %s",
                 c->name);
        return -1;
    }
    return 0;
}

/* Object operations over presigned URLs (see client.h). Every operation is a
 * `struct op` handed to execute(), the one loop that signs, sends, classifies
 * the outcome, re-signs once after a 403 and backs off on transient failures. */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "crypto.h"
#include "get_answer.h"
#include "list_guard.h"
#include "log.h"
#include "progress.h"
#include "stats.h"
#include "timefmt.h"
#include "uri.h"

#define MAX_QUERY 10
#define MAX_HEADERS 24
#define DEFAULT_LIST_MAX_BODY (16u << 20)
#define RESULT_MAX_BODY (1u << 20)

struct pfs_client {
    struct pfs_http *http;
    struct pfs_urlcache *urls;
    struct pfs_pool *pool;
    const struct pfs_dialect_ops *d;
    char *bucket;
    struct pfs_client_opts opts;
};

struct op {
    const char *method;
    const char *key; /* NULL: bucket-level */
    struct pfs_kv query[MAX_QUERY];
    size_t n_query;
    struct pfs_kv signed_headers[MAX_HEADERS]; /* signed into the URL and sent */
    size_t n_signed;
    struct pfs_kv plain_headers[MAX_HEADERS]; /* sent, not signed */
    size_t n_plain;
    const struct pfs_http_body *body;
    struct pfs_http_sink sink;
    bool cacheable; /* URL reused from the cache (not for one-shot URLs) */
    bool want_crc64;
    /* TOS: when set, a 2xx whose x-tos-hash-crc64ecma differs from the CRC of
     * the body sent is treated as a transient failure (corrupted in flight). */
    bool check_crc64;
    char *etag_out;                 /* GET: the ETag of the version read, [80] */
    const struct pfs_get_opts *get; /* GET: its CRC-64 and size outputs */
    const _Atomic int *cancel;
};

static void real_sleep(void *ctx, unsigned ms)
{
    (void)ctx;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int pfs_client_new(struct pfs_client **out, struct pfs_http *http, struct pfs_urlcache *urls,
                   struct pfs_pool *pool, enum pfs_dialect dialect, const char *bucket,
                   const struct pfs_client_opts *opts)
{
    *out = NULL;
    if (!http || !urls || !bucket || !*bucket)
        return -EINVAL;
    struct pfs_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->bucket = strdup(bucket))) {
        free(c);
        return -ENOMEM;
    }
    c->http = http;
    c->urls = urls;
    c->pool = pool;
    c->d = pfs_dialect_ops_for(dialect);
    if (opts)
        c->opts = *opts;
    if (c->opts.retries < 0)
        c->opts.retries = 0;
    if (!opts)
        c->opts.retries = 5;
    if (!c->opts.base_delay_ms)
        c->opts.base_delay_ms = 100;
    if (!c->opts.max_delay_ms)
        c->opts.max_delay_ms = 10000;
    if (!c->opts.list_max_body)
        c->opts.list_max_body = DEFAULT_LIST_MAX_BODY;
    if (!c->opts.copy_threshold)
        c->opts.copy_threshold = PFS_MULTIPART_MAX_PART;
    if (!c->opts.sleep_ms)
        c->opts.sleep_ms = real_sleep;
    *out = c;
    return 0;
}

void pfs_client_free(struct pfs_client *c)
{
    if (!c)
        return;
    free(c->bucket);
    free(c);
}

long pfs_client_connections(const struct pfs_client *c)
{
    return c->http->ops->connections ? c->http->ops->connections(c->http->ctx) : 0;
}

/* ---- outcome classification ---- */

static bool code_is(const struct pfs_status *st, const char *code)
{
    return strcmp(st->service_code, code) == 0;
}

static bool transient_status(const struct pfs_status *st)
{
    static const char *const codes[] = {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "ExceedAccountQPSLimit",
        "ExceedBucketQPSLimit",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ExceedAccountRateLimit",
        "ExceedBucketRateLimit",
    };
    long s = st->http_status;
    if (s == 500 || s == 502 || s == 503 || s == 504 || s == 429)
        return true;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (code_is(st, codes[i]))
            return true;
    return false;
}

static bool transient_transport(int rc)
{
    return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -EIO ||
           rc == -EHOSTUNREACH;
}

/* A rejected signature, an expired URL or an expired token: a fresh URL may
 * work. A HEAD error has no body, so any 403 qualifies (tos-api.md section 9). */
static bool resign_may_help(const struct pfs_status *st)
{
    if (st->http_status == 403)
        return true;
    return st->http_status == 400 && (code_is(st, "ExpiredToken") || code_is(st, "InvalidToken"));
}

/* The store said the URL had expired: a fresh URL called expired too is a
 * fault of the store's or of a proxy in between (or a clock step), retried
 * like a 5xx, up to `retries` fresh URLs with back-off after the first (with
 * 3, a proxy expiring one answer in ten failed about one upload in 10,000).
 * A signature the store does not accept is re-signed once only: a wrong
 * secret signs the same way every time. */
static bool url_expired(const struct pfs_status *st)
{
    return code_is(st, "AccessDenied") && strstr(st->message, "expired") != NULL;
}

static int errno_for_status(const struct pfs_status *st)
{
    if (code_is(st, "QuotaExceeded") || code_is(st, "ExceedQuota") ||
        code_is(st, "BucketQuotaExceeded") || code_is(st, "StorageQuotaExceeded"))
        return -EDQUOT;
    switch (st->http_status) {
    case 404:
        return -ENOENT;
    case 401:
    case 403:
        return -EACCES;
    case 413:
        return -EFBIG;
    case 501:
        return -ENOTSUP;
    case 507:
        return -ENOSPC;
    case 400:
        if (code_is(st, "KeyTooLongError"))
            return -ENAMETOOLONG;
        if (code_is(st, "EntityTooLarge"))
            return -EFBIG;
        if (code_is(st, "ExpiredToken") || code_is(st, "InvalidToken"))
            return -EACCES;
        return -EIO;
    default:
        return -EIO;
    }
}

static unsigned backoff_ms(const struct pfs_client *c, int failures)
{
    uint64_t d = c->opts.base_delay_ms;
    for (int i = 1; i < failures && d < c->opts.max_delay_ms; i++)
        d *= 2;
    if (d > c->opts.max_delay_ms)
        d = c->opts.max_delay_ms;
    /* "Equal jitter": half fixed, half random, so clients spread out while
     * every retry still waits at least half the nominal delay. */
    unsigned half = (unsigned)(d / 2);
    return half + (half ? arc4random_uniform(half + 1) : 0);
}

#define HEADER_NAME_MAX 48

/* The dialect's name of a header: "x-amz-" or "x-tos-" + suffix. */
static const char *dialect_header(char out[HEADER_NAME_MAX], const struct pfs_dialect_ops *d,
                                  const char *suffix)
{
    snprintf(out, HEADER_NAME_MAX, "%s%s", d->header_prefix, suffix);
    return out;
}

static void fill_request_id(struct pfs_status *st, const struct pfs_http_response *resp,
                            const struct pfs_dialect_ops *d)
{
    char name[HEADER_NAME_MAX];
    dialect_header(name, d, "request-id");
    const char *rid = pfs_http_response_header(resp, name);
    if (rid && !st->request_id[0])
        pfs_status_set(st, NULL, NULL, rid);
}

/* A failure's hints for the one-line explanation of a bucket check: the
 * region the store names and how far its Date is from our clock. */
static void fill_setup_hints(struct pfs_status *st, const struct pfs_http_response *resp,
                             const struct pfs_dialect_ops *d)
{
    char name[HEADER_NAME_MAX];
    const char *region = pfs_http_response_header(resp, dialect_header(name, d, "bucket-region"));
    st->store_region[0] = st->store_endpoint[0] = '\0';
    if (region)
        pfs_status_set_region(st, region);
    const char *date = pfs_http_response_header(resp, "date");
    int64_t t;
    st->has_clock_skew = date && pfs_time_parse_http(&t, date) == 0;
    if (st->has_clock_skew)
        st->clock_skew = (long long)(t - (int64_t)time(NULL));
}

static const char *status_text(long status)
{
    switch (status) {
    case 400:
        return "BadRequest";
    case 403:
        return "AccessDenied";
    case 404:
        return "NotFound";
    case 412:
        return "PreconditionFailed";
    default:
        return status >= 500 ? "ServerError" : "";
    }
}

static void log_failure(const struct op *op, const char *key, const struct pfs_status *st)
{
    char what[600];
    pfs_status_describe(st, what, sizeof(what));
    PFS_WARN("%s %s: %s", op->method, key ? key : "(bucket)", what);
}

/* A 3xx is never followed: the URL is signed for our endpoint, and sending
 * it (or re-signing it) for another host would hand that host a request it
 * can replay. The message names where the store pointed (the Location without
 * its query, which holds our signature) so the user can set the endpoint. */
static void explain_redirect(struct pfs_status *st, const struct pfs_http_response *resp)
{
    const char *location = pfs_http_response_header(resp, "location");
    char shown[160] = "";
    if (location) {
        pfs_log_redact_url(shown, sizeof(shown), location);
        shown[strcspn(shown, "?")] = '\0'; /* the query is our own signed one */
    }
    char msg[512]; /* pfs_status_set cuts it to the message's size */
    snprintf(msg, sizeof(msg), "redirected%s%s, not followed%s%s%s", shown[0] ? " to " : "", shown,
             st->store_endpoint[0] ? " (the store names endpoint " : "", st->store_endpoint,
             st->store_endpoint[0] ? ")" : "");
    pfs_status_set(st, st->service_code[0] ? NULL : "Redirect", msg, NULL);
}

/* ---- the request loop ---- */

static int execute_attempts(struct pfs_client *c, struct op *op, struct pfs_http_response *resp,
                            struct pfs_status *st)
{
    pfs_status_clear(st);
    const char *key = op->key ? op->key : "";
    struct pfs_sign_request sreq = {
        .method = op->method,
        .bucket = c->bucket,
        .key = key,
        .key_len = strlen(key),
        .query = op->query,
        .n_query = op->n_query,
        .headers = op->signed_headers,
        .n_headers = op->n_signed,
    };
    struct pfs_kv headers[2 * MAX_HEADERS];
    size_t n_headers = 0;
    for (size_t i = 0; i < op->n_signed; i++)
        headers[n_headers++] = op->signed_headers[i];
    for (size_t i = 0; i < op->n_plain; i++)
        headers[n_headers++] = op->plain_headers[i];
    struct pfs_http_request req = {
        .method = op->method,
        .headers = headers,
        .n_headers = n_headers,
        .body = op->body,
        .sink = op->sink,
        .want_crc64 = op->want_crc64 || op->check_crc64,
        .cancel = op->cancel,
    };
    size_t sink_start = op->sink.kind == PFS_SINK_BUFFER ? op->sink.buf->len : 0;
    int resigns = 0;
    int failures = 0;

    for (;;) {
        st->attempts++;
        char *url = NULL;
        int rc = op->cacheable ? pfs_urlcache_get(c->urls, &url, &sreq)
                               : pfs_urlcache_get_uncached(c->urls, &url, &sreq);
        if (rc) {
            /* A signer's refusal is EACCES, a signer that does not answer EIO
             * (the URL source logged which, once); the rest cannot be signed. */
            st->error = (rc == -ENOMEM || rc == -EACCES || rc == -EIO) ? rc : -EINVAL;
            pfs_status_set(st, NULL,
                           rc == -EACCES ? "the signer refused this request"
                           : rc == -EIO  ? "no URL: the signer does not answer"
                                         : "could not presign the request",
                           NULL);
            if (rc != -EACCES && rc != -EIO)
                log_failure(op, op->key, st);
            return -1;
        }
        req.url = url;
        if (pfs_log_get_level() >= PFS_LOG_DEBUG) {
            char shown[2048];
            pfs_log_redact_url(shown, sizeof(shown), url);
            PFS_DEBUG("%s %s (attempt %d)", op->method, shown, st->attempts);
        }
        pfs_http_response_reset(resp);
        if (op->sink.kind == PFS_SINK_BUFFER) {
            op->sink.buf->len = sink_start; /* a retry starts the body afresh */
            if (op->sink.buf->data)
                op->sink.buf->data[sink_start] = '\0';
        }
        rc = pfs_http_perform(c->http, &req, resp);
        pfs_stats_bytes(resp->body_bytes + resp->error_body.len,
                        rc == 0 && req.body ? req.body->len : 0);
        if (rc) {
            st->http_status = 0;
            pfs_status_set(st, "", resp->transport_message, NULL);
            if (transient_transport(rc) && failures < c->opts.retries) {
                failures++;
                free(url);
                c->opts.sleep_ms(c->opts.sleep_ctx, backoff_ms(c, failures));
                continue;
            }
            /* A sink that overflowed means the store sent more than asked for:
             * its fault, an I/O error. Local failures keep their errno. */
            st->error =
                (rc == -ENOMEM || rc == -ENOSPC || rc == -EDQUOT || rc == -ECANCELED) ? rc : -EIO;
            if (rc == -EFBIG) {
                char msg[96];
                snprintf(msg, sizeof(msg),
                         "the store sent a larger body than expected (over %zu bytes)",
                         op->sink.kind == PFS_SINK_BUFFER ? op->sink.max : op->sink.mem_len);
                pfs_status_set(st, "", msg, NULL);
            }
            free(url);
            if (rc != -ECANCELED)
                log_failure(op, op->key, st);
            return -1;
        }
        st->http_status = resp->status;
        fill_request_id(st, resp, c->d);
        if (resp->status >= 200 && resp->status < 300) {
            if (op->check_crc64) {
                char hname[HEADER_NAME_MAX];
                const char *crc =
                    pfs_http_response_header(resp, dialect_header(hname, c->d, "hash-crc64ecma"));
                char mine[24];
                snprintf(mine, sizeof(mine), "%" PRIu64, resp->crc64_sent);
                if (crc && strcmp(crc, mine) != 0) {
                    pfs_status_set(st, "CRCMismatch",
                                   "the store's CRC-64 of the body differs from ours", NULL);
                    if (failures < c->opts.retries) {
                        failures++;
                        free(url);
                        c->opts.sleep_ms(c->opts.sleep_ctx, backoff_ms(c, failures));
                        continue;
                    }
                    st->error = -EIO;
                    free(url);
                    log_failure(op, op->key, st);
                    return -1;
                }
            }
            free(url);
            pfs_status_set(st, "", "", NULL);
            return 0;
        }
        /* An error: its body, if it has one, names it. */
        st->service_code[0] = st->message[0] = '\0';
        fill_setup_hints(st, resp, c->d);
        if (resp->error_body.len == 0 ||
            c->d->parse_error(resp->error_body.data, resp->error_body.len, st) != 0) {
            char ec_name[HEADER_NAME_MAX];
            const char *ec = pfs_http_response_header(resp, dialect_header(ec_name, c->d, "ec"));
            pfs_status_set(st, status_text(resp->status),
                           ec ? ec : (resp->error_body.len ? "unreadable error body" : ""), NULL);
        }
        if (resp->status >= 300 && resp->status < 400)
            explain_redirect(st, resp);
        if (resign_may_help(st) &&
            (resigns == 0 || (url_expired(st) && resigns < c->opts.retries))) {
            if (resigns > 0) /* the fresh URL failed too: not at once again */
                c->opts.sleep_ms(c->opts.sleep_ctx, backoff_ms(c, resigns));
            resigns++;
            pfs_stats_resign();
            pfs_urlcache_invalidate(c->urls, &sreq, url);
            free(url);
            PFS_DEBUG("%s %s: HTTP %ld %s: re-signing (%d)", op->method, key, resp->status,
                      st->service_code, resigns);
            continue;
        }
        free(url);
        if (transient_status(st) && failures < c->opts.retries) {
            failures++;
            c->opts.sleep_ms(c->opts.sleep_ctx, backoff_ms(c, failures));
            continue;
        }
        st->error = errno_for_status(st);
        if (st->error != -ENOENT)
            log_failure(op, op->key, st);
        return -1;
    }
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Every request, with all its attempts, counted once (stats.h). */
static int execute(struct pfs_client *c, struct op *op, struct pfs_http_response *resp,
                   struct pfs_status *st)
{
    uint64_t t0 = monotonic_us();
    int rc = execute_attempts(c, op, resp, st);
    pfs_stats_request(pfs_stats_req_kind(op->method, op->key && *op->key), rc == 0,
                      (unsigned)st->attempts, monotonic_us() - t0);
    return rc;
}

static int run(struct pfs_client *c, struct op *op, struct pfs_status *st)
{
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = execute(c, op, &resp, st);
    pfs_http_response_cleanup(&resp);
    return rc;
}

static void add_query(struct op *op, const char *name, const char *value)
{
    op->query[op->n_query++] = (struct pfs_kv){name, value};
}

static void add_signed(struct op *op, const char *name, const char *value)
{
    op->signed_headers[op->n_signed++] = (struct pfs_kv){name, value};
}

static void add_plain(struct op *op, const char *name, const char *value)
{
    op->plain_headers[op->n_plain++] = (struct pfs_kv){name, value};
}

static int fail_local(struct pfs_status *st, int err, const char *message)
{
    pfs_status_clear(st);
    st->error = err;
    pfs_status_set(st, "", message, NULL);
    return -1;
}

/* Metadata headers are signed: the TOS SDKs sign every x-tos-* header, and a
 * store that insists on it then cannot reject the request (tos-api.md 3). */
static int add_meta(struct pfs_client *c, struct op *op, struct pfs_buf *names,
                    const struct pfs_kv *meta, size_t n_meta, struct pfs_status *st)
{
    if (n_meta > MAX_HEADERS - 4)
        return fail_local(st, -E2BIG, "too many metadata entries");
    size_t offsets[MAX_HEADERS];
    for (size_t i = 0; i < n_meta; i++) {
        offsets[i] = names->len;
        if (strcmp(meta[i].name, PFS_META_CONTENT_TYPE) == 0)
            pfs_buf_printf(names, "content-type");
        else
            pfs_buf_printf(names, "%s%s", c->d->meta_prefix, meta[i].name);
        pfs_buf_putc(names, '\0');
    }
    if (pfs_buf_status(names))
        return fail_local(st, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n_meta; i++)
        add_signed(op, names->data + offsets[i], meta[i].value ? meta[i].value : "");
    return 0;
}

/* The decimal x-tos-hash-crc64ecma of a response: true with *out set, false
 * when absent or not a decimal 64-bit number. */
static bool response_crc64(const struct pfs_client *c, const struct pfs_http_response *resp,
                           uint64_t *out)
{
    char hname[HEADER_NAME_MAX];
    const char *v = pfs_http_response_header(resp, dialect_header(hname, c->d, "hash-crc64ecma"));
    if (!v || !isdigit((unsigned char)*v))
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return false;
    *out = (uint64_t)x;
    return true;
}

/* ---- HEAD ---- */

void pfs_object_info_cleanup(struct pfs_object_info *info)
{
    for (size_t i = 0; i < info->n_meta; i++) {
        free(info->meta[i].name);
        free(info->meta[i].value);
    }
    free(info->meta);
    memset(info, 0, sizeof(*info));
}

const char *pfs_object_info_meta(const struct pfs_object_info *info, const char *name)
{
    for (size_t i = 0; i < info->n_meta; i++)
        if (strcmp(info->meta[i].name, name) == 0)
            return info->meta[i].value;
    return NULL;
}

static int info_from_headers(struct pfs_object_info *out, const struct pfs_http_response *resp,
                             const struct pfs_dialect_ops *d)
{
    memset(out, 0, sizeof(*out));
    if (pfs_header_decimal_u64(&out->size, pfs_http_response_header(resp, "content-length")) != 0)
        return -EPROTO;
    const char *lm = pfs_http_response_header(resp, "last-modified");
    if (lm && pfs_time_parse_http(&out->mtime, lm) != 0)
        out->mtime = 0;
    const char *etag = pfs_http_response_header(resp, "etag");
    snprintf(out->etag, sizeof(out->etag), "%s", etag ? etag : "");
    const char *ct = pfs_http_response_header(resp, "content-type");
    snprintf(out->content_type, sizeof(out->content_type), "%s", ct ? ct : "");
    size_t plen = strlen(d->meta_prefix), n = 0;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strncmp(resp->headers[i].name, d->meta_prefix, plen) == 0 &&
            resp->headers[i].name[plen])
            n++;
    if (n == 0)
        return 0;
    out->meta = calloc(n, sizeof(*out->meta));
    if (!out->meta)
        return -ENOMEM;
    for (size_t i = 0; i < resp->n_headers; i++) {
        const struct pfs_http_header *h = &resp->headers[i];
        if (strncmp(h->name, d->meta_prefix, plen) != 0 || !h->name[plen])
            continue;
        struct pfs_meta_kv *m = &out->meta[out->n_meta++];
        m->name = strdup(h->name + plen);
        m->value = strdup(h->value);
        if (!m->name || !m->value)
            return -ENOMEM;
    }
    return 0;
}

void pfs_client_presign_heads(struct pfs_client *c, const char *const *keys, size_t n)
{
    struct pfs_sign_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    if (!reqs)
        return;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i])
            continue;
        /* What execute_attempts signs for pfs_client_head. */
        reqs[m++] = (struct pfs_sign_request){
            .method = "HEAD", .bucket = c->bucket, .key = keys[i], .key_len = strlen(keys[i])};
    }
    pfs_urlcache_prefetch(c->urls, reqs, m);
    free(reqs);
}

int pfs_client_head(struct pfs_client *c, struct pfs_object_info *out, const char *key,
                    struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    if (!key || !*key)
        return fail_local(st, -EINVAL, "empty key");
    struct op op = {.method = "HEAD", .key = key, .cacheable = true};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = execute(c, &op, &resp, st);
    if (rc == 0) {
        int prc = info_from_headers(out, &resp, c->d);
        if (prc) {
            pfs_object_info_cleanup(out);
            st->error = prc == -ENOMEM ? -ENOMEM : -EIO;
            pfs_status_set(st, "", "HEAD response without a valid Content-Length", NULL);
            rc = -1;
        }
    }
    pfs_http_response_cleanup(&resp);
    return rc;
}

int pfs_client_head_bucket(struct pfs_client *c, struct pfs_status *st)
{
    struct op op = {.method = "HEAD", .cacheable = true};
    return run(c, &op, st);
}

/* ---- GET ---- */

static void get_outputs(const struct pfs_client *c, const struct pfs_get_opts *o,
                        const struct pfs_http_response *resp, uint64_t offset)
{
    if (o->has_crc64_out && o->crc64_out)
        *o->has_crc64_out = c->d->id == PFS_DIALECT_TOS && response_crc64(c, resp, o->crc64_out);
    if (o->total_out)
        *o->total_out = pfs_get_answer_total(resp, offset);
}

static int get_common(struct pfs_client *c, struct op *op, uint64_t offset, uint64_t len,
                      uint64_t *got_out, struct pfs_status *st)
{
    *got_out = 0;
    char range[64];
    if (len != UINT64_MAX) {
        if (len == 0)
            return (pfs_status_clear(st), 0);
        if (offset > UINT64_MAX - len)
            return fail_local(st, -EINVAL, "range past 2^64");
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset, offset + len - 1);
        add_plain(op, "Range", range);
    } else if (offset) {
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", offset);
        add_plain(op, "Range", range);
    }
    op->method = "GET";
    op->cacheable = true;
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = execute(c, op, &resp, st);
    if (rc != 0 && st->http_status == 416) {
        /* Reading at or past the end of the object: zero bytes. */
        pfs_status_clear(st);
        rc = 0;
    } else if (rc == 0) {
        bool ranged = len != UINT64_MAX || offset;
        const char *bad = NULL;
        if (resp.status == 206)
            bad = pfs_get_answer_partial_fault(&resp, offset, len, resp.body_bytes);
        else if (ranged && offset != 0)
            bad = "the store ignored the Range header";
        else if (!(bad = pfs_get_answer_whole_fault(&resp, resp.body_bytes)) && len != UINT64_MAX &&
                 resp.body_bytes > len)
            bad = "the store sent more bytes than asked for";
        if (bad) {
            int attempts = st->attempts;
            rc = fail_local(st, -EIO, bad);
            st->http_status = resp.status; /* the log line names the answer */
            st->attempts = attempts;
            log_failure(op, op->key, st);
        } else {
            *got_out = resp.body_bytes;
            const char *etag = pfs_http_response_header(&resp, "etag");
            if (op->etag_out)
                snprintf(op->etag_out, 80, "%s", etag ? etag : "");
            if (rc == 0 && op->get)
                get_outputs(c, op->get, &resp, offset);
        }
    }
    pfs_http_response_cleanup(&resp);
    return rc;
}

int pfs_client_get_range(struct pfs_client *c, void *buf, size_t len, uint64_t offset,
                         size_t *got_out, const char *key, struct pfs_status *st)
{
    return pfs_client_get_range_opts(c, buf, len, offset, got_out, key, NULL, st);
}

/* A ranged GET whose bytes a reader takes as they arrive (opts.arrived). */
struct streamed_get {
    const struct pfs_client *c;
    const struct pfs_get_opts *o;
    uint64_t offset, len;
    bool has_crc64; /* what the accepted answer's headers say */
    uint64_t crc64;
};

static uint64_t streamed_accept(void *ctx, const struct pfs_http_response *resp)
{
    struct streamed_get *g = ctx;
    g->has_crc64 = g->c->d->id == PFS_DIALECT_TOS && response_crc64(g->c, resp, &g->crc64);
    return pfs_get_answer_streamable(resp, g->offset, g->len, g->o->if_match);
}

static void streamed_grew(void *ctx, size_t valid)
{
    const struct streamed_get *g = ctx;
    g->o->arrived(g->o->arrived_ctx, valid, g->has_crc64, g->crc64);
}

int pfs_client_get_range_opts(struct pfs_client *c, void *buf, size_t len, uint64_t offset,
                              size_t *got_out, const char *key, const struct pfs_get_opts *o,
                              struct pfs_status *st)
{
    struct op op = {.key = key,
                    .sink = {.kind = PFS_SINK_MEMORY, .mem = buf, .mem_len = len},
                    .etag_out = o ? o->etag_out : NULL,
                    .get = o,
                    .cancel = o ? o->cancel : NULL};
    struct streamed_get sg = {.c = c, .o = o, .offset = offset, .len = len};
    struct pfs_http_watch watch = {.accept = streamed_accept, .grew = streamed_grew, .ctx = &sg};
    if (o && o->if_match && *o->if_match) {
        add_plain(&op, "If-Match", o->if_match);
        if (o->arrived)
            op.sink.watch = &watch;
    }
    uint64_t got = 0;
    int rc = get_common(c, &op, offset, len, &got, st);
    *got_out = (size_t)got;
    return rc;
}

int pfs_client_get_to_fd(struct pfs_client *c, int fd, off_t fd_offset, uint64_t offset,
                         uint64_t len, uint64_t *got_out, char etag_out[80], const char *key,
                         struct pfs_status *st)
{
    struct op op = {.key = key,
                    .sink = {.kind = PFS_SINK_FD, .fd = fd, .offset = fd_offset},
                    .etag_out = etag_out};
    return get_common(c, &op, offset, len, got_out, st);
}

/* ---- PUT ---- */

/* Content-MD5 of a body, reading a file range in pieces. */
static int body_md5(char out[32], const struct pfs_http_body *body)
{
    uint8_t digest[PFS_MD5_LEN];
    if (body->data || body->len == 0) {
        pfs_crypto_md5(digest, body->data ? body->data : "", (size_t)body->len);
    } else {
        struct pfs_md5 *m = pfs_crypto_md5_begin();
        char *chunk = malloc(1 << 20);
        if (!m || !chunk) {
            free(chunk);
            if (m)
                pfs_crypto_md5_end(m, digest);
            return -ENOMEM;
        }
        uint64_t done = 0;
        int rc = 0;
        while (done < body->len) {
            size_t want = body->len - done < (1 << 20) ? (size_t)(body->len - done) : (1 << 20);
            ssize_t r = pread(body->fd, chunk, want, body->offset + (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : -EIO;
                break;
            }
            pfs_crypto_md5_update(m, chunk, (size_t)r);
            done += (uint64_t)r;
        }
        free(chunk);
        pfs_crypto_md5_end(m, digest);
        if (rc)
            return rc;
    }
    pfs_crypto_base64(out, digest, sizeof(digest));
    return 0;
}

/* Integrity of an upload: S3 checks a Content-MD5 we send; TOS reports the
 * CRC-64 of what it stored, which we compare with the CRC of what we sent. */
static int add_integrity(struct pfs_client *c, struct op *op, char md5_b64[32],
                         const struct pfs_http_body *body, struct pfs_status *st)
{
    if (c->d->id == PFS_DIALECT_TOS) {
        op->check_crc64 = true;
        return 0;
    }
    int rc = body_md5(md5_b64, body);
    if (rc)
        return fail_local(st, rc == -ENOMEM ? -ENOMEM : -EIO, "cannot read the upload source");
    add_plain(op, "Content-MD5", md5_b64);
    return 0;
}

int pfs_client_put(struct pfs_client *c, const char *key, const struct pfs_http_body *body,
                   const struct pfs_kv *meta, size_t n_meta, char etag_out[80],
                   struct pfs_status *st)
{
    if (!key || !*key)
        return fail_local(st, -EINVAL, "empty key");
    static const struct pfs_http_body empty = {.fd = -1};
    if (!body)
        body = &empty;
    struct op op = {.method = "PUT", .key = key, .body = body, .cacheable = n_meta == 0};
    struct pfs_buf names;
    pfs_buf_init(&names);
    char md5[32];
    int rc = add_meta(c, &op, &names, meta, n_meta, st);
    if (rc == 0)
        rc = add_integrity(c, &op, md5, body, st);
    if (rc == 0) {
        struct pfs_http_response resp;
        pfs_http_response_init(&resp);
        rc = execute(c, &op, &resp, st);
        if (rc == 0 && etag_out) {
            const char *etag = pfs_http_response_header(&resp, "etag");
            snprintf(etag_out, 80, "%s", etag ? etag : "");
        }
        pfs_http_response_cleanup(&resp);
    }
    pfs_buf_cleanup(&names);
    return rc;
}

/* ---- DELETE ---- */

int pfs_client_delete(struct pfs_client *c, const char *key, struct pfs_status *st)
{
    if (!key || !*key)
        return fail_local(st, -EINVAL, "empty key");
    struct op op = {.method = "DELETE", .key = key, .cacheable = true};
    int rc = run(c, &op, st);
    if (rc != 0 && st->http_status == 404 && !code_is(st, "NoSuchBucket")) {
        pfs_status_clear(st);  /* already gone: the outcome the caller wanted */
        st->http_status = 404; /* ... which a caller that just listed the key logs */
        return 0;
    }
    return rc;
}

/* ---- LIST ---- */

int pfs_client_list(struct pfs_client *c, struct pfs_list_page *out,
                    const struct pfs_list_params *p, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    struct op op = {.method = "GET", .cacheable = true};
    char max_keys[16];
    add_query(&op, "list-type", "2");
    add_query(&op, "encoding-type", "url");
    if (p->prefix && *p->prefix)
        add_query(&op, "prefix", p->prefix);
    if (p->delimiter && *p->delimiter)
        add_query(&op, "delimiter", p->delimiter);
    if (p->continuation_token && *p->continuation_token)
        add_query(&op, "continuation-token", p->continuation_token);
    if (p->start_after && *p->start_after)
        add_query(&op, "start-after", p->start_after);
    if (p->max_keys > 0) {
        snprintf(max_keys, sizeof(max_keys), "%d", p->max_keys > 1000 ? 1000 : p->max_keys);
        add_query(&op, "max-keys", max_keys);
    }
    if (p->fetch_meta && c->d->id == PFS_DIALECT_TOS)
        add_query(&op, "fetch-meta", "true");
    struct pfs_buf body;
    pfs_buf_init(&body);
    op.sink =
        (struct pfs_http_sink){.kind = PFS_SINK_BUFFER, .buf = &body, .max = c->opts.list_max_body};
    int rc = run(c, &op, st);
    if (rc == 0) {
        int prc = c->d->parse_list(body.data ? body.data : "", body.len, out);
        /* Malformed, hostile, or holding a name that is not UTF-8 where the
         * format needs it (expat and jansson refuse those; url-encoded
         * names decode to any bytes and pass): the whole page is unusable,
         * so the listing fails rather than silently lacking names. */
        if (prc == -ENOMEM) {
            rc = fail_local(st, -ENOMEM, "out of memory");
        } else if (prc) {
            rc = fail_local(st, -EIO,
                            "unreadable listing from the store (malformed, or a name "
                            "that is not UTF-8 and not url-encoded)");
            PFS_WARN("LIST %s prefix '%s': %s", c->bucket, p->prefix ? p->prefix : "", st->message);
        }
    }
    pfs_buf_cleanup(&body);
    return rc;
}

/* A walk that must stop because the store's listing loops: one log line
 * naming the bucket and prefix, EIO to the caller. */
static int fail_listing(struct pfs_client *c, const struct pfs_list_params *p, const char *why,
                        struct pfs_status *st)
{
    PFS_WARN("LIST %s prefix '%s': %s; giving up (EIO)", c->bucket, p->prefix ? p->prefix : "",
             why);
    return fail_local(st, -EIO, why);
}

int pfs_client_list_each(struct pfs_client *c, const struct pfs_list_params *params, pfs_list_fn fn,
                         void *ctx, struct pfs_status *st)
{
    struct pfs_list_params p = *params;
    struct pfs_list_guard guard;
    pfs_list_guard_init(&guard);
    char *token = NULL;
    int rc = 0;
    do {
        struct pfs_list_page page;
        p.continuation_token = token;
        rc = pfs_client_list(c, &page, &p, st);
        if (rc) {
            free(token);
            pfs_list_guard_cleanup(&guard);
            return -1;
        }
        char why[256];
        int grc = pfs_list_guard_check(&guard, &page, token, why, sizeof(why));
        free(token);
        token = NULL;
        int frc = grc ? grc : fn(ctx, &page);
        if (frc == 0 && page.truncated && page.next_token && !(token = strdup(page.next_token)))
            frc = -ENOMEM;
        pfs_list_page_cleanup(&page);
        if (grc == -EIO) {
            pfs_list_guard_cleanup(&guard);
            return fail_listing(c, params, why, st);
        }
        if (frc < 0) {
            pfs_list_guard_cleanup(&guard);
            return fail_local(st, frc, "listing walk failed");
        }
        if (frc > 0)
            break;
    } while (token);
    free(token);
    pfs_list_guard_cleanup(&guard);
    return 0;
}

/* ---- COPY ---- */

/* TOS: "/bucket/" + the key fully escaped ('/' too), which no SDK's server
 * reading can misparse (tos-api.md 6). S3: "bucket/" + the key escaped with
 * '/' kept, as botocore sends it. */
static void copy_source(struct pfs_buf *out, const struct pfs_client *c, const char *src_key)
{
    if (c->d->id == PFS_DIALECT_TOS)
        pfs_buf_putc(out, '/');
    pfs_buf_puts(out, c->bucket);
    pfs_buf_putc(out, '/');
    pfs_uri_encode(out, src_key, strlen(src_key), c->d->id == PFS_DIALECT_S3);
}

/* Runs an operation whose 200 body is a result with an ETag or an error.
 * has_crc_out (may be NULL) tells whether the answer carried a CRC-64,
 * then in *crc_out. */
static int run_etag_result(struct pfs_client *c, struct op *op, char etag_out[80],
                           bool *has_crc_out, uint64_t *crc_out, struct pfs_status *st)
{
    struct pfs_buf body;
    pfs_buf_init(&body);
    op->sink =
        (struct pfs_http_sink){.kind = PFS_SINK_BUFFER, .buf = &body, .max = RESULT_MAX_BODY};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = execute(c, op, &resp, st);
    if (has_crc_out)
        *has_crc_out = rc == 0 && response_crc64(c, &resp, crc_out);
    pfs_http_response_cleanup(&resp);
    if (rc == 0) {
        char etag[80];
        int prc = c->d->parse_etag_result(body.data ? body.data : "", body.len,
                                          etag_out ? etag_out : etag, st);
        if (prc == -EIO) {
            st->error = -EIO; /* a 200 that carried an error document */
            log_failure(op, op->key, st);
            rc = -1;
        } else if (prc) {
            rc =
                fail_local(st, prc == -ENOMEM ? -ENOMEM : -EIO, "unreadable result from the store");
        }
    }
    pfs_buf_cleanup(&body);
    return rc;
}

int pfs_client_copy(struct pfs_client *c, const char *dst_key, const char *src_key,
                    bool replace_meta, const struct pfs_kv *meta, size_t n_meta,
                    struct pfs_status *st)
{
    if (!dst_key || !*dst_key || !src_key || !*src_key)
        return fail_local(st, -EINVAL, "empty key");
    struct op op = {.method = "PUT", .key = dst_key};
    char copy_name[HEADER_NAME_MAX], directive_name[HEADER_NAME_MAX];
    struct pfs_buf src, names;
    pfs_buf_init(&src);
    pfs_buf_init(&names);
    copy_source(&src, c, src_key);
    int rc;
    if (pfs_buf_status(&src)) {
        rc = fail_local(st, -ENOMEM, "out of memory");
    } else {
        add_signed(&op, dialect_header(copy_name, c->d, "copy-source"), src.data);
        add_signed(&op, dialect_header(directive_name, c->d, "metadata-directive"),
                   replace_meta ? "REPLACE" : "COPY");
        rc = replace_meta ? add_meta(c, &op, &names, meta, n_meta, st) : 0;
        if (rc == 0)
            rc = run_etag_result(c, &op, NULL, NULL, NULL, st);
    }
    pfs_buf_cleanup(&src);
    pfs_buf_cleanup(&names);
    return rc;
}

/* ---- multipart ---- */

/* A create that needed more than one attempt may have begun an upload whose
 * answer was lost (a reset mid-body, a timeout after the store acted): that
 * upload has an id nobody knows and would stay in the bucket. List the key's
 * uploads and abort those begun since the first attempt (a minute of slack for
 * the store's clock), all but keep_id. Best effort: a failure is logged. */
static void abort_lost_creates(struct pfs_client *c, const char *key, const char *keep_id,
                               int64_t since)
{
    struct pfs_upload_list l;
    struct pfs_status st;
    if (pfs_client_list_uploads(c, &l, key, &st) != 0) {
        PFS_INFO("%s: cannot list its multipart uploads after a retried create: one whose "
                 "answer was lost may linger until the bucket's lifecycle rule removes it",
                 key);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct pfs_upload_info *u = &l.v[i];
        if (strcmp(u->key, key) != 0 || strcmp(u->upload_id, keep_id) == 0 ||
            (u->initiated && u->initiated < since - 60))
            continue;
        if (pfs_client_mpu_abort(c, u->key, u->upload_id, &st) == 0)
            PFS_INFO("%s: aborted multipart upload %s, begun by a create whose answer was lost",
                     key, u->upload_id);
    }
    pfs_upload_list_cleanup(&l);
}

int pfs_client_mpu_create(struct pfs_client *c, char **upload_id_out, const char *key,
                          const struct pfs_kv *meta, size_t n_meta, struct pfs_status *st)
{
    *upload_id_out = NULL;
    int64_t since = (int64_t)time(NULL);
    if (!key || !*key)
        return fail_local(st, -EINVAL, "empty key");
    struct op op = {.method = "POST", .key = key};
    add_query(&op, "uploads", NULL);
    struct pfs_buf names, body;
    pfs_buf_init(&names);
    pfs_buf_init(&body);
    int rc = add_meta(c, &op, &names, meta, n_meta, st);
    if (rc == 0) {
        op.sink =
            (struct pfs_http_sink){.kind = PFS_SINK_BUFFER, .buf = &body, .max = RESULT_MAX_BODY};
        rc = run(c, &op, st);
    }
    if (rc == 0) {
        int prc = c->d->parse_upload_id(body.data ? body.data : "", body.len, upload_id_out);
        if (prc)
            rc = fail_local(st, prc == -ENOMEM ? -ENOMEM : -EIO,
                            "unreadable upload id from the store");
        else if (st->attempts > 1)
            abort_lost_creates(c, key, *upload_id_out, since);
    }
    pfs_buf_cleanup(&names);
    pfs_buf_cleanup(&body);
    return rc;
}

int pfs_client_mpu_upload_part(struct pfs_client *c, struct pfs_part *part_out, const char *key,
                               const char *upload_id, int part_number,
                               const struct pfs_http_body *body, struct pfs_status *st)
{
    memset(part_out, 0, sizeof(*part_out));
    if (part_number < 1 || part_number > PFS_MULTIPART_MAX_PARTS)
        return fail_local(st, -EINVAL, "part number outside 1..10000");
    char num[16], md5[32];
    snprintf(num, sizeof(num), "%d", part_number);
    /* Part URLs are used once: signing them uncached keeps the cache useful. */
    struct op op = {.method = "PUT", .key = key, .body = body};
    add_query(&op, "partNumber", num);
    add_query(&op, "uploadId", upload_id);
    if (add_integrity(c, &op, md5, body, st) != 0)
        return -1;
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = execute(c, &op, &resp, st);
    if (rc == 0) {
        const char *etag = pfs_http_response_header(&resp, "etag");
        if (!etag || !*etag) {
            rc = fail_local(st, -EIO, "the store answered an uploaded part without an ETag");
        } else {
            part_out->number = part_number;
            snprintf(part_out->etag, sizeof(part_out->etag), "%s", etag);
            /* Equal to the CRC of what we sent (execute compared them). */
            part_out->size = body->len;
            part_out->has_crc64 =
                c->d->id == PFS_DIALECT_TOS && response_crc64(c, &resp, &part_out->crc64);
        }
    }
    pfs_http_response_cleanup(&resp);
    return rc;
}

/* TOS reports the CRC-64 of the completed object (tos-api.md 3, 7.3). It must
 * be the combination of the parts' CRCs in part order; anything else means
 * the store assembled other bytes than we sent (parts out of order, one
 * missing or stale). That is an I/O error, logged once; the caller keeps the
 * data and uploads it again. Parts without a CRC (a store that sent none)
 * leave nothing to compare. */
static int check_whole_crc(const char *key, const char *upload_id, const struct pfs_part *parts,
                           size_t n, uint64_t stored, struct pfs_status *st)
{
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].has_crc64)
            return 0;
        want = i == 0 ? parts[i].crc64 : pfs_crc64_combine(want, parts[i].crc64, parts[i].size);
    }
    if (want == stored)
        return 0;
    char request_id[sizeof(st->request_id)];
    snprintf(request_id, sizeof(request_id), "%s", st->request_id);
    int attempts = st->attempts;
    pfs_status_clear(st);
    st->attempts = attempts;
    st->error = -EIO;
    st->http_status = 200;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "the completed object's CRC-64 %" PRIu64 " is not that of its %zu parts (%" PRIu64
             "): the store assembled other bytes",
             stored, n, want);
    pfs_status_set(st, "CRCMismatch", msg, request_id);
    PFS_ERROR("multipart upload %s of %s: %s (request id %s)", upload_id, key, msg,
              request_id[0] ? request_id : "-");
    return -1;
}

int pfs_client_mpu_complete(struct pfs_client *c, const char *key, const char *upload_id,
                            const struct pfs_part *parts, size_t n, char etag_out[80],
                            struct pfs_status *st)
{
    if (etag_out)
        etag_out[0] = '\0';
    if (n == 0 || n > PFS_MULTIPART_MAX_PARTS)
        return fail_local(st, -EINVAL, "a multipart upload needs 1..10000 parts");
    struct pfs_buf xml;
    pfs_buf_init(&xml);
    int brc = c->d->build_complete(&xml, parts, n);
    if (brc) {
        pfs_buf_cleanup(&xml);
        return fail_local(st, brc, "cannot build the part list");
    }
    struct pfs_http_body body = {.data = xml.data, .fd = -1, .len = xml.len};
    struct op op = {.method = "POST", .key = key, .body = &body};
    add_query(&op, "uploadId", upload_id);
    add_plain(&op, "Content-Type", c->d->body_type);
    bool has_crc = false;
    uint64_t crc = 0;
    int rc = run_etag_result(c, &op, etag_out, &has_crc, &crc, st);
    pfs_buf_cleanup(&xml);
    if (rc == 0 && has_crc)
        rc = check_whole_crc(key, upload_id, parts, n, crc, st);
    return rc;
}

int pfs_client_mpu_abort(struct pfs_client *c, const char *key, const char *upload_id,
                         struct pfs_status *st)
{
    struct op op = {.method = "DELETE", .key = key};
    add_query(&op, "uploadId", upload_id);
    int rc = run(c, &op, st);
    if (rc != 0 && st->http_status == 404) {
        pfs_status_clear(st); /* NoSuchUpload: nothing left to abort */
        return 0;
    }
    return rc;
}

int pfs_client_list_uploads(struct pfs_client *c, struct pfs_upload_list *out, const char *prefix,
                            struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    struct op op = {.method = "GET"};
    add_query(&op, "uploads", NULL);
    if (prefix && *prefix)
        add_query(&op, "prefix", prefix);
    struct pfs_buf body;
    pfs_buf_init(&body);
    op.sink =
        (struct pfs_http_sink){.kind = PFS_SINK_BUFFER, .buf = &body, .max = c->opts.list_max_body};
    int rc = run(c, &op, st);
    if (rc == 0) {
        int prc = c->d->parse_uploads(body.data ? body.data : "", body.len, out);
        if (prc)
            rc = fail_local(st, prc == -ENOMEM ? -ENOMEM : -EIO,
                            "unreadable list of multipart uploads from the store");
    }
    pfs_buf_cleanup(&body);
    return rc;
}

/* ---- bulk delete ---- */

int pfs_client_delete_many(struct pfs_client *c, const char *const *keys, size_t n,
                           struct pfs_delete_result *out, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return (pfs_status_clear(st), 0);
    if (n > PFS_DELETE_MANY_MAX)
        return fail_local(st, -EINVAL, "at most 1000 keys per bulk delete");
    struct pfs_buf req_body, resp_body;
    pfs_buf_init(&req_body);
    pfs_buf_init(&resp_body);
    int rc;
    int brc = c->d->build_delete(&req_body, keys, n);
    if (brc) {
        rc = fail_local(st, brc, "a key cannot be written in a bulk delete request");
    } else {
        uint8_t digest[PFS_MD5_LEN];
        char md5[32];
        pfs_crypto_md5(digest, req_body.data, req_body.len);
        pfs_crypto_base64(md5, digest, sizeof(digest));
        struct pfs_http_body body = {.data = req_body.data, .fd = -1, .len = req_body.len};
        struct op op = {.method = "POST", .body = &body};
        add_query(&op, "delete", NULL);
        add_plain(&op, "Content-Type", c->d->body_type);
        /* TOS requires Content-MD5 and may require it signed; S3 accepts it
         * unsigned. The URL then varies with the body: not cached. */
        if (c->d->id == PFS_DIALECT_TOS)
            add_signed(&op, "content-md5", md5);
        else
            add_plain(&op, "Content-MD5", md5);
        op.sink = (struct pfs_http_sink){
            .kind = PFS_SINK_BUFFER, .buf = &resp_body, .max = RESULT_MAX_BODY};
        rc = run(c, &op, st);
        if (rc == 0) {
            int prc =
                c->d->parse_delete_result(resp_body.data ? resp_body.data : "", resp_body.len, out);
            if (prc)
                rc = fail_local(st, prc == -ENOMEM ? -ENOMEM : -EIO,
                                "unreadable bulk delete result from the store");
        }
    }
    pfs_buf_cleanup(&req_body);
    pfs_buf_cleanup(&resp_body);
    return rc;
}

/* ---- whole uploads and copies: parts in parallel ---- */

static int upload_part_from_fd(struct pfs_client *c, struct pfs_part *out, const char *key,
                               const char *upload_id, int number, uint64_t first, uint64_t len,
                               void *ctx, struct pfs_status *st);

/* Part URLs signed ahead of their parts, per call of a signing service: a
 * window of them is asked for in one batch; the part in the middle of one
 * window asks for the next, so the next batch is there before its parts
 * start and at most two windows sit in the URL cache. */
#define PART_URL_WINDOW 500

/* The sign requests of parts first..first+n-1 of an upload, exactly as
 * pfs_client_mpu_upload_part signs them; fn gets them and returns. */
static int with_part_requests(struct pfs_client *c, const char *key, const char *upload_id,
                              size_t first, size_t n,
                              int (*fn)(struct pfs_client *c, struct pfs_sign_request *reqs,
                                        size_t n))
{
    struct pfs_sign_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    struct pfs_kv(*query)[2] = calloc(n ? n : 1, sizeof(*query));
    char(*nums)[16] = calloc(n ? n : 1, sizeof(*nums));
    int rc = -ENOMEM;
    if (reqs && query && nums) {
        for (size_t i = 0; i < n; i++) {
            snprintf(nums[i], sizeof(nums[i]), "%zu", first + i);
            query[i][0] = (struct pfs_kv){"partNumber", nums[i]};
            query[i][1] = (struct pfs_kv){"uploadId", upload_id};
            reqs[i] = (struct pfs_sign_request){.method = "PUT",
                                                .bucket = c->bucket,
                                                .key = key,
                                                .key_len = strlen(key),
                                                .query = query[i],
                                                .n_query = 2};
        }
        rc = fn(c, reqs, n);
    }
    free(reqs);
    free(query);
    free(nums);
    return rc;
}

static int prefetch_requests(struct pfs_client *c, struct pfs_sign_request *reqs, size_t n)
{
    return pfs_urlcache_prefetch(c->urls, reqs, n);
}

static int forget_requests(struct pfs_client *c, struct pfs_sign_request *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pfs_urlcache_invalidate(c->urls, &reqs[i], NULL);
    return 0;
}

int pfs_client_presign_parts(struct pfs_client *c, const char *key, const char *upload_id,
                             size_t first, size_t n)
{
    int rc = with_part_requests(c, key, upload_id, first, n, prefetch_requests);
    return rc > 0 ? rc : 0;
}

void pfs_client_forget_part_urls(struct pfs_client *c, const char *key, const char *upload_id,
                                 size_t first, size_t n)
{
    with_part_requests(c, key, upload_id, first, n, forget_requests);
}

/* Uploads or copies part `number` (bytes first..first+len-1 of the whole). */
typedef int (*part_fn)(struct pfs_client *c, struct pfs_part *out, const char *key,
                       const char *upload_id, int number, uint64_t first, uint64_t len, void *ctx,
                       struct pfs_status *st);

struct part_job {
    struct pfs_client *c;
    const char *key, *upload_id;
    part_fn fn;
    void *ctx;
    uint64_t first, len;
    int number;
    struct pfs_part part;
    struct pfs_status st;
    int rc;
    _Atomic int *abort_flag;        /* set by the first failure: later parts skip */
    size_t presign_from, presign_n; /* part URLs to sign ahead (PART_URL_WINDOW) */
    int progress;                   /* pfs_progress id of the upload, or -1 */
};

static void part_task(void *arg)
{
    struct part_job *j = arg;
    if (atomic_load(j->abort_flag)) {
        j->rc = -1;
        pfs_status_clear(&j->st);
        j->st.error = -ECANCELED;
        return;
    }
    if (j->presign_n)
        pfs_client_presign_parts(j->c, j->key, j->upload_id, j->presign_from, j->presign_n);
    j->rc =
        j->fn(j->c, &j->part, j->key, j->upload_id, j->number, j->first, j->len, j->ctx, &j->st);
    if (j->rc)
        atomic_store(j->abort_flag, 1);
    else
        pfs_progress_add(j->progress, j->len);
}

/* A multipart upload of `total` bytes whose parts `fn` produces, several in
 * flight on the pool. The object appears only if every part and the
 * completion succeed; otherwise the upload is aborted. */
uint64_t pfs_client_effective_part_size(uint64_t total, uint64_t part_size)
{
    if (part_size < PFS_MULTIPART_MIN_PART)
        part_size = PFS_MULTIPART_MIN_PART;
    /* Stay within 10,000 parts: grow the part size in whole MiB. */
    uint64_t min_part = (total + PFS_MULTIPART_MAX_PARTS - 1) / PFS_MULTIPART_MAX_PARTS;
    if (part_size < min_part)
        part_size = (min_part + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
    return part_size > PFS_MULTIPART_MAX_PART ? 0 : part_size;
}

static int run_multipart(struct pfs_client *c, const char *key, const struct pfs_kv *meta,
                         size_t n_meta, uint64_t total, uint64_t part_size, part_fn fn, void *ctx,
                         struct pfs_upload_report *rep, struct pfs_status *st)
{
    part_size = pfs_client_effective_part_size(total, part_size);
    if (!part_size)
        return fail_local(st, -EFBIG, "object larger than 10,000 parts of 5 GiB");
    size_t n = (size_t)((total + part_size - 1) / part_size);

    char *upload_id = NULL;
    if (pfs_client_mpu_create(c, &upload_id, key, meta, n_meta, st) != 0)
        return -1;
    if (rep && rep->mpu_started)
        rep->mpu_started(rep->ctx, upload_id, part_size);
    bool presign = fn == upload_part_from_fd; /* copies sign a range each: not batched */
    /* An upload's progress is shown (status, stats, unmount); a copy's is not. */
    int progress = presign ? pfs_progress_begin(key, total) : -1;
    if (presign)
        pfs_client_presign_parts(c, key, upload_id, 1, n < PART_URL_WINDOW ? n : PART_URL_WINDOW);
    struct part_job *jobs = calloc(n, sizeof(*jobs));
    struct pfs_part *parts = calloc(n, sizeof(*parts));
    _Atomic int abort_flag = 0;
    int rc = 0;
    if (!jobs || !parts) {
        rc = fail_local(st, -ENOMEM, "out of memory");
    } else {
        struct pfs_task_group group;
        pfs_task_group_init(&group);
        for (size_t i = 0; i < n; i++) {
            uint64_t at = (uint64_t)i * part_size;
            jobs[i] = (struct part_job){
                .c = c,
                .key = key,
                .upload_id = upload_id,
                .fn = fn,
                .ctx = ctx,
                .first = at,
                .len = total - at < part_size ? total - at : part_size,
                .number = (int)i + 1,
                .abort_flag = &abort_flag,
                .progress = progress,
            };
            size_t next = i + 1 + PART_URL_WINDOW / 2 + 1; /* the next window's first part */
            if (presign && (i + 1) % PART_URL_WINDOW == PART_URL_WINDOW / 2 && next <= n) {
                jobs[i].presign_from = next;
                jobs[i].presign_n = n - next + 1 < PART_URL_WINDOW ? n - next + 1 : PART_URL_WINDOW;
            }
            if (!c->pool || pfs_pool_submit(c->pool, &group, part_task, &jobs[i]) != 0)
                part_task(&jobs[i]);
        }
        pfs_task_group_wait(&group);
        pfs_task_group_cleanup(&group);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (jobs[i].rc != 0 && jobs[i].st.error != -ECANCELED) {
                *st = jobs[i].st;
                rc = -1;
            }
            parts[i] = jobs[i].part;
        }
        if (rc == 0 && atomic_load(&abort_flag))
            rc = fail_local(st, -EIO, "a part failed");
        if (rc == 0)
            rc = pfs_client_mpu_complete(c, key, upload_id, parts, n, rep ? rep->etag : NULL, st);
    }
    if (rc != 0) {
        struct pfs_status abort_st;
        if (pfs_client_mpu_abort(c, key, upload_id, &abort_st) != 0)
            PFS_WARN("could not abort multipart upload %s of %s; it may linger until the "
                     "bucket's lifecycle rule removes it",
                     upload_id, key);
    }
    pfs_progress_end(progress);
    free(jobs);
    free(parts);
    free(upload_id);
    return rc;
}

struct fd_source {
    int fd;
    off_t offset;
};

static int upload_part_from_fd(struct pfs_client *c, struct pfs_part *out, const char *key,
                               const char *upload_id, int number, uint64_t first, uint64_t len,
                               void *ctx, struct pfs_status *st)
{
    const struct fd_source *src = ctx;
    struct pfs_http_body body = {.fd = src->fd, .offset = src->offset + (off_t)first, .len = len};
    return pfs_client_mpu_upload_part(c, out, key, upload_id, number, &body, st);
}

bool pfs_client_upload_is_multipart(uint64_t len, uint64_t threshold)
{
    return len >= threshold && len > PFS_MULTIPART_MIN_PART;
}

int pfs_client_upload_fd(struct pfs_client *c, const char *key, int fd, off_t offset, uint64_t len,
                         const struct pfs_kv *meta, size_t n_meta, uint64_t part_size,
                         uint64_t threshold, struct pfs_upload_report *rep, struct pfs_status *st)
{
    if (rep)
        rep->etag[0] = '\0';
    if (!pfs_client_upload_is_multipart(len, threshold)) {
        struct pfs_http_body body = {.fd = fd, .offset = offset, .len = len};
        int progress = pfs_progress_begin(key, len);
        int rc = pfs_client_put(c, key, &body, meta, n_meta, rep ? rep->etag : NULL, st);
        pfs_progress_end(progress);
        return rc;
    }
    struct fd_source src = {fd, offset};
    return run_multipart(c, key, meta, n_meta, len, part_size, upload_part_from_fd, &src, rep, st);
}

/* ---- copies of any size ---- */

int pfs_client_mpu_copy_part(struct pfs_client *c, struct pfs_part *part_out, const char *key,
                             const char *upload_id, int part_number, const char *src_key,
                             uint64_t first, uint64_t last, struct pfs_status *st)
{
    memset(part_out, 0, sizeof(*part_out));
    if (part_number < 1 || part_number > PFS_MULTIPART_MAX_PARTS || last < first)
        return fail_local(st, -EINVAL, "bad part number or range");
    char num[16], range[64];
    snprintf(num, sizeof(num), "%d", part_number);
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, first, last);
    struct op op = {.method = "PUT", .key = key};
    add_query(&op, "partNumber", num);
    add_query(&op, "uploadId", upload_id);
    char copy_name[HEADER_NAME_MAX], range_name[HEADER_NAME_MAX];
    struct pfs_buf src;
    pfs_buf_init(&src);
    copy_source(&src, c, src_key);
    int rc;
    if (pfs_buf_status(&src)) {
        rc = fail_local(st, -ENOMEM, "out of memory");
    } else {
        add_signed(&op, dialect_header(copy_name, c->d, "copy-source"), src.data);
        add_signed(&op, dialect_header(range_name, c->d, "copy-source-range"), range);
        uint64_t crc = 0;
        bool has_crc = false;
        rc = run_etag_result(c, &op, part_out->etag, &has_crc, &crc, st);
        if (rc == 0) {
            part_out->number = part_number;
            part_out->size = last - first + 1;
            part_out->has_crc64 = c->d->id == PFS_DIALECT_TOS && has_crc;
            part_out->crc64 = crc;
        }
    }
    pfs_buf_cleanup(&src);
    return rc;
}

static int copy_part_from_object(struct pfs_client *c, struct pfs_part *out, const char *key,
                                 const char *upload_id, int number, uint64_t first, uint64_t len,
                                 void *ctx, struct pfs_status *st)
{
    return pfs_client_mpu_copy_part(c, out, key, upload_id, number, ctx, first, first + len - 1,
                                    st);
}

int pfs_client_copy_object(struct pfs_client *c, const char *dst_key, const char *src_key,
                           uint64_t size, uint64_t part_size, bool replace_meta,
                           const struct pfs_kv *meta, size_t n_meta, struct pfs_status *st)
{
    if (size <= c->opts.copy_threshold)
        return pfs_client_copy(c, dst_key, src_key, replace_meta, meta, n_meta, st);
    /* A multipart copy starts from nothing: the metadata is given explicitly,
     * the source's own when it is to be kept. */
    struct pfs_object_info info;
    if (pfs_client_head(c, &info, src_key, st) != 0)
        return -1;
    struct pfs_kv kept[MAX_HEADERS - 4];
    if (!replace_meta) {
        n_meta = 0;
        for (size_t i = 0; i < info.n_meta && n_meta < sizeof(kept) / sizeof(kept[0]) - 1; i++)
            kept[n_meta++] = (struct pfs_kv){info.meta[i].name, info.meta[i].value};
        if (info.content_type[0]) /* kept too, as a single copy keeps it */
            kept[n_meta++] = (struct pfs_kv){PFS_META_CONTENT_TYPE, info.content_type};
        meta = kept;
    }
    /* The source's own size, in case the caller's is stale. */
    int rc = run_multipart(c, dst_key, meta, n_meta, info.size, part_size, copy_part_from_object,
                           (void *)src_key, NULL, st);
    pfs_object_info_cleanup(&info);
    return rc;
}

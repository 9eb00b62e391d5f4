/* The remote URL source: asks a presignfs signer (doc/SIGNER.md) for every URL
 * the cache misses, over the transport interface, holding only a bearer token.
 * Refusals become -EACCES and a service that does not answer -EIO, each with
 * one log line; the source keeps no state beyond "was the service down", so
 * it recovers by itself on the next request that gets an answer. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "http.h"
#include "log.h"
#include "signer_json.h"
#include "stats.h"
#include "urlsource.h"

#define REMOTE_MAX_REPLY (1 << 20)
#define REMOTE_BUSY_RETRIES 4

struct remote_source {
    struct pfs_http *http;
    char *base; /* "http[s]://host:port" */
    char *auth; /* "Bearer TOKEN", wiped when freed */
    int64_t expires;
    _Atomic size_t max_batch; /* URLs per call: the service's max_batch once known */
    atomic_bool down;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One call: path with an optional JSON body. Returns 0 with *status and the
 * 2xx body in out (non-2xx bodies in err_body), or -EIO for no answer. */
static int call(struct remote_source *rs, const char *method, const char *path,
                const struct pfs_buf *body, size_t n_urls, long *status, struct pfs_buf *out,
                struct pfs_buf *err_body, int *retry_after)
{
    pfs_stats_signer_call(n_urls);
    struct pfs_buf url;
    pfs_buf_init(&url);
    pfs_buf_printf(&url, "%s%s", rs->base, path);
    if (pfs_buf_status(&url))
        return -ENOMEM;
    struct pfs_kv headers[] = {{"Authorization", rs->auth}, {"Content-Type", "application/json"}};
    struct pfs_http_body hb = {.data = body ? body->data : NULL, .len = body ? body->len : 0};
    struct pfs_http_request req = {
        .method = method,
        .url = url.data,
        .headers = headers,
        .n_headers = body ? 2 : 1,
        .body = body ? &hb : NULL,
        .sink = {.kind = PFS_SINK_BUFFER, .buf = out, .max = REMOTE_MAX_REPLY},
    };
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    int rc = pfs_http_perform(rs->http, &req, &resp);
    if (rc == 0) {
        *status = resp.status;
        const char *ra = pfs_http_response_header(&resp, "retry-after");
        *retry_after = ra ? atoi(ra) : 0;
        if (err_body && resp.error_body.len)
            pfs_buf_append(err_body, resp.error_body.data, resp.error_body.len);
    } else {
        if (!atomic_exchange(&rs->down, true))
            PFS_ERROR("signer %s does not answer (%s): requests that need a new URL fail with "
                      "EIO until it does",
                      rs->base, resp.transport_message[0] ? resp.transport_message : strerror(-rc));
        rc = rc == -ENOMEM ? -ENOMEM : -EIO;
    }
    pfs_http_response_cleanup(&resp);
    pfs_buf_cleanup(&url);
    return rc;
}

static void answered(struct remote_source *rs)
{
    if (atomic_exchange(&rs->down, false))
        PFS_WARN("signer %s answers again", rs->base);
}

/* Calls with a JSON body, waiting out 429s a few times. Returns 0 with a 200
 * body in out, or -errno (one log line said why). */
static int call_ok(struct remote_source *rs, const char *method, const char *path,
                   const struct pfs_buf *body, size_t n_urls, struct pfs_buf *out, const char *what)
{
    for (int attempt = 0;; attempt++) {
        long status = 0;
        int retry_after = 0;
        struct pfs_buf err_body;
        pfs_buf_init(&err_body);
        pfs_buf_reset(out);
        int rc = call(rs, method, path, body, n_urls, &status, out, &err_body, &retry_after);
        if (rc) {
            pfs_buf_cleanup(&err_body);
            return rc;
        }
        answered(rs);
        if (status == 200) {
            pfs_buf_cleanup(&err_body);
            return 0;
        }
        char code[64], msg[256];
        pfs_signer_json_parse_error(err_body.data ? err_body.data : "", err_body.len, code,
                                    sizeof(code), msg, sizeof(msg));
        pfs_buf_cleanup(&err_body);
        if (status == 429 && attempt < REMOTE_BUSY_RETRIES) {
            sleep_ms(retry_after > 0 && retry_after < 5 ? (unsigned)retry_after * 1000
                                                        : 250u << attempt);
            continue;
        }
        if (status == 401 || status == 403) {
            PFS_ERROR("signer %s refused %s: HTTP %ld %s", rs->base, what, status,
                      msg[0] ? msg : code);
            return -EACCES;
        }
        PFS_ERROR("signer %s failed %s: HTTP %ld %s", rs->base, what, status, msg[0] ? msg : code);
        return status >= 400 && status < 500 && status != 429 ? -EINVAL : -EIO;
    }
}

static int remote_presign(void *ctx, char **url_out, int64_t *expires_at_out,
                          const struct pfs_sign_request *req, int64_t now)
{
    (void)now; /* the service signs at its own time */
    struct remote_source *rs = ctx;
    *url_out = NULL;
    struct pfs_buf body, out;
    pfs_buf_init(&body);
    pfs_buf_init(&out);
    int rc = pfs_signer_json_encode_request(&body, req, &rs->expires, 1);
    char what[400];
    snprintf(what, sizeof(what), "%s %s/%.*s", req->method, req->bucket,
             (int)(req->key_len > 300 ? 300 : req->key_len), req->key ? req->key : "");
    if (rc == 0)
        rc = call_ok(rs, "POST", "/v1/presign", &body, 1, &out, what);
    if (rc == 0) {
        struct pfs_signer_result res;
        char why[256];
        rc = pfs_signer_json_parse_results(&res, 1, out.data ? out.data : "", out.len, why,
                                           sizeof(why));
        if (rc) {
            PFS_ERROR("signer %s: %s", rs->base, why);
            rc = -EIO;
        } else if (res.error) {
            PFS_ERROR("signer %s refused %s: %s", rs->base, what, res.message);
            rc = res.error;
        } else {
            *url_out = res.url;
            *expires_at_out = res.expires_at;
            res.url = NULL;
        }
        pfs_signer_result_cleanup(&res);
    }
    pfs_buf_cleanup(&body);
    pfs_buf_cleanup(&out);
    return rc;
}

/* One call for reqs[0..n), n <= max_batch. */
static int presign_chunk(struct remote_source *rs, char **urls_out, int64_t *expires_at_out,
                         int *rcs_out, const struct pfs_sign_request *reqs, size_t n)
{
    int64_t *expires = malloc(n * sizeof(*expires));
    struct pfs_signer_result *res = calloc(n, sizeof(*res));
    struct pfs_buf body, out;
    pfs_buf_init(&body);
    pfs_buf_init(&out);
    int rc = expires && res ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        expires[i] = rs->expires;
    if (rc == 0)
        rc = pfs_signer_json_encode_request(&body, reqs, expires, n);
    char what[64];
    snprintf(what, sizeof(what), "a batch of %zu URLs", n);
    if (rc == 0)
        rc = call_ok(rs, "POST", "/v1/presign", &body, n, &out, what);
    if (rc == 0) {
        char why[256];
        if (pfs_signer_json_parse_results(res, n, out.data ? out.data : "", out.len, why,
                                          sizeof(why))) {
            PFS_ERROR("signer %s: %s", rs->base, why);
            rc = -EIO;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* A refused URL is asked for again alone when it is needed, and
         * that call logs the reason: one line per refusal, not per batch. */
        rcs_out[i] = res[i].error;
        urls_out[i] = res[i].error ? NULL : res[i].url;
        expires_at_out[i] = res[i].expires_at;
        if (!res[i].error)
            res[i].url = NULL;
    }
    for (size_t i = 0; res && i < n; i++)
        pfs_signer_result_cleanup(&res[i]);
    free(res);
    free(expires);
    pfs_buf_cleanup(&body);
    pfs_buf_cleanup(&out);
    return rc;
}

static int remote_presign_many(void *ctx, char **urls_out, int64_t *expires_at_out, int *rcs_out,
                               const struct pfs_sign_request *reqs, size_t n, int64_t now)
{
    (void)now;
    struct remote_source *rs = ctx;
    for (size_t i = 0; i < n; i++) {
        urls_out[i] = NULL;
        rcs_out[i] = -EIO;
    }
    size_t batch = atomic_load(&rs->max_batch);
    int rc = 0;
    for (size_t at = 0; at < n; at += batch) {
        size_t m = n - at < batch ? n - at : batch;
        rc = presign_chunk(rs, urls_out + at, expires_at_out + at, rcs_out + at, reqs + at, m);
        if (rc)
            break; /* the rest would fail the same way */
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            free(urls_out[i]);
            urls_out[i] = NULL;
        }
    }
    return rc;
}

static void remote_destroy(void *ctx)
{
    struct remote_source *rs = ctx;
    pfs_http_free(rs->http);
    if (rs->auth) {
        pfs_crypto_wipe(rs->auth, strlen(rs->auth));
        free(rs->auth);
    }
    free(rs->base);
    free(rs);
}

static const struct pfs_url_source_ops remote_ops = {remote_presign, remote_destroy,
                                                     remote_presign_many};

int pfs_url_source_remote_new(struct pfs_url_source **out,
                              const struct pfs_url_source_remote_opts *opts)
{
    *out = NULL;
    if (opts->expires < PFS_EXPIRES_MIN || opts->expires > PFS_EXPIRES_MAX)
        return -ERANGE;
    struct pfs_url_source *src = calloc(1, sizeof(*src));
    struct remote_source *rs = calloc(1, sizeof(*rs));
    struct pfs_buf auth;
    pfs_buf_init(&auth);
    pfs_buf_printf(&auth, "Bearer %s", opts->token);
    if (!src || !rs || pfs_buf_status(&auth) || !(rs->base = strdup(opts->url))) {
        free(src);
        free(rs);
        pfs_buf_cleanup_secret(&auth);
        return -ENOMEM;
    }
    rs->auth = pfs_buf_detach(&auth);
    size_t bl = strlen(rs->base);
    while (bl > 0 && rs->base[bl - 1] == '/')
        rs->base[--bl] = '\0';
    rs->expires = opts->expires;
    rs->max_batch = PFS_SIGNER_MAX_BATCH;
    struct pfs_http_curl_opts hopts = {
        .connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 5000,
        .low_speed_time_s = 10,
        .ca_file = opts->ca_file,
        .cert_file = opts->cert_file,
        .key_file = opts->key_file,
    };
    int rc = pfs_http_curl_new(&rs->http, &hopts);
    if (rc) {
        remote_destroy(rs);
        free(src);
        return rc;
    }
    src->ops = &remote_ops;
    src->ctx = rs;
    *out = src;
    return 0;
}

int pfs_url_source_remote_info(struct pfs_url_source *src, struct pfs_signer_info *out, char *why,
                               size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (src->ops != &remote_ops) {
        snprintf(why, why_len, "not a remote URL source");
        return -EINVAL;
    }
    struct remote_source *rs = src->ctx;
    struct pfs_buf reply, err_body;
    pfs_buf_init(&reply);
    pfs_buf_init(&err_body);
    long status = 0;
    int retry_after = 0;
    int rc = call(rs, "GET", "/v1/info", NULL, 0, &status, &reply, &err_body, &retry_after);
    if (rc) {
        snprintf(why, why_len, "signer %s does not answer", rs->base);
    } else if (status != 200) {
        char code[64], msg[256];
        pfs_signer_json_parse_error(err_body.data ? err_body.data : "", err_body.len, code,
                                    sizeof(code), msg, sizeof(msg));
        snprintf(why, why_len, "signer %s refused: HTTP %ld %s", rs->base, status,
                 msg[0]    ? msg
                 : code[0] ? code
                           : "(no reason given)");
        rc = status == 401 || status == 403 ? -EACCES : -EIO;
    } else {
        answered(rs);
        rc = pfs_signer_json_parse_info(out, reply.data ? reply.data : "", reply.len, why, why_len);
        if (rc == 0 && out->max_batch >= 1 && out->max_batch <= PFS_SIGNER_MAX_BATCH)
            atomic_store(&rs->max_batch, (size_t)out->max_batch);
    }
    pfs_buf_cleanup(&reply);
    pfs_buf_cleanup(&err_body);
    return rc;
}

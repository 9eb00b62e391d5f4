/* Where presigned URLs come from. The URL cache only knows this interface, so
 * a remote signing service (a mount host that holds no keys) can replace the
 * local signer without changing any caller of the cache. */
#ifndef PFS_URLSOURCE_H
#define PFS_URLSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "sign.h"

struct pfs_url_source_ops {
    /* Signs req at unix time now. On success *url_out is a heap string the
     * caller frees and *expires_at_out the unix time at which the URL stops
     * working. Returns 0 or -errno (-ERANGE, -EINVAL, -ENOMEM, or a transport
     * error for remote sources). Must be safe to call from many threads. */
    int (*presign)(void *ctx, char **url_out, int64_t *expires_at_out,
                   const struct pfs_sign_request *req, int64_t now);
    void (*destroy)(void *ctx);
    /* Optional (NULL for sources where signing costs nothing, such as local
     * keys): signs reqs[0..n) in as few round trips as the source can. Each
     * urls_out[i] is a heap string or NULL with rcs_out[i] the -errno of that
     * URL. Returns 0 once it got answers (per-URL errors in rcs_out), or the
     * -errno of a call that failed as a whole (every urls_out[i] NULL). */
    int (*presign_many)(void *ctx, char **urls_out, int64_t *expires_at_out, int *rcs_out,
                        const struct pfs_sign_request *reqs, size_t n, int64_t now);
};

struct pfs_url_source {
    const struct pfs_url_source_ops *ops;
    void *ctx;
};

/* A source that signs locally with the given parameters. The endpoint and
 * region are copied; cred is taken over (freed with the source, also on error).
 * expires is the lifetime of every URL it makes (1..604800 s). */
int pfs_url_source_local_new(struct pfs_url_source **out, const struct pfs_sign_params *params,
                             struct pfs_cred *cred, int64_t expires);

/* A source that asks a presignfs signer (doc/SIGNER.md) and holds no keys. */
struct pfs_url_source_remote_opts {
    const char *url;         /* http[s]://host:port of the service */
    const char *token;       /* the bearer token (copied) */
    const char *ca_file;     /* PEM CA file for the service's TLS certificate, or NULL */
    const char *cert_file;   /* PEM client certificate to present, or NULL */
    const char *key_file;    /* its private key */
    long connect_timeout_ms; /* 0: 5 s */
    int64_t expires;         /* lifetime asked for (the service may cap it), 1..604800 */
};

/* Returns 0, -ERANGE, -ENOMEM or -EIO (libcurl could not start). Its presign
 * returns -EACCES when the service refuses (a log line says why), -EIO when
 * the service does not answer or fails, -EINVAL for what cannot be signed. */
int pfs_url_source_remote_new(struct pfs_url_source **out,
                              const struct pfs_url_source_remote_opts *opts);

struct pfs_signer_info;

/* Asks a remote source's service what it signs for (GET /v1/info), which
 * also proves the token. Returns 0; -EACCES (a refused token), -EIO (no
 * answer) or -EINVAL with a sentence in why. */
int pfs_url_source_remote_info(struct pfs_url_source *src, struct pfs_signer_info *out, char *why,
                               size_t why_len);

/* NULL-safe. */
void pfs_url_source_free(struct pfs_url_source *src);

static inline int pfs_url_source_presign(struct pfs_url_source *src, char **url_out,
                                         int64_t *expires_at_out,
                                         const struct pfs_sign_request *req, int64_t now)
{
    return src->ops->presign(src->ctx, url_out, expires_at_out, req, now);
}

#endif

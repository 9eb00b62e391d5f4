/* Query-string presigning for both dialects: TOS4-HMAC-SHA256 (X-Tos-*) and AWS
 * SigV4 (X-Amz-*) are one algorithm with different constants (presign spec, 1).
 * Pure: no I/O, no clock reads, no globals; the caller passes the signing time. */
#ifndef PFS_SIGN_H
#define PFS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "uri.h"

enum pfs_dialect { PFS_DIALECT_TOS, PFS_DIALECT_S3 };
enum pfs_addressing { PFS_ADDRESSING_VIRTUAL, PFS_ADDRESSING_PATH };

#define PFS_EXPIRES_MIN 1
#define PFS_EXPIRES_MAX 604800

/* A query parameter or header. value NULL means a valueless query parameter
 * (signed and sent as "name="). */
struct pfs_kv {
    const char *name;
    const char *value;
};

/* What does not change between two signatures of one mount. */
struct pfs_sign_params {
    enum pfs_dialect dialect;
    const struct pfs_endpoint *endpoint;
    const char *region;
    enum pfs_addressing addressing;
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when there is none */
};

struct pfs_sign_request {
    const char *method; /* GET, PUT, HEAD, DELETE or POST */
    const char *bucket;
    const char *key; /* raw bytes; key_len == 0 means a bucket-level request */
    size_t key_len;
    const struct pfs_kv *query; /* caller's non-auth parameters, raw (decoded) text */
    size_t n_query;
    /* Extra headers to sign (x-amz-meta-*, x-tos-copy-source, content-type...).
     * The client must send exactly these names and values. */
    const struct pfs_kv *headers;
    size_t n_headers;
};

/* Builds the presigned URL for req, signed at unix time `now`, valid for
 * `expires` seconds. On success *url_out is a heap string the caller frees.
 * Returns 0; -ERANGE when expires is outside 1..604800; -EINVAL for a bad
 * method, bucket, region, header or a duplicate query name; -ENOMEM. When why
 * is non-NULL it receives a static sentence for the error. */
int pfs_sign_presign(char **url_out, const struct pfs_sign_params *params,
                     const struct pfs_sign_request *req, int64_t now, int64_t expires,
                     const char **why);

/* "tos" or "s3". */
const char *pfs_dialect_name(enum pfs_dialect d);

#endif

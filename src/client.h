/* Object operations over presigned URLs: every request goes to a URL from the
 * URL cache and never carries an Authorization header. The only layer that
 * retries: exponential back-off with jitter on connection errors, timeouts,
 * 5xx, 429 and the services' throttling codes; one re-sign after a 403.
 * Every function returns 0, or -1 with st filled (code, HTTP status, service
 * code, message, request id, attempts); pfs_status_errno(st) is the errno. */
#ifndef PFS_CLIENT_H
#define PFS_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dialect.h"
#include "http.h"
#include "pool.h"
#include "status.h"
#include "urlcache.h"

#define PFS_MULTIPART_MIN_PART (5ULL << 20)
#define PFS_MULTIPART_MAX_PART (5ULL << 30)
#define PFS_MULTIPART_MAX_PARTS 10000
#define PFS_DELETE_MANY_MAX 1000

struct pfs_client_opts {
    int retries;             /* retries after the first attempt; default 5 */
    unsigned base_delay_ms;  /* first back-off; default 100 */
    unsigned max_delay_ms;   /* back-off cap; default 10000 */
    size_t list_max_body;    /* cap on a listing body; default 16 MiB */
    uint64_t copy_threshold; /* larger objects are copied in parts; default 5 GiB */
    /* Injectable sleep (tests record back-offs instead of sleeping). */
    void (*sleep_ms)(void *ctx, unsigned ms);
    void *sleep_ctx;
};

struct pfs_client;

/* In a metadata array: not user metadata but the object's Content-Type
 * (a ':' cannot start a header name, so no user metadata is named so). */
#define PFS_META_CONTENT_TYPE ":content-type"

/* http, urls and pool are borrowed (pool may be NULL: transfers then run one
 * at a time). Returns 0 or -ENOMEM/-EINVAL. */
int pfs_client_new(struct pfs_client **out, struct pfs_http *http, struct pfs_urlcache *urls,
                   struct pfs_pool *pool, enum pfs_dialect dialect, const char *bucket,
                   const struct pfs_client_opts *opts);
void pfs_client_free(struct pfs_client *c);

struct pfs_object_info {
    uint64_t size;
    int64_t mtime; /* Last-Modified, unix seconds */
    char etag[80];
    char content_type[128];
    struct pfs_meta_kv *meta; /* user metadata (names lower-case, without prefix) */
    size_t n_meta;
};

void pfs_object_info_cleanup(struct pfs_object_info *info);
/* The value of user metadata `name`, or NULL. */
const char *pfs_object_info_meta(const struct pfs_object_info *info, const char *name);

/* Has the URLs of HEADs of keys[0..n) signed in batches ahead of the HEADs
 * themselves (a listing's fan-out): with a signing service, ceil(n / batch)
 * calls instead of n. A no-op with local keys; failures are left to the
 * HEADs. */
void pfs_client_presign_heads(struct pfs_client *c, const char *const *keys, size_t n);

/* Has the URLs of parts first..first+n-1 of upload_id signed in one batch
 * ahead of the parts (each part then takes its URL out of the cache).
 * Returns how many were cached: 0 with local keys, which need no batching,
 * or when the batch failed (the parts then sign their own). */
int pfs_client_presign_parts(struct pfs_client *c, const char *key, const char *upload_id,
                             size_t first, size_t n);

/* Drops part URLs signed ahead that no part used (a stream ended sooner). */
void pfs_client_forget_part_urls(struct pfs_client *c, const char *key, const char *upload_id,
                                 size_t first, size_t n);

/* HEAD. A missing key is -1 with ENOENT. */
int pfs_client_head(struct pfs_client *c, struct pfs_object_info *out, const char *key,
                    struct pfs_status *st);

/* Bucket check for mount and `check`: HEAD on the bucket. */
int pfs_client_head_bucket(struct pfs_client *c, struct pfs_status *st);

/* Reads up to len bytes at offset into buf. *got_out is the number read: less
 * than len only at the end of the object, 0 at or past it. */
int pfs_client_get_range(struct pfs_client *c, void *buf, size_t len, uint64_t offset,
                         size_t *got_out, const char *key, struct pfs_status *st);

/* What a ranged GET may add. */
struct pfs_get_opts {
    /* Only this version (an ETag): another one fails with HTTP 412
     * PreconditionFailed (EIO) instead of returning its bytes. NULL or "": any. */
    const char *if_match;
    /* Set non-zero (by any thread): the transfer stops, -1 with ECANCELED. */
    const _Atomic int *cancel;
    char *etag_out; /* [80], may be NULL: the ETag of the version read */
    /* May be NULL: whether the answer named the whole object's CRC-64/ECMA
     * (TOS x-tos-hash-crc64ecma; a ranged GET names the whole object's too),
     * and its value. */
    bool *has_crc64_out;
    uint64_t *crc64_out;
    /* May be NULL: the object's size as the answer states it (a 206's
     * Content-Range total, a 200's length); UINT64_MAX when it does not. */
    uint64_t *total_out;
    /* May be NULL: called as the body lands, from the transfer's thread,
     * with how many bytes from buf are final, so a reader can take them
     * before the rest arrives, and what the answer's headers say of the
     * whole object's CRC-64 (as has_crc64_out and crc64_out will). Only with
     * if_match, and only for an answer that names that version and the
     * range asked for (pfs_get_answer_streamable); those bytes are never
     * written again, not by a retry either. The call's result still
     * decides: a failure means the bytes after them never came (or were of
     * another answer). */
    void (*arrived)(void *ctx, size_t valid, bool has_crc64, uint64_t crc64);
    void *arrived_ctx;
};

/* pfs_client_get_range with options (o may be NULL). */
int pfs_client_get_range_opts(struct pfs_client *c, void *buf, size_t len, uint64_t offset,
                              size_t *got_out, const char *key, const struct pfs_get_opts *o,
                              struct pfs_status *st);

/* Streams len bytes at offset (len UINT64_MAX: to the end of the object) into
 * fd at fd_offset with pwrite, without holding the body in memory. etag_out
 * (may be NULL) gets the ETag of the version read. */
int pfs_client_get_to_fd(struct pfs_client *c, int fd, off_t fd_offset, uint64_t offset,
                         uint64_t len, uint64_t *got_out, char etag_out[80], const char *key,
                         struct pfs_status *st);

/* PUT of body (a buffer or a file range) with optional user metadata (signed
 * into the URL). S3: Content-MD5 is sent. TOS: the CRC-64 computed while
 * sending is compared with x-tos-hash-crc64ecma. etag_out may be NULL. */
int pfs_client_put(struct pfs_client *c, const char *key, const struct pfs_http_body *body,
                   const struct pfs_kv *meta, size_t n_meta, char etag_out[80],
                   struct pfs_status *st);

/* DELETE. A key that does not exist is not an error (S3 semantics): 0 with
 * st->http_status 404 (AWS answers 204 either way; a 404 says the store
 * did not find the key sent). */
int pfs_client_delete(struct pfs_client *c, const char *key, struct pfs_status *st);

struct pfs_list_params {
    const char *prefix;
    const char *delimiter;
    const char *continuation_token;
    const char *start_after;
    int max_keys;    /* 0: the store's default (1000) */
    bool fetch_meta; /* TOS: user metadata per entry */
};

/* One ListObjectsV2 / ListObjectsType2 page. Keys come back decoded. */
int pfs_client_list(struct pfs_client *c, struct pfs_list_page *out,
                    const struct pfs_list_params *params, struct pfs_status *st);

/* Walks a listing page by page: fn gets each page and returns 0 to go on, 1
 * to stop early (success), or a -errno to fail with. Returns 0, or -1 with st
 * filled (st->error is fn's -errno when fn failed). */
typedef int (*pfs_list_fn)(void *ctx, const struct pfs_list_page *page);
int pfs_client_list_each(struct pfs_client *c, const struct pfs_list_params *params, pfs_list_fn fn,
                         void *ctx, struct pfs_status *st);

/* Server-side copy of src_key onto dst_key (up to 5 GiB). replace_meta: the
 * copy gets `meta` instead of the source's metadata (REPLACE directive). */
int pfs_client_copy(struct pfs_client *c, const char *dst_key, const char *src_key,
                    bool replace_meta, const struct pfs_kv *meta, size_t n_meta,
                    struct pfs_status *st);

/* UploadPartCopy: bytes first..last of src_key become part part_number of the
 * upload to key. */
int pfs_client_mpu_copy_part(struct pfs_client *c, struct pfs_part *part_out, const char *key,
                             const char *upload_id, int part_number, const char *src_key,
                             uint64_t first, uint64_t last, struct pfs_status *st);

/* A server-side copy of an object of any size: one copy up to copy_threshold,
 * else a multipart copy in parts of part_size, several in flight on the pool
 * (aborted on failure). replace_meta: the copy gets `meta` (REPLACE); else it
 * keeps the source's metadata. size is the source's size as last seen. */
int pfs_client_copy_object(struct pfs_client *c, const char *dst_key, const char *src_key,
                           uint64_t size, uint64_t part_size, bool replace_meta,
                           const struct pfs_kv *meta, size_t n_meta, struct pfs_status *st);

/* ListMultipartUploads: the uploads in progress whose keys start with prefix
 * (one page, up to 1000). out is cleaned with pfs_upload_list_cleanup. */
int pfs_client_list_uploads(struct pfs_client *c, struct pfs_upload_list *out, const char *prefix,
                            struct pfs_status *st);

int pfs_client_mpu_create(struct pfs_client *c, char **upload_id_out, const char *key,
                          const struct pfs_kv *meta, size_t n_meta, struct pfs_status *st);
int pfs_client_mpu_upload_part(struct pfs_client *c, struct pfs_part *part_out, const char *key,
                               const char *upload_id, int part_number,
                               const struct pfs_http_body *body, struct pfs_status *st);
/* etag_out (may be NULL) gets the completed object's ETag. */
int pfs_client_mpu_complete(struct pfs_client *c, const char *key, const char *upload_id,
                            const struct pfs_part *parts, size_t n, char etag_out[80],
                            struct pfs_status *st);
int pfs_client_mpu_abort(struct pfs_client *c, const char *key, const char *upload_id,
                         struct pfs_status *st);

/* Deletes up to 1000 keys in one request. Keys the store could not delete are
 * in out->errors (the call itself still succeeds). */
int pfs_client_delete_many(struct pfs_client *c, const char *const *keys, size_t n,
                           struct pfs_delete_result *out, struct pfs_status *st);

/* What an upload tells its caller (all optional). */
struct pfs_upload_report {
    /* Called once a multipart upload exists, before any part is sent, so the
     * caller can journal the id: a crash then leaves nothing unaccounted. */
    void (*mpu_started)(void *ctx, const char *upload_id, uint64_t part_size);
    void *ctx;
    char etag[80]; /* out: the stored object's ETag ("" when the store sent none) */
};

/* Does pfs_client_upload_fd send len bytes as a multipart upload? */
bool pfs_client_upload_is_multipart(uint64_t len, uint64_t threshold);

/* Uploads len bytes of fd from offset as key: one PUT below threshold, else a
 * multipart upload whose parts (part_size, raised when needed to stay within
 * 10,000 parts) go up in parallel on the pool. The object appears only when
 * everything succeeded; a failed multipart upload is aborted. rep may be NULL. */
int pfs_client_upload_fd(struct pfs_client *c, const char *key, int fd, off_t offset, uint64_t len,
                         const struct pfs_kv *meta, size_t n_meta, uint64_t part_size,
                         uint64_t threshold, struct pfs_upload_report *rep, struct pfs_status *st);

/* The part size a multipart upload of total bytes uses when asked for
 * part_size: at least 5 MiB, raised in whole MiB to stay within 10,000
 * parts. 0 when total cannot fit (over 10,000 parts of 5 GiB). */
uint64_t pfs_client_effective_part_size(uint64_t total, uint64_t part_size);

/* New TCP connections opened so far by the transport. */
long pfs_client_connections(const struct pfs_client *c);

#endif

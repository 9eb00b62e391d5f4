/* Response and request bodies of the two dialects: S3 speaks XML (parsed with
 * expat in dialect_s3.c), TOS speaks JSON (jansson, dialect_tos.c). Pure: bytes
 * in, structs out. Every parser takes a complete, size-capped body and ends in
 * 0 or a clean -errno (-EPROTO for a malformed or hostile body, -ENOMEM). */
#ifndef PFS_DIALECT_H
#define PFS_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sign.h"
#include "status.h"

/* A listing holds at most this many entries plus prefixes: S3 and TOS pages
 * have at most 1000, so anything past this is a hostile body. */
#define PFS_LIST_MAX_ITEMS 10000

struct pfs_meta_kv {
    char *name; /* lower-case, without the x-amz-meta- / x-tos-meta- prefix */
    char *value;
};

struct pfs_list_entry {
    char *key;
    uint64_t size;
    int64_t mtime; /* unix seconds; 0 when the store sent none */
    char etag[80];
    struct pfs_meta_kv *meta; /* TOS with fetch-meta=true only */
    size_t n_meta;
};

struct pfs_list_page {
    struct pfs_list_entry *entries;
    size_t n_entries;
    char **prefixes;
    size_t n_prefixes;
    bool truncated;
    char *next_token; /* NULL when there is no next page */
};

void pfs_list_page_cleanup(struct pfs_list_page *p);

/* Form-decodes every key and prefix of a page whose response said
 * EncodingType url ('+' is a space, %2B a '+'); a page without it holds raw
 * names and is not decoded.
 * Returns 0, -EPROTO for a malformed escape or a NUL byte, or -ENOMEM. */
int pfs_list_page_url_decode(struct pfs_list_page *p);

struct pfs_delete_error {
    char *key;
    char code[64];
    char message[256];
};

struct pfs_delete_result {
    size_t n_deleted;
    struct pfs_delete_error *errors;
    size_t n_errors;
};

void pfs_delete_result_cleanup(struct pfs_delete_result *r);

struct pfs_part {
    int number;
    char etag[80]; /* with its quotes, as the store returned it */
    /* TOS: the part's CRC-64 as the store reported it (x-tos-hash-crc64ecma)
     * and its length, so that the whole object's CRC can be checked at
     * completion; has_crc64 is false when the store sent none. */
    bool has_crc64;
    uint64_t crc64;
    uint64_t size;
};

/* One multipart upload in progress (ListMultipartUploads). */
struct pfs_upload_info {
    char *key;
    char *upload_id;
    int64_t initiated; /* unix seconds; 0 when the store sent none */
};

struct pfs_upload_list {
    struct pfs_upload_info *v;
    size_t n;
    bool truncated; /* more than this page */
};

void pfs_upload_list_cleanup(struct pfs_upload_list *l);

struct pfs_dialect_ops {
    enum pfs_dialect id;
    const char *header_prefix; /* "x-amz-" or "x-tos-" */
    const char *meta_prefix;   /* "x-amz-meta-" or "x-tos-meta-" */
    const char *body_type;     /* content type of request bodies we build */

    /* An error body: fills st's code, message and request id. */
    int (*parse_error)(const char *body, size_t len, struct pfs_status *st);
    int (*parse_list)(const char *body, size_t len, struct pfs_list_page *out);
    /* CreateMultipartUpload: *upload_id_out is a heap string. */
    int (*parse_upload_id)(const char *body, size_t len, char **upload_id_out);
    /* CopyObject and CompleteMultipartUpload answer 200 with either a result
     * holding an ETag or an error document: returns 0 with etag_out filled, or
     * -EIO with st filled from the error document. */
    int (*parse_etag_result)(const char *body, size_t len, char etag_out[80],
                             struct pfs_status *st);
    int (*parse_delete_result)(const char *body, size_t len, struct pfs_delete_result *out);
    /* ListMultipartUploads (at most PFS_LIST_MAX_ITEMS uploads). */
    int (*parse_uploads)(const char *body, size_t len, struct pfs_upload_list *out);
    int (*build_complete)(struct pfs_buf *out, const struct pfs_part *parts, size_t n);
    int (*build_delete)(struct pfs_buf *out, const char *const *keys, size_t n);
};

extern const struct pfs_dialect_ops pfs_dialect_s3;
extern const struct pfs_dialect_ops pfs_dialect_tos;

const struct pfs_dialect_ops *pfs_dialect_ops_for(enum pfs_dialect d);

#endif

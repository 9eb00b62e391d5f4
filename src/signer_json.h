/* The signing service's wire format (doc/SIGNER.md): JSON requests to sign a
 * batch of URLs, their results, errors and the service's description. Both
 * sides use this module, so they cannot disagree. Pure (jansson, no I/O);
 * every parser has hard caps and is fuzzed in its unit test. */
#ifndef PFS_SIGNER_JSON_H
#define PFS_SIGNER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sign.h"

#define PFS_SIGNER_MAX_BATCH 1000
#define PFS_SIGNER_MAX_BODY (4 << 20)
#define PFS_SIGNER_MAX_PAIRS 64 /* query parameters or headers per item */

struct pfs_signer_item {
    struct pfs_sign_request req; /* points into the batch */
    int64_t expires;             /* wanted lifetime; 0 when not given */
};

struct pfs_signer_batch {
    struct pfs_signer_item *items;
    size_t n_items;
    void *doc;     /* the parsed document: the strings point into it */
    void **extras; /* decoded key_hex keys and pair arrays */
    size_t n_extras;
};

/* Parses a presign request body. Returns 0, -EINVAL with a sentence in why,
 * -E2BIG past PFS_SIGNER_MAX_BATCH or PFS_SIGNER_MAX_PAIRS, or -ENOMEM.
 * Cleanup is needed in every case. */
int pfs_signer_json_parse_request(struct pfs_signer_batch *out, const char *body, size_t len,
                                  char *why, size_t why_len);
void pfs_signer_batch_cleanup(struct pfs_signer_batch *b);

/* Appends the request for n URLs; expires[i] 0 asks for the client's
 * longest. Returns 0 or -ENOMEM. */
int pfs_signer_json_encode_request(struct pfs_buf *out, const struct pfs_sign_request *reqs,
                                   const int64_t *expires, size_t n);

struct pfs_signer_result {
    int error;          /* 0, -EACCES (refused by policy) or -EINVAL (cannot be signed) */
    char *url;          /* heap string when error is 0 */
    int64_t expires_at; /* unix time the URL stops working */
    char message[256];  /* why, when error is set */
};

void pfs_signer_result_cleanup(struct pfs_signer_result *r);

/* Appends {"results":[...]} for n results. Returns 0 or -ENOMEM. */
int pfs_signer_json_encode_results(struct pfs_buf *out, const struct pfs_signer_result *r,
                                   size_t n);

/* Parses exactly n results into out[0..n) (each cleaned up by the caller,
 * also on error). Returns 0, or -EINVAL with why. */
int pfs_signer_json_parse_results(struct pfs_signer_result *out, size_t n, const char *body,
                                  size_t len, char *why, size_t why_len);

/* {"error": code, "message": message}. Returns 0 or -ENOMEM. */
int pfs_signer_json_encode_error(struct pfs_buf *out, const char *code, const char *message);

/* Reads an error document into code and message (empty when absent or not
 * JSON). */
void pfs_signer_json_parse_error(const char *body, size_t len, char *code, size_t code_len,
                                 char *message, size_t message_len);

/* What GET /v1/info answers: the store the service signs for and what this
 * client may do. */
struct pfs_signer_info {
    char dialect[8]; /* "tos" or "s3" */
    char endpoint[300];
    char region[64];
    char addressing[16]; /* "virtual" or "path" */
    char client[128];
    char access[8]; /* "read" or "write" */
    int64_t max_expires;
    int64_t max_batch;
};

int pfs_signer_json_encode_info(struct pfs_buf *out, const struct pfs_signer_info *info);
/* Returns 0, or -EINVAL with why. */
int pfs_signer_json_parse_info(struct pfs_signer_info *out, const char *body, size_t len, char *why,
                               size_t why_len);

#endif

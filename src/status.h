/* The outcome of one store operation: what the client reports upward and the
 * one place where a store outcome becomes an errno. */
#ifndef PFS_STATUS_H
#define PFS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

struct pfs_status {
    int error;        /* 0, or the -errno the client decided on */
    long http_status; /* last HTTP status seen, 0 when no response arrived */
    char service_code[64];
    char message[256];
    char request_id[128];
    int attempts; /* HTTP attempts made, re-signs and retries included */
    /* What a failed answer said about our setup (empty / false when it said
     * nothing): the region the store holds the bucket in (its
     * x-amz-bucket-region / x-tos-bucket-region header), and its clock
     * (Date) minus ours, in seconds. */
    char store_region[64];
    /* The endpoint a redirect's error body names (S3's <Endpoint>), or "". */
    char store_endpoint[128];
    bool has_clock_skew;
    long long clock_skew;
};

/* How far apart two clocks may be before a store refuses signatures
 * (RequestTimeTooSkewed): S3's limit, 15 minutes. */
#define PFS_STATUS_MAX_SKEW 900

void pfs_status_clear(struct pfs_status *st);

/* Fills service code, message and request id (truncating); NULL leaves a field. */
void pfs_status_set(struct pfs_status *st, const char *code, const char *message,
                    const char *request_id);

/* Sets store_region (truncated, control characters replaced). */
void pfs_status_set_region(struct pfs_status *st, const char *region);
/* Sets store_endpoint likewise. */
void pfs_status_set_endpoint(struct pfs_status *st, const char *endpoint);

/* The errno a filesystem call should return for this outcome (positive; 0 when
 * the operation succeeded). */
int pfs_status_errno(const struct pfs_status *st);

/* True when retrying the same request cannot succeed (access denied, a key
 * or object the store refuses, a quota): such an upload stays failed until
 * its content or the user changes something. Transient outcomes (no
 * response, 5xx, throttling, an expired or rejected signature that a fresh
 * URL may fix) are false. */
bool pfs_status_permanent(const struct pfs_status *st);

/* One line for logs: "HTTP 403 AccessDenied: msg (request id X, 2 attempts)". */
void pfs_status_describe(const struct pfs_status *st, char *out, size_t out_len);

#endif

/* The signing service's policy: who its clients are (the clients file), which
 * requests each may have signed, how long the URLs may live, and how fast a
 * client may ask. Pure apart from loading the file: no clock reads, no
 * globals, so every decision is unit-tested. */
#ifndef PFS_SIGNER_POLICY_H
#define PFS_SIGNER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crypto.h"
#include "sign.h"

#define PFS_SIGNER_TOKEN_MIN 16
#define PFS_SIGNER_DEFAULT_RATE 1000.0 /* URLs per second */
#define PFS_SIGNER_DEFAULT_BURST 2000.0

enum pfs_signer_access { PFS_SIGNER_READ, PFS_SIGNER_WRITE };

struct pfs_signer_allow {
    char *bucket;
    char *prefix; /* "" when the whole bucket is allowed */
};

struct pfs_signer_client {
    char *name; /* the section name */
    uint8_t token_hash[PFS_SHA256_LEN];
    struct pfs_signer_allow *allow;
    size_t n_allow;
    enum pfs_signer_access access;
    int64_t max_expires;
    double rate, burst; /* token bucket: URLs per second, most at once */
    /* Mutual TLS: when either is set, the client must also present a
     * certificate that tls_client_ca verifies, with this subject (RFC 4514,
     * as `openssl x509 -subject -nameopt RFC2253` prints it) and/or this
     * SHA-256 fingerprint of its DER form. */
    char *cert_subject;
    uint8_t cert_sha256[PFS_SHA256_LEN];
    bool has_cert_sha256;
};

/* What the TLS layer says about the peer's certificate. */
struct pfs_signer_peer_cert {
    bool present;  /* the client sent a certificate */
    bool verified; /* it chains to tls_client_ca and is valid now */
    char subject[512];
    uint8_t sha256[PFS_SHA256_LEN];
    char why[128]; /* why it did not verify */
};

/* 0 when c may go on with the certificate it presented (peer NULL: none,
 * or no TLS); -1 with a sentence in why. */
int pfs_signer_policy_check_cert(const struct pfs_signer_client *c,
                                 const struct pfs_signer_peer_cert *peer, char *why,
                                 size_t why_len);

struct pfs_signer_policy {
    struct pfs_signer_client *clients;
    size_t n_clients;
};

/* Reads the clients file (INI, refused unless 0600; see doc/SIGNER.md).
 * *out is freed with pfs_signer_policy_free. Returns 0 or -1 with err filled
 * (FILE:LINE and the problem; a token is never quoted). */
int pfs_signer_policy_load(struct pfs_signer_policy **out, const char *path,
                           struct pfs_config_error *err);

/* NULL-safe. */
void pfs_signer_policy_free(struct pfs_signer_policy *p);

/* The client whose token this is, or NULL. Compares SHA-256 digests in
 * constant time against every client (no early exit), so neither the
 * position nor the length of a match leaks through timing. */
const struct pfs_signer_client *pfs_signer_policy_find(const struct pfs_signer_policy *p,
                                                       const char *token, size_t token_len);

/* Whether client c may have req signed for dialect d. Returns 0, or -EACCES
 * with a sentence in why (for the audit log and the client; it never holds a
 * secret). */
int pfs_signer_policy_check(const struct pfs_signer_client *c, enum pfs_dialect d,
                            const struct pfs_sign_request *req, char *why, size_t why_len);

/* The lifetime granted for a wanted one (0: none asked): at most the
 * client's max_expires, at least 1. */
int64_t pfs_signer_policy_expires(const struct pfs_signer_client *c, int64_t wanted);

/* A per-client token bucket. Starts full. */
struct pfs_signer_rate {
    double tokens;
    double last; /* seconds, any monotonic origin */
    bool started;
};

/* Takes cost tokens at time now if the bucket holds them. Returns true when
 * taken; false (and *retry_after_out, seconds until it would succeed, when
 * non-NULL) when not. cost above burst can never succeed: false, retry 0. */
bool pfs_signer_rate_take(struct pfs_signer_rate *r, double rate, double burst, double now,
                          double cost, double *retry_after_out);

#endif

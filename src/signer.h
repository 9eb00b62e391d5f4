/* The signing service's request handling, apart from any HTTP server: a
 * request (method, path, Authorization header, body) becomes a reply (status,
 * JSON body). It holds the store's credentials and the clients policy, checks
 * every URL against the policy, caps its lifetime, rate-limits per client and
 * writes one audit line per URL. cli_signer.c puts it behind libmicrohttpd;
 * the unit tests call it directly. Thread-safe. */
#ifndef PFS_SIGNER_H
#define PFS_SIGNER_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "cred.h"

struct pfs_signer;

/* cfg (dialect, endpoint, region, addressing, credentials) is borrowed and
 * must outlive the signer; cred is taken over (also on error). Reads the
 * clients file. Returns 0 or -1 with err filled. */
int pfs_signer_new(struct pfs_signer **out, const struct pfs_config *cfg, struct pfs_cred *cred,
                   const char *clients_path, struct pfs_config_error *err);

/* NULL-safe. */
void pfs_signer_free(struct pfs_signer *s);

/* Re-reads the clients file, and the credentials file when the credentials
 * come from one (SIGHUP). On error the old ones stay in force. Returns 0 or
 * -1 with err filled. */
int pfs_signer_reload(struct pfs_signer *s, struct pfs_config_error *err);

struct pfs_signer_reply {
    int status;          /* HTTP status */
    struct pfs_buf body; /* JSON */
    int retry_after;     /* seconds, for a 429; 0 otherwise */
};

void pfs_signer_reply_init(struct pfs_signer_reply *r);
void pfs_signer_reply_cleanup(struct pfs_signer_reply *r);

/* Handles one request. authorization is the Authorization header or NULL,
 * peer the client's address (for the audit log), now the unix time to sign
 * at, mono a monotonic clock in seconds (for the rate limit). */
void pfs_signer_handle(struct pfs_signer *s, struct pfs_signer_reply *out, const char *method,
                       const char *path, const char *authorization, const char *body, size_t len,
                       const char *peer, int64_t now, double mono);

struct pfs_signer_peer_cert;

/* The same for a request over TLS: cert is what the TLS layer says of the
 * client's certificate (NULL: none presented, or plain HTTP); a client whose
 * section names a certificate is refused without the right one. */
void pfs_signer_handle_tls(struct pfs_signer *s, struct pfs_signer_reply *out, const char *method,
                           const char *path, const char *authorization,
                           const struct pfs_signer_peer_cert *cert, const char *body, size_t len,
                           const char *peer, int64_t now, double mono);

#endif

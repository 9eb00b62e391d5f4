/* The client certificate of a signer connection, read from its TLS session
 * (mutual TLS, doc/SIGNER.md): whether one was sent, whether it verifies
 * against the daemon's tls_client_ca, its subject and fingerprint. */
#ifndef PFS_SIGNER_TLS_H
#define PFS_SIGNER_TLS_H

#include "signer_policy.h"

/* tls_session is libmicrohttpd's GnuTLS session of the connection (NULL:
 * plain HTTP, which leaves *out empty). Never fails: what cannot be read is
 * left empty, and an unverified certificate says why. */
void pfs_signer_tls_peer_cert(struct pfs_signer_peer_cert *out, void *tls_session);

#endif

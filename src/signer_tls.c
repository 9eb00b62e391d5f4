/* What a client's TLS certificate says (see signer_tls.h): the only includer
 * of GnuTLS, which libmicrohttpd serves HTTPS with. */
#include "signer_tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>

void pfs_signer_tls_peer_cert(struct pfs_signer_peer_cert *out, void *tls_session)
{
    memset(out, 0, sizeof(*out));
    gnutls_session_t session = tls_session;
    unsigned n = 0;
    const gnutls_datum_t *certs = session ? gnutls_certificate_get_peers(session, &n) : NULL;
    if (!certs || n == 0)
        return;
    out->present = true;
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers2(session, &status);
    if (rc < 0) {
        snprintf(out->why, sizeof(out->why), "%s", gnutls_strerror(rc));
    } else if (status) {
        gnutls_datum_t txt = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) == 0)
            snprintf(out->why, sizeof(out->why), "%s", (const char *)txt.data);
        else
            snprintf(out->why, sizeof(out->why), "verification status %#x", status);
        gnutls_free(txt.data);
    } else {
        out->verified = true;
    }
    size_t len = sizeof(out->sha256);
    if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], out->sha256, &len) < 0 ||
        len != sizeof(out->sha256))
        memset(out->sha256, 0, sizeof(out->sha256));
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    gnutls_datum_t dn = {NULL, 0};
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0)
        snprintf(out->subject, sizeof(out->subject), "%s", (const char *)dn.data);
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
}

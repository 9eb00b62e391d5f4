/* Hashes and MACs the signers need. The only module that includes OpenSSL, so
 * the crypto backend can change without touching the signing logic. */
#ifndef PFS_CRYPTO_H
#define PFS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFS_SHA256_LEN 32
#define PFS_MD5_LEN 16

void pfs_crypto_sha256(uint8_t out[PFS_SHA256_LEN], const void *data, size_t len);
void pfs_crypto_hmac_sha256(uint8_t out[PFS_SHA256_LEN], const void *key, size_t key_len,
                            const void *data, size_t len);
void pfs_crypto_md5(uint8_t out[PFS_MD5_LEN], const void *data, size_t len);

/* Incremental MD5 for bodies read in pieces. begin returns NULL on ENOMEM;
 * end writes the digest and frees the context. */
struct pfs_md5;
struct pfs_md5 *pfs_crypto_md5_begin(void);
void pfs_crypto_md5_update(struct pfs_md5 *m, const void *data, size_t len);
void pfs_crypto_md5_end(struct pfs_md5 *m, uint8_t out[PFS_MD5_LEN]);

/* Standard base64 of len bytes into out, which must hold 4*((len+2)/3)+1 bytes. */
void pfs_crypto_base64(char *out, const uint8_t *data, size_t len);

/* Lower-case hex of len bytes into out, which must hold 2*len+1 bytes. */
void pfs_crypto_hex(char *out, const uint8_t *data, size_t len);

/* Overwrites memory in a way the compiler cannot optimise away. NULL-safe. */
void pfs_crypto_wipe(void *p, size_t len);

/* Compares len bytes in time that depends on len only, not on where they
 * differ (bearer tokens: compare fixed-length digests of them). */
bool pfs_crypto_equal(const void *a, const void *b, size_t len);

#endif

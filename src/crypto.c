/* OpenSSL-backed hashes (see crypto.h). */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

void pfs_crypto_sha256(uint8_t out[PFS_SHA256_LEN], const void *data, size_t len)
{
    unsigned int n = PFS_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void pfs_crypto_hmac_sha256(uint8_t out[PFS_SHA256_LEN], const void *key, size_t key_len,
                            const void *data, size_t len)
{
    unsigned int n = PFS_SHA256_LEN;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

void pfs_crypto_md5(uint8_t out[PFS_MD5_LEN], const void *data, size_t len)
{
    unsigned int n = PFS_MD5_LEN;
    EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

struct pfs_md5 *pfs_crypto_md5_begin(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return (struct pfs_md5 *)ctx;
}

void pfs_crypto_md5_update(struct pfs_md5 *m, const void *data, size_t len)
{
    EVP_DigestUpdate((EVP_MD_CTX *)m, data, len);
}

void pfs_crypto_md5_end(struct pfs_md5 *m, uint8_t out[PFS_MD5_LEN])
{
    unsigned int n = PFS_MD5_LEN;
    EVP_DigestFinal_ex((EVP_MD_CTX *)m, out, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)m);
}

void pfs_crypto_base64(char *out, const uint8_t *data, size_t len)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

void pfs_crypto_hex(char *out, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

void pfs_crypto_wipe(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

bool pfs_crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

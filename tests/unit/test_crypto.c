/* Hash known answers: FIPS 180-2 SHA-256, RFC 4231 HMAC-SHA256, RFC 1321 MD5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static void test_sha256(void **state)
{
    (void)state;
    uint8_t d[PFS_SHA256_LEN];
    char hex[65];
    pfs_crypto_sha256(d, "abc", 3);
    pfs_crypto_hex(hex, d, sizeof(d));
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pfs_crypto_sha256(d, "", 0);
    pfs_crypto_hex(hex, d, sizeof(d));
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac(void **state)
{
    (void)state;
    uint8_t key[20], d[PFS_SHA256_LEN];
    char hex[65];
    memset(key, 0x0b, sizeof(key));
    pfs_crypto_hmac_sha256(d, key, sizeof(key), "Hi There", 8);
    pfs_crypto_hex(hex, d, sizeof(d));
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    pfs_crypto_hmac_sha256(d, "Jefe", 4, "what do ya want for nothing?", 28);
    pfs_crypto_hex(hex, d, sizeof(d));
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_md5_and_wipe(void **state)
{
    (void)state;
    uint8_t d[PFS_MD5_LEN];
    char hex[33];
    pfs_crypto_md5(d, "abc", 3);
    pfs_crypto_hex(hex, d, sizeof(d));
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    char secret[] = "topsecret";
    pfs_crypto_wipe(secret, sizeof(secret));
    for (size_t i = 0; i < sizeof(secret); i++)
        assert_int_equal(secret[i], 0);
    pfs_crypto_wipe(NULL, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_md5_and_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

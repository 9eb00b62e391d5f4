/* CRC-64/ECMA-182 as TOS computes it: the check value and piecewise updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc64.h"

static void test_check_value(void **state)
{
    (void)state;
    /* The CRC-64/XZ catalogue check value. */
    assert_int_equal(pfs_crc64_update(0, "123456789", 9), 0x995DC9BBDF1939FAULL);
    assert_int_equal(pfs_crc64_update(0, "", 0), 0);
}

static void test_piecewise_equals_whole(void **state)
{
    (void)state;
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 131 + 7);
    uint64_t whole = pfs_crc64_update(0, data, sizeof(data));
    for (size_t cut = 0; cut <= sizeof(data); cut += 37) {
        uint64_t c = pfs_crc64_update(0, data, cut);
        c = pfs_crc64_update(c, data + cut, sizeof(data) - cut);
        assert_int_equal(c, whole);
    }
    data[500] ^= 1;
    assert_int_not_equal(pfs_crc64_update(0, data, sizeof(data)), whole);
}

/* combine(crc(A), crc(B), len(B)) = crc(AB) at every cut, empty parts
 * included; parts swapped give another CRC (what a multipart check catches). */
static void test_combine(void **state)
{
    (void)state;
    static unsigned char data[70000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    uint64_t whole = pfs_crc64_update(0, data, sizeof(data));
    for (size_t cut = 0; cut <= sizeof(data); cut += 6997) {
        uint64_t a = pfs_crc64_update(0, data, cut);
        uint64_t b = pfs_crc64_update(0, data + cut, sizeof(data) - cut);
        assert_int_equal(pfs_crc64_combine(a, b, sizeof(data) - cut), whole);
    }
    assert_int_equal(pfs_crc64_combine(whole, 0, 0), whole);
    assert_int_equal(pfs_crc64_combine(0, whole, sizeof(data)), whole);
    /* three parts folded left to right, as a complete does */
    uint64_t p1 = pfs_crc64_update(0, data, 30000), p2 = pfs_crc64_update(0, data + 30000, 30000),
             p3 = pfs_crc64_update(0, data + 60000, 10000);
    uint64_t c = pfs_crc64_combine(pfs_crc64_combine(p1, p2, 30000), p3, 10000);
    assert_int_equal(c, whole);
    assert_int_not_equal(pfs_crc64_combine(pfs_crc64_combine(p2, p1, 30000), p3, 10000), whole);
    /* a length past 4 GiB (the operator's higher powers) */
    static unsigned char zero[1 << 16];
    uint64_t zeros = 0, ab_zeros = pfs_crc64_update(0, "ab", 2);
    for (int i = 0; i < (1 << 16) + 1; i++) {
        zeros = pfs_crc64_update(zeros, zero, sizeof(zero));
        ab_zeros = pfs_crc64_update(ab_zeros, zero, sizeof(zero));
    }
    uint64_t len = (uint64_t)((1 << 16) + 1) << 16;
    assert_int_equal(pfs_crc64_combine(pfs_crc64_update(0, "ab", 2), zeros, len), ab_zeros);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_piecewise_equals_whole),
        cmocka_unit_test(test_combine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

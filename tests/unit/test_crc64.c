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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_piecewise_equals_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The out-of-order CRC tracker: in order, out of order, repeated and
 * overlapping reads give the CRC of the whole; a gap gives no verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crc64.h"
#include "readcrc.h"

static char data[10000];

static void feed(struct pfs_readcrc *r, uint64_t off, size_t len)
{
    pfs_readcrc_add(r, off, data + off, len);
}

static void test_orders(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 131 + (i >> 7));
    uint64_t whole = pfs_crc64_update(0, data, sizeof(data)), got = 0;
    struct pfs_readcrc r;

    pfs_readcrc_init(&r);
    for (uint64_t o = 0; o < sizeof(data); o += 1000)
        feed(&r, o, 1000);
    assert_true(pfs_readcrc_covers(&r, sizeof(data), &got));
    assert_int_equal(got, whole);

    /* Backwards, with repeats and an overlapping re-read. */
    pfs_readcrc_init(&r);
    for (int o = 9000; o >= 1000; o -= 1000) {
        feed(&r, (uint64_t)o, 1000);
        feed(&r, (uint64_t)o, 1000);
    }
    assert_false(pfs_readcrc_covers(&r, sizeof(data), &got));
    feed(&r, 0, 1500); /* overlaps the next piece's start: covered part grows by it */
    assert_false(pfs_readcrc_covers(&r, sizeof(data), &got)); /* 1000..2000 overlaps: no verdict */

    pfs_readcrc_init(&r);
    feed(&r, 0, 500);
    feed(&r, 300, 900); /* a re-read beyond the covered part */
    feed(&r, 5000, 5000);
    feed(&r, 1200, 3800);
    assert_true(pfs_readcrc_covers(&r, sizeof(data), &got));
    assert_int_equal(got, whole);
    assert_false(pfs_readcrc_covers(&r, sizeof(data) + 1, &got)); /* the object is longer */

    /* A gap is never filled: no verdict. */
    pfs_readcrc_init(&r);
    feed(&r, 0, 1000);
    feed(&r, 2000, 8000);
    assert_false(pfs_readcrc_covers(&r, sizeof(data), &got));

    /* More waiting pieces than the list holds: tracking stops. */
    pfs_readcrc_init(&r);
    for (int o = 9990; o > 0; o -= 10)
        feed(&r, (uint64_t)o, 10);
    feed(&r, 0, 10);
    assert_false(pfs_readcrc_covers(&r, sizeof(data), &got));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_orders)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

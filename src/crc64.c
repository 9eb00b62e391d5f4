/* CRC-64/ECMA-182, slicing-by-8 (see crc64.h). */
#include "crc64.h"

#include <pthread.h>

#define POLY_REFLECTED 0xC96C5795D7870F42ULL

static uint64_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY_REFLECTED : c >> 1;
        table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint64_t pfs_crc64_update(uint64_t crc, const void *data, size_t len)
{
    pthread_once(&table_once, build_table);
    const unsigned char *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint64_t v = crc ^ ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                            (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                            (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
              table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
              table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* CRC combination in GF(2) (zlib's crc32_combine, for 64 bits): the CRC of A
 * followed by B from crc(A), crc(B) and len(B), by applying len(B) zero bytes
 * to crc(A) as repeated squaring of the one-zero-bit operator. */
static uint64_t gf2_times(const uint64_t *mat, uint64_t vec)
{
    uint64_t sum = 0;
    for (int i = 0; vec; vec >>= 1, i++)
        if (vec & 1)
            sum ^= mat[i];
    return sum;
}

static void gf2_square(uint64_t *square, const uint64_t *mat)
{
    for (int n = 0; n < 64; n++)
        square[n] = gf2_times(mat, mat[n]);
}

uint64_t pfs_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2)
{
    if (len2 == 0)
        return crc1;
    uint64_t even[64], odd[64];
    odd[0] = POLY_REFLECTED; /* the operator for one zero bit */
    uint64_t row = 1;
    for (int n = 1; n < 64; n++, row <<= 1)
        odd[n] = row;
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four zero bits */
    do {
        gf2_square(even, odd); /* first pass: one zero byte */
        if (len2 & 1)
            crc1 = gf2_times(even, crc1);
        len2 >>= 1;
        if (!len2)
            break;
        gf2_square(odd, even);
        if (len2 & 1)
            crc1 = gf2_times(odd, crc1);
        len2 >>= 1;
    } while (len2);
    return crc1 ^ crc2;
}

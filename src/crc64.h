/* CRC-64/ECMA-182 as TOS reports it in x-tos-hash-crc64ecma (reflected, init
 * and xorout all ones: the CRC-64/XZ parameters). Pure. */
#ifndef PFS_CRC64_H
#define PFS_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed pieces in order; the running value is the CRC of
 * everything fed so far. */
uint64_t pfs_crc64_update(uint64_t crc, const void *data, size_t len);

/* The CRC of A followed by B, from crc1 = CRC(A), crc2 = CRC(B) and len2 =
 * len(B): how a multipart upload's whole-object CRC follows from its parts'. */
uint64_t pfs_crc64_combine(uint64_t crc1, uint64_t crc2, uint64_t len2);

#endif

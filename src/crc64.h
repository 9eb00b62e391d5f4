/* CRC-64/ECMA-182 as TOS reports it in x-tos-hash-crc64ecma (reflected, init
 * and xorout all ones: the CRC-64/XZ parameters). Pure. */
#ifndef PFS_CRC64_H
#define PFS_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed pieces in order; the running value is the CRC of
 * everything fed so far. */
uint64_t pfs_crc64_update(uint64_t crc, const void *data, size_t len);

#endif

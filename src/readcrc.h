/* The CRC-64/ECMA of the bytes a handle returned, from offset 0 on, although
 * they are returned out of order (the kernel reads ahead from several
 * threads, read-ahead chunks land in any order): pieces that start beyond
 * what is covered wait in a short list with their own CRC and are combined
 * (pfs_crc64_combine) once the gap before them is filled. Reads of bytes
 * already covered change nothing. A pattern the list cannot follow (more
 * pieces waiting than it holds, a waiting piece that overlaps the covered
 * part) ends the tracking: then no verdict, never a wrong one. Pure; the
 * caller locks. */
#ifndef PFS_READCRC_H
#define PFS_READCRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFS_READCRC_PENDING 64

struct pfs_readcrc {
    uint64_t crc, end; /* CRC of [0, end) */
    struct {
        uint64_t off, len, crc;
    } pend[PFS_READCRC_PENDING];
    size_t n;
    bool gave_up;
};

void pfs_readcrc_init(struct pfs_readcrc *r);

/* The len bytes at buf were returned for [off, off + len). */
void pfs_readcrc_add(struct pfs_readcrc *r, uint64_t off, const void *buf, size_t len);

/* True when [0, size) is covered, with its CRC in *crc_out. */
bool pfs_readcrc_covers(const struct pfs_readcrc *r, uint64_t size, uint64_t *crc_out);

#endif

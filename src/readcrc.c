/* Ordered combination of out-of-order read CRCs (see readcrc.h). */
#include "readcrc.h"

#include <string.h>

#include "crc64.h"

void pfs_readcrc_init(struct pfs_readcrc *r)
{
    memset(r, 0, sizeof(*r));
}

static void append(struct pfs_readcrc *r, uint64_t crc, uint64_t len)
{
    r->crc = r->end == 0 ? crc : pfs_crc64_combine(r->crc, crc, len);
    r->end += len;
}

/* Takes every waiting piece that now adjoins the covered part. */
static void absorb(struct pfs_readcrc *r)
{
    for (bool moved = true; moved && !r->gave_up;) {
        moved = false;
        for (size_t i = 0; i < r->n; i++) {
            if (r->pend[i].off > r->end)
                continue;
            if (r->pend[i].off == r->end)
                append(r, r->pend[i].crc, r->pend[i].len);
            else if (r->pend[i].off + r->pend[i].len > r->end)
                r->gave_up = true; /* its bytes past end are not at hand */
            r->pend[i] = r->pend[--r->n];
            moved = true;
            break;
        }
    }
}

void pfs_readcrc_add(struct pfs_readcrc *r, uint64_t off, const void *buf, size_t len)
{
    if (r->gave_up || len == 0 || off + len <= r->end)
        return;
    if (off <= r->end) {
        /* In order (the common case): continue the running CRC, far
         * cheaper than a combination. */
        size_t skip = (size_t)(r->end - off);
        r->crc = pfs_crc64_update(r->crc, (const char *)buf + skip, len - skip);
        r->end += len - skip;
        absorb(r);
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->pend[i].off == off && r->pend[i].len == len)
            return; /* the same piece again */
    if (r->n == PFS_READCRC_PENDING) {
        r->gave_up = true;
        return;
    }
    r->pend[r->n].off = off;
    r->pend[r->n].len = len;
    r->pend[r->n].crc = pfs_crc64_update(0, buf, len);
    r->n++;
}

bool pfs_readcrc_covers(const struct pfs_readcrc *r, uint64_t size, uint64_t *crc_out)
{
    if (r->gave_up || r->end < size)
        return false;
    *crc_out = r->crc;
    return r->end == size;
}

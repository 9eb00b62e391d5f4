/* Range reads through the data cache (see range_fetch.h). */
#include "range_fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK ((uint64_t)PFS_DCACHE_BLOCK)

static int store_get(const struct pfs_range_source *p, char *buf, size_t len, uint64_t off,
                     size_t *got, uint64_t *total, struct pfs_range_fetch *f, bool streamed,
                     struct pfs_status *st)
{
    struct pfs_get_opts o = {.if_match = f->if_match,
                             .cancel = f->cancel,
                             .etag_out = f->got_etag,
                             .has_crc64_out = &f->has_crc,
                             .crc64_out = &f->crc,
                             .total_out = total,
                             .arrived = streamed ? f->arrived : NULL,
                             .arrived_ctx = f->arrived_ctx};
    *total = UINT64_MAX;
    f->from_store = true;
    return pfs_client_get_range_opts(p->client, buf, len, off, got, f->key, &o, st);
}

/* Stores the blocks of [off, off + got) that are whole or end the object
 * (at total, the size the answer stated), under the version that answered. */
static void cache_store(const struct pfs_range_source *p, const char *buf, uint64_t off, size_t got,
                        uint64_t total, const struct pfs_range_fetch *f)
{
    if (!p->dc || !f->got_etag[0])
        return;
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, p->bucket, f->key, f->got_etag);
    struct pfs_dcache_meta m = {.has_crc64 = f->has_crc, .crc64 = f->crc};
    uint64_t end = off + got;
    for (uint64_t b = (off + BLOCK - 1) / BLOCK; b * BLOCK < end; b++) {
        uint64_t s = b * BLOCK, e = s + BLOCK;
        if (e > end) {
            if (end != total)
                break; /* a block cut by the range, not by the object's end */
            e = end;
        }
        pfs_dcache_put(p->dc, &id, b, buf + (s - off), (size_t)(e - s), &m);
    }
}

/* Copies what block b of id holds of [off, end) into buf (which starts at
 * off). Returns the block's length, or -1 on a miss. */
static ssize_t cache_copy(const struct pfs_range_source *p, const struct pfs_dcache_id *id,
                          uint64_t b, char *buf, uint64_t off, uint64_t end, char **scratch,
                          struct pfs_range_fetch *f)
{
    uint64_t s = b * BLOCK;
    bool whole = s >= off && s + BLOCK <= end;
    if (!whole && !*scratch)
        *scratch = malloc(BLOCK);
    char *dst = whole ? buf + (s - off) : *scratch;
    struct pfs_dcache_meta m;
    ssize_t n = dst ? pfs_dcache_get(p->dc, id, b, dst, &m) : -1;
    if (n <= 0)
        return -1;
    if (!whole) {
        uint64_t from = s > off ? s : off, to = s + (uint64_t)n < end ? s + (uint64_t)n : end;
        if (to > from)
            memcpy(buf + (from - off), dst + (from - s), (size_t)(to - from));
    }
    if (m.has_crc64) {
        f->has_crc = true;
        f->crc = m.crc64;
    }
    return n;
}

int pfs_range_fetch(const struct pfs_range_source *p, char *buf, size_t len, uint64_t off,
                    size_t *got_out, struct pfs_range_fetch *f, struct pfs_status *st)
{
    f->got_etag[0] = '\0';
    f->has_crc = f->from_store = false;
    *got_out = 0;
    uint64_t total;
    if (!p->dc || !f->if_match || !f->if_match[0] || len == 0) {
        int rc = store_get(p, buf, len, off, got_out, &total, f, true, st);
        if (rc == 0)
            cache_store(p, buf, off, *got_out, total, f);
        return rc;
    }
    pfs_status_clear(st);
    struct pfs_dcache_id id;
    pfs_dcache_id(&id, p->bucket, f->key, f->if_match);
    uint64_t end = off + len, last = (end - 1) / BLOCK, pos = off, b = off / BLOCK;
    char *scratch = NULL;
    bool eof = false;
    for (; b <= last && !eof; b++) {
        ssize_t n = cache_copy(p, &id, b, buf, off, end, &scratch, f);
        if (n < 0)
            break;
        uint64_t e = b * BLOCK + (uint64_t)n;
        pos = e < end ? (e > off ? e : off) : end;
        eof = (uint64_t)n < BLOCK; /* the object's last block */
    }
    if (eof || b > last) {
        free(scratch);
        snprintf(f->got_etag, sizeof(f->got_etag), "%s", f->if_match);
        *got_out = (size_t)(pos - off);
        return 0;
    }
    /* b is the first missing block; trailing blocks the cache holds stay. */
    uint64_t lm = last, tail_end = end;
    for (; lm > b; lm--) {
        ssize_t n = cache_copy(p, &id, lm, buf, off, end, &scratch, f);
        if (n < 0 || ((uint64_t)n < BLOCK && lm != last))
            break;
        if (lm == last && lm * BLOCK + (uint64_t)n < end)
            tail_end = lm * BLOCK + (uint64_t)n;
    }
    uint64_t a = b * BLOCK, z = (lm + 1) * BLOCK;
    bool direct = a >= off && z <= end;
    char *dst = direct ? buf + (a - off) : malloc((size_t)(z - a));
    int rc = -1;
    size_t got = 0;
    if (!dst) {
        st->error = -ENOMEM;
    } else if ((rc = store_get(p, dst, (size_t)(z - a), a, &got, &total, f, false, st)) == 0) {
        cache_store(p, dst, a, got, total, f);
        uint64_t from = a > off ? a : off, to = a + got < end ? a + got : end;
        if (!direct && to > from)
            memcpy(buf + (from - off), dst + (from - a), (size_t)(to - from));
        if (a + got < z) /* the object ends there */
            *got_out = a + got > off ? (size_t)(a + got - off) : 0;
        else
            *got_out = (size_t)(tail_end - off);
    }
    if (!direct)
        free(dst);
    free(scratch);
    return rc;
}

/* One range of one pinned version of an object, read for read-ahead
 * (prefetch.c): from the data cache's whole blocks where it holds them, the
 * rest with one ranged GET widened to whole blocks and stored as it
 * completes; without a cache, exactly the range, its bytes reported as they
 * arrive. */
#ifndef PFS_RANGE_FETCH_H
#define PFS_RANGE_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "datacache.h"
#include "status.h"

/* Where ranges come from; all borrowed. dc NULL: no data cache. bucket
 * names the cache's identities. */
struct pfs_range_source {
    struct pfs_client *client;
    struct pfs_dcache *dc;
    const char *bucket;
};

/* One fetch: what it asks for (in), what answered (out). */
struct pfs_range_fetch {
    const char *key, *if_match; /* if_match NULL or "": any version, no cache */
    const _Atomic int *cancel;  /* may be NULL: see pfs_get_opts.cancel */
    /* May be NULL: told how much of the range is final as it arrives
     * (pfs_get_opts.arrived), when it is fetched straight into the buffer
     * (no data cache). */
    void (*arrived)(void *ctx, size_t valid, bool has_crc64, uint64_t crc64);
    void *arrived_ctx;
    char got_etag[80]; /* out: the version that answered */
    bool has_crc;      /* out: the answer (or a cached block) named the object's CRC-64 */
    bool from_store;   /* out: not all from the data cache: the store vouched */
    uint64_t crc;
};

/* Reads [off, off + len) of the version f->if_match into buf: whole blocks
 * the data cache holds are copied, the span of missing ones is fetched with
 * one GET widened to whole blocks (stored as they arrive). Without a cache,
 * or before the version is known, exactly the range is fetched. On success
 * (0) *got_out bytes from off are of the version in f->got_etag (the caller
 * compares it with the pinned one); a store failure fails the whole read
 * (-1, st filled), so a short count always means the object's end. */
int pfs_range_fetch(const struct pfs_range_source *src, char *buf, size_t len, uint64_t off,
                    size_t *got_out, struct pfs_range_fetch *f, struct pfs_status *st);

#endif

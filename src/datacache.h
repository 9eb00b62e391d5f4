/* The clean-data cache (data_cache=DIR): blocks of objects as the store
 * returned them, kept on local disk and shared by every handle of the mount,
 * so a repeated read costs no GET.
 *
 * A block is PFS_DCACHE_BLOCK bytes of one version of one object, named by
 * the SHA-256 of (bucket, key, ETag) and the block's index: an object that
 * changed has another ETag, so its new version never finds the old blocks
 * (they age out). Each block is one file: a header (its identity, its length,
 * the object's CRC-64 when the store named one) and the bytes, the whole file
 * covered by CRC-64s that are checked at every read; a block that fails is
 * deleted and reported as a miss, never returned. A block is written to a
 * temporary name and renamed into place, so a crash or a concurrent writer
 * of the same block leaves either no block or a whole one (and a torn one
 * that somehow got its name fails its checksum).
 *
 * The index (which blocks exist, their size, their LRU order) is in memory,
 * rebuilt at open from the names and modification times on disk (a hit
 * touches its file's mtime, so the order survives a remount). One mutex
 * guards the index; no file I/O happens under it. The total of the block
 * files (rounded up to 4 KiB, temporary files being written included) stays
 * within the size limit; without one, the cache keeps a margin of the
 * filesystem free instead (see pfs_dcache_margin). */
#ifndef PFS_DATACACHE_H
#define PFS_DATACACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 1 MiB: read-ahead chunks are whole MiBs (1..8), so a sequential read
 * stores every block it fetches without a second request; a 1 TiB cache is
 * a million files and an index of about 100 MB at most; and a random read
 * that misses fetches at most 1 MiB more than it asked for. */
#define PFS_DCACHE_BLOCK (1u << 20)

/* Identity of one version of one object. */
struct pfs_dcache_id {
    uint8_t h[32];
};

/* What a block carries besides its bytes: the object's CRC-64/ECMA, when the
 * store named it (TOS), so a handle served from the cache can check the
 * whole object as one served by the store. */
struct pfs_dcache_meta {
    bool has_crc64;
    uint64_t crc64;
};

struct pfs_dcache_stats {
    uint64_t hits, misses; /* block lookups */
    uint64_t hit_bytes;    /* bytes read from the cache */
    uint64_t stored_bytes; /* bytes written into it */
    uint64_t corrupt;      /* blocks that failed their checksum (dropped) */
    uint64_t evictions;    /* blocks dropped to stay within the size or margin */
    uint64_t bytes, limit; /* in use now (gauge) and the limit (0: margin only) */
    uint64_t blocks;       /* block files now */
};

struct pfs_dcache;

/* Opens (creating it, mode 0700) the cache in dir, locked against a second
 * mount (flock: EBUSY), and indexes what it holds; temporary files of a
 * crashed run are deleted. max_bytes 0: no size limit, the free-space margin
 * alone. On failure returns -errno and writes why into err. */
int pfs_dcache_open(struct pfs_dcache **out, const char *dir, uint64_t max_bytes, char *err,
                    size_t err_len);
void pfs_dcache_close(struct pfs_dcache *dc); /* NULL-safe */

/* The identity of (bucket, key, etag); quotes around the ETag do not count. */
void pfs_dcache_id(struct pfs_dcache_id *out, const char *bucket, const char *key,
                   const char *etag);

/* Reads block `block` of id into buf (PFS_DCACHE_BLOCK bytes of room).
 * Returns its length (a last block may be shorter; never 0), or -ENOENT on
 * a miss, a corrupt block included (it is deleted). meta may be NULL. */
ssize_t pfs_dcache_get(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                       void *buf, struct pfs_dcache_meta *meta);

/* Stores len (1..PFS_DCACHE_BLOCK) bytes as block `block` of id, evicting
 * the least recently used blocks to make room. Returns 0, or -errno (the
 * block is then simply not cached; ENOSPC: it does not fit). */
int pfs_dcache_put(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                   const void *data, size_t len, const struct pfs_dcache_meta *meta);

/* Drops every block of id (its bytes proved wrong). */
void pfs_dcache_drop(struct pfs_dcache *dc, const struct pfs_dcache_id *id);

void pfs_dcache_get_stats(struct pfs_dcache *dc, struct pfs_dcache_stats *out);

/* Bytes a cache without a size limit leaves free on a filesystem of fs_bytes:
 * 10% of it, at least 1 GiB, at most 20 GiB (pure). */
uint64_t pfs_dcache_margin(uint64_t fs_bytes);

/* Test hook: how free space is measured (statvfs of the directory by
 * default). NULL restores the default. */
void pfs_dcache_set_space_fn(struct pfs_dcache *dc,
                             int (*fn)(void *ctx, uint64_t *avail, uint64_t *total), void *ctx);

#endif

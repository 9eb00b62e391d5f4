/* Sequential read-ahead for one open file: ranged GETs of a window that grows
 * from 1 MiB to 64 MiB, several in flight on the worker pool (read-ahead
 * class), all inside one
 * daemon-wide memory budget. A random reader gets exactly the ranges it asks
 * for; when the budget is spent, read-ahead pauses (back-pressure) and reads
 * go straight to the store. Without a data cache a read takes a chunk's
 * bytes as they arrive (pfs_get_opts.arrived), so it waits for what it asks
 * for, not for the whole GET. */
#ifndef PFS_PREFETCH_H
#define PFS_PREFETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "datacache.h"
#include "pool.h"
#include "readbudget.h"

#define PFS_PREFETCH_MIN_WINDOW (1u << 20)
#define PFS_PREFETCH_MAX_WINDOW (64u << 20)
#define PFS_PREFETCH_MAX_CHUNK (8u << 20)
/* The first read of a stream larger than PFS_PREFETCH_MIN_WINDOW is answered
 * by a GET of this much (rounded up from the read's length); the window
 * starts at the second read. */
#define PFS_PREFETCH_HEAD (128u << 10)

struct pfs_prefetch;

/* A reader of `key`, whose size is `size`. client, pool and budget are
 * borrowed; the budget's free waits for read-ahead still landing. Returns
 * NULL on ENOMEM.
 *
 * Version pinning: a reader reads one version of the object. etag (NULL or
 * "": unknown) is the version the attributes showed at open; else the first
 * response names it. Every GET then carries If-Match with it, so a version
 * that replaced it answers 412 instead of its bytes (and a response whose
 * ETag differs counts as a 412, for stores that ignore If-Match; the test
 * server does): the read fails with EIO
 * (logged once per reader), never returning a mix. Only before any byte was
 * returned may a version that the attribute cache alone vouched for give way
 * to the current one.
 *
 * dc (may be NULL, borrowed) is the data cache: blocks of the pinned
 * version it holds cost no GET, and every block fetched is stored (bucket
 * names the cache's identities). With it, chunks and reads that miss are
 * widened to whole blocks (PFS_DCACHE_BLOCK).
 *
 * Whole-object CRC-64 (TOS): when the answers name the object's CRC-64, the
 * CRC of the bytes this reader returned is combined in offset order; a read
 * that completes [0, size) with another CRC fails with EIO (logged once),
 * and so does every later read of the handle. Cached blocks carry the CRC the
 * store named, so hits are checked the same way. Whether the store names a
 * CRC is known from the first answer's headers; until then no chunk is read
 * while it arrives, so no read completes the object unchecked. */
struct pfs_prefetch *pfs_prefetch_new(struct pfs_client *c, struct pfs_pool *pool,
                                      struct pfs_budget *budget, struct pfs_dcache *dc,
                                      const char *bucket, const char *key, const char *etag,
                                      uint64_t size);

/* The file was renamed (by this mount): read it under key from now on; etag
 * (may be NULL or ""), the version its copy has under the new key. */
int pfs_prefetch_set_key(struct pfs_prefetch *p, const char *key, const char *etag);

/* Is etag the version this reader reads (or has it none yet)? */
bool pfs_prefetch_reads_version(struct pfs_prefetch *p, const char *etag);

/* Reads up to len bytes at off. Returns the count (0 at or past the end), or
 * -1 with st filled. Thread-safe, though one handle is usually read by one
 * thread at a time. */
ssize_t pfs_prefetch_read(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                          struct pfs_status *st);

/* A chunk a reply sends from; pfs_prefetch_unpin lets go of it. */
struct pfs_prefetch_pin;

/* pfs_prefetch_read, but when all of the bytes lie in one chunk already read
 * ahead, nothing is copied into buf: *zc points at them inside the chunk, and
 * *pin keeps that chunk (and the reader) alive until pfs_prefetch_unpin, so
 * the reply is written from there. Otherwise *zc and *pin are NULL and the
 * bytes are in buf. On a sequential read this saves one copy of every byte. */
ssize_t pfs_prefetch_read_zc(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                             const void **zc, struct pfs_prefetch_pin **pin, struct pfs_status *st);

/* Lets go of a pin of pfs_prefetch_read_zc; NULL-safe, any thread. */
void pfs_prefetch_unpin(struct pfs_prefetch_pin *pin);

/* How many reads of p wait for a chunk being downloaded now (lets a race
 * test act exactly while one waits). */
int pfs_prefetch_waiting(struct pfs_prefetch *p);

/* Cancels read-ahead in flight (it stops downloading) and lets go without
 * waiting for it: the last task to end frees the reader. NULL-safe. */
void pfs_prefetch_free(struct pfs_prefetch *p);

#endif

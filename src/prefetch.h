/* Sequential read-ahead for one open file: ranged GETs of a window that grows
 * from 1 MiB to 64 MiB, several in flight on the worker pool, all inside one
 * daemon-wide memory budget. A random reader gets exactly the ranges it asks
 * for; when the budget is spent, read-ahead pauses (back-pressure) and reads
 * go straight to the store. */
#ifndef PFS_PREFETCH_H
#define PFS_PREFETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "pool.h"

#define PFS_PREFETCH_MIN_WINDOW (1u << 20)
#define PFS_PREFETCH_MAX_WINDOW (64u << 20)
#define PFS_PREFETCH_MAX_CHUNK (8u << 20)

/* The daemon-wide memory budget for read-ahead buffers. */
struct pfs_budget;
int pfs_budget_new(struct pfs_budget **out, uint64_t limit);
void pfs_budget_free(struct pfs_budget *b);
/* Takes n bytes if they fit; never blocks. */
bool pfs_budget_try_take(struct pfs_budget *b, uint64_t n);
void pfs_budget_give(struct pfs_budget *b, uint64_t n);

struct pfs_prefetch;

/* A reader of `key`, whose size is `size`. client, pool and budget are
 * borrowed. Returns NULL on ENOMEM. */
struct pfs_prefetch *pfs_prefetch_new(struct pfs_client *c, struct pfs_pool *pool,
                                      struct pfs_budget *budget, const char *key, uint64_t size);

/* Reads up to len bytes at off. Returns the count (0 at or past the end), or
 * -1 with st filled. Thread-safe, though one handle is usually read by one
 * thread at a time. */
ssize_t pfs_prefetch_read(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                          struct pfs_status *st);

/* Waits for transfers in flight, then frees. NULL-safe. */
void pfs_prefetch_free(struct pfs_prefetch *p);

#endif

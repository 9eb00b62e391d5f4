/* Names known not to exist, each until its expiry: the negative-lookup cache.
 * Bounded (cleared whole when full: entries are cheap to learn again). Not
 * locked: its owner's lock protects it. */
#ifndef PFS_NEGCACHE_H
#define PFS_NEGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pfs_negcache;

/* max: entries kept at most. Returns NULL on ENOMEM. */
struct pfs_negcache *pfs_negcache_new(size_t max);
void pfs_negcache_free(struct pfs_negcache *nc);

/* Whether (parent, name) is known missing at time now (expired entries go). */
bool pfs_negcache_known(struct pfs_negcache *nc, uint64_t parent, const char *name, double now);
void pfs_negcache_add(struct pfs_negcache *nc, uint64_t parent, const char *name, double expires);
void pfs_negcache_forget(struct pfs_negcache *nc, uint64_t parent, const char *name);
size_t pfs_negcache_size(const struct pfs_negcache *nc);

#endif

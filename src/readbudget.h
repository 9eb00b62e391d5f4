/* The daemon-wide memory budget for read-ahead buffers (memory_limit), and
 * the buffers themselves: a chunk's buffer is taken here and given back here,
 * so that full-size buffers are used again instead of being mapped afresh. */
#ifndef PFS_READBUDGET_H
#define PFS_READBUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pfs_budget;

/* spare_size: the one buffer size kept for reuse (0: none kept). */
int pfs_budget_new(struct pfs_budget **out, uint64_t limit, size_t spare_size);
/* Waits until every byte taken is given back (read-ahead still landing). */
void pfs_budget_free(struct pfs_budget *b);
/* Takes n bytes if they fit; never blocks. */
bool pfs_budget_try_take(struct pfs_budget *b, uint64_t n);
void pfs_budget_give(struct pfs_budget *b, uint64_t n);
/* Bytes of read-ahead buffers in use now, and the limit (a gauge). */
void pfs_budget_usage(struct pfs_budget *b, uint64_t *used_out, uint64_t *limit_out);

/* A buffer of len bytes for bytes already taken (NULL on ENOMEM), and its
 * return. Buffers of spare_size come from, and go back to, a few spares;
 * the spares are freed whenever nothing is taken (no read-ahead at all). */
void *pfs_budget_buf_get(struct pfs_budget *b, size_t len);
void pfs_budget_buf_put(struct pfs_budget *b, void *buf, size_t len);
/* Spare buffers held now (for tests). */
size_t pfs_budget_spares(struct pfs_budget *b);

#endif

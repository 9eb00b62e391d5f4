/* Defence against a listing that never ends: a store (or something posing as
 * one) that answers IsTruncated=true with a continuation token it gave
 * before, with pages whose keys go back to ones already seen, or with empty
 * truncated pages forever would keep a page walk looping. The guard checks
 * each page before it is used and says why the walk must stop. */
#ifndef PFS_LIST_GUARD_H
#define PFS_LIST_GUARD_H

#include <stddef.h>

#include "dialect.h"

/* Empty truncated pages in a row that a walk accepts (S3 can return a few
 * while it skips over delete markers; a hundred in a row is a loop). */
#define PFS_LIST_MAX_EMPTY_PAGES 100

struct pfs_list_guard {
    char *last;    /* greatest key or prefix of the pages so far; NULL before any */
    char **tokens; /* tokens sent since the last page that held anything */
    size_t n_tokens;
    unsigned empty; /* empty truncated pages in a row */
    unsigned pages;
};

void pfs_list_guard_init(struct pfs_list_guard *g);
void pfs_list_guard_cleanup(struct pfs_list_guard *g);

/* Checks page, the answer to continuation token `sent` (NULL for the first
 * page). Returns 0 when the walk may use it and go on, -EIO with why (a
 * sentence) filled when the listing loops or goes backwards, -ENOMEM. */
int pfs_list_guard_check(struct pfs_list_guard *g, const struct pfs_list_page *page,
                         const char *sent, char *why, size_t why_len);

#endif

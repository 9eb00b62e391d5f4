/* Directory cache entries (see listing.h): a sorted array, binary-searched. */
#include "listing.h"

#include <stdlib.h>
#include <string.h>

struct pfs_listing *pfs_listing_new(void)
{
    return calloc(1, sizeof(struct pfs_listing));
}

void pfs_listing_free(struct pfs_listing *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].name);
    free(l->e);
    free(l);
}

static int cmp_dentry(const void *a, const void *b)
{
    return strcmp(((const struct pfs_dentry *)a)->name, ((const struct pfs_dentry *)b)->name);
}

struct pfs_dentry *pfs_listing_find(struct pfs_listing *l, const char *name)
{
    struct pfs_dentry key = {.name = (char *)name};
    return l && l->n ? bsearch(&key, l->e, l->n, sizeof(*l->e), cmp_dentry) : NULL;
}

void pfs_listing_put(struct pfs_listing *l, const char *name, bool is_dir, uint64_t size,
                     int64_t mtime)
{
    if (!l)
        return;
    struct pfs_dentry *d = pfs_listing_find(l, name);
    if (d) {
        if (!is_dir)
            d->dir_forms = 0;
        d->is_dir = is_dir;
        d->size = size;
        d->mtime = mtime;
        d->etag[0] = '\0';
        d->meta_fetched = false;
        d->head_failed = false;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct pfs_dentry *e = realloc(l->e, cap * sizeof(*e));
        if (!e) {
            l->expires = 0;
            return;
        }
        l->e = e;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        l->expires = 0;
        return;
    }
    /* Binary search for the insertion point keeps large listings cheap. */
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(l->e[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&l->e[lo + 1], &l->e[lo], (l->n - lo) * sizeof(*l->e));
    l->e[lo] = (struct pfs_dentry){.name = copy, .is_dir = is_dir, .size = size, .mtime = mtime};
    l->n++;
}

void pfs_listing_remove(struct pfs_listing *l, const char *name)
{
    struct pfs_dentry *d = pfs_listing_find(l, name);
    if (!d)
        return;
    free(d->name);
    size_t at = (size_t)(d - l->e);
    memmove(&l->e[at], &l->e[at + 1], (l->n - at - 1) * sizeof(*l->e));
    l->n--;
}

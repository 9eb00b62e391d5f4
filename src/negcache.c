/* Negative-lookup cache (see negcache.h): chained hash table. */
#include "negcache.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct entry {
    uint64_t parent;
    char *name;
    double expires;
    struct entry *next;
};

struct pfs_negcache {
    struct entry *b[BUCKETS];
    size_t n, max;
};

static size_t bucket(uint64_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ULL ^ parent;
    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 1099511628211ULL;
    }
    return h % BUCKETS;
}

struct pfs_negcache *pfs_negcache_new(size_t max)
{
    struct pfs_negcache *nc = calloc(1, sizeof(*nc));
    if (nc)
        nc->max = max ? max : 1;
    return nc;
}

static void clear(struct pfs_negcache *nc)
{
    for (size_t i = 0; i < BUCKETS; i++)
        while (nc->b[i]) {
            struct entry *e = nc->b[i];
            nc->b[i] = e->next;
            free(e->name);
            free(e);
        }
    nc->n = 0;
}

void pfs_negcache_free(struct pfs_negcache *nc)
{
    if (!nc)
        return;
    clear(nc);
    free(nc);
}

void pfs_negcache_forget(struct pfs_negcache *nc, uint64_t parent, const char *name)
{
    struct entry **pp = &nc->b[bucket(parent, name)];
    while (*pp) {
        struct entry *e = *pp;
        if (e->parent == parent && strcmp(e->name, name) == 0) {
            *pp = e->next;
            free(e->name);
            free(e);
            nc->n--;
        } else {
            pp = &e->next;
        }
    }
}

bool pfs_negcache_known(struct pfs_negcache *nc, uint64_t parent, const char *name, double now)
{
    for (struct entry *e = nc->b[bucket(parent, name)]; e; e = e->next)
        if (e->parent == parent && strcmp(e->name, name) == 0) {
            if (e->expires > now)
                return true;
            pfs_negcache_forget(nc, parent, name);
            return false;
        }
    return false;
}

void pfs_negcache_add(struct pfs_negcache *nc, uint64_t parent, const char *name, double expires)
{
    pfs_negcache_forget(nc, parent, name);
    if (nc->n >= nc->max)
        clear(nc);
    struct entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name))) {
        free(e);
        return;
    }
    e->parent = parent;
    e->expires = expires;
    size_t i = bucket(parent, name);
    e->next = nc->b[i];
    nc->b[i] = e;
    nc->n++;
}

size_t pfs_negcache_size(const struct pfs_negcache *nc)
{
    return nc->n;
}

/* Read-ahead memory (see readbudget.h). A sequential reader's chunks are
 * mostly of one size (PFS_PREFETCH_MAX_CHUNK); a fresh malloc of that size is
 * a fresh mapping, and faulting its pages in, then unmapping them, was a
 * sixth of the daemon's CPU on a cold sequential read (perf). A few spare
 * buffers of that size are kept while read-ahead goes on, and freed as soon
 * as no read-ahead is left, so an idle daemon holds none. */
#include "readbudget.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define MAX_SPARES 4

struct pfs_budget {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    uint64_t limit, used;
    size_t spare_size, n_spares;
    void *spares[MAX_SPARES];
};

int pfs_budget_new(struct pfs_budget **out, uint64_t limit, size_t spare_size)
{
    struct pfs_budget *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->idle, NULL);
    b->limit = limit;
    b->spare_size = spare_size;
    *out = b;
    return 0;
}

/* Takes the spares out (lock held); the caller frees them unlocked. */
static size_t take_spares(struct pfs_budget *b, void **out)
{
    size_t n = b->n_spares;
    for (size_t i = 0; i < n; i++)
        out[i] = b->spares[i];
    b->n_spares = 0;
    return n;
}

static void free_all(void **bufs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
}

void pfs_budget_free(struct pfs_budget *b)
{
    if (!b)
        return;
    /* Cancelled read-ahead may still be landing: its tasks give back. */
    pthread_mutex_lock(&b->lock);
    while (b->used > 0)
        pthread_cond_wait(&b->idle, &b->lock);
    void *spares[MAX_SPARES];
    size_t n = take_spares(b, spares);
    pthread_mutex_unlock(&b->lock);
    free_all(spares, n);
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

bool pfs_budget_try_take(struct pfs_budget *b, uint64_t n)
{
    pthread_mutex_lock(&b->lock);
    bool ok = b->used + n <= b->limit;
    if (ok)
        b->used += n;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void pfs_budget_usage(struct pfs_budget *b, uint64_t *used_out, uint64_t *limit_out)
{
    pthread_mutex_lock(&b->lock);
    *used_out = b->used;
    *limit_out = b->limit;
    pthread_mutex_unlock(&b->lock);
}

void pfs_budget_give(struct pfs_budget *b, uint64_t n)
{
    void *spares[MAX_SPARES];
    size_t ns = 0;
    pthread_mutex_lock(&b->lock);
    b->used -= n;
    if (b->used == 0) {
        ns = take_spares(b, spares); /* no read-ahead left: hold no memory */
        pthread_cond_broadcast(&b->idle);
    }
    pthread_mutex_unlock(&b->lock);
    free_all(spares, ns);
}

void *pfs_budget_buf_get(struct pfs_budget *b, size_t len)
{
    if (len == b->spare_size && len) {
        pthread_mutex_lock(&b->lock);
        void *buf = b->n_spares ? b->spares[--b->n_spares] : NULL;
        pthread_mutex_unlock(&b->lock);
        if (buf)
            return buf;
    }
    return malloc(len ? len : 1);
}

void pfs_budget_buf_put(struct pfs_budget *b, void *buf, size_t len)
{
    if (buf && len == b->spare_size && len) {
        pthread_mutex_lock(&b->lock);
        /* Its bytes are still taken (given back after this): with nothing
         * else taken, the give that follows frees the spares. */
        bool keep = b->n_spares < MAX_SPARES;
        if (keep)
            b->spares[b->n_spares++] = buf;
        pthread_mutex_unlock(&b->lock);
        if (keep)
            return;
    }
    free(buf);
}

size_t pfs_budget_spares(struct pfs_budget *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->n_spares;
    pthread_mutex_unlock(&b->lock);
    return n;
}

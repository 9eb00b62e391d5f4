/* A fixed set of worker threads running queued tasks: the bound on parallel
 * transfers (multipart parts, read-ahead ranges). Each transfer blocks in the
 * transport on its own worker, so retries and re-signing stay straight-line
 * code; the connections behind the workers are shared and kept alive. */
#ifndef PFS_POOL_H
#define PFS_POOL_H

#include <pthread.h>
#include <stddef.h>

struct pfs_pool;

/* Tasks submitted together whose completion someone waits for. */
struct pfs_task_group {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t pending;
};

/* Starts `threads` workers (>= 1). Returns 0, -EINVAL or -ENOMEM/-EAGAIN. */
int pfs_pool_new(struct pfs_pool **out, size_t threads);

/* Runs every queued task, then stops and frees the workers. NULL-safe. */
void pfs_pool_free(struct pfs_pool *pool);

size_t pfs_pool_threads(const struct pfs_pool *pool);

void pfs_task_group_init(struct pfs_task_group *g);
void pfs_task_group_cleanup(struct pfs_task_group *g);

/* Queues fn(arg); g (optional) counts it as pending until it returns.
 * Returns 0 or -ENOMEM (fn is then not run). */
int pfs_pool_submit(struct pfs_pool *pool, struct pfs_task_group *g, void (*fn)(void *arg),
                    void *arg);

/* Blocks until every task of g has returned. Must not be called from a task
 * (the workers could all end up waiting). */
void pfs_task_group_wait(struct pfs_task_group *g);

#endif

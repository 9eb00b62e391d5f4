/* A fixed set of worker threads running queued tasks: the bound on parallel
 * transfers (multipart parts, read-ahead ranges). Each transfer blocks in the
 * transport on its own worker, so retries and re-signing stay straight-line
 * code; the connections behind the workers are shared and kept alive.
 *
 * Tasks come in classes, served in priority order, each with a cap on the
 * workers it may hold at once: what an application waits for now
 * (foreground: the parts of an upload a close waits on), then read-ahead,
 * then background work (HEAD fan-outs, the copies of a directory rename).
 * Foreground may use every worker, read-ahead all but a quarter, background
 * half, so a background flood cannot starve reads.
 *
 * A task may submit tasks and wait for them (a rename's copy waits for its
 * multipart parts): a worker that waits for a group runs that group's queued
 * tasks itself, so the pool never waits on itself, whatever the caps. */
#ifndef PFS_POOL_H
#define PFS_POOL_H

#include <pthread.h>
#include <stddef.h>

struct pfs_pool;

enum pfs_task_class {
    PFS_TASK_FOREGROUND,
    PFS_TASK_READAHEAD,
    PFS_TASK_BACKGROUND,
    PFS_TASK_CLASSES
};

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

/* Queues fn(arg) in class cls; g (optional) counts it as pending until it
 * returns. Returns 0 or -ENOMEM (fn is then not run). */
int pfs_pool_submit_class(struct pfs_pool *pool, struct pfs_task_group *g, enum pfs_task_class cls,
                          void (*fn)(void *arg), void *arg);

/* The same in the class of the task the caller runs in (a part of a copy is
 * background work like the copy), or foreground outside the pool. */
int pfs_pool_submit(struct pfs_pool *pool, struct pfs_task_group *g, void (*fn)(void *arg),
                    void *arg);

/* Blocks until every task of g has returned. Called from a task, it runs g's
 * queued tasks on the calling worker meanwhile (see above). */
void pfs_task_group_wait(struct pfs_task_group *g);

/* The most workers class cls may hold at once. */
size_t pfs_pool_class_limit(const struct pfs_pool *pool, enum pfs_task_class cls);

#endif

/* Worker pool (see pool.h). One mutex, a FIFO per class; workers sleep on a
 * condition variable and take the first task of the highest class whose cap
 * has room. A worker waiting for a group takes that group's tasks out of the
 * queues and runs them itself (they count against no cap: the worker is
 * already counted for the task that waits). */
#include "pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct task {
    void (*fn)(void *);
    void *arg;
    struct pfs_task_group *group;
    enum pfs_task_class cls;
    struct task *next;
};

struct queue {
    struct task *head, *tail;
};

struct pfs_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct queue q[PFS_TASK_CLASSES];
    size_t running[PFS_TASK_CLASSES];
    size_t limit[PFS_TASK_CLASSES];
    bool stopping;
    size_t n_threads;
    pthread_t *threads;
};

/* The pool whose worker this thread is, and the class of the task it runs. */
static _Thread_local struct pfs_pool *tl_pool;
static _Thread_local enum pfs_task_class tl_class;

static bool any_queued(const struct pfs_pool *p)
{
    for (int c = 0; c < PFS_TASK_CLASSES; c++)
        if (p->q[c].head)
            return true;
    return false;
}

/* The next task a free worker may run, counted as running. Lock held. */
static struct task *take_next(struct pfs_pool *p)
{
    for (int c = 0; c < PFS_TASK_CLASSES; c++) {
        struct task *t = p->q[c].head;
        if (!t || p->running[c] >= p->limit[c])
            continue;
        p->q[c].head = t->next;
        if (!p->q[c].head)
            p->q[c].tail = NULL;
        p->running[c]++;
        return t;
    }
    return NULL;
}

/* Unlinks the first queued task of group g, or NULL. Lock held. */
static struct task *take_of_group(struct pfs_pool *p, const struct pfs_task_group *g)
{
    for (int c = 0; c < PFS_TASK_CLASSES; c++) {
        struct task *prev = NULL;
        for (struct task *t = p->q[c].head; t; prev = t, t = t->next) {
            if (t->group != g)
                continue;
            if (prev)
                prev->next = t->next;
            else
                p->q[c].head = t->next;
            if (p->q[c].tail == t)
                p->q[c].tail = prev;
            return t;
        }
    }
    return NULL;
}

/* Runs t in its class on this thread and settles its group. */
static void run_task(struct task *t)
{
    enum pfs_task_class saved = tl_class;
    tl_class = t->cls;
    t->fn(t->arg);
    tl_class = saved;
    if (t->group) {
        /* Every completion wakes the waiter: it may have tasks to take over. */
        pthread_mutex_lock(&t->group->lock);
        t->group->pending--;
        pthread_cond_broadcast(&t->group->done);
        pthread_mutex_unlock(&t->group->lock);
    }
}

static void *worker(void *arg)
{
    struct pfs_pool *p = arg;
    tl_pool = p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct task *t = take_next(p);
        if (!t) {
            if (p->stopping && !any_queued(p))
                break; /* stopping and drained */
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        enum pfs_task_class cls = t->cls;
        run_task(t);
        free(t);
        pthread_mutex_lock(&p->lock);
        p->running[cls]--;
        if (any_queued(p))
            pthread_cond_broadcast(&p->wake); /* a capped task may run now */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int pfs_pool_new(struct pfs_pool **out, size_t threads)
{
    *out = NULL;
    if (threads == 0)
        return -EINVAL;
    struct pfs_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->threads = calloc(threads, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return -ENOMEM;
    }
    p->limit[PFS_TASK_FOREGROUND] = threads;
    p->limit[PFS_TASK_READAHEAD] = threads - threads / 4;
    p->limit[PFS_TASK_BACKGROUND] = threads / 2 ? threads / 2 : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (size_t i = 0; i < threads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc) {
            p->n_threads = i;
            pfs_pool_free(p);
            return -rc;
        }
    }
    p->n_threads = threads;
    *out = p;
    return 0;
}

void pfs_pool_free(struct pfs_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

size_t pfs_pool_threads(const struct pfs_pool *p)
{
    return p->n_threads;
}

size_t pfs_pool_class_limit(const struct pfs_pool *p, enum pfs_task_class cls)
{
    return cls < PFS_TASK_CLASSES ? p->limit[cls] : 0;
}

void pfs_task_group_init(struct pfs_task_group *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->done, NULL);
    g->pending = 0;
}

void pfs_task_group_cleanup(struct pfs_task_group *g)
{
    pthread_cond_destroy(&g->done);
    pthread_mutex_destroy(&g->lock);
}

int pfs_pool_submit_class(struct pfs_pool *p, struct pfs_task_group *g, enum pfs_task_class cls,
                          void (*fn)(void *arg), void *arg)
{
    if (cls >= PFS_TASK_CLASSES)
        return -EINVAL;
    struct task *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    t->cls = cls;
    if (g) {
        pthread_mutex_lock(&g->lock);
        g->pending++;
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_lock(&p->lock);
    struct queue *q = &p->q[cls];
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int pfs_pool_submit(struct pfs_pool *p, struct pfs_task_group *g, void (*fn)(void *arg), void *arg)
{
    return pfs_pool_submit_class(p, g, tl_pool == p ? tl_class : PFS_TASK_FOREGROUND, fn, arg);
}

void pfs_task_group_wait(struct pfs_task_group *g)
{
    struct pfs_pool *p = tl_pool;
    for (;;) {
        if (p) {
            pthread_mutex_lock(&p->lock);
            struct task *t = take_of_group(p, g);
            pthread_mutex_unlock(&p->lock);
            if (t) {
                run_task(t);
                free(t);
                continue;
            }
        }
        pthread_mutex_lock(&g->lock);
        bool done = g->pending == 0;
        if (!done)
            pthread_cond_wait(&g->done, &g->lock);
        pthread_mutex_unlock(&g->lock);
        if (done)
            return;
    }
}

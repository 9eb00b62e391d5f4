/* Worker pool (see pool.h). One mutex-protected FIFO; workers sleep on a
 * condition variable. */
#include "pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct task {
    void (*fn)(void *);
    void *arg;
    struct pfs_task_group *group;
    struct task *next;
};

struct pfs_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct task *head, *tail;
    bool stopping;
    size_t n_threads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    struct pfs_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        struct task *t = p->head;
        if (!t)
            break; /* stopping and drained */
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        t->fn(t->arg);
        if (t->group) {
            pthread_mutex_lock(&t->group->lock);
            if (--t->group->pending == 0)
                pthread_cond_broadcast(&t->group->done);
            pthread_mutex_unlock(&t->group->lock);
        }
        free(t);
        pthread_mutex_lock(&p->lock);
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

int pfs_pool_submit(struct pfs_pool *p, struct pfs_task_group *g, void (*fn)(void *arg), void *arg)
{
    struct task *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->group = g;
    if (g) {
        pthread_mutex_lock(&g->lock);
        g->pending++;
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void pfs_task_group_wait(struct pfs_task_group *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->pending > 0)
        pthread_cond_wait(&g->done, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

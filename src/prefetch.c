/* Read-ahead (see prefetch.h). Chunks live in an offset-ordered list; each is
 * fetched by a pool task and waited for under the reader's mutex/condvar. A
 * chunk dropped while in flight (the reader jumped elsewhere, or closed) is
 * freed by its task when it lands. */
#include "prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pfs_budget {
    pthread_mutex_t lock;
    uint64_t limit, used;
};

int pfs_budget_new(struct pfs_budget **out, uint64_t limit)
{
    struct pfs_budget *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    b->limit = limit;
    *out = b;
    return 0;
}

void pfs_budget_free(struct pfs_budget *b)
{
    if (!b)
        return;
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

void pfs_budget_give(struct pfs_budget *b, uint64_t n)
{
    pthread_mutex_lock(&b->lock);
    b->used -= n;
    pthread_mutex_unlock(&b->lock);
}

enum chunk_state { CHUNK_PENDING, CHUNK_DONE, CHUNK_FAILED };

struct chunk {
    struct pfs_prefetch *owner;
    uint64_t off;
    size_t len, got;
    char *data;
    enum chunk_state state;
    bool dropped; /* no longer in the list: the task frees it */
    struct pfs_status st;
    struct chunk *next;
};

struct pfs_prefetch {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct pfs_client *client;
    struct pfs_pool *pool;
    struct pfs_budget *budget;
    char *key;
    uint64_t size;
    uint64_t next_expected; /* where a sequential reader reads next */
    uint64_t window;
    uint64_t fetched_end; /* end of the last chunk requested */
    struct chunk *chunks;
    int inflight;
};

static void free_chunk(struct pfs_prefetch *p, struct chunk *c)
{
    pfs_budget_give(p->budget, c->len);
    free(c->data);
    free(c);
}

static void fetch_task(void *arg)
{
    struct chunk *c = arg;
    struct pfs_prefetch *p = c->owner;
    size_t got = 0;
    struct pfs_status st;
    int rc = pfs_client_get_range(p->client, c->data, c->len, c->off, &got, p->key, &st);
    pthread_mutex_lock(&p->lock);
    c->got = got;
    c->st = st;
    c->state = rc == 0 ? CHUNK_DONE : CHUNK_FAILED;
    p->inflight--;
    if (c->dropped)
        free_chunk(p, c);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

struct pfs_prefetch *pfs_prefetch_new(struct pfs_client *c, struct pfs_pool *pool,
                                      struct pfs_budget *budget, const char *key, uint64_t size)
{
    struct pfs_prefetch *p = calloc(1, sizeof(*p));
    if (!p || !(p->key = strdup(key))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->client = c;
    p->pool = pool;
    p->budget = budget;
    p->size = size;
    p->window = PFS_PREFETCH_MIN_WINDOW;
    return p;
}

/* Unlinks and releases every chunk for which `drop` holds. Lock held. */
static void drop_chunks(struct pfs_prefetch *p, uint64_t before_end, bool all)
{
    struct chunk **pp = &p->chunks;
    while (*pp) {
        struct chunk *c = *pp;
        if (all || c->off + c->len <= before_end) {
            *pp = c->next;
            if (c->state == CHUNK_PENDING)
                c->dropped = true;
            else
                free_chunk(p, c);
        } else {
            pp = &c->next;
        }
    }
    if (all)
        p->fetched_end = 0;
}

/* Requests chunks until the window ahead of off is covered or the budget is
 * spent. Lock held. */
static void extend(struct pfs_prefetch *p, uint64_t off)
{
    if (p->fetched_end < off)
        p->fetched_end = off;
    uint64_t want_end = off + p->window;
    if (want_end > p->size)
        want_end = p->size;
    struct chunk **tail = &p->chunks;
    while (*tail)
        tail = &(*tail)->next;
    while (p->fetched_end < want_end) {
        uint64_t len = want_end - p->fetched_end;
        uint64_t max_chunk =
            p->window / 2 > PFS_PREFETCH_MIN_WINDOW ? p->window / 2 : PFS_PREFETCH_MIN_WINDOW;
        if (max_chunk > PFS_PREFETCH_MAX_CHUNK)
            max_chunk = PFS_PREFETCH_MAX_CHUNK;
        if (len > max_chunk)
            len = max_chunk;
        if (!pfs_budget_try_take(p->budget, len))
            return; /* back-pressure: read-ahead waits for memory */
        struct chunk *c = calloc(1, sizeof(*c));
        char *data = c ? malloc(len) : NULL;
        if (!data) {
            free(c);
            pfs_budget_give(p->budget, len);
            return;
        }
        c->owner = p;
        c->off = p->fetched_end;
        c->len = (size_t)len;
        c->data = data;
        c->state = CHUNK_PENDING;
        if (pfs_pool_submit(p->pool, NULL, fetch_task, c) != 0) {
            free_chunk(p, c);
            return;
        }
        p->inflight++;
        *tail = c;
        tail = &c->next;
        p->fetched_end += len;
    }
}

static struct chunk *chunk_at(struct pfs_prefetch *p, uint64_t off)
{
    for (struct chunk *c = p->chunks; c; c = c->next)
        if (off >= c->off && off < c->off + c->len)
            return c;
    return NULL;
}

ssize_t pfs_prefetch_read(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                          struct pfs_status *st)
{
    pfs_status_clear(st);
    if (off >= p->size || len == 0)
        return 0;
    if (len > p->size - off)
        len = (size_t)(p->size - off);
    pthread_mutex_lock(&p->lock);
    /* The kernel sends a sequential reader's requests from several threads,
     * so they arrive slightly out of order: anything near the read position
     * or inside what is already requested still counts as sequential. */
    uint64_t slack = PFS_PREFETCH_MIN_WINDOW;
    bool sequential = chunk_at(p, off) != NULL ||
                      (off + slack >= p->next_expected && off <= p->next_expected + slack);
    if (!sequential) {
        /* A jump: what was read ahead is useless; start small again. */
        drop_chunks(p, 0, true);
        p->window = PFS_PREFETCH_MIN_WINDOW;
    } else {
        /* Keep one chunk behind for reads that arrive late. */
        if (off > slack)
            drop_chunks(p, off - slack, false);
        extend(p, off);
    }
    size_t done = 0;
    while (done < len) {
        struct chunk *c = sequential ? chunk_at(p, off + done) : NULL;
        if (!c)
            break;
        while (c->state == CHUNK_PENDING)
            pthread_cond_wait(&p->changed, &p->lock);
        if (c->state == CHUNK_FAILED) {
            *st = c->st;
            drop_chunks(p, 0, true);
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
        uint64_t in = off + done - c->off;
        if (in >= c->got)
            break; /* the object is shorter than we were told */
        size_t n = c->got - (size_t)in < len - done ? c->got - (size_t)in : len - done;
        memcpy((char *)buf + done, c->data + in, n);
        done += n;
        if (in + n == c->len && p->window < PFS_PREFETCH_MAX_WINDOW)
            p->window *= 2; /* a whole chunk consumed in order: read further ahead */
    }
    pthread_mutex_unlock(&p->lock);

    if (done < len) {
        /* Not covered by read-ahead (random access, or no budget): fetch
         * exactly what is asked for. */
        size_t got = 0;
        if (pfs_client_get_range(p->client, (char *)buf + done, len - done, off + done, &got,
                                 p->key, st) != 0)
            return -1;
        done += got;
    }
    pthread_mutex_lock(&p->lock);
    if (off + done > p->next_expected || !sequential)
        p->next_expected = off + done;
    if (sequential)
        extend(p, p->next_expected);
    pthread_mutex_unlock(&p->lock);
    return (ssize_t)done;
}

void pfs_prefetch_free(struct pfs_prefetch *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    drop_chunks(p, 0, true);
    while (p->inflight > 0)
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p->key);
    free(p);
}

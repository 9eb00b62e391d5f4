/* URL cache (see urlcache.h): a chained hash table plus an intrusive LRU list,
 * one mutex. Signing happens outside the mutex so a slow (later: remote) source
 * never stalls hits on other keys. */
#include "urlcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct entry {
    char *key; /* serialised request, see make_key */
    size_t key_len;
    uint64_t hash;
    char *url;
    int64_t expires_at;
    struct entry *chain;
    struct entry *prev, *next; /* LRU: head is most recent */
};

struct pfs_urlcache {
    pthread_mutex_t lock;
    struct pfs_url_source *src;
    const struct pfs_clock *clock;
    size_t capacity;
    int64_t margin;
    struct entry **table;
    size_t table_mask;
    size_t count;
    struct entry *head, *tail;
    struct pfs_urlcache_stats stats;
};

/* Length-prefixed fields make the serialisation unambiguous even for keys and
 * values holding separators or NUL bytes. */
static void put_field(struct pfs_buf *b, const char *s, size_t len)
{
    pfs_buf_printf(b, "%zu:", len);
    pfs_buf_append(b, s, len);
}

static void put_str(struct pfs_buf *b, const char *s)
{
    if (s)
        put_field(b, s, strlen(s));
    else
        pfs_buf_putc(b, '-');
}

static int make_key(struct pfs_buf *b, const struct pfs_sign_request *r)
{
    put_str(b, r->method);
    put_str(b, r->bucket);
    put_field(b, r->key ? r->key : "", r->key_len);
    pfs_buf_printf(b, "q%zu", r->n_query);
    for (size_t i = 0; i < r->n_query; i++) {
        put_str(b, r->query[i].name);
        put_str(b, r->query[i].value);
    }
    pfs_buf_printf(b, "h%zu", r->n_headers);
    for (size_t i = 0; i < r->n_headers; i++) {
        put_str(b, r->headers[i].name);
        put_str(b, r->headers[i].value);
    }
    return pfs_buf_status(b);
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int pfs_urlcache_new(struct pfs_urlcache **out, struct pfs_url_source *src,
                     const struct pfs_clock *clock, size_t capacity, int64_t margin)
{
    *out = NULL;
    if (!src || !clock || margin < 0)
        return -EINVAL;
    if (capacity == 0)
        capacity = PFS_URLCACHE_DEFAULT_CAPACITY;
    struct pfs_urlcache *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    size_t slots = 16;
    while (slots < capacity * 2 && slots < ((size_t)1 << 30))
        slots *= 2;
    c->table = calloc(slots, sizeof(*c->table));
    if (!c->table) {
        free(c);
        return -ENOMEM;
    }
    c->table_mask = slots - 1;
    c->src = src;
    c->clock = clock;
    c->capacity = capacity;
    c->margin = margin;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

static void free_entry(struct entry *e)
{
    free(e->key);
    free(e->url);
    free(e);
}

void pfs_urlcache_free(struct pfs_urlcache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free_entry(e);
    }
    free(c->table);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct entry *find(struct pfs_urlcache *c, const char *key, size_t len, uint64_t hash)
{
    for (struct entry *e = c->table[hash & c->table_mask]; e; e = e->chain)
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct pfs_urlcache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct pfs_urlcache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(struct pfs_urlcache *c, struct entry *e)
{
    struct entry **pp = &c->table[e->hash & c->table_mask];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    c->count--;
    free_entry(e);
}

/* Stores a freshly signed URL unless the entry already holds one that lives
 * longer (another thread signed later). Called with the lock held. */
static void store(struct pfs_urlcache *c, struct pfs_buf *key, uint64_t hash, const char *url,
                  int64_t expires_at)
{
    struct entry *e = find(c, key->data, key->len, hash);
    if (e) {
        if (expires_at > e->expires_at) {
            char *copy = strdup(url);
            if (!copy)
                return;
            free(e->url);
            e->url = copy;
            e->expires_at = expires_at;
        }
        lru_unlink(c, e);
        lru_push_front(c, e);
        return;
    }
    e = calloc(1, sizeof(*e));
    char *url_copy = strdup(url);
    if (!e || !url_copy) {
        free(e);
        free(url_copy);
        return; /* caching is an optimisation: the caller still has its URL */
    }
    e->key_len = key->len;
    e->key = pfs_buf_detach(key);
    e->hash = hash;
    e->url = url_copy;
    e->expires_at = expires_at;
    struct entry **slot = &c->table[hash & c->table_mask];
    e->chain = *slot;
    *slot = e;
    lru_push_front(c, e);
    c->count++;
    while (c->count > c->capacity) {
        remove_entry(c, c->tail);
        c->stats.evictions++;
    }
}

int pfs_urlcache_get(struct pfs_urlcache *c, char **url_out, const struct pfs_sign_request *req)
{
    *url_out = NULL;
    struct pfs_buf key;
    pfs_buf_init(&key);
    if (make_key(&key, req)) {
        pfs_buf_cleanup(&key);
        return -ENOMEM;
    }
    uint64_t hash = fnv1a(key.data, key.len);
    int64_t now = pfs_clock_now(c->clock);

    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key.data, key.len, hash);
    if (e && now + c->margin < e->expires_at) {
        char *copy = strdup(e->url);
        if (copy) {
            c->stats.hits++;
            lru_unlink(c, e);
            lru_push_front(c, e);
        }
        pthread_mutex_unlock(&c->lock);
        pfs_buf_cleanup(&key);
        *url_out = copy;
        return copy ? 0 : -ENOMEM;
    }
    if (e)
        c->stats.refreshes++;
    else
        c->stats.misses++;
    pthread_mutex_unlock(&c->lock);

    char *url = NULL;
    int64_t expires_at = 0;
    int rc = pfs_url_source_presign(c->src, &url, &expires_at, req, now);
    if (rc == 0) {
        pthread_mutex_lock(&c->lock);
        store(c, &key, hash, url, expires_at);
        pthread_mutex_unlock(&c->lock);
        *url_out = url;
    } else if (rc == -EIO) {
        /* The source is unavailable (a signer that does not answer): a URL
         * inside its refresh margin still works until it expires. */
        pthread_mutex_lock(&c->lock);
        e = find(c, key.data, key.len, hash);
        if (e && now + PFS_URLCACHE_STALE_MIN < e->expires_at) {
            char *copy = strdup(e->url);
            if (copy) {
                c->stats.stale++;
                *url_out = copy;
                rc = 0;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    pfs_buf_cleanup(&key);
    return rc;
}

int pfs_urlcache_get_uncached(struct pfs_urlcache *c, char **url_out,
                              const struct pfs_sign_request *req)
{
    *url_out = NULL;
    int64_t now = pfs_clock_now(c->clock);
    struct pfs_buf key;
    pfs_buf_init(&key);
    if (c->src->ops->presign_many && make_key(&key, req) == 0) {
        /* A prefetched one-shot URL (the parts of an upload) is taken out:
         * it serves exactly one request and then only takes up room. */
        uint64_t hash = fnv1a(key.data, key.len);
        pthread_mutex_lock(&c->lock);
        struct entry *e = find(c, key.data, key.len, hash);
        if (e && now + c->margin < e->expires_at) {
            *url_out = e->url;
            e->url = NULL;
            remove_entry(c, e);
            c->stats.hits++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    pfs_buf_cleanup(&key);
    if (*url_out)
        return 0;
    int64_t expires_at;
    return pfs_url_source_presign(c->src, url_out, &expires_at, req, now);
}

/* Signs reqs[0..n) with one presign_many of the source (which batches) and caches
 * what came back. Returns the number cached or -errno. */
static int sign_and_store(struct pfs_urlcache *c, const struct pfs_sign_request *reqs,
                          struct pfs_buf *keys, const uint64_t *hashes, size_t n, int64_t now)
{
    char **urls = calloc(n, sizeof(*urls));
    int64_t *exp = calloc(n, sizeof(*exp));
    int *rcs = calloc(n, sizeof(*rcs));
    int rc = (!urls || !exp || !rcs)
                 ? -ENOMEM
                 : c->src->ops->presign_many(c->src->ctx, urls, exp, rcs, reqs, n, now);
    int stored = 0;
    if (rc == 0) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < n; i++) {
            if (urls && urls[i]) {
                store(c, &keys[i], hashes[i], urls[i], exp[i]);
                stored++;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    for (size_t i = 0; urls && i < n; i++)
        free(urls[i]);
    free(urls);
    free(exp);
    free(rcs);
    return rc ? rc : stored;
}

int pfs_urlcache_prefetch(struct pfs_urlcache *c, const struct pfs_sign_request *reqs, size_t n)
{
    if (!c->src->ops->presign_many || n == 0)
        return 0;
    /* More would push out what this call itself signed before it is used. */
    if (n > c->capacity / 2)
        n = c->capacity / 2 ? c->capacity / 2 : 1;
    int64_t now = pfs_clock_now(c->clock);
    /* Only what a get would sign is asked for, in the order given. */
    struct pfs_sign_request *want = calloc(n, sizeof(*want));
    struct pfs_buf *keys = calloc(n, sizeof(*keys));
    uint64_t *hashes = calloc(n, sizeof(*hashes));
    int rc = 0;
    size_t m = 0;
    if (!want || !keys || !hashes)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pfs_buf_init(&keys[m]);
        if (make_key(&keys[m], &reqs[i])) {
            rc = -ENOMEM;
            pfs_buf_cleanup(&keys[m]);
            break;
        }
        uint64_t hash = fnv1a(keys[m].data, keys[m].len);
        pthread_mutex_lock(&c->lock);
        struct entry *e = find(c, keys[m].data, keys[m].len, hash);
        bool fresh = e && now + c->margin < e->expires_at;
        if (!fresh) {
            if (e)
                c->stats.refreshes++;
            else
                c->stats.misses++;
        }
        pthread_mutex_unlock(&c->lock);
        if (fresh) {
            pfs_buf_cleanup(&keys[m]);
            continue;
        }
        want[m] = reqs[i];
        hashes[m] = hash;
        m++;
    }
    int stored = 0;
    if (rc == 0 && m > 0) {
        rc = sign_and_store(c, want, keys, hashes, m, now);
        if (rc > 0) {
            stored = rc;
            rc = 0;
        }
    }
    for (size_t i = 0; keys && i < m; i++)
        pfs_buf_cleanup(&keys[i]);
    free(want);
    free(keys);
    free(hashes);
    return rc ? rc : stored;
}

void pfs_urlcache_invalidate(struct pfs_urlcache *c, const struct pfs_sign_request *req,
                             const char *rejected_url)
{
    struct pfs_buf key;
    pfs_buf_init(&key);
    if (make_key(&key, req) == 0) {
        uint64_t hash = fnv1a(key.data, key.len);
        pthread_mutex_lock(&c->lock);
        struct entry *e = find(c, key.data, key.len, hash);
        if (e && (!rejected_url || strcmp(rejected_url, e->url) == 0)) {
            remove_entry(c, e);
            c->stats.invalidations++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    pfs_buf_cleanup(&key);
}

void pfs_urlcache_stats(const struct pfs_urlcache *c, struct pfs_urlcache_stats *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&c->lock);
    *out = c->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
}

size_t pfs_urlcache_size(const struct pfs_urlcache *c)
{
    pthread_mutex_lock((pthread_mutex_t *)&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
    return n;
}

/* Read-ahead (see prefetch.h). Chunks live in an offset-ordered list; each is
 * fetched by a read-ahead task on the pool and waited for under the reader's
 * mutex/condvar. A chunk dropped while queued or in flight (the reader jumped
 * elsewhere, or closed) is cancelled: a queued one never starts, a running
 * one stops at its next body bytes, and its task frees it. Nobody waits for
 * that: the reader is reference-counted by its handle and its tasks, and
 * the last one frees it. Every GET after the version is known carries
 * If-Match with its ETag, so a handle never mixes two versions' bytes.
 * How one range is fetched (the data cache's blocks, the store) is
 * range_fetch.c's. */
#include "prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datacache.h"
#include "get_answer.h"
#include "log.h"
#include "readbudget.h"
#include "range_fetch.h"
#include "readcrc.h"

#define BLOCK ((uint64_t)PFS_DCACHE_BLOCK)
#define READ_PAGE 4096u

enum chunk_state { CHUNK_PENDING, CHUNK_DONE, CHUNK_FAILED };

struct chunk {
    struct pfs_prefetch *owner;
    uint64_t off;
    size_t len, got;
    /* While PENDING, data[0, valid) is final already (the answer named the
     * pinned version and this range): reads take it as it arrives. */
    size_t valid;
    /* The least valid a waiting read needs (0: none waits): bytes that
     * arrive short of it wake nobody. */
    size_t wanted;
    /* Its pages (READ_PAGE bytes) returned whole so far, one bit each: once
     * all are, nobody asks for it again (the page cache holds them) and it
     * is dropped. A range read twice counts once. */
    uint8_t *read_map;
    size_t pages_unread;
    bool grew; /* the window grew for it */
    char *data;
    char *key;         /* the key when it was requested */
    char if_match[80]; /* the pinned version when it was requested ("" none) */
    char got_etag[80]; /* the version that answered */
    bool has_crc;      /* the answer (or a cached block) named the object's CRC-64 */
    bool from_store;   /* not all from the data cache: the store vouched */
    uint64_t crc;
    enum chunk_state state;
    bool dropped;       /* no longer in the list: the task (or the last unpin) frees it */
    int pins;           /* replies sending straight from data (pfs_prefetch_unpin) */
    _Atomic int cancel; /* set when dropped: the transfer stops */
    struct pfs_status st;
    struct chunk *next;
};

struct pfs_prefetch {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct pfs_client *client;
    struct pfs_pool *pool;
    struct pfs_budget *budget;
    char *key; /* the file's current key (it follows renames) */
    /* The version this handle reads (see prefetch.h); "" until known. */
    char etag[80];
    bool confirmed; /* etag came from a response, not from cached attributes */
    bool served;    /* bytes went to the application */
    bool logged;    /* the version change was logged */
    uint64_t size;
    uint64_t next_expected; /* where a sequential reader reads next */
    size_t max_len;         /* the longest read since the last jump (reorder_span) */
    uint64_t window;
    uint64_t fetched_end; /* end of the last chunk requested */
    bool head_only;       /* the first read's short GET is all that was requested */
    struct chunk *chunks;
    int refs;              /* the handle's, plus one per chunk whose task has not ended */
    int waiting;           /* reads waiting for a chunk (pfs_prefetch_waiting) */
    struct pfs_dcache *dc; /* NULL: no data cache */
    char *bucket;          /* of the cache's identities */
    /* Whole-object CRC-64 (TOS): unknown until an answer says whether the
     * store names one; then the bytes returned are tracked and compared. */
    enum { CRC_UNKNOWN, CRC_WANT, CRC_NONE } crc_state;
    uint64_t want_crc;
    struct pfs_readcrc crc;
    bool crc_bad; /* the whole object's bytes did not match: every read fails */
};

static void destroy(struct pfs_prefetch *p)
{
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p->key);
    free(p->bucket);
    free(p);
}

static void version_changed(struct pfs_status *st)
{
    pfs_status_clear(st);
    st->http_status = 412;
    st->error = -EIO;
    pfs_status_set(st, "PreconditionFailed", "another version answered", NULL);
}

/* pfs_range_fetch from this reader's client and data cache. */
static int fetch_range(const struct pfs_prefetch *p, char *buf, size_t len, uint64_t off,
                       size_t *got_out, struct pfs_range_fetch *f, struct pfs_status *st)
{
    struct pfs_range_source src = {.client = p->client, .dc = p->dc, .bucket = p->bucket};
    return pfs_range_fetch(&src, buf, len, off, got_out, f, st);
}

/* What an answer (or a cached block) said about the object's CRC-64. Reads
 * that waited for a chunk's end only because nobody knew yet (any answer
 * may tell: a chunk's, a direct read's) may go on. Lock held. */
static void note_crc(struct pfs_prefetch *p, bool has, uint64_t crc)
{
    if (p->crc_state == CRC_UNKNOWN)
        pthread_cond_broadcast(&p->changed);
    if (has && p->crc_state != CRC_NONE) {
        p->crc_state = CRC_WANT;
        p->want_crc = crc;
    } else if (!has && p->crc_state == CRC_UNKNOWN) {
        p->crc_state = CRC_NONE; /* S3: no CRC to compare, none computed */
    }
}

/* The arrived callback of a chunk's GET (its task's thread): wakes the
 * reads waiting for those bytes. */
static void chunk_arrived(void *ctx, size_t valid, bool has_crc64, uint64_t crc64)
{
    struct chunk *c = ctx;
    struct pfs_prefetch *p = c->owner;
    pthread_mutex_lock(&p->lock);
    /* The answer named the version this chunk asked for: while that is the
     * handle's, what it says of the CRC holds, and is known before any of
     * its bytes can be read (the read that completes the object is
     * checked against it; until then reads wait for a GET's end). */
    if (p->etag[0] && pfs_get_answer_same_etag(p->etag, c->if_match))
        note_crc(p, has_crc64, crc64);
    c->valid = valid;
    if (c->wanted && valid >= c->wanted) {
        c->wanted = 0;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Pages of a chunk that came back shorter than asked for (the object's end)
 * that were not returned yet. Lock held. */
static size_t unread_pages(const struct chunk *c)
{
    size_t n = 0, pages = (c->got + READ_PAGE - 1) / READ_PAGE;
    for (size_t i = 0; i < pages; i++)
        n += !(c->read_map[i / 8] & (1u << (i % 8)));
    return n;
}

static void fetch_task(void *arg)
{
    struct chunk *c = arg;
    struct pfs_prefetch *p = c->owner;
    struct pfs_budget *budget = p->budget;
    size_t got = 0;
    struct pfs_status st;
    int rc;
    if (atomic_load(&c->cancel)) {
        pfs_status_clear(&st);
        st.error = -ECANCELED;
        rc = -1; /* dropped while queued: never sent */
    } else {
        struct pfs_range_fetch f = {.key = c->key,
                                    .if_match = c->if_match,
                                    .cancel = &c->cancel,
                                    .arrived = chunk_arrived,
                                    .arrived_ctx = c};
        rc = fetch_range(p, c->data, c->len, c->off, &got, &f, &st);
        snprintf(c->got_etag, sizeof(c->got_etag), "%s", f.got_etag);
        c->has_crc = f.has_crc;
        c->crc = f.crc;
        c->from_store = f.from_store;
    }
    pthread_mutex_lock(&p->lock);
    if (rc == 0 && !c->dropped && c->got_etag[0]) {
        if (!p->etag[0]) {
            snprintf(p->etag, sizeof(p->etag), "%s", c->got_etag);
            p->confirmed = true;
        } else if (!pfs_get_answer_same_etag(p->etag, c->got_etag)) {
            /* Requested before the version was pinned, or a store that
             * ignores If-Match: another version's bytes, never served. */
            rc = -1;
            version_changed(&st);
        } else if (c->from_store) {
            p->confirmed = true; /* cached blocks vouch for nothing new */
        }
        if (rc == 0)
            note_crc(p, c->has_crc, c->crc);
    } else if (rc == 0 && c->got_etag[0] && p->etag[0] &&
               pfs_get_answer_same_etag(p->etag, c->got_etag)) {
        /* Dropped, but an answer of the pinned version: what it says of the
         * CRC holds (its bytes may all have been read while it arrived, and
         * nothing else may tell). */
        note_crc(p, c->has_crc, c->crc);
    }
    c->got = got;
    if (got != c->len)
        c->pages_unread = unread_pages(c);
    c->st = st;
    c->state = rc == 0 ? CHUNK_DONE : CHUNK_FAILED;
    /* A dropped chunk a reply still sends from (its bytes were taken while
     * they arrived) is freed by the last unpin. */
    bool free_it = c->dropped && c->pins == 0, last = --p->refs == 0;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    if (last)
        destroy(p);
    if (free_it) {
        size_t len = c->len;
        pfs_budget_buf_put(budget, c->data, len);
        free(c->read_map);
        free(c->key);
        free(c);
        pfs_budget_give(budget, len); /* last: the budget may be freed once all is back */
    }
}

struct pfs_prefetch *pfs_prefetch_new(struct pfs_client *c, struct pfs_pool *pool,
                                      struct pfs_budget *budget, struct pfs_dcache *dc,
                                      const char *bucket, const char *key, const char *etag,
                                      uint64_t size)
{
    struct pfs_prefetch *p = calloc(1, sizeof(*p));
    if (!p || !(p->key = strdup(key)) || !(p->bucket = strdup(bucket ? bucket : ""))) {
        if (p)
            free(p->key);
        free(p);
        return NULL;
    }
    p->dc = dc;
    pfs_readcrc_init(&p->crc);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->client = c;
    p->pool = pool;
    p->budget = budget;
    p->size = size;
    p->window = PFS_PREFETCH_MIN_WINDOW;
    p->refs = 1;
    if (etag)
        snprintf(p->etag, sizeof(p->etag), "%s", etag);
    return p;
}

int pfs_prefetch_set_key(struct pfs_prefetch *p, const char *key, const char *etag)
{
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (strcmp(p->key, key) != 0) {
        char *k = strdup(key);
        if (k) {
            free(p->key);
            p->key = k;
            /* This mount's rename knows the copy's version; the old one is
             * gone with the old key. */
            if (etag && *etag)
                snprintf(p->etag, sizeof(p->etag), "%s", etag);
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

bool pfs_prefetch_reads_version(struct pfs_prefetch *p, const char *etag)
{
    pthread_mutex_lock(&p->lock);
    bool same = !p->etag[0] || pfs_get_answer_same_etag(p->etag, etag);
    pthread_mutex_unlock(&p->lock);
    return same;
}

/* Frees a chunk out of the list, or leaves it to its task while that still
 * runs, or to the last unpin while a reply still sends from it. Lock
 * held. */
static void free_chunk(struct pfs_prefetch *p, struct chunk *c)
{
    if (c->pins > 0 || c->state == CHUNK_PENDING) {
        c->dropped = true;
        return;
    }
    pfs_budget_buf_put(p->budget, c->data, c->len);
    pfs_budget_give(p->budget, c->len);
    free(c->read_map);
    free(c->key);
    free(c);
}

/* Unlinks and releases every chunk that ends before before_end (or all):
 * those in flight are cancelled and freed by their task. Lock held. */
static void drop_chunks(struct pfs_prefetch *p, uint64_t before_end, bool all)
{
    struct chunk **pp = &p->chunks;
    while (*pp) {
        struct chunk *c = *pp;
        if (all || c->off + c->len <= before_end) {
            *pp = c->next;
            if (c->state == CHUNK_PENDING) {
                c->dropped = true;
                atomic_store(&c->cancel, 1);
            } else {
                free_chunk(p, c);
            }
        } else {
            pp = &c->next;
        }
    }
    if (all) {
        p->fetched_end = 0;
        p->head_only = false;
    }
}

/* Requests one chunk of len bytes at fetched_end, appended at *tail.
 * False when the budget is spent or memory is short. Lock held. */
static bool add_chunk(struct pfs_prefetch *p, struct chunk ***tail, uint64_t len)
{
    if (!pfs_budget_try_take(p->budget, len))
        return false; /* back-pressure: read-ahead waits for memory */
    struct chunk *c = calloc(1, sizeof(*c));
    uint8_t *map = c ? calloc((size_t)(len / READ_PAGE + 1 + 7) / 8, 1) : NULL;
    char *data = map ? pfs_budget_buf_get(p->budget, (size_t)len) : NULL;
    char *key = data ? strdup(p->key) : NULL;
    if (!key) {
        pfs_budget_buf_put(p->budget, data, (size_t)len);
        free(map);
        free(c);
        pfs_budget_give(p->budget, len);
        return false;
    }
    c->owner = p;
    c->off = p->fetched_end;
    c->len = (size_t)len;
    c->data = data;
    c->read_map = map;
    c->pages_unread = (size_t)((len + READ_PAGE - 1) / READ_PAGE);
    c->key = key;
    snprintf(c->if_match, sizeof(c->if_match), "%s", p->etag);
    c->state = CHUNK_PENDING;
    if (pfs_pool_submit_class(p->pool, NULL, PFS_TASK_READAHEAD, fetch_task, c) != 0) {
        c->state = CHUNK_FAILED; /* never started: free_chunk frees it now */
        free_chunk(p, c);
        return false;
    }
    p->refs++;
    **tail = c;
    *tail = &c->next;
    p->fetched_end += len;
    return true;
}

/* Requests chunks until the window ahead of off is covered or the budget is
 * spent. head (0: none) is the length of a first, short chunk for the first
 * read of a stream larger than the least window: its first bytes then wait
 * for a GET of head bytes, not of a whole chunk, and the window follows from
 * the second read on. True when only that short chunk was requested. Lock
 * held. */
static bool extend(struct pfs_prefetch *p, uint64_t off, uint64_t head)
{
    if (p->fetched_end < off) {
        /* With a data cache every chunk is whole blocks (the last ends the
         * object), so each one fetched is stored whole. Chunks end on block
         * boundaries, so the one before ends at or before this start. */
        uint64_t start = p->dc ? off - off % BLOCK : off;
        p->fetched_end = start > p->fetched_end ? start : p->fetched_end;
    }
    struct chunk **tail = &p->chunks;
    while (*tail)
        tail = &(*tail)->next;
    if (head && !p->chunks && !p->dc && p->fetched_end == off && off + head < p->size &&
        p->size > PFS_PREFETCH_MIN_WINDOW) {
        /* The window waits for a second read: a reader of the first bytes
         * alone (file(1), head -c) costs this one GET. */
        p->head_only = add_chunk(p, &tail, head);
        return p->head_only;
    }
    uint64_t want_end = off + p->window;
    uint64_t max_chunk =
        p->window / 2 > PFS_PREFETCH_MIN_WINDOW ? p->window / 2 : PFS_PREFETCH_MIN_WINDOW;
    if (max_chunk > PFS_PREFETCH_MAX_CHUNK)
        max_chunk = PFS_PREFETCH_MAX_CHUNK;
    if (p->head_only) {
        /* The second read, still inside the short chunk: the window's first
         * chunk starts where it ends, whole, so a read that crosses into it
         * does not fetch the gap on its own. */
        p->head_only = false;
        if (want_end < p->fetched_end + max_chunk)
            want_end = p->fetched_end + max_chunk;
    }
    if (want_end > p->size)
        want_end = p->size;
    /* Only whole chunks: topping the window up by what the last read
     * consumed would turn every 128 KiB kernel read into its own GET once
     * the window stops growing. The window is refilled when a whole chunk
     * is missing from it (or the rest of the object is shorter). */
    while (p->fetched_end < want_end &&
           (p->fetched_end + max_chunk <= want_end || want_end == p->size)) {
        uint64_t len = p->size - p->fetched_end;
        if (len > max_chunk)
            len = max_chunk;
        if (!add_chunk(p, &tail, len))
            return false;
    }
    return false;
}

static struct chunk *chunk_at(struct pfs_prefetch *p, uint64_t off)
{
    for (struct chunk *c = p->chunks; c; c = c->next)
        if (off >= c->off && off < c->off + c->len)
            return c;
    return NULL;
}

/* A 412 (another version answered): before any byte was served from a
 * version only the attribute cache vouched for, the handle may take the
 * current one (returns true: try again); otherwise it is an I/O error,
 * logged once per handle. Lock held. */
static bool repin_or_fail(struct pfs_prefetch *p, struct pfs_status *st)
{
    if (!p->served && !p->confirmed) {
        p->etag[0] = '\0';
        drop_chunks(p, 0, true);
        /* What the old version's answers said of its CRC is not the new
         * one's (nothing was returned, so nothing was added to it). */
        p->crc_state = CRC_UNKNOWN;
        pfs_readcrc_init(&p->crc);
        return true;
    }
    if (!p->logged) {
        p->logged = true;
        PFS_WARN("%s was replaced in the store while open (this handle reads version %s): "
                 "its reads fail with EIO; open it again for the new version",
                 p->key, p->etag);
    }
    st->error = -EIO;
    return false;
}

/* Feeds the bytes returned into the whole-object CRC; true when this read
 * completes an object whose bytes are not those the store's CRC-64 names
 * (logged once, and its cached blocks dropped so the next open fetches them
 * again), or comes after such a read. Lock held. */
static bool check_whole(struct pfs_prefetch *p, const void *buf, uint64_t off, size_t done)
{
    if (p->crc_state == CRC_NONE || done == 0)
        return false;
    /* Every read after the verdict fails, not only reads of the end: the
     * read that completed the object may have been one of the kernel's
     * read-ahead in the middle, whose pages the application then asks for
     * again; answered, it would get the bytes the CRC refused, exit 0. */
    if (p->crc_bad)
        return true;
    pfs_readcrc_add(&p->crc, off, buf, done);
    uint64_t crc;
    if (p->crc_state != CRC_WANT || !pfs_readcrc_covers(&p->crc, p->size, &crc) ||
        crc == p->want_crc)
        return false;
    p->crc_bad = true;
    PFS_ERROR(
        "%s (version %s): the CRC-64 of the %llu bytes read is %llu, the store's "
        "x-tos-hash-crc64ecma says %llu: this read and every later one of the handle fail with EIO",
        p->key, p->etag, (unsigned long long)p->size, (unsigned long long)crc,
        (unsigned long long)p->want_crc);
    if (p->dc) {
        struct pfs_dcache_id id;
        pfs_dcache_id(&id, p->bucket, p->key, p->etag);
        pfs_dcache_drop(p->dc, &id); /* no disk I/O but unlinks; rare */
    }
    return true;
}

/* How far out of order a sequential reader's reads may arrive. The kernel
 * sends its read-ahead as many requests at once, taken by several FUSE
 * threads, so they arrive in any order; a larger read_ahead_kb sends more of
 * them, and longer ones (1 MiB each from 1024 on). Eight of the longest read
 * since the last jump, and never less than the least window: with the
 * kernel's default (128 KiB requests), 1 MiB. Reads may arrive that far
 * ahead of the stream, and behind it (or within the window behind, if
 * larger: read_ahead_kb=16384 brought reads 26 MiB late); a read further
 * off is a jump. Partly read chunks are kept twice that far behind.
 * Treating late reads as jumps dropped the whole window every few reads
 * (661 GETs for 512 MiB with read_ahead_kb=4096). */
static uint64_t reorder_span(const struct pfs_prefetch *p)
{
    uint64_t span = 8 * (uint64_t)p->max_len;
    return span > PFS_PREFETCH_MIN_WINDOW ? span : PFS_PREFETCH_MIN_WINDOW;
}

/* Marks the pages of c that [in, in + n) returns whole (the last page of
 * the answer counts when the read reaches its end: of what came, or while
 * it still arrives, of what was asked for). True once every page of it has
 * been returned. Lock held. */
static bool mark_read(struct chunk *c, uint64_t in, size_t n)
{
    size_t first = (size_t)((in + READ_PAGE - 1) / READ_PAGE);
    uint64_t end = in + n;
    size_t lim = c->state == CHUNK_DONE ? c->got : c->len;
    size_t stop = (size_t)(end >= lim ? (lim + READ_PAGE - 1) / READ_PAGE : end / READ_PAGE);
    for (size_t i = first; i < stop; i++)
        if (!(c->read_map[i / 8] & (1u << (i % 8)))) {
            c->read_map[i / 8] |= (uint8_t)(1u << (i % 8));
            c->pages_unread--;
        }
    return lim > 0 && c->pages_unread == 0;
}

/* The bytes [off, off + n) went to the application (a read that fails
 * returns none: the kernel asks for them again). Marks them read in the
 * chunks that hold them. A chunk read to its end by a read that went on from
 * the last one, or read whole, is a stream, not a reader skipping about: the
 * window grows (once per chunk). A chunk read whole is released: the page
 * cache holds its bytes and nobody asks for them again. Lock held. */
static void note_returned(struct pfs_prefetch *p, uint64_t off, size_t n, bool contiguous)
{
    uint64_t end = off + n;
    for (struct chunk **pp = &p->chunks; *pp;) {
        struct chunk *c = *pp;
        size_t have = c->state == CHUNK_DONE ? c->got : c->state == CHUNK_PENDING ? c->valid : 0;
        uint64_t a = off > c->off ? off : c->off, b = end < c->off + have ? end : c->off + have;
        if (a >= b) {
            pp = &c->next;
            continue;
        }
        bool all_read = mark_read(c, a - c->off, (size_t)(b - a));
        if (!c->grew && (all_read || (contiguous && b == c->off + c->len))) {
            c->grew = true;
            if (p->window < PFS_PREFETCH_MAX_WINDOW)
                p->window *= 2;
        }
        if (all_read) {
            *pp = c->next;
            free_chunk(p, c);
        } else {
            pp = &c->next;
        }
    }
}

ssize_t pfs_prefetch_read_zc(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                             const void **zc, struct pfs_prefetch_pin **pin, struct pfs_status *st)
{
    if (zc)
        *zc = NULL, *pin = NULL;
    pfs_status_clear(st);
    if (off >= p->size || len == 0)
        return 0;
    if (len > p->size - off)
        len = (size_t)(p->size - off);
    pthread_mutex_lock(&p->lock);
    if (len > p->max_len)
        p->max_len = len;
    /* Anything near the read position (see reorder_span) or inside what is
     * already requested still counts as sequential. */
    uint64_t ahead = reorder_span(p), behind = 2 * ahead;
    uint64_t late = ahead > p->window ? ahead : p->window;
    bool contiguous = off == p->next_expected;
    bool head_only = false;
    bool sequential = chunk_at(p, off) != NULL ||
                      (off + late >= p->next_expected && off <= p->next_expected + ahead);
    if (!sequential) {
        /* A jump: what was read ahead is useless; start small again. */
        drop_chunks(p, 0, true);
        p->window = PFS_PREFETCH_MIN_WINDOW;
        p->max_len = len; /* a new pattern: one long read long ago says nothing */
    } else {
        /* Keep what lies within the span behind for reads that arrive late
         * (a chunk all read is dropped as soon as it is). */
        if (off > behind)
            drop_chunks(p, off - behind, false);
        /* The first read of a stream: its bytes come with a short GET
         * alone; the window starts at the second read. */
        uint64_t head = 0;
        if (!p->chunks && !p->served) {
            head = (len + PFS_PREFETCH_HEAD - 1) / PFS_PREFETCH_HEAD * PFS_PREFETCH_HEAD;
            if (head >= PFS_PREFETCH_MIN_WINDOW)
                head = 0;
        }
        head_only = extend(p, off, head);
    }
    size_t done = 0;
    while (done < len) {
        struct chunk *c = sequential ? chunk_at(p, off + done) : NULL;
        if (!c)
            break;
        uint64_t in = off + done - c->off;
        size_t need = (size_t)(in + (len - done) < c->len ? in + (len - done) : c->len);
        /* Until the store has said whether it names the object's CRC-64, a
         * chunk is read only once its GET has ended: a read that completed
         * the object's bytes before that could not be checked. */
        bool streams = p->crc_state != CRC_UNKNOWN;
        if (c->state == CHUNK_PENDING && (!streams || c->valid < need)) {
            /* Until what this read needs of the chunk has arrived. Look the
             * chunk up again after the wait, never keep c: another read may
             * drop it meanwhile (a jump, a failure, a repin), and its task
             * then frees it and reuses its buffer. */
            if (streams && (!c->wanted || need < c->wanted))
                c->wanted = need;
            p->waiting++;
            pthread_cond_wait(&p->changed, &p->lock);
            p->waiting--;
            continue;
        }
        if (c->state == CHUNK_FAILED) {
            *st = c->st;
            if (st->http_status == 412 && done == 0 && repin_or_fail(p, st))
                break; /* read directly below, unpinned */
            if (st->http_status == 412 && done > 0)
                break; /* what was read so far is of the pinned version */
            drop_chunks(p, 0, true);
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
        size_t have = c->state == CHUNK_DONE ? c->got : c->valid;
        if (in >= have)
            break; /* the object is shorter than we were told */
        size_t n = have - (size_t)in < len - done ? have - (size_t)in : len - done;
        if (zc && done == 0 && n == len) {
            /* All of it in this chunk: the reply sends from here. */
            *zc = c->data + in;
            *pin = (struct pfs_prefetch_pin *)c;
            c->pins++;
            p->refs++;
        } else {
            memcpy((char *)buf + done, c->data + in, n);
        }
        /* Now, not after the loop: the read may wait again below for the
         * next chunk, and a repin meanwhile (allowed while nothing was
         * served) would hand it the rest from another version. */
        p->served = true;
        done += n;
    }
    if (done > 0)
        p->served = true;
    char *key = NULL, etag[80];
    bool more = done < len && !(done > 0 && st->http_status == 412);
    if (more) {
        key = strdup(p->key);
        snprintf(etag, sizeof(etag), "%s", p->etag);
    }
    pthread_mutex_unlock(&p->lock);
    if (more && !key) {
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return done ? (ssize_t)done : -1;
    }
    pfs_status_clear(st);

    for (int attempt = 0; more; attempt++) {
        /* Not covered by read-ahead (random access, or no budget): fetch
         * exactly what is asked for, of the pinned version. */
        size_t got = 0;
        struct pfs_range_fetch f = {.key = key, .if_match = etag};
        int rc = fetch_range(p, (char *)buf + done, len - done, off + done, &got, &f, st);
        const char *got_etag = f.got_etag;
        pthread_mutex_lock(&p->lock);
        if (rc == 0) {
            if (!p->etag[0] && got_etag[0]) {
                snprintf(p->etag, sizeof(p->etag), "%s", got_etag);
            } else if (got_etag[0] && !pfs_get_answer_same_etag(p->etag, got_etag)) {
                /* Another version answered: pinned meanwhile by read-ahead
                 * to another one, or a store that ignores If-Match. */
                rc = -1;
                version_changed(st);
            }
            if (rc == 0) {
                if (f.from_store)
                    p->confirmed = true;
                note_crc(p, f.has_crc, f.crc);
                if (got > 0)
                    p->served = true;
                done += got;
            }
        }
        bool retry =
            rc != 0 && st->http_status == 412 && attempt == 0 && done == 0 && repin_or_fail(p, st);
        if (rc != 0 && !retry && st->http_status == 412 && done == 0)
            repin_or_fail(p, st); /* logs once */
        snprintf(etag, sizeof(etag), "%s", p->etag);
        pthread_mutex_unlock(&p->lock);
        if (retry)
            continue;
        if (rc != 0 && done == 0) {
            free(key);
            return -1;
        }
        pfs_status_clear(st);
        break;
    }
    free(key);
    pthread_mutex_lock(&p->lock);
    bool bad = check_whole(p, zc && *zc ? *zc : buf, off, done);
    if (!bad)
        note_returned(p, off, done, contiguous);
    if (off + done > p->next_expected || !sequential)
        p->next_expected = off + done;
    if (sequential && !head_only)
        extend(p, p->next_expected, 0);
    pthread_mutex_unlock(&p->lock);
    if (bad) {
        if (zc && *zc) {
            pfs_prefetch_unpin(*pin);
            *zc = NULL, *pin = NULL;
        }
        pfs_status_clear(st);
        st->error = -EIO;
        pfs_status_set(st, "CRC64Mismatch", "the bytes read are not the object the store names",
                       NULL);
        return -1;
    }
    return (ssize_t)done;
}

ssize_t pfs_prefetch_read(struct pfs_prefetch *p, void *buf, size_t len, uint64_t off,
                          struct pfs_status *st)
{
    return pfs_prefetch_read_zc(p, buf, len, off, NULL, NULL, st);
}

int pfs_prefetch_waiting(struct pfs_prefetch *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->waiting;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void pfs_prefetch_unpin(struct pfs_prefetch_pin *pin)
{
    if (!pin)
        return;
    struct chunk *c = (struct chunk *)pin;
    struct pfs_prefetch *p = c->owner;
    pthread_mutex_lock(&p->lock);
    bool gone = --c->pins == 0 && c->dropped && c->state != CHUNK_PENDING, last = --p->refs == 0;
    if (gone)
        free_chunk(p, c);
    pthread_mutex_unlock(&p->lock);
    if (last)
        destroy(p);
}

void pfs_prefetch_free(struct pfs_prefetch *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    drop_chunks(p, 0, true);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last)
        destroy(p);
}

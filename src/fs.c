/* The filesystem (see fs.h and doc/SEMANTICS.md).
 *
 * State: an inode table (by number and by parent+name) under fs->lock, which
 * is never held across network I/O. Each inode has an io mutex that
 * serialises its data path: staging, truncation, uploads (an upload lets go
 * of io for its transfer and marks the inode `uploading`; io_lock waits for
 * it to end). Lock order: io before fs->lock. Written files are staged in the
 * journal in cache_dir (journal.h) and uploaded whole on flush/fsync/release
 * (upload=sync) or by uploader threads (upload=async); a failed upload keeps
 * its staged file and is retried by a background thread; recovery.c settles
 * what a dead daemon left in the journal. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "journal.h"
#include "log.h"
#include "listing.h"
#include "meta.h"
#include "negcache.h"
#include "prefetch.h"
#include "recovery.h"
#include "stream_upload.h"

#define INO_BUCKETS 4096
#define NEGATIVE_MAX 65536
#define ASYNC_UPLOADERS 8 /* uploads in flight at once with upload=async */

struct inode {
    uint64_t ino;
    uint64_t parent;
    char *name;
    char *key; /* directories end with '/'; the root's key is the prefix */
    bool is_dir;
    uint64_t size;
    int64_t mtime, atime, ctime;
    uint32_t mtime_ns;
    /* ETag of the stored object as last seen ("" when unknown or none): the
     * version a staged copy starts from, which recovery compares with the
     * store before it uploads or deletes anything. */
    char etag[80];
    mode_t perm;
    bool is_link;
    char *link_target; /* read lazily */
    uid_t uid;
    gid_t gid;
    double attr_expires;
    uint64_t nlookup;
    int open_count;
    bool unlinked;          /* gone from the namespace (still open, perhaps) */
    bool local_only;        /* created here, not yet in the store */
    bool pending_upload;    /* dirty data whose upload failed: kept for retry */
    bool upload_permanent;  /* ... and retrying cannot help (403, key too long, ...) */
    int upload_err;         /* -errno of that failure */
    bool delete_on_release; /* unlinked while open: DELETE the key at the last close */
    /* Truncated to 0 by open(O_TRUNC) and not written since. A flush then
     * leaves the stored object alone: dd and shells open, dup2 and close
     * the first descriptor, and that close must not replace the old content
     * with nothing before the new content is written. The release (last
     * close) stores the empty file if it stays empty. */
    bool trunc_unwritten;
    struct pfs_listing *listing;
    /* Lookups that had to ask the store, to notice a tool walking this
     * directory name by name (rsync, tar): then one listing answers them. */
    unsigned probe_misses;
    double probe_window;
    double too_big_until; /* a listing was too large to be worth it */

    /* The data path below. An upload marks the inode `uploading` and lets
     * go of io for the transfer: readers of the staged copy go on; whatever
     * would change the copy or the key (writes, truncation, rename, unlink,
     * another upload, discarding the copy) takes io with io_lock, which
     * waits on io_idle until no upload is in flight. */
    pthread_mutex_t io;
    pthread_cond_t io_idle;
    bool uploading;
    int stage_fd; /* -1: not staged; else the journal data file of jid */
    char *stage_path;
    bool dirty;
    uint64_t staged_bytes; /* counted against cache_size */
    /* The journal entry (cache_dir/journal/JID.*) that makes staged data and
     * deferred deletes survive a crash; jid[0] == 0: none. */
    char jid[PFS_JOURNAL_ID_LEN];
    enum pfs_jstate jstate; /* what the record on disk says */
    int jfd;                /* the entry's locked data file when not staged (DELETE) */
    char base_etag[80];     /* the stored version the staged copy started from */
    char *upload_id;        /* a multipart upload in flight, journalled */
    uint64_t upload_part_size;
    int attempts;
    int64_t jcreated;
    /* Written sequentially from an empty local copy so far: its parts may go
     * up while it is written (stream, started once a part is full). */
    bool stream_ok;
    struct pfs_stream *stream;
    /* upload=async: waiting in fs->queue for an uploader thread */
    bool queued;
    struct inode *next_queued;

    struct inode *next_by_ino, *next_by_name;
};

struct handle {
    struct inode *inode;
    int flags;
    struct pfs_prefetch *reader;
};

struct dir_handle {
    struct inode *dir;
    struct pfs_dentry *e; /* snapshot: offsets stay valid while the listing changes */
    size_t n;
};

struct pfs_fs {
    struct pfs_client *client;
    struct pfs_pool *pool;
    struct pfs_fs_opts o;
    char *cache_dir;
    char *bucket, *prefix; /* written into journal records */
    struct pfs_journal *journal;
    struct pfs_recovery *recovery;
    struct pfs_budget *budget;
    pthread_mutex_t lock;
    struct inode *by_ino[INO_BUCKETS];
    struct inode *by_name[INO_BUCKETS];
    struct pfs_negcache *negatives;
    uint64_t next_ino;
    uint64_t staged_total;
    unsigned deferred_deletes; /* inodes with delete_on_release */
    /* names that cannot be shown, logged once each */
    char **hidden;
    size_t n_hidden;
    /* failed uploads */
    pthread_t retry_thread;
    pthread_cond_t retry_wake;
    bool stopping;
    bool retry_started;
    /* upload=async: closed files wait here for one of the uploader threads,
     * which drain it before an unmount completes. */
    struct inode *queue_head, *queue_tail;
    pthread_cond_t queue_wake;
    pthread_t uploaders[ASYNC_UPLOADERS];
    unsigned n_uploaders;
};

/* ---- small helpers ---- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t name_bucket(uint64_t parent, const char *name)
{
    return hash_str(1469598103934665603ULL ^ parent, name) % INO_BUCKETS;
}

static int status_err(const struct pfs_status *st)
{
    int e = pfs_status_errno(st);
    return e ? -e : -EIO;
}

/* A name the store can hold but a directory cannot show. */
static bool showable(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= PFS_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !strchr(name, '/');
}

static void log_hidden_once(struct pfs_fs *fs, const char *key)
{
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->n_hidden; i++)
        if (strcmp(fs->hidden[i], key) == 0) {
            pthread_mutex_unlock(&fs->lock);
            return;
        }
    if (fs->n_hidden < 10000) {
        char **h = realloc(fs->hidden, (fs->n_hidden + 1) * sizeof(*h));
        if (h) {
            fs->hidden = h;
            fs->hidden[fs->n_hidden] = strdup(key);
            if (fs->hidden[fs->n_hidden])
                fs->n_hidden++;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    PFS_WARN("object key '%s' cannot be shown as a file name (empty, '.', '..' or longer than "
             "255 bytes): hidden",
             key);
}

/* parent_key + name (+ "/" for a directory), heap-allocated; NULL on ENOMEM. */
static char *child_key(const char *parent_key, const char *name, bool is_dir)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_buf_puts(&b, parent_key);
    pfs_buf_puts(&b, name);
    if (is_dir)
        pfs_buf_putc(&b, '/');
    return pfs_buf_detach(&b);
}

/* ---- the inode table (fs->lock held) ---- */

static struct inode *find_ino(struct pfs_fs *fs, uint64_t ino)
{
    for (struct inode *i = fs->by_ino[ino % INO_BUCKETS]; i; i = i->next_by_ino)
        if (i->ino == ino)
            return i;
    return NULL;
}

static struct inode *find_child(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    for (struct inode *i = fs->by_name[name_bucket(parent, name)]; i; i = i->next_by_name)
        if (i->parent == parent && !i->unlinked && strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

static void unhash_name(struct pfs_fs *fs, struct inode *in)
{
    struct inode **pp = &fs->by_name[name_bucket(in->parent, in->name)];
    while (*pp && *pp != in)
        pp = &(*pp)->next_by_name;
    if (*pp)
        *pp = in->next_by_name;
    in->next_by_name = NULL;
}

static void free_inode(struct inode *in)
{
    pfs_listing_free(in->listing);
    /* Closing drops the journal lock; the files stay for the next mount
     * unless the entry was removed (stage_discard, journal_drop). */
    if (in->stage_fd >= 0)
        close(in->stage_fd);
    if (in->jfd >= 0)
        close(in->jfd);
    free(in->stage_path);
    pfs_stream_abandon(in->stream);
    free(in->upload_id);
    pthread_mutex_destroy(&in->io);
    pthread_cond_destroy(&in->io_idle);
    free(in->link_target);
    free(in->name);
    free(in->key);
    free(in);
}

/* Frees an inode nobody refers to any more. */
static void maybe_drop(struct pfs_fs *fs, struct inode *in)
{
    if (in->ino == PFS_ROOT_INO || in->nlookup > 0 || in->open_count > 0 || in->pending_upload ||
        in->queued)
        return;
    struct inode **pp = &fs->by_ino[in->ino % INO_BUCKETS];
    while (*pp && *pp != in)
        pp = &(*pp)->next_by_ino;
    if (*pp)
        *pp = in->next_by_ino;
    if (!in->unlinked)
        unhash_name(fs, in);
    fs->staged_total -= in->staged_bytes;
    free_inode(in);
}

static void negative_forget(struct pfs_fs *fs, uint64_t parent, const char *name);

static struct inode *new_inode(struct pfs_fs *fs, uint64_t parent, const char *name,
                               const char *key, bool is_dir)
{
    struct inode *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->name = strdup(name);
    in->key = strdup(key);
    if (!in->name || !in->key) {
        free(in->name);
        free(in->key);
        free(in);
        return NULL;
    }
    pthread_mutex_init(&in->io, NULL);
    pthread_cond_init(&in->io_idle, NULL);
    in->stage_fd = -1;
    in->jfd = -1;
    in->ino = fs->next_ino++;
    in->parent = parent;
    in->is_dir = is_dir;
    in->perm = (is_dir ? 0777 : 0666) & ~fs->o.umask;
    in->uid = fs->o.uid;
    in->gid = fs->o.gid;
    in->mtime = in->atime = in->ctime = wall_now();
    in->next_by_ino = fs->by_ino[in->ino % INO_BUCKETS];
    fs->by_ino[in->ino % INO_BUCKETS] = in;
    size_t b = name_bucket(parent, name);
    in->next_by_name = fs->by_name[b];
    fs->by_name[b] = in;
    negative_forget(fs, parent, name);
    return in;
}

static void fill_attr(const struct pfs_fs *fs, const struct inode *in, struct pfs_attr *out)
{
    (void)fs;
    memset(out, 0, sizeof(*out));
    out->ino = in->ino;
    out->mode = (in->is_dir ? S_IFDIR : in->is_link ? S_IFLNK : S_IFREG) | in->perm;
    out->size = in->is_dir ? 4096 : in->size;
    out->mtime = in->mtime;
    out->mtime_ns = in->mtime_ns;
    out->atime = in->atime;
    out->ctime = in->ctime;
    out->uid = in->uid;
    out->gid = in->gid;
    out->nlink = in->is_dir ? 2 : 1;
    out->blocks = (out->size + 511) / 512;
}

/* Attributes from stored metadata; what is missing takes the mount's defaults. */
static void apply_meta(struct pfs_fs *fs, struct inode *in, const struct pfs_objmeta *m)
{
    in->perm = m->has_mode ? (m->mode & 07777) : ((in->is_dir ? 0777 : 0666) & ~fs->o.umask);
    in->is_link = !in->is_dir && m->has_mode && S_ISLNK(m->mode);
    in->uid = m->has_uid ? m->uid : fs->o.uid;
    in->gid = m->has_gid ? m->gid : fs->o.gid;
    if (m->has_mtime) {
        in->mtime = in->ctime = in->atime = m->mtime;
        in->mtime_ns = m->mtime_ns;
    }
}

/* The child inode for a name the store (or a listing) says exists; created or
 * refreshed. Does not touch attributes of files with local changes. meta is
 * NULL when the store's metadata was not read. */
static struct inode *upsert_child(struct pfs_fs *fs, struct inode *parent, const char *name,
                                  bool is_dir, uint64_t size, int64_t mtime, const char *etag,
                                  const struct pfs_objmeta *meta)
{
    struct inode *in = find_child(fs, parent->ino, name);
    if (in && in->is_dir != is_dir && !in->local_only && in->open_count == 0 && in->nlookup == 0) {
        /* It changed kind in the store: forget the old inode's name. */
        in->unlinked = true;
        unhash_name(fs, in);
        in = NULL;
    }
    if (!in) {
        char *key = child_key(parent->key, name, is_dir);
        if (!key)
            return NULL;
        in = new_inode(fs, parent->ino, name, key, is_dir);
        free(key);
        if (!in)
            return NULL;
    } else if (in->is_dir != is_dir) {
        return in; /* an open or looked-up inode keeps its kind until forgotten */
    }
    bool local_changes = in->local_only || in->open_count > 0 || in->pending_upload;
    if (!local_changes) {
        in->size = size;
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
        if (mtime) {
            in->mtime = in->ctime = in->atime = mtime;
            in->mtime_ns = 0;
        }
        if (meta)
            apply_meta(fs, in, meta);
    }
    in->attr_expires = mono_now() + fs->o.attr_timeout;
    return in;
}

/* ---- the negative-lookup cache (fs->lock held) ---- */

static void negative_forget(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    pfs_negcache_forget(fs->negatives, parent, name);
}

static bool negative_known(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    return pfs_negcache_known(fs->negatives, parent, name, mono_now());
}

/* The kernel asks again for O_EXCL creates even when it cached the answer. */
static void negative_add(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    if (fs->o.negative_timeout > 0)
        pfs_negcache_add(fs->negatives, parent, name, mono_now() + fs->o.negative_timeout);
}

/* ---- directory listings (fs->lock held) ---- */

static bool listing_fresh(const struct inode *dir)
{
    return dir->listing && dir->listing->expires > mono_now();
}

/* ---- talking to the store (no lock held) ---- */

struct probe {
    bool file, dir;
    uint64_t size;
    int64_t mtime;
    char etag[80];
    bool meta_fetched;
    struct pfs_objmeta meta;
};

/* The metadata of key (a file, or "dir/" for a directory's marker) by HEAD.
 * A missing marker is not an error: the directory is implicit. */
static int head_meta(struct pfs_fs *fs, struct pfs_objmeta *out, uint64_t *size_out,
                     const char *key, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    struct pfs_object_info info;
    if (pfs_client_head(fs->client, &info, key, st) != 0)
        return pfs_status_errno(st) == ENOENT ? 1 : -1;
    pfs_meta_parse(out, info.meta, info.n_meta);
    if (size_out)
        *size_out = info.size;
    if (!out->has_mtime && info.mtime) {
        out->mtime = info.mtime;
        out->has_mtime = true;
    }
    pfs_object_info_cleanup(&info);
    return 0;
}

/* One LIST answers "file, directory or nothing" for parent_key+name: the key
 * itself sorts first, then siblings that extend the name with a byte below
 * '/', then the prefix name + "/". Stops as soon as the listing passes it. */
struct probe_walk {
    struct pfs_fs *fs;
    struct probe *out;
    const char *key, *as_dir;
};

static int probe_page(void *ctx, const struct pfs_list_page *page)
{
    struct probe_walk *w = ctx;
    bool passed = false;
    for (size_t i = 0; i < page->n_entries; i++) {
        const struct pfs_list_entry *e = &page->entries[i];
        if (strcmp(e->key, w->key) == 0) {
            w->out->file = true;
            w->out->size = e->size;
            w->out->mtime = e->mtime;
            snprintf(w->out->etag, sizeof(w->out->etag), "%s", e->etag);
            if (w->fs->o.listing_has_meta) {
                pfs_meta_parse(&w->out->meta, e->meta, e->n_meta);
                w->out->meta_fetched = true;
            }
        } else if (strcmp(e->key, w->as_dir) > 0) {
            passed = true;
        }
    }
    for (size_t i = 0; i < page->n_prefixes; i++) {
        int c = strcmp(page->prefixes[i], w->as_dir);
        if (c == 0)
            w->out->dir = true;
        else if (c > 0)
            passed = true;
    }
    return passed || w->out->dir;
}

/* One LIST answers "file, directory or nothing" for parent_key+name: the key
 * itself sorts first, then siblings that extend the name with a byte below
 * '/', then the prefix name + "/". Stops as soon as the listing passes it. */
static int probe_name(struct pfs_fs *fs, struct probe *out, const char *parent_key,
                      const char *name, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    char *key = child_key(parent_key, name, false), *as_dir = child_key(parent_key, name, true);
    if (!key || !as_dir) {
        free(key);
        free(as_dir);
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    struct pfs_list_params lp = {
        .prefix = key, .delimiter = "/", .max_keys = 1000, .fetch_meta = true};
    struct probe_walk w = {fs, out, key, as_dir};
    int rc = pfs_client_list_each(fs->client, &lp, probe_page, &w, st);
    if (out->dir)
        out->meta_fetched = false; /* the file's metadata is not the directory's */
    /* Attributes a backup tool set live in metadata the listing lacks. */
    if (rc == 0 && fs->o.head_metadata && (out->dir || out->file) && !out->meta_fetched) {
        int hrc = head_meta(fs, &out->meta, NULL, out->dir ? as_dir : key, st);
        if (hrc < 0)
            rc = -1;
        out->meta_fetched = hrc >= 0;
    }
    free(key);
    free(as_dir);
    return rc;
}

struct head_job {
    struct pfs_fs *fs;
    struct pfs_dentry *d;
    char *key;
    int rc;
    struct pfs_status st;
};

static void head_task(void *arg)
{
    struct head_job *j = arg;
    j->rc = head_meta(j->fs, &j->d->meta, NULL, j->key, &j->st);
    j->d->meta_fetched = j->rc >= 0;
}

/* Fills every entry's metadata with HEADs, many in flight on the pool: an S3
 * listing carries sizes and times but not the modes and times a backup tool
 * set. */
static int head_listing(struct pfs_fs *fs, struct pfs_listing *l, const char *dir_key,
                        struct pfs_status *st)
{
    struct head_job *jobs = calloc(l->n ? l->n : 1, sizeof(*jobs));
    if (!jobs) {
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->e[i].meta_fetched)
            continue;
        struct head_job *j = &jobs[n++];
        j->fs = fs;
        j->d = &l->e[i];
        j->key = child_key(dir_key, l->e[i].name, l->e[i].is_dir);
        if (!j->key || pfs_pool_submit(fs->pool, &g, head_task, j) != 0)
            j->rc = -1;
    }
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].rc < 0 && rc == 0) {
            *st = jobs[i].st;
            if (!jobs[i].key)
                st->error = -ENOMEM;
            rc = -1;
        }
        free(jobs[i].key);
    }
    free(jobs);
    return rc;
}

/* The whole listing of a directory, every page. */
struct dir_walk {
    struct pfs_fs *fs;
    struct pfs_listing *l;
    const char *dir_key;
    size_t plen;
    unsigned pages, max_pages;
};

static int dir_page(void *ctx, const struct pfs_list_page *page)
{
    struct dir_walk *w = ctx;
    struct pfs_fs *fs = w->fs;
    for (size_t i = 0; i < page->n_entries; i++) {
        const struct pfs_list_entry *e = &page->entries[i];
        const char *name = e->key + w->plen;
        if (strncmp(e->key, w->dir_key, w->plen) != 0 || *name == '\0')
            continue; /* the directory's own marker */
        if (!showable(name)) {
            log_hidden_once(fs, e->key);
            continue;
        }
        /* A name that is both a file and a directory shows as the directory
         * (its files stay reachable); the prefix comes below. */
        pfs_listing_put(w->l, name, false, e->size, e->mtime);
        struct pfs_dentry *d = pfs_listing_find(w->l, name);
        if (d)
            snprintf(d->etag, sizeof(d->etag), "%s", e->etag);
        if (d && fs->o.listing_has_meta) {
            pfs_meta_parse(&d->meta, e->meta, e->n_meta);
            d->meta_fetched = true;
        }
    }
    for (size_t i = 0; i < page->n_prefixes; i++) {
        const char *p = page->prefixes[i];
        if (strncmp(p, w->dir_key, w->plen) != 0)
            continue;
        size_t n = strlen(p + w->plen);
        char *name = strndup(p + w->plen, n ? n - 1 : 0);
        if (!name)
            return -ENOMEM;
        if (showable(name)) {
            if (pfs_listing_find(w->l, name))
                PFS_INFO("'%s%s' is both a file and a directory: showing the directory", w->dir_key,
                         name);
            pfs_listing_put(w->l, name, true, 0, 0);
        } else {
            log_hidden_once(fs, p);
        }
        free(name);
    }
    if (page->truncated && w->max_pages && ++w->pages >= w->max_pages)
        return -E2BIG;
    return 0;
}

/* The whole listing of a directory, every page (max_pages 0), or -E2BIG when
 * it has more pages than max_pages. */
static int list_dir(struct pfs_fs *fs, struct pfs_listing **out, const char *dir_key,
                    unsigned max_pages, struct pfs_status *st)
{
    *out = NULL;
    struct pfs_listing *l = pfs_listing_new();
    if (!l) {
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    struct pfs_list_params lp = {
        .prefix = dir_key, .delimiter = "/", .max_keys = 1000, .fetch_meta = true};
    struct dir_walk w = {fs, l, dir_key, strlen(dir_key), 0, max_pages};
    int rc = pfs_client_list_each(fs->client, &lp, dir_page, &w, st);
    if (rc != 0 && st->error == -E2BIG) {
        pfs_listing_free(l);
        return -E2BIG;
    }
    if (rc == 0 && fs->o.head_metadata)
        rc = head_listing(fs, l, dir_key, st);
    if (rc) {
        pfs_listing_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* ---- lifecycle ---- */

static void *retry_loop(void *arg);
static void *uploader_loop(void *arg);

/* Recovery's questions (recovery.h). A key is busy while a file here holds
 * local changes for it: its upload, not the journal's older copy, wins. */
static bool key_busy(void *ctx, const char *key)
{
    struct pfs_fs *fs = ctx;
    bool busy = false;
    pthread_mutex_lock(&fs->lock);
    for (size_t b = 0; b < INO_BUCKETS && !busy; b++)
        for (struct inode *i = fs->by_ino[b]; i && !busy; i = i->next_by_ino)
            busy = !i->unlinked && (i->dirty || i->pending_upload || i->local_only) &&
                   strcmp(i->key, key) == 0;
    pthread_mutex_unlock(&fs->lock);
    return busy;
}

/* Recovery stored or deleted key: cached listings of its directory and the
 * inode's attributes are stale. */
static void key_changed(void *ctx, const char *key)
{
    struct pfs_fs *fs = ctx;
    const char *slash = strrchr(key, '/');
    size_t dir_len = slash ? (size_t)(slash - key) + 1 : 0;
    pthread_mutex_lock(&fs->lock);
    for (size_t b = 0; b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino) {
            if (i->is_dir && strlen(i->key) == dir_len && strncmp(i->key, key, dir_len) == 0) {
                if (i->listing)
                    i->listing->expires = 0;
                negative_forget(fs, i->ino, key + dir_len);
            }
            if (!i->is_dir && strcmp(i->key, key) == 0)
                i->attr_expires = 0;
        }
    pthread_mutex_unlock(&fs->lock);
}

static void account_recovered(void *ctx, int64_t delta)
{
    struct pfs_fs *fs = ctx;
    pthread_mutex_lock(&fs->lock);
    fs->staged_total = (uint64_t)((int64_t)fs->staged_total + delta);
    pthread_mutex_unlock(&fs->lock);
}

int pfs_fs_new(struct pfs_fs **out, struct pfs_client *client, struct pfs_pool *pool,
               const char *prefix, const struct pfs_fs_opts *opts)
{
    *out = NULL;
    struct pfs_fs *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return -ENOMEM;
    fs->client = client;
    fs->pool = pool;
    fs->o = *opts;
    if (!fs->o.part_size)
        fs->o.part_size = 8ull << 20;
    if (!fs->o.multipart_threshold)
        fs->o.multipart_threshold = 8ull << 20;
    if (!fs->o.memory_limit)
        fs->o.memory_limit = 512ull << 20;
    if (!fs->o.retry_interval_s)
        fs->o.retry_interval_s = 30;
    fs->cache_dir = strdup(opts->cache_dir ? opts->cache_dir : "/tmp");
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->retry_wake, NULL);
    pthread_cond_init(&fs->queue_wake, NULL);
    fs->next_ino = PFS_ROOT_INO;
    /* The root's key is the prefix with one trailing '/', or "" for the bucket. */
    char root_key[PFS_KEY_MAX + 2] = "";
    if (prefix && *prefix) {
        size_t n = strlen(prefix);
        while (n && prefix[n - 1] == '/')
            n--;
        if (n > PFS_KEY_MAX) {
            pfs_fs_free(fs);
            return -ENAMETOOLONG;
        }
        snprintf(root_key, sizeof(root_key), "%.*s/", (int)n, prefix);
        if (n == 0)
            root_key[0] = '\0';
    }
    int rc = pfs_budget_new(&fs->budget, fs->o.memory_limit);
    fs->negatives = pfs_negcache_new(NEGATIVE_MAX);
    if (rc == 0 && !fs->negatives)
        rc = -ENOMEM;
    struct inode *root = rc == 0 && fs->cache_dir ? new_inode(fs, 0, "", root_key, true) : NULL;
    if (!root) {
        pfs_fs_free(fs);
        return rc ? rc : -ENOMEM;
    }
    root->nlookup = 1;
    if (mkdir(fs->cache_dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        PFS_ERROR("cache directory %s: %s", fs->cache_dir, strerror(errno));
        pfs_fs_free(fs);
        return rc;
    }
    if (access(fs->cache_dir, W_OK | X_OK) != 0) {
        rc = -errno;
        PFS_ERROR("cache directory %s is not writable: %s", fs->cache_dir, strerror(errno));
        pfs_fs_free(fs);
        return rc;
    }
    fs->bucket = strdup(opts->bucket ? opts->bucket : "");
    fs->prefix = strdup(root_key);
    if (!fs->bucket || !fs->prefix) {
        pfs_fs_free(fs);
        return -ENOMEM;
    }
    if ((rc = pfs_journal_open(&fs->journal, fs->cache_dir)) != 0) {
        pfs_fs_free(fs);
        return rc;
    }
    if (pthread_create(&fs->retry_thread, NULL, retry_loop, fs) == 0)
        fs->retry_started = true;
    for (unsigned i = 0; fs->o.upload_async && i < ASYNC_UPLOADERS; i++)
        if (pthread_create(&fs->uploaders[fs->n_uploaders], NULL, uploader_loop, fs) == 0)
            fs->n_uploaders++;
    if (fs->o.upload_async && fs->n_uploaders == 0)
        fs->o.upload_async = false; /* no thread to upload: close stores, as with sync */
    struct pfs_recovery_opts ro = {
        .bucket = fs->bucket,
        .prefix = fs->prefix,
        .part_size = fs->o.part_size,
        .multipart_threshold = fs->o.multipart_threshold,
        .retry_interval_s = fs->o.retry_interval_s,
        .key_busy = key_busy,
        .changed = key_changed,
        .account = account_recovered,
        .ctx = fs,
    };
    if (!fs->o.read_only && (rc = pfs_recovery_start(&fs->recovery, client, fs->journal, &ro)))
        PFS_ERROR("cannot recover the journal in %s: %s; its files stay there", fs->cache_dir,
                  strerror(-rc));
    *out = fs;
    return 0;
}

/* What to store as the object's metadata (fs->lock held). */
static void inode_meta(const struct inode *in, struct pfs_objmeta *m)
{
    memset(m, 0, sizeof(*m));
    m->has_mode = m->has_uid = m->has_gid = m->has_mtime = true;
    m->mode = (in->is_dir ? S_IFDIR : in->is_link ? S_IFLNK : S_IFREG) | in->perm;
    m->uid = in->uid;
    m->gid = in->gid;
    m->mtime = in->mtime;
    m->mtime_ns = in->mtime_ns;
}

static void now_into(struct inode *in)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    in->mtime = in->ctime = ts.tv_sec;
    in->mtime_ns = (uint32_t)ts.tv_nsec;
}

/* Takes in->io once no upload of in is in flight (see struct inode). */
static void io_lock(struct inode *in)
{
    pthread_mutex_lock(&in->io);
    while (in->uploading)
        pthread_cond_wait(&in->io_idle, &in->io);
}

/* ---- streaming uploads (inode io lock held) ---- */

/* The file stops being a candidate: an upload streamed so far is aborted
 * (its content goes up whole at close instead). */
static void stream_stop(struct inode *in)
{
    in->stream_ok = false;
    if (in->stream) {
        pfs_stream_abandon(in->stream);
        in->stream = NULL;
        free(in->upload_id);
        in->upload_id = NULL;
        in->upload_part_size = 0;
    }
}

/* ---- the journal (inode io lock held) ---- */

/* Writes in's record in state `state` (error: the last upload failure, or
 * NULL). A record that is not OPEN is durable, and so is its data first when
 * durable is set: CLOSED is the promise that the bytes survive a crash.
 * Returns 0 or -errno (logged by the journal). */
static int journal_put(struct pfs_fs *fs, struct inode *in, enum pfs_jstate state,
                       const char *error, bool durable)
{
    if (!in->jid[0])
        return 0;
    struct pfs_jrec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.id, in->jid, sizeof(r.id));
    pthread_mutex_lock(&fs->lock);
    r.key = strdup(in->key);
    r.size = in->size;
    r.mode = S_IFREG | in->perm;
    r.uid = in->uid;
    r.gid = in->gid;
    r.mtime = in->mtime;
    r.mtime_ns = in->mtime_ns;
    snprintf(r.base_etag, sizeof(r.base_etag), "%s", in->base_etag);
    pthread_mutex_unlock(&fs->lock);
    if (!r.key)
        return -ENOMEM;
    r.state = state;
    r.bucket = fs->bucket;
    r.prefix = fs->prefix;
    r.upload_id = in->upload_id;
    r.part_size = in->upload_part_size;
    r.error = (char *)error;
    r.attempts = in->attempts;
    r.created = in->jcreated;
    int fd = in->stage_fd >= 0 ? in->stage_fd : in->jfd;
    int rc = pfs_journal_write(fs->journal, &r, durable ? fd : -1, durable);
    in->jcreated = r.created;
    if (rc == 0)
        in->jstate = state;
    free(r.key);
    return rc;
}

/* Forgets in's journal entry (its files go; an open data fd stays usable). */
static void journal_drop(struct pfs_fs *fs, struct inode *in)
{
    if (!in->jid[0])
        return;
    pfs_journal_remove(fs->journal, in->jid);
    in->jid[0] = '\0';
    in->attempts = 0;
    in->jcreated = 0;
    if (in->jfd >= 0) {
        close(in->jfd);
        in->jfd = -1;
    }
}

/* The staged content is about to change: a record that promised recovery an
 * upload of the old content says OPEN again (durably: the data file no
 * longer matches it). */
static void journal_reopen(struct pfs_fs *fs, struct inode *in)
{
    if (in->jid[0] && (in->jstate == PFS_J_CLOSED || in->jstate == PFS_J_FAILED))
        journal_put(fs, in, PFS_J_OPEN, NULL, true);
}

/* ---- staging and uploads (inode io lock held) ---- */

static int stage_open(struct pfs_fs *fs, struct inode *in)
{
    if (in->stage_fd >= 0)
        return 0;
    if (in->jfd >= 0) {
        /* A deferred delete's entry: its (empty) data file stages the
         * content of the unlinked file; the record keeps saying DELETE. */
        in->stage_fd = in->jfd;
        in->jfd = -1;
    } else {
        int fd;
        int rc = pfs_journal_create(fs->journal, in->jid, &fd);
        if (rc) {
            PFS_ERROR("cannot create a staging file in %s/journal: %s", fs->cache_dir,
                      strerror(-rc));
            in->jid[0] = '\0';
            return rc;
        }
        in->stage_fd = fd;
        in->jstate = PFS_J_OPEN;
        /* Not durable: if it is lost, the data still goes to lost+found. */
        journal_put(fs, in, PFS_J_OPEN, NULL, false);
    }
    char path[PATH_MAX];
    pfs_journal_data_path(fs->journal, in->jid, path, sizeof(path));
    free(in->stage_path);
    in->stage_path = strdup(path);
    return 0;
}

static void stage_discard(struct pfs_fs *fs, struct inode *in)
{
    stream_stop(in);
    if (in->jstate == PFS_J_DELETE && in->stage_fd >= 0) {
        /* The deferred delete still needs its entry: keep the (emptied)
         * data file as its lock. */
        if (ftruncate(in->stage_fd, 0) != 0)
            PFS_WARN("cannot empty %s: %s", in->stage_path, strerror(errno));
        in->jfd = in->stage_fd;
        in->stage_fd = -1;
    } else {
        journal_drop(fs, in);
    }
    if (in->stage_fd >= 0) {
        close(in->stage_fd);
        in->stage_fd = -1;
    }
    free(in->stage_path);
    in->stage_path = NULL;
    pthread_mutex_lock(&fs->lock);
    fs->staged_total -= in->staged_bytes;
    in->staged_bytes = 0;
    pthread_mutex_unlock(&fs->lock);
    in->dirty = false;
}

/* Accounts staged bytes against cache_size. */
static int stage_reserve(struct pfs_fs *fs, struct inode *in, uint64_t new_size)
{
    pthread_mutex_lock(&fs->lock);
    uint64_t total = fs->staged_total - in->staged_bytes + new_size;
    if (fs->o.cache_size && new_size > in->staged_bytes && total > fs->o.cache_size) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOSPC;
    }
    fs->staged_total = total;
    in->staged_bytes = new_size;
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

/* Makes the staging file hold the object's content (downloading it), so
 * random writes, appends and truncation work on a complete copy. */
static int ensure_staged(struct pfs_fs *fs, struct inode *in, bool truncate)
{
    if (in->stage_fd >= 0) {
        if (truncate) {
            journal_reopen(fs, in);
            stream_stop(in);
            if (ftruncate(in->stage_fd, 0) != 0)
                return -errno;
            in->stream_ok = true;
        }
        return 0;
    }
    pthread_mutex_lock(&fs->lock);
    uint64_t size = in->size;
    bool fetch = !truncate && !in->local_only && size > 0;
    /* The version this copy replaces, for recovery's conflict check. */
    snprintf(in->base_etag, sizeof(in->base_etag), "%s", in->local_only ? "" : in->etag);
    pthread_mutex_unlock(&fs->lock);
    int rc = stage_reserve(fs, in, truncate ? 0 : size);
    if (rc == 0)
        rc = stage_open(fs, in);
    if (rc == 0 && truncate)
        in->stream_ok = true;
    if (rc == 0 && fetch) {
        uint64_t got = 0;
        char etag[80] = "";
        struct pfs_status st;
        if (pfs_client_get_to_fd(fs->client, in->stage_fd, 0, 0, UINT64_MAX, &got, etag, in->key,
                                 &st) != 0) {
            rc = status_err(&st);
        } else {
            pthread_mutex_lock(&fs->lock);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", etag);
            snprintf(in->etag, sizeof(in->etag), "%s", etag);
            /* Someone else replaced the object: stage what it is now. */
            in->size = got;
            pthread_mutex_unlock(&fs->lock);
        }
        if (rc)
            stage_discard(fs, in);
    }
    return rc;
}

/* Was parent/name unlinked while open, its DELETE deferred to the last
 * close? The object is still in the store, but the name is gone. fs->lock
 * held. */
static bool delete_pending(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    for (size_t b = 0; fs->deferred_deletes && b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino)
            if (i->delete_on_release && i->parent == parent && strcmp(i->name, name) == 0)
                return true;
    return false;
}

/* Another file now owns key: a deferred DELETE of an unlinked inode with the
 * same key would remove the new object. fs->lock held. */
static void cancel_deferred_deletes(struct pfs_fs *fs, const char *key, const struct inode *except)
{
    for (size_t b = 0; fs->deferred_deletes && b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino)
            if (i != except && i->delete_on_release && strcmp(i->key, key) == 0) {
                i->delete_on_release = false;
                fs->deferred_deletes--;
            }
}

/* A multipart upload began: journal its id, so that recovery can abort it
 * if the daemon dies before it completes. Runs on the uploading thread, which
 * is uploading in (it let go of in->io for the transfer). */
struct upload_note {
    struct pfs_fs *fs;
    struct inode *in;
};

static void note_mpu(void *ctx, const char *upload_id, uint64_t part_size)
{
    struct upload_note *u = ctx;
    /* The uploading thread let go of io for the transfer; nothing else
     * writes these fields while `uploading` is set. */
    pthread_mutex_lock(&u->in->io);
    free(u->in->upload_id);
    u->in->upload_id = strdup(upload_id);
    u->in->upload_part_size = part_size;
    if (u->in->upload_id)
        journal_put(u->fs, u->in, u->in->jstate, NULL, false);
    pthread_mutex_unlock(&u->in->io);
}

/* Uploads the staged content if it is dirty. Returns 0 or the failure's
 * errno (the staged data is kept; a transient failure is retried later, a
 * permanent one only when the file changes or is flushed again). */
static int upload_locked(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    bool skip = !in->dirty || in->unlinked;
    uint64_t size = in->size;
    struct pfs_objmeta m;
    inode_meta(in, &m);
    char *key = strdup(in->key);
    if (!skip && key)
        cancel_deferred_deletes(fs, key, in);
    pthread_mutex_unlock(&fs->lock);
    if (skip || !key) {
        free(key);
        return skip ? 0 : -ENOMEM;
    }
    struct pfs_meta_out mo;
    size_t n_meta = pfs_meta_format(&mo, &m);
    struct pfs_status st;
    struct upload_note note = {fs, in};
    struct pfs_upload_report report = {.mpu_started = note_mpu, .ctx = &note};
    /* No lock across the transfer: io_lock callers wait for it to end. */
    in->uploading = true;
    int fd = in->stage_fd;
    struct pfs_stream *stream = in->stream; /* parts sent while it was written */
    in->stream = NULL;
    in->stream_ok = false;
    pthread_mutex_unlock(&in->io);
    int rc = -1;
    if (stream) {
        rc = pfs_stream_finish(stream, size, report.etag, &st);
        if (rc != 0) {
            char what[600];
            pfs_status_describe(&st, what, sizeof(what));
            PFS_WARN("streamed upload of %s failed (%s); uploading it whole", key, what);
        }
    }
    if (rc != 0)
        rc = pfs_client_upload_fd(fs->client, key, fd, 0, size, mo.kv, n_meta, fs->o.part_size,
                                  fs->o.multipart_threshold, &report, &st);
    pthread_mutex_lock(&in->io);
    in->uploading = false;
    pthread_cond_broadcast(&in->io_idle);
    free(key);
    /* The multipart upload (if any) is completed or aborted by now. */
    bool had_mpu = in->upload_id != NULL;
    free(in->upload_id);
    in->upload_id = NULL;
    in->upload_part_size = 0;
    if (rc == 0) {
        in->attempts = 0;
        pthread_mutex_lock(&fs->lock);
        snprintf(in->etag, sizeof(in->etag), "%s", report.etag);
        snprintf(in->base_etag, sizeof(in->base_etag), "%s", report.etag);
        pthread_mutex_unlock(&fs->lock);
        /* Stored: a crash from here on must not upload this copy again. */
        if (in->jstate != PFS_J_OPEN || had_mpu)
            journal_put(fs, in, PFS_J_OPEN, NULL, false);
    }
    pthread_mutex_lock(&fs->lock);
    if (rc == 0) {
        bool was_pending = in->pending_upload && in->upload_err != 0; /* failed before */
        in->dirty = false;
        in->local_only = false;
        in->pending_upload = false;
        in->upload_permanent = false;
        in->trunc_unwritten = false;
        in->attr_expires = mono_now() + fs->o.attr_timeout;
        struct inode *parent = find_ino(fs, in->parent);
        if (parent && !in->unlinked)
            pfs_listing_put(parent->listing, in->name, false, in->size, in->mtime);
        pthread_mutex_unlock(&fs->lock);
        if (was_pending)
            PFS_WARN("upload of %s succeeded on retry", in->key);
        return 0;
    }
    int err = status_err(&st);
    bool permanent = pfs_status_permanent(&st);
    bool first = !in->pending_upload || in->upload_err != err;
    in->pending_upload = true;
    in->upload_permanent = permanent;
    in->upload_err = err;
    pthread_mutex_unlock(&fs->lock);
    char what[600];
    pfs_status_describe(&st, what, sizeof(what));
    /* Kept for a retry: the data and a durable record say so, so that a
     * crash or an unmount with the store down loses nothing. */
    in->attempts++;
    journal_put(fs, in, permanent ? PFS_J_FAILED : PFS_J_CLOSED, what, true);
    if (first)
        PFS_ERROR("upload of %s failed: %s; its data is kept in %s%s", in->key, what,
                  in->stage_path ? in->stage_path : "(memory)",
                  permanent ? " (not retried: the store refuses it)"
                            : " and the upload will be retried");
    if (!permanent)
        pthread_cond_signal(&fs->retry_wake);
    return err;
}

/* upload=async: the content is acknowledged once it is durable here (data
 * and a CLOSED record fsynced); an uploader thread stores it later. When the
 * journal cannot promise that, the upload happens now, as with sync. */
static int queue_upload(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    bool skip = !in->dirty || in->unlinked;
    pthread_mutex_unlock(&fs->lock);
    if (skip)
        return 0;
    if (!in->jid[0] || in->stage_fd < 0 || journal_put(fs, in, PFS_J_CLOSED, NULL, true) != 0)
        return upload_locked(fs, in);
    pthread_mutex_lock(&fs->lock);
    in->pending_upload = true; /* local content that the store lacks */
    if (!in->queued) {
        in->queued = true;
        in->next_queued = NULL;
        if (fs->queue_tail)
            fs->queue_tail->next_queued = in;
        else
            fs->queue_head = in;
        fs->queue_tail = in;
        pthread_cond_signal(&fs->queue_wake);
    }
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

/* close, flush and truncation of an unopened file: store or queue. */
static int store_or_queue(struct pfs_fs *fs, struct inode *in)
{
    return fs->o.upload_async ? queue_upload(fs, in) : upload_locked(fs, in);
}

static void *uploader_loop(void *arg)
{
    struct pfs_fs *fs = arg;
    pthread_mutex_lock(&fs->lock);
    for (;;) {
        while (!fs->queue_head && !fs->stopping)
            pthread_cond_wait(&fs->queue_wake, &fs->lock);
        struct inode *in = fs->queue_head;
        if (!in)
            break; /* stopping, and the queue is drained */
        fs->queue_head = in->next_queued;
        if (!fs->queue_head)
            fs->queue_tail = NULL;
        in->queued = false;
        in->open_count++; /* pinned while the lock is dropped */
        pthread_mutex_unlock(&fs->lock);
        io_lock(in);
        /* Written again since it was queued (the record says OPEN): the
         * next close queues it again; half-written content is not stored. */
        if (in->jstate == PFS_J_CLOSED && in->dirty) {
            upload_locked(fs, in);
        }
        pthread_mutex_lock(&fs->lock);
        bool unused = in->open_count == 1;
        pthread_mutex_unlock(&fs->lock);
        if (unused && !in->dirty && in->stage_fd >= 0)
            stage_discard(fs, in);
        pthread_mutex_unlock(&in->io);
        pthread_mutex_lock(&fs->lock);
        in->open_count--;
        maybe_drop(fs, in);
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

static void *retry_loop(void *arg)
{
    struct pfs_fs *fs = arg;
    pthread_mutex_lock(&fs->lock);
    while (!fs->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += fs->o.retry_interval_s;
        pthread_cond_timedwait(&fs->retry_wake, &fs->lock, &until);
        if (fs->stopping)
            break;
        /* Retry one pending inode at a time, without the table lock. */
        for (size_t b = 0; b < INO_BUCKETS && !fs->stopping; b++) {
            for (struct inode *in = fs->by_ino[b]; in; in = in->next_by_ino) {
                if (!in->pending_upload || in->upload_permanent || in->open_count > 0 || in->queued)
                    continue;
                in->open_count++; /* pins it while the lock is dropped */
                pthread_mutex_unlock(&fs->lock);
                io_lock(in);
                int rc = upload_locked(fs, in);
                if (rc == 0 && !in->dirty)
                    stage_discard(fs, in);
                pthread_mutex_unlock(&in->io);
                pthread_mutex_lock(&fs->lock);
                in->open_count--;
                /* The bucket chain may have changed: restart it, dropping
                 * this inode if nothing refers to it any more. */
                maybe_drop(fs, in);
                break;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

void pfs_fs_free(struct pfs_fs *fs)
{
    if (!fs)
        return;
    pfs_recovery_stop(fs->recovery); /* what it has not done stays in the journal */
    fs->recovery = NULL;
    pthread_mutex_lock(&fs->lock);
    fs->stopping = true;
    pthread_cond_broadcast(&fs->queue_wake);
    pthread_cond_signal(&fs->retry_wake);
    pthread_mutex_unlock(&fs->lock);
    /* Unmounting waits for the queued uploads: the uploaders drain the
     * queue before they stop. */
    for (unsigned i = 0; i < fs->n_uploaders; i++)
        pthread_join(fs->uploaders[i], NULL);
    if (fs->retry_started)
        pthread_join(fs->retry_thread, NULL);
    for (size_t b = 0; b < INO_BUCKETS; b++) {
        while (fs->by_ino[b]) {
            struct inode *in = fs->by_ino[b];
            fs->by_ino[b] = in->next_by_ino;
            bool keep = false;
            if (in->dirty && !in->unlinked && in->stage_fd >= 0) {
                /* Last chance: unmounting waits for every pending upload. */
                if (upload_locked(fs, in) != 0) {
                    PFS_ERROR("upload of %s failed at unmount; its data is kept in %s and "
                              "uploaded by the next mount with this cache_dir",
                              in->key, in->stage_path);
                    keep = true;
                }
            }
            if (in->delete_on_release) {
                /* Still open at unmount: the deferred DELETE happens now. */
                struct pfs_status st;
                if (pfs_client_delete(fs->client, in->key, &st) != 0) {
                    PFS_ERROR("deferred delete of %s failed at unmount; the next mount with this "
                              "cache_dir tries again",
                              in->key);
                    keep = true;
                }
            }
            if (!keep)
                journal_drop(fs, in);
            free_inode(in);
        }
    }
    pfs_journal_free(fs->journal);
    free(fs->bucket);
    free(fs->prefix);
    pfs_negcache_free(fs->negatives);
    for (size_t i = 0; i < fs->n_hidden; i++)
        free(fs->hidden[i]);
    free(fs->hidden);
    pfs_budget_free(fs->budget);
    pthread_cond_destroy(&fs->retry_wake);
    pthread_cond_destroy(&fs->queue_wake);
    pthread_mutex_destroy(&fs->lock);
    free(fs->cache_dir);
    free(fs);
}

/* ---- names ---- */

static int check_new_name(struct pfs_fs *fs, const struct inode *parent, const char *name,
                          bool is_dir)
{
    if (fs->o.read_only)
        return -EROFS;
    if (strlen(name) > PFS_NAME_MAX)
        return -ENAMETOOLONG;
    if (strlen(parent->key) + strlen(name) + (is_dir ? 1 : 0) > PFS_KEY_MAX)
        return -ENAMETOOLONG;
    if (!showable(name))
        return -EINVAL;
    return 0;
}

/* Children being written here, which the store does not list yet. fs->lock held. */
static void add_local_children(struct pfs_fs *fs, struct pfs_listing *l, uint64_t dir_ino)
{
    for (size_t b = 0; b < INO_BUCKETS; b++)
        for (struct inode *c = fs->by_ino[b]; c; c = c->next_by_ino)
            if (c->parent == dir_ino && !c->unlinked && (c->local_only || c->pending_upload))
                pfs_listing_put(l, c->name, c->is_dir, c->size, c->mtime);
}

#define WALK_MISSES 4     /* lookups that asked the store ... */
#define WALK_WINDOW 1.0   /* ... within this many seconds */
#define WALK_MAX_PAGES 10 /* list at most 10,000 entries to answer them */

/* Counts a lookup that must ask the store; true when enough came in quick
 * succession that listing the directory once is cheaper. fs->lock held. */
static bool note_probe(struct pfs_fs *fs, struct inode *dir, double now)
{
    if (dir->too_big_until > now || fs->o.dir_timeout <= 0)
        return false;
    if (now - dir->probe_window > WALK_WINDOW) {
        dir->probe_window = now;
        dir->probe_misses = 0;
    }
    return ++dir->probe_misses > WALK_MISSES;
}

/* Lists a directory for its lookups. Returns 0 when the listing is in place. */
static int list_parent(struct pfs_fs *fs, uint64_t dir_ino, const char *dir_key)
{
    struct pfs_listing *l = NULL;
    struct pfs_status st;
    int rc = list_dir(fs, &l, dir_key, WALK_MAX_PAGES, &st);
    pthread_mutex_lock(&fs->lock);
    struct inode *dir = find_ino(fs, dir_ino);
    if (rc == 0 && dir) {
        l->expires = mono_now() + fs->o.dir_timeout;
        add_local_children(fs, l, dir_ino);
        pfs_listing_free(dir->listing);
        dir->listing = l;
        l = NULL;
        dir->probe_misses = 0;
    } else if (dir) {
        if (rc == -E2BIG)
            dir->too_big_until = mono_now() + 60;
        rc = -1;
    }
    pthread_mutex_unlock(&fs->lock);
    pfs_listing_free(l);
    return rc ? -1 : 0;
}

int pfs_fs_lookup(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name)
{
    if (strlen(name) > PFS_NAME_MAX)
        return -ENAMETOOLONG;
    if (!showable(name))
        return -ENOENT;
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = find_ino(fs, parent_ino);
    if (!parent || !parent->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return parent ? -ENOTDIR : -ENOENT;
    }
    struct inode *in = find_child(fs, parent_ino, name);
    double now = mono_now();
    if (in && (in->attr_expires > now || in->local_only || in->open_count > 0 ||
               in->pending_upload || in->is_dir)) {
        in->nlookup++;
        fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    if (!in && delete_pending(fs, parent_ino, name)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    if (listing_fresh(parent)) {
        struct pfs_dentry *d = pfs_listing_find(parent->listing, name);
        int rc = -ENOENT;
        if (d) {
            in = upsert_child(fs, parent, name, d->is_dir, d->size, d->mtime, d->etag,
                              d->meta_fetched ? &d->meta : NULL);
            if (in) {
                in->nlookup++;
                fill_attr(fs, in, out);
                rc = 0;
            } else {
                rc = -ENOMEM;
            }
        }
        pthread_mutex_unlock(&fs->lock);
        return rc;
    }
    if (negative_known(fs, parent_ino, name)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    bool walk = note_probe(fs, parent, now);
    char *parent_key = strdup(parent->key);
    pthread_mutex_unlock(&fs->lock);
    if (!parent_key)
        return -ENOMEM;
    if (walk && list_parent(fs, parent_ino, parent_key) == 0) {
        free(parent_key);
        return pfs_fs_lookup(fs, out, parent_ino, name); /* now answered by the listing */
    }

    struct probe p;
    struct pfs_status st;
    int rc = probe_name(fs, &p, parent_key, name, &st);
    if (rc == 0 && p.file && p.dir)
        PFS_INFO("'%s%s' is both a file and a directory: showing the directory", parent_key, name);
    pthread_mutex_lock(&fs->lock);
    parent = find_ino(fs, parent_ino);
    if (rc != 0) {
        rc = status_err(&st);
    } else if (!parent) {
        rc = -ENOENT;
    } else {
        /* A local file created meanwhile wins over what the store said. */
        in = find_child(fs, parent_ino, name);
        if (in && (in->local_only || in->open_count > 0 || in->pending_upload)) {
            rc = 0;
        } else if (p.file && !p.dir && delete_pending(fs, parent_ino, name)) {
            rc = -ENOENT;
        } else if (p.dir || p.file) {
            in = upsert_child(fs, parent, name, p.dir, p.size, p.mtime, p.etag,
                              p.meta_fetched ? &p.meta : NULL);
            rc = in ? 0 : -ENOMEM;
        } else {
            if (in && !in->local_only) {
                /* Deleted in the store: the old inode loses its name. */
                in->unlinked = true;
                unhash_name(fs, in);
            }
            negative_add(fs, parent_ino, name);
            rc = -ENOENT;
        }
        if (rc == 0) {
            in->nlookup++;
            fill_attr(fs, in, out);
        }
    }
    pthread_mutex_unlock(&fs->lock);
    free(parent_key);
    return rc;
}

void pfs_fs_forget(struct pfs_fs *fs, uint64_t ino, uint64_t n)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_ino(fs, ino);
    if (in) {
        in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
        maybe_drop(fs, in);
    }
    pthread_mutex_unlock(&fs->lock);
}

int pfs_fs_getattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_ino(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    bool stale = !in->is_dir && !in->unlinked && !in->local_only && in->open_count == 0 &&
                 !in->pending_upload && in->attr_expires <= mono_now();
    if (!stale) {
        fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    struct inode *parent = find_ino(fs, in->parent);
    char *parent_key = parent ? strdup(parent->key) : NULL;
    char *name = strdup(in->name);
    pthread_mutex_unlock(&fs->lock);
    int rc = 0;
    struct probe p = {0};
    struct pfs_status st;
    if (!parent_key || !name)
        rc = -ENOMEM;
    else if (probe_name(fs, &p, parent_key, name, &st) != 0)
        rc = status_err(&st);
    pthread_mutex_lock(&fs->lock);
    in = find_ino(fs, ino);
    if (!in) {
        rc = -ENOENT;
    } else if (rc == 0) {
        if (p.file && !p.dir) {
            if (!in->local_only && in->open_count == 0 && !in->pending_upload) {
                in->size = p.size;
                snprintf(in->etag, sizeof(in->etag), "%s", p.etag);
                if (p.mtime) {
                    in->mtime = in->ctime = p.mtime;
                    in->mtime_ns = 0;
                }
                if (p.meta_fetched)
                    apply_meta(fs, in, &p.meta);
            }
            in->attr_expires = mono_now() + fs->o.attr_timeout;
        } else if (!in->local_only && !in->pending_upload && in->open_count == 0) {
            rc = -ENOENT; /* deleted (or replaced by a directory) in the store */
        }
        if (rc == 0)
            fill_attr(fs, in, out);
    }
    pthread_mutex_unlock(&fs->lock);
    free(parent_key);
    free(name);
    return rc;
}

/* ---- directories ---- */

int pfs_fs_opendir(struct pfs_fs *fs, uint64_t *dh_out, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *dir = find_ino(fs, ino);
    if (!dir || !dir->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return dir ? -ENOTDIR : -ENOENT;
    }
    dir->open_count++;
    bool fresh = listing_fresh(dir);
    char *key = strdup(dir->key);
    pthread_mutex_unlock(&fs->lock);
    if (!key) {
        pthread_mutex_lock(&fs->lock);
        dir->open_count--;
        pthread_mutex_unlock(&fs->lock);
        return -ENOMEM;
    }
    int rc = 0;
    struct pfs_listing *fetched = NULL;
    if (!fresh) {
        struct pfs_status st;
        if (list_dir(fs, &fetched, key, 0, &st) != 0)
            rc = status_err(&st);
    }
    free(key);
    struct dir_handle *h = rc == 0 ? calloc(1, sizeof(*h)) : NULL;
    pthread_mutex_lock(&fs->lock);
    if (rc == 0 && !h)
        rc = -ENOMEM;
    if (rc == 0 && fetched) {
        fetched->expires = mono_now() + fs->o.dir_timeout;
        add_local_children(fs, fetched, ino);
        pfs_listing_free(dir->listing);
        dir->listing = fetched;
        fetched = NULL;
    }
    if (rc == 0) {
        struct pfs_listing *l = dir->listing;
        h->dir = dir;
        h->e = calloc(l->n ? l->n : 1, sizeof(*h->e));
        for (size_t i = 0; h->e && i < l->n; i++) {
            h->e[i] = l->e[i];
            h->e[i].name = strdup(l->e[i].name);
            if (!h->e[i].name) {
                h->n = i;
                rc = -ENOMEM;
                break;
            }
            h->n = i + 1;
        }
        if (!h->e)
            rc = -ENOMEM;
    }
    if (rc != 0) {
        dir->open_count--;
        if (h) {
            for (size_t i = 0; i < h->n; i++)
                free(h->e[i].name);
            free(h->e);
            free(h);
        }
    }
    pthread_mutex_unlock(&fs->lock);
    pfs_listing_free(fetched);
    if (rc == 0)
        *dh_out = (uint64_t)(uintptr_t)h;
    return rc;
}

int pfs_fs_readdir(struct pfs_fs *fs, uint64_t dh, uint64_t offset, bool plus, pfs_fs_filler fill,
                   void *ctx)
{
    struct dir_handle *h = (struct dir_handle *)(uintptr_t)dh;
    pthread_mutex_lock(&fs->lock);
    struct inode *dir = h->dir;
    for (uint64_t i = offset; i < h->n + 2; i++) {
        struct pfs_attr a;
        const char *name;
        struct inode *in = NULL;
        if (i == 0) {
            name = ".";
            fill_attr(fs, dir, &a);
        } else if (i == 1) {
            name = "..";
            struct inode *p = find_ino(fs, dir->parent);
            fill_attr(fs, p ? p : dir, &a);
        } else {
            const struct pfs_dentry *d = &h->e[i - 2];
            name = d->name;
            if (!d->is_dir && !find_child(fs, dir->ino, d->name) &&
                delete_pending(fs, dir->ino, d->name))
                continue;
            in = upsert_child(fs, dir, d->name, d->is_dir, d->size, d->mtime, d->etag,
                              d->meta_fetched ? &d->meta : NULL);
            if (!in)
                continue;
            fill_attr(fs, in, &a);
        }
        if (fill(ctx, name, &a, i + 1) != 0)
            break;
        if (plus && in)
            in->nlookup++;
    }
    /* Entries seen only through readdir (no lookup reference) are not kept. */
    for (size_t i = 0; !plus && i < h->n; i++) {
        struct inode *in = find_child(fs, dir->ino, h->e[i].name);
        if (in)
            maybe_drop(fs, in);
    }
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

void pfs_fs_releasedir(struct pfs_fs *fs, uint64_t dh)
{
    struct dir_handle *h = (struct dir_handle *)(uintptr_t)dh;
    if (!h)
        return;
    pthread_mutex_lock(&fs->lock);
    h->dir->open_count--;
    pthread_mutex_unlock(&fs->lock);
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
    free(h);
}

/* Checks that parent/name can be created and returns its key (heap). */
static int new_child_key(struct pfs_fs *fs, char **key_out, uint64_t parent_ino, const char *name,
                         bool is_dir)
{
    *key_out = NULL;
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = find_ino(fs, parent_ino);
    int rc = parent ? check_new_name(fs, parent, name, is_dir) : -ENOENT;
    if (rc == 0 && find_child(fs, parent_ino, name))
        rc = -EEXIST;
    if (rc == 0 && !(*key_out = child_key(parent->key, name, is_dir)))
        rc = -ENOMEM;
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

/* The metadata of an object created now by this mount. */
static struct pfs_objmeta fresh_meta(const struct pfs_fs *fs, mode_t mode)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (struct pfs_objmeta){.has_mode = true,
                                .has_uid = true,
                                .has_gid = true,
                                .has_mtime = true,
                                .mode = mode,
                                .uid = fs->o.uid,
                                .gid = fs->o.gid,
                                .mtime = now.tv_sec,
                                .mtime_ns = (uint32_t)now.tv_nsec};
}

int pfs_fs_mkdir(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name,
                 mode_t mode)
{
    char *key;
    int rc = new_child_key(fs, &key, parent_ino, name, true);
    if (rc)
        return rc;
    struct inode *parent;
    struct pfs_status st;
    struct pfs_http_body empty = {.fd = -1};
    struct pfs_objmeta m = fresh_meta(fs, S_IFDIR | (mode & 07777 & ~fs->o.umask));
    struct pfs_meta_out mo;
    size_t n_meta = pfs_meta_format(&mo, &m);
    if (pfs_client_put(fs->client, key, &empty, mo.kv, n_meta, NULL, &st) != 0) {
        free(key);
        return status_err(&st);
    }
    pthread_mutex_lock(&fs->lock);
    parent = find_ino(fs, parent_ino);
    struct inode *in = parent ? find_child(fs, parent_ino, name) : NULL;
    if (!in && parent)
        in = new_inode(fs, parent_ino, name, key, true);
    if (!in) {
        rc = parent ? -ENOMEM : -ENOENT;
    } else {
        apply_meta(fs, in, &m);
        in->attr_expires = mono_now() + fs->o.attr_timeout;
        /* A directory made here is known to be empty: no listing needed. */
        if (!in->listing && (in->listing = pfs_listing_new()) != NULL)
            in->listing->expires = mono_now() + fs->o.dir_timeout;
        pfs_listing_put(parent->listing, name, true, 0, 0);
        in->nlookup++;
        fill_attr(fs, in, out);
    }
    pthread_mutex_unlock(&fs->lock);
    free(key);
    return rc;
}

int pfs_fs_rmdir(struct pfs_fs *fs, uint64_t parent_ino, const char *name)
{
    if (fs->o.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = find_ino(fs, parent_ino);
    struct inode *in = parent ? find_child(fs, parent_ino, name) : NULL;
    int rc = 0;
    char *key = NULL;
    if (!parent) {
        rc = -ENOENT;
    } else if (in && !in->is_dir) {
        rc = -ENOTDIR;
    } else {
        key = child_key(parent->key, name, true);
        if (!key)
            rc = -ENOMEM;
        /* Children being written here count even before they reach the store. */
        for (size_t b = 0; in && rc == 0 && b < INO_BUCKETS; b++)
            for (struct inode *c = fs->by_ino[b]; c; c = c->next_by_ino)
                if (c->parent == in->ino && !c->unlinked && (c->local_only || c->pending_upload))
                    rc = -ENOTEMPTY;
    }
    pthread_mutex_unlock(&fs->lock);
    if (rc) {
        free(key);
        return rc;
    }
    /* Empty means: nothing below the prefix but the marker itself. */
    struct pfs_list_page page;
    struct pfs_list_params lp = {.prefix = key, .max_keys = 2};
    struct pfs_status st;
    if (pfs_client_list(fs->client, &page, &lp, &st) != 0) {
        free(key);
        return status_err(&st);
    }
    bool marker = false;
    size_t others = page.n_prefixes;
    for (size_t i = 0; i < page.n_entries; i++) {
        if (strcmp(page.entries[i].key, key) == 0)
            marker = true;
        else
            others++;
    }
    pfs_list_page_cleanup(&page);
    if (others > 0) {
        free(key);
        return -ENOTEMPTY;
    }
    if (!marker && !in) {
        free(key);
        return -ENOENT;
    }
    if (marker && pfs_client_delete(fs->client, key, &st) != 0) {
        free(key);
        return status_err(&st);
    }
    free(key);
    pthread_mutex_lock(&fs->lock);
    parent = find_ino(fs, parent_ino);
    in = parent ? find_child(fs, parent_ino, name) : NULL;
    if (in) {
        in->unlinked = true;
        unhash_name(fs, in);
        maybe_drop(fs, in);
    }
    if (parent)
        pfs_listing_remove(parent->listing, name);
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

/* The inode for parent/name, looked up in the store if needed. Takes no
 * lookup reference; returns it pinned (open_count) or NULL with *err. */
static struct inode *pin_child(struct pfs_fs *fs, uint64_t parent_ino, const char *name, int *err)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_child(fs, parent_ino, name);
    if (in)
        in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    if (in)
        return in;
    struct pfs_attr a;
    *err = pfs_fs_lookup(fs, &a, parent_ino, name);
    if (*err)
        return NULL;
    pthread_mutex_lock(&fs->lock);
    in = find_ino(fs, a.ino);
    if (in) {
        in->open_count++;
        in->nlookup--;
    } else {
        *err = -ENOENT;
    }
    pthread_mutex_unlock(&fs->lock);
    return in;
}

static void unpin(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    in->open_count--;
    maybe_drop(fs, in);
    pthread_mutex_unlock(&fs->lock);
}

int pfs_fs_unlink(struct pfs_fs *fs, uint64_t parent_ino, const char *name)
{
    if (fs->o.read_only)
        return -EROFS;
    int rc = 0;
    struct inode *in = pin_child(fs, parent_ino, name, &rc);
    if (!in)
        return rc;
    if (in->is_dir) {
        unpin(fs, in);
        return -EISDIR;
    }
    io_lock(in);
    pthread_mutex_lock(&fs->lock);
    bool open_elsewhere = in->open_count > 1;
    bool remote = !in->local_only;
    pthread_mutex_unlock(&fs->lock);
    /* An open file keeps working until closed. One read from the store
     * keeps reading it: its DELETE waits for the last close (no download,
     * however large the file). A staged one reads its local copy. */
    bool defer = open_elsewhere && remote && in->stage_fd < 0;
    struct pfs_status st;
    if (!defer && remote && pfs_client_delete(fs->client, in->key, &st) != 0)
        rc = status_err(&st);
    if (rc == 0 && in->stage_fd >= 0) {
        /* Unlinked: its staged data must never be uploaded or recovered,
         * though open handles keep reading it. */
        stream_stop(in);
        journal_drop(fs, in);
    } else if (rc == 0 && defer && !in->jid[0]) {
        /* The name is gone now; the DELETE waits for the last close. A
         * durable record makes a crash before then delete it anyway. */
        int jrc = pfs_journal_create(fs->journal, in->jid, &in->jfd);
        if (jrc == 0) {
            pthread_mutex_lock(&fs->lock);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", in->etag);
            pthread_mutex_unlock(&fs->lock);
            jrc = journal_put(fs, in, PFS_J_DELETE, NULL, true);
            if (jrc)
                journal_drop(fs, in);
        } else {
            in->jid[0] = '\0';
        }
        if (jrc)
            PFS_WARN("cannot journal the deferred delete of %s (%s): a crash before its last "
                     "close would leave the object in the store",
                     in->key, strerror(-jrc));
    }
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        struct inode *parent = find_ino(fs, parent_ino);
        if (parent)
            pfs_listing_remove(parent->listing, name);
        if (!in->unlinked) {
            in->unlinked = true;
            unhash_name(fs, in);
        }
        in->dirty = false;
        in->pending_upload = false;
        if (defer && !in->delete_on_release) {
            in->delete_on_release = true;
            fs->deferred_deletes++;
        }
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_unlock(&in->io);
    unpin(fs, in);
    return rc;
}

/* ---- files ---- */

static int new_handle(struct pfs_fs *fs, uint64_t *fh_out, struct inode *in, int flags)
{
    struct handle *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->inode = in;
    h->flags = flags;
    pthread_mutex_lock(&fs->lock);
    in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    *fh_out = (uint64_t)(uintptr_t)h;
    return 0;
}

int pfs_fs_create(struct pfs_fs *fs, struct pfs_attr *out, uint64_t *fh_out, uint64_t parent_ino,
                  const char *name, mode_t mode, int flags)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = find_ino(fs, parent_ino);
    int rc = parent ? check_new_name(fs, parent, name, false) : -ENOENT;
    struct inode *in = NULL;
    if (rc == 0) {
        in = find_child(fs, parent_ino, name);
        if (in && in->is_dir)
            rc = -EISDIR;
        else if (in && (flags & O_EXCL))
            rc = -EEXIST;
    }
    if (rc == 0 && !in) {
        char *key = child_key(parent->key, name, false);
        if (key) {
            in = new_inode(fs, parent_ino, name, key, false);
            free(key);
        }
        if (!in)
            rc = -ENOMEM;
        else {
            in->local_only = true;
            in->perm = mode & 07777 & ~fs->o.umask;
            in->size = 0;
        }
    }
    if (rc == 0) {
        in->nlookup++;
        in->open_count++; /* pinned while its staging file is set up */
    }
    pthread_mutex_unlock(&fs->lock);
    if (rc)
        return rc;
    io_lock(in);
    rc = ensure_staged(fs, in, true);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        in->size = 0;
        in->dirty = true; /* even an empty file becomes an object on close */
        now_into(in);
        pfs_listing_put(parent->listing, name, false, 0, in->mtime);
        fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_unlock(&in->io);
    if (rc == 0)
        rc = new_handle(fs, fh_out, in, flags);
    pthread_mutex_lock(&fs->lock);
    in->open_count--;
    if (rc)
        in->nlookup--;
    maybe_drop(fs, in);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int pfs_fs_open(struct pfs_fs *fs, uint64_t *fh_out, uint64_t ino, int flags)
{
    bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (writing && fs->o.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_ino(fs, ino);
    if (!in || in->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return in ? -EISDIR : -ENOENT;
    }
    bool first = in->open_count == 0;
    in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    int rc = 0;
    if (first && !(flags & O_TRUNC)) {
        /* A clean copy left from earlier opens may be older than the object:
         * read the store again (within attr_timeout of the last look). */
        io_lock(in);
        if (in->stage_fd >= 0 && !in->dirty && !in->pending_upload && !in->local_only &&
            !in->unlinked)
            stage_discard(fs, in);
        pthread_mutex_unlock(&in->io);
    }
    if (flags & O_TRUNC) {
        io_lock(in);
        rc = ensure_staged(fs, in, true);
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            in->size = 0;
            in->dirty = true;
            in->trunc_unwritten = !in->local_only;
            now_into(in);
            pthread_mutex_unlock(&fs->lock);
        }
        pthread_mutex_unlock(&in->io);
    }
    if (rc == 0)
        rc = new_handle(fs, fh_out, in, flags);
    unpin(fs, in);
    return rc;
}

ssize_t pfs_fs_read(struct pfs_fs *fs, uint64_t fh, void *buf, size_t size, uint64_t off)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    /* Not io_lock: a read of the staged copy goes on beside its upload. */
    pthread_mutex_lock(&in->io);
    if (in->stage_fd >= 0) {
        ssize_t n = pread(in->stage_fd, buf, size, (off_t)off);
        pthread_mutex_unlock(&in->io);
        return n < 0 ? -errno : n;
    }
    if (!h->reader) {
        pthread_mutex_lock(&fs->lock);
        uint64_t known = in->size;
        pthread_mutex_unlock(&fs->lock);
        h->reader = pfs_prefetch_new(fs->client, fs->pool, fs->budget, in->key, known);
        if (!h->reader) {
            pthread_mutex_unlock(&in->io);
            return -ENOMEM;
        }
    }
    pthread_mutex_unlock(&in->io);
    struct pfs_status st;
    ssize_t n = pfs_prefetch_read(h->reader, buf, size, off, &st);
    return n < 0 ? status_err(&st) : n;
}

/* After a write at off to a file that held `before` bytes: appends keep a
 * streamed upload going (started once a whole part is written); anything
 * else stops it. io held. */
static void stream_after_write(struct pfs_fs *fs, struct inode *in, uint64_t off, uint64_t before)
{
    if (!in->stream_ok)
        return;
    if (off != before) {
        stream_stop(in);
        return;
    }
    uint64_t start_at =
        fs->o.part_size > fs->o.multipart_threshold ? fs->o.part_size : fs->o.multipart_threshold;
    if (!in->stream && in->size >= start_at) {
        pthread_mutex_lock(&fs->lock);
        struct pfs_objmeta m;
        inode_meta(in, &m);
        char *key = strdup(in->key);
        pthread_mutex_unlock(&fs->lock);
        /* The object's time is the completion's (Last-Modified): the file's
         * mtime moves on with every write. */
        m.has_mtime = false;
        struct pfs_meta_out mo;
        size_t n_meta = pfs_meta_format(&mo, &m);
        struct pfs_status st;
        int rc = key ? pfs_stream_start(&in->stream, fs->client, fs->pool, key, mo.kv, n_meta,
                                        in->stage_fd, fs->o.part_size, fs->o.max_inflight, &st)
                     : -1;
        free(key);
        if (rc != 0) {
            in->stream_ok = false; /* uploaded whole at close */
            return;
        }
        free(in->upload_id);
        in->upload_id = strdup(pfs_stream_upload_id(in->stream));
        in->upload_part_size = fs->o.part_size;
        journal_put(fs, in, in->jstate, NULL, false); /* recovery aborts it after a crash */
    }
    if (in->stream && pfs_stream_feed(in->stream, in->size) != 0)
        stream_stop(in);
}

ssize_t pfs_fs_write(struct pfs_fs *fs, uint64_t fh, const void *buf, size_t size, uint64_t off)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    if (fs->o.read_only)
        return -EROFS;
    io_lock(in);
    int rc = ensure_staged(fs, in, false);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        uint64_t end = off + size > in->size ? off + size : in->size;
        pthread_mutex_unlock(&fs->lock);
        rc = stage_reserve(fs, in, end);
    }
    ssize_t n = rc;
    if (rc == 0) {
        journal_reopen(fs, in);
        n = pwrite(in->stage_fd, buf, size, (off_t)off);
        if (n < 0)
            n = -errno;
    }
    if (n > 0) {
        pthread_mutex_lock(&fs->lock);
        uint64_t before = in->size;
        if (off + (uint64_t)n > in->size)
            in->size = off + (uint64_t)n;
        in->dirty = true;
        in->upload_permanent = false; /* new content: worth another try */
        in->trunc_unwritten = false;
        now_into(in);
        pthread_mutex_unlock(&fs->lock);
        stream_after_write(fs, in, off, before);
    }
    pthread_mutex_unlock(&in->io);
    return n;
}

/* Could this handle change the file? */
static bool handle_writes(const struct handle *h)
{
    return (h->flags & O_ACCMODE) != O_RDONLY || (h->flags & O_TRUNC);
}

int pfs_fs_flush(struct pfs_fs *fs, uint64_t fh)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    pthread_mutex_lock(&fs->lock);
    bool skip = in->trunc_unwritten || !handle_writes(h); /* a reader's close waits for nothing */
    pthread_mutex_unlock(&fs->lock);
    if (skip)
        return 0;
    io_lock(in);
    int rc = store_or_queue(fs, in);
    pthread_mutex_unlock(&in->io);
    return rc;
}

/* fsync means "stored", with upload=async too. */
int pfs_fs_fsync(struct pfs_fs *fs, uint64_t fh)
{
    struct inode *in = ((struct handle *)(uintptr_t)fh)->inode;
    io_lock(in);
    int rc = upload_locked(fs, in);
    pthread_mutex_unlock(&in->io);
    return rc;
}

int pfs_fs_release(struct pfs_fs *fs, uint64_t fh)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    pfs_prefetch_free(h->reader);
    /* A reader's close does not wait for an upload in flight: that upload
     * stores the content and its owner cleans up after it. */
    bool writer = handle_writes(h);
    if (writer)
        io_lock(in);
    else
        pthread_mutex_lock(&in->io);
    pthread_mutex_lock(&fs->lock);
    bool last = in->open_count == 1;
    pthread_mutex_unlock(&fs->lock);
    /* A reader stores only what a truncation left while it was open. */
    int rc = writer || (last && !in->uploading) ? store_or_queue(fs, in) : 0;
    pthread_mutex_lock(&fs->lock);
    /* Not discarded: a failed upload's copy (retried later), or one in flight. */
    bool keep = (in->dirty && !in->unlinked) || in->uploading;
    bool delete_now = last && in->delete_on_release;
    if (delete_now) {
        in->delete_on_release = false;
        fs->deferred_deletes--;
    }
    pthread_mutex_unlock(&fs->lock);
    if (last && !keep)
        stage_discard(fs, in);
    if (delete_now) {
        /* The unlink deferred this DELETE so readers could go on reading. */
        struct pfs_status st;
        if (pfs_client_delete(fs->client, in->key, &st) != 0) {
            char what[600];
            pfs_status_describe(&st, what, sizeof(what));
            PFS_ERROR("deferred delete of %s failed: %s; the next mount with this cache_dir "
                      "tries again",
                      in->key, what);
            if (in->jfd >= 0) { /* keep the record; let go of the lock */
                close(in->jfd);
                in->jfd = -1;
            }
            in->jid[0] = '\0';
        }
    }
    if (last && in->jstate == PFS_J_DELETE && in->jid[0] && in->stage_fd < 0) {
        /* Done, or cancelled because a new file took the key. */
        journal_drop(fs, in);
        in->jstate = PFS_J_OPEN;
    }
    pthread_mutex_unlock(&in->io);
    unpin(fs, in);
    free(h);
    return rc;
}

/* Stores an existing object's new attributes: a copy onto itself with the
 * REPLACE directive (no re-upload); a directory's marker is written again. */
static int store_meta(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    struct pfs_objmeta m;
    inode_meta(in, &m);
    char *key = strdup(in->key);
    bool is_dir = in->is_dir;
    uint64_t size = in->size;
    pthread_mutex_unlock(&fs->lock);
    if (!key)
        return -ENOMEM;
    struct pfs_meta_out mo;
    size_t n = pfs_meta_format(&mo, &m);
    struct pfs_status st;
    int rc;
    if (is_dir) {
        struct pfs_http_body empty = {.fd = -1};
        rc = pfs_client_put(fs->client, key, &empty, mo.kv, n, NULL, &st);
    } else {
        rc = pfs_client_copy_object(fs->client, key, key, size, fs->o.part_size, true, mo.kv, n,
                                    &st);
    }
    free(key);
    return rc == 0 ? 0 : status_err(&st);
}

int pfs_fs_setattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino, uint64_t fh, int which,
                   const struct pfs_setattr *v)
{
    (void)fh;
    if (fs->o.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_ino(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    int rc = 0;
    io_lock(in);
    if (which & PFS_SET_SIZE) {
        if (in->is_dir) {
            rc = -EISDIR;
        } else {
            stream_stop(in); /* a truncation to 0 makes it a candidate again */
            rc = ensure_staged(fs, in, v->size == 0);
            if (rc == 0)
                rc = stage_reserve(fs, in, v->size);
            if (rc == 0)
                journal_reopen(fs, in);
            if (rc == 0 && ftruncate(in->stage_fd, (off_t)v->size) != 0)
                rc = -errno;
            if (rc == 0) {
                pthread_mutex_lock(&fs->lock);
                in->size = v->size;
                in->dirty = true;
                in->trunc_unwritten = in->trunc_unwritten && v->size == 0;
                now_into(in);
                pthread_mutex_unlock(&fs->lock);
            }
        }
    }
    bool meta_change = which & (PFS_SET_MODE | PFS_SET_UID | PFS_SET_GID | PFS_SET_MTIME);
    if (meta_change && in->stream)
        stream_stop(in); /* the upload in progress was created with the old attributes */
    pthread_mutex_lock(&fs->lock);
    if (rc == 0) {
        if (which & PFS_SET_MODE)
            in->perm = v->mode & 07777;
        if (which & PFS_SET_UID)
            in->uid = v->uid;
        if (which & PFS_SET_GID)
            in->gid = v->gid;
        if (which & PFS_SET_MTIME) {
            in->mtime = v->mtime;
            in->mtime_ns = v->mtime_ns;
        }
        if (which & PFS_SET_ATIME)
            in->atime = v->atime;
        in->ctime = wall_now();
    }
    /* Dirty data carries its attributes when it is uploaded; an object
     * already in the store gets them now. */
    bool carried = in->dirty || in->local_only;
    bool not_open = in->open_count == 1;
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0 && in->jid[0] && (in->jstate == PFS_J_CLOSED || in->jstate == PFS_J_FAILED))
        journal_put(fs, in, in->jstate, NULL, false); /* recovery stores the new attributes */
    if (rc == 0 && in->dirty && not_open)
        rc = store_or_queue(fs, in); /* truncation of a file nobody holds open */
    else if (rc == 0 && meta_change && !carried)
        rc = store_meta(fs, in);
    if (rc == 0 && not_open && !in->dirty && in->stage_fd >= 0)
        stage_discard(fs, in);
    pthread_mutex_unlock(&in->io);
    pthread_mutex_lock(&fs->lock);
    if (rc == 0)
        fill_attr(fs, in, out);
    pthread_mutex_unlock(&fs->lock);
    unpin(fs, in);
    return rc;
}

void pfs_fs_statfs(struct pfs_fs *fs, struct statvfs *out)
{
    (void)fs;
    /* An object store has no fixed size: report a large constant so tools
     * that check free space go ahead. */
    memset(out, 0, sizeof(*out));
    out->f_bsize = 4096;
    out->f_frsize = 4096;
    out->f_blocks = 1ull << 38; /* 1 PiB */
    out->f_bfree = out->f_blocks;
    out->f_bavail = out->f_blocks;
    out->f_files = 1ull << 32;
    out->f_ffree = out->f_files;
    out->f_favail = out->f_files;
    out->f_namemax = PFS_NAME_MAX;
}

/* ---- symbolic links (stored as s3fs does: the target is the body) ---- */

int pfs_fs_symlink(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name,
                   const char *target)
{
    size_t tlen = strlen(target);
    if (tlen == 0 || tlen > 4095)
        return tlen ? -ENAMETOOLONG : -ENOENT;
    char *key;
    int rc = new_child_key(fs, &key, parent_ino, name, false);
    if (rc)
        return rc;
    struct inode *parent;
    struct pfs_objmeta m = fresh_meta(fs, S_IFLNK | 0777);
    struct pfs_meta_out mo;
    size_t n = pfs_meta_format(&mo, &m);
    struct pfs_http_body body = {.data = target, .fd = -1, .len = tlen};
    struct pfs_status st;
    if (pfs_client_put(fs->client, key, &body, mo.kv, n, NULL, &st) != 0) {
        free(key);
        return status_err(&st);
    }
    pthread_mutex_lock(&fs->lock);
    parent = find_ino(fs, parent_ino);
    struct inode *in = parent ? new_inode(fs, parent_ino, name, key, false) : NULL;
    if (!in) {
        rc = parent ? -ENOMEM : -ENOENT;
    } else {
        apply_meta(fs, in, &m);
        in->size = tlen;
        in->link_target = strdup(target);
        cancel_deferred_deletes(fs, key, in);
        in->attr_expires = mono_now() + fs->o.attr_timeout;
        pfs_listing_put(parent->listing, name, false, tlen, m.mtime);
        struct pfs_dentry *d = pfs_listing_find(parent->listing, name);
        if (d) {
            d->meta = m;
            d->meta_fetched = true;
        }
        in->nlookup++;
        fill_attr(fs, in, out);
    }
    pthread_mutex_unlock(&fs->lock);
    free(key);
    return rc;
}

int pfs_fs_readlink(struct pfs_fs *fs, char *buf, size_t size, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = find_ino(fs, ino);
    if (!in || !in->is_link) {
        pthread_mutex_unlock(&fs->lock);
        return in ? -EINVAL : -ENOENT;
    }
    if (in->link_target) {
        snprintf(buf, size, "%s", in->link_target);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    char *key = strdup(in->key);
    pthread_mutex_unlock(&fs->lock);
    if (!key)
        return -ENOMEM;
    char target[4096];
    size_t got = 0;
    struct pfs_status st;
    int rc = pfs_client_get_range(fs->client, target, sizeof(target) - 1, 0, &got, key, &st);
    free(key);
    if (rc != 0)
        return status_err(&st);
    target[got] = '\0';
    pthread_mutex_lock(&fs->lock);
    in = find_ino(fs, ino);
    if (in && !in->link_target)
        in->link_target = strdup(target);
    pthread_mutex_unlock(&fs->lock);
    snprintf(buf, size, "%s", target);
    return 0;
}

/* ---- rename: server-side copy, then delete ---- */

struct copy_job {
    struct pfs_fs *fs;
    char *src, *dst;
    uint64_t size;
    int rc;
    struct pfs_status st;
};

static void copy_task(void *arg)
{
    struct copy_job *j = arg;
    j->rc = pfs_client_copy_object(j->fs->client, j->dst, j->src, j->size, j->fs->o.part_size,
                                   false, NULL, 0, &j->st);
}

struct key_list {
    char **keys;
    uint64_t *sizes;
    size_t n, cap;
};

static int collect_keys(void *ctx, const struct pfs_list_page *page)
{
    struct key_list *kl = ctx;
    for (size_t i = 0; i < page->n_entries; i++) {
        if (kl->n == kl->cap) {
            size_t cap = kl->cap ? kl->cap * 2 : 256;
            char **k = realloc(kl->keys, cap * sizeof(*k));
            if (k)
                kl->keys = k;
            uint64_t *z = k ? realloc(kl->sizes, cap * sizeof(*z)) : NULL;
            if (z)
                kl->sizes = z;
            if (!k || !z)
                return -ENOMEM;
            kl->cap = cap;
        }
        if (!(kl->keys[kl->n] = strdup(page->entries[i].key)))
            return -ENOMEM;
        kl->sizes[kl->n++] = page->entries[i].size;
    }
    return 0;
}

/* Every key below src_prefix copied to dst_prefix (bounded by the pool), then
 * the sources deleted. Not atomic: a crash after some copies leaves both
 * trees; the sources go only once every copy succeeded. */
static int rename_tree(struct pfs_fs *fs, const char *src_prefix, const char *dst_prefix)
{
    struct pfs_status st;
    struct key_list kl = {0};
    struct pfs_list_params lp = {.prefix = src_prefix, .max_keys = 1000};
    int rc = pfs_client_list_each(fs->client, &lp, collect_keys, &kl, &st) ? status_err(&st) : 0;
    char **keys = kl.keys;
    uint64_t *sizes = kl.sizes;
    size_t n = kl.n;
    struct copy_job *jobs = rc == 0 && n ? calloc(n, sizeof(*jobs)) : NULL;
    if (rc == 0 && n && !jobs)
        rc = -ENOMEM;
    size_t plen = strlen(src_prefix);
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        jobs[i].fs = fs;
        jobs[i].src = keys[i];
        jobs[i].size = sizes[i];
        jobs[i].dst = child_key(dst_prefix, keys[i] + plen, false);
        if (!jobs[i].dst || pfs_pool_submit(fs->pool, &g, copy_task, &jobs[i]) != 0)
            copy_task(&jobs[i]);
    }
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (jobs[i].rc != 0)
            rc = status_err(&jobs[i].st);
    /* Deletes in batches of 1000; keys a batch could not delete, one by one. */
    for (size_t i = 0; rc == 0 && i < n; i += PFS_DELETE_MANY_MAX) {
        size_t k = n - i < PFS_DELETE_MANY_MAX ? n - i : PFS_DELETE_MANY_MAX;
        struct pfs_delete_result r;
        if (pfs_client_delete_many(fs->client, (const char *const *)keys + i, k, &r, &st) == 0) {
            for (size_t e = 0; rc == 0 && e < r.n_errors; e++)
                if (pfs_client_delete(fs->client, r.errors[e].key, &st) != 0)
                    rc = status_err(&st);
            pfs_delete_result_cleanup(&r);
        } else {
            for (size_t j = i; rc == 0 && j < i + k; j++)
                if (pfs_client_delete(fs->client, keys[j], &st) != 0)
                    rc = status_err(&st);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        if (jobs)
            free(jobs[i].dst);
    }
    free(keys);
    free(sizes);
    free(jobs);
    return rc;
}

/* Moves an inode (and, for a directory, every cached descendant) to a new
 * name and key. fs->lock held. */
static void rekey(struct pfs_fs *fs, struct inode *in, uint64_t new_parent, const char *new_name,
                  const char *new_key)
{
    char *old_key = in->key;
    size_t old_len = strlen(old_key);
    if (!in->unlinked)
        unhash_name(fs, in);
    char *name = strdup(new_name), *key = strdup(new_key);
    if (!name || !key) {
        free(name);
        free(key);
        in->unlinked = true; /* cannot track it: forget the name */
        return;
    }
    free(in->name);
    in->name = name;
    in->key = key;
    in->parent = new_parent;
    in->unlinked = false;
    size_t b = name_bucket(new_parent, new_name);
    in->next_by_name = fs->by_name[b];
    fs->by_name[b] = in;
    if (in->is_dir) {
        for (size_t i = 0; i < INO_BUCKETS; i++)
            for (struct inode *c = fs->by_ino[i]; c; c = c->next_by_ino) {
                if (c == in || strncmp(c->key, old_key, old_len) != 0)
                    continue;
                char *k = child_key(new_key, c->key + old_len, false);
                if (k) {
                    free(c->key);
                    c->key = k;
                }
            }
    }
    free(old_key);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (struct inode *const *)a,
              y = (uintptr_t) * (struct inode *const *)b;
    return x < y ? -1 : x > y;
}

/* Pins and takes the io lock of src, dst (a file being replaced) and, for a
 * directory, every cached file below it, in address order (two renames
 * cannot deadlock). Returns how many (*out is freed by unlock_affected), or
 * -ENOMEM. */
static ssize_t lock_affected(struct pfs_fs *fs, struct inode *src, struct inode *dst,
                             struct inode ***out)
{
    pthread_mutex_lock(&fs->lock);
    size_t cap = 2, n = 0;
    if (src->is_dir)
        for (size_t b = 0; b < INO_BUCKETS; b++)
            for (struct inode *c = fs->by_ino[b]; c; c = c->next_by_ino)
                if (!c->is_dir && c != src && strncmp(c->key, src->key, strlen(src->key)) == 0)
                    cap++;
    struct inode **v = calloc(cap, sizeof(*v));
    if (v) {
        v[n++] = src;
        if (dst && dst != src && !dst->is_dir)
            v[n++] = dst;
        if (src->is_dir)
            for (size_t b = 0; b < INO_BUCKETS && n < cap; b++)
                for (struct inode *c = fs->by_ino[b]; c && n < cap; c = c->next_by_ino)
                    if (!c->is_dir && c != src && c != dst &&
                        strncmp(c->key, src->key, strlen(src->key)) == 0)
                        v[n++] = c;
        for (size_t i = 0; i < n; i++)
            v[i]->open_count++;
    }
    pthread_mutex_unlock(&fs->lock);
    *out = v;
    if (!v)
        return -ENOMEM;
    qsort(v, n, sizeof(*v), by_address);
    for (size_t i = 0; i < n; i++)
        io_lock(v[i]);
    return (ssize_t)n;
}

static void unlock_affected(struct pfs_fs *fs, struct inode **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pthread_mutex_unlock(&v[i]->io);
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        v[i]->open_count--;
        maybe_drop(fs, v[i]);
    }
    pthread_mutex_unlock(&fs->lock);
    free(v);
}

int pfs_fs_rename(struct pfs_fs *fs, uint64_t parent_ino, const char *name, uint64_t newparent_ino,
                  const char *newname, unsigned flags)
{
    if (flags & PFS_RENAME_EXCHANGE)
        return -EINVAL;
    if (fs->o.read_only)
        return -EROFS;
    int rc = 0;
    struct inode *src = pin_child(fs, parent_ino, name, &rc);
    if (!src)
        return rc;
    struct pfs_attr a;
    int trc = pfs_fs_lookup(fs, &a, newparent_ino, newname);
    struct inode *dst = NULL;
    pthread_mutex_lock(&fs->lock);
    struct inode *newparent = find_ino(fs, newparent_ino);
    if (trc == 0) {
        dst = find_ino(fs, a.ino);
        dst->nlookup--;
        dst->open_count++;
    }
    if (!newparent)
        rc = -ENOENT;
    else if (trc != 0 && trc != -ENOENT)
        rc = trc;
    else
        rc = check_new_name(fs, newparent, newname, src->is_dir);
    if (rc == 0 && dst && (flags & PFS_RENAME_NOREPLACE))
        rc = -EEXIST;
    if (rc == 0 && dst && dst->is_dir && !src->is_dir)
        rc = -EISDIR;
    if (rc == 0 && dst && !dst->is_dir && src->is_dir)
        rc = -ENOTDIR;
    /* A directory cannot move into itself. */
    if (rc == 0 && src->is_dir && strncmp(newparent->key, src->key, strlen(src->key)) == 0)
        rc = -EINVAL;
    char *old_key = rc == 0 ? strdup(src->key) : NULL;
    char *new_key = rc == 0 ? child_key(newparent->key, newname, src->is_dir) : NULL;
    if (rc == 0 && (!old_key || !new_key))
        rc = -ENOMEM;
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0 && dst == src) {
        /* rename onto itself: nothing to do */
    } else if (rc == 0 && dst && dst->is_dir) {
        rc = pfs_fs_rmdir(fs, newparent_ino, newname); /* only if empty */
    }
    if (rc == 0 && dst != src) {
        /* Every file whose key changes or disappears waits here for an upload
         * in flight (it holds that file's io) and starts none until the
         * rename is done: a finishing upload must not land under a name the
         * rename just gave away (or bring a moved directory back). */
        struct inode **held = NULL;
        ssize_t n_held = lock_affected(fs, src, dst, &held);
        if (n_held < 0) {
            free(old_key);
            free(new_key);
            if (dst)
                unpin(fs, dst);
            unpin(fs, src);
            return -ENOMEM;
        }
        /* An upload streamed under the old key cannot become the new one. */
        for (ssize_t i = 0; i < n_held; i++)
            stream_stop(held[i]);
        pthread_mutex_lock(&fs->lock);
        bool local = src->local_only;
        pthread_mutex_unlock(&fs->lock);
        struct pfs_status st;
        if (src->is_dir) {
            rc = rename_tree(fs, old_key, new_key);
        } else if (!local) {
            /* Pending changes go up under the old name first, so the copy
             * carries them; then copy (with its metadata) and delete. */
            rc = upload_locked(fs, src);
            pthread_mutex_lock(&fs->lock);
            uint64_t size = src->size;
            pthread_mutex_unlock(&fs->lock);
            if (rc == 0 && pfs_client_copy_object(fs->client, new_key, old_key, size,
                                                  fs->o.part_size, false, NULL, 0, &st) != 0)
                rc = status_err(&st);
            if (rc == 0 && pfs_client_delete(fs->client, old_key, &st) != 0)
                rc = status_err(&st);
        }
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            struct inode *parent = find_ino(fs, parent_ino);
            newparent = find_ino(fs, newparent_ino);
            if (parent)
                pfs_listing_remove(parent->listing, name);
            if (dst && !dst->is_dir && !dst->unlinked) {
                dst->unlinked = true;
                unhash_name(fs, dst);
                dst->dirty = false;
            }
            rekey(fs, src, newparent_ino, newname, new_key);
            cancel_deferred_deletes(fs, new_key, src);
            if (newparent)
                pfs_listing_put(newparent->listing, newname, src->is_dir, src->size, src->mtime);
            negative_forget(fs, newparent_ino, newname);
            negative_add(fs, parent_ino, name);
            pthread_mutex_unlock(&fs->lock);
            /* Journal records follow their files' new keys (recovery must
             * upload under the name the file has now); the replaced file's
             * staged copy is nobody's content any more. */
            for (ssize_t i = 0; i < n_held; i++) {
                struct inode *c = held[i];
                if (!c->jid[0] || c->jstate == PFS_J_DELETE)
                    continue;
                if (c == dst)
                    journal_drop(fs, c);
                else
                    journal_put(fs, c, c->jstate, NULL, false);
            }
        }
        unlock_affected(fs, held, (size_t)n_held);
    }
    free(old_key);
    free(new_key);
    if (dst)
        unpin(fs, dst);
    unpin(fs, src);
    return rc;
}

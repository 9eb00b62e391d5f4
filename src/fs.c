/* The POSIX face of the filesystem (see fs.h and doc/SEMANTICS.md): each
 * operation turns into calls on the modules below and returns 0 or -errno.
 *
 *   superblock.c  the inode table, attributes, the negative cache
 *   lookup.c      name probes and directory listings against the store
 *   writeback.c   staging, the journal, uploads, retries, deferred deletes
 *   rename.c      directory copies and the locking of renamed inodes
 *
 * Locks: fs->lock guards the inode table and is never held across network
 * I/O; each inode's io mutex serialises its data path (pfs_wb_io_lock waits
 * while an upload is in flight). Lock order: io before fs->lock. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "meta.h"
#include "fs_internal.h"

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
    fs->o.content_type = NULL; /* not kept: opts' string is the caller's */
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->retry_wake, NULL);
    pthread_cond_init(&fs->queue_wake, NULL);
    pthread_cond_init(&fs->claim_done, NULL);
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
    int rc = pfs_budget_new(&fs->budget, fs->o.memory_limit, PFS_PREFETCH_MAX_CHUNK);
    fs->negatives = pfs_negcache_new(NEGATIVE_MAX);
    fs->unconfirmed = pfs_negcache_new(NEGATIVE_MAX);
    if (rc == 0 && (!fs->negatives || !fs->unconfirmed))
        rc = -ENOMEM;
    struct inode *root =
        rc == 0 && fs->cache_dir ? pfs_sb_new_inode(fs, 0, "", root_key, true) : NULL;
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
    if ((!opts->content_type || strcmp(opts->content_type, "off") != 0) &&
        pfs_mime_new(&fs->mime, NULL,
                     opts->content_type ? opts->content_type : "application/octet-stream") != 0) {
        pfs_fs_free(fs);
        return -ENOMEM;
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
    if (opts->data_cache) {
        char why[PATH_MAX + 128];
        rc =
            pfs_dcache_open(&fs->dcache, opts->data_cache, opts->data_cache_size, why, sizeof(why));
        if (rc) {
            PFS_ERROR("%s", why);
            pfs_fs_free(fs);
            return rc;
        }
    }
    fs->o.data_cache = NULL; /* not kept: opts' string is the caller's */
    pfs_wb_start(fs);
    *out = fs;
    return 0;
}

void pfs_fs_readahead_usage(struct pfs_fs *fs, uint64_t *used_out, uint64_t *limit_out)
{
    pfs_budget_usage(fs->budget, used_out, limit_out);
}

bool pfs_fs_data_cache_stats(struct pfs_fs *fs, struct pfs_dcache_stats *out)
{
    if (!fs->dcache)
        return false;
    pfs_dcache_get_stats(fs->dcache, out);
    return true;
}

void pfs_fs_free(struct pfs_fs *fs)
{
    if (!fs)
        return;
    /* Handles whose RELEASE the kernel dropped at unmount (it does for one
     * still queued behind background reads): their read-ahead goes. What
     * they wrote is staged and journaled, and settled below. */
    size_t left = 0;
    while (fs->handles) {
        struct handle *h = fs->handles;
        fs->handles = h->next;
        pfs_prefetch_free(h->reader);
        free(h);
        left++;
    }
    if (left)
        PFS_INFO("%zu file handle(s) were never released by the kernel; let go at unmount", left);
    pfs_wb_stop(fs);
    for (size_t b = 0; b < INO_BUCKETS; b++) {
        while (fs->by_ino[b]) {
            struct inode *in = fs->by_ino[b];
            fs->by_ino[b] = in->next_by_ino;
            pfs_wb_settle(fs, in);
            pfs_sb_free_inode(in);
        }
    }
    pfs_journal_free(fs->journal);
    free(fs->bucket);
    free(fs->prefix);
    pfs_negcache_free(fs->negatives);
    pfs_negcache_free(fs->unconfirmed);
    for (size_t i = 0; i < fs->n_hidden; i++)
        free(fs->hidden[i]);
    free(fs->hidden);
    pfs_budget_free(fs->budget);
    pfs_dcache_close(fs->dcache); /* after the budget: no read-ahead is landing */
    pfs_mime_free(fs->mime);
    pthread_cond_destroy(&fs->retry_wake);
    pthread_cond_destroy(&fs->queue_wake);
    pthread_cond_destroy(&fs->claim_done);
    free(fs->claims); /* recovery stopped: every claim ended */
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
    if (!pfs_lookup_showable(name))
        return -EINVAL;
    return 0;
}

/* The store failed the lookup of a name after its retries (fs->lock held).
 * The kernel asks for a name before it creates it, so an EIO here would fail
 * every cp, dd and tar while the store is down. A directory listed before
 * (its listing stale now, but once complete) says what the mount last saw:
 * a name it lacked is answered absent and remembered as unconfirmed, so that
 * pfs_fs_create lets through only a create that replaces whatever the store
 * holds (O_TRUNC). A name it held, or a directory never listed: EIO. */
static int absent_while_down(struct pfs_fs *fs, struct inode *parent, const char *name)
{
    if (!parent->listing || parent->listing->expires == 0 ||
        pfs_listing_find(parent->listing, name))
        return -EIO;
    /* Outlives the kernel's negative entry, which sends the create here
     * without another lookup. */
    double keep = (fs->o.negative_timeout > 0 ? fs->o.negative_timeout : 0) + 30;
    pfs_negcache_add(fs->unconfirmed, parent->ino, name, pfs_sb_mono_now() + keep);
    return -ENOENT;
}

int pfs_fs_lookup(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name)
{
    if (strlen(name) > PFS_NAME_MAX)
        return -ENAMETOOLONG;
    if (!pfs_lookup_showable(name))
        return -ENOENT;
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    if (!parent || !parent->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return parent ? -ENOTDIR : -ENOENT;
    }
    struct inode *in = pfs_sb_find_child(fs, parent_ino, name);
    double now = pfs_sb_mono_now();
    if (in && (in->attr_expires > now || in->local_only || in->open_count > 0 ||
               in->pending_upload || in->is_dir)) {
        in->nlookup++;
        pfs_sb_fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    if (!in && pfs_wb_delete_pending(fs, parent_ino, name)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    if (pfs_lookup_listing_fresh(parent)) {
        struct pfs_dentry *d = pfs_listing_find(parent->listing, name);
        if (d && !d->meta_fetched && !d->head_failed && !in && fs->o.head_metadata)
            return pfs_lookup_head_listed(fs, out, parent, name, d->is_dir);
        int rc = -ENOENT;
        if (d) {
            in = pfs_sb_upsert_child(fs, parent, name, d->is_dir, d->size, d->mtime, d->etag,
                                     d->meta_fetched ? &d->meta : NULL);
            if (in && in->is_dir)
                in->dir_forms |= d->dir_forms;
            if (in) {
                in->nlookup++;
                pfs_sb_fill_attr(fs, in, out);
                rc = 0;
            } else {
                rc = -ENOMEM;
            }
        }
        pthread_mutex_unlock(&fs->lock);
        return rc;
    }
    if (pfs_sb_negative_known(fs, parent_ino, name)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    bool walk = pfs_lookup_note_probe(fs, parent, now);
    char *parent_key = strdup(parent->key);
    pthread_mutex_unlock(&fs->lock);
    if (!parent_key)
        return -ENOMEM;
    if (walk && pfs_lookup_list_parent(fs, parent_ino, parent_key) == 0) {
        free(parent_key);
        return pfs_fs_lookup(fs, out, parent_ino, name); /* now answered by the listing */
    }

    struct probe p;
    struct pfs_status st;
    int rc = pfs_lookup_probe_name(fs, &p, parent_key, name, &st);
    if (rc == 0 && p.file && p.dir)
        PFS_INFO("'%s%s' is both a file and a directory: showing the directory", parent_key, name);
    pthread_mutex_lock(&fs->lock);
    parent = pfs_sb_find_ino(fs, parent_ino);
    if (rc != 0) {
        rc = pfs_sb_status_err(&st);
        if (rc == -EIO && parent)
            rc = absent_while_down(fs, parent, name);
    } else if (!parent) {
        rc = -ENOENT;
    } else {
        /* A local file created meanwhile wins over what the store said. */
        in = pfs_sb_find_child(fs, parent_ino, name);
        if (in && (in->local_only || in->open_count > 0 || in->pending_upload)) {
            rc = 0;
        } else if (p.file && !p.dir && pfs_wb_delete_pending(fs, parent_ino, name)) {
            rc = -ENOENT;
        } else if (p.dir || p.file) {
            in = pfs_sb_upsert_child(fs, parent, name, p.dir, p.size, p.mtime, p.etag,
                                     p.meta_fetched ? &p.meta : NULL);
            if (in && in->is_dir)
                in->dir_forms |= p.dir_forms;
            rc = in ? 0 : -ENOMEM;
        } else {
            if (in && !in->local_only) {
                /* Deleted in the store: the old inode loses its name. */
                in->unlinked = true;
                pfs_sb_unhash_name(fs, in);
            }
            pfs_sb_negative_add(fs, parent_ino, name);
            rc = -ENOENT;
        }
        if (rc == 0) {
            in->nlookup++;
            pfs_sb_fill_attr(fs, in, out);
        }
        pfs_negcache_forget(fs->unconfirmed, parent_ino, name); /* the store answered */
    }
    pthread_mutex_unlock(&fs->lock);
    free(parent_key);
    return rc;
}

void pfs_fs_forget(struct pfs_fs *fs, uint64_t ino, uint64_t n)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
    if (in) {
        in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
        pfs_sb_maybe_drop(fs, in);
    }
    pthread_mutex_unlock(&fs->lock);
}

int pfs_fs_getattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    bool stale = !in->is_dir && !in->unlinked && !in->local_only && in->open_count == 0 &&
                 !in->pending_upload && in->attr_expires <= pfs_sb_mono_now();
    if (!stale) {
        pfs_sb_fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    struct inode *parent = pfs_sb_find_ino(fs, in->parent);
    char *parent_key = parent ? strdup(parent->key) : NULL;
    char *name = strdup(in->name);
    pthread_mutex_unlock(&fs->lock);
    int rc = 0;
    struct probe p = {0};
    struct pfs_status st;
    if (!parent_key || !name)
        rc = -ENOMEM;
    else if (pfs_lookup_probe_name(fs, &p, parent_key, name, &st) != 0)
        rc = pfs_sb_status_err(&st);
    pthread_mutex_lock(&fs->lock);
    in = pfs_sb_find_ino(fs, ino);
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
                    pfs_sb_apply_meta(fs, in, &p.meta);
            }
            in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
        } else if (!in->local_only && !in->pending_upload && in->open_count == 0) {
            rc = -ENOENT; /* deleted (or replaced by a directory) in the store */
        }
        if (rc == 0)
            pfs_sb_fill_attr(fs, in, out);
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
    struct inode *dir = pfs_sb_find_ino(fs, ino);
    if (!dir || !dir->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return dir ? -ENOTDIR : -ENOENT;
    }
    dir->open_count++;
    /* A walk's listing has no metadata=head HEADs: ls -l needs them. */
    bool fresh =
        pfs_lookup_listing_fresh(dir) && (dir->listing->heads_done || !fs->o.head_metadata);
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
        if (pfs_lookup_list_dir(fs, &fetched, key, 0, true, &st) != 0)
            rc = pfs_sb_status_err(&st);
    }
    free(key);
    struct dir_handle *h = rc == 0 ? calloc(1, sizeof(*h)) : NULL;
    pthread_mutex_lock(&fs->lock);
    if (rc == 0 && !h)
        rc = -ENOMEM;
    if (rc == 0 && fetched) {
        fetched->expires = pfs_sb_mono_now() + fs->o.dir_timeout;
        pfs_lookup_add_local_children(fs, fetched, ino);
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
            pfs_sb_fill_attr(fs, dir, &a);
        } else if (i == 1) {
            name = "..";
            struct inode *p = pfs_sb_find_ino(fs, dir->parent);
            pfs_sb_fill_attr(fs, p ? p : dir, &a);
        } else {
            const struct pfs_dentry *d = &h->e[i - 2];
            name = d->name;
            if (!d->is_dir && !pfs_sb_find_child(fs, dir->ino, d->name) &&
                pfs_wb_delete_pending(fs, dir->ino, d->name))
                continue;
            in = pfs_sb_upsert_child(fs, dir, d->name, d->is_dir, d->size, d->mtime, d->etag,
                                     d->meta_fetched ? &d->meta : NULL);
            if (!in)
                continue;
            if (in->is_dir)
                in->dir_forms |= d->dir_forms;
            pfs_sb_fill_attr(fs, in, &a);
        }
        if (fill(ctx, name, &a, i + 1) != 0)
            break;
        if (plus && in)
            in->nlookup++;
    }
    /* Entries seen only through readdir (no lookup reference) are not kept. */
    for (size_t i = 0; !plus && i < h->n; i++) {
        struct inode *in = pfs_sb_find_child(fs, dir->ino, h->e[i].name);
        if (in)
            pfs_sb_maybe_drop(fs, in);
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
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    int rc = parent ? check_new_name(fs, parent, name, is_dir) : -ENOENT;
    if (rc == 0 && pfs_sb_find_child(fs, parent_ino, name))
        rc = -EEXIST;
    if (rc == 0 && !(*key_out = pfs_sb_child_key(parent->key, name, is_dir)))
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
        return pfs_sb_status_err(&st);
    }
    pthread_mutex_lock(&fs->lock);
    parent = pfs_sb_find_ino(fs, parent_ino);
    struct inode *in = parent ? pfs_sb_find_child(fs, parent_ino, name) : NULL;
    if (!in && parent)
        in = pfs_sb_new_inode(fs, parent_ino, name, key, true);
    if (!in) {
        rc = parent ? -ENOMEM : -ENOENT;
    } else {
        pfs_sb_apply_meta(fs, in, &m);
        in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
        /* A directory made here is known to be empty: no listing needed. */
        if (!in->listing && (in->listing = pfs_listing_new()) != NULL) {
            in->listing->expires = pfs_sb_mono_now() + fs->o.dir_timeout;
            in->listing->heads_done = true; /* nothing to HEAD */
        }
        pfs_listing_put(parent->listing, name, true, 0, 0);
        in->nlookup++;
        pfs_sb_fill_attr(fs, in, out);
    }
    pthread_mutex_unlock(&fs->lock);
    free(key);
    return rc;
}

/* DELETE of a key this mount listed or looked up moments ago. A 404 then
 * means the key sent is not the one listed (an encoding mismatch) or another
 * client deleted it: the name is gone either way, and the log says which key. */
static int delete_listed(struct pfs_fs *fs, const char *key)
{
    struct pfs_status st;
    if (pfs_client_delete(fs->client, key, &st) != 0)
        return pfs_sb_status_err(&st);
    if (st.http_status == 404)
        PFS_WARN("DELETE of '%s' answered 404 although this mount just listed or looked it up: "
                 "another client deleted it, or the key sent is not the one the store listed",
                 key);
    return 0;
}

/* Removes the objects other tools made for the directory parent_key+name
 * (PFS_DIRFORM_*), besides its "dir/" marker. */
static int delete_dir_forms(struct pfs_fs *fs, const char *parent_key, const char *name,
                            unsigned forms)
{
    int rc = 0;
    char *obj = pfs_sb_child_key(parent_key, name, false);
    if (!obj)
        return -ENOMEM;
    if (!(forms & PFS_DIRFORM_OBJECT) && (forms & PFS_DIRFORM_SHADOWED)) {
        int is = pfs_lookup_is_dir_object(fs, obj);
        if (is < 0)
            rc = is;
        else if (is)
            forms |= PFS_DIRFORM_OBJECT;
    }
    if (rc == 0 && (forms & PFS_DIRFORM_OBJECT))
        rc = delete_listed(fs, obj);
    if (rc == 0 && (forms & PFS_DIRFORM_FOLDER)) {
        struct pfs_buf b;
        pfs_buf_init(&b);
        pfs_buf_puts(&b, obj);
        pfs_buf_puts(&b, PFS_FOLDER_SUFFIX);
        char *folder = pfs_buf_detach(&b);
        rc = folder ? delete_listed(fs, folder) : -ENOMEM;
        free(folder);
    }
    free(obj);
    return rc;
}

int pfs_fs_rmdir(struct pfs_fs *fs, uint64_t parent_ino, const char *name)
{
    if (fs->o.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    struct inode *in = parent ? pfs_sb_find_child(fs, parent_ino, name) : NULL;
    int rc = 0;
    char *key = NULL, *parent_key = NULL;
    unsigned forms = 0;
    if (!parent) {
        rc = -ENOENT;
    } else if (in && !in->is_dir) {
        rc = -ENOTDIR;
    } else {
        key = pfs_sb_child_key(parent->key, name, true);
        parent_key = strdup(parent->key);
        forms = in ? in->dir_forms : 0;
        if (!key || !parent_key)
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
        free(parent_key);
        return rc;
    }
    /* Empty means: nothing below the prefix but the marker itself. */
    struct pfs_list_page page;
    struct pfs_list_params lp = {.prefix = key, .max_keys = 2};
    struct pfs_status st;
    if (pfs_client_list(fs->client, &page, &lp, &st) != 0) {
        free(key);
        free(parent_key);
        return pfs_sb_status_err(&st);
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
    if (others > 0 || (!marker && !in)) {
        free(key);
        free(parent_key);
        return others > 0 ? -ENOTEMPTY : -ENOENT;
    }
    int drc = marker ? delete_listed(fs, key) : 0;
    free(key);
    if (drc == 0 && forms)
        drc = delete_dir_forms(fs, parent_key, name, forms);
    free(parent_key);
    if (drc)
        return drc;
    pthread_mutex_lock(&fs->lock);
    parent = pfs_sb_find_ino(fs, parent_ino);
    in = parent ? pfs_sb_find_child(fs, parent_ino, name) : NULL;
    if (in) {
        in->unlinked = true;
        pfs_sb_unhash_name(fs, in);
        pfs_sb_maybe_drop(fs, in);
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
    struct inode *in = pfs_sb_find_child(fs, parent_ino, name);
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
    in = pfs_sb_find_ino(fs, a.ino);
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
    pfs_sb_maybe_drop(fs, in);
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
    pfs_wb_io_lock(in);
    pthread_mutex_lock(&fs->lock);
    bool open_elsewhere = in->open_count > 1;
    bool remote = !in->local_only;
    pthread_mutex_unlock(&fs->lock);
    /* An open file keeps working until closed. One read from the store
     * keeps reading it: its DELETE waits for the last close (no download,
     * however large the file). A staged one reads its local copy. */
    bool defer = open_elsewhere && remote && in->stage_fd < 0;
    if (!defer && remote) {
        pfs_wb_wait_unclaimed(fs, in->key); /* recovery's copy first, then the DELETE */
        rc = delete_listed(fs, in->key);
    }
    if (rc == 0 && in->stage_fd >= 0) {
        /* Unlinked: its staged data must never be uploaded or recovered,
         * though open handles keep reading it. */
        pfs_wb_stream_stop(in);
        pfs_wb_journal_drop(fs, in);
    } else if (rc == 0 && defer && !in->jid[0]) {
        /* The name is gone now; the DELETE waits for the last close. A
         * durable record makes a crash before then delete it anyway. */
        int jrc = pfs_journal_create(fs->journal, in->jid, &in->jfd);
        if (jrc == 0) {
            pthread_mutex_lock(&fs->lock);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", in->etag);
            pthread_mutex_unlock(&fs->lock);
            jrc = pfs_wb_journal_put(fs, in, PFS_J_DELETE, NULL, true);
            if (jrc)
                pfs_wb_journal_drop(fs, in);
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
        struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
        if (parent)
            pfs_listing_remove(parent->listing, name);
        if (!in->unlinked) {
            in->unlinked = true;
            pfs_sb_unhash_name(fs, in);
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

static bool handle_writes(const struct handle *h)
{
    return (h->flags & O_ACCMODE) != O_RDONLY || (h->flags & O_TRUNC);
}

/* The handle changed the file (inode io or fs->lock held). */
static void mark_changed(struct handle *h)
{
    h->unflushed = true;
    h->changed = true;
    h->changed_gen = h->inode->trunc_gen;
}

/* What the handle changed is still in the file: no O_TRUNC open since
 * erased it (inode io held). */
static bool changes_live(const struct handle *h)
{
    return h->changed && h->changed_gen == h->inode->trunc_gen;
}

/* trunc_gen: the inode's trunc_gen this open's O_TRUNC made, or 0. */
static int new_handle(struct pfs_fs *fs, uint64_t *fh_out, struct inode *in, int flags,
                      uint64_t trunc_gen)
{
    struct handle *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->inode = in;
    h->flags = flags;
    h->trunc_gen = trunc_gen;
    pthread_mutex_lock(&fs->lock);
    in->open_count++;
    if (handle_writes(h))
        in->writers++;
    h->next = fs->handles;
    if (fs->handles)
        fs->handles->prev = h;
    fs->handles = h;
    pthread_mutex_unlock(&fs->lock);
    *fh_out = (uint64_t)(uintptr_t)h;
    return 0;
}

int pfs_fs_create(struct pfs_fs *fs, struct pfs_attr *out, uint64_t *fh_out, uint64_t parent_ino,
                  const char *name, mode_t mode, int flags)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    int rc = parent ? check_new_name(fs, parent, name, false) : -ENOENT;
    struct inode *in = NULL;
    if (rc == 0) {
        in = pfs_sb_find_child(fs, parent_ino, name);
        if (in && in->is_dir)
            rc = -EISDIR;
        else if (in && (flags & O_EXCL))
            rc = -EEXIST;
    }
    char inherited[80] = "";
    bool takes_over = false;
    bool blind = false;
    if (rc == 0 && !in &&
        pfs_negcache_known(fs->unconfirmed, parent_ino, name, pfs_sb_mono_now())) {
        /* The store could not say whether the name exists: an O_TRUNC
         * create replaces whatever it holds; an append or an O_EXCL create
         * cannot go ahead on content (or absence) nobody has seen. */
        if (!(flags & O_TRUNC) || (flags & O_EXCL))
            rc = -EIO;
        else
            blind = true;
    }
    if (rc == 0 && !in && pfs_wb_delete_pending(fs, parent_ino, name)) {
        /* The old object of this name waits for a deferred DELETE: the new
         * file replaces it instead (see pfs_wb_take_over_delete). */
        pthread_mutex_unlock(&fs->lock);
        takes_over = pfs_wb_take_over_delete(fs, parent_ino, name, inherited);
        pthread_mutex_lock(&fs->lock);
        parent = pfs_sb_find_ino(fs, parent_ino);
        rc = parent ? 0 : -ENOENT;
        in = parent ? pfs_sb_find_child(fs, parent_ino, name) : NULL;
    }
    if (rc == 0 && !in) {
        char *key = pfs_sb_child_key(parent->key, name, false);
        if (key) {
            in = pfs_sb_new_inode(fs, parent_ino, name, key, false);
            free(key);
        }
        if (!in)
            rc = -ENOMEM;
        else {
            /* Over an inherited object the key is in the store already: an
             * unlink must DELETE it, recovery compares with its ETag. */
            in->local_only = !takes_over && !blind;
            snprintf(in->etag, sizeof(in->etag), "%s", inherited);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", inherited);
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
    uint64_t trunc_gen = 0;
    pfs_wb_io_lock(in);
    rc = pfs_wb_ensure_staged(fs, in, true);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        in->size = 0;
        in->dirty = true; /* even an empty file becomes an object on close */
        /* A shell's `echo x > new` closes a dup of the descriptor before it
         * writes: that flush must not store an empty object first (S15); the
         * release stores the file if it stays empty (as for O_TRUNC opens). */
        in->trunc_unwritten = (flags & O_TRUNC) != 0;
        trunc_gen = in->trunc_unwritten ? ++in->trunc_gen : 0;
        if (blind) { /* no version seen: recovery must not call it a conflict */
            PFS_WARN("%s: created while the store does not answer; its content replaces "
                     "whatever the store holds under that name",
                     in->key);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", PFS_BASE_ANY);
            pfs_negcache_forget(fs->unconfirmed, parent_ino, name);
        }
        pfs_sb_now_into(in);
        pfs_listing_put(parent->listing, name, false, 0, in->mtime);
        pfs_sb_fill_attr(fs, in, out);
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_unlock(&in->io);
    if (rc == 0)
        rc = new_handle(fs, fh_out, in, flags, trunc_gen);
    if (rc == 0) { /* the new file is this handle's change: its close stores it */
        pthread_mutex_lock(&fs->lock);
        mark_changed((struct handle *)(uintptr_t)*fh_out);
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_lock(&fs->lock);
    in->open_count--;
    if (rc)
        in->nlookup--;
    pfs_sb_maybe_drop(fs, in);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int pfs_fs_open(struct pfs_fs *fs, uint64_t *fh_out, uint64_t ino, int flags)
{
    bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (writing && fs->o.read_only)
        return -EROFS;
    if (!(flags & O_TRUNC)) {
        /* Close-to-open: attributes older than attr_timeout are looked up
         * again (getattr does only then), so an object another client
         * replaced is read whole, at its new size. A store that cannot be
         * reached leaves the attributes as they were: the read will say. */
        struct pfs_attr fresh;
        if (pfs_fs_getattr(fs, &fresh, ino) == -ENOENT)
            return -ENOENT;
    }
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
    if (!in || in->is_dir) {
        pthread_mutex_unlock(&fs->lock);
        return in ? -EISDIR : -ENOENT;
    }
    bool first = in->open_count == 0;
    in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    int rc = 0;
    uint64_t trunc_gen = 0;
    if (first && !(flags & O_TRUNC)) {
        /* A clean copy left from earlier opens may be older than the object:
         * read the store again (within attr_timeout of the last look). */
        pfs_wb_io_lock(in);
        if (in->stage_fd >= 0 && !in->dirty && !in->pending_upload && !in->local_only &&
            !in->unlinked)
            pfs_wb_stage_discard(fs, in);
        pthread_mutex_unlock(&in->io);
    }
    if (flags & O_TRUNC) {
        pfs_wb_io_lock(in);
        rc = pfs_wb_ensure_staged(fs, in, true);
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            in->size = 0;
            in->dirty = true;
            /* Owned by this handle, stored or not: a file the store never
             * held is emptied by `: > f` too, and only this handle's release
             * stores that while a reader keeps the file open. */
            in->trunc_unwritten = true;
            trunc_gen = ++in->trunc_gen; /* this handle owns the emptied file now */
            pfs_sb_now_into(in);
            pthread_mutex_unlock(&fs->lock);
        }
        pthread_mutex_unlock(&in->io);
    }
    if (rc == 0)
        rc = new_handle(fs, fh_out, in, flags, trunc_gen);
    unpin(fs, in);
    return rc;
}

bool pfs_fs_open_keep_cache(struct pfs_fs *fs, uint64_t fh, bool *changed)
{
    struct inode *in = ((struct handle *)(uintptr_t)fh)->inode;
    pthread_mutex_lock(&fs->lock);
    /* Only a clean stored version is vouched for by its ETag; a staged or
     * unstored copy drops the kernel's pages as before. */
    bool stored = !in->dirty && !in->pending_upload && !in->local_only && !in->unlinked &&
                  in->stage_fd < 0 && in->etag[0];
    bool same = stored && strcmp(in->open_etag, in->etag) == 0 && in->open_size == in->size;
    *changed = in->open_etag[0] && !same;
    if (stored) {
        snprintf(in->open_etag, sizeof(in->open_etag), "%s", in->etag);
        in->open_size = in->size;
    } else {
        in->open_etag[0] = '\0';
    }
    pthread_mutex_unlock(&fs->lock);
    return same;
}

ssize_t pfs_fs_read(struct pfs_fs *fs, uint64_t fh, void *buf, size_t size, uint64_t off)
{
    return pfs_fs_read_zc(fs, fh, buf, size, off, NULL, NULL);
}

ssize_t pfs_fs_read_zc(struct pfs_fs *fs, uint64_t fh, void *buf, size_t size, uint64_t off,
                       const void **zc, struct pfs_prefetch_pin **pin)
{
    if (zc)
        *zc = NULL, *pin = NULL;
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    /* Not pfs_wb_io_lock: a read of the staged copy goes on beside its upload. */
    pthread_mutex_lock(&in->io);
    if (in->stage_fd >= 0) {
        ssize_t n = pread(in->stage_fd, buf, size, (off_t)off);
        pthread_mutex_unlock(&in->io);
        return n < 0 ? -errno : n;
    }
    /* The inode's current key: a handle follows renames of its file and of
     * the directories above it. */
    pthread_mutex_lock(&fs->lock);
    uint64_t known = in->size;
    char *key = strdup(in->key), etag[sizeof(in->etag)];
    snprintf(etag, sizeof(etag), "%s", in->etag);
    pthread_mutex_unlock(&fs->lock);
    if (key && !h->reader)
        h->reader = pfs_prefetch_new(fs->client, fs->pool, fs->budget, fs->dcache, fs->bucket, key,
                                     etag, known);
    int rc = !key || !h->reader ? -ENOMEM : pfs_prefetch_set_key(h->reader, key, etag);
    free(key);
    pthread_mutex_unlock(&in->io);
    if (rc)
        return rc;
    struct pfs_status st;
    ssize_t n = pfs_prefetch_read_zc(h->reader, buf, size, off, zc, pin, &st);
    if (n < 0 || !pfs_prefetch_reads_version(h->reader, etag)) {
        /* Another version is in the store (this reader took it, or failed
         * on it), or the bytes failed the whole-object CRC-64 (S69), or the
         * read failed: the next open looks again and drops the kernel's
         * pages, which may hold what this handle returned. */
        pthread_mutex_lock(&fs->lock);
        in->open_etag[0] = '\0';
        in->attr_expires = 0;
        pthread_mutex_unlock(&fs->lock);
    }
    return n < 0 ? pfs_sb_status_err(&st) : n;
}

ssize_t pfs_fs_write(struct pfs_fs *fs, uint64_t fh, const void *buf, size_t size, uint64_t off)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    if (fs->o.read_only)
        return -EROFS;
    pfs_wb_io_lock(in);
    int rc = pfs_wb_ensure_staged(fs, in, false);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        uint64_t end = off + size > in->size ? off + size : in->size;
        pthread_mutex_unlock(&fs->lock);
        rc = pfs_wb_stage_reserve(fs, in, end);
    }
    if (rc == 0)
        rc = pfs_wb_before_change(fs, in);
    ssize_t n = rc;
    if (rc == 0) {
        n = pwrite(in->stage_fd, buf, size, (off_t)off);
        if (n < 0)
            n = -errno;
    }
    if (n > 0) {
        mark_changed(h);
        pthread_mutex_lock(&fs->lock);
        uint64_t before = in->size;
        if (off + (uint64_t)n > in->size)
            in->size = off + (uint64_t)n;
        in->dirty = true;
        in->upload_permanent = false; /* new content: worth another try */
        in->trunc_unwritten = false;
        pfs_sb_now_into(in);
        pthread_mutex_unlock(&fs->lock);
        pfs_wb_stream_after_write(fs, in, off, before);
    }
    pthread_mutex_unlock(&in->io);
    return n;
}

int pfs_fs_flush(struct pfs_fs *fs, uint64_t fh)
{
    struct handle *h = (struct handle *)(uintptr_t)fh;
    struct inode *in = h->inode;
    pthread_mutex_lock(&fs->lock);
    /* A reader's close waits for nothing; an O_TRUNC left unwritten is
     * stored at release (S13). */
    bool skip = in->trunc_unwritten || !handle_writes(h);
    pthread_mutex_unlock(&fs->lock);
    if (skip)
        return 0;
    pfs_wb_io_lock(in);
    /* Only a handle whose changes are still in the file stores it: a writer
     * that changed nothing, or whose changes a later O_TRUNC open erased,
     * must not store another writer's unfinished content, nor drop the saved
     * copy of the version acknowledged before it (S48). */
    int rc = changes_live(h) ? pfs_wb_store_or_queue(fs, in) : 0;
    h->unflushed = false; /* a failure is the journal's and the retries' now */
    pthread_mutex_unlock(&in->io);
    return rc;
}

/* fsync means "stored", with upload=async too. */
int pfs_fs_fsync(struct pfs_fs *fs, uint64_t fh)
{
    struct inode *in = ((struct handle *)(uintptr_t)fh)->inode;
    pfs_wb_io_lock(in);
    int rc = pfs_wb_upload_locked(fs, in);
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
        pfs_wb_io_lock(in);
    else
        pthread_mutex_lock(&in->io);
    pthread_mutex_lock(&fs->lock);
    bool last = in->open_count == 1;
    if (writer)
        in->writers--;
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->lock);
    /* A writer stores what it wrote after its last flush (or the empty file
     * its O_TRUNC left, while no later O_TRUNC open took that over); what it
     * flushed is stored or queued already, and the staged copy may now hold
     * another writer's unfinished content. The last close stores what a
     * truncation left while it was open. */
    bool owns_trunc = h->trunc_gen && h->trunc_gen == in->trunc_gen && in->trunc_unwritten;
    bool store =
        (writer && ((h->unflushed && changes_live(h)) || owns_trunc)) || (last && !in->uploading);
    int rc = store ? pfs_wb_store_or_queue(fs, in) : 0;
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
        pfs_wb_stage_discard(fs, in);
    if (delete_now) {
        /* The unlink deferred this DELETE so readers could go on reading. */
        struct pfs_status st;
        pfs_wb_wait_unclaimed(fs, in->key);
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
        pfs_wb_journal_drop(fs, in);
        in->jstate = PFS_J_OPEN;
    }
    pthread_mutex_unlock(&in->io);
    unpin(fs, in);
    free(h);
    return rc;
}

int pfs_fs_setattr(struct pfs_fs *fs, struct pfs_attr *out, uint64_t ino, uint64_t fh, int which,
                   const struct pfs_setattr *v)
{
    if (fs->o.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
    if (!in) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOENT;
    }
    in->open_count++;
    pthread_mutex_unlock(&fs->lock);
    pfs_wb_io_lock(in);
    /* What is changed lands on what the store holds, never on defaults. */
    int rc = pfs_lookup_read_unread(fs, in);
    if (rc == 0 && (which & PFS_SET_SIZE)) {
        if (in->is_dir) {
            rc = -EISDIR;
        } else if (in->special || in->is_link) {
            rc = -EINVAL; /* no content to truncate (the kernel keeps FIFOs' data) */
        } else {
            pfs_wb_stream_stop(in); /* a truncation to 0 makes it a candidate again */
            rc = pfs_wb_ensure_staged(fs, in, v->size == 0);
            if (rc == 0)
                rc = pfs_wb_stage_reserve(fs, in, v->size);
            if (rc == 0)
                rc = pfs_wb_before_change(fs, in);
            if (rc == 0 && ftruncate(in->stage_fd, (off_t)v->size) != 0)
                rc = -errno;
            if (rc == 0 && fh) /* ftruncate: this handle's change, stored at its close */
                mark_changed((struct handle *)(uintptr_t)fh);
            if (rc == 0) {
                pthread_mutex_lock(&fs->lock);
                in->size = v->size;
                in->dirty = true;
                in->trunc_unwritten = in->trunc_unwritten && v->size == 0;
                pfs_sb_now_into(in);
                pthread_mutex_unlock(&fs->lock);
            }
        }
    }
    bool meta_change = which & (PFS_SET_MODE | PFS_SET_UID | PFS_SET_GID | PFS_SET_MTIME);
    if (meta_change && in->stream)
        pfs_wb_stream_stop(in); /* the upload in progress was created with the old attributes */
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
        pfs_sb_changed_now(in);
    }
    /* Dirty data carries its attributes when it is uploaded; an object
     * already in the store gets them now. */
    bool carried = in->dirty || in->local_only;
    bool not_open = in->open_count == 1;
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0 && in->jid[0] && (in->jstate == PFS_J_CLOSED || in->jstate == PFS_J_FAILED))
        pfs_wb_journal_put(fs, in, in->jstate, NULL,
                           false); /* recovery stores the new attributes */
    if (rc == 0 && in->dirty && not_open)
        rc = pfs_wb_store_or_queue(fs, in); /* truncation of a file nobody holds open */
    else if (rc == 0 && meta_change && !carried)
        rc = pfs_wb_store_meta(fs, in);
    if (rc == 0 && not_open && !in->dirty && in->stage_fd >= 0)
        pfs_wb_stage_discard(fs, in);
    pthread_mutex_unlock(&in->io);
    pthread_mutex_lock(&fs->lock);
    if (rc == 0)
        pfs_sb_fill_attr(fs, in, out);
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

/* Stores a new object that is complete at once (a symlink's target, a
 * special file's empty body) with metadata m, and makes its inode. Takes a
 * lookup reference. */
static int store_new_object(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino,
                            const char *name, const struct pfs_objmeta *m, const char *body_data,
                            size_t len)
{
    char *key;
    int rc = new_child_key(fs, &key, parent_ino, name, false);
    if (rc)
        return rc;
    struct pfs_meta_out mo;
    size_t n = pfs_meta_format(&mo, m);
    struct pfs_http_body body = {.data = body_data, .fd = -1, .len = len};
    struct pfs_status st;
    if (pfs_client_put(fs->client, key, &body, mo.kv, n, NULL, &st) != 0) {
        free(key);
        return pfs_sb_status_err(&st);
    }
    pthread_mutex_lock(&fs->lock);
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    struct inode *in = parent ? pfs_sb_new_inode(fs, parent_ino, name, key, false) : NULL;
    if (!in) {
        rc = parent ? -ENOMEM : -ENOENT;
    } else {
        pfs_sb_apply_meta(fs, in, m);
        in->size = len;
        in->link_target = in->is_link ? strndup(body_data, len) : NULL;
        in->ctype = strdup(""); /* sent none: a metadata change needs no HEAD */
        pfs_wb_cancel_deferred_deletes(fs, key, in);
        in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
        pfs_listing_put(parent->listing, name, false, len, m->mtime);
        struct pfs_dentry *d = pfs_listing_find(parent->listing, name);
        if (d) {
            d->meta = *m;
            d->meta_fetched = true;
        }
        in->nlookup++;
        pfs_sb_fill_attr(fs, in, out);
    }
    pthread_mutex_unlock(&fs->lock);
    free(key);
    return rc;
}

int pfs_fs_symlink(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name,
                   const char *target)
{
    size_t tlen = strlen(target);
    if (tlen == 0 || tlen > 4095)
        return tlen ? -ENAMETOOLONG : -ENOENT;
    struct pfs_objmeta m = fresh_meta(fs, S_IFLNK | 0777);
    return store_new_object(fs, out, parent_ino, name, &m, target, tlen);
}

int pfs_fs_mknod(struct pfs_fs *fs, struct pfs_attr *out, uint64_t parent_ino, const char *name,
                 mode_t mode, uint64_t rdev)
{
    mode_t type = mode & S_IFMT;
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    struct pfs_objmeta m = fresh_meta(fs, type | (mode & 07777 & ~fs->o.umask));
    m.has_ctime = true;
    m.ctime = m.mtime;
    m.ctime_ns = m.mtime_ns;
    m.has_rdev = type == S_IFCHR || type == S_IFBLK;
    m.rdev = m.has_rdev ? rdev : 0;
    return store_new_object(fs, out, parent_ino, name, &m, "", 0);
}

int pfs_fs_readlink(struct pfs_fs *fs, char *buf, size_t size, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct inode *in = pfs_sb_find_ino(fs, ino);
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
        return pfs_sb_status_err(&st);
    target[got] = '\0';
    pthread_mutex_lock(&fs->lock);
    in = pfs_sb_find_ino(fs, ino);
    if (in && !in->link_target)
        in->link_target = strdup(target);
    pthread_mutex_unlock(&fs->lock);
    snprintf(buf, size, "%s", target);
    return 0;
}

/* Renames the stored version of a file that is open with unfinished changes:
 * a server-side copy of what the store holds under old_key, then its DELETE;
 * the staged copy stays dirty and its base becomes the copy's version. The
 * caller holds src's io (no upload of src can start). Returns 0 or -errno. */
static int move_stored_version(struct pfs_fs *fs, struct inode *src, const char *old_key,
                               const char *new_key)
{
    struct pfs_object_info info;
    struct pfs_status st;
    if (pfs_client_head(fs->client, &info, old_key, &st) != 0) {
        if (pfs_status_errno(&st) != ENOENT)
            return pfs_sb_status_err(&st);
        /* Deleted behind the mount: nothing stored to move. */
        pthread_mutex_lock(&fs->lock);
        src->local_only = true;
        src->base_etag[0] = src->etag[0] = '\0';
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    uint64_t size = info.size;
    pfs_object_info_cleanup(&info);
    if (pfs_client_copy_object(fs->client, new_key, old_key, size, fs->o.part_size, false, NULL, 0,
                               &st) != 0)
        return pfs_sb_status_err(&st);
    /* The copy's version (a multipart copy gets an ETag of its own). */
    if (pfs_client_head(fs->client, &info, new_key, &st) != 0)
        return pfs_sb_status_err(&st);
    pthread_mutex_lock(&fs->lock);
    snprintf(src->etag, sizeof(src->etag), "%s", info.etag);
    snprintf(src->base_etag, sizeof(src->base_etag), "%s", info.etag);
    pthread_mutex_unlock(&fs->lock);
    pfs_object_info_cleanup(&info);
    if (pfs_client_delete(fs->client, old_key, &st) != 0)
        return pfs_sb_status_err(&st);
    return 0;
}

/* After a directory's tree moved: the new name gets a "dir/" marker with the
 * directory's attributes (the tree may be empty), then the objects other
 * tools made for the old name go (dir_$folder$, the "dir" object). */
static int move_dir_forms(struct pfs_fs *fs, struct inode *src, uint64_t parent_ino,
                          const char *name, const char *new_key)
{
    pthread_mutex_lock(&fs->lock);
    struct pfs_objmeta m;
    pfs_sb_inode_meta(src, &m);
    unsigned forms = src->dir_forms;
    struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
    char *parent_key = parent ? strdup(parent->key) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!parent_key)
        return parent ? -ENOMEM : -ENOENT;
    struct pfs_meta_out mo;
    size_t n = pfs_meta_format(&mo, &m);
    struct pfs_http_body empty = {.fd = -1};
    struct pfs_status st;
    int rc = pfs_client_put(fs->client, new_key, &empty, mo.kv, n, NULL, &st) != 0
                 ? pfs_sb_status_err(&st)
                 : delete_dir_forms(fs, parent_key, name, forms);
    free(parent_key);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        src->dir_forms = 0; /* a "dir/" marker now */
        pthread_mutex_unlock(&fs->lock);
    }
    return rc;
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
    struct inode *newparent = pfs_sb_find_ino(fs, newparent_ino);
    if (trc == 0) {
        dst = pfs_sb_find_ino(fs, a.ino);
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
    char *new_key = rc == 0 ? pfs_sb_child_key(newparent->key, newname, src->is_dir) : NULL;
    if (rc == 0 && (!old_key || !new_key))
        rc = -ENOMEM;
    pthread_mutex_unlock(&fs->lock);
    char inherited[80] = "";
    bool takes_over = false;
    if (rc == 0 && !dst && !src->is_dir) {
        pthread_mutex_lock(&fs->lock);
        bool pending = pfs_wb_delete_pending(fs, newparent_ino, newname);
        pthread_mutex_unlock(&fs->lock);
        if (pending) /* the old object there is now src's to replace */
            takes_over = pfs_wb_take_over_delete(fs, newparent_ino, newname, inherited);
    }
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
        ssize_t n_held = pfs_rename_lock_affected(fs, src, dst, &held);
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
            pfs_wb_stream_stop(held[i]);
        pthread_mutex_lock(&fs->lock);
        bool local = src->local_only;
        /* Open for writing with changes not closed yet (an overwrite under
         * way, logrotate's rename of a live log): those must not go up as
         * if complete. The stored version moves instead and the staged copy
         * follows the file, still dirty, to be stored at its close. */
        bool unfinished =
            !local && !src->is_dir && src->writers > 0 && (src->dirty || src->trunc_unwritten);
        /* The destination's stored object, which src now replaces. */
        if (dst && !dst->is_dir && !dst->local_only) {
            takes_over = true;
            snprintf(inherited, sizeof(inherited), "%s", dst->etag);
        }
        pthread_mutex_unlock(&fs->lock);
        pfs_wb_wait_unclaimed(fs, old_key);
        pfs_wb_wait_unclaimed(fs, new_key);
        struct pfs_status st;
        if (src->is_dir) {
            rc = pfs_rename_tree(fs, old_key, new_key);
            if (rc == 0 && src->dir_forms)
                rc = move_dir_forms(fs, src, parent_ino, name, new_key);
        } else if (unfinished) {
            rc = move_stored_version(fs, src, old_key, new_key);
        } else if (!local) {
            /* Pending changes go up under the old name first, so the copy
             * carries them; then copy (with its metadata) and delete. */
            rc = pfs_wb_upload_locked(fs, src);
            pthread_mutex_lock(&fs->lock);
            uint64_t size = src->size;
            pthread_mutex_unlock(&fs->lock);
            if (rc == 0 && pfs_client_copy_object(fs->client, new_key, old_key, size,
                                                  fs->o.part_size, false, NULL, 0, &st) != 0)
                rc = pfs_sb_status_err(&st);
            if (rc == 0 && pfs_client_delete(fs->client, old_key, &st) != 0)
                rc = pfs_sb_status_err(&st);
        }
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            struct inode *parent = pfs_sb_find_ino(fs, parent_ino);
            newparent = pfs_sb_find_ino(fs, newparent_ino);
            if (parent)
                pfs_listing_remove(parent->listing, name);
            if (dst && !dst->is_dir && !dst->unlinked) {
                dst->unlinked = true;
                pfs_sb_unhash_name(fs, dst);
                dst->dirty = false;
            }
            pfs_sb_rekey(fs, src, newparent_ino, newname, new_key);
            /* Linux changes a renamed inode's ctime; the copy keeps the
             * stored one, which a remount shows again (S75). */
            pfs_sb_changed_now(src);
            pfs_wb_cancel_deferred_deletes(fs, new_key, src);
            if (local && takes_over) {
                /* Not stored yet, over a stored object: recovery compares
                 * with that object's version, an unlink must DELETE it. */
                src->local_only = false;
                snprintf(src->etag, sizeof(src->etag), "%s", inherited);
                snprintf(src->base_etag, sizeof(src->base_etag), "%s", inherited);
            }
            if (newparent)
                pfs_listing_put(newparent->listing, newname, src->is_dir, src->size, src->mtime);
            pfs_sb_negative_forget(fs, newparent_ino, newname);
            pfs_sb_negative_add(fs, parent_ino, name);
            pthread_mutex_unlock(&fs->lock);
            /* Journal records follow their files' new keys (recovery must
             * upload under the name the file has now); the replaced file's
             * staged copy is nobody's content any more. */
            for (ssize_t i = 0; i < n_held; i++) {
                struct inode *c = held[i];
                if (!c->jid[0] || c->jstate == PFS_J_DELETE)
                    continue;
                if (c == dst) {
                    pfs_wb_journal_drop(fs, c);
                } else {
                    pfs_wb_journal_put(fs, c, c->jstate, NULL, false);
                    pfs_wb_snapshot_rekey(fs, c);
                }
            }
        }
        pfs_rename_unlock_affected(fs, held, (size_t)n_held);
    }
    free(old_key);
    free(new_key);
    if (dst)
        unpin(fs, dst);
    unpin(fs, src);
    return rc;
}

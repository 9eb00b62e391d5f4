/* The inode table (superblock): inodes by number and by parent+name under
 * fs->lock, kernel lookup counts apart from internal pins (open_count), key
 * changes (rekey), attributes from metadata, and the negative cache. Every
 * function here expects fs->lock held unless it says otherwise; none does
 * network I/O. */
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

/* ---- small helpers ---- */

double pfs_sb_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t pfs_sb_wall_now(void)
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

int pfs_sb_status_err(const struct pfs_status *st)
{
    int e = pfs_status_errno(st);
    return e ? -e : -EIO;
}

/* parent_key + name (+ "/" for a directory), heap-allocated; NULL on ENOMEM. */
char *pfs_sb_child_key(const char *parent_key, const char *name, bool is_dir)
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

struct inode *pfs_sb_find_ino(struct pfs_fs *fs, uint64_t ino)
{
    for (struct inode *i = fs->by_ino[ino % INO_BUCKETS]; i; i = i->next_by_ino)
        if (i->ino == ino)
            return i;
    return NULL;
}

struct inode *pfs_sb_find_child(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    for (struct inode *i = fs->by_name[name_bucket(parent, name)]; i; i = i->next_by_name)
        if (i->parent == parent && !i->unlinked && strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

void pfs_sb_unhash_name(struct pfs_fs *fs, struct inode *in)
{
    struct inode **pp = &fs->by_name[name_bucket(in->parent, in->name)];
    while (*pp && *pp != in)
        pp = &(*pp)->next_by_name;
    if (*pp)
        *pp = in->next_by_name;
    in->next_by_name = NULL;
}

void pfs_sb_free_inode(struct inode *in)
{
    pfs_listing_free(in->listing);
    /* Closing drops the journal lock; the files stay for the next mount
     * unless the entry was removed (pfs_wb_stage_discard, pfs_wb_journal_drop). */
    if (in->stage_fd >= 0)
        close(in->stage_fd);
    if (in->jfd >= 0)
        close(in->jfd);
    if (in->snap_fd >= 0)
        close(in->snap_fd);
    free(in->stage_path);
    free(in->ctype);
    free(in->xattr);
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
void pfs_sb_maybe_drop(struct pfs_fs *fs, struct inode *in)
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
        pfs_sb_unhash_name(fs, in);
    fs->staged_total -= in->staged_bytes;
    pfs_sb_free_inode(in);
}

struct inode *pfs_sb_new_inode(struct pfs_fs *fs, uint64_t parent, const char *name,
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
    in->snap_fd = -1;
    in->ino = fs->next_ino++;
    in->parent = parent;
    in->is_dir = is_dir;
    in->perm = (is_dir ? 0777 : 0666) & ~fs->o.umask;
    in->uid = fs->o.uid;
    in->gid = fs->o.gid;
    in->mtime = in->atime = in->ctime = pfs_sb_wall_now();
    in->next_by_ino = fs->by_ino[in->ino % INO_BUCKETS];
    fs->by_ino[in->ino % INO_BUCKETS] = in;
    size_t b = name_bucket(parent, name);
    in->next_by_name = fs->by_name[b];
    fs->by_name[b] = in;
    pfs_sb_negative_forget(fs, parent, name);
    return in;
}

mode_t pfs_sb_file_type(const struct inode *in)
{
    return in->is_dir ? S_IFDIR : in->is_link ? S_IFLNK : in->special ? in->special : S_IFREG;
}

void pfs_sb_fill_attr(const struct pfs_fs *fs, const struct inode *in, struct pfs_attr *out)
{
    (void)fs;
    memset(out, 0, sizeof(*out));
    out->ino = in->ino;
    out->mode = pfs_sb_file_type(in) | in->perm;
    out->rdev = in->rdev;
    out->size = in->is_dir ? 4096 : in->size;
    out->mtime = in->mtime;
    out->mtime_ns = in->mtime_ns;
    out->atime = in->atime;
    out->ctime = in->ctime;
    out->ctime_ns = in->ctime_ns;
    out->uid = in->uid;
    out->gid = in->gid;
    out->nlink = in->is_dir ? 2 : 1;
    out->blocks = (out->size + 511) / 512;
}

/* Attributes from stored metadata; what is missing takes the mount's defaults. */
void pfs_sb_apply_meta(struct pfs_fs *fs, struct inode *in, const struct pfs_objmeta *m)
{
    in->perm = m->has_mode ? (m->mode & 07777) : ((in->is_dir ? 0777 : 0666) & ~fs->o.umask);
    in->is_link = !in->is_dir && m->has_mode && S_ISLNK(m->mode);
    mode_t type = m->has_mode ? (m->mode & S_IFMT) : 0;
    bool special = type == S_IFIFO || type == S_IFSOCK || type == S_IFCHR || type == S_IFBLK;
    in->special = !in->is_dir && special ? type : 0;
    in->rdev = in->special && m->has_rdev ? m->rdev : 0;
    in->uid = m->has_uid ? m->uid : fs->o.uid;
    in->gid = m->has_gid ? m->gid : fs->o.gid;
    if (m->has_mtime) {
        in->mtime = in->ctime = in->atime = m->mtime;
        in->mtime_ns = in->ctime_ns = m->mtime_ns;
    }
    /* ctime as stored (chmod, chown, xattrs and writes set it), else mtime. */
    if (m->has_ctime) {
        in->ctime = m->ctime;
        in->ctime_ns = m->ctime_ns;
    }
}

/* The child inode for a name the store (or a listing) says exists; created or
 * refreshed. Does not touch attributes of files with local changes. meta is
 * NULL when the store's metadata was not read. */
struct inode *pfs_sb_upsert_child(struct pfs_fs *fs, struct inode *parent, const char *name,
                                  bool is_dir, uint64_t size, int64_t mtime, const char *etag,
                                  const struct pfs_objmeta *meta)
{
    struct inode *in = pfs_sb_find_child(fs, parent->ino, name);
    if (in && in->is_dir != is_dir && !in->local_only && in->open_count == 0 && in->nlookup == 0) {
        /* It changed kind in the store: forget the old inode's name. */
        in->unlinked = true;
        pfs_sb_unhash_name(fs, in);
        in = NULL;
    }
    if (!in) {
        char *key = pfs_sb_child_key(parent->key, name, is_dir);
        if (!key)
            return NULL;
        in = pfs_sb_new_inode(fs, parent->ino, name, key, is_dir);
        free(key);
        if (!in)
            return NULL;
        /* Attributes never read: a HEAD was due (metadata=head) but failed. */
        in->meta_unread = !meta && fs->o.head_metadata;
    } else if (in->is_dir != is_dir) {
        return in; /* an open or looked-up inode keeps its kind until forgotten */
    }
    bool local_changes = in->local_only || in->open_count > 0 || in->pending_upload;
    if (!local_changes) {
        if (strcmp(in->etag, etag) != 0 || !*etag) { /* another version: read again */
            free(in->ctype);
            in->ctype = NULL;
            free(in->xattr);
            in->xattr = NULL;
        }
        in->size = size;
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
        if (mtime) {
            in->mtime = in->ctime = in->atime = mtime;
            in->mtime_ns = in->ctime_ns = 0;
        }
        if (meta) {
            pfs_sb_apply_meta(fs, in, meta);
            in->meta_unread = false;
        }
    }
    in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
    return in;
}

/* ---- the negative-lookup cache (fs->lock held) ---- */

void pfs_sb_negative_forget(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    pfs_negcache_forget(fs->negatives, parent, name);
}

bool pfs_sb_negative_known(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    return pfs_negcache_known(fs->negatives, parent, name, pfs_sb_mono_now());
}

/* The kernel asks again for O_EXCL creates even when it cached the answer. */
void pfs_sb_negative_add(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    if (fs->o.negative_timeout > 0)
        pfs_negcache_add(fs->negatives, parent, name, pfs_sb_mono_now() + fs->o.negative_timeout);
}

/* What to store as the object's metadata (fs->lock held). */
void pfs_sb_inode_meta(const struct inode *in, struct pfs_objmeta *m)
{
    memset(m, 0, sizeof(*m));
    m->has_mode = m->has_uid = m->has_gid = m->has_mtime = m->has_ctime = true;
    m->mode = pfs_sb_file_type(in) | in->perm;
    m->uid = in->uid;
    m->gid = in->gid;
    m->mtime = in->mtime;
    m->mtime_ns = in->mtime_ns;
    m->ctime = in->ctime;
    m->ctime_ns = in->ctime_ns;
    m->has_rdev = in->special == S_IFCHR || in->special == S_IFBLK;
    m->rdev = in->rdev;
}

void pfs_sb_now_into(struct inode *in)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    in->mtime = in->ctime = ts.tv_sec;
    in->mtime_ns = in->ctime_ns = (uint32_t)ts.tv_nsec;
}

void pfs_sb_changed_now(struct inode *in)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    in->ctime = ts.tv_sec;
    in->ctime_ns = (uint32_t)ts.tv_nsec;
}

/* Moves an inode (and, for a directory, every cached descendant) to a new
 * name and key. fs->lock held. */
void pfs_sb_rekey(struct pfs_fs *fs, struct inode *in, uint64_t new_parent, const char *new_name,
                  const char *new_key)
{
    char *old_key = in->key;
    size_t old_len = strlen(old_key);
    if (!in->unlinked)
        pfs_sb_unhash_name(fs, in);
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
                char *k = pfs_sb_child_key(new_key, c->key + old_len, false);
                if (k) {
                    free(c->key);
                    c->key = k;
                }
            }
    }
    free(old_key);
}

/* The write side of a file: its staged copy in the journal, uploads (sync,
 * async queue, streaming multipart), retries of failed uploads, deferred
 * deletes, and the callbacks recovery uses to ask about live keys. What its
 * journal records promise, and the snapshot of an acknowledged version, are
 * writeback_journal.c's. The
 * inode's io lock serialises this (lock order: io before fs->lock); an
 * upload lets go of io for its transfer and marks the inode `uploading`, and
 * pfs_wb_io_lock waits for it, so no lock is held across network I/O. */
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
#include "xattrs.h"

/* Recovery's questions (recovery.h). A key is busy while a file here holds
 * local changes for it: its upload, not the journal's older copy, wins. */
static bool key_busy_locked(struct pfs_fs *fs, const char *key)
{
    for (size_t b = 0; b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino)
            if (!i->unlinked && (i->dirty || i->pending_upload || i->local_only) &&
                strcmp(i->key, key) == 0)
                return true;
    return false;
}

/* Recovery's claim on a key (struct pfs_recovery_opts). */
static bool claim_key(void *ctx, const char *key)
{
    struct pfs_fs *fs = ctx;
    pthread_mutex_lock(&fs->lock);
    bool ok = !key_busy_locked(fs, key);
    if (ok && fs->n_claims == fs->cap_claims) {
        size_t cap = fs->cap_claims ? 2 * fs->cap_claims : 4;
        char **v = realloc(fs->claims, cap * sizeof(*v));
        if (v) {
            fs->claims = v;
            fs->cap_claims = cap;
        }
        ok = v != NULL;
    }
    char *k = ok ? strdup(key) : NULL;
    if (k)
        fs->claims[fs->n_claims++] = k;
    pthread_mutex_unlock(&fs->lock);
    return k != NULL;
}

static void unclaim_key(void *ctx, const char *key)
{
    struct pfs_fs *fs = ctx;
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->n_claims; i++)
        if (strcmp(fs->claims[i], key) == 0) {
            free(fs->claims[i]);
            fs->claims[i] = fs->claims[--fs->n_claims];
            break;
        }
    pthread_cond_broadcast(&fs->claim_done);
    pthread_mutex_unlock(&fs->lock);
}

void pfs_wb_wait_unclaimed(struct pfs_fs *fs, const char *key)
{
    pthread_mutex_lock(&fs->lock);
    for (;;) {
        bool claimed = false;
        for (size_t i = 0; i < fs->n_claims && !claimed; i++)
            claimed = strcmp(fs->claims[i], key) == 0;
        if (!claimed)
            break;
        pthread_cond_wait(&fs->claim_done, &fs->lock);
    }
    pthread_mutex_unlock(&fs->lock);
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
                pfs_sb_negative_forget(fs, i->ino, key + dir_len);
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

/* Takes in->io once no upload of in is in flight (see struct inode). */
void pfs_wb_io_lock(struct inode *in)
{
    pthread_mutex_lock(&in->io);
    while (in->uploading)
        pthread_cond_wait(&in->io_idle, &in->io);
}

/* ---- streaming uploads (inode io lock held) ---- */

/* The file stops being a candidate: an upload streamed so far is aborted
 * (its content goes up whole at close instead). */
void pfs_wb_stream_stop(struct inode *in)
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
        pfs_wb_journal_put(fs, in, PFS_J_OPEN, NULL, false);
    }
    char path[PATH_MAX];
    pfs_journal_data_path(fs->journal, in->jid, path, sizeof(path));
    free(in->stage_path);
    in->stage_path = strdup(path);
    return 0;
}

void pfs_wb_stage_discard(struct pfs_fs *fs, struct inode *in)
{
    pfs_wb_stream_stop(in);
    if (in->jstate == PFS_J_DELETE && in->stage_fd >= 0) {
        /* The deferred delete still needs its entry: keep the (emptied)
         * data file as its lock. */
        if (ftruncate(in->stage_fd, 0) != 0)
            PFS_WARN("cannot empty %s: %s", in->stage_path, strerror(errno));
        in->jfd = in->stage_fd;
        in->stage_fd = -1;
    } else {
        pfs_wb_journal_drop(fs, in);
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
int pfs_wb_stage_reserve(struct pfs_fs *fs, struct inode *in, uint64_t new_size)
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
int pfs_wb_ensure_staged(struct pfs_fs *fs, struct inode *in, bool truncate)
{
    if (in->stage_fd >= 0) {
        if (truncate) {
            int rc = pfs_wb_before_change(fs, in);
            if (rc)
                return rc;
            pfs_wb_stream_stop(in);
            if (ftruncate(in->stage_fd, 0) != 0)
                return -errno;
            in->stream_ok = true;
        }
        return 0;
    }
    /* The new version keeps the stored owner and mode (S79). */
    int rc = pfs_lookup_read_unread(fs, in);
    if (rc)
        return rc;
    pthread_mutex_lock(&fs->lock);
    uint64_t size = in->size;
    bool fetch = !truncate && !in->local_only && size > 0;
    /* The version this copy replaces, for recovery's conflict check. */
    snprintf(in->base_etag, sizeof(in->base_etag), "%s", in->local_only ? "" : in->etag);
    pthread_mutex_unlock(&fs->lock);
    rc = pfs_wb_stage_reserve(fs, in, truncate ? 0 : size);
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
            rc = pfs_sb_status_err(&st);
        } else {
            pthread_mutex_lock(&fs->lock);
            snprintf(in->base_etag, sizeof(in->base_etag), "%s", etag);
            snprintf(in->etag, sizeof(in->etag), "%s", etag);
            /* Someone else replaced the object: stage what it is now. */
            in->size = got;
            pthread_mutex_unlock(&fs->lock);
        }
        if (rc)
            pfs_wb_stage_discard(fs, in);
    }
    return rc;
}

/* Was parent/name unlinked while open, its DELETE deferred to the last
 * close? The object is still in the store, but the name is gone. fs->lock
 * held. */
bool pfs_wb_delete_pending(struct pfs_fs *fs, uint64_t parent, const char *name)
{
    for (size_t b = 0; fs->deferred_deletes && b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino)
            if (i->delete_on_release && i->parent == parent && strcmp(i->name, name) == 0)
                return true;
    return false;
}

/* A new file takes parent/name while the old file of that name, unlinked but
 * still open, waits to DELETE its object at its last close. The new file
 * inherits the old object instead: the deferred DELETE (and its journal
 * record) is cancelled, and etag_out gets the stored version the new file
 * replaces, so that a failed upload, a crash or an unlink of the new file
 * settles the key as if the new file had been written over the old object
 * (never bringing the unlinked content back, never deleting the new one).
 * Takes the old inode's io, so no DELETE of it is in flight. No lock held. */
bool pfs_wb_take_over_delete(struct pfs_fs *fs, uint64_t parent, const char *name,
                             char etag_out[80])
{
    struct inode *old = NULL;
    pthread_mutex_lock(&fs->lock);
    for (size_t b = 0; !old && fs->deferred_deletes && b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i && !old; i = i->next_by_ino)
            if (i->delete_on_release && i->parent == parent && strcmp(i->name, name) == 0)
                old = i;
    if (old)
        old->open_count++;
    pthread_mutex_unlock(&fs->lock);
    if (!old)
        return false;
    pthread_mutex_lock(&old->io);
    pthread_mutex_lock(&fs->lock);
    bool had = old->delete_on_release;
    if (had) {
        old->delete_on_release = false;
        fs->deferred_deletes--;
        snprintf(etag_out, 80, "%s", old->etag);
    }
    pthread_mutex_unlock(&fs->lock);
    if (had && old->jid[0] && old->jstate == PFS_J_DELETE) {
        pfs_wb_journal_drop(fs, old);
        old->jstate = PFS_J_OPEN;
    }
    pthread_mutex_unlock(&old->io);
    pthread_mutex_lock(&fs->lock);
    old->open_count--;
    pfs_sb_maybe_drop(fs, old);
    pthread_mutex_unlock(&fs->lock);
    return had;
}

/* Another file now owns key: a deferred DELETE of an unlinked inode with the
 * same key would remove the new object. fs->lock held. */
void pfs_wb_cancel_deferred_deletes(struct pfs_fs *fs, const char *key, const struct inode *except)
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
        pfs_wb_journal_put(u->fs, u->in, u->in->jstate, NULL, false);
    pthread_mutex_unlock(&u->in->io);
}

/* Uploads the staged content if it is dirty. Returns 0 or the failure's
 * errno (the staged data is kept; a transient failure is retried later, a
 * permanent one only when the file changes or is flushed again). */
int pfs_wb_upload_locked(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    bool skip = !in->dirty || in->unlinked;
    uint64_t size = in->size;
    struct pfs_objmeta m;
    pfs_sb_inode_meta(in, &m);
    char *key = strdup(in->key);
    bool ct_failed = false;
    char *ctype = skip ? NULL : pfs_wb_content_type(fs, in, &ct_failed);
    pthread_mutex_unlock(&fs->lock);
    if (skip || !key || ct_failed) {
        free(key);
        free(ctype);
        return skip ? 0 : -ENOMEM;
    }
    struct pfs_meta_out mo;
    size_t n_meta = pfs_meta_format(&mo, &m);
    n_meta = pfs_meta_add(&mo, n_meta, PFS_META_CONTENT_TYPE, ctype);
    struct pfs_status st;
    struct upload_note note = {fs, in};
    struct pfs_upload_report report = {.mpu_started = note_mpu, .ctx = &note};
    /* No lock across the transfer: pfs_wb_io_lock callers wait for it to end. */
    in->uploading = true;
    int fd = in->stage_fd;
    struct pfs_stream *stream = in->stream; /* parts sent while it was written */
    in->stream = NULL;
    in->stream_ok = false;
    pthread_mutex_unlock(&in->io);
    pfs_wb_wait_unclaimed(fs, key); /* recovery's older copy goes first */
    /* An overwrite keeps the stored extended attributes (s3fs does too). */
    char *xattr = NULL;
    int lrc = pfs_wb_load_stored(fs, in);
    if (lrc == 0) {
        bool xa_failed = false;
        pthread_mutex_lock(&fs->lock);
        xattr = pfs_wb_xattr_copy(in, &xa_failed);
        pthread_mutex_unlock(&fs->lock);
        n_meta = pfs_meta_add(&mo, n_meta, PFS_XATTR_META, xattr);
        lrc = xa_failed ? -ENOMEM : 0;
    }
    pfs_status_clear(&st);
    int rc = -1;
    if (stream) {
        rc = pfs_stream_finish(stream, size, report.etag, &st);
        if (rc != 0) {
            char what[600];
            pfs_status_describe(&st, what, sizeof(what));
            PFS_WARN("streamed upload of %s failed (%s); uploading it whole", key, what);
        }
    }
    if (rc != 0 && lrc == 0) {
        if (pfs_client_upload_is_multipart(size, fs->o.multipart_threshold))
            pfs_wb_note_mpu_intent(fs, in);
        rc = pfs_client_upload_fd(fs->client, key, fd, 0, size, mo.kv, n_meta, fs->o.part_size,
                                  fs->o.multipart_threshold, &report, &st);
    } else if (rc != 0) {
        pfs_status_clear(&st);
        st.error = lrc;
        pfs_status_set(&st, "", "cannot read the stored object's metadata", NULL);
    }
    free(xattr);
    pthread_mutex_lock(&in->io);
    in->uploading = false;
    in->mpu_started = 0; /* completed or aborted (the client aborts what fails) */
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
        free(in->ctype); /* what the store now holds */
        in->ctype = ctype ? ctype : strdup("");
        ctype = NULL;
        pthread_mutex_unlock(&fs->lock);
        pfs_wb_snapshot_drop(fs, in); /* newer content is stored */
        /* Stored: a crash from here on must not upload this copy again. */
        if (in->jstate != PFS_J_OPEN || had_mpu)
            pfs_wb_journal_put(fs, in, PFS_J_OPEN, NULL, false);
    }
    pthread_mutex_lock(&fs->lock);
    if (rc == 0) {
        bool was_pending = in->pending_upload && in->upload_err != 0; /* failed before */
        in->dirty = false;
        in->local_only = false;
        in->pending_upload = false;
        in->upload_permanent = false;
        in->trunc_unwritten = false;
        /* Stored: an unlinked file's DELETE deferred for this key would now
         * remove this content (only after success: until then the old
         * object is what the key holds). */
        pfs_wb_cancel_deferred_deletes(fs, in->key, in);
        in->attr_expires = pfs_sb_mono_now() + fs->o.attr_timeout;
        struct inode *parent = pfs_sb_find_ino(fs, in->parent);
        if (parent && !in->unlinked)
            pfs_listing_put(parent->listing, in->name, false, in->size, in->mtime);
        pthread_mutex_unlock(&fs->lock);
        if (was_pending)
            PFS_WARN("upload of %s succeeded on retry", in->key);
        return 0;
    }
    free(ctype);
    int err = pfs_sb_status_err(&st);
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
    pfs_wb_journal_put(fs, in, permanent ? PFS_J_FAILED : PFS_J_CLOSED, what, true);
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
    if (!in->jid[0] || in->stage_fd < 0 ||
        pfs_wb_journal_put(fs, in, PFS_J_CLOSED, NULL, true) != 0)
        return pfs_wb_upload_locked(fs, in);
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
int pfs_wb_store_or_queue(struct pfs_fs *fs, struct inode *in)
{
    return fs->o.upload_async ? queue_upload(fs, in) : pfs_wb_upload_locked(fs, in);
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
        pfs_wb_io_lock(in);
        /* Written again since it was queued (the record says OPEN): the
         * next close queues it again; half-written content is not stored. */
        if (in->jstate == PFS_J_CLOSED && in->dirty) {
            pfs_wb_upload_locked(fs, in);
        }
        pthread_mutex_lock(&fs->lock);
        bool unused = in->open_count == 1;
        pthread_mutex_unlock(&fs->lock);
        if (unused && !in->dirty && in->stage_fd >= 0)
            pfs_wb_stage_discard(fs, in);
        pthread_mutex_unlock(&in->io);
        pthread_mutex_lock(&fs->lock);
        in->open_count--;
        pfs_sb_maybe_drop(fs, in);
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
                pfs_wb_io_lock(in);
                int rc = pfs_wb_upload_locked(fs, in);
                if (rc == 0 && !in->dirty)
                    pfs_wb_stage_discard(fs, in);
                pthread_mutex_unlock(&in->io);
                pthread_mutex_lock(&fs->lock);
                in->open_count--;
                /* The bucket chain may have changed: restart it, dropping
                 * this inode if nothing refers to it any more. */
                pfs_sb_maybe_drop(fs, in);
                break;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

/* After a write at off to a file that held `before` bytes: appends keep a
 * streamed upload going (started once a whole part is written); anything
 * else stops it. io held. */
void pfs_wb_stream_after_write(struct pfs_fs *fs, struct inode *in, uint64_t off, uint64_t before)
{
    if (!in->stream_ok)
        return;
    if (off != before) {
        pfs_wb_stream_stop(in);
        return;
    }
    uint64_t start_at =
        fs->o.part_size > fs->o.multipart_threshold ? fs->o.part_size : fs->o.multipart_threshold;
    if (!in->stream && in->size >= start_at) {
        pthread_mutex_lock(&fs->lock);
        struct pfs_objmeta m;
        pfs_sb_inode_meta(in, &m);
        char *key = strdup(in->key);
        bool ct_failed = false;
        char *ctype = pfs_wb_content_type(fs, in, &ct_failed);
        char *xattr = pfs_wb_xattr_copy(in, &ct_failed); /* when known */
        pthread_mutex_unlock(&fs->lock);
        /* The object's time is the completion's (Last-Modified): the file's
         * mtime moves on with every write. */
        m.has_mtime = m.has_ctime = false;
        struct pfs_meta_out mo;
        size_t n_meta = pfs_meta_format(&mo, &m);
        n_meta = pfs_meta_add(&mo, n_meta, PFS_META_CONTENT_TYPE, ctype);
        n_meta = pfs_meta_add(&mo, n_meta, PFS_XATTR_META, xattr);
        struct pfs_status st;
        if (key && !ct_failed)
            pfs_wb_note_mpu_intent(fs, in);
        int rc = key && !ct_failed
                     ? pfs_stream_start(&in->stream, fs->client, fs->pool, key, mo.kv, n_meta,
                                        in->stage_fd, fs->o.part_size, fs->o.max_inflight, &st)
                     : -1;
        free(key);
        free(ctype);
        free(xattr);
        if (rc != 0) {
            in->stream_ok = false; /* uploaded whole at close */
            return;
        }
        free(in->upload_id);
        in->upload_id = strdup(pfs_stream_upload_id(in->stream));
        in->upload_part_size = fs->o.part_size;
        pfs_wb_journal_put(fs, in, in->jstate, NULL, false); /* recovery aborts it after a crash */
    }
    if (in->stream && pfs_stream_feed(in->stream, in->size) != 0)
        pfs_wb_stream_stop(in);
}

char *pfs_wb_content_type(struct pfs_fs *fs, const struct inode *in, bool *failed)
{
    const char *t = in->ctype ? in->ctype : pfs_mime_for_key(fs->mime, in->key);
    char *copy = t && *t ? strdup(t) : NULL;
    *failed = t && *t && !copy;
    return copy;
}

char *pfs_wb_xattr_copy(const struct inode *in, bool *failed)
{
    char *copy = in->xattr ? strdup(in->xattr) : NULL;
    *failed = in->xattr && !copy;
    return copy;
}

/* The Content-Type and extended attributes an object in the store has: a
 * copy with REPLACE (or an overwrite) must send them again or the store
 * drops them. */
int pfs_wb_load_stored(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    bool known = in->ctype || in->local_only;
    char *key = known ? NULL : strdup(in->key);
    pthread_mutex_unlock(&fs->lock);
    if (known)
        return 0;
    if (!key)
        return -ENOMEM;
    struct pfs_status st;
    struct pfs_object_info info;
    int rc = pfs_client_head(fs->client, &info, key, &st);
    free(key);
    if (rc != 0 && pfs_status_errno(&st) != ENOENT)
        return pfs_sb_status_err(&st);
    const char *xv = rc == 0 ? pfs_object_info_meta(&info, PFS_XATTR_META) : NULL;
    char *t = strdup(rc == 0 ? info.content_type : "");
    char *x = xv ? strdup(xv) : NULL;
    pfs_object_info_cleanup(&info);
    if (!t || (xv && !x)) {
        free(t);
        free(x);
        return -ENOMEM;
    }
    pthread_mutex_lock(&fs->lock);
    if (!in->ctype) {
        in->ctype = t;
        free(in->xattr);
        in->xattr = x;
    } else {
        free(t);
        free(x);
    }
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

/* Stores an existing object's new attributes: a copy onto itself with the
 * REPLACE directive (no re-upload); a directory's marker is written again. */
int pfs_wb_store_meta(struct pfs_fs *fs, struct inode *in)
{
    struct pfs_status st;
    int rc = pfs_wb_load_stored(fs, in);
    if (rc)
        return rc;
    pthread_mutex_lock(&fs->lock);
    struct pfs_objmeta m;
    pfs_sb_inode_meta(in, &m);
    char *key = strdup(in->key);
    bool is_dir = in->is_dir;
    /* A directory another tool stored as an object "dir" (no marker "dir/")
     * keeps that form: its attributes go where they are read from. */
    if (key && is_dir && (in->dir_forms & PFS_DIRFORM_OBJECT) && *key)
        key[strlen(key) - 1] = '\0';
    uint64_t size = in->size;
    bool ct_failed = false, xa_failed = false;
    char *ctype = is_dir ? NULL : pfs_wb_content_type(fs, in, &ct_failed);
    char *xattr = pfs_wb_xattr_copy(in, &xa_failed);
    pthread_mutex_unlock(&fs->lock);
    if (!key || ct_failed || xa_failed) {
        free(key);
        free(ctype);
        free(xattr);
        return -ENOMEM;
    }
    struct pfs_meta_out mo;
    size_t n = pfs_meta_format(&mo, &m);
    /* REPLACE replaces the Content-Type and every other metadata: the stored
     * type and extended attributes are sent again. */
    n = pfs_meta_add(&mo, n, PFS_META_CONTENT_TYPE, ctype);
    n = pfs_meta_add(&mo, n, PFS_XATTR_META, xattr);
    pfs_wb_wait_unclaimed(fs, key);
    if (is_dir) {
        struct pfs_http_body empty = {.fd = -1};
        rc = pfs_client_put(fs->client, key, &empty, mo.kv, n, NULL, &st);
    } else {
        rc = pfs_client_copy_object(fs->client, key, key, size, fs->o.part_size, true, mo.kv, n,
                                    &st);
    }
    free(key);
    free(ctype);
    free(xattr);
    return rc == 0 ? 0 : pfs_sb_status_err(&st);
}

/* The background side of the write path: the retry thread, the uploader
 * threads of upload=async and recovery of what an earlier daemon left in the
 * journal (in the background: the mount answers at once). */
void pfs_wb_start(struct pfs_fs *fs)
{
    int rc;
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
        .mime = fs->mime,
        .claim = claim_key,
        .unclaim = unclaim_key,
        .changed = key_changed,
        .account = account_recovered,
        .ctx = fs,
    };
    if (!fs->o.read_only && (rc = pfs_recovery_start(&fs->recovery, fs->client, fs->journal, &ro)))
        PFS_ERROR("cannot recover the journal in %s: %s; its files stay there", fs->cache_dir,
                  strerror(-rc));
}

/* Stops recovery and the background threads; the uploaders drain the queue
 * first, so an unmount waits for every queued upload. */
void pfs_wb_stop(struct pfs_fs *fs)
{
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
}

/* At unmount, the last chance of an inode's pending work: its upload and a
 * deferred delete; what fails stays in the journal for the next mount. */
void pfs_wb_settle(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&in->io); /* pfs_wb_upload_locked lets go of it for the transfer */
    bool keep = false;
    if (in->dirty && !in->unlinked && in->stage_fd >= 0) {
        /* Last chance: unmounting waits for every pending upload. */
        if (pfs_wb_upload_locked(fs, in) != 0) {
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
        pfs_wb_journal_drop(fs, in);
    pthread_mutex_unlock(&in->io);
}

void pfs_fs_upload_stats(struct pfs_fs *fs, struct pfs_upload_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&fs->lock);
    for (struct inode *i = fs->queue_head; i; i = i->next_queued)
        out->queued++;
    for (size_t b = 0; b < INO_BUCKETS; b++)
        for (struct inode *i = fs->by_ino[b]; i; i = i->next_by_ino) {
            /* `uploading` is the uploading thread's (under in->io, which
             * this must not take: io comes before fs->lock); a gauge can
             * read it a moment late. */
            if (__atomic_load_n(&i->uploading, __ATOMIC_RELAXED))
                out->in_flight++;
            if (i->pending_upload && i->upload_err != 0)
                out->failed++;
            if (!i->unlinked && (i->dirty || i->pending_upload))
                out->pending++;
        }
    out->staged_bytes = fs->staged_total;
    pthread_mutex_unlock(&fs->lock);
}

/* A written file's journal records (struct pfs_jrec, journal.c): its own
 * entry, which says whether its staged copy is still being written (OPEN),
 * acknowledged by a close (CLOSED), refused for good (FAILED) or a deferred
 * DELETE, and the snapshot of an acknowledged version the store lacks while
 * the file changes again (S48). Recovery acts on exactly what these records
 * say after a crash, so each write here is the promise the file system
 * makes at that moment. Inode io lock held throughout (writeback.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#include "fs_internal.h"

/* in's current version. fs->lock held. */
static void version_of(const struct inode *in, struct pfs_wb_version *v)
{
    v->size = in->size;
    v->perm = in->perm;
    v->uid = in->uid;
    v->gid = in->gid;
    v->mtime = in->mtime;
    v->mtime_ns = in->mtime_ns;
    v->attempts = in->attempts;
    snprintf(v->base_etag, sizeof(v->base_etag), "%s", in->base_etag);
}

/* r: a record under id, in state `state` and in's current key, stating
 * version v (NULL: in's current one). r->key is the caller's to free.
 * Returns 0 or -ENOMEM. */
static int record_init(struct pfs_fs *fs, struct inode *in, const struct pfs_wb_version *v,
                       const char *id, enum pfs_jstate state, struct pfs_jrec *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    struct pfs_wb_version cur;
    pthread_mutex_lock(&fs->lock);
    r->key = strdup(in->key);
    if (!v) {
        version_of(in, &cur);
        v = &cur;
    }
    pthread_mutex_unlock(&fs->lock);
    if (!r->key)
        return -ENOMEM;
    r->state = state;
    r->bucket = fs->bucket;
    r->prefix = fs->prefix;
    r->size = v->size;
    r->mode = S_IFREG | v->perm;
    r->uid = v->uid;
    r->gid = v->gid;
    r->mtime = v->mtime;
    r->mtime_ns = v->mtime_ns;
    r->attempts = v->attempts;
    snprintf(r->base_etag, sizeof(r->base_etag), "%s", v->base_etag);
    return 0;
}

/* Writes in's record in state `state` (error: the last upload failure, or
 * NULL) under id (the data file fd), as journal_put describes. A record that
 * is not OPEN is durable, and so is its data first when durable is set:
 * CLOSED is the promise that the bytes survive a crash. Returns 0 or -errno
 * (logged by the journal). */
static int write_record(struct pfs_fs *fs, struct inode *in, const char *id, int fd,
                        enum pfs_jstate state, const char *error, bool durable, bool with_upload)
{
    struct pfs_jrec r;
    int rc = record_init(fs, in, NULL, id, state, &r);
    if (rc)
        return rc;
    r.upload_id = with_upload ? in->upload_id : NULL;
    r.part_size = with_upload ? in->upload_part_size : 0;
    r.error = (char *)error;
    r.created = with_upload ? in->jcreated : 0;
    r.mpu_started = with_upload ? in->mpu_started : 0;
    rc = pfs_journal_write(fs->journal, &r, durable ? fd : -1, durable);
    if (with_upload)
        in->jcreated = r.created;
    free(r.key);
    return rc;
}

/* Forgets the snapshot of an acknowledged version (see snapshot_take). */
void pfs_wb_snapshot_drop(struct pfs_fs *fs, struct inode *in)
{
    if (!in->snap_jid[0])
        return;
    pfs_journal_remove(fs->journal, in->snap_jid);
    in->snap_jid[0] = '\0';
    if (in->snap_fd >= 0) {
        close(in->snap_fd);
        in->snap_fd = -1;
    }
}

/* The record of in's snapshot under in's current key, with the attributes
 * of the version it copies (saved by snapshot_take). Durable: it is the
 * promise that this version survives a crash. */
static int write_snapshot_record(struct pfs_fs *fs, struct inode *in)
{
    struct pfs_jrec r;
    int rc = record_init(fs, in, &in->snap, in->snap_jid, PFS_J_CLOSED, &r);
    if (rc)
        return rc;
    rc = pfs_journal_write(fs->journal, &r, in->snap_fd, true);
    free(r.key);
    return rc;
}

/* The acknowledged version in the staged copy could not be stored before a
 * change to it: a copy of it becomes a journal entry of its own, CLOSED, so
 * that a crash while the file is open again still leaves that version for
 * recovery to upload (the changed copy goes to lost+found, S42). It lives
 * until the file's record says CLOSED again or an upload stores newer
 * content, and follows the file's renames; the live daemon keeps its lock.
 * Returns 0 or -errno (logged). io held. */
static int snapshot_take(struct pfs_fs *fs, struct inode *in)
{
    if (in->snap_jid[0])
        return 0;
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    int rc = pfs_journal_create(fs->journal, id, &fd);
    if (rc != 0)
        return rc; /* logged by the journal */
    pthread_mutex_lock(&fs->lock);
    version_of(in, &in->snap);
    uint64_t size = in->size;
    pthread_mutex_unlock(&fs->lock);
    loff_t in_off = 0, out_off = 0;
    while (rc == 0 && (uint64_t)in_off < size) {
        ssize_t n =
            copy_file_range(in->stage_fd, &in_off, fd, &out_off, (size_t)(size - in_off), 0);
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;
    }
    if (rc == 0) {
        memcpy(in->snap_jid, id, sizeof(in->snap_jid));
        in->snap_fd = fd;
        rc = write_snapshot_record(fs, in);
    }
    if (rc != 0) {
        PFS_WARN("cannot keep a copy of the closed version of %s (%s) while it changes: the "
                 "change fails, so that version stays the one a crash leaves",
                 in->key, strerror(-rc));
        pfs_journal_remove(fs->journal, id);
        close(fd);
        in->snap_jid[0] = '\0';
        in->snap_fd = -1;
        return rc;
    }
    return 0;
}

int pfs_wb_snapshot_rekey(struct pfs_fs *fs, struct inode *in)
{
    if (!in->snap_jid[0])
        return 0;
    /* A rename over a stored object (or a move of the stored version)
     * gives the file a new base; the acknowledged version replaces that
     * one now, as the file's own record says. */
    pthread_mutex_lock(&fs->lock);
    snprintf(in->snap.base_etag, sizeof(in->snap.base_etag), "%s", in->base_etag);
    pthread_mutex_unlock(&fs->lock);
    int rc = write_snapshot_record(fs, in);
    if (rc != 0)
        PFS_WARN("cannot rename the saved copy of the closed version of %s (%s): a crash "
                 "before its next close may upload it under its old name",
                 in->key, strerror(-rc));
    return rc;
}

/* A CreateMultipartUpload is about to go out for in: the record says so,
 * durably, first (recovery lists and aborts what a crash inside that round
 * trip leaves, S43). The data is not fsynced for it. io held. */
void pfs_wb_note_mpu_intent(struct pfs_fs *fs, struct inode *in)
{
    if (!in->jid[0])
        return;
    in->mpu_started = pfs_sb_wall_now();
    write_record(fs, in, in->jid, -1, in->jstate, NULL, true, true);
}

int pfs_wb_journal_put(struct pfs_fs *fs, struct inode *in, enum pfs_jstate state,
                       const char *error, bool durable)
{
    if (!in->jid[0])
        return 0;
    int fd = in->stage_fd >= 0 ? in->stage_fd : in->jfd;
    int rc = write_record(fs, in, in->jid, fd, state, error, durable, true);
    if (rc == 0)
        in->jstate = state;
    if (rc == 0 && state != PFS_J_OPEN)
        pfs_wb_snapshot_drop(fs, in); /* a newer closed version supersedes it */
    return rc;
}

/* Forgets in's journal entry (its files go; an open data fd stays usable). */
void pfs_wb_journal_drop(struct pfs_fs *fs, struct inode *in)
{
    pfs_wb_snapshot_drop(fs, in);
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
void pfs_wb_journal_reopen(struct pfs_fs *fs, struct inode *in)
{
    if (in->jid[0] && (in->jstate == PFS_J_CLOSED || in->jstate == PFS_J_FAILED))
        pfs_wb_journal_put(fs, in, PFS_J_OPEN, NULL, true);
}

/* ---- before a change ---- */

/* The staged content is about to change while the version close
 * acknowledged is not stored yet (record CLOSED: queued by upload=async, or
 * its upload failed and waits for a retry): the change must not take the
 * only copy of acknowledged bytes with it. A small version is kept as a
 * journal snapshot (a local copy; a shell's `echo x > new` closes the empty
 * file once before it writes, and must not wait for the store); a large one
 * is uploaded first, and kept as a snapshot only when that fails. The
 * changing copy's record says OPEN again (doc/SEMANTICS.md S48). io held. */
#define SNAPSHOT_MAX (8u << 20)
int pfs_wb_before_change(struct pfs_fs *fs, struct inode *in)
{
    if (in->jid[0] && in->jstate == PFS_J_CLOSED && in->dirty && in->stage_fd >= 0) {
        pthread_mutex_lock(&fs->lock);
        bool large = in->size > SNAPSHOT_MAX;
        pthread_mutex_unlock(&fs->lock);
        if (large)
            pfs_wb_upload_locked(fs, in);
        if (in->jstate == PFS_J_CLOSED && in->dirty) {
            int rc = snapshot_take(fs, in);
            if (rc != 0)
                return rc; /* the record still promises the acknowledged version */
        }
    }
    pfs_wb_journal_reopen(fs, in);
    return 0;
}

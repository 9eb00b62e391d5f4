/* Recovery of the write-back journal at mount (see recovery.h).
 *
 * The scan adopts entries (it holds their data files' locks from then on),
 * sorts them into what is settled at once (lost+found) and what needs the
 * store, and a thread works through the rest. No lock is held across network
 * I/O: r->lock guards only the list and the stop flag. */
#include "recovery.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "meta.h"

struct entry {
    struct pfs_jrec rec;
    int fd; /* the locked data file */
    bool done;
};

struct pfs_recovery {
    struct pfs_client *client;
    struct pfs_journal *journal;
    struct pfs_recovery_opts o;
    char *bucket, *prefix;
    struct entry *v;
    size_t n, cap;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, started;
    pthread_t thread;
    unsigned pending;
};

/* ---- the content's ETag ---- */

static void hex_quoted(char out[80], const uint8_t *md5, int parts)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    out[n++] = '"';
    for (int i = 0; i < PFS_MD5_LEN; i++) {
        out[n++] = hex[md5[i] >> 4];
        out[n++] = hex[md5[i] & 15];
    }
    out[n] = '\0';
    if (parts > 0)
        snprintf(out + n, 80 - n, "-%d\"", parts);
    else
        snprintf(out + n, 80 - n, "\"");
}

/* MD5 of len bytes of fd at offset. */
static int md5_range(int fd, off_t offset, uint64_t len, uint8_t out[PFS_MD5_LEN])
{
    struct pfs_md5 *m = pfs_crypto_md5_begin();
    if (!m)
        return -ENOMEM;
    static const size_t chunk = 1 << 20;
    char *buf = malloc(chunk);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0 && len > 0) {
        size_t want = len < chunk ? (size_t)len : chunk;
        ssize_t got = pread(fd, buf, want, offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -errno : -EIO; /* shorter than the record says */
            break;
        }
        pfs_crypto_md5_update(m, buf, (size_t)got);
        offset += got;
        len -= (uint64_t)got;
    }
    pfs_crypto_md5_end(m, out);
    free(buf);
    return rc;
}

int pfs_recovery_content_etag(int fd, uint64_t len, uint64_t part_size, bool multipart,
                              char out[80])
{
    uint8_t md5[PFS_MD5_LEN];
    out[0] = '\0';
    if (!multipart) {
        int rc = md5_range(fd, 0, len, md5);
        if (rc == 0)
            hex_quoted(out, md5, 0);
        return rc;
    }
    if (part_size == 0)
        return -EINVAL;
    struct pfs_md5 *all = pfs_crypto_md5_begin();
    if (!all)
        return -ENOMEM;
    int parts = 0, rc = 0;
    for (uint64_t at = 0; rc == 0 && (at < len || parts == 0); at += part_size) {
        uint64_t n = len - at < part_size ? len - at : part_size;
        rc = md5_range(fd, (off_t)at, n, md5);
        pfs_crypto_md5_update(all, md5, sizeof(md5));
        parts++;
    }
    pfs_crypto_md5_end(all, md5);
    if (rc == 0)
        hex_quoted(out, md5, parts);
    return rc;
}

/* ETags compared without quotes and case (stores differ in both). */
static bool same_etag(const char *a, const char *b)
{
    while (*a == '"')
        a++;
    while (*b == '"')
        b++;
    size_t na = strcspn(a, "\""), nb = strcspn(b, "\"");
    return na > 0 && na == nb && strncasecmp(a, b, na) == 0;
}

/* Was the staged copy based on the stored version etag? A blind overwrite
 * (PFS_BASE_ANY) replaces any version. */
static bool based_on(const char *etag, const char *base)
{
    return strcmp(base, PFS_BASE_ANY) == 0 || same_etag(etag, base);
}

/* Does the store already hold exactly this copy? (The upload finished, the
 * daemon died before it removed the record.) */
static bool already_stored(const struct pfs_recovery *r, const struct entry *e,
                           const char *store_etag)
{
    char etag[80];
    uint64_t size = e->rec.size;
    bool mpu = size >= r->o.multipart_threshold && size > (5ull << 20);
    uint64_t part =
        e->rec.part_size ? e->rec.part_size : pfs_client_effective_part_size(size, r->o.part_size);
    if (pfs_recovery_content_etag(e->fd, size, part, mpu, etag) == 0 && same_etag(etag, store_etag))
        return true;
    /* The other form, in case the threshold changed between mounts. */
    return pfs_recovery_content_etag(e->fd, size, part, !mpu, etag) == 0 &&
           same_etag(etag, store_etag);
}

/* ---- settling one entry ---- */

enum outcome { DONE, RETRY };

static void drop_entry(struct pfs_recovery *r, struct entry *e)
{
    pfs_journal_remove(r->journal, e->rec.id); /* before the lock goes */
    close(e->fd);
    e->fd = -1;
    if (r->o.account && e->rec.state != PFS_J_DELETE)
        r->o.account(r->o.ctx, -(int64_t)e->rec.size);
}

static void to_lost_found(struct pfs_recovery *r, struct entry *e, const char *why)
{
    char path[PATH_MAX];
    if (pfs_journal_to_lost_found(r->journal, e->rec.id, e->rec.key, path, sizeof(path)) == 0)
        PFS_ERROR("recovery: %s '%s' (%" PRIu64 " bytes) was %s: kept in %s, not uploaded",
                  e->rec.key ? "file" : "an unnamed file", e->rec.key ? e->rec.key : "",
                  e->rec.size, why, path);
    close(e->fd);
    e->fd = -1;
    if (r->o.account)
        r->o.account(r->o.ctx, -(int64_t)e->rec.size);
}

/* A permanent failure: the record says FAILED with the reason; the data
 * stays for the user (status shows it), and the entry is let go. */
static void mark_failed(struct pfs_recovery *r, struct entry *e, const char *what)
{
    free(e->rec.error);
    e->rec.error = strdup(what);
    e->rec.state = PFS_J_FAILED;
    e->rec.attempts++;
    pfs_journal_write(r->journal, &e->rec, -1, true);
    PFS_ERROR("recovery: upload of %s failed: %s; not retried (the store refuses it), its data "
              "stays in the journal",
              e->rec.key, what);
    close(e->fd);
    e->fd = -1;
    if (r->o.account)
        r->o.account(r->o.ctx, -(int64_t)e->rec.size);
}

static enum outcome transient(struct pfs_recovery *r, struct entry *e, const char *doing,
                              const struct pfs_status *st)
{
    char what[600];
    pfs_status_describe(st, what, sizeof(what));
    if (pfs_status_permanent(st)) {
        mark_failed(r, e, what);
        return DONE;
    }
    e->rec.attempts++;
    if (e->rec.attempts == 1 || e->rec.attempts % 10 == 0)
        PFS_WARN("recovery: %s %s failed: %s; retried in %u s", doing, e->rec.key, what,
                 r->o.retry_interval_s);
    return RETRY;
}

static enum outcome settle_delete(struct pfs_recovery *r, struct entry *e)
{
    struct pfs_object_info info;
    struct pfs_status st;
    if (pfs_client_head(r->client, &info, e->rec.key, &st) != 0) {
        if (pfs_status_errno(&st) == ENOENT) {
            drop_entry(r, e);
            return DONE;
        }
        return transient(r, e, "the deferred delete of", &st);
    }
    bool replaced = e->rec.base_etag[0] && !based_on(info.etag, e->rec.base_etag);
    pfs_object_info_cleanup(&info);
    if (replaced) {
        PFS_WARN("recovery: %s was replaced in the store after it was unlinked here; the new "
                 "object is kept",
                 e->rec.key);
        drop_entry(r, e);
        return DONE;
    }
    if (pfs_client_delete(r->client, e->rec.key, &st) != 0)
        return transient(r, e, "the deferred delete of", &st);
    PFS_WARN("recovery: deleted %s (unlinked before the crash)", e->rec.key);
    if (r->o.changed)
        r->o.changed(r->o.ctx, e->rec.key);
    drop_entry(r, e);
    return DONE;
}

static enum outcome settle_upload(struct pfs_recovery *r, struct entry *e)
{
    struct pfs_status st;
    struct stat sb;
    if (fstat(e->fd, &sb) != 0 || (uint64_t)sb.st_size < e->rec.size) {
        to_lost_found(r, e, "shorter than its record says");
        return DONE;
    }
    struct pfs_object_info info;
    bool exists = true;
    if (pfs_client_head(r->client, &info, e->rec.key, &st) != 0) {
        if (pfs_status_errno(&st) != ENOENT)
            return transient(r, e, "the upload of", &st);
        exists = false;
    }
    if (exists) {
        bool based_on_it = e->rec.base_etag[0] && based_on(info.etag, e->rec.base_etag);
        bool same = !based_on_it && already_stored(r, e, info.etag);
        pfs_object_info_cleanup(&info);
        if (same) {
            PFS_WARN("recovery: %s was already stored", e->rec.key);
            drop_entry(r, e);
            return DONE;
        }
        if (!based_on_it) {
            to_lost_found(r, e, "changed in the store since it was staged here (a conflict)");
            return DONE;
        }
    }
    struct pfs_objmeta m = {
        .has_mode = true,
        .has_uid = true,
        .has_gid = true,
        .has_mtime = true,
        .mode = e->rec.mode,
        .uid = e->rec.uid,
        .gid = e->rec.gid,
        .mtime = e->rec.mtime,
        .mtime_ns = e->rec.mtime_ns,
    };
    struct pfs_meta_out mo;
    size_t n_meta = pfs_meta_format(&mo, &m);
    n_meta =
        pfs_meta_add(&mo, n_meta, PFS_META_CONTENT_TYPE, pfs_mime_for_key(r->o.mime, e->rec.key));
    struct pfs_upload_report rep = {0};
    if (pfs_client_upload_is_multipart(e->rec.size, r->o.multipart_threshold)) {
        e->rec.mpu_started = (int64_t)time(NULL); /* a crash here: S43 */
        pfs_journal_write(r->journal, &e->rec, -1, true);
    }
    if (pfs_client_upload_fd(r->client, e->rec.key, e->fd, 0, e->rec.size, mo.kv, n_meta,
                             r->o.part_size, r->o.multipart_threshold, &rep, &st) != 0)
        return transient(r, e, "the upload of", &st);
    PFS_WARN("recovery: uploaded %s (%" PRIu64 " bytes, closed before the last daemon stopped)",
             e->rec.key, e->rec.size);
    if (r->o.changed)
        r->o.changed(r->o.ctx, e->rec.key);
    drop_entry(r, e);
    return DONE;
}

/* A record names a key of this mount: below its prefix, not the prefix
 * itself, within the store's length limit. Anything else was not written by
 * a mount of this bucket and prefix (a damaged or planted record): no
 * request is made for it. */
static bool key_of_this_mount(const struct pfs_recovery *r, const char *key)
{
    size_t n = strlen(r->prefix);
    return key && strncmp(key, r->prefix, n) == 0 && key[n] != '\0' &&
           strlen(key) <= 1024; /* the S3 and TOS limit */
}

/* The record says a CreateMultipartUpload went out at mpu_started: uploads
 * of this key begun since then (a minute of slack for the store's clock)
 * that the record does not name are what a crash inside that round trip
 * left, and are aborted. Returns RETRY when the store cannot say now. */
static enum outcome abort_unnamed_uploads(struct pfs_recovery *r, struct entry *e)
{
    struct pfs_upload_list l;
    struct pfs_status st;
    if (pfs_client_list_uploads(r->client, &l, e->rec.key, &st) != 0) {
        if (!pfs_status_permanent(&st)) {
            e->rec.attempts++;
            return RETRY;
        }
        char what[600];
        pfs_status_describe(&st, what, sizeof(what));
        PFS_WARN("recovery: cannot list the multipart uploads of %s (%s); one begun just before "
                 "the crash may linger until the bucket's lifecycle rule removes it",
                 e->rec.key, what);
    } else {
        for (size_t i = 0; i < l.n; i++) {
            const struct pfs_upload_info *u = &l.v[i];
            bool named = e->rec.upload_id && strcmp(u->upload_id, e->rec.upload_id) == 0;
            if (named || strcmp(u->key, e->rec.key) != 0 ||
                (u->initiated && u->initiated < e->rec.mpu_started - 60))
                continue;
            if (pfs_client_mpu_abort(r->client, u->key, u->upload_id, &st) == 0) {
                PFS_WARN("recovery: aborted multipart upload %s of %s (begun as the last daemon "
                         "stopped)",
                         u->upload_id, u->key);
            } else if (!pfs_status_permanent(&st)) {
                pfs_upload_list_cleanup(&l);
                e->rec.attempts++;
                return RETRY;
            }
        }
        pfs_upload_list_cleanup(&l);
    }
    e->rec.mpu_started = 0;
    pfs_journal_write(r->journal, &e->rec, -1, true);
    return DONE;
}

static enum outcome settle(struct pfs_recovery *r, struct entry *e)
{
    if (!key_of_this_mount(r, e->rec.key)) {
        if (e->rec.state == PFS_J_DELETE) {
            PFS_ERROR("recovery: a deferred delete names '%s', not a key of this mount: dropped, "
                      "nothing deleted",
                      e->rec.key ? e->rec.key : "");
            drop_entry(r, e);
        } else {
            to_lost_found(r, e, "recorded under a key that is not one of this mount's");
        }
        return DONE;
    }
    if (e->rec.mpu_started && abort_unnamed_uploads(r, e) == RETRY)
        return RETRY;
    if (e->rec.upload_id) {
        /* Its parts are not reused (the data is uploaded again): abort it so
         * that it does not linger, billed, in the store. */
        struct pfs_status st;
        if (pfs_client_mpu_abort(r->client, e->rec.key, e->rec.upload_id, &st) == 0) {
            PFS_WARN("recovery: aborted multipart upload %s of %s", e->rec.upload_id, e->rec.key);
        } else if (!pfs_status_permanent(&st)) {
            e->rec.attempts++;
            return RETRY;
        } else {
            /* Refused for good: it must not keep the data from its upload. */
            char what[600];
            pfs_status_describe(&st, what, sizeof(what));
            PFS_WARN("recovery: cannot abort multipart upload %s of %s (%s); it may linger until "
                     "the bucket's lifecycle rule removes it",
                     e->rec.upload_id, e->rec.key, what);
        }
        free(e->rec.upload_id);
        e->rec.upload_id = NULL;
        free(e->rec.parts);
        e->rec.parts = NULL;
        e->rec.n_parts = 0;
        if (e->rec.state == PFS_J_OPEN) {
            to_lost_found(r, e, "still being written when the last daemon stopped");
            return DONE;
        }
        pfs_journal_write(r->journal, &e->rec, -1, true);
    }
    if (e->rec.state == PFS_J_OPEN) { /* its multipart uploads are settled by now */
        to_lost_found(r, e, "still being written when the last daemon stopped");
        return DONE;
    }
    /* The key stays claimed from the HEAD to the end of the upload or
     * DELETE: what the mount writes meanwhile is stored after it. (A copy
     * of the key: settling may free the entry.) */
    char *key = strdup(e->rec.key);
    if (!key)
        return RETRY;
    if (r->o.claim && !r->o.claim(r->o.ctx, key)) {
        free(key);
        return RETRY; /* a live file with this key is newer: wait for it */
    }
    enum outcome o = e->rec.state == PFS_J_DELETE ? settle_delete(r, e) : settle_upload(r, e);
    if (r->o.claim && r->o.unclaim)
        r->o.unclaim(r->o.ctx, key);
    free(key);
    return o;
}

/* ---- the scan ---- */

static bool ours(const struct pfs_recovery *r, const struct pfs_jrec *rec)
{
    return rec->bucket && rec->prefix && strcmp(rec->bucket, r->bucket) == 0 &&
           strcmp(rec->prefix, r->prefix) == 0;
}

static int adopt(void *ctx, struct pfs_jrec *rec, int fd)
{
    struct pfs_recovery *r = ctx;
    if (rec->key && !ours(r, rec)) {
        if (fd >= 0)
            close(fd); /* another mount's: left for it */
        return 0;
    }
    if (fd < 0) {
        /* A record whose data file is gone: nothing to upload. */
        if (rec->state == PFS_J_DELETE) {
            /* The lock file was lost; the delete itself is still owed. */
            PFS_WARN("recovery: the deferred delete of %s lost its lock file; deleting anyway",
                     rec->key);
        } else {
            PFS_ERROR("recovery: %s has a journal record but no data: dropped", rec->key);
            pfs_journal_remove(r->journal, rec->id);
            return 0;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct entry *v = realloc(r->v, cap * sizeof(*v));
        if (!v) {
            if (fd >= 0)
                close(fd);
            return 0; /* left for the next mount */
        }
        r->v = v;
        r->cap = cap;
    }
    struct entry *e = &r->v[r->n];
    memset(e, 0, sizeof(*e));
    if (pfs_jrec_copy(&e->rec, rec) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    e->fd = fd;
    r->n++;
    return 0;
}

static void *recovery_loop(void *arg)
{
    struct pfs_recovery *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping && r->pending > 0) {
        for (size_t i = 0; i < r->n && !r->stopping; i++) {
            struct entry *e = &r->v[i];
            if (e->done)
                continue;
            pthread_mutex_unlock(&r->lock);
            enum outcome o = settle(r, e);
            pthread_mutex_lock(&r->lock);
            if (o == DONE) {
                e->done = true;
                r->pending--;
            }
        }
        if (r->pending == 0 || r->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += r->o.retry_interval_s ? r->o.retry_interval_s : 30;
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
    }
    if (r->pending == 0 && r->n > 0)
        PFS_WARN("recovery: done");
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void free_recovery(struct pfs_recovery *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].fd >= 0)
            close(r->v[i].fd); /* the entry stays in the journal */
        pfs_jrec_cleanup(&r->v[i].rec);
    }
    free(r->v);
    free(r->bucket);
    free(r->prefix);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int pfs_recovery_start(struct pfs_recovery **out, struct pfs_client *client,
                       struct pfs_journal *journal, const struct pfs_recovery_opts *opts)
{
    *out = NULL;
    struct pfs_recovery *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->client = client;
    r->journal = journal;
    r->o = *opts;
    r->bucket = strdup(opts->bucket ? opts->bucket : "");
    r->prefix = strdup(opts->prefix ? opts->prefix : "");
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (!r->bucket || !r->prefix) {
        free_recovery(r);
        return -ENOMEM;
    }
    int rc = pfs_journal_scan(journal, adopt, r);
    if (rc) {
        free_recovery(r);
        return rc;
    }
    /* Settled without the store: files that were still open. */
    unsigned deletes = 0, lost = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct entry *e = &r->v[i];
        if (r->o.account && e->rec.state != PFS_J_DELETE)
            r->o.account(r->o.ctx, (int64_t)e->rec.size);
        if (e->rec.state == PFS_J_OPEN && !e->rec.upload_id && !e->rec.mpu_started) {
            to_lost_found(r, e, "still being written when the last daemon stopped");
            e->done = true;
            lost++;
        } else if (e->rec.state == PFS_J_DELETE) {
            deletes++;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i].done)
            r->pending++;
    if (r->n)
        PFS_WARN("recovery: the journal in this cache_dir holds %u file(s) to upload, %u "
                 "deferred delete(s) and %u file(s) moved to lost+found; the store is updated "
                 "in the background",
                 r->pending - deletes, deletes, lost);
    if (r->pending == 0) {
        free_recovery(r);
        return 0;
    }
    if (pthread_create(&r->thread, NULL, recovery_loop, r) != 0) {
        free_recovery(r); /* the entries stay for the next mount */
        return -EAGAIN;
    }
    r->started = true;
    *out = r;
    return 0;
}

void pfs_recovery_stop(struct pfs_recovery *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (r->started)
        pthread_join(r->thread, NULL);
    if (r->pending)
        PFS_WARN("recovery: %u journal entr%s not settled; the next mount with this cache_dir "
                 "tries again",
                 r->pending, r->pending == 1 ? "y" : "ies");
    free_recovery(r);
}

unsigned pfs_recovery_pending(struct pfs_recovery *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    unsigned n = r->pending;
    pthread_mutex_unlock(&r->lock);
    return n;
}

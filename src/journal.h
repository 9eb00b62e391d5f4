/* The write-back journal: staged files and their records in cache_dir, so
 * that what close() acknowledged survives a crash of the daemon.
 *
 * Layout: cache_dir/journal/ID.data holds a file's staged bytes and
 * cache_dir/journal/ID.rec its record (JSON, written atomically: temporary
 * file, fsync, rename, fsync of the directory). cache_dir/lost+found/ gets
 * the data of files that were still open at a crash, or that conflict with
 * the store.
 *
 * Ownership: the daemon that staged a file holds an exclusive flock(2) on its
 * data file for as long as it keeps it. A scan adopts only files whose lock it
 * can take, so several daemons may share one cache_dir and a live daemon's
 * files are never recovered under it; kill -9 releases the locks.
 *
 * Not thread-safe per record: the caller (writeback.c) serialises the writes
 * of one record; different records may be written from different threads. */
#ifndef PFS_JOURNAL_H
#define PFS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PFS_JOURNAL_ID_LEN 24 /* "j" + hex, NUL included */
/* The base of a file created while the store could not say whether the name
 * existed (open with O_TRUNC): a blind overwrite, never a conflict. */
#define PFS_BASE_ANY "*"

enum pfs_jstate {
    PFS_J_OPEN,   /* being written: never uploaded by recovery (-> lost+found) */
    PFS_J_CLOSED, /* close() saw it complete: upload it (data fsynced first) */
    PFS_J_FAILED, /* a permanent upload failure: kept, not retried by itself */
    PFS_J_DELETE, /* the key is to be deleted (an unlink deferred to the last close) */
};

struct pfs_jpart {
    int number;
    char etag[80];
    uint64_t size;
};

struct pfs_jrec {
    char id[PFS_JOURNAL_ID_LEN];
    char *bucket; /* the mount's bucket and prefix: a scan by another mount skips it */
    char *prefix;
    char *key; /* the full object key */
    enum pfs_jstate state;
    uint64_t size;
    mode_t mode; /* S_IFREG|perm, as stored in metadata */
    uid_t uid;
    gid_t gid;
    int64_t mtime;
    uint32_t mtime_ns;
    char base_etag[80]; /* ETag of the object the staged copy started from; "" when new;
                         * PFS_BASE_ANY when it replaces whatever the store holds */
    char *upload_id;    /* a multipart upload in progress, or NULL */
    /* Unix seconds when a CreateMultipartUpload was about to be sent for this
     * entry, 0 when none was: a crash inside that round trip leaves an upload
     * whose id the record never got, which recovery finds by listing the
     * key's uploads started since then. */
    int64_t mpu_started;
    uint64_t part_size;
    struct pfs_jpart *parts; /* parts already stored for upload_id */
    size_t n_parts;
    char *error; /* the last upload error, one line, or NULL */
    int attempts;
    int64_t created, updated; /* unix seconds */
};

/* Frees what the record owns and zeroes it. NULL-safe. */
void pfs_jrec_cleanup(struct pfs_jrec *r);
/* Deep copy. Returns 0 or -ENOMEM. */
int pfs_jrec_copy(struct pfs_jrec *dst, const struct pfs_jrec *src);
const char *pfs_jstate_name(enum pfs_jstate s); /* "open", "closed", "failed", "delete" */

struct pfs_journal;

/* Creates cache_dir/journal and cache_dir/lost+found (0700) when missing.
 * Returns 0 or -errno (logged with the path). */
int pfs_journal_open(struct pfs_journal **out, const char *cache_dir);
void pfs_journal_free(struct pfs_journal *j);

/* A new, empty, locked data file (0600). Returns 0 or -errno. */
int pfs_journal_create(struct pfs_journal *j, char id_out[PFS_JOURNAL_ID_LEN], int *fd_out);

/* The data file's path for id (into out, which holds PATH_MAX). */
void pfs_journal_data_path(const struct pfs_journal *j, const char *id, char *out, size_t len);

/* Writes r's record (r->id names it), replacing an older one; r->updated is
 * set to now. durable: fsync the record and the directory before returning
 * (a record that says CLOSED must be durable; data_fd is fsynced first when
 * it is >= 0). Returns 0 or -errno. */
int pfs_journal_write(struct pfs_journal *j, struct pfs_jrec *r, int data_fd, bool durable);

/* Removes id's record, then its data file. Missing files are not an error. */
int pfs_journal_remove(struct pfs_journal *j, const char *id);

/* Moves id's data to cache_dir/lost+found/NAME, where NAME is the key with
 * '/' turned into '%2F' (and other bytes unsafe in a name escaped), then
 * ".ID"; removes the record. path_out (may be NULL) gets the new path.
 * Returns 0 or -errno. */
int pfs_journal_to_lost_found(struct pfs_journal *j, const char *id, const char *key,
                              char *path_out, size_t len);

/* Every entry of the journal that no live process owns, for recovery: fn gets
 * the record (for a data file without a record: state OPEN, key NULL) and the
 * data file's fd, opened O_RDWR and locked (-1 when the data file is missing).
 * fn takes ownership of fd (keeps it to hold the lock, or closes it). A
 * record that cannot be parsed is logged, moved aside as ID.rec.bad, and its
 * data treated as a data file without a record. Stops when fn returns
 * nonzero; returns that, or -errno for the directory. */
typedef int (*pfs_journal_fn)(void *ctx, struct pfs_jrec *r, int fd);
int pfs_journal_scan(struct pfs_journal *j, pfs_journal_fn fn, void *ctx);

/* Read-only listing of every record in cache_dir/journal (for `status`):
 * live is true when a running daemon holds the data file's lock. No locks are
 * kept. Returns 0 or -errno (ENOENT: no journal there). */
typedef int (*pfs_journal_list_fn)(void *ctx, const struct pfs_jrec *r, bool live);
int pfs_journal_list(const char *cache_dir, pfs_journal_list_fn fn, void *ctx);

#endif

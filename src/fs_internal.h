/* Private to the fs layer (fs.c, superblock.c, lookup.c, writeback.c,
 * rename.c): the inode, handle and filesystem structures they share and the
 * functions each module offers the others. Nothing outside src/fs*.c,
 * superblock.c, lookup.c, writeback.c and rename.c includes this. */
#ifndef PFS_FS_INTERNAL_H
#define PFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "fs.h"
#include "journal.h"
#include "listing.h"
#include "mime.h"
#include "negcache.h"
#include "prefetch.h"
#include "recovery.h"
#include "stream_upload.h"

#define INO_BUCKETS 4096
#define NEGATIVE_MAX 65536
#define ASYNC_UPLOADERS 8 /* uploads in flight at once with upload=async */

/* What a journal record states about the content it holds. */
struct pfs_wb_version {
    uint64_t size;
    mode_t perm;
    uid_t uid;
    gid_t gid;
    int64_t mtime;
    uint32_t mtime_ns;
    int attempts;
    char base_etag[80];
};

struct inode {
    uint64_t ino;
    uint64_t parent;
    char *name;
    char *key; /* directories end with '/'; the root's key is the prefix */
    bool is_dir;
    uint64_t size;
    int64_t mtime, atime, ctime;
    uint32_t mtime_ns, ctime_ns;
    /* ETag of the stored object as last seen ("" when unknown or none): the
     * version a staged copy starts from, which recovery compares with the
     * store before it uploads or deletes anything. */
    char etag[80];
    /* The version (ETag, size) the kernel may hold pages of: the one read
     * by the last open ("": none). An open of the same one keeps them. */
    char open_etag[80];
    uint64_t open_size;
    mode_t perm;
    bool is_link;
    /* Its mode, owner and times are a listing's: the HEAD of its metadata
     * failed (metadata=head). An attribute change reads them first, so that
     * it does not store the defaults over what the store holds. */
    bool meta_unread;
    /* S_IFIFO, S_IFSOCK, S_IFCHR or S_IFBLK for a special file (an empty
     * object whose mode carries the type, as s3fs stores them), else 0. */
    mode_t special;
    uint64_t rdev; /* a device node's number */
    /* The objects other tools make that say this directory exists, besides
     * (or instead of) "dir/" (PFS_DIRFORM_*): rmdir and rename remove them too. */
    unsigned dir_forms;
    char *link_target; /* read lazily */
    /* The stored object's Content-Type when known ("": it has none), NULL
     * when not known: the next upload takes it from the extension, and an
     * attribute change (a copy with REPLACE) reads it with a HEAD first. */
    char *ctype;
    /* Its extended attributes as stored (s3fs's encoding, xattrs.h), NULL:
     * none; known when ctype is (both come from the same HEAD or upload)
     * or for a file not stored yet. */
    char *xattr;
    uid_t uid;
    gid_t gid;
    double attr_expires;
    uint64_t nlookup;
    int open_count;
    int writers;            /* handles open for writing (or with O_TRUNC) */
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
    /* Counts the O_TRUNC opens (and creates) of this file: the handle whose
     * open made the latest one owns trunc_unwritten's release. An earlier
     * O_TRUNC handle whose RELEASE arrives late (a shell's `printf v1 > f`
     * while the next process already opened f with O_TRUNC) must not store
     * the file that newer truncation emptied. */
    uint64_t trunc_gen;
    struct pfs_listing *listing;
    /* Lookups that had to ask the store, to notice a tool walking this
     * directory name by name (rsync, tar): then one listing answers them. */
    unsigned probe_misses;
    double probe_window;
    double too_big_until; /* a listing was too large to be worth it */

    /* The data path below. An upload marks the inode `uploading` and lets
     * go of io for the transfer: readers of the staged copy go on; whatever
     * would change the copy or the key (writes, truncation, rename, unlink,
     * another upload, discarding the copy) takes io with pfs_wb_io_lock, which
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
    /* A copy of the last version close acknowledged, kept as an entry of its
     * own while the file is changed again before that version was stored
     * (writeback.c snapshot_take); snap_jid[0] == 0: none. */
    char snap_jid[PFS_JOURNAL_ID_LEN];
    int snap_fd;
    /* That version's own attributes, for its record: a rename rewrites the
     * record under the file's new key (pfs_wb_snapshot_rekey), and by then
     * the inode's size and times are the changed copy's. */
    struct pfs_wb_version snap;
    char *upload_id; /* a multipart upload in flight, journalled */
    uint64_t upload_part_size;
    int attempts;
    int64_t jcreated;
    int64_t mpu_started; /* a CreateMultipartUpload was sent at (journalled) */
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
    /* Written through this handle since its last flush (inode io held): a
     * release that comes after the close's flush stores nothing of its own,
     * so it cannot store another writer's half-written content. */
    bool unflushed;
    /* Something was changed through this handle (a write, an ftruncate, the
     * create): its flushes store the file, again after a failed upload; a
     * handle that changed nothing stores nothing, so its close cannot store
     * another writer's unfinished content. */
    bool changed;
    /* The inode's trunc_gen at this handle's last change: a later O_TRUNC
     * open erased that change, and until this handle changes the file again
     * its flushes and release store nothing (what the file holds then is the
     * truncating writer's, maybe unfinished). */
    uint64_t changed_gen;
    /* The inode's trunc_gen this handle's O_TRUNC open made (0: not opened
     * with O_TRUNC). While it is still the latest truncation and nothing is
     * written after it (the inode's trunc_unwritten), this handle's release
     * stores the emptied file; no other writer's does, and neither does its
     * own once a newer O_TRUNC open took the file over, so no late release
     * stores what another writer left unfinished. */
    uint64_t trunc_gen;
    struct handle *prev, *next; /* fs->handles, under fs->lock */
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
    struct pfs_dcache *dcache; /* NULL: no data_cache */
    /* Open file handles: the kernel drops a RELEASE still queued when the
     * mount goes away, and their readers must not outlive the budget. */
    struct handle *handles;
    struct pfs_mime *mime; /* NULL: content_type=off */
    pthread_mutex_t lock;
    struct inode *by_ino[INO_BUCKETS];
    struct inode *by_name[INO_BUCKETS];
    struct pfs_negcache *negatives;
    /* Names a stale listing called absent while the store failed their
     * lookup: only a create that replaces content may go ahead (fs.c). */
    struct pfs_negcache *unconfirmed;
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
    /* Keys recovery is settling (claimed from its HEAD to the end of its
     * upload or DELETE): the mount stores and deletes nothing under them
     * until claim_done says they are released. */
    char **claims;
    size_t n_claims, cap_claims;
    pthread_cond_t claim_done;
    /* upload=async: closed files wait here for one of the uploader threads,
     * which drain it before an unmount completes. */
    struct inode *queue_head, *queue_tail;
    pthread_cond_t queue_wake;
    pthread_t uploaders[ASYNC_UPLOADERS];
    unsigned n_uploaders;
};

struct probe {
    bool file, dir;
    unsigned dir_forms; /* PFS_DIRFORM_* the probe saw */
    uint64_t size;
    int64_t mtime;
    char etag[80];
    bool meta_fetched;
    struct pfs_objmeta meta;
};

/* ---- superblock.c ---- */

double pfs_sb_mono_now(void);

int64_t pfs_sb_wall_now(void);

int pfs_sb_status_err(const struct pfs_status *st);

/* parent_key + name (+ "/" for a directory), heap-allocated; NULL on ENOMEM. */
char *pfs_sb_child_key(const char *parent_key, const char *name, bool is_dir);

struct inode *pfs_sb_find_ino(struct pfs_fs *fs, uint64_t ino);

struct inode *pfs_sb_find_child(struct pfs_fs *fs, uint64_t parent, const char *name);

void pfs_sb_unhash_name(struct pfs_fs *fs, struct inode *in);

void pfs_sb_free_inode(struct inode *in);

/* Frees an inode nobody refers to any more. */
void pfs_sb_maybe_drop(struct pfs_fs *fs, struct inode *in);

struct inode *pfs_sb_new_inode(struct pfs_fs *fs, uint64_t parent, const char *name,
                               const char *key, bool is_dir);

void pfs_sb_fill_attr(const struct pfs_fs *fs, const struct inode *in, struct pfs_attr *out);

/* Attributes from stored metadata; what is missing takes the mount's defaults. */
void pfs_sb_apply_meta(struct pfs_fs *fs, struct inode *in, const struct pfs_objmeta *m);

/* The child inode for a name the store (or a listing) says exists; created or
 * refreshed. Does not touch attributes of files with local changes. meta is
 * NULL when the store's metadata was not read. */
struct inode *pfs_sb_upsert_child(struct pfs_fs *fs, struct inode *parent, const char *name,
                                  bool is_dir, uint64_t size, int64_t mtime, const char *etag,
                                  const struct pfs_objmeta *meta);

void pfs_sb_negative_forget(struct pfs_fs *fs, uint64_t parent, const char *name);

bool pfs_sb_negative_known(struct pfs_fs *fs, uint64_t parent, const char *name);

/* The kernel asks again for O_EXCL creates even when it cached the answer. */
void pfs_sb_negative_add(struct pfs_fs *fs, uint64_t parent, const char *name);

/* What to store as the object's metadata (fs->lock held). */
void pfs_sb_inode_meta(const struct inode *in, struct pfs_objmeta *m);

/* The inode's time of change and modification become now (a write). */
void pfs_sb_now_into(struct inode *in);

/* Its time of change alone becomes now (chmod, chown, xattrs, rename). */
void pfs_sb_changed_now(struct inode *in);

/* S_IFDIR, S_IFLNK, a special file's type, or S_IFREG. */
mode_t pfs_sb_file_type(const struct inode *in);

/* Moves an inode (and, for a directory, every cached descendant) to a new
 * name and key. fs->lock held. */
void pfs_sb_rekey(struct pfs_fs *fs, struct inode *in, uint64_t new_parent, const char *new_name,
                  const char *new_key);

/* ---- lookup.c ---- */

/* A name the store can hold but a directory cannot show. */
bool pfs_lookup_showable(const char *name);

bool pfs_lookup_listing_fresh(const struct inode *dir);

/* One LIST answers "file, directory or nothing" for parent_key+name: the key
 * itself sorts first, then siblings that extend the name with a byte below
 * '/', then the prefix name + "/". Stops as soon as the listing passes it. */
int pfs_lookup_probe_name(struct pfs_fs *fs, struct probe *out, const char *parent_key,
                          const char *name, struct pfs_status *st);

/* The whole listing of a directory, every page (max_pages 0), or -E2BIG when
 * it has more pages than max_pages. heads: with metadata=head, HEAD every
 * entry (an entry whose HEAD fails keeps its listing attributes). */
int pfs_lookup_list_dir(struct pfs_fs *fs, struct pfs_listing **out, const char *dir_key,
                        unsigned max_pages, bool heads, struct pfs_status *st);
/* A listed empty object whose metadata says directory (another tool's
 * directory object) becomes a directory entry. */
void pfs_lookup_dentry_dir_object(struct pfs_dentry *d);
/* Reads in's stored metadata by HEAD when in->meta_unread (no lock held; the
 * caller holds in's io): 0 read (or not needed), else -errno. */
int pfs_lookup_read_unread(struct pfs_fs *fs, struct inode *in);
/* Whether key is an empty object whose metadata says directory, by HEAD (no
 * lock held): 1 yes, 0 no (or absent), else -errno. */
int pfs_lookup_is_dir_object(struct pfs_fs *fs, const char *key);
/* A name the listing of parent knows without its metadata: HEAD it alone,
 * keep what it said in the listing, and look the name up again (fs->lock
 * held on entry, released on return). */
int pfs_lookup_head_listed(struct pfs_fs *fs, struct pfs_attr *out, struct inode *parent,
                           const char *name, bool is_dir);

/* Has the URLs of HEADs of l's entries without metadata signed in batches
 * (listing_presign.c); a no-op with local keys. */
void pfs_lookup_presign_heads(struct pfs_fs *fs, const struct pfs_listing *l, const char *dir_key);

/* Children being written here, which the store does not list yet. fs->lock held. */
void pfs_lookup_add_local_children(struct pfs_fs *fs, struct pfs_listing *l, uint64_t dir_ino);

/* Counts a lookup that must ask the store; true when enough came in quick
 * succession that listing the directory once is cheaper. fs->lock held. */
bool pfs_lookup_note_probe(struct pfs_fs *fs, struct inode *dir, double now);

/* Lists a directory for its lookups. Returns 0 when the listing is in place. */
int pfs_lookup_list_parent(struct pfs_fs *fs, uint64_t dir_ino, const char *dir_key);

/* ---- writeback.c ---- */

/* Takes in->io once no upload of in is in flight (see struct inode). */
void pfs_wb_io_lock(struct inode *in);

/* The file stops being a candidate: an upload streamed so far is aborted
 * (its content goes up whole at close instead). */
void pfs_wb_stream_stop(struct inode *in);

/* ---- writeback_journal.c (io held) ---- */

/* Forgets the snapshot of an acknowledged version, if in has one: newer
 * content is stored, or a newer version is recorded CLOSED. */
void pfs_wb_snapshot_drop(struct pfs_fs *fs, struct inode *in);

/* A CreateMultipartUpload is about to go out for in: its record says so,
 * durably, first (recovery aborts what a crash in that round trip leaves). */
void pfs_wb_note_mpu_intent(struct pfs_fs *fs, struct inode *in);

/* Writes in's record in state `state` (error: the last upload failure, or
 * NULL). A record that is not OPEN is durable, and so is its data first when
 * durable is set: CLOSED is the promise that the bytes survive a crash.
 * Returns 0 or -errno (logged by the journal). */
int pfs_wb_journal_put(struct pfs_fs *fs, struct inode *in, enum pfs_jstate state,
                       const char *error, bool durable);

/* Forgets in's journal entry (its files go; an open data fd stays usable). */
void pfs_wb_journal_drop(struct pfs_fs *fs, struct inode *in);

/* The staged content is about to change: a record that promised recovery an
 * upload of the old content says OPEN again (durably: the data file no
 * longer matches it). */
void pfs_wb_journal_reopen(struct pfs_fs *fs, struct inode *in);

/* Call before the staged content changes: an acknowledged version the store
 * lacks is uploaded first or copied aside, then the record says OPEN. A
 * negative errno (ENOSPC when cache_dir is full) when neither worked: the
 * change must not happen, or it takes the only copy of acknowledged bytes
 * with it. io held. */
int pfs_wb_before_change(struct pfs_fs *fs, struct inode *in);

/* in's key changed (a rename of it or of a directory above it): the record
 * of its snapshot, if it has one, names the new key, so that recovery
 * uploads that version under the name the file has now. Returns 0 or
 * -errno. io held. */
int pfs_wb_snapshot_rekey(struct pfs_fs *fs, struct inode *in);

/* ---- writeback.c, continued ---- */

/* Lets go of in's staged copy and its journal entry (a deferred delete's
 * entry stays, emptied). io held. */
void pfs_wb_stage_discard(struct pfs_fs *fs, struct inode *in);

/* Waits while recovery has key claimed (see struct pfs_fs). No lock held. */
void pfs_wb_wait_unclaimed(struct pfs_fs *fs, const char *key);

/* Accounts staged bytes against cache_size. */
int pfs_wb_stage_reserve(struct pfs_fs *fs, struct inode *in, uint64_t new_size);

/* Makes the staging file hold the object's content (downloading it), so
 * random writes, appends and truncation work on a complete copy. */
int pfs_wb_ensure_staged(struct pfs_fs *fs, struct inode *in, bool truncate);

/* Was parent/name unlinked while open, its DELETE deferred to the last
 * close? The object is still in the store, but the name is gone. fs->lock
 * held. */
bool pfs_wb_delete_pending(struct pfs_fs *fs, uint64_t parent, const char *name);

/* Another file now owns key: a deferred DELETE of an unlinked inode with the
 * same key would remove the new object. fs->lock held. */
void pfs_wb_cancel_deferred_deletes(struct pfs_fs *fs, const char *key, const struct inode *except);

/* A new file takes the name of an unlinked, still open file whose DELETE
 * waits for its last close: that DELETE is cancelled and etag_out gets the
 * stored version the new file replaces. True when there was one. No lock. */
bool pfs_wb_take_over_delete(struct pfs_fs *fs, uint64_t parent, const char *name,
                             char etag_out[80]);

/* Uploads the staged content if it is dirty. Returns 0 or the failure's
 * errno (the staged data is kept; a transient failure is retried later, a
 * permanent one only when the file changes or is flushed again). */
int pfs_wb_upload_locked(struct pfs_fs *fs, struct inode *in);

/* close, flush and truncation of an unopened file: store or queue. */
int pfs_wb_store_or_queue(struct pfs_fs *fs, struct inode *in);

/* After a write at off to a file that held `before` bytes: appends keep a
 * streamed upload going (started once a whole part is written); anything
 * else stops it. io held. */
void pfs_wb_stream_after_write(struct pfs_fs *fs, struct inode *in, uint64_t off, uint64_t before);

/* Stores an existing object's new attributes: a copy onto itself with the
 * REPLACE directive (no re-upload); a directory's marker is written again. */
int pfs_wb_store_meta(struct pfs_fs *fs, struct inode *in);

/* The Content-Type to store with in's content (fs->lock held): the stored
 * object's when known, else from the key's extension; NULL: none. A heap
 * copy (the caller frees it); *failed is set when memory ran out. */
char *pfs_wb_content_type(struct pfs_fs *fs, const struct inode *in, bool *failed);

/* Reads the stored object's Content-Type and extended attributes with a
 * HEAD unless they are known (in->ctype set, or not stored yet). A missing
 * object has none. No lock held. Returns 0 or -errno. */
int pfs_wb_load_stored(struct pfs_fs *fs, struct inode *in);

/* A copy of in->xattr for an upload or a copy (fs->lock held); NULL: none. */
char *pfs_wb_xattr_copy(const struct inode *in, bool *failed);

/* ---- rename.c ---- */

/* Every key below src_prefix copied to dst_prefix (bounded by the pool), then
 * the sources deleted. Not atomic: a crash after some copies leaves both
 * trees; the sources go only once every copy succeeded. */
int pfs_rename_tree(struct pfs_fs *fs, const char *src_prefix, const char *dst_prefix);

/* Pins and takes the io lock of src, dst (a file being replaced) and, for a
 * directory, every cached file below it, in address order (two renames
 * cannot deadlock). Returns how many (*out is freed by pfs_rename_unlock_affected), or
 * -ENOMEM. */
ssize_t pfs_rename_lock_affected(struct pfs_fs *fs, struct inode *src, struct inode *dst,
                                 struct inode ***out);

void pfs_rename_unlock_affected(struct pfs_fs *fs, struct inode **v, size_t n);

/* Starts the retry and uploader threads and recovery (pfs_fs_new). */
void pfs_wb_start(struct pfs_fs *fs);
/* Stops them; the uploaders drain the async queue first (pfs_fs_free). */
void pfs_wb_stop(struct pfs_fs *fs);
/* At unmount: in's pending upload and deferred delete, or its journal entry
 * kept for the next mount when they fail. */
void pfs_wb_settle(struct pfs_fs *fs, struct inode *in);

#endif

/* Recovery of the write-back journal at mount: what an earlier daemon with
 * the same cache_dir left behind (killed, or unmounted with the store down).
 *
 * Runs in a background thread, so the mount answers at once:
 * - CLOSED and FAILED records (close() had returned): uploaded, unless the
 *   object changed in the store since the staged copy was based on it; then
 *   the local copy goes to cache_dir/lost+found and the conflict is logged.
 *   A staged copy that the store already holds (the upload finished but the
 *   record was not removed) is recognised by its ETag and just dropped.
 * - OPEN records and data files without a record (still being written at
 *   the crash): never uploaded; moved to lost+found, with the key logged.
 * - DELETE records (an unlink whose DELETE waited for a last close): the key
 *   is deleted if it still holds the version that was unlinked.
 * - A multipart upload named in a record is aborted before anything else.
 * Transient failures are retried every retry_interval_s until they succeed
 * or the mount stops; what is left stays in the journal for the next mount.
 * Records of another bucket or prefix are left alone. */
#ifndef PFS_RECOVERY_H
#define PFS_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "journal.h"
#include "mime.h"

struct pfs_recovery_opts {
    const char *bucket;
    const char *prefix; /* the mount's root key: "" or "dir/" */
    uint64_t part_size;
    uint64_t multipart_threshold;
    unsigned retry_interval_s;
    const struct pfs_mime *mime; /* Content-Types of uploads (NULL: none) */
    /* Claims key for the settling of one entry (HEAD, then upload or
     * DELETE): false when the mount holds local changes for it (the live
     * file is newer than anything in the journal: recovery waits). While a
     * key is claimed the mount stores or deletes nothing under it, so a
     * write or unlink made through the new mount lands after recovery's. */
    bool (*claim)(void *ctx, const char *key);
    /* Ends a claim that succeeded. */
    void (*unclaim)(void *ctx, const char *key);
    /* key was stored or deleted: forget cached listings that show it. */
    void (*changed)(void *ctx, const char *key);
    /* Bytes recovery holds in the journal, counted against cache_size. */
    void (*account)(void *ctx, int64_t delta);
    void *ctx;
};

struct pfs_recovery;

/* Scans the journal (synchronously, so the counts are logged before the
 * mount answers) and starts the thread when anything needs the store.
 * *out is NULL when there was nothing to do. Returns 0 or -errno. */
int pfs_recovery_start(struct pfs_recovery **out, struct pfs_client *client,
                       struct pfs_journal *journal, const struct pfs_recovery_opts *opts);

/* Waits for the entry in progress, stops the thread and lets go of the
 * entries not done (they stay in the journal). NULL-safe. */
void pfs_recovery_stop(struct pfs_recovery *r);

/* Entries still waiting (for tests and status). */
unsigned pfs_recovery_pending(struct pfs_recovery *r);

/* The ETag a store gives the content of fd (len bytes): the MD5 in hex for
 * one PUT, or MD5 of the parts' MD5s plus "-N" for a multipart upload in
 * parts of part_size. out holds 80 bytes, quotes included. Returns 0 or
 * -errno. Exposed for tests. */
int pfs_recovery_content_etag(int fd, uint64_t len, uint64_t part_size, bool multipart,
                              char out[80]);

#endif

/* Uploads in flight and how far each has got, process-wide: what `presignfs
 * status` and `presignfs stats` show of large pending files and what a
 * foreground unmount says it waits for. The write path registers an upload
 * when its transfer starts and adds the bytes of each part the store has
 * acknowledged; a single PUT shows 0 until it is done. A fixed table: past
 * PFS_PROGRESS_SLOTS uploads at once the rest go uncounted (begin returns
 * -1 and the other calls ignore it). Thread-safe; a short mutex, never held
 * across I/O. */
#ifndef PFS_PROGRESS_H
#define PFS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFS_PROGRESS_SLOTS 64
#define PFS_PROGRESS_KEY_MAX 256 /* longer keys are cut (display only) */

struct pfs_progress_item {
    char key[PFS_PROGRESS_KEY_MAX];
    uint64_t sent;  /* bytes the store acknowledged */
    uint64_t total; /* bytes to send; for a stream, what was written so far */
};

/* Registers an upload of key; returns its id, or -1 when the table is full. */
int pfs_progress_begin(const char *key, uint64_t total);
void pfs_progress_add(int id, uint64_t sent);
void pfs_progress_set_total(int id, uint64_t total);
void pfs_progress_end(int id);

/* Copies up to max uploads, largest first, and returns how many there are
 * in all; *remaining_out (may be NULL) gets the bytes all of them still have
 * to send. */
size_t pfs_progress_snapshot(struct pfs_progress_item *out, size_t max, uint64_t *remaining_out);

#include <stdio.h>

/* One line about what an unmount still waits for ("waiting for 3 uploads
 * (120.0 MiB to send; largest KEY 24.0 of 40.0 MiB)"); empty when nothing is
 * in flight. */
void pfs_progress_describe(char *out, size_t len);

/* A thread that, once started(ctx) is true (polled every 100 ms; NULL: at
 * once), waits delay_ms and then writes pfs_progress_describe to f every
 * second while it has something to say: a foreground unmount that takes
 * longer than a second says what it waits for. started is called from the
 * thread. Returns 0 or -errno. */
struct pfs_progress_reporter;
typedef bool (*pfs_progress_started_fn)(void *ctx);
int pfs_progress_reporter_start(struct pfs_progress_reporter **out, FILE *f, unsigned delay_ms,
                                pfs_progress_started_fn started, void *ctx);
/* Stops and frees it. NULL-safe. */
void pfs_progress_reporter_stop(struct pfs_progress_reporter *r);

#endif

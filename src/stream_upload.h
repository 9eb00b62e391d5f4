/* A multipart upload fed while its file is being written: each whole part of
 * what has been written so far goes up on the worker pool, read back from the
 * staged file, so that close waits only for the last part and the complete.
 * Memory stays bounded (no part is held in memory; at most max_inflight parts
 * are in flight, the writer waits beyond that).
 *
 * Not thread-safe per stream: one caller (the file's writer, under the
 * file's io lock) feeds, finishes or abandons it; the part tasks run on the
 * pool and never wait on it. */
#ifndef PFS_STREAM_UPLOAD_H
#define PFS_STREAM_UPLOAD_H

#include <stdint.h>

#include "client.h"
#include "pool.h"

struct pfs_stream;

/* Creates the multipart upload of key (meta goes into its creation) whose
 * parts of part_size bytes will be read from fd. Returns 0, or -1 with st. */
int pfs_stream_start(struct pfs_stream **out, struct pfs_client *c, struct pfs_pool *pool,
                     const char *key, const struct pfs_kv *meta, size_t n_meta, int fd,
                     uint64_t part_size, unsigned max_inflight, struct pfs_status *st);

const char *pfs_stream_upload_id(const struct pfs_stream *s);
uint64_t pfs_stream_part_size(const struct pfs_stream *s);

/* The file holds `size` bytes, written from offset 0 and not to be changed
 * below pfs_stream_sent(): queues every whole part below size, waiting while
 * max_inflight parts are in flight. Returns 0, or -1 when the upload cannot
 * go on (a part failed, or 10,000 parts would not hold the file): abandon it. */
int pfs_stream_feed(struct pfs_stream *s, uint64_t size);

/* Bytes covered by the parts queued so far: writes below this would change
 * what is being (or has been) uploaded. */
uint64_t pfs_stream_sent(const struct pfs_stream *s);

/* The file is complete at `size` bytes: queues the rest as the last part,
 * waits for every part and completes the upload (etag_out gets the object's
 * ETag). Returns 0, or -1 with st (the upload is then aborted). Frees s. */
int pfs_stream_finish(struct pfs_stream *s, uint64_t size, char etag_out[80],
                      struct pfs_status *st);

/* Waits for the parts in flight and aborts the upload. Frees s. NULL-safe. */
void pfs_stream_abandon(struct pfs_stream *s);

#endif

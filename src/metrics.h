/* One snapshot of everything the daemon counts (stats.h's counters, the URL
 * cache's, the write path's gauges) and its two renderings: the JSON object
 * of the control socket (`presignfs stats`) and the Prometheus text format
 * of -o metrics. Pure: no I/O, no locks; the daemon fills the snapshot. */
#ifndef PFS_METRICS_H
#define PFS_METRICS_H

#include <stdbool.h>

#include <jansson.h>

#include "buf.h"
#include "datacache.h"
#include "fs.h"
#include "progress.h"
#include "stats.h"
#include "urlcache.h"

#define PFS_METRICS_PROGRESS_MAX 16

struct pfs_metrics {
    struct pfs_stats_snapshot s;
    struct pfs_urlcache_stats urls;
    struct pfs_upload_stats uploads;
    bool have_fs; /* uploads is filled (false before the filesystem exists) */
    uint64_t readahead_bytes, readahead_limit; /* with have_fs */
    bool have_dcache;                          /* data_cache is on: dcache is filled */
    struct pfs_dcache_stats dcache;
    /* Uploads in flight, the largest first (progress.h). */
    struct pfs_progress_item progress[PFS_METRICS_PROGRESS_MAX];
    size_t n_progress;         /* uploads in flight, shown or not */
    uint64_t upload_remaining; /* bytes they still have to send */
};

/* Fills a snapshot (a callback of the servers below and of SIGUSR1). */
typedef void (*pfs_metrics_collect_fn)(void *ctx, struct pfs_metrics *out);

/* The JSON object (version 1):
 *   {"version":1, "requests":{"GET":N,...}, "requests_failed":{...},
 *    "latency_seconds":{"GET":{"count":N,"sum":S,"buckets":{"0.001":N,...,"+Inf":N}},...},
 *    "retries":N, "resigns":N, "bytes_in":N, "bytes_out":N,
 *    "signer":{"calls":N,"urls":N}, "fuse":{"lookup":N,...},
 *    "urlcache":{"hits":N,"misses":N,"refreshes":N,"evictions":N,"invalidations":N},
 *    "uploads":{"queued":N,"in_flight":N,"failed":N,"pending":N,"staged_bytes":N},
 *    "readahead":{"bytes":N,"limit":N},
 *    "data_cache":{"hits":N,"misses":N,"hit_bytes":N,"stored_bytes":N,"corrupt":N,
 *                  "evictions":N,"bytes":N,"limit":N,"blocks":N} (null when off),
 *    "upload_progress":{"uploads":N,"remaining_bytes":N,
 *                       "largest":[{"key":K,"sent":N,"total":N},...]}}
 * (readahead null like uploads; largest holds up to PFS_METRICS_PROGRESS_MAX)
 * requests counts every request of a kind (ok and failed); buckets are
 * cumulative, as in Prometheus. Every kind is present, zero or not;
 * uploads is null without a filesystem (have_fs false). Returns
 * a new reference, NULL on ENOMEM. */
json_t *pfs_metrics_json(const struct pfs_metrics *m);

/* The Prometheus text exposition format (version 0.0.4): presignfs_ names,
 * seconds and bytes, _total counters, a histogram per request kind. Appends
 * to out (check pfs_buf_status). */
void pfs_metrics_prometheus(struct pfs_buf *out, const struct pfs_metrics *m);

#endif

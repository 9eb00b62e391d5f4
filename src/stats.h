/* Live counters of the daemon: requests by kind and outcome with latency
 * histograms, retries, re-signs, body bytes in and out, FUSE operations by
 * kind. Process-wide
 * atomics (relaxed): counting costs no lock, and any thread may read a
 * snapshot while others count. The URL cache keeps its own counters
 * (pfs_urlcache_stats). */
#ifndef PFS_STATS_H
#define PFS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pfs_req_kind {
    PFS_REQ_GET,
    PFS_REQ_PUT,
    PFS_REQ_HEAD,
    PFS_REQ_DELETE,
    PFS_REQ_POST,
    PFS_REQ_LIST, /* a GET of the bucket itself */
    PFS_REQ_OTHER,
    PFS_REQ_N
};

enum pfs_fuse_kind {
    PFS_FOP_LOOKUP,
    PFS_FOP_GETATTR,
    PFS_FOP_SETATTR,
    PFS_FOP_MKDIR,
    PFS_FOP_UNLINK,
    PFS_FOP_RMDIR,
    PFS_FOP_CREATE,
    PFS_FOP_OPEN,
    PFS_FOP_READ,
    PFS_FOP_WRITE,
    PFS_FOP_FLUSH,
    PFS_FOP_FSYNC,
    PFS_FOP_RELEASE,
    PFS_FOP_OPENDIR,
    PFS_FOP_READDIR,
    PFS_FOP_READDIRPLUS,
    PFS_FOP_RELEASEDIR,
    PFS_FOP_SYMLINK,
    PFS_FOP_READLINK,
    PFS_FOP_RENAME,
    PFS_FOP_STATFS,
    PFS_FOP_MKNOD,
    PFS_FOP_N
};

/* Latency histogram bucket upper bounds, in microseconds; one more bucket
 * (+Inf) follows the last. */
#define PFS_STATS_N_BUCKETS 12
extern const uint64_t pfs_stats_bucket_us[PFS_STATS_N_BUCKETS];

struct pfs_stats_req {
    uint64_t ok, failed;
    uint64_t latency_sum_us;
    uint64_t buckets[PFS_STATS_N_BUCKETS + 1]; /* not cumulative */
};

struct pfs_stats_snapshot {
    struct pfs_stats_req req[PFS_REQ_N];
    uint64_t retries;      /* attempts beyond the first, re-signs included */
    uint64_t resigns;      /* URLs the store rejected, signed again */
    uint64_t bytes_in;     /* response bodies received, every attempt's (error bodies too) */
    uint64_t bytes_out;    /* request bodies of attempts the store answered */
    uint64_t signer_calls; /* calls to a presignfs signer (keyless mounts), answered or not */
    uint64_t signer_urls;  /* URLs those calls asked for */
    uint64_t fuse[PFS_FOP_N];
};

/* The kind of a request: its method, LIST for a GET without a key. */
enum pfs_req_kind pfs_stats_req_kind(const char *method, bool has_key);
const char *pfs_stats_req_name(enum pfs_req_kind k);
const char *pfs_stats_fuse_name(enum pfs_fuse_kind k);

/* One finished request (after all its attempts): ok or failed, how many
 * attempts it took, how long they took together. */
void pfs_stats_request(enum pfs_req_kind k, bool ok, unsigned attempts, uint64_t latency_us);
void pfs_stats_resign(void);
/* One call to the signing service asking for n_urls URLs (a batch is one). */
void pfs_stats_signer_call(size_t n_urls);
/* Body bytes of one attempt: received from and sent to the store. */
void pfs_stats_bytes(uint64_t in, uint64_t out);
void pfs_stats_fuse_op(enum pfs_fuse_kind k);

void pfs_stats_snapshot(struct pfs_stats_snapshot *out);
/* Zeroes every counter (tests). */
void pfs_stats_reset(void);

/* One line for the log: "requests GET=3 PUT=10 ... failed=N retries=N
 * resigns=N bytes_in=N bytes_out=N fuse create=10 write=30 ...", kinds with
 * a zero count left out.
 * Returns what snprintf would (the line is cut to fit len). */
int pfs_stats_format_line(char *out, size_t len, const struct pfs_stats_snapshot *s);

#endif

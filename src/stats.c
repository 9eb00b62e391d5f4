/* Live counters (see stats.h). */
#include "stats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const uint64_t pfs_stats_bucket_us[PFS_STATS_N_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

struct req_counters {
    _Atomic uint64_t ok, failed, latency_sum_us;
    _Atomic uint64_t buckets[PFS_STATS_N_BUCKETS + 1];
};

static struct req_counters reqs[PFS_REQ_N];
static _Atomic uint64_t retries, resigns, bytes_in, bytes_out, signer_calls, signer_urls;
static _Atomic uint64_t fuse_ops[PFS_FOP_N];

static const char *const req_names[PFS_REQ_N] = {"GET",  "PUT",  "HEAD", "DELETE",
                                                 "POST", "LIST", "OTHER"};
static const char *const fuse_names[PFS_FOP_N] = {
    "lookup",     "getattr", "setattr",  "mkdir",  "unlink",  "rmdir",   "create",  "open",
    "read",       "write",   "flush",    "fsync",  "release", "opendir", "readdir", "readdirplus",
    "releasedir", "symlink", "readlink", "rename", "statfs",  "mknod"};

enum pfs_req_kind pfs_stats_req_kind(const char *method, bool has_key)
{
    for (int k = 0; k < PFS_REQ_LIST; k++)
        if (strcasecmp(method, req_names[k]) == 0)
            return k == PFS_REQ_GET && !has_key ? PFS_REQ_LIST : (enum pfs_req_kind)k;
    return PFS_REQ_OTHER;
}

const char *pfs_stats_req_name(enum pfs_req_kind k)
{
    return (unsigned)k < PFS_REQ_N ? req_names[k] : "?";
}

const char *pfs_stats_fuse_name(enum pfs_fuse_kind k)
{
    return (unsigned)k < PFS_FOP_N ? fuse_names[k] : "?";
}

#define ADD(var, n) atomic_fetch_add_explicit(&(var), (n), memory_order_relaxed)
#define GET(var) atomic_load_explicit(&(var), memory_order_relaxed)
#define ZERO(var) atomic_store_explicit(&(var), 0, memory_order_relaxed)

void pfs_stats_request(enum pfs_req_kind k, bool ok, unsigned attempts, uint64_t latency_us)
{
    if ((unsigned)k >= PFS_REQ_N)
        k = PFS_REQ_OTHER;
    struct req_counters *r = &reqs[k];
    if (ok)
        ADD(r->ok, 1);
    else
        ADD(r->failed, 1);
    ADD(r->latency_sum_us, latency_us);
    size_t b = 0;
    while (b < PFS_STATS_N_BUCKETS && latency_us > pfs_stats_bucket_us[b])
        b++;
    ADD(r->buckets[b], 1);
    if (attempts > 1)
        ADD(retries, attempts - 1);
}

void pfs_stats_resign(void)
{
    ADD(resigns, 1);
}

void pfs_stats_signer_call(size_t n_urls)
{
    ADD(signer_calls, 1);
    ADD(signer_urls, n_urls);
}

void pfs_stats_bytes(uint64_t in, uint64_t out)
{
    if (in)
        ADD(bytes_in, in);
    if (out)
        ADD(bytes_out, out);
}

void pfs_stats_fuse_op(enum pfs_fuse_kind k)
{
    if ((unsigned)k < PFS_FOP_N)
        ADD(fuse_ops[k], 1);
}

void pfs_stats_snapshot(struct pfs_stats_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    for (int k = 0; k < PFS_REQ_N; k++) {
        out->req[k].ok = GET(reqs[k].ok);
        out->req[k].failed = GET(reqs[k].failed);
        out->req[k].latency_sum_us = GET(reqs[k].latency_sum_us);
        for (int b = 0; b <= PFS_STATS_N_BUCKETS; b++)
            out->req[k].buckets[b] = GET(reqs[k].buckets[b]);
    }
    out->retries = GET(retries);
    out->resigns = GET(resigns);
    out->bytes_in = GET(bytes_in);
    out->bytes_out = GET(bytes_out);
    out->signer_calls = GET(signer_calls);
    out->signer_urls = GET(signer_urls);
    for (int k = 0; k < PFS_FOP_N; k++)
        out->fuse[k] = GET(fuse_ops[k]);
}

void pfs_stats_reset(void)
{
    for (int k = 0; k < PFS_REQ_N; k++) {
        ZERO(reqs[k].ok);
        ZERO(reqs[k].failed);
        ZERO(reqs[k].latency_sum_us);
        for (int b = 0; b <= PFS_STATS_N_BUCKETS; b++)
            ZERO(reqs[k].buckets[b]);
    }
    ZERO(retries);
    ZERO(resigns);
    ZERO(bytes_in);
    ZERO(bytes_out);
    ZERO(signer_calls);
    ZERO(signer_urls);
    for (int k = 0; k < PFS_FOP_N; k++)
        ZERO(fuse_ops[k]);
}

int pfs_stats_format_line(char *out, size_t len, const struct pfs_stats_snapshot *s)
{
    size_t o = 0;
    int total = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(o < len ? out + o : NULL, o < len ? len - o : 0, __VA_ARGS__);           \
        if (n_ > 0) {                                                                              \
            total += n_;                                                                           \
            o = (size_t)total;                                                                     \
        }                                                                                          \
    } while (0)
    if (len)
        out[0] = '\0';
    uint64_t failed = 0;
    PUT("requests");
    for (int k = 0; k < PFS_REQ_N; k++) {
        uint64_t n = s->req[k].ok + s->req[k].failed;
        failed += s->req[k].failed;
        if (n)
            PUT(" %s=%llu", req_names[k], (unsigned long long)n);
    }
    PUT(" failed=%llu retries=%llu resigns=%llu bytes_in=%llu bytes_out=%llu",
        (unsigned long long)failed, (unsigned long long)s->retries, (unsigned long long)s->resigns,
        (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    if (s->signer_calls) /* keyless mounts only */
        PUT(" signer_calls=%llu signer_urls=%llu", (unsigned long long)s->signer_calls,
            (unsigned long long)s->signer_urls);
    PUT(" fuse");
    for (int k = 0; k < PFS_FOP_N; k++)
        if (s->fuse[k])
            PUT(" %s=%llu", fuse_names[k], (unsigned long long)s->fuse[k]);
#undef PUT
    if (len && o >= len)
        out[len - 1] = '\0';
    return total;
}

/* The snapshot's renderings (see metrics.h). Both walk the same tables, so
 * the JSON of `presignfs stats` and the Prometheus page cannot disagree on
 * names or kinds. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* A histogram bound (microseconds) in seconds, as both renderings write it:
 * "0.001", "0.0025", ..., "10". */
static void bound_text(char *out, size_t len, uint64_t us)
{
    snprintf(out, len, "%g", (double)us / 1e6);
}

static double seconds(uint64_t us)
{
    return (double)us / 1e6;
}

static int set_u64(json_t *o, const char *name, uint64_t v)
{
    return json_object_set_new(o, name, json_integer((json_int_t)v));
}

/* {"key":K,"sent":N,"total":N}; a key that is not UTF-8 as "key_hex". */
static json_t *progress_item(const struct pfs_progress_item *p)
{
    json_t *o = json_pack("{s:I,s:I}", "sent", (json_int_t)p->sent, "total", (json_int_t)p->total);
    json_t *key = json_string(p->key);
    if (!key) {
        size_t n = strlen(p->key);
        char *hex = malloc(2 * n + 1);
        if (hex)
            pfs_crypto_hex(hex, (const uint8_t *)p->key, n);
        if (o && hex)
            json_object_set_new(o, "key_hex", json_string(hex));
        free(hex);
    } else if (o) {
        json_object_set_new(o, "key", key);
        key = NULL;
    }
    json_decref(key);
    return o;
}

json_t *pfs_metrics_json(const struct pfs_metrics *m)
{
    json_t *o = json_object(), *req = json_object(), *failed = json_object(), *lat = json_object(),
           *fuse = json_object(), *urls = json_object(), *up = json_object();
    int bad = !o || !req || !failed || !lat || !fuse || !urls || !up;
    bad |= set_u64(o, "version", 1);
    for (int k = 0; k < PFS_REQ_N; k++) {
        const struct pfs_stats_req *r = &m->s.req[k];
        const char *name = pfs_stats_req_name(k);
        bad |= set_u64(req, name, r->ok + r->failed);
        bad |= set_u64(failed, name, r->failed);
        json_t *h = json_object(), *b = json_object();
        bad |= !h || !b;
        uint64_t cum = 0;
        for (int i = 0; i <= PFS_STATS_N_BUCKETS; i++) {
            char le[32];
            if (i < PFS_STATS_N_BUCKETS)
                bound_text(le, sizeof(le), pfs_stats_bucket_us[i]);
            else
                snprintf(le, sizeof(le), "+Inf");
            cum += r->buckets[i];
            bad |= set_u64(b, le, cum);
        }
        bad |= set_u64(h, "count", r->ok + r->failed);
        bad |= json_object_set_new(h, "sum", json_real(seconds(r->latency_sum_us)));
        bad |= json_object_set_new(h, "buckets", b);
        bad |= json_object_set_new(lat, name, h);
    }
    for (int k = 0; k < PFS_FOP_N; k++)
        bad |= set_u64(fuse, pfs_stats_fuse_name(k), m->s.fuse[k]);
    bad |= set_u64(urls, "hits", m->urls.hits);
    bad |= set_u64(urls, "misses", m->urls.misses);
    bad |= set_u64(urls, "refreshes", m->urls.refreshes);
    bad |= set_u64(urls, "evictions", m->urls.evictions);
    bad |= set_u64(urls, "invalidations", m->urls.invalidations);
    bad |= set_u64(up, "queued", m->uploads.queued);
    bad |= set_u64(up, "in_flight", m->uploads.in_flight);
    bad |= set_u64(up, "failed", m->uploads.failed);
    bad |= set_u64(up, "pending", m->uploads.pending);
    bad |= set_u64(up, "staged_bytes", m->uploads.staged_bytes);
    bad |= json_object_set_new(o, "requests", req);
    bad |= json_object_set_new(o, "requests_failed", failed);
    bad |= json_object_set_new(o, "latency_seconds", lat);
    bad |= set_u64(o, "retries", m->s.retries);
    bad |= set_u64(o, "resigns", m->s.resigns);
    bad |= set_u64(o, "bytes_in", m->s.bytes_in);
    bad |= set_u64(o, "bytes_out", m->s.bytes_out);
    json_t *signer = json_object();
    bad |= !signer;
    bad |= set_u64(signer, "calls", m->s.signer_calls);
    bad |= set_u64(signer, "urls", m->s.signer_urls);
    bad |= json_object_set_new(o, "signer", signer);
    bad |= json_object_set_new(o, "fuse", fuse);
    bad |= json_object_set_new(o, "urlcache", urls);
    if (m->have_fs) {
        bad |= json_object_set_new(o, "uploads", up);
        bad |= json_object_set_new(o, "readahead",
                                   json_pack("{s:I,s:I}", "bytes", (json_int_t)m->readahead_bytes,
                                             "limit", (json_int_t)m->readahead_limit));
    } else {
        json_decref(up);
        bad |= json_object_set_new(o, "uploads", json_null());
        bad |= json_object_set_new(o, "readahead", json_null());
    }
    json_t *dc = json_null();
    if (m->have_dcache) {
        const struct pfs_dcache_stats *d = &m->dcache;
        dc = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "hits", (json_int_t)d->hits,
                       "misses", (json_int_t)d->misses, "hit_bytes", (json_int_t)d->hit_bytes,
                       "stored_bytes", (json_int_t)d->stored_bytes, "corrupt",
                       (json_int_t)d->corrupt, "evictions", (json_int_t)d->evictions, "bytes",
                       (json_int_t)d->bytes, "limit", (json_int_t)d->limit, "blocks",
                       (json_int_t)d->blocks);
    }
    bad |= json_object_set_new(o, "data_cache", dc);
    json_t *largest = json_array();
    bad |= !largest;
    size_t shown =
        m->n_progress < PFS_METRICS_PROGRESS_MAX ? m->n_progress : PFS_METRICS_PROGRESS_MAX;
    for (size_t i = 0; largest && i < shown; i++)
        bad |= json_array_append_new(largest, progress_item(&m->progress[i]));
    bad |= json_object_set_new(o, "upload_progress",
                               json_pack("{s:I,s:I,s:o}", "uploads", (json_int_t)m->n_progress,
                                         "remaining_bytes", (json_int_t)m->upload_remaining,
                                         "largest", largest ? largest : json_array()));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* # HELP and # TYPE of one metric family. */
static void family(struct pfs_buf *out, const char *name, const char *type, const char *help)
{
    pfs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct pfs_buf *out, const char *name, uint64_t v)
{
    pfs_buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

void pfs_metrics_prometheus(struct pfs_buf *out, const struct pfs_metrics *m)
{
    family(out, "presignfs_requests_total", "counter",
           "Requests to the object store by kind and outcome, each counted once after all "
           "its attempts.");
    for (int k = 0; k < PFS_REQ_N; k++) {
        const struct pfs_stats_req *r = &m->s.req[k];
        pfs_buf_printf(out, "presignfs_requests_total{kind=\"%s\",outcome=\"ok\"} %llu\n",
                       pfs_stats_req_name(k), (unsigned long long)r->ok);
        pfs_buf_printf(out, "presignfs_requests_total{kind=\"%s\",outcome=\"failed\"} %llu\n",
                       pfs_stats_req_name(k), (unsigned long long)r->failed);
    }
    family(out, "presignfs_request_duration_seconds", "histogram",
           "Time from a request's first attempt to its outcome, retries and back-off "
           "included.");
    for (int k = 0; k < PFS_REQ_N; k++) {
        const struct pfs_stats_req *r = &m->s.req[k];
        const char *name = pfs_stats_req_name(k);
        uint64_t cum = 0;
        for (int i = 0; i <= PFS_STATS_N_BUCKETS; i++) {
            char le[32];
            if (i < PFS_STATS_N_BUCKETS)
                bound_text(le, sizeof(le), pfs_stats_bucket_us[i]);
            else
                snprintf(le, sizeof(le), "+Inf");
            cum += r->buckets[i];
            pfs_buf_printf(out,
                           "presignfs_request_duration_seconds_bucket{kind=\"%s\",le=\"%s\"} "
                           "%llu\n",
                           name, le, (unsigned long long)cum);
        }
        pfs_buf_printf(out, "presignfs_request_duration_seconds_sum{kind=\"%s\"} %.6f\n", name,
                       seconds(r->latency_sum_us));
        pfs_buf_printf(out, "presignfs_request_duration_seconds_count{kind=\"%s\"} %llu\n", name,
                       (unsigned long long)(r->ok + r->failed));
    }
    family(out, "presignfs_request_retries_total", "counter",
           "Attempts beyond the first of a request, re-signs included.");
    sample(out, "presignfs_request_retries_total", m->s.retries);
    family(out, "presignfs_request_resigns_total", "counter",
           "Presigned URLs the store rejected as expired or badly signed, signed again.");
    sample(out, "presignfs_request_resigns_total", m->s.resigns);
    family(out, "presignfs_received_bytes_total", "counter",
           "Response body bytes received from the store.");
    sample(out, "presignfs_received_bytes_total", m->s.bytes_in);
    family(out, "presignfs_sent_bytes_total", "counter",
           "Request body bytes sent in attempts the store answered.");
    sample(out, "presignfs_sent_bytes_total", m->s.bytes_out);
    family(out, "presignfs_signer_calls_total", "counter",
           "Calls to the signing service (keyless mounts); a batch of URLs is one call.");
    sample(out, "presignfs_signer_calls_total", m->s.signer_calls);
    family(out, "presignfs_signer_urls_total", "counter", "URLs asked of the signing service.");
    sample(out, "presignfs_signer_urls_total", m->s.signer_urls);
    family(out, "presignfs_fuse_operations_total", "counter", "FUSE operations by kind.");
    for (int k = 0; k < PFS_FOP_N; k++)
        pfs_buf_printf(out, "presignfs_fuse_operations_total{op=\"%s\"} %llu\n",
                       pfs_stats_fuse_name(k), (unsigned long long)m->s.fuse[k]);
    family(out, "presignfs_url_cache_events_total", "counter",
           "Presigned URL cache lookups by result (hit, miss, refresh) and entries dropped "
           "(eviction, invalidation).");
    const struct {
        const char *event;
        uint64_t v;
    } ev[] = {{"hit", m->urls.hits},
              {"miss", m->urls.misses},
              {"refresh", m->urls.refreshes},
              {"eviction", m->urls.evictions},
              {"invalidation", m->urls.invalidations}};
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        pfs_buf_printf(out, "presignfs_url_cache_events_total{event=\"%s\"} %llu\n", ev[i].event,
                       (unsigned long long)ev[i].v);
    if (!m->have_fs)
        return;
    family(out, "presignfs_uploads_queued", "gauge",
           "Closed files waiting in the upload=async queue.");
    sample(out, "presignfs_uploads_queued", m->uploads.queued);
    family(out, "presignfs_uploads_in_flight", "gauge", "Uploads being transferred now.");
    sample(out, "presignfs_uploads_in_flight", m->uploads.in_flight);
    family(out, "presignfs_uploads_failed", "gauge",
           "Files whose last upload failed; their data is kept staged and retried.");
    sample(out, "presignfs_uploads_failed", m->uploads.failed);
    family(out, "presignfs_uploads_pending", "gauge",
           "Files with local content the store does not have yet.");
    sample(out, "presignfs_uploads_pending", m->uploads.pending);
    family(out, "presignfs_staged_bytes", "gauge", "Bytes of written files staged in cache_dir.");
    sample(out, "presignfs_staged_bytes", m->uploads.staged_bytes);
    family(out, "presignfs_upload_remaining_bytes", "gauge",
           "Bytes the uploads in flight still have to send (acknowledged parts count as sent).");
    sample(out, "presignfs_upload_remaining_bytes", m->upload_remaining);
    family(out, "presignfs_readahead_bytes", "gauge", "Read-ahead buffer memory in use.");
    sample(out, "presignfs_readahead_bytes", m->readahead_bytes);
    family(out, "presignfs_readahead_limit_bytes", "gauge",
           "The read-ahead memory budget (memory_limit).");
    sample(out, "presignfs_readahead_limit_bytes", m->readahead_limit);
    if (!m->have_dcache)
        return;
    const struct pfs_dcache_stats *d = &m->dcache;
    family(out, "presignfs_data_cache_events_total", "counter",
           "Data cache block lookups by result (hit, miss) and blocks dropped (corrupt: "
           "failed their checksum; eviction: to stay within data_cache_size or the margin).");
    const struct {
        const char *event;
        uint64_t v;
    } dev[] = {
        {"hit", d->hits}, {"miss", d->misses}, {"corrupt", d->corrupt}, {"eviction", d->evictions}};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        pfs_buf_printf(out, "presignfs_data_cache_events_total{event=\"%s\"} %llu\n", dev[i].event,
                       (unsigned long long)dev[i].v);
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } one[] = {
        {"presignfs_data_cache_read_bytes_total", "counter",
         "Bytes served from the data cache instead of the store.", d->hit_bytes},
        {"presignfs_data_cache_stored_bytes_total", "counter", "Bytes written into the data cache.",
         d->stored_bytes},
        {"presignfs_data_cache_bytes", "gauge",
         "Disk space the data cache's blocks take (4 KiB pages).", d->bytes},
        {"presignfs_data_cache_limit_bytes", "gauge",
         "data_cache_size (0: none, a margin of free disk is kept instead).", d->limit},
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        family(out, one[i].name, one[i].type, one[i].help);
        sample(out, one[i].name, one[i].v);
    }
}

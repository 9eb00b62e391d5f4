/* A multipart upload fed while its file is written (see stream_upload.h).
 *
 * s->lock guards the part table and the counters; no lock is held across a
 * part's transfer. Parts are numbered in the order they are queued, which is
 * the order of their bytes in the file. */
#include "stream_upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "progress.h"

#define MAX_PARTS 10000 /* the S3 and TOS limit */
/* Part URLs are signed ahead in batches (a signing service answers one call
 * per batch): first PRESIGN_FIRST, then twice the last batch, up to
 * PRESIGN_MAX, asked for once half of the last batch is used. How many parts
 * a stream has is not known, so the batches grow with it; what it did not use
 * is dropped at the end. */
#define PRESIGN_FIRST 32
#define PRESIGN_MAX 512

struct part_task {
    struct pfs_stream *s;
    int number;
    uint64_t offset, len;
};

struct pfs_stream {
    struct pfs_client *client;
    struct pfs_pool *pool;
    char *key, *upload_id;
    int fd;
    uint64_t part_size;
    unsigned max_inflight;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct pfs_part *parts; /* [MAX_PARTS], filled as parts succeed */
    int queued;             /* parts queued so far (numbers 1..queued) */
    unsigned inflight;
    bool batching;      /* the URL source batches: part URLs are signed ahead */
    int presigned;      /* part URLs 1..presigned were asked for */
    int presign_window; /* the size of the last batch */
    int progress;       /* pfs_progress id, or -1 */
    bool failed;
    struct pfs_status first_error;
};

static void part_task(void *arg)
{
    struct part_task *t = arg;
    struct pfs_stream *s = t->s;
    pthread_mutex_lock(&s->lock);
    bool skip = s->failed; /* one part failed: the upload is dead, save the work */
    int ahead_from = 0, ahead_n = 0;
    if (!skip && s->batching && s->presigned < MAX_PARTS &&
        t->number > s->presigned - s->presign_window / 2) {
        ahead_n = s->presign_window * 2 < PRESIGN_MAX ? s->presign_window * 2 : PRESIGN_MAX;
        if (ahead_n > MAX_PARTS - s->presigned)
            ahead_n = MAX_PARTS - s->presigned;
        ahead_from = s->presigned + 1;
        s->presigned += ahead_n; /* claimed under the lock, signed outside it */
        s->presign_window = ahead_n;
    }
    pthread_mutex_unlock(&s->lock);
    if (ahead_n)
        pfs_client_presign_parts(s->client, s->key, s->upload_id, (size_t)ahead_from,
                                 (size_t)ahead_n);
    struct pfs_part part = {0};
    struct pfs_status st;
    pfs_status_clear(&st);
    int rc = -1;
    if (!skip) {
        struct pfs_http_body body = {.fd = s->fd, .offset = (off_t)t->offset, .len = t->len};
        rc = pfs_client_mpu_upload_part(s->client, &part, s->key, s->upload_id, t->number, &body,
                                        &st);
    }
    pthread_mutex_lock(&s->lock);
    if (rc == 0) {
        s->parts[t->number - 1] = part;
        pfs_progress_add(s->progress, t->len);
    } else if (!s->failed) {
        s->failed = true;
        s->first_error = st;
    }
    s->inflight--;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    free(t);
}

int pfs_stream_start(struct pfs_stream **out, struct pfs_client *c, struct pfs_pool *pool,
                     const char *key, const struct pfs_kv *meta, size_t n_meta, int fd,
                     uint64_t part_size, unsigned max_inflight, struct pfs_status *st)
{
    *out = NULL;
    struct pfs_stream *s = calloc(1, sizeof(*s));
    if (s) {
        s->key = strdup(key);
        s->parts = calloc(MAX_PARTS, sizeof(*s->parts));
    }
    if (!s || !s->key || !s->parts) {
        if (s) {
            free(s->key);
            free(s->parts);
        }
        free(s);
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    if (pfs_client_mpu_create(c, &s->upload_id, key, meta, n_meta, st) != 0) {
        free(s->key);
        free(s->parts);
        free(s);
        return -1;
    }
    s->client = c;
    s->pool = pool;
    s->fd = fd;
    s->part_size = part_size;
    s->max_inflight = max_inflight ? max_inflight : 1;
    s->presigned = pfs_client_presign_parts(c, s->key, s->upload_id, 1, PRESIGN_FIRST);
    s->batching = s->presigned > 0;
    s->progress = pfs_progress_begin(s->key, 0);
    s->presign_window = s->presigned;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    *out = s;
    return 0;
}

const char *pfs_stream_upload_id(const struct pfs_stream *s)
{
    return s->upload_id;
}

uint64_t pfs_stream_part_size(const struct pfs_stream *s)
{
    return s->part_size;
}

uint64_t pfs_stream_sent(const struct pfs_stream *s)
{
    return (uint64_t)s->queued * s->part_size;
}

/* Queues bytes [sent, sent+len) as the next part. s->lock held. */
static int queue_part(struct pfs_stream *s, uint64_t len)
{
    if (s->queued >= MAX_PARTS)
        return -1;
    while (s->inflight >= s->max_inflight && !s->failed)
        pthread_cond_wait(&s->changed, &s->lock);
    if (s->failed)
        return -1;
    struct part_task *t = malloc(sizeof(*t));
    if (!t)
        return -1;
    *t = (struct part_task){s, s->queued + 1, pfs_stream_sent(s), len};
    s->queued++;
    s->inflight++;
    pthread_mutex_unlock(&s->lock);
    if (pfs_pool_submit(s->pool, NULL, part_task, t) != 0)
        part_task(t); /* no memory for the queue: send it from here */
    pthread_mutex_lock(&s->lock);
    return 0;
}

int pfs_stream_feed(struct pfs_stream *s, uint64_t size)
{
    pfs_progress_set_total(s->progress, size); /* a stream's total is what was written */
    pthread_mutex_lock(&s->lock);
    int rc = s->failed ? -1 : 0;
    while (rc == 0 && size - pfs_stream_sent(s) >= s->part_size && size > pfs_stream_sent(s))
        rc = queue_part(s, s->part_size);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void wait_idle(struct pfs_stream *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0)
        pthread_cond_wait(&s->changed, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

static void free_stream(struct pfs_stream *s)
{
    pfs_progress_end(s->progress);
    if (s->batching && s->presigned > s->queued)
        pfs_client_forget_part_urls(s->client, s->key, s->upload_id, (size_t)s->queued + 1,
                                    (size_t)(s->presigned - s->queued));
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s->parts);
    free(s->upload_id);
    free(s->key);
    free(s);
}

void pfs_stream_abandon(struct pfs_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->failed = true; /* queued parts not started yet are skipped */
    pthread_mutex_unlock(&s->lock);
    wait_idle(s);
    struct pfs_status st;
    if (pfs_client_mpu_abort(s->client, s->key, s->upload_id, &st) != 0)
        PFS_WARN("could not abort multipart upload %s of %s; it may linger until the bucket's "
                 "lifecycle rule removes it",
                 s->upload_id, s->key);
    free_stream(s);
}

int pfs_stream_finish(struct pfs_stream *s, uint64_t size, char etag_out[80], struct pfs_status *st)
{
    pfs_progress_set_total(s->progress, size);
    pthread_mutex_lock(&s->lock);
    int rc = s->failed || size < pfs_stream_sent(s) ? -1 : 0;
    while (rc == 0 && size > pfs_stream_sent(s)) {
        uint64_t rest = size - pfs_stream_sent(s);
        rc = queue_part(s, rest < s->part_size ? rest : s->part_size);
    }
    pthread_mutex_unlock(&s->lock);
    wait_idle(s);
    pthread_mutex_lock(&s->lock);
    if (rc == 0 && (s->failed || s->queued == 0))
        rc = -1;
    if (rc != 0) {
        if (s->failed)
            *st = s->first_error;
        else {
            pfs_status_clear(st);
            st->error = -EFBIG;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        rc = pfs_client_mpu_complete(s->client, s->key, s->upload_id, s->parts, (size_t)s->queued,
                                     etag_out, st);
    if (rc != 0) {
        struct pfs_status abort_st;
        if (pfs_client_mpu_abort(s->client, s->key, s->upload_id, &abort_st) != 0)
            PFS_WARN("could not abort multipart upload %s of %s; it may linger until the "
                     "bucket's lifecycle rule removes it",
                     s->upload_id, s->key);
    }
    free_stream(s);
    return rc;
}

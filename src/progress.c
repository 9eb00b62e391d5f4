/* Uploads in flight (see progress.h). */
#include "progress.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool used;
    struct pfs_progress_item item;
} slots[PFS_PROGRESS_SLOTS]; /* protected by lock */

int pfs_progress_begin(const char *key, uint64_t total)
{
    pthread_mutex_lock(&lock);
    int id = -1;
    for (int i = 0; i < PFS_PROGRESS_SLOTS && id < 0; i++)
        if (!slots[i].used) {
            id = i;
            slots[i].used = true;
            snprintf(slots[i].item.key, sizeof(slots[i].item.key), "%s", key ? key : "");
            slots[i].item.sent = 0;
            slots[i].item.total = total;
        }
    pthread_mutex_unlock(&lock);
    return id;
}

void pfs_progress_add(int id, uint64_t sent)
{
    if (id < 0 || id >= PFS_PROGRESS_SLOTS)
        return;
    pthread_mutex_lock(&lock);
    slots[id].item.sent += sent;
    pthread_mutex_unlock(&lock);
}

void pfs_progress_set_total(int id, uint64_t total)
{
    if (id < 0 || id >= PFS_PROGRESS_SLOTS)
        return;
    pthread_mutex_lock(&lock);
    slots[id].item.total = total;
    pthread_mutex_unlock(&lock);
}

void pfs_progress_end(int id)
{
    if (id < 0 || id >= PFS_PROGRESS_SLOTS)
        return;
    pthread_mutex_lock(&lock);
    slots[id].used = false;
    pthread_mutex_unlock(&lock);
}

static int by_total_desc(const void *a, const void *b)
{
    const struct pfs_progress_item *x = a, *y = b;
    return x->total < y->total ? 1 : x->total > y->total ? -1 : strcmp(x->key, y->key);
}

size_t pfs_progress_snapshot(struct pfs_progress_item *out, size_t max, uint64_t *remaining_out)
{
    struct pfs_progress_item all[PFS_PROGRESS_SLOTS];
    size_t n = 0;
    uint64_t remaining = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < PFS_PROGRESS_SLOTS; i++)
        if (slots[i].used) {
            all[n++] = slots[i].item;
            if (slots[i].item.total > slots[i].item.sent)
                remaining += slots[i].item.total - slots[i].item.sent;
        }
    pthread_mutex_unlock(&lock);
    qsort(all, n, sizeof(all[0]), by_total_desc);
    if (out && max)
        memcpy(out, all, (n < max ? n : max) * sizeof(all[0]));
    if (remaining_out)
        *remaining_out = remaining;
    return n;
}

static void mib(char *out, size_t len, uint64_t n)
{
    snprintf(out, len, "%.1f MiB", (double)n / (1024.0 * 1024.0));
}

void pfs_progress_describe(char *out, size_t len)
{
    struct pfs_progress_item top;
    uint64_t remaining = 0;
    size_t n = pfs_progress_snapshot(&top, 1, &remaining);
    if (len)
        out[0] = '\0';
    if (n == 0)
        return;
    char rem[32], sent[32], total[32];
    mib(rem, sizeof(rem), remaining);
    mib(sent, sizeof(sent), top.sent);
    mib(total, sizeof(total), top.total);
    snprintf(out, len, "waiting for %zu upload%s (%s to send; largest %.200s %s of %s)", n,
             n == 1 ? "" : "s", rem, top.key, sent, total);
}

struct pfs_progress_reporter {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop; /* protected by lock */
    FILE *f;
    unsigned delay_ms;
    pfs_progress_started_fn started;
    void *ctx;
};

/* Waits until ms from now or a stop; true when stopped. */
static bool wait_ms(struct pfs_progress_reporter *r, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &ts) == 0)
        ;
    bool stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static void *reporter(void *arg)
{
    struct pfs_progress_reporter *r = arg;
    while (r->started && !r->started(r->ctx))
        if (wait_ms(r, 100))
            return NULL;
    for (unsigned ms = r->delay_ms; !wait_ms(r, ms); ms = 1000) {
        char line[512];
        pfs_progress_describe(line, sizeof(line));
        if (line[0]) {
            fprintf(r->f, "presignfs: unmounting: %s ...\n", line);
            fflush(r->f);
        }
    }
    return NULL;
}

int pfs_progress_reporter_start(struct pfs_progress_reporter **out, FILE *f, unsigned delay_ms,
                                pfs_progress_started_fn started, void *ctx)
{
    *out = NULL;
    struct pfs_progress_reporter *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->f = f;
    r->delay_ms = delay_ms;
    r->started = started;
    r->ctx = ctx;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    int rc = pthread_create(&r->thread, NULL, reporter, r);
    if (rc) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

void pfs_progress_reporter_stop(struct pfs_progress_reporter *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

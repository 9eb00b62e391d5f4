/* Renaming in the store: server-side copies of a whole directory tree on
 * the pool, and the ordered locking of every inode a rename touches. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "meta.h"

#include "fs_internal.h"

/* ---- rename: server-side copy, then delete ---- */

struct copy_job {
    struct pfs_fs *fs;
    char *src, *dst;
    uint64_t size;
    int rc;
    struct pfs_status st;
};

static void copy_task(void *arg)
{
    struct copy_job *j = arg;
    j->rc = pfs_client_copy_object(j->fs->client, j->dst, j->src, j->size, j->fs->o.part_size,
                                   false, NULL, 0, &j->st);
}

struct key_list {
    char **keys;
    uint64_t *sizes;
    size_t n, cap;
};

static int collect_keys(void *ctx, const struct pfs_list_page *page)
{
    struct key_list *kl = ctx;
    for (size_t i = 0; i < page->n_entries; i++) {
        if (kl->n == kl->cap) {
            size_t cap = kl->cap ? kl->cap * 2 : 256;
            char **k = realloc(kl->keys, cap * sizeof(*k));
            if (k)
                kl->keys = k;
            uint64_t *z = k ? realloc(kl->sizes, cap * sizeof(*z)) : NULL;
            if (z)
                kl->sizes = z;
            if (!k || !z)
                return -ENOMEM;
            kl->cap = cap;
        }
        if (!(kl->keys[kl->n] = strdup(page->entries[i].key)))
            return -ENOMEM;
        kl->sizes[kl->n++] = page->entries[i].size;
    }
    return 0;
}

/* Every key below src_prefix copied to dst_prefix (bounded by the pool), then
 * the sources deleted. Not atomic: a crash after some copies leaves both
 * trees; the sources go only once every copy succeeded. */
int pfs_rename_tree(struct pfs_fs *fs, const char *src_prefix, const char *dst_prefix)
{
    struct pfs_status st;
    struct key_list kl = {0};
    struct pfs_list_params lp = {.prefix = src_prefix, .max_keys = 1000};
    int rc =
        pfs_client_list_each(fs->client, &lp, collect_keys, &kl, &st) ? pfs_sb_status_err(&st) : 0;
    char **keys = kl.keys;
    uint64_t *sizes = kl.sizes;
    size_t n = kl.n;
    struct copy_job *jobs = rc == 0 && n ? calloc(n, sizeof(*jobs)) : NULL;
    if (rc == 0 && n && !jobs)
        rc = -ENOMEM;
    size_t plen = strlen(src_prefix);
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        jobs[i].fs = fs;
        jobs[i].src = keys[i];
        jobs[i].size = sizes[i];
        jobs[i].dst = pfs_sb_child_key(dst_prefix, keys[i] + plen, false);
        if (!jobs[i].dst ||
            pfs_pool_submit_class(fs->pool, &g, PFS_TASK_BACKGROUND, copy_task, &jobs[i]) != 0)
            copy_task(&jobs[i]);
    }
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (jobs[i].rc != 0)
            rc = pfs_sb_status_err(&jobs[i].st);
    /* Deletes in batches of 1000; keys a batch could not delete, one by one. */
    for (size_t i = 0; rc == 0 && i < n; i += PFS_DELETE_MANY_MAX) {
        size_t k = n - i < PFS_DELETE_MANY_MAX ? n - i : PFS_DELETE_MANY_MAX;
        struct pfs_delete_result r;
        if (pfs_client_delete_many(fs->client, (const char *const *)keys + i, k, &r, &st) == 0) {
            for (size_t e = 0; rc == 0 && e < r.n_errors; e++)
                if (pfs_client_delete(fs->client, r.errors[e].key, &st) != 0)
                    rc = pfs_sb_status_err(&st);
            pfs_delete_result_cleanup(&r);
        } else {
            for (size_t j = i; rc == 0 && j < i + k; j++)
                if (pfs_client_delete(fs->client, keys[j], &st) != 0)
                    rc = pfs_sb_status_err(&st);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        if (jobs)
            free(jobs[i].dst);
    }
    free(keys);
    free(sizes);
    free(jobs);
    return rc;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (struct inode *const *)a,
              y = (uintptr_t) * (struct inode *const *)b;
    return x < y ? -1 : x > y;
}

/* Pins and takes the io lock of src, dst (a file being replaced) and, for a
 * directory, every cached file below it, in address order (two renames
 * cannot deadlock). Returns how many (*out is freed by pfs_rename_unlock_affected), or
 * -ENOMEM. */
ssize_t pfs_rename_lock_affected(struct pfs_fs *fs, struct inode *src, struct inode *dst,
                                 struct inode ***out)
{
    pthread_mutex_lock(&fs->lock);
    size_t cap = 2, n = 0;
    if (src->is_dir)
        for (size_t b = 0; b < INO_BUCKETS; b++)
            for (struct inode *c = fs->by_ino[b]; c; c = c->next_by_ino)
                if (!c->is_dir && c != src && strncmp(c->key, src->key, strlen(src->key)) == 0)
                    cap++;
    struct inode **v = calloc(cap, sizeof(*v));
    if (v) {
        v[n++] = src;
        if (dst && dst != src && !dst->is_dir)
            v[n++] = dst;
        if (src->is_dir)
            for (size_t b = 0; b < INO_BUCKETS && n < cap; b++)
                for (struct inode *c = fs->by_ino[b]; c && n < cap; c = c->next_by_ino)
                    if (!c->is_dir && c != src && c != dst &&
                        strncmp(c->key, src->key, strlen(src->key)) == 0)
                        v[n++] = c;
        for (size_t i = 0; i < n; i++)
            v[i]->open_count++;
    }
    pthread_mutex_unlock(&fs->lock);
    *out = v;
    if (!v)
        return -ENOMEM;
    qsort(v, n, sizeof(*v), by_address);
    for (size_t i = 0; i < n; i++)
        pfs_wb_io_lock(v[i]);
    return (ssize_t)n;
}

void pfs_rename_unlock_affected(struct pfs_fs *fs, struct inode **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pthread_mutex_unlock(&v[i]->io);
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        v[i]->open_count--;
        pfs_sb_maybe_drop(fs, v[i]);
    }
    pthread_mutex_unlock(&fs->lock);
    free(v);
}

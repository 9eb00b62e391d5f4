/* Name lookups and directory listings against the store: probing a name
 * (one LIST, HEAD when metadata is needed), whole listings with their HEAD
 * fan-out for metadata=head, the HEAD of the one listed name a lookup asks
 * for when the listing lacked its metadata, and the walk heuristic that
 * answers a tool stat-ing a directory name by name with one listing. No
 * lock is held across a request. */
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

/* "dir_$folder$": the marker old s3fs and Hadoop leave for a directory. */
static bool folder_marker(const char *name, size_t n)
{
    size_t sn = strlen(PFS_FOLDER_SUFFIX);
    return n > sn && strcmp(name + n - sn, PFS_FOLDER_SUFFIX) == 0;
}

/* A name the store can hold but a directory cannot show (a folder marker
 * shows as the directory it stands for). */
bool pfs_lookup_showable(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= PFS_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !strchr(name, '/') && !folder_marker(name, n);
}

/* An empty object that says it is a directory ("dir" as old s3fs writes it:
 * mode S_IFDIR or Content-Type application/x-directory) is one. */
static bool dir_object(const struct pfs_objmeta *m, uint64_t size)
{
    return size == 0 && m->dir_type;
}

/* An empty object whose metadata (a TOS listing's) names no mode may be a
 * directory by its Content-Type, which only a HEAD shows. */
static bool type_unknown(const struct pfs_objmeta *m, uint64_t size)
{
    return size == 0 && !m->has_mode;
}

/* An empty object of a directory's name whose metadata does not say it is a
 * regular file may be a directory object the directory (its prefix or
 * folder marker) hides: rmdir and rename look at it (PFS_DIRFORM_SHADOWED). */
static bool may_be_dir_object(bool meta_fetched, const struct pfs_objmeta *m, uint64_t size)
{
    return size == 0 && (!meta_fetched || !m->has_mode || S_ISDIR(m->mode));
}

/* A directory entry d is about to replace the file entry of its name. */
static unsigned shadowed_form(const struct pfs_dentry *d)
{
    return d && !d->is_dir && may_be_dir_object(d->meta_fetched, &d->meta, d->size)
               ? PFS_DIRFORM_SHADOWED
               : 0;
}

void pfs_lookup_dentry_dir_object(struct pfs_dentry *d)
{
    if (!d->is_dir && d->meta_fetched && dir_object(&d->meta, d->size)) {
        d->is_dir = true;
        d->dir_forms |= PFS_DIRFORM_OBJECT;
    }
}

static void log_hidden_once(struct pfs_fs *fs, const char *key)
{
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->n_hidden; i++)
        if (strcmp(fs->hidden[i], key) == 0) {
            pthread_mutex_unlock(&fs->lock);
            return;
        }
    if (fs->n_hidden < 10000) {
        char **h = realloc(fs->hidden, (fs->n_hidden + 1) * sizeof(*h));
        if (h) {
            fs->hidden = h;
            fs->hidden[fs->n_hidden] = strdup(key);
            if (fs->hidden[fs->n_hidden])
                fs->n_hidden++;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    PFS_WARN("object key '%s' cannot be shown as a file name (empty, '.', '..' or longer than "
             "255 bytes): hidden",
             key);
}

/* ---- directory listings (fs->lock held) ---- */

bool pfs_lookup_listing_fresh(const struct inode *dir)
{
    return dir->listing && dir->listing->expires > pfs_sb_mono_now();
}

/* ---- talking to the store (no lock held) ---- */

/* The metadata of key (a file, or "dir/" for a directory's marker) by HEAD.
 * A missing marker is not an error: the directory is implicit. */
static int head_meta(struct pfs_fs *fs, struct pfs_objmeta *out, uint64_t *size_out,
                     const char *key, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    struct pfs_object_info info;
    if (pfs_client_head(fs->client, &info, key, st) != 0)
        return pfs_status_errno(st) == ENOENT ? 1 : -1;
    pfs_meta_parse(out, info.meta, info.n_meta);
    if (pfs_meta_dir_content_type(info.content_type))
        out->dir_type = true;
    if (size_out)
        *size_out = info.size;
    if (!out->has_mtime && info.mtime) {
        out->mtime = info.mtime;
        out->has_mtime = true;
    }
    pfs_object_info_cleanup(&info);
    return 0;
}

/* One LIST answers "file, directory or nothing" for parent_key+name: the key
 * itself sorts first, then siblings that extend the name with a byte below
 * '/', then the prefix name + "/". Stops as soon as the listing passes it. */
struct probe_walk {
    struct pfs_fs *fs;
    struct probe *out;
    const char *key, *as_dir, *folder;
    bool short_of_folder; /* stopped on a truncated page before the folder key */
};

static int probe_page(void *ctx, const struct pfs_list_page *page)
{
    struct probe_walk *w = ctx;
    bool passed = false, reached_folder = false;
    for (size_t i = 0; i < page->n_entries; i++) {
        const struct pfs_list_entry *e = &page->entries[i];
        reached_folder = reached_folder || strcmp(e->key, w->folder) >= 0;
        if (strcmp(e->key, w->key) == 0) {
            w->out->file = true;
            w->out->size = e->size;
            w->out->mtime = e->mtime;
            snprintf(w->out->etag, sizeof(w->out->etag), "%s", e->etag);
            if (w->fs->o.listing_has_meta) {
                pfs_meta_parse(&w->out->meta, e->meta, e->n_meta);
                w->out->meta_fetched = true;
            }
        } else if (strcmp(e->key, w->folder) == 0) {
            w->out->dir = true; /* sorts after "dir/": the probe has passed it */
            w->out->dir_forms |= PFS_DIRFORM_FOLDER;
            passed = true;
        } else if (strcmp(e->key, w->as_dir) > 0) {
            passed = true;
        }
    }
    for (size_t i = 0; i < page->n_prefixes; i++) {
        int c = strcmp(page->prefixes[i], w->as_dir);
        reached_folder = reached_folder || strcmp(page->prefixes[i], w->folder) >= 0;
        if (c == 0)
            w->out->dir = true;
        else if (c > 0)
            passed = true;
    }
    bool stop = passed || (w->out->dir && !w->out->dir_forms);
    /* Siblings sorting between "dir/" and "dir_$folder$" (dir0, dirA...) may
     * fill pages: the marker is asked for alone rather than listed up to. */
    w->short_of_folder = stop && page->truncated && !reached_folder;
    return stop;
}

/* One LIST answers "file, directory or nothing" for parent_key+name: the key
 * itself sorts first, then siblings that extend the name with a byte below
 * '/', then the prefix name + "/". Stops as soon as the listing passes it. */
int pfs_lookup_probe_name(struct pfs_fs *fs, struct probe *out, const char *parent_key,
                          const char *name, struct pfs_status *st)
{
    memset(out, 0, sizeof(*out));
    char *key = pfs_sb_child_key(parent_key, name, false),
         *as_dir = pfs_sb_child_key(parent_key, name, true),
         *folder = pfs_sb_child_key(parent_key, name, false);
    if (folder) {
        struct pfs_buf b;
        pfs_buf_init(&b);
        pfs_buf_puts(&b, folder);
        pfs_buf_puts(&b, PFS_FOLDER_SUFFIX);
        free(folder);
        folder = pfs_buf_detach(&b);
    }
    if (!key || !as_dir || !folder) {
        free(key);
        free(as_dir);
        free(folder);
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    struct pfs_list_params lp = {
        .prefix = key, .delimiter = "/", .max_keys = 1000, .fetch_meta = true};
    struct probe_walk w = {fs, out, key, as_dir, folder, false};
    int rc = pfs_client_list_each(fs->client, &lp, probe_page, &w, st);
    if (rc == 0 && w.short_of_folder) {
        struct pfs_list_params fp = {.prefix = folder, .max_keys = 1};
        struct pfs_list_page page;
        rc = pfs_client_list(fs->client, &page, &fp, st);
        if (rc == 0 && page.n_entries && strcmp(page.entries[0].key, folder) == 0) {
            out->dir = true;
            out->dir_forms |= PFS_DIRFORM_FOLDER;
        }
        if (rc == 0)
            pfs_list_page_cleanup(&page);
    }
    if (out->dir && out->file && may_be_dir_object(out->meta_fetched, &out->meta, out->size))
        out->dir_forms |= PFS_DIRFORM_SHADOWED;
    if (out->dir)
        out->meta_fetched = false; /* the file's metadata is not the directory's */
    /* Attributes a backup tool set live in metadata the listing lacks. */
    bool unknown = out->file && !out->dir && type_unknown(&out->meta, out->size);
    if (rc == 0 && fs->o.head_metadata && (out->dir || out->file) &&
        (!out->meta_fetched || unknown)) {
        int hrc = head_meta(fs, &out->meta, NULL, out->dir ? as_dir : key, st);
        if (hrc < 0)
            rc = -1;
        out->meta_fetched = hrc >= 0;
    }
    if (rc == 0 && out->file && !out->dir && out->meta_fetched &&
        dir_object(&out->meta, out->size)) {
        out->file = false; /* its metadata is the directory's */
        out->dir = true;
        out->dir_forms |= PFS_DIRFORM_OBJECT;
    }
    free(key);
    free(as_dir);
    free(folder);
    return rc;
}

int pfs_lookup_read_unread(struct pfs_fs *fs, struct inode *in)
{
    pthread_mutex_lock(&fs->lock);
    bool unread = in->meta_unread && !in->local_only && !in->unlinked;
    char *key = unread ? strdup(in->key) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!unread)
        return 0;
    if (!key)
        return -ENOMEM;
    struct pfs_objmeta m;
    struct pfs_status st;
    int rc = head_meta(fs, &m, NULL, key, &st);
    free(key);
    if (rc < 0)
        return pfs_sb_status_err(&st);
    pthread_mutex_lock(&fs->lock);
    if (in->meta_unread) {        /* 1: gone since; nothing stored to keep */
        if (rc == 0 && in->dirty) /* written since: its times are the writes' */
            m.has_mtime = m.has_ctime = false;
        if (rc == 0)
            pfs_sb_apply_meta(fs, in, &m);
        in->meta_unread = false;
    }
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

int pfs_lookup_is_dir_object(struct pfs_fs *fs, const char *key)
{
    struct pfs_objmeta m;
    uint64_t size = 0;
    struct pfs_status st;
    int rc = head_meta(fs, &m, &size, key, &st);
    if (rc < 0)
        return pfs_sb_status_err(&st);
    return rc == 0 && dir_object(&m, size);
}

/* The metadata of one listed entry by HEAD (no lock held): 0 fetched, 1 the
 * store no longer has it, -1 failed (logged; the caller keeps the listing's
 * attributes). */
static int head_entry(struct pfs_fs *fs, struct pfs_objmeta *out, const char *parent_key,
                      const char *name, bool is_dir)
{
    char *key = pfs_sb_child_key(parent_key, name, is_dir);
    if (!key)
        return -1;
    struct pfs_status st;
    int rc = head_meta(fs, out, NULL, key, &st);
    if (rc < 0) {
        char why[256];
        pfs_status_describe(&st, why, sizeof(why));
        PFS_WARN("HEAD of '%s' failed (%s): it shows with the listing's attributes", key, why);
    }
    free(key);
    return rc;
}

/* A name the listing knows without the metadata a backup tool set (a walk's
 * listing HEADs nothing; a HEAD of a listing may have failed): HEAD this name
 * alone, keep what it said in the listing, and look up again. fs->lock held
 * on entry, released on return. Each pass settles the entry (metadata kept,
 * or the entry dropped), so the second lookup answers from the listing. */
int pfs_lookup_head_listed(struct pfs_fs *fs, struct pfs_attr *out, struct inode *parent,
                           const char *name, bool is_dir)
{
    uint64_t parent_ino = parent->ino;
    char *parent_key = strdup(parent->key);
    pthread_mutex_unlock(&fs->lock);
    if (!parent_key)
        return -ENOMEM;
    struct pfs_objmeta m;
    int hrc = head_entry(fs, &m, parent_key, name, is_dir);
    free(parent_key);
    pthread_mutex_lock(&fs->lock);
    parent = pfs_sb_find_ino(fs, parent_ino);
    struct pfs_dentry *d =
        parent && pfs_lookup_listing_fresh(parent) ? pfs_listing_find(parent->listing, name) : NULL;
    if (d && d->is_dir == is_dir && !d->meta_fetched) {
        if (hrc == 1 && !is_dir) {
            pfs_listing_remove(parent->listing, name); /* deleted since the listing */
        } else if (hrc < 0) {
            d->head_failed = true; /* the listing's attributes, metadata unread */
        } else {
            d->meta = m;
            d->meta_fetched = true;
            pfs_lookup_dentry_dir_object(d);
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return pfs_fs_lookup(fs, out, parent_ino, name);
}

struct head_job {
    struct pfs_fs *fs;
    struct pfs_dentry *d;
    char *key;
    int rc;
    struct pfs_status st;
};

static void head_task(void *arg)
{
    struct head_job *j = arg;
    j->rc = head_meta(j->fs, &j->d->meta, NULL, j->key, &j->st);
    j->d->meta_fetched = j->rc >= 0;
}

/* Fills every entry's metadata with HEADs, many in flight on the pool: an S3
 * listing carries sizes and times but not the modes and times a backup tool
 * set. */
static int head_listing(struct pfs_fs *fs, struct pfs_listing *l, const char *dir_key,
                        struct pfs_status *st)
{
    struct head_job *jobs = calloc(l->n ? l->n : 1, sizeof(*jobs));
    if (!jobs) {
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    pfs_lookup_presign_heads(fs, l, dir_key);
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct pfs_dentry *d = &l->e[i];
        if (d->meta_fetched && (d->is_dir || !type_unknown(&d->meta, d->size)))
            continue;
        struct head_job *j = &jobs[n++];
        j->fs = fs;
        j->d = &l->e[i];
        j->key = pfs_sb_child_key(dir_key, l->e[i].name, l->e[i].is_dir);
        if (!j->key || pfs_pool_submit_class(fs->pool, &g, PFS_TASK_BACKGROUND, head_task, j) != 0)
            j->rc = -1;
    }
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    for (size_t i = 0; i < l->n; i++)
        pfs_lookup_dentry_dir_object(&l->e[i]);
    /* One entry the user may list but not read (a prefix-scoped policy,
     * SSE-C) must not make the directory unlistable: it keeps its listing
     * attributes, and a lookup of it asks again. One line per listing. */
    size_t failed = 0, first = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].key) {
            pfs_status_clear(st);
            st->error = -ENOMEM;
            rc = -1;
        } else if (jobs[i].rc < 0 && failed++ == 0) {
            first = i;
        }
    }
    if (failed && rc == 0) {
        char why[256];
        pfs_status_describe(&jobs[first].st, why, sizeof(why));
        PFS_WARN("listing '%s': HEAD failed for %zu of %zu entries (first '%s': %s); they show "
                 "with the listing's attributes",
                 dir_key, failed, n, jobs[first].key, why);
    }
    for (size_t i = 0; i < n; i++)
        free(jobs[i].key);
    free(jobs);
    return rc;
}

/* The whole listing of a directory, every page. */
struct dir_walk {
    struct pfs_fs *fs;
    struct pfs_listing *l;
    const char *dir_key;
    size_t plen;
    unsigned pages, max_pages;
};

static int dir_page(void *ctx, const struct pfs_list_page *page)
{
    struct dir_walk *w = ctx;
    struct pfs_fs *fs = w->fs;
    for (size_t i = 0; i < page->n_entries; i++) {
        const struct pfs_list_entry *e = &page->entries[i];
        const char *name = e->key + w->plen;
        if (strncmp(e->key, w->dir_key, w->plen) != 0 || *name == '\0')
            continue; /* the directory's own marker */
        size_t nlen = strlen(name);
        if (folder_marker(name, nlen)) {
            /* The directory it stands for, under its own name. */
            char *dir = strndup(name, nlen - strlen(PFS_FOLDER_SUFFIX));
            if (!dir)
                return -ENOMEM;
            if (pfs_lookup_showable(dir)) {
                struct pfs_dentry *d = pfs_listing_find(w->l, dir);
                unsigned forms = PFS_DIRFORM_FOLDER | shadowed_form(d);
                if (!d || !d->is_dir)
                    pfs_listing_put(w->l, dir, true, 0, 0);
                if ((d = pfs_listing_find(w->l, dir)) != NULL)
                    d->dir_forms |= forms;
            }
            free(dir);
            continue;
        }
        if (!pfs_lookup_showable(name)) {
            log_hidden_once(fs, e->key);
            continue;
        }
        /* A name that is both a file and a directory shows as the directory
         * (its files stay reachable); the prefix comes below. */
        pfs_listing_put(w->l, name, false, e->size, e->mtime);
        struct pfs_dentry *d = pfs_listing_find(w->l, name);
        if (d)
            snprintf(d->etag, sizeof(d->etag), "%s", e->etag);
        if (d && fs->o.listing_has_meta) {
            pfs_meta_parse(&d->meta, e->meta, e->n_meta);
            d->meta_fetched = true;
            pfs_lookup_dentry_dir_object(d);
        }
    }
    for (size_t i = 0; i < page->n_prefixes; i++) {
        const char *p = page->prefixes[i];
        if (strncmp(p, w->dir_key, w->plen) != 0)
            continue;
        size_t n = strlen(p + w->plen);
        char *name = strndup(p + w->plen, n ? n - 1 : 0);
        if (!name)
            return -ENOMEM;
        if (pfs_lookup_showable(name)) {
            struct pfs_dentry *d = pfs_listing_find(w->l, name);
            unsigned forms = shadowed_form(d);
            if (d && !d->is_dir)
                PFS_INFO("'%s%s' is both a file and a directory: showing the directory", w->dir_key,
                         name);
            pfs_listing_put(w->l, name, true, 0, 0);
            if (forms && (d = pfs_listing_find(w->l, name)) != NULL)
                d->dir_forms |= forms;
        } else {
            log_hidden_once(fs, p);
        }
        free(name);
    }
    if (page->truncated && w->max_pages && ++w->pages >= w->max_pages)
        return -E2BIG;
    return 0;
}

/* The whole listing of a directory, every page (max_pages 0), or -E2BIG when
 * it has more pages than max_pages. */
int pfs_lookup_list_dir(struct pfs_fs *fs, struct pfs_listing **out, const char *dir_key,
                        unsigned max_pages, bool heads, struct pfs_status *st)
{
    *out = NULL;
    struct pfs_listing *l = pfs_listing_new();
    if (!l) {
        pfs_status_clear(st);
        st->error = -ENOMEM;
        return -1;
    }
    struct pfs_list_params lp = {
        .prefix = dir_key, .delimiter = "/", .max_keys = 1000, .fetch_meta = true};
    struct dir_walk w = {fs, l, dir_key, strlen(dir_key), 0, max_pages};
    int rc = pfs_client_list_each(fs->client, &lp, dir_page, &w, st);
    if (rc != 0 && st->error == -E2BIG) {
        pfs_listing_free(l);
        return -E2BIG;
    }
    if (rc == 0 && heads && fs->o.head_metadata) {
        rc = head_listing(fs, l, dir_key, st);
        l->heads_done = rc == 0;
    }
    if (rc) {
        pfs_listing_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* Children being written here, which the store does not list yet. fs->lock held. */
void pfs_lookup_add_local_children(struct pfs_fs *fs, struct pfs_listing *l, uint64_t dir_ino)
{
    for (size_t b = 0; b < INO_BUCKETS; b++)
        for (struct inode *c = fs->by_ino[b]; c; c = c->next_by_ino)
            if (c->parent == dir_ino && !c->unlinked && (c->local_only || c->pending_upload))
                pfs_listing_put(l, c->name, c->is_dir, c->size, c->mtime);
}

#define WALK_MISSES 4     /* lookups that asked the store ... */
#define WALK_WINDOW 1.0   /* ... within this many seconds */
#define WALK_MAX_PAGES 10 /* list at most 10,000 entries to answer them */

/* Counts a lookup that must ask the store; true when enough came in quick
 * succession that listing the directory once is cheaper. fs->lock held. */
bool pfs_lookup_note_probe(struct pfs_fs *fs, struct inode *dir, double now)
{
    if (dir->too_big_until > now || fs->o.dir_timeout <= 0)
        return false;
    if (now - dir->probe_window > WALK_WINDOW) {
        dir->probe_window = now;
        dir->probe_misses = 0;
    }
    return ++dir->probe_misses > WALK_MISSES;
}

/* Lists a directory for its lookups. Returns 0 when the listing is in place. */
int pfs_lookup_list_parent(struct pfs_fs *fs, uint64_t dir_ino, const char *dir_key)
{
    struct pfs_listing *l = NULL;
    struct pfs_status st;
    /* No HEAD fan-out: the lookups that asked HEAD only their own names. */
    int rc = pfs_lookup_list_dir(fs, &l, dir_key, WALK_MAX_PAGES, false, &st);
    pthread_mutex_lock(&fs->lock);
    struct inode *dir = pfs_sb_find_ino(fs, dir_ino);
    if (rc == 0 && dir) {
        l->expires = pfs_sb_mono_now() + fs->o.dir_timeout;
        pfs_lookup_add_local_children(fs, l, dir_ino);
        pfs_listing_free(dir->listing);
        dir->listing = l;
        l = NULL;
        dir->probe_misses = 0;
    } else if (dir) {
        if (rc == -E2BIG)
            dir->too_big_until = pfs_sb_mono_now() + 60;
        rc = -1;
    }
    pthread_mutex_unlock(&fs->lock);
    pfs_listing_free(l);
    return rc ? -1 : 0;
}

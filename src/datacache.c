/* The clean-data cache (see datacache.h): block files in one directory, a
 * chained hash table plus an intrusive LRU list in memory, one mutex that is
 * never held across file I/O. */
#include "datacache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "crc64.h"
#include "crypto.h"

/* The block file's header; integers little-endian. */
#define HDR_LEN 80
#define OFF_ID 8
#define OFF_BLOCK 40
#define OFF_LEN 48
#define OFF_FLAGS 52
#define OFF_OBJ_CRC 56
#define OFF_DATA_CRC 64
#define OFF_HDR_CRC 72
static const char MAGIC[8] = {'P', 'F', 'S', 'D', 'C', 'B', '1', '\n'};
#define FLAG_HAS_CRC 1u

/* The directory itself and its lock file are kept out of the limit. */
#define DIR_RESERVE (64u << 10)

struct entry {
    struct pfs_dcache_id id;
    uint64_t block;
    uint64_t charge; /* the file's size rounded up to 4 KiB */
    struct entry *chain;
    struct entry *prev, *next; /* LRU: head is the most recently used */
};

struct victim {
    struct pfs_dcache_id id;
    uint64_t block;
};

struct pfs_dcache {
    pthread_mutex_t lock;
    char *dir;
    int lock_fd;
    uint64_t limit; /* 0: the margin alone */
    struct entry **table;
    size_t mask, count;
    struct entry *head, *tail;
    uint64_t used; /* charges of the entries plus files being written */
    struct pfs_dcache_stats st;
    int (*space)(void *ctx, uint64_t *avail, uint64_t *total);
    void *space_ctx;
};

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t charge_of(uint64_t file_len)
{
    return (file_len + 4095) & ~(uint64_t)4095;
}

uint64_t pfs_dcache_margin(uint64_t fs_bytes)
{
    uint64_t m = fs_bytes / 10;
    if (m < (1ull << 30))
        m = 1ull << 30;
    if (m > (20ull << 30))
        m = 20ull << 30;
    return m;
}

void pfs_dcache_id(struct pfs_dcache_id *out, const char *bucket, const char *key, const char *etag)
{
    size_t le = strlen(etag);
    if (le >= 2 && etag[0] == '"' && etag[le - 1] == '"')
        etag++, le -= 2;
    /* Length-prefixed fields: no two (bucket, key, etag) serialise alike. */
    size_t lb = strlen(bucket), lk = strlen(key);
    size_t n = 3 * 21 + lb + lk + le;
    char *s = malloc(n + 1);
    if (!s) {
        memset(out, 0, sizeof(*out)); /* only ever misses: nothing is stored under it */
        return;
    }
    int w = snprintf(s, n + 1, "%zu:%s%zu:%s%zu:%.*s", lb, bucket, lk, key, le, (int)le, etag);
    pfs_crypto_sha256(out->h, s, w > 0 ? (size_t)w : 0);
    free(s);
}

static void path_of(const struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                    char *out, size_t len)
{
    char hex[65];
    pfs_crypto_hex(hex, id->h, sizeof(id->h));
    snprintf(out, len, "%s/%s.%016" PRIx64 ".blk", dc->dir, hex, block);
}

static size_t slot(const struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block)
{
    uint64_t h;
    memcpy(&h, id->h, sizeof(h));
    return (size_t)((h ^ (block * 0x9E3779B97F4A7C15ull)) & dc->mask);
}

static struct entry *find(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block)
{
    for (struct entry *e = dc->table[slot(dc, id, block)]; e; e = e->chain)
        if (e->block == block && memcmp(e->id.h, id->h, sizeof(id->h)) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct pfs_dcache *dc, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        dc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        dc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct pfs_dcache *dc, struct entry *e)
{
    e->prev = NULL;
    e->next = dc->head;
    if (dc->head)
        dc->head->prev = e;
    dc->head = e;
    if (!dc->tail)
        dc->tail = e;
}

/* Grows the table when chains get long; on ENOMEM it simply stays. */
static void maybe_grow(struct pfs_dcache *dc)
{
    if (dc->count <= 2 * (dc->mask + 1))
        return;
    size_t n = 2 * (dc->mask + 1);
    struct entry **t = calloc(n, sizeof(*t));
    if (!t)
        return;
    struct entry **old = dc->table;
    size_t old_n = dc->mask + 1;
    dc->table = t;
    dc->mask = n - 1;
    for (size_t i = 0; i < old_n; i++) {
        while (old[i]) {
            struct entry *e = old[i];
            old[i] = e->chain;
            size_t s = slot(dc, &e->id, e->block);
            e->chain = t[s];
            t[s] = e;
        }
    }
    free(old);
}

/* Lock held. */
static int insert(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                  uint64_t charge, bool most_recent)
{
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->id = *id;
    e->block = block;
    e->charge = charge;
    size_t s = slot(dc, id, block);
    e->chain = dc->table[s];
    dc->table[s] = e;
    if (most_recent) {
        lru_push(dc, e);
    } else { /* the scan at open adds the oldest last */
        e->prev = dc->tail;
        if (dc->tail)
            dc->tail->next = e;
        dc->tail = e;
        if (!dc->head)
            dc->head = e;
    }
    dc->count++;
    maybe_grow(dc);
    return 0;
}

/* Unlinks e from the index and frees it; its charge is given back. Lock held. */
static void remove_entry(struct pfs_dcache *dc, struct entry *e)
{
    struct entry **pp = &dc->table[slot(dc, &e->id, e->block)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(dc, e);
    dc->used -= e->charge;
    dc->count--;
    free(e);
}

/* Removes the least recently used entry into *v. Lock held. */
static bool evict_one(struct pfs_dcache *dc, struct victim *v)
{
    struct entry *e = dc->tail;
    if (!e)
        return false;
    v->id = e->id;
    v->block = e->block;
    remove_entry(dc, e);
    dc->st.evictions++;
    return true;
}

static void unlink_victims(struct pfs_dcache *dc, const struct victim *v, size_t n)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        path_of(dc, &v[i].id, v[i].block, path, sizeof(path));
        unlink(path);
    }
}

static int statvfs_space(void *ctx, uint64_t *avail, uint64_t *total)
{
    struct statvfs sv;
    if (statvfs((const char *)ctx, &sv) != 0)
        return -errno;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
    return 0;
}

void pfs_dcache_set_space_fn(struct pfs_dcache *dc,
                             int (*fn)(void *ctx, uint64_t *avail, uint64_t *total), void *ctx)
{
    pthread_mutex_lock(&dc->lock);
    dc->space = fn ? fn : statvfs_space;
    dc->space_ctx = fn ? ctx : dc->dir;
    pthread_mutex_unlock(&dc->lock);
}

/* "<64 hex>.<16 hex>.blk": the id and the block index, else false. */
static bool parse_name(const char *name, struct pfs_dcache_id *id, uint64_t *block)
{
    if (strlen(name) != 64 + 1 + 16 + 4 || name[64] != '.' || strcmp(name + 81, ".blk") != 0)
        return false;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(name + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", name[2 * i]) ||
            !strchr("0123456789abcdef", name[2 * i + 1]))
            return false;
        id->h[i] = (uint8_t)v;
    }
    char *end;
    errno = 0;
    unsigned long long b = strtoull(name + 65, &end, 16);
    if (errno || end != name + 81)
        return false;
    *block = (uint64_t)b;
    return true;
}

struct found {
    struct pfs_dcache_id id;
    uint64_t block, charge;
    struct timespec mtime;
};

static int by_mtime_desc(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
    return 0;
}

/* Indexes the block files in the directory, the most recently used first
 * (their mtimes); deletes temporary files a crashed run left. */
static int scan(struct pfs_dcache *dc)
{
    DIR *d = opendir(dc->dir);
    if (!d)
        return -errno;
    struct found *f = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct found x;
        if (strncmp(de->d_name, "tmp.", 4) == 0) {
            unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (!parse_name(de->d_name, &x.id, &x.block))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        x.charge = charge_of((uint64_t)sb.st_size);
        x.mtime = sb.st_mtim;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            struct found *g = realloc(f, nc * sizeof(*f));
            if (!g) {
                rc = -ENOMEM;
                break;
            }
            f = g;
            cap = nc;
        }
        f[n++] = x;
    }
    closedir(d);
    if (rc == 0 && n)
        qsort(f, n, sizeof(*f), by_mtime_desc);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = insert(dc, &f[i].id, f[i].block, f[i].charge, false)) == 0)
            dc->used += f[i].charge;
    }
    free(f);
    return rc;
}

int pfs_dcache_open(struct pfs_dcache **out, const char *dir, uint64_t max_bytes, char *err,
                    size_t err_len)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, err_len, "data_cache %s: %s", dir, strerror(e));
        return -e;
    }
    /* Absolute: a daemon that goes to the background changes directory. */
    char *abs = realpath(dir, NULL);
    if (!abs) {
        int e = errno;
        snprintf(err, err_len, "data_cache %s: %s", dir, strerror(e));
        return -e;
    }
    struct pfs_dcache *dc = calloc(1, sizeof(*dc));
    if (dc)
        dc->dir = abs;
    else
        free(abs);
    if (!dc || !(dc->table = calloc(1024, sizeof(*dc->table)))) {
        if (dc)
            free(dc->dir);
        free(dc);
        snprintf(err, err_len, "data_cache: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&dc->lock, NULL);
    dc->mask = 1023;
    dc->limit = max_bytes;
    dc->space = statvfs_space;
    dc->space_ctx = dc->dir;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/.lock", dc->dir);
    dc->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = 0;
    if (dc->lock_fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "data_cache %s: %s", dir, strerror(errno));
    } else if (flock(dc->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        snprintf(err, err_len, "data_cache %s is in use by another mount (%s)", dir,
                 strerror(errno));
    } else if ((rc = scan(dc)) != 0) {
        snprintf(err, err_len, "data_cache %s: cannot read it: %s", dir, strerror(-rc));
    }
    if (rc) {
        pfs_dcache_close(dc);
        return rc;
    }
    /* A smaller limit than last time: shrink now. */
    size_t nv = 0, cap = 0;
    struct victim *v = NULL;
    while (dc->limit && dc->used > dc->limit - DIR_RESERVE) {
        if (nv == cap) {
            cap = cap ? 2 * cap : 64;
            struct victim *g = realloc(v, cap * sizeof(*v));
            if (!g)
                break;
            v = g;
        }
        if (!evict_one(dc, &v[nv]))
            break;
        nv++;
    }
    unlink_victims(dc, v, nv);
    free(v);
    *out = dc;
    return 0;
}

void pfs_dcache_close(struct pfs_dcache *dc)
{
    if (!dc)
        return;
    while (dc->head) {
        struct entry *e = dc->head;
        dc->head = e->next;
        free(e);
    }
    free(dc->table);
    if (dc->lock_fd >= 0)
        close(dc->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&dc->lock);
    free(dc->dir);
    free(dc);
}

static int read_all(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        done += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, (const char *)buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        done += (size_t)w;
    }
    return 0;
}

/* Checks a block file: header, identity, length and both CRCs. Returns the
 * data length, or -ENOENT (gone), -EBADMSG (corrupt), -errno. */
static ssize_t read_block(int fd, const struct pfs_dcache_id *id, uint64_t block, void *buf,
                          struct pfs_dcache_meta *meta)
{
    struct stat sb;
    uint8_t h[HDR_LEN];
    if (fstat(fd, &sb) != 0)
        return -errno;
    if (sb.st_size < HDR_LEN + 1 || sb.st_size > HDR_LEN + PFS_DCACHE_BLOCK ||
        read_all(fd, h, HDR_LEN, 0) != 0)
        return -EBADMSG;
    uint32_t len = get32(h + OFF_LEN);
    if (memcmp(h, MAGIC, sizeof(MAGIC)) != 0 ||
        get64(h + OFF_HDR_CRC) != pfs_crc64_update(0, h, OFF_HDR_CRC) ||
        memcmp(h + OFF_ID, id->h, sizeof(id->h)) != 0 || get64(h + OFF_BLOCK) != block ||
        (off_t)len + HDR_LEN != sb.st_size)
        return -EBADMSG;
    if (read_all(fd, buf, len, HDR_LEN) != 0 ||
        pfs_crc64_update(0, buf, len) != get64(h + OFF_DATA_CRC))
        return -EBADMSG;
    if (meta) {
        meta->has_crc64 = get32(h + OFF_FLAGS) & FLAG_HAS_CRC;
        meta->crc64 = get64(h + OFF_OBJ_CRC);
    }
    return (ssize_t)len;
}

/* Forgets a block whose file is gone or bad (if the index still has it). */
static void forget(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                   bool corrupt)
{
    pthread_mutex_lock(&dc->lock);
    struct entry *e = find(dc, id, block);
    if (e)
        remove_entry(dc, e);
    if (corrupt)
        dc->st.corrupt++;
    pthread_mutex_unlock(&dc->lock);
}

ssize_t pfs_dcache_get(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                       void *buf, struct pfs_dcache_meta *meta)
{
    pthread_mutex_lock(&dc->lock);
    struct entry *e = find(dc, id, block);
    if (e) {
        lru_unlink(dc, e);
        lru_push(dc, e);
    } else {
        dc->st.misses++;
    }
    pthread_mutex_unlock(&dc->lock);
    if (!e)
        return -ENOENT;
    char path[PATH_MAX];
    path_of(dc, id, block, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -errno : read_block(fd, id, block, buf, meta);
    if (n > 0)
        futimens(fd, NULL); /* the LRU order a remount rebuilds */
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        if (n == -EBADMSG)
            unlink(path); /* never returned; the next read fetches it again */
        forget(dc, id, block, n == -EBADMSG);
        pthread_mutex_lock(&dc->lock);
        dc->st.misses++;
        pthread_mutex_unlock(&dc->lock);
        return -ENOENT;
    }
    pthread_mutex_lock(&dc->lock);
    dc->st.hits++;
    dc->st.hit_bytes += (uint64_t)n;
    pthread_mutex_unlock(&dc->lock);
    return n;
}

/* Makes room for charge bytes, beyond deficit bytes the filesystem lacks;
 * the victims go into *v (the caller unlinks them). Lock held. */
static int make_room(struct pfs_dcache *dc, uint64_t charge, uint64_t deficit, struct victim **v,
                     size_t *nv)
{
    size_t cap = 0;
    uint64_t freed = 0;
    for (;;) {
        bool over_limit = dc->limit && dc->used + charge > dc->limit - DIR_RESERVE;
        if (!over_limit && freed >= deficit)
            return 0;
        if (*nv == cap) {
            cap = cap ? 2 * cap : 8;
            struct victim *g = realloc(*v, cap * sizeof(**v));
            if (!g)
                return -ENOMEM;
            *v = g;
        }
        uint64_t before = dc->used;
        if (!evict_one(dc, &(*v)[*nv]))
            return -ENOSPC; /* what is being written now fills it */
        freed += before - dc->used;
        (*nv)++;
    }
}

int pfs_dcache_put(struct pfs_dcache *dc, const struct pfs_dcache_id *id, uint64_t block,
                   const void *data, size_t len, const struct pfs_dcache_meta *meta)
{
    if (len == 0 || len > PFS_DCACHE_BLOCK)
        return -EINVAL;
    uint64_t charge = charge_of(HDR_LEN + len);
    pthread_mutex_lock(&dc->lock);
    bool have = find(dc, id, block) != NULL;
    int (*space)(void *, uint64_t *, uint64_t *) = dc->space;
    void *space_ctx = dc->space_ctx;
    pthread_mutex_unlock(&dc->lock);
    if (have)
        return 0; /* another reader stored it meanwhile: same bytes */
    uint64_t deficit = 0;
    if (!dc->limit) {
        uint64_t avail = 0, total = 0;
        if (space(space_ctx, &avail, &total) == 0) {
            uint64_t want = pfs_dcache_margin(total) + charge;
            deficit = want > avail ? want - avail : 0;
        }
    }
    struct victim *v = NULL;
    size_t nv = 0;
    pthread_mutex_lock(&dc->lock);
    int rc = make_room(dc, charge, deficit, &v, &nv);
    if (rc == 0)
        dc->used += charge; /* the temporary file counts while written */
    pthread_mutex_unlock(&dc->lock);
    unlink_victims(dc, v, nv);
    free(v);
    if (rc)
        return rc;

    uint8_t h[HDR_LEN] = {0};
    memcpy(h, MAGIC, sizeof(MAGIC));
    memcpy(h + OFF_ID, id->h, sizeof(id->h));
    put64(h + OFF_BLOCK, block);
    put32(h + OFF_LEN, (uint32_t)len);
    put32(h + OFF_FLAGS, meta && meta->has_crc64 ? FLAG_HAS_CRC : 0);
    put64(h + OFF_OBJ_CRC, meta && meta->has_crc64 ? meta->crc64 : 0);
    put64(h + OFF_DATA_CRC, pfs_crc64_update(0, data, len));
    put64(h + OFF_HDR_CRC, pfs_crc64_update(0, h, OFF_HDR_CRC));
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/tmp.XXXXXX", dc->dir);
    path_of(dc, id, block, path, sizeof(path));
    bool renamed = false;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
    } else {
        rc = write_all(fd, h, sizeof(h));
        if (rc == 0)
            rc = write_all(fd, data, len);
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        /* No fsync: after a crash a block is whole or fails its CRCs, and a
         * cache may lose blocks. */
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        renamed = rc == 0;
        if (rc)
            unlink(tmp);
    }
    pthread_mutex_lock(&dc->lock);
    dc->used -= charge; /* insert's entry carries it from now on */
    if (rc == 0 && !find(dc, id, block)) {
        if ((rc = insert(dc, id, block, charge, true)) == 0) {
            dc->used += charge;
            dc->st.stored_bytes += len;
        }
    }
    pthread_mutex_unlock(&dc->lock);
    if (rc && renamed)
        unlink(path); /* not indexed: it must not outlive the limit */
    return rc;
}

void pfs_dcache_drop(struct pfs_dcache *dc, const struct pfs_dcache_id *id)
{
    struct victim *v = NULL;
    size_t nv = 0, cap = 0;
    pthread_mutex_lock(&dc->lock);
    for (struct entry *e = dc->head, *next; e; e = next) {
        next = e->next;
        if (memcmp(e->id.h, id->h, sizeof(id->h)) != 0)
            continue;
        if (nv == cap) {
            cap = cap ? 2 * cap : 16;
            struct victim *g = realloc(v, cap * sizeof(*v));
            if (!g)
                break;
            v = g;
        }
        v[nv].id = e->id;
        v[nv++].block = e->block;
        remove_entry(dc, e);
    }
    pthread_mutex_unlock(&dc->lock);
    unlink_victims(dc, v, nv);
    free(v);
}

void pfs_dcache_get_stats(struct pfs_dcache *dc, struct pfs_dcache_stats *out)
{
    pthread_mutex_lock(&dc->lock);
    *out = dc->st;
    out->bytes = dc->used;
    out->limit = dc->limit;
    out->blocks = dc->count;
    pthread_mutex_unlock(&dc->lock);
}

/* The write-back journal (see journal.h): staged data files, their JSON
 * records written atomically, the recovery scan that adopts only what no live
 * daemon holds a lock on, and lost+found.
 *
 * Everything read back from disk is treated as hostile: a record is parsed
 * with jansson under a size cap, every field is type- and range-checked, and
 * anything that does not fit is a bad record (moved aside), never a crash.
 * Strings are arbitrary bytes: a value that is not UTF-8 is stored
 * hex-encoded under NAME_hex so that it round-trips exactly. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "crypto.h"
#include "log.h"
#include "uri.h"

#define JOURNAL_VERSION 1
#define REC_MAX_BYTES (4u << 20) /* 10000 parts fit in well under 2 MiB */
#define PARTS_MAX 10000          /* the S3 and TOS multipart limit */
#define LOST_NAME_MAX 200        /* escaped key + "." + id stays below this */

struct pfs_journal {
    char *dir;  /* cache_dir/journal */
    char *lost; /* cache_dir/lost+found */
};

/* ---- records ---- */

void pfs_jrec_cleanup(struct pfs_jrec *r)
{
    if (!r)
        return;
    free(r->bucket);
    free(r->prefix);
    free(r->key);
    free(r->upload_id);
    free(r->parts);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int pfs_jrec_copy(struct pfs_jrec *dst, const struct pfs_jrec *src)
{
    *dst = *src;
    dst->bucket = dst->prefix = dst->key = dst->upload_id = dst->error = NULL;
    dst->parts = NULL;
    if (dup_str(&dst->bucket, src->bucket) || dup_str(&dst->prefix, src->prefix) ||
        dup_str(&dst->key, src->key) || dup_str(&dst->upload_id, src->upload_id) ||
        dup_str(&dst->error, src->error))
        goto nomem;
    if (src->n_parts) {
        dst->parts = malloc(src->n_parts * sizeof(*dst->parts));
        if (!dst->parts)
            goto nomem;
        memcpy(dst->parts, src->parts, src->n_parts * sizeof(*dst->parts));
    }
    return 0;
nomem:
    pfs_jrec_cleanup(dst);
    return -ENOMEM;
}

static const char *const state_names[] = {"open", "closed", "failed", "delete"};

const char *pfs_jstate_name(enum pfs_jstate s)
{
    if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
        return state_names[s];
    return "unknown";
}

/* "j" followed by 22 lower-case hex digits: the only names the journal
 * touches, so a stray file (or a path in a hostile name) is never used. */
static bool valid_id(const char *s, size_t len)
{
    if (len != PFS_JOURNAL_ID_LEN - 1 || s[0] != 'j')
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* ---- JSON encoding ---- */

/* A string field: UTF-8 as NAME, anything else hex-encoded as NAME_hex. */
static int put_bytes(json_t *o, const char *name, const char *value)
{
    if (!value)
        return 0;
    json_t *s = json_string(value);
    if (s)
        return json_object_set_new(o, name, s) ? -ENOMEM : 0;
    size_t n = strlen(value);
    char *hex = malloc(2 * n + 1);
    char hex_name[64];
    if (!hex)
        return -ENOMEM;
    pfs_crypto_hex(hex, (const uint8_t *)value, n);
    snprintf(hex_name, sizeof(hex_name), "%s_hex", name);
    int rc = json_object_set_new(o, hex_name, json_string(hex)) ? -ENOMEM : 0;
    free(hex);
    return rc;
}

static int put_int(json_t *o, const char *name, long long v)
{
    return json_object_set_new(o, name, json_integer(v)) ? -ENOMEM : 0;
}

static int put_u64(json_t *o, const char *name, uint64_t v)
{
    if (v > (uint64_t)LLONG_MAX)
        return -EOVERFLOW;
    return put_int(o, name, (long long)v);
}

static int encode(char **out, const struct pfs_jrec *r)
{
    json_t *o = json_object();
    json_t *parts = json_array();
    int rc = -ENOMEM;
    *out = NULL;
    if (!o || !parts)
        goto out;
    if ((rc = put_int(o, "version", JOURNAL_VERSION)) || (rc = put_bytes(o, "bucket", r->bucket)) ||
        (rc = put_bytes(o, "prefix", r->prefix)) || (rc = put_bytes(o, "key", r->key)) ||
        (rc = json_object_set_new(o, "state", json_string(pfs_jstate_name(r->state))) ? -ENOMEM
                                                                                      : 0) ||
        (rc = put_u64(o, "size", r->size)) || (rc = put_int(o, "mode", (long long)r->mode)) ||
        (rc = put_int(o, "uid", (long long)r->uid)) ||
        (rc = put_int(o, "gid", (long long)r->gid)) || (rc = put_int(o, "mtime", r->mtime)) ||
        (rc = put_int(o, "mtime_ns", r->mtime_ns)) ||
        (rc = put_bytes(o, "base_etag", r->base_etag)) ||
        (rc = put_bytes(o, "upload_id", r->upload_id)) ||
        (rc = put_u64(o, "part_size", r->part_size)) || (rc = put_bytes(o, "error", r->error)) ||
        (rc = put_int(o, "attempts", r->attempts)) || (rc = put_int(o, "created", r->created)) ||
        (rc = put_int(o, "updated", r->updated)) ||
        (rc = put_int(o, "mpu_started", r->mpu_started)))
        goto out;
    for (size_t i = 0; i < r->n_parts; i++) {
        json_t *p = json_object();
        rc = -ENOMEM;
        if (!p || json_array_append_new(parts, p))
            goto out;
        if ((rc = put_int(p, "number", r->parts[i].number)) ||
            (rc = put_bytes(p, "etag", r->parts[i].etag)) ||
            (rc = put_u64(p, "size", r->parts[i].size)))
            goto out;
    }
    rc = -ENOMEM;
    if (json_object_set(o, "parts", parts))
        goto out;
    *out = json_dumps(o, JSON_COMPACT);
    rc = *out ? 0 : -ENOMEM;
out:
    json_decref(parts);
    json_decref(o);
    return rc;
}

/* ---- JSON decoding (every failure is -EBADMSG: a bad record) ---- */

/* NAME or NAME_hex into a heap string; absent: *out stays NULL. */
static int get_bytes(char **out, json_t *o, const char *name)
{
    char hex_name[64];
    snprintf(hex_name, sizeof(hex_name), "%s_hex", name);
    json_t *v = json_object_get(o, name);
    json_t *h = json_object_get(o, hex_name);
    *out = NULL;
    if (json_is_null(v))
        v = NULL;
    if (json_is_null(h))
        h = NULL;
    if (v && h)
        return -EBADMSG;
    if (v) {
        if (!json_is_string(v))
            return -EBADMSG;
        size_t n = json_string_length(v);
        if (memchr(json_string_value(v), '\0', n)) /* "\u0000" */
            return -EBADMSG;
        *out = strdup(json_string_value(v));
        return *out ? 0 : -ENOMEM;
    }
    if (!h)
        return 0;
    if (!json_is_string(h))
        return -EBADMSG;
    const char *s = json_string_value(h);
    size_t n = json_string_length(h);
    if (n % 2)
        return -EBADMSG;
    char *b = malloc(n / 2 + 1);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = pfs_uri_hexval(s[2 * i]), lo = pfs_uri_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(b);
            return -EBADMSG;
        }
        b[i] = (char)(hi << 4 | lo);
    }
    b[n / 2] = '\0';
    *out = b;
    return 0;
}

/* A string into a fixed buffer; absent: "". */
static int get_fixed(char *dst, size_t cap, json_t *o, const char *name)
{
    char *s;
    int rc = get_bytes(&s, o, name);
    dst[0] = '\0';
    if (rc)
        return rc;
    if (s && strlen(s) >= cap)
        rc = -EBADMSG;
    else if (s)
        memcpy(dst, s, strlen(s) + 1);
    free(s);
    return rc;
}

/* An integer in [lo, hi]; absent: 0, or -EBADMSG when required. */
static int get_int(long long *out, json_t *o, const char *name, long long lo, long long hi,
                   bool required)
{
    json_t *v = json_object_get(o, name);
    *out = 0;
    if (!v)
        return required ? -EBADMSG : 0;
    if (!json_is_integer(v))
        return -EBADMSG;
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return -EBADMSG;
    *out = x;
    return 0;
}

static int decode(struct pfs_jrec *r, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    long long v;
    int rc = -EBADMSG;
    if (!o || !json_is_object(o))
        goto out;
    if ((rc = get_int(&v, o, "version", JOURNAL_VERSION, JOURNAL_VERSION, true)))
        goto out;
    if ((rc = get_bytes(&r->bucket, o, "bucket")) || (rc = get_bytes(&r->prefix, o, "prefix")) ||
        (rc = get_bytes(&r->key, o, "key")) || (rc = get_bytes(&r->upload_id, o, "upload_id")) ||
        (rc = get_bytes(&r->error, o, "error")) ||
        (rc = get_fixed(r->base_etag, sizeof(r->base_etag), o, "base_etag")))
        goto out;
    rc = -EBADMSG;
    if (!r->key)
        goto out;
    json_t *st = json_object_get(o, "state");
    if (!json_is_string(st))
        goto out;
    size_t i;
    for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(json_string_value(st), state_names[i]) == 0)
            break;
    if (i == sizeof(state_names) / sizeof(state_names[0]))
        goto out;
    r->state = (enum pfs_jstate)i;
    if ((rc = get_int(&v, o, "size", 0, LLONG_MAX, true)))
        goto out;
    r->size = (uint64_t)v;
    if ((rc = get_int(&v, o, "mode", 0, S_IFMT | 07777, false)))
        goto out;
    r->mode = (mode_t)v;
    if ((rc = get_int(&v, o, "uid", 0, UINT32_MAX, false)))
        goto out;
    r->uid = (uid_t)v;
    if ((rc = get_int(&v, o, "gid", 0, UINT32_MAX, false)))
        goto out;
    r->gid = (gid_t)v;
    if ((rc = get_int(&v, o, "mtime", LLONG_MIN, LLONG_MAX, false)))
        goto out;
    r->mtime = v;
    if ((rc = get_int(&v, o, "mtime_ns", 0, 999999999, false)))
        goto out;
    r->mtime_ns = (uint32_t)v;
    if ((rc = get_int(&v, o, "part_size", 0, LLONG_MAX, false)))
        goto out;
    r->part_size = (uint64_t)v;
    if ((rc = get_int(&v, o, "attempts", 0, INT_MAX, false)))
        goto out;
    r->attempts = (int)v;
    if ((rc = get_int(&v, o, "created", LLONG_MIN, LLONG_MAX, false)))
        goto out;
    r->created = v;
    if ((rc = get_int(&v, o, "updated", LLONG_MIN, LLONG_MAX, false)))
        goto out;
    r->updated = v;
    if ((rc = get_int(&v, o, "mpu_started", 0, LLONG_MAX, false)))
        goto out;
    r->mpu_started = v;
    json_t *parts = json_object_get(o, "parts");
    rc = -EBADMSG;
    if (parts && !json_is_array(parts))
        goto out;
    size_t n = parts ? json_array_size(parts) : 0;
    if (n > PARTS_MAX)
        goto out;
    if (n) {
        rc = -ENOMEM;
        r->parts = calloc(n, sizeof(*r->parts));
        if (!r->parts)
            goto out;
    }
    for (i = 0; i < n; i++) {
        json_t *p = json_array_get(parts, i);
        struct pfs_jpart *jp = &r->parts[i];
        rc = -EBADMSG;
        if (!json_is_object(p))
            goto out;
        if ((rc = get_int(&v, p, "number", 1, PARTS_MAX, true)))
            goto out;
        jp->number = (int)v;
        if ((rc = get_int(&v, p, "size", 0, LLONG_MAX, true)))
            goto out;
        jp->size = (uint64_t)v;
        if ((rc = get_fixed(jp->etag, sizeof(jp->etag), p, "etag")))
            goto out;
        r->n_parts = i + 1;
    }
    rc = 0;
out:
    json_decref(o);
    if (rc)
        pfs_jrec_cleanup(r);
    return rc;
}

/* ---- files ---- */

static int path_of(char *out, size_t len, const char *dir, const char *id, const char *suffix)
{
    int n = snprintf(out, len, "%s/%s%s", dir, id, suffix);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *path)
{
    struct stat st;
    int rc = 0;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        rc = -errno;
    else if (stat(path, &st) != 0)
        rc = -errno;
    else if (!S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc)
        PFS_ERROR("journal: cannot create %s: %s", path, strerror(-rc));
    return rc;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc)
        PFS_ERROR("journal: cannot fsync %s: %s", path, strerror(-rc));
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads and parses path. Returns 0, -ENOENT, -EBADMSG (a bad record) or
 * another -errno (logged). */
static int read_record(struct pfs_jrec *r, const char *path)
{
    /* O_NONBLOCK: a FIFO planted under a record's name must not hang us. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int rc = -errno;
        if (rc == -ELOOP)
            return -EBADMSG;
        if (rc != -ENOENT)
            PFS_ERROR("journal: cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    struct stat st;
    char *buf = NULL;
    int rc = -EBADMSG;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        PFS_ERROR("journal: cannot stat %s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > REC_MAX_BYTES)
        goto out;
    size_t len = (size_t)st.st_size, got = 0;
    buf = malloc(len);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            PFS_ERROR("journal: cannot read %s: %s", path, strerror(-rc));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rc = decode(r, buf, got);
out:
    free(buf);
    close(fd);
    return rc;
}

int pfs_journal_open(struct pfs_journal **out, const char *cache_dir)
{
    *out = NULL;
    /* Room for the longest name the journal makes below cache_dir. */
    if (strlen(cache_dir) + 16 + LOST_NAME_MAX >= PATH_MAX) {
        PFS_ERROR("journal: cache directory path too long: %s", cache_dir);
        return -ENAMETOOLONG;
    }
    struct pfs_journal *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    int rc = -ENOMEM;
    if (asprintf(&j->dir, "%s/journal", cache_dir) < 0) {
        j->dir = NULL;
        goto fail;
    }
    if (asprintf(&j->lost, "%s/lost+found", cache_dir) < 0) {
        j->lost = NULL;
        goto fail;
    }
    if ((rc = make_dir(cache_dir)) || (rc = make_dir(j->dir)) || (rc = make_dir(j->lost)))
        goto fail;
    *out = j;
    return 0;
fail:
    pfs_journal_free(j);
    return rc;
}

void pfs_journal_free(struct pfs_journal *j)
{
    if (!j)
        return;
    free(j->dir);
    free(j->lost);
    free(j);
}

static int new_id(char id[PFS_JOURNAL_ID_LEN])
{
    uint8_t b[(PFS_JOURNAL_ID_LEN - 2) / 2];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    id[0] = 'j';
    pfs_crypto_hex(id + 1, b, sizeof(b));
    return 0;
}

int pfs_journal_create(struct pfs_journal *j, char id_out[PFS_JOURNAL_ID_LEN], int *fd_out)
{
    char path[PATH_MAX];
    int rc = -EEXIST;
    *fd_out = -1;
    id_out[0] = '\0';
    for (int tries = 0; tries < 8 && rc == -EEXIST; tries++) {
        if ((rc = new_id(id_out))) {
            PFS_ERROR("journal: no random bytes for a new entry: %s", strerror(-rc));
            return rc;
        }
        if ((rc = path_of(path, sizeof(path), j->dir, id_out, ".data")))
            return rc;
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        /* Nobody else can know the name yet, so this only fails on a
         * filesystem without flock. */
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            rc = -errno;
            close(fd);
            unlink(path);
            break;
        }
        *fd_out = fd;
        return 0;
    }
    PFS_ERROR("journal: cannot create %s: %s", path, strerror(-rc));
    id_out[0] = '\0';
    return rc;
}

void pfs_journal_data_path(const struct pfs_journal *j, const char *id, char *out, size_t len)
{
    if (path_of(out, len, j->dir, id, ".data") && len)
        out[0] = '\0';
}

int pfs_journal_write(struct pfs_journal *j, struct pfs_jrec *r, int data_fd, bool durable)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!valid_id(r->id, strnlen(r->id, sizeof(r->id))))
        return -EINVAL;
    int rc = path_of(path, sizeof(path), j->dir, r->id, ".rec");
    if (rc || (rc = path_of(tmp, sizeof(tmp), j->dir, r->id, ".rec.tmp")))
        return rc;
    int64_t now = (int64_t)time(NULL);
    r->updated = now;
    if (r->created == 0)
        r->created = now;
    /* A torn rewrite of an acknowledged record would send its data to
     * lost+found: the record itself is always synced unless it is OPEN. */
    bool sync_rec = durable || r->state != PFS_J_OPEN;
    if (durable && data_fd >= 0 && fsync(data_fd) != 0) {
        rc = -errno;
        PFS_ERROR("journal: cannot fsync the data of %s: %s", path, strerror(-rc));
        return rc;
    }
    char *text;
    if ((rc = encode(&text, r))) {
        PFS_ERROR("journal: cannot encode %s: %s", path, strerror(-rc));
        return rc;
    }
    /* Never write what recovery would refuse to read (no key, part 0, ...):
     * that would send acknowledged data to lost+found. */
    struct pfs_jrec check;
    memset(&check, 0, sizeof(check));
    if ((rc = decode(&check, text, strlen(text)))) {
        rc = rc == -EBADMSG ? -EINVAL : rc;
        PFS_ERROR("journal: refusing to write an invalid record %s: %s", path, strerror(-rc));
        free(text);
        return rc;
    }
    pfs_jrec_cleanup(&check);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        PFS_ERROR("journal: cannot create %s: %s", tmp, strerror(-rc));
        free(text);
        return rc;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL: the file is one line of text */
    rc = write_all(fd, text, n + 1);
    free(text);
    if (rc == 0 && sync_rec && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        PFS_ERROR("journal: cannot write %s: %s", path, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    return sync_rec ? fsync_dir(j->dir) : 0;
}

static int unlink_quiet(const char *path)
{
    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    int rc = -errno;
    PFS_ERROR("journal: cannot remove %s: %s", path, strerror(-rc));
    return rc;
}

int pfs_journal_remove(struct pfs_journal *j, const char *id)
{
    char path[PATH_MAX];
    if (!valid_id(id, strlen(id)))
        return -EINVAL;
    int rc = path_of(path, sizeof(path), j->dir, id, ".rec");
    if (rc || (rc = unlink_quiet(path)))
        return rc;
    if ((rc = path_of(path, sizeof(path), j->dir, id, ".data")))
        return rc;
    return unlink_quiet(path);
}

/* The key as one file name: '/', '%', control bytes and bytes >= 0x80 as
 * %XX, cut at an escape boundary so name + "." + id stays below
 * LOST_NAME_MAX. */
static void lost_name(char *out, const char *key, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = LOST_NAME_MAX - 1 - strlen(id) - 1, n = 0;
    if (!key || !*key)
        key = "unnamed";
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        bool esc = *p == '/' || *p == '%' || *p < 0x20 || *p >= 0x7f;
        if (n + (esc ? 3 : 1) > cap)
            break;
        if (esc) {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n++] = '.';
    strcpy(out + n, id);
}

int pfs_journal_to_lost_found(struct pfs_journal *j, const char *id, const char *key,
                              char *path_out, size_t len)
{
    char from[PATH_MAX], to[PATH_MAX], name[LOST_NAME_MAX];
    if (path_out && len)
        path_out[0] = '\0';
    if (!valid_id(id, strlen(id)))
        return -EINVAL;
    lost_name(name, key, id);
    int rc = path_of(from, sizeof(from), j->dir, id, ".data");
    if (rc || (rc = path_of(to, sizeof(to), j->lost, name, "")))
        return rc;
    if (rename(from, to) != 0) {
        rc = -errno;
        PFS_ERROR("journal: cannot move %s to %s: %s", from, to, strerror(-rc));
        return rc;
    }
    fsync_dir(j->lost);
    if (path_out && len)
        snprintf(path_out, len, "%s", to);
    if ((rc = path_of(from, sizeof(from), j->dir, id, ".rec")) || (rc = unlink_quiet(from)))
        return rc;
    fsync_dir(j->dir);
    return 0;
}

/* ---- scanning ---- */

enum { KIND_REC = 1, KIND_DATA = 2, KIND_TMP = 4 };

struct name {
    char id[PFS_JOURNAL_ID_LEN];
    unsigned char kind; /* KIND_* bits */
};

struct names {
    struct name *v;
    size_t n, cap;
};

static int names_add(struct names *ns, const char *id, unsigned char kind)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? 2 * ns->cap : 64;
        void *a = realloc(ns->v, cap * sizeof(*ns->v));
        if (!a)
            return -ENOMEM;
        ns->v = a;
        ns->cap = cap;
    }
    memcpy(ns->v[ns->n].id, id, PFS_JOURNAL_ID_LEN);
    ns->v[ns->n++].kind = kind;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct name *)a)->id, ((const struct name *)b)->id);
}

/* The journal's entries, one per id with the kinds of file it has. The
 * directory changes under us (and a scan changes it), so it is read whole
 * first. Returns 0 or -errno (-ENOENT unlogged). */
static int read_names(struct names *ns, const char *dir)
{
    memset(ns, 0, sizeof(*ns));
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        if (rc != -ENOENT)
            PFS_ERROR("journal: cannot read %s: %s", dir, strerror(-rc));
        return rc;
    }
    struct dirent *e;
    int rc = 0;
    const size_t idl = PFS_JOURNAL_ID_LEN - 1;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        const char *suffix = e->d_name + idl;
        if (n <= idl || !valid_id(e->d_name, idl))
            continue;
        char id[PFS_JOURNAL_ID_LEN];
        memcpy(id, e->d_name, idl);
        id[idl] = '\0';
        if (strcmp(suffix, ".rec") == 0)
            rc = names_add(ns, id, KIND_REC);
        else if (strcmp(suffix, ".data") == 0)
            rc = names_add(ns, id, KIND_DATA);
        else if (strcmp(suffix, ".rec.tmp") == 0)
            rc = names_add(ns, id, KIND_TMP);
    }
    if (rc == 0 && errno != 0) {
        rc = -errno;
        PFS_ERROR("journal: cannot read %s: %s", dir, strerror(-rc));
    }
    closedir(d);
    if (rc) {
        free(ns->v);
        return rc;
    }
    if (ns->n)
        qsort(ns->v, ns->n, sizeof(*ns->v), name_cmp);
    size_t out = 0;
    for (size_t i = 0; i < ns->n; i++) {
        if (out && strcmp(ns->v[out - 1].id, ns->v[i].id) == 0)
            ns->v[out - 1].kind |= ns->v[i].kind;
        else
            ns->v[out++] = ns->v[i];
    }
    ns->n = out;
    return 0;
}

/* Opens id's data file and takes an exclusive lock on it. Returns the fd,
 * -ENOENT (no data file), -EWOULDBLOCK (a live process owns it), or another
 * -errno (logged). A file unlinked or replaced while we waited is -ENOENT. */
static int lock_data(const char *path, int lock)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int rc = -errno;
        if (rc != -ENOENT)
            PFS_ERROR("journal: cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (flock(fd, lock | LOCK_NB) != 0) {
        int rc = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
        if (rc != -EWOULDBLOCK)
            PFS_ERROR("journal: cannot lock %s: %s", path, strerror(-rc));
        close(fd);
        return rc;
    }
    /* The owner removes its files before it lets go of the lock: a lock won
     * on a file that is no longer there is a file that was just finished. */
    struct stat a, b;
    if (fstat(fd, &a) != 0 || a.st_nlink == 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev || !S_ISREG(a.st_mode)) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

static void orphan_rec(struct pfs_jrec *r, const char *id, int fd)
{
    struct stat st;
    memset(r, 0, sizeof(*r));
    memcpy(r->id, id, PFS_JOURNAL_ID_LEN);
    r->state = PFS_J_OPEN;
    r->mode = S_IFREG | 0600;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        r->size = (uint64_t)st.st_size;
        r->mtime = st.st_mtim.tv_sec;
        r->mtime_ns = (uint32_t)st.st_mtim.tv_nsec;
        r->created = r->updated = st.st_mtim.tv_sec;
    }
}

/* A leftover temporary record: removed unless its entry is live (a daemon
 * in the middle of pfs_journal_write). */
static void drop_tmp(struct pfs_journal *j, const char *id)
{
    char path[PATH_MAX];
    if (path_of(path, sizeof(path), j->dir, id, ".data"))
        return;
    int fd = lock_data(path, LOCK_EX);
    if (fd == -EWOULDBLOCK)
        return;
    if (fd >= 0)
        close(fd);
    if (path_of(path, sizeof(path), j->dir, id, ".rec.tmp") == 0)
        unlink_quiet(path);
}

static int scan_one(struct pfs_journal *j, const char *id, pfs_journal_fn fn, void *ctx)
{
    char data[PATH_MAX], rec[PATH_MAX];
    if (path_of(data, sizeof(data), j->dir, id, ".data") ||
        path_of(rec, sizeof(rec), j->dir, id, ".rec"))
        return 0;
    int fd = lock_data(data, LOCK_EX);
    if (fd < 0 && fd != -ENOENT)
        return 0; /* live, or unreadable (logged): leave it alone */
    struct pfs_jrec r;
    memset(&r, 0, sizeof(r));
    int rc = read_record(&r, rec);
    if (rc == -EBADMSG) {
        char bad[PATH_MAX];
        PFS_WARN("journal: %s cannot be parsed: moved aside as .rec.bad, its data is "
                 "handled as unnamed",
                 rec);
        if (path_of(bad, sizeof(bad), j->dir, id, ".rec.bad") == 0 && rename(rec, bad) != 0)
            PFS_ERROR("journal: cannot rename %s: %s", rec, strerror(errno));
        rc = -ENOENT;
    }
    if (rc == -ENOENT && fd < 0)
        return 0; /* neither record nor data any more */
    if (rc == -ENOENT) {
        orphan_rec(&r, id, fd);
    } else if (rc) {
        if (fd >= 0)
            close(fd);
        return 0; /* logged; a later scan may read it */
    } else {
        memcpy(r.id, id, PFS_JOURNAL_ID_LEN);
    }
    rc = fn(ctx, &r, fd);
    pfs_jrec_cleanup(&r);
    return rc;
}

int pfs_journal_scan(struct pfs_journal *j, pfs_journal_fn fn, void *ctx)
{
    struct names ns;
    int rc = read_names(&ns, j->dir);
    if (rc) {
        if (rc == -ENOENT)
            PFS_ERROR("journal: cannot read %s: %s", j->dir, strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < ns.n; i++)
        if (ns.v[i].kind & KIND_TMP)
            drop_tmp(j, ns.v[i].id);
    /* Records first, then data files that had none when we looked. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < ns.n && rc == 0; i++) {
            bool rec = ns.v[i].kind & KIND_REC, data = ns.v[i].kind & KIND_DATA;
            if (pass == 0 ? rec : (data && !rec))
                rc = scan_one(j, ns.v[i].id, fn, ctx);
        }
    free(ns.v);
    return rc;
}

/* True when another open file description holds a lock on path. The test
 * lock is taken on a fresh open and dropped at once. */
static bool is_live(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool live = false;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        live = errno == EWOULDBLOCK;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return live;
}

int pfs_journal_list(const char *cache_dir, pfs_journal_list_fn fn, void *ctx)
{
    char dir[PATH_MAX], rec[PATH_MAX], data[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/journal", cache_dir);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return -ENAMETOOLONG;
    struct names ns;
    int rc = read_names(&ns, dir);
    if (rc)
        return rc;
    for (size_t i = 0; i < ns.n && rc == 0; i++) {
        const char *id = ns.v[i].id;
        if (!(ns.v[i].kind & (KIND_REC | KIND_DATA)) ||
            path_of(rec, sizeof(rec), dir, id, ".rec") ||
            path_of(data, sizeof(data), dir, id, ".data"))
            continue;
        struct pfs_jrec r;
        memset(&r, 0, sizeof(r));
        int err = (ns.v[i].kind & KIND_REC) ? read_record(&r, rec) : -ENOENT;
        if (err == -EBADMSG)
            PFS_WARN("journal: %s cannot be parsed", rec);
        if (err == -ENOENT || err == -EBADMSG) {
            /* A data file without a (usable) record. */
            int fd = open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
            if (fd < 0)
                continue;
            orphan_rec(&r, id, fd);
            close(fd);
        } else if (err) {
            continue;
        }
        memcpy(r.id, id, PFS_JOURNAL_ID_LEN);
        rc = fn(ctx, &r, is_live(data));
        pfs_jrec_cleanup(&r);
    }
    free(ns.v);
    return rc;
}

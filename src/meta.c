/* s3fs-compatible attribute metadata (see meta.h). */
#include "meta.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"

static bool parse_u64(uint64_t *out, const char *s, uint64_t max)
{
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return *s == '\0';
}

int pfs_meta_parse_time(int64_t *sec, uint32_t *nsec, const char *s)
{
    char whole[24];
    const char *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    if (n == 0 || n >= sizeof(whole))
        return -EINVAL;
    memcpy(whole, s, n);
    whole[n] = '\0';
    uint64_t v;
    if (!parse_u64(&v, whole, INT64_MAX))
        return -EINVAL;
    uint32_t ns = 0;
    if (dot) {
        const char *f = dot + 1;
        int digits = 0;
        for (; isdigit((unsigned char)*f); f++, digits++)
            if (digits < 9)
                ns = ns * 10 + (uint32_t)(*f - '0');
        if (*f || digits == 0)
            return -EINVAL;
        for (; digits < 9; digits++)
            ns *= 10;
    }
    *sec = (int64_t)v;
    *nsec = ns;
    return 0;
}

/* "0100644": octal with a leading zero, as the TOS spec's example and other
 * tools write the mode (s3fs and we write decimal, "33188"). */
static bool parse_octal(uint64_t *out, const char *s, uint64_t max)
{
    if (s[0] != '0' || s[1] == '\0')
        return false;
    uint64_t v = 0;
    for (s++; *s; s++) {
        if (*s < '0' || *s > '7' || v > (max >> 3))
            return false;
        v = v * 8 + (uint64_t)(*s - '0');
    }
    *out = v;
    return v <= max;
}

static atomic_int suid_logged, type_logged;

static bool known_type(mode_t type)
{
    switch (type) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
    case 0:
        return true;
    default:
        return false;
    }
}

bool pfs_meta_dir_content_type(const char *ctype)
{
    if (!ctype)
        return false;
    size_t n = strcspn(ctype, "; \t");
    return (n == 23 && strncasecmp(ctype, "application/x-directory", n) == 0) ||
           (n == 20 && strncasecmp(ctype, "httpd/unix-directory", n) == 0);
}

void pfs_meta_parse(struct pfs_objmeta *out, const struct pfs_meta_kv *kv, size_t n)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *name = kv[i].name, *value = kv[i].value;
        uint64_t v;
        bool octal;
        /* A leading zero means octal; one that is not octal is malformed. */
        octal = value[0] == '0' && value[1] != '\0';
        if (strcasecmp(name, "mode") == 0 &&
            (octal ? parse_octal(&v, value, 0xffffffffu) : parse_u64(&v, value, 0xffffffffu))) {
            mode_t type = (mode_t)v & S_IFMT;
            out->mode = (mode_t)v;
            out->has_mode = true;
            if (!known_type(type)) {
                /* Its permissions still hold; the type cannot be shown. */
                out->mode = S_IFREG | ((mode_t)v & 07777);
                if (atomic_fetch_add(&type_logged, 1) == 0)
                    PFS_WARN("mode metadata %s names a file type this mount does not know; "
                             "shown as a regular file (logged once)",
                             value);
            }
            out->dir_type = S_ISDIR(out->mode);
            /* The octal form is another tool's (we write decimal): its
             * setuid/setgid bits are not taken over, and the log says so. */
            if (out->has_mode && octal && (out->mode & (S_ISUID | S_ISGID))) {
                out->mode &= (mode_t) ~(S_ISUID | S_ISGID);
                out->mode_suid_dropped = true;
                if (atomic_fetch_add(&suid_logged, 1) < 5)
                    PFS_WARN("mode metadata %s written by another tool asks for setuid/setgid; "
                             "shown without those bits",
                             value);
            }
        } else if (strcasecmp(name, "uid") == 0 && parse_u64(&v, value, 0xfffffffeu)) {
            out->uid = (uid_t)v;
            out->has_uid = true;
        } else if (strcasecmp(name, "gid") == 0 && parse_u64(&v, value, 0xfffffffeu)) {
            out->gid = (gid_t)v;
            out->has_gid = true;
        } else if (strcasecmp(name, "mtime") == 0 &&
                   pfs_meta_parse_time(&out->mtime, &out->mtime_ns, value) == 0) {
            out->has_mtime = true;
        } else if (strcasecmp(name, "ctime") == 0 &&
                   pfs_meta_parse_time(&out->ctime, &out->ctime_ns, value) == 0) {
            out->has_ctime = true;
        } else if (strcasecmp(name, "rdev") == 0 && parse_u64(&v, value, UINT64_MAX)) {
            out->rdev = v;
            out->has_rdev = true;
        }
    }
}

static void put(struct pfs_meta_out *out, size_t *n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(struct pfs_meta_out *out, size_t *n, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->buf[*n], sizeof(out->buf[*n]), fmt, ap);
    va_end(ap);
    out->kv[*n] = (struct pfs_kv){name, out->buf[*n]};
    (*n)++;
}

static void format_time(char *t, size_t size, int64_t sec, uint32_t nsec)
{
    if (nsec)
        snprintf(t, size, "%lld.%09u", (long long)sec, nsec);
    else
        snprintf(t, size, "%lld", (long long)sec);
}

size_t pfs_meta_format(struct pfs_meta_out *out, const struct pfs_objmeta *m)
{
    size_t n = 0;
    char t[40], c[40];
    format_time(t, sizeof(t), m->mtime, m->mtime_ns);
    format_time(c, sizeof(c), m->ctime, m->ctime_ns);
    if (m->has_mode)
        put(out, &n, "mode", "%u", (unsigned)m->mode);
    if (m->has_uid)
        put(out, &n, "uid", "%u", (unsigned)m->uid);
    if (m->has_gid)
        put(out, &n, "gid", "%u", (unsigned)m->gid);
    if (m->has_mtime) {
        put(out, &n, "mtime", "%s", t);
        put(out, &n, "atime", "%s", t);
        put(out, &n, "ctime", "%s", m->has_ctime ? c : t);
    } else if (m->has_ctime) {
        put(out, &n, "ctime", "%s", c);
    }
    if (m->has_rdev)
        put(out, &n, "rdev", "%llu", (unsigned long long)m->rdev);
    return n;
}

size_t pfs_meta_add(struct pfs_meta_out *out, size_t n, const char *name, const char *value)
{
    if (!value || n >= sizeof(out->kv) / sizeof(out->kv[0]))
        return n;
    out->kv[n] = (struct pfs_kv){name, value};
    return n + 1;
}

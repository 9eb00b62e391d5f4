/* Pre-mount checks (see preflight.h). */
#include "preflight.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Each check writes its sentence and returns its code in one expression. */
#define FAIL(rc, ...) (snprintf(why, why_len, __VA_ARGS__), (rc))

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int pfs_preflight_bucket_name(const char *name, enum pfs_dialect dialect,
                              enum pfs_addressing addressing, char *why, size_t why_len)
{
    size_t n = strlen(name);
    /* Legacy S3 names (us-east-1, path-style only) are the widest set any
     * store takes; a name outside it is refused by all of them. */
    bool legacy = dialect == PFS_DIALECT_S3 && addressing == PFS_ADDRESSING_PATH;
    size_t max = legacy ? 255 : 63;
    if (n < 3 || n > max)
        return FAIL(-EINVAL,
                    "bucket name '%.80s%s' is not valid: it must be 3 to %zu characters long", name,
                    n > 80 ? "..." : "", max);
    for (const char *c = name; *c; c++) {
        bool ok = is_lower_alnum(*c) || *c == '-' || (*c == '.' && dialect == PFS_DIALECT_S3);
        if (legacy)
            ok = ok || *c == '.' || *c == '_' || (*c >= 'A' && *c <= 'Z');
        if (!ok)
            return FAIL(-EINVAL, "bucket name '%.80s' is not valid: it may hold only %s", name,
                        legacy                      ? "letters, digits, '.', '_' and '-'"
                        : dialect == PFS_DIALECT_S3 ? "lower-case letters, digits, '.' and '-'"
                                                    : "lower-case letters, digits and '-'");
    }
    if (!legacy && (!is_lower_alnum(name[0]) || !is_lower_alnum(name[n - 1])))
        return FAIL(-EINVAL,
                    "bucket name '%s' is not valid: it must begin and end with a letter or digit",
                    name);
    if (!legacy && strstr(name, ".."))
        return FAIL(-EINVAL, "bucket name '%s' is not valid: it must not hold two dots in a row",
                    name);
    return 0;
}

int pfs_preflight_mountpoint_empty(const char *path, char *why, size_t why_len)
{
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        return FAIL(-e, "mount point %s: %s", path, strerror(e));
    }
    struct dirent *e;
    const char *first = NULL;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            first = e->d_name;
            break;
        }
    }
    int rc = 0;
    if (first)
        rc = FAIL(-EEXIST,
                  "mount point %s is not empty (it holds '%.100s'); its files would be hidden: "
                  "use an empty directory, or -o nonempty",
                  path, first);
    closedir(d);
    return rc;
}

/* mkdir -p: a fresh account has no ~/.cache yet. Returns 0 or -1 (errno). */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int pfs_preflight_cache_dir(const char *path, uint64_t min_free, char *why, size_t why_len)
{
    if (make_dirs(path) != 0) {
        int e = errno;
        return FAIL(-e, "cache_dir %s: cannot create it: %s", path, strerror(e));
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return FAIL(-e, "cache_dir %s: %s", path, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return FAIL(-ENOTDIR, "cache_dir %s is not a directory", path);
    /* A real file, as staging makes them: access(2) says nothing of a
     * read-only file system or of root on a directory it may not write. */
    char probe[4096];
    if ((size_t)snprintf(probe, sizeof(probe), "%s/.presignfs-probe-XXXXXX", path) >= sizeof(probe))
        return FAIL(-ENAMETOOLONG, "cache_dir %s: path too long", path);
    int fd = mkstemp(probe);
    if (fd < 0) {
        int e = errno;
        return FAIL(-e, "cache_dir %s: cannot create a file in it: %s", path, strerror(e));
    }
    unlink(probe);
    char byte = 0;
    ssize_t w = write(fd, &byte, 1);
    int werr = w == 1 ? 0 : errno ? errno : EIO;
    if (werr == 0 && fsync(fd) != 0)
        werr = errno;
    close(fd);
    if (werr)
        return FAIL(-werr, "cache_dir %s: cannot write a file in it: %s", path, strerror(werr));
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < min_free)
            return FAIL(-ENOSPC,
                        "cache_dir %s is full: %llu bytes free, at least %llu needed to stage "
                        "a file",
                        path, (unsigned long long)avail, (unsigned long long)min_free);
    }
    return 0;
}

int pfs_preflight_mount(const struct pfs_config *cfg, const char *bucket, const char *mountpoint,
                        char *why, size_t why_len)
{
    if (!cfg->signer &&
        pfs_preflight_bucket_name(bucket, cfg->dialect, cfg->addressing, why, why_len) != 0)
        return -1;
    if (!cfg->nonempty && pfs_preflight_mountpoint_empty(mountpoint, why, why_len) != 0)
        return -1;
    /* curl would only say "error setting certificate file" at the first
     * request. */
    if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0)
        return FAIL(-1, "ca_file %s: %s", cfg->ca_file, strerror(errno));
    const char *cache_dir = cfg->cache_dir ? cfg->cache_dir : cfg->default_cache_dir;
    if (cache_dir && pfs_preflight_cache_dir(cache_dir, PFS_PREFLIGHT_MIN_FREE, why, why_len) != 0)
        return -1;
    return 0;
}

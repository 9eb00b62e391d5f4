/* The runtime registry (see runtime.h). Entries are tiny files written with
 * a temporary name and a rename, so a reader never sees half of one. The
 * runtime directory is checked before it is trusted: /tmp/presignfs-UID in
 * particular could have been made by someone else. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"

/* a + b + c into out; -ENAMETOOLONG when it does not fit. */
static int join(char *out, size_t len, const char *a, const char *b, const char *c)
{
    int n = snprintf(out, len, "%s%s%s", a, b, c);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pfs_runtime_dir(char *out, size_t len)
{
    const char *env = getenv("PRESIGNFS_RUNTIME_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char uid[32];
    int rc;
    snprintf(uid, sizeof(uid), "%lu", (unsigned long)geteuid());
    if (env && *env)
        rc = join(out, len, env, "", "");
    else if (xdg && *xdg)
        rc = join(out, len, xdg, "/presignfs", "");
    else if (geteuid() == 0)
        rc = join(out, len, "/run/presignfs", "", "");
    else
        rc = join(out, len, "/tmp/presignfs-", uid, "");
    if (rc)
        return rc;
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(out, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (st.st_uid != geteuid() || (st.st_mode & 022))
        return -EPERM;
    return 0;
}

/* realpath(3), or for a path that cannot be resolved itself (ENOTCONN on a
 * dead mount) its resolved parent plus the last component. */
static int resolve(char out[PATH_MAX], const char *path)
{
    char *r = realpath(path, NULL);
    if (r) {
        int rc = join(out, PATH_MAX, r, "", "");
        free(r);
        return rc;
    }
    int saved = errno;
    char copy[PATH_MAX];
    if (join(copy, sizeof(copy), path, "", ""))
        return -ENAMETOOLONG;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return -saved;
    const char *parent = slash ? (slash == copy ? "/" : copy) : ".";
    if (slash && slash != copy)
        *slash = '\0';
    r = realpath(parent, NULL);
    if (!r)
        return -saved;
    int rc = join(out, PATH_MAX, r, strcmp(r, "/") == 0 ? "" : "/", base);
    free(r);
    return rc;
}

/* The entry file for mountpoint: RUNTIME_DIR/<sha256 hex>.mount. */
static int entry_path(char out[PATH_MAX], const char *mountpoint)
{
    char dir[PATH_MAX], resolved[PATH_MAX], hex[2 * PFS_SHA256_LEN + 1];
    uint8_t h[PFS_SHA256_LEN];
    int rc = pfs_runtime_dir(dir, sizeof(dir));
    if (rc || (rc = resolve(resolved, mountpoint)))
        return rc;
    pfs_crypto_sha256(h, resolved, strlen(resolved));
    pfs_crypto_hex(hex, h, sizeof(h));
    char name[sizeof(hex) + 8];
    snprintf(name, sizeof(name), "%s.mount", hex);
    return join(out, PATH_MAX, dir, "/", name);
}

int pfs_runtime_socket_path(const char *mountpoint, char *out, size_t len)
{
    char entry[PATH_MAX];
    int rc = entry_path(entry, mountpoint);
    if (rc)
        return rc;
    /* RUNTIME_DIR/<first 32 hex digits>.sock: a unix socket's path is
     * limited to 107 bytes, and 128 bits of the hash tell mounts apart. */
    char *slash = strrchr(entry, '/');
    slash[1 + 32] = '\0';
    if (strlen(entry) + 6 > len || strlen(entry) + 6 > 108)
        return -ENAMETOOLONG;
    return join(out, len, entry, ".sock", "");
}

int pfs_runtime_register(const char *mountpoint, const char *cache_dir)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = entry_path(path, mountpoint);
    if (rc) {
        PFS_ERROR("runtime registry: cannot record mount point %s: %s", mountpoint, strerror(-rc));
        return rc;
    }
    char *dir = realpath(cache_dir, NULL);
    if (!dir) {
        rc = -errno;
        PFS_ERROR("runtime registry: cache directory %s: %s", cache_dir, strerror(-rc));
        return rc;
    }
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t n = strlen(dir);
        dir[n] = '\n'; /* one line; the reader strips exactly one newline */
        ssize_t w = write(fd, dir, n + 1);
        if (w != (ssize_t)(n + 1))
            rc = w < 0 ? -errno : -EIO;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc)
            unlink(tmp);
    }
    free(dir);
    if (rc)
        PFS_ERROR("runtime registry: cannot write %s: %s", path, strerror(-rc));
    return rc;
}

void pfs_runtime_unregister(const char *mountpoint)
{
    char path[PATH_MAX];
    if (entry_path(path, mountpoint) == 0 && unlink(path) != 0 && errno != ENOENT)
        PFS_WARN("runtime registry: cannot remove %s: %s", path, strerror(errno));
}

int pfs_runtime_lookup(const char *mountpoint, char *cache_dir_out, size_t len)
{
    char path[PATH_MAX], buf[PATH_MAX + 2];
    if (len)
        cache_dir_out[0] = '\0';
    int rc = entry_path(path, mountpoint);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got < sizeof(buf)) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rc)
        return rc;
    if (got && buf[got - 1] == '\n')
        got--;
    /* Anything else is not an entry we wrote. */
    if (got == 0 || got > PATH_MAX - 1 || buf[0] != '/' || memchr(buf, '\0', got))
        return -EINVAL;
    if (got >= len)
        return -ENAMETOOLONG;
    memcpy(cache_dir_out, buf, got);
    cache_dir_out[got] = '\0';
    return 0;
}

/* Helpers shared by the unit tests: a private temp directory and files in it. */
#ifndef PFS_TESTUTIL_H
#define PFS_TESTUTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes text to dir/name with the given mode; returns the path (static buffer
 * rotation: valid for the next 8 calls). */
static inline const char *tu_write(const char *dir, const char *name, const char *text, mode_t mode)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        abort();
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        abort();
    fchmod(fd, mode);
    close(fd);
    return p;
}

static inline char *tu_mkdtemp(void)
{
    char tmpl[] = "/tmp/pfs-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void tu_rmtree(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

#endif

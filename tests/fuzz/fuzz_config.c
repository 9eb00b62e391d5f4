/* The configuration and credentials files: the input is written to an
 * in-memory file (mode 0600) that the first byte decides to read as a
 * configuration file, a credentials file or a -o option string. Every
 * outcome is 0 or one error line naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cred.h"
#include "fuzz.h"

static void check_error(const struct pfs_config_error *e)
{
    if (!memchr(e->msg, '\0', sizeof(e->msg)) || !e->msg[0] || strchr(e->msg, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    fuzz_split(&data, &size, &sel);
    /* Nothing but the input is read: no default configuration file. */
    setenv("PRESIGNFS_CONFIG", "/dev/null", 1);
    struct pfs_config cfg;
    struct pfs_config_error err = {{0}};
    pfs_config_init(&cfg);
    if (sel % 3 == 2) {
        char *opt = fuzz_cstr(data, size);
        const char *opts[] = {opt};
        if (pfs_config_load(&cfg, opts, 1, &err) != 0)
            check_error(&err);
        free(opt);
        pfs_config_cleanup(&cfg);
        return 0;
    }
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0600) != 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (sel % 3 == 0) {
        if (pfs_config_load_file(&cfg, path, false, &err) != 0 ||
            pfs_config_finish(&cfg, &err) != 0)
            check_error(&err);
    } else {
        cfg.credentials = strdup(path);
        struct pfs_cred *c = NULL;
        if (pfs_config_load_credentials(&c, &cfg, &err) != 0)
            check_error(&err);
        pfs_cred_free(c);
    }
    close(fd);
    pfs_config_cleanup(&cfg);
    return 0;
}

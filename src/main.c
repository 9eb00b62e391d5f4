/* presignfs entry point: dispatches to the verbs. The mount verb arrives with
 * the filesystem layer; until then it says so instead of pretending. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef PFS_VERSION
#define PFS_VERSION "0.0.0"
#endif

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "presign") == 0)
        return pfs_cli_presign(argc - 1, argv + 1, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return pfs_cli_check(argc - 1, argv + 1, stdout, stderr);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("presignfs %s\n", PFS_VERSION);
        return PFS_EXIT_OK;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        pfs_cli_usage(stdout);
        return PFS_EXIT_OK;
    }
    if (argc < 2) {
        pfs_cli_usage(stderr);
        return PFS_EXIT_USAGE;
    }
    fprintf(stderr, "presignfs: mounting is not available in this version yet; "
                    "'presignfs presign' prints presigned URLs\n");
    return PFS_EXIT_USAGE;
}

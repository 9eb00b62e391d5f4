/* Command-line verbs that do not need libfuse, kept in the core library so
 * tests can run them in-process. */
#ifndef PFS_CLI_H
#define PFS_CLI_H

#include <stdio.h>

/* Exit statuses shared by every verb. */
#define PFS_EXIT_OK 0
#define PFS_EXIT_FAILURE 1 /* the operation failed (store, network, memory) */
#define PFS_EXIT_USAGE 2   /* bad command line, configuration or credentials */

/* `presignfs presign [...] BUCKET [KEY]`: argv[0] is "presign". Prints the
 * URL on out, errors on err. Returns an exit status. */
int pfs_cli_presign(int argc, char **argv, FILE *out, FILE *err);

/* `presignfs check [-o opt,...] BUCKET`: diagnoses configuration,
 * credentials, endpoint and bucket. */
int pfs_cli_check(int argc, char **argv, FILE *out, FILE *err);

/* Prints the --help text. */
void pfs_cli_usage(FILE *out);

/* Parses YYYYMMDDTHHMMSSZ (UTC). Returns 0 or -EINVAL. */
int pfs_cli_parse_time(long long *out, const char *text);

#endif

/* Command-line verbs that do not need libfuse, kept in the core library so
 * tests can run them in-process. */
#ifndef PFS_CLI_H
#define PFS_CLI_H

#include <stdbool.h>
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

/* `presignfs status CACHE_DIR|MOUNTPOINT [--json]`: argv[0] is "status".
 * Lists what the write-back journal holds (one line per entry, a summary,
 * or one JSON object with --json). A MOUNTPOINT is found through the
 * runtime registry (runtime.h). Returns an exit status: 2 for a bad command
 * line or an argument that is neither, 1 when the journal cannot be read. */
int pfs_cli_status(int argc, char **argv, FILE *out, FILE *err);

/* `presignfs stats [--json] MOUNTPOINT`: argv[0] is "stats". Asks the
 * mount's daemon for its live counters through the control socket
 * (control.h) and prints a table, or the JSON object with --json. Returns 2
 * when MOUNTPOINT is not a presignfs mount, 1 when its daemon does not
 * answer. */
int pfs_cli_stats(int argc, char **argv, FILE *out, FILE *err);

/* `presignfs signer [-o opt,...] --listen ADDR:PORT --clients FILE`: the
 * signing service (doc/SIGNER.md). Runs until SIGTERM or SIGINT; SIGHUP
 * reloads the clients file. Returns an exit status. */
int pfs_cli_signer(int argc, char **argv, FILE *out, FILE *err);

struct pfs_status;

/* The bucket check (HEAD on the bucket) of mount and `check` failed: makes st
 * say what its status usually means. A store whose clock is more than
 * PFS_STATUS_MAX_SKEW away (or that says RequestTimeTooSkewed) is a clock to
 * correct, by how much; a store that names another region than region (the
 * configured one; NULL: unknown) wants that region; a 404 is NoSuchBucket; a
 * 403, which a HEAD answers without a body (only the store's error code
 * header), usually means a wrong access key, secret key or region; mount
 * (suggest_check) then points to `presignfs check`. */
void pfs_cli_explain_bucket_check(struct pfs_status *st, const char *region, bool suggest_check);

/* Prints the --help text. */
void pfs_cli_usage(FILE *out);

/* Parses YYYYMMDDTHHMMSSZ (UTC). Returns 0 or -EINVAL. */
int pfs_cli_parse_time(long long *out, const char *text);

#endif

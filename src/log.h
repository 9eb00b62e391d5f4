/* Logging: one line per event to stderr or a log file, and the redaction of
 * presigned URLs so no signature or session token ever reaches a log. */
#ifndef PFS_LOG_H
#define PFS_LOG_H

#include <stddef.h>

enum pfs_log_level { PFS_LOG_ERROR, PFS_LOG_WARN, PFS_LOG_INFO, PFS_LOG_DEBUG };

void pfs_log_set_level(enum pfs_log_level level);
enum pfs_log_level pfs_log_get_level(void);

/* Parses "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int pfs_log_parse_level(enum pfs_log_level *out, const char *text);

/* Sends log lines to a file (appended, time-stamped). Returns 0 or -errno. */
int pfs_log_open_file(const char *path);
/* Opens the log file's name again (after logrotate moved it away: SIGHUP),
 * so later lines go to a new file of that name. No-op without a log file.
 * Returns 0, or -errno with the old file still in use. */
int pfs_log_reopen(void);
/* Closes the log file; lines go to stderr again. */
void pfs_log_close_file(void);
/* Sends log lines to syslog unless a log file is open (for the daemon). */
void pfs_log_use_syslog(void);

void pfs_log(enum pfs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A "presignfs: stats: ..." line whatever the level (SIGUSR1 asked for it). */
void pfs_log_stats(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define PFS_ERROR(...) pfs_log(PFS_LOG_ERROR, __VA_ARGS__)
#define PFS_WARN(...) pfs_log(PFS_LOG_WARN, __VA_ARGS__)
#define PFS_INFO(...) pfs_log(PFS_LOG_INFO, __VA_ARGS__)
#define PFS_DEBUG(...) pfs_log(PFS_LOG_DEBUG, __VA_ARGS__)

/* Copies url into out (NUL-terminated, truncated to out_len) with the values of
 * X-Amz-Signature, X-Tos-Signature, X-Amz-Security-Token, X-Tos-Security-Token
 * and X-Amz-Credential/X-Tos-Credential's access key replaced by "REDACTED". */
void pfs_log_redact_url(char *out, size_t out_len, const char *url);

#endif

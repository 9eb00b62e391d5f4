/* Logging and URL redaction (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <pthread.h>

static _Atomic int current_level = PFS_LOG_WARN;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file; /* NULL: stderr */
static char *log_path; /* log_file's name, for pfs_log_reopen */
static bool use_syslog;

int pfs_log_open_file(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    FILE *f = fopen(path, "a");
    if (!f) {
        int e = errno;
        free(copy);
        return -e;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&sink_lock);
    if (log_file)
        fclose(log_file);
    free(log_path);
    log_file = f;
    log_path = copy;
    use_syslog = false;
    pthread_mutex_unlock(&sink_lock);
    return 0;
}

int pfs_log_reopen(void)
{
    pthread_mutex_lock(&sink_lock);
    int rc = 0;
    if (log_path) {
        /* Opened under the lock so no line goes to the old file after the
         * new one exists (logrotate's create-then-HUP order). */
        FILE *f = fopen(log_path, "a");
        if (!f) {
            rc = -errno;
        } else {
            setvbuf(f, NULL, _IOLBF, 0);
            fclose(log_file);
            log_file = f;
        }
    }
    pthread_mutex_unlock(&sink_lock);
    return rc;
}

void pfs_log_close_file(void)
{
    pthread_mutex_lock(&sink_lock);
    if (log_file)
        fclose(log_file);
    free(log_path);
    log_file = NULL;
    log_path = NULL;
    pthread_mutex_unlock(&sink_lock);
}

void pfs_log_use_syslog(void)
{
    pthread_mutex_lock(&sink_lock);
    if (!log_file) {
        openlog("presignfs", LOG_PID, LOG_DAEMON);
        use_syslog = true;
    }
    pthread_mutex_unlock(&sink_lock);
}

void pfs_log_set_level(enum pfs_log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum pfs_log_level pfs_log_get_level(void)
{
    return (enum pfs_log_level)atomic_load(&current_level);
}

int pfs_log_parse_level(enum pfs_log_level *out, const char *text)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(text, names[i]) == 0) {
            *out = (enum pfs_log_level)i;
            return 0;
        }
    return -EINVAL;
}

static void vlog(enum pfs_log_level level, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void pfs_log(enum pfs_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&current_level))
        return;
    static const char *const tags[] = {"error", "warning", "info", "debug"};
    va_list ap;
    va_start(ap, fmt);
    vlog(level, tags[level], fmt, ap);
    va_end(ap);
}

void pfs_log_stats(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(PFS_LOG_INFO, "stats", fmt, ap);
    va_end(ap);
}

static void vlog(enum pfs_log_level level, const char *tag, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "presignfs: %s: ", tag);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    pthread_mutex_lock(&sink_lock);
    if (use_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", line + strlen("presignfs: "));
    } else if (log_file) {
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        fprintf(log_file, "%s %s\n", stamp, line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
    pthread_mutex_unlock(&sink_lock);
}

static bool is_secret_param(const char *name, size_t len)
{
    static const char *const secret[] = {"X-Amz-Signature",      "X-Tos-Signature",
                                         "X-Amz-Security-Token", "X-Tos-Security-Token",
                                         "X-Amz-Credential",     "X-Tos-Credential"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (strlen(secret[i]) == len && strncasecmp(name, secret[i], len) == 0)
            return true;
    return false;
}

void pfs_log_redact_url(char *out, size_t out_len, const char *url)
{
    if (out_len == 0)
        return;
    size_t o = 0;
#define EMIT(ptr, n)                                                                               \
    do {                                                                                           \
        size_t len_ = (n);                                                                         \
        if (len_ > out_len - 1 - o)                                                                \
            len_ = out_len - 1 - o;                                                                \
        memcpy(out + o, (ptr), len_);                                                              \
        o += len_;                                                                                 \
    } while (0)
    const char *q = strchr(url, '?');
    if (!q) {
        EMIT(url, strlen(url));
        out[o] = '\0';
        return;
    }
    EMIT(url, (size_t)(q - url) + 1);
    const char *p = q + 1;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t name_len = eq ? (size_t)(eq - p) : seg;
        if (eq && is_secret_param(p, name_len)) {
            EMIT(p, name_len + 1);
            EMIT("REDACTED", 8);
        } else {
            EMIT(p, seg);
        }
        if (!amp)
            break;
        EMIT("&", 1);
        p = amp + 1;
    }
#undef EMIT
    out[o] = '\0';
}

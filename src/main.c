/* presignfs entry point: the verbs, and the mount (the default verb). The only
 * module besides fuse_ops.c that includes libfuse. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "metrics.h"
#include "progress.h"
#include "metrics_http.h"
#include "fuse_ops.h"
#include "log.h"
#include "preflight.h"
#include "runtime.h"
#include "service.h"
#include "stats.h"
#include "urlcache.h"
#include "store.h"

#ifndef PFS_VERSION
#define PFS_VERSION "0.0.0"
#endif

/* FUSE workers: the most that run at once (each blocked transfer holds one)
 * and how many stay when idle. */
#define PFS_FUSE_MAX_THREADS 256
#define PFS_FUSE_IDLE_THREADS 16

/* Is path already a mount point? (Listed in /proc/self/mountinfo.) */
static bool is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        /* field 5 is the mount point, with spaces escaped as \040 */
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 1; tok && i < 5; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        char unescaped[PATH_MAX];
        size_t o = 0;
        for (const char *p = tok; *p && o < sizeof(unescaped) - 1; p++) {
            if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
                unescaped[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                p += 3;
            } else {
                unescaped[o++] = *p;
            }
        }
        unescaped[o] = '\0';
        found = strcmp(unescaped, path) == 0;
    }
    free(line);
    fclose(f);
    return found;
}

struct mount_args {
    const char **opts;
    size_t n_opts;
    bool foreground, debug;
    char *bucket, *prefix;
    const char *mountpoint;
};

static int parse_mount_args(struct mount_args *m, int argc, char **argv)
{
    static const struct option longopts[] = {{"foreground", no_argument, NULL, 'f'},
                                             {"debug", no_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    m->opts = calloc((size_t)argc + 1, sizeof(*m->opts));
    if (!m->opts)
        return PFS_EXIT_FAILURE;
    optind = 0;
    opterr = 0;
    int c;
    /* Options may follow the operands (mount(8) calls "presignfs SRC DIR -o ..."). */
    while ((c = getopt_long(argc, argv, "o:fd", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            m->opts[m->n_opts++] = optarg;
            break;
        case 'f':
            m->foreground = true;
            break;
        case 'd':
            m->debug = m->foreground = true;
            break;
        default:
            fprintf(stderr, "presignfs: unknown or incomplete option '%s' (see --help)\n",
                    argv[optind - 1]);
            return PFS_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "presignfs: expected BUCKET[:PREFIX] MOUNTPOINT (see --help)\n");
        return PFS_EXIT_USAGE;
    }
    const char *source = argv[optind];
    m->mountpoint = argv[optind + 1];
    const char *colon = strchr(source, ':');
    m->bucket = colon ? strndup(source, (size_t)(colon - source)) : strdup(source);
    m->prefix = strdup(colon ? colon + 1 : "");
    if (!m->bucket || !m->prefix)
        return PFS_EXIT_FAILURE;
    if (!*m->bucket || strchr(m->bucket, '/')) {
        fprintf(stderr, "presignfs: '%s' is not a bucket name\n", m->bucket);
        return PFS_EXIT_USAGE;
    }
    return PFS_EXIT_OK;
}

static int check_mountpoint(const char *mp, char resolved[PATH_MAX])
{
    struct stat st;
    if (!realpath(mp, resolved) || stat(resolved, &st) != 0) {
        fprintf(stderr, "presignfs: mount point %s: %s\n", mp, strerror(errno));
        return PFS_EXIT_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "presignfs: mount point %s is not a directory\n", mp);
        return PFS_EXIT_USAGE;
    }
    if (is_mounted(resolved)) {
        fprintf(stderr, "presignfs: %s is already a mount point (unmount it first)\n", resolved);
        return PFS_EXIT_USAGE;
    }
    return PFS_EXIT_OK;
}

/* Before anything is mounted: the bucket must answer, so a wrong endpoint,
 * region, bucket or key fails here with one line instead of an empty mount. */
static int check_bucket(const struct pfs_config *cfg, const char *bucket)
{
    struct pfs_cred *cred = NULL;
    struct pfs_config_error err;
    struct pfs_store *store = NULL;
    /* Keyless (signer = URL): no credentials are read at all. */
    if (!cfg->signer && pfs_config_load_credentials(&cred, cfg, &err) != 0) {
        fprintf(stderr, "presignfs: %s\n", err.msg);
        return PFS_EXIT_USAGE;
    }
    if (pfs_store_open(&store, cfg, cred, bucket, &err) != 0) {
        fprintf(stderr, "presignfs: %s\n", err.msg);
        return PFS_EXIT_FAILURE;
    }
    enum pfs_log_level saved = pfs_log_get_level();
    pfs_log_set_level(PFS_LOG_ERROR); /* the verdict below says it once */
    struct pfs_status st;
    int rc = pfs_client_head_bucket(store->client, &st);
    pfs_log_set_level(saved);
    char endpoint[sizeof(store->endpoint)];
    snprintf(endpoint, sizeof(endpoint), "%s", store->endpoint);
    pfs_store_close(store);
    if (rc != 0) {
        pfs_cli_explain_bucket_check(&st, cfg->region, true);
        char what[600];
        pfs_status_describe(&st, what, sizeof(what));
        fprintf(stderr, "presignfs: cannot mount bucket %s from %s: %s\n", bucket, endpoint, what);
        return PFS_EXIT_FAILURE;
    }
    return PFS_EXIT_OK;
}

/* What the stats line and the stats servers read: set once each exists,
 * before the FUSE loop; cleared (under the lock) before either is freed. */
struct live {
    pthread_mutex_t lock;
    struct pfs_store *store;
    struct pfs_fs *fs;
};

/* Whether the FUSE loop has seen the unmount (it may still wait for its
 * workers), asked from the progress reporter's thread; se is cleared before
 * the session is destroyed. */
struct loop_watch {
    pthread_mutex_t lock;
    struct fuse_session *se; /* protected by lock */
    bool exited;             /* protected by lock */
};

static bool loop_exited(void *arg)
{
    struct loop_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    if (w->se && fuse_session_exited(w->se))
        w->exited = true;
    bool exited = w->exited;
    pthread_mutex_unlock(&w->lock);
    return exited;
}

/* One snapshot for the stats line, the control socket and -o metrics. */
static void collect(void *arg, struct pfs_metrics *out)
{
    struct live *live = arg;
    memset(out, 0, sizeof(*out));
    pfs_stats_snapshot(&out->s);
    pthread_mutex_lock(&live->lock);
    if (live->store)
        pfs_urlcache_stats(live->store->urls, &out->urls);
    if (live->fs) {
        pfs_fs_upload_stats(live->fs, &out->uploads);
        pfs_fs_readahead_usage(live->fs, &out->readahead_bytes, &out->readahead_limit);
        out->have_dcache = pfs_fs_data_cache_stats(live->fs, &out->dcache);
    }
    out->have_fs = live->fs != NULL;
    out->n_progress =
        pfs_progress_snapshot(out->progress, PFS_METRICS_PROGRESS_MAX, &out->upload_remaining);
    pthread_mutex_unlock(&live->lock);
}

/* SIGUSR1: one stats line in the log (from the signal thread). */
static void log_stats(void *arg)
{
    struct pfs_metrics m;
    collect(arg, &m);
    char line[1536];
    pfs_stats_format_line(line, sizeof(line), &m.s);
    const struct pfs_urlcache_stats u = m.urls;
    const struct pfs_upload_stats up = m.uploads;
    pfs_log_stats("%s urlcache hits=%llu misses=%llu refreshes=%llu evictions=%llu uploads "
                  "queued=%llu in_flight=%llu failed=%llu pending=%llu staged_bytes=%llu",
                  line, (unsigned long long)u.hits, (unsigned long long)u.misses,
                  (unsigned long long)u.refreshes, (unsigned long long)u.evictions,
                  (unsigned long long)up.queued, (unsigned long long)up.in_flight,
                  (unsigned long long)up.failed, (unsigned long long)up.pending,
                  (unsigned long long)up.staged_bytes);
}

static int run_mount(int argc, char **argv)
{
    struct mount_args m = {0};
    struct pfs_config cfg;
    pfs_config_init(&cfg);
    int status = parse_mount_args(&m, argc, argv);
    char mountpoint[PATH_MAX];
    struct pfs_config_error err;
    struct fuse_session *se = NULL;
    struct pfs_store *store = NULL;
    struct pfs_fs *fs = NULL;
    struct pfs_progress_reporter *reporter = NULL;
    struct loop_watch watch = {PTHREAD_MUTEX_INITIALIZER, NULL, false};
    struct pfs_cred *cred = NULL;
    struct pfs_service *svc = NULL;
    struct live live = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct pfs_control *control = NULL;
    int control_fd = -1;
    char control_path[PATH_MAX] = "";
    struct pfs_metrics_http *metrics = NULL;
    int metrics_fd = -1;
    bool mounted = false, registered = false;
    if (status != PFS_EXIT_OK)
        goto out;
    if (pfs_config_load(&cfg, m.opts, m.n_opts, &err) != 0) {
        fprintf(stderr, "presignfs: %s\n", err.msg);
        status = PFS_EXIT_USAGE;
        goto out;
    }
    pfs_log_set_level(m.debug ? PFS_LOG_DEBUG : cfg.log_level);
    if (cfg.logfile && pfs_log_open_file(cfg.logfile) != 0) {
        fprintf(stderr, "presignfs: logfile %s: %s\n", cfg.logfile, strerror(errno));
        status = PFS_EXIT_USAGE;
        goto out;
    }
    if ((status = check_mountpoint(m.mountpoint, mountpoint)) != PFS_EXIT_OK)
        goto out;
    /* Local problems first, while the command is still there to say them. */
    if (pfs_preflight_mount(&cfg, m.bucket, mountpoint, err.msg, sizeof(err.msg)) != 0) {
        fprintf(stderr, "presignfs: %s\n", err.msg);
        status = PFS_EXIT_USAGE;
        goto out;
    }
    if ((status = check_bucket(&cfg, m.bucket)) != PFS_EXIT_OK)
        goto out;

    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    char fsname[600];
    snprintf(fsname, sizeof(fsname), "-ofsname=%s%s%s,subtype=presignfs", m.bucket,
             *m.prefix ? ":" : "", m.prefix);
    bool ok = fuse_opt_add_arg(&args, "presignfs") == 0 && fuse_opt_add_arg(&args, fsname) == 0 &&
              fuse_opt_add_arg(&args, "-odefault_permissions") == 0 &&
              (!cfg.allow_other || fuse_opt_add_arg(&args, "-oallow_other") == 0) &&
              (!cfg.read_only || fuse_opt_add_arg(&args, "-oro") == 0) &&
              (!m.debug || fuse_opt_add_arg(&args, "-odebug") == 0);
    struct pfs_fuse_ctx ctx = {
        .attr_timeout = cfg.attr_timeout,
        .entry_timeout = cfg.entry_timeout,
        .negative_timeout = cfg.negative_timeout,
    };
    se = ok ? fuse_session_new(&args, &pfs_fuse_ops, sizeof(pfs_fuse_ops), &ctx) : NULL;
    fuse_opt_free_args(&args);
    if (!se) {
        fprintf(stderr, "presignfs: cannot start a FUSE session\n");
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    ctx.se = se; /* open invalidates the pages of a replaced object */
    /* -o metrics: bound now, so a taken port fails the mount, not later
     * in a daemon nobody watches. */
    if (cfg.metrics) {
        bool loopback = true;
        char why[400];
        metrics_fd = pfs_metrics_http_listen(cfg.metrics, &loopback, why, sizeof(why));
        if (metrics_fd < 0) {
            fprintf(stderr, "presignfs: %s\n", why);
            status = metrics_fd == -EINVAL ? PFS_EXIT_USAGE : PFS_EXIT_FAILURE;
            goto out;
        }
        if (!loopback)
            PFS_WARN("metrics=%s is not a loopback address: anyone who reaches it reads the "
                     "mount's metrics (no authentication)",
                     cfg.metrics);
    }
    /* `presignfs status MOUNTPOINT` finds the journal through this entry.
     * Registered before the mount is live: resolving the mount point later
     * would call into this very daemon. */
    const char *cache_dir = cfg.cache_dir ? cfg.cache_dir : cfg.default_cache_dir;
    registered = pfs_runtime_register(mountpoint, cache_dir) == 0;
    /* The control socket of `presignfs stats`: its path comes from the
     * mount point, resolved now for the same reason. */
    int crc = pfs_runtime_socket_path(mountpoint, control_path, sizeof(control_path));
    if (crc == 0 && (control_fd = pfs_control_listen(control_path)) < 0)
        crc = control_fd;
    if (crc != 0)
        PFS_WARN("no control socket%s%s: %s; presignfs stats cannot read this mount",
                 *control_path ? " " : "", control_path, strerror(-crc));
    if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint) != 0) {
        fprintf(stderr, "presignfs: cannot mount on %s (is /dev/fuse usable?)\n", mountpoint);
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    mounted = true;
    if (!m.foreground)
        pfs_log_use_syslog();
    /* Threads do not survive the fork in fuse_daemonize: build everything
     * that has threads (workers, retries) after it. */
    fuse_daemonize(m.foreground);
    /* Before any thread exists, so that every thread blocks SIGHUP/SIGUSR1. */
    int src = pfs_service_start(&svc, log_stats, &live);
    if (src != 0)
        PFS_WARN("cannot start the signal thread: %s", strerror(-src));
    struct pfs_fs_opts fo = {
        .uid = (uid_t)cfg.uid,
        .gid = (gid_t)cfg.gid,
        .umask = (mode_t)cfg.umask,
        .read_only = cfg.read_only,
        .attr_timeout = cfg.attr_timeout,
        .entry_timeout = cfg.entry_timeout,
        .negative_timeout = cfg.negative_timeout,
        .dir_timeout = cfg.dir_timeout,
        .bucket = m.bucket,
        .cache_dir = cfg.cache_dir ? cfg.cache_dir : cfg.default_cache_dir,
        .cache_size = (uint64_t)cfg.cache_size,
        .data_cache = cfg.data_cache,
        .data_cache_size = (uint64_t)cfg.data_cache_size,
        .memory_limit = (uint64_t)cfg.memory_limit,
        .part_size = (uint64_t)cfg.part_size,
        .multipart_threshold = (uint64_t)cfg.multipart_threshold,
        .retry_interval_s = (unsigned)cfg.upload_retry_interval,
        .upload_async = cfg.upload_async,
        .max_inflight = (unsigned)cfg.max_inflight,
        .head_metadata = cfg.metadata_head,
        .content_type = cfg.content_type,
        .listing_has_meta = cfg.dialect == PFS_DIALECT_TOS,
    };
    int rc;
    if ((!cfg.signer && pfs_config_load_credentials(&cred, &cfg, &err) != 0) ||
        pfs_store_open(&store, &cfg, cred, m.bucket, &err) != 0) {
        cred = NULL;
        PFS_ERROR("%s", err.msg);
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    cred = NULL;
    fo.listing_has_meta = store->dialect == PFS_DIALECT_TOS; /* the signer's, when keyless */
    if ((rc = pfs_fs_new(&fs, store->client, store->pool, m.prefix, &fo)) != 0) {
        PFS_ERROR("cannot start the filesystem: %s", strerror(-rc));
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    ctx.fs = fs;
    pthread_mutex_lock(&live.lock);
    live.store = store;
    live.fs = fs;
    pthread_mutex_unlock(&live.lock);
    if (control_fd >= 0) {
        int fd = control_fd;
        control_fd = -1;
        if ((rc = pfs_control_start(&control, fd, control_path, collect, &live)) != 0)
            PFS_WARN("control socket %s: %s; presignfs stats cannot read this mount", control_path,
                     strerror(-rc));
    }
    if (metrics_fd >= 0) {
        int fd = metrics_fd, port = pfs_metrics_http_port(fd);
        metrics_fd = -1;
        if ((rc = pfs_metrics_http_start(&metrics, fd, collect, &live)) != 0)
            PFS_ERROR("metrics=%s: cannot serve: %s", cfg.metrics, strerror(-rc));
        else
            PFS_INFO("metrics: serving port %d at /metrics", port);
    }
    PFS_INFO("mounted bucket %s%s%s on %s", m.bucket, *m.prefix ? ":" : "", m.prefix, mountpoint);
    /* Every blocking transfer (an upload at close, a first write's download, a
     * rename's copies) holds the FUSE worker that asked for it; libfuse's
     * default of 10 workers then lets ten slow closes freeze statfs and every
     * cached lookup. Workers are started only when all others are busy and
     * trimmed back to the idle count, so a high cap costs nothing at rest. */
    struct fuse_loop_config *loop = fuse_loop_cfg_create();
    if (!loop) {
        PFS_ERROR("cannot start the filesystem: %s", strerror(ENOMEM));
        status = PFS_EXIT_FAILURE;
        goto out;
    }
    fuse_loop_cfg_set_clone_fd(loop, 0);
    fuse_loop_cfg_set_idle_threads(loop, PFS_FUSE_IDLE_THREADS);
    fuse_loop_cfg_set_max_threads(loop, PFS_FUSE_MAX_THREADS);
    pfs_service_notify_ready(svc, mountpoint);
    if (svc)
        pfs_service_allow_exit_signals();
    /* In the foreground, an unmount that waits more than a second (for a
     * release still uploading, then for pending uploads) says what for. */
    watch.se = se;
    if (m.foreground &&
        pfs_progress_reporter_start(&reporter, stderr, 1000, loop_exited, &watch) != 0)
        reporter = NULL;
    rc = fuse_session_loop_mt(se, loop);
    fuse_loop_cfg_destroy(loop);
    /* libfuse returns the signal that ended the loop: SIGTERM (systemctl
     * stop) and SIGINT are an orderly stop, not a failure to restart on. */
    status = rc == 0 || rc == SIGTERM || rc == SIGINT ? PFS_EXIT_OK : PFS_EXIT_FAILURE;
    pfs_service_notify_stopping(svc);
out:
    if (mounted) {
        fuse_remove_signal_handlers(se);
        fuse_session_unmount(se);
    }
    pthread_mutex_lock(&watch.lock);
    watch.se = NULL;
    watch.exited = true; /* the loop is over */
    pthread_mutex_unlock(&watch.lock);
    if (se)
        fuse_session_destroy(se);
    /* The store outlives every reader of live (closed after the control
     * socket and the signal thread are gone); the filesystem does not. */
    pthread_mutex_lock(&live.lock);
    live.fs = NULL;
    pthread_mutex_unlock(&live.lock);
    /* After the unmount: pending uploads get their last attempt here. */
    pfs_fs_free(fs);
    pfs_progress_reporter_stop(reporter);
    /* Answered until here (without the write path's gauges while the last
     * uploads run): the request counters show an unmount's progress. */
    pfs_control_free(control);
    pfs_metrics_http_free(metrics);
    if (metrics_fd >= 0)
        close(metrics_fd);
    if (control_fd >= 0) {
        close(control_fd);
        unlink(control_path);
    }
    pfs_service_free(svc);
    if (registered)
        pfs_runtime_unregister(mountpoint);
    pfs_store_close(store);
    pfs_cred_free(cred);
    pfs_config_cleanup(&cfg);
    free(m.opts);
    free(m.bucket);
    free(m.prefix);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "presign") == 0)
        return pfs_cli_presign(argc - 1, argv + 1, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return pfs_cli_check(argc - 1, argv + 1, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "signer") == 0)
        return pfs_cli_signer(argc - 1, argv + 1, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "stats") == 0)
        return pfs_cli_stats(argc - 1, argv + 1, stdout, stderr);
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return pfs_cli_status(argc - 1, argv + 1, stdout, stderr);
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
    return run_mount(argc, argv);
}

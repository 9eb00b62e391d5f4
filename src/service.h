/* The daemon as a service: systemd's readiness protocol (sd_notify) and the
 * signals that do not end the mount. The only module that includes
 * libsystemd. SIGTERM, SIGINT and SIGHUP's old meaning stay libfuse's
 * (fuse_set_signal_handlers ends the session loop); this module takes SIGHUP
 * and SIGUSR1 away from it. */
#ifndef PFS_SERVICE_H
#define PFS_SERVICE_H

struct pfs_service;

/* Blocks SIGHUP, SIGUSR1, SIGTERM and SIGINT in the calling thread and starts
 * one thread that waits for the first two: SIGHUP reopens the log file
 * (pfs_log_reopen, for logrotate), SIGUSR1 calls on_usr1(ctx) (NULL:
 * nothing). Threads created afterwards inherit the mask, so call it before
 * any other thread exists. Returns 0 or -errno; *out is freed with
 * pfs_service_free. */
int pfs_service_start(struct pfs_service **out, void (*on_usr1)(void *ctx), void *ctx);

/* Unblocks SIGTERM and SIGINT in the calling thread: call it right before
 * the FUSE loop, so that only the loop's own threads (which libfuse's
 * handler wakes, ending the loop) take them, never a worker or upload thread
 * blocked in a transfer, where the signal would end nothing. */
void pfs_service_allow_exit_signals(void);

/* When $NOTIFY_SOCKET is set (systemd Type=notify): tells systemd READY=1
 * once a stat(2) of mountpoint has been answered by the mount, from a thread
 * of its own, since the FUSE loop that answers runs after this call. Without
 * $NOTIFY_SOCKET: nothing. mountpoint is copied. */
void pfs_service_notify_ready(struct pfs_service *s, const char *mountpoint);

/* Tells systemd STOPPING=1 with a status line (the daemon now uploads what
 * is pending, then exits). Without $NOTIFY_SOCKET: nothing. */
void pfs_service_notify_stopping(struct pfs_service *s);

/* Stops the signal thread and waits for the readiness thread (call it after
 * the unmount, which ends a stat still waiting). NULL-safe. */
void pfs_service_free(struct pfs_service *s);

#endif

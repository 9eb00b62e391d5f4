/* Service glue (see service.h): readiness for systemd and a signal thread,
 * so that no signal handler ever runs inside a worker or FUSE thread. */
#include "service.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "log.h"

struct pfs_service {
    pthread_t signal_thread;
    sigset_t set;
    void (*on_usr1)(void *ctx);
    void *ctx;
    pthread_t ready_thread;
    bool ready_started;
    char mountpoint[PATH_MAX];
};

static void *signal_main(void *arg)
{
    struct pfs_service *s = arg;
    for (;;) {
        int sig;
        if (sigwait(&s->set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            int rc = pfs_log_reopen();
            if (rc != 0)
                PFS_WARN("SIGHUP: cannot reopen the log file: %s", strerror(-rc));
            else
                PFS_INFO("SIGHUP: log file reopened");
        } else if (sig == SIGUSR1 && s->on_usr1) {
            s->on_usr1(s->ctx);
        }
    }
    return NULL;
}

int pfs_service_start(struct pfs_service **out, void (*on_usr1)(void *ctx), void *ctx)
{
    struct pfs_service *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->on_usr1 = on_usr1;
    s->ctx = ctx;
    sigemptyset(&s->set);
    sigaddset(&s->set, SIGHUP);
    sigaddset(&s->set, SIGUSR1);
    sigset_t block = s->set;
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    int rc = pthread_sigmask(SIG_BLOCK, &block, NULL);
    if (rc == 0)
        rc = pthread_create(&s->signal_thread, NULL, signal_main, s);
    if (rc != 0) {
        pthread_sigmask(SIG_UNBLOCK, &block, NULL);
        free(s);
        return -rc;
    }
    *out = s;
    return 0;
}

void pfs_service_allow_exit_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void *ready_main(void *arg)
{
    struct pfs_service *s = arg;
    struct stat st;
    /* Answered by the mount's root getattr: the FUSE loop is serving. */
    if (stat(s->mountpoint, &st) != 0) {
        PFS_WARN("mount %s does not answer (%s): not telling systemd it is ready", s->mountpoint,
                 strerror(errno));
        return NULL;
    }
    sd_notifyf(0, "READY=1\nSTATUS=serving %s", s->mountpoint);
    return NULL;
}

void pfs_service_notify_ready(struct pfs_service *s, const char *mountpoint)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!s || !sock || !*sock || s->ready_started)
        return;
    snprintf(s->mountpoint, sizeof(s->mountpoint), "%s", mountpoint);
    s->ready_started = pthread_create(&s->ready_thread, NULL, ready_main, s) == 0;
}

void pfs_service_notify_stopping(struct pfs_service *s)
{
    (void)s;
    const char *sock = getenv("NOTIFY_SOCKET");
    if (sock && *sock)
        sd_notify(0, "STOPPING=1\nSTATUS=unmounted; uploading what is pending");
}

void pfs_service_free(struct pfs_service *s)
{
    if (!s)
        return;
    if (s->ready_started)
        pthread_join(s->ready_thread, NULL);
    pthread_cancel(s->signal_thread); /* sigwait is a cancellation point */
    pthread_join(s->signal_thread, NULL);
    free(s);
}

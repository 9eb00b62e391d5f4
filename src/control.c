/* The control socket (see control.h). One thread polls the listening socket
 * and a pipe that says stop; each answer is small (a few KiB) and written
 * with a send timeout, so a client that never reads cannot hold the thread. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CONTROL_MAX_ANSWER (1 << 20)
#define CONTROL_SEND_TIMEOUT_MS 2000

struct pfs_control {
    int fd;
    int stop[2];
    char *path;
    pfs_metrics_collect_fn collect;
    void *ctx;
    pthread_t thread;
};

static int fill_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return -ENAMETOOLONG;
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

int pfs_control_listen(const char *path)
{
    struct sockaddr_un a;
    int rc = fill_addr(&a, path);
    if (rc)
        return rc;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        unlink(path); /* a daemon killed with -9 left it */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* The directory is 0700 (pfs_runtime_dir), so nobody else can connect
     * in the moment before the chmod. */
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 16) != 0) {
        rc = -errno;
        close(fd);
        unlink(path);
        return rc;
    }
    return fd;
}

static bool peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    return cred.uid == geteuid() || cred.uid == 0;
}

static void answer(struct pfs_control *c, int fd)
{
    struct pfs_metrics m;
    memset(&m, 0, sizeof(m));
    c->collect(c->ctx, &m);
    json_t *j = pfs_metrics_json(&m);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return;
    struct timeval tv = {.tv_sec = CONTROL_SEND_TIMEOUT_MS / 1000,
                         .tv_usec = (CONTROL_SEND_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t w = send(fd, text + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (done == n)
        (void)send(fd, "\n", 1, MSG_NOSIGNAL);
    free(text);
}

static void *serve(void *arg)
{
    struct pfs_control *c = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                              {.fd = c->stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            PFS_WARN("control socket %s: poll: %s; presignfs stats stops answering", c->path,
                     strerror(errno));
            return NULL;
        }
        if (p[1].revents)
            return NULL;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* the client gave up already, or EMFILE: the next poll retries */
        if (peer_allowed(fd))
            answer(c, fd);
        close(fd);
    }
}

int pfs_control_start(struct pfs_control **out, int fd, const char *path,
                      pfs_metrics_collect_fn collect, void *ctx)
{
    struct pfs_control *c = calloc(1, sizeof(*c));
    int rc = c ? 0 : -ENOMEM;
    if (c) {
        c->fd = fd;
        c->collect = collect;
        c->ctx = ctx;
        c->stop[0] = c->stop[1] = -1;
        c->path = strdup(path);
        if (!c->path)
            rc = -ENOMEM;
        else if (pipe2(c->stop, O_CLOEXEC) != 0)
            rc = -errno;
        else if ((rc = -pthread_create(&c->thread, NULL, serve, c)) == 0) {
            *out = c;
            return 0;
        }
    }
    close(fd);
    unlink(path);
    if (c) {
        if (c->stop[0] >= 0) {
            close(c->stop[0]);
            close(c->stop[1]);
        }
        free(c->path);
        free(c);
    }
    return rc;
}

void pfs_control_free(struct pfs_control *c)
{
    if (!c)
        return;
    if (write(c->stop[1], "x", 1) < 0)
        PFS_WARN("control socket: cannot stop its thread: %s", strerror(errno));
    pthread_join(c->thread, NULL);
    close(c->stop[0]);
    close(c->stop[1]);
    close(c->fd);
    unlink(c->path);
    free(c->path);
    free(c);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pfs_control_fetch(const char *path, struct pfs_buf *out, int timeout_ms)
{
    struct sockaddr_un a;
    int rc = fill_addr(&a, path);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* A unix connect does not block for long (the backlog full: EAGAIN). */
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
        close(fd);
        return rc;
    }
    long long deadline = now_ms() + timeout_ms;
    char chunk[4096];
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            rc = -errno;
            break;
        }
        if (pr == 0)
            continue; /* the deadline check ends it */
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > CONTROL_MAX_ANSWER) {
            rc = -EMSGSIZE;
            break;
        }
        pfs_buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    if (rc == 0 && pfs_buf_status(out) != 0)
        rc = -ENOMEM;
    return rc;
}

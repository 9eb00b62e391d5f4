/* The libcurl transport's time bounds against a local server that stalls or
 * trickles: a request without object data is cut by request_timeout, an
 * object transfer only by the speed floor, and a slow but moving body is
 * never cut. The server is a thread on a free port of 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

enum behaviour { STALL, TRICKLE };

struct server {
    int lfd;
    int port;
    enum behaviour how;
    pthread_t thread;
};

/* Reads the request head, then stalls (reads until the client hangs up) or
 * sends TRICKLE_CHUNKS chunks of TRICKLE_BYTES, one every TRICKLE_MS. */
#define TRICKLE_CHUNKS 6
#define TRICKLE_BYTES 2048
#define TRICKLE_MS 200

static void *serve(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[4096];
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    if (s->how == TRICKLE) {
        char head[128];
        int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                          TRICKLE_CHUNKS * TRICKLE_BYTES);
        if (write(fd, head, (size_t)hl) != hl)
            goto out;
        char chunk[TRICKLE_BYTES];
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < TRICKLE_CHUNKS; i++) {
            struct timespec ts = {0, TRICKLE_MS * 1000000L};
            nanosleep(&ts, NULL);
            if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
                goto out;
        }
    }
    while (read(fd, buf, sizeof(buf)) > 0) /* until the client gives up */
        ;
out:
    close(fd);
    return NULL;
}

static void server_start(struct server *s, enum behaviour how)
{
    s->how = how;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 4), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request; returns perform's result and its duration in *secs. */
static int perform(const struct pfs_http_curl_opts *opts, enum behaviour how, const char *method,
                   struct pfs_http_sink sink, double *secs)
{
    struct server s;
    server_start(&s, how);
    struct pfs_http *h = NULL;
    assert_int_equal(pfs_http_curl_new(&h, opts), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/b/k", s.port);
    struct pfs_http_request req = {.method = method, .url = url, .sink = sink};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    double t0 = now_s();
    int rc = pfs_http_perform(h, &req, &resp);
    *secs = now_s() - t0;
    pfs_http_response_cleanup(&resp);
    pfs_http_free(h);
    server_stop(&s);
    return rc;
}

/* A HEAD that gets no answer is abandoned after request_timeout, long
 * before the 30 s speed floor. */
static void test_bodyless_request_timeout(void **state)
{
    (void)state;
    struct pfs_http_curl_opts o = {.request_timeout_ms = 300, .low_speed_time_s = 30};
    double secs;
    assert_int_equal(
        perform(&o, STALL, "HEAD", (struct pfs_http_sink){.kind = PFS_SINK_NONE}, &secs),
        -ETIMEDOUT);
    assert_true(secs < 10);
}

/* A ranged GET is object data: request_timeout does not apply, the speed
 * floor (1 s here) ends the stall. */
static void test_object_get_only_speed_floor(void **state)
{
    (void)state;
    char mem[TRICKLE_CHUNKS * TRICKLE_BYTES];
    struct pfs_http_curl_opts o = {.request_timeout_ms = 300, .low_speed_time_s = 1};
    double secs;
    struct pfs_http_sink sink = {.kind = PFS_SINK_MEMORY, .mem = mem, .mem_len = sizeof(mem)};
    assert_int_equal(perform(&o, STALL, "GET", sink, &secs), -ETIMEDOUT);
    assert_true(secs >= 0.9);
    assert_true(secs < 20);
}

/* An upload whose answer never comes: the burst of its body keeps curl's
 * averaged speed above the floor for seconds, the answer-wait bound ends it
 * within about low_speed_time after the last byte. */
static void test_upload_without_answer(void **state)
{
    (void)state;
    char path[] = "/tmp/pfs-test-http-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char block[65536];
    memset(block, 'b', sizeof(block));
    assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    struct pfs_http_body body = {.fd = fd, .offset = 0, .len = sizeof(block)};
    struct server s;
    server_start(&s, STALL);
    struct pfs_http_curl_opts o = {.low_speed_time_s = 1, .low_speed_limit = 1024};
    struct pfs_http *h = NULL;
    assert_int_equal(pfs_http_curl_new(&h, &o), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/b/k", s.port);
    struct pfs_http_request req = {.method = "PUT", .url = url, .body = &body};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    double t0 = now_s();
    assert_int_equal(pfs_http_perform(h, &req, &resp), -ETIMEDOUT);
    double secs = now_s() - t0;
    assert_true(secs >= 0.9);
    assert_true(secs < 4.5);
    assert_non_null(strstr(resp.transport_message, "no answer"));
    pfs_http_response_cleanup(&resp);
    pfs_http_free(h);
    server_stop(&s);
    close(fd);
}

/* A body that keeps moving above low_speed_limit runs past request_timeout
 * and completes. */
static void test_slow_moving_body_completes(void **state)
{
    (void)state;
    char mem[TRICKLE_CHUNKS * TRICKLE_BYTES];
    struct pfs_http_curl_opts o = {
        .request_timeout_ms = 300, .low_speed_time_s = 2, .low_speed_limit = 1024};
    double secs;
    struct pfs_http_sink sink = {.kind = PFS_SINK_MEMORY, .mem = mem, .mem_len = sizeof(mem)};
    assert_int_equal(perform(&o, TRICKLE, "GET", sink, &secs), 0);
    assert_true(secs >= TRICKLE_CHUNKS * TRICKLE_MS / 1000.0 * 0.9);
    assert_int_equal(mem[sizeof(mem) - 1], 'x');
}

struct watched {
    long status_seen;
    bool had_length;
    int grew_calls;
    size_t last_valid;
    bool shrank;
};

/* Takes all but the last piece of the body as final. */
#define WATCH_FINAL ((TRICKLE_CHUNKS - 1) * TRICKLE_BYTES)

static uint64_t watch_accept(void *ctx, const struct pfs_http_response *resp)
{
    struct watched *w = ctx;
    w->status_seen = resp->status;
    w->had_length = pfs_http_response_header(resp, "content-length") != NULL;
    return WATCH_FINAL;
}

static void watch_grew(void *ctx, size_t valid)
{
    struct watched *w = ctx;
    w->shrank |= valid <= w->last_valid;
    w->last_valid = valid;
    w->grew_calls++;
}

/* A memory sink's watch is asked once the headers are in (it sees the status
 * and headers), then hears of the bytes as they land: the trickled body in
 * several steps, never backwards, up to what accept took as final (all but
 * the last piece here); the sink still holds the whole body. */
static void test_watch_hears_the_body_as_it_arrives(void **state)
{
    (void)state;
    char mem[TRICKLE_CHUNKS * TRICKLE_BYTES];
    struct watched w = {0};
    struct pfs_http_watch watch = {.accept = watch_accept, .grew = watch_grew, .ctx = &w};
    struct pfs_http_curl_opts o = {.low_speed_time_s = 5, .low_speed_limit = 1};
    double secs;
    struct pfs_http_sink sink = {
        .kind = PFS_SINK_MEMORY, .mem = mem, .mem_len = sizeof(mem), .watch = &watch};
    assert_int_equal(perform(&o, TRICKLE, "GET", sink, &secs), 0);
    assert_int_equal(w.status_seen, 200);
    assert_true(w.had_length);
    assert_true(w.grew_calls >= 2); /* 6 pieces 200 ms apart */
    assert_false(w.shrank);
    assert_int_equal(w.last_valid, WATCH_FINAL);
    assert_int_equal(watch.valid, WATCH_FINAL);
    assert_int_equal(mem[sizeof(mem) - 1], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodyless_request_timeout),
        cmocka_unit_test(test_object_get_only_speed_floor),
        cmocka_unit_test(test_upload_without_answer),
        cmocka_unit_test(test_slow_moving_body_completes),
        cmocka_unit_test(test_watch_hears_the_body_as_it_arrives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Benchmark (not a test): requests per second of the client against the test
 * server, and TCP connections opened per 1000 requests. Run it through
 * tests/server/with-server.sh --bucket bench -- bench_client [N].
 * Prints sequential 4 KiB PUT and GET rates, then N GETs through the worker
 * pool at 1, 4 and 16 in flight (the measurement behind the pool design). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct get_job {
    struct pfs_client *c;
    char key[32];
    _Atomic int *failures;
};

static void get_task(void *arg)
{
    struct get_job *j = arg;
    char buf[4096];
    size_t got;
    struct pfs_status st;
    if (pfs_client_get_range(j->c, buf, sizeof(buf), 0, &got, j->key, &st) != 0 || got != 4096)
        atomic_fetch_add(j->failures, 1);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const char *endpoint = getenv("PFS_TEST_ENDPOINT");
    if (!endpoint || n <= 0) {
        fprintf(stderr, "usage: with-server.sh --bucket bench -- bench_client [N]\n");
        return 2;
    }
    struct pfs_endpoint ep;
    const char *why;
    struct pfs_http *http;
    struct pfs_cred *cred;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_pool *pool;
    struct pfs_client *c;
    if (pfs_endpoint_parse(&ep, endpoint, &why) || pfs_http_curl_new(&http, NULL) ||
        pfs_cred_new(&cred, "S3RVER", "S3RVER", NULL))
        return 1;
    struct pfs_sign_params params = {.dialect = PFS_DIALECT_S3,
                                     .endpoint = &ep,
                                     .region = "us-east-1",
                                     .addressing = PFS_ADDRESSING_PATH};
    if (pfs_url_source_local_new(&src, &params, cred, 3600) ||
        pfs_urlcache_new(&urls, src, &pfs_clock_realtime, 0, 360) || pfs_pool_new(&pool, 16) ||
        pfs_client_new(&c, http, urls, pool, PFS_DIALECT_S3, "bench", NULL))
        return 1;

    char data[4096];
    memset(data, 'x', sizeof(data));
    struct pfs_http_body body = {.data = data, .fd = -1, .len = sizeof(data)};
    struct pfs_status st;
    char key[32];
    int keys = n < 200 ? n : 200;
    long conn0 = pfs_client_connections(c);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "obj%04d", i % keys);
        if (pfs_client_put(c, key, &body, NULL, 0, NULL, &st)) {
            fprintf(stderr, "PUT failed\n");
            return 1;
        }
    }
    double put_rate = n / (now_s() - t0);
    t0 = now_s();
    char buf[4096];
    for (int i = 0; i < n; i++) {
        size_t got;
        snprintf(key, sizeof(key), "obj%04d", i % keys);
        if (pfs_client_get_range(c, buf, sizeof(buf), 0, &got, key, &st) || got != 4096) {
            fprintf(stderr, "GET failed\n");
            return 1;
        }
    }
    double get_rate = n / (now_s() - t0);
    long conns = pfs_client_connections(c) - conn0;
    printf("sequential 4 KiB PUT: %8.0f req/s\n", put_rate);
    printf("sequential 4 KiB GET: %8.0f req/s\n", get_rate);
    printf("TCP connections opened: %ld for %d requests (%.2f per 1000)\n", conns, 2 * n,
           1000.0 * (double)conns / (2.0 * n));

    struct get_job *jobs = calloc((size_t)n, sizeof(*jobs));
    _Atomic int failures = 0;
    int inflight[] = {1, 4, 16};
    for (size_t k = 0; k < 3; k++) {
        struct pfs_pool *p;
        if (pfs_pool_new(&p, (size_t)inflight[k]))
            return 1;
        struct pfs_task_group g;
        pfs_task_group_init(&g);
        t0 = now_s();
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct get_job){.c = c, .failures = &failures};
            snprintf(jobs[i].key, sizeof(jobs[i].key), "obj%04d", i % keys);
            pfs_pool_submit(p, &g, get_task, &jobs[i]);
        }
        pfs_task_group_wait(&g);
        double rate = n / (now_s() - t0);
        pfs_task_group_cleanup(&g);
        pfs_pool_free(p);
        printf("pool, %2d in flight: 4 KiB GET %8.0f req/s\n", inflight[k], rate);
    }
    printf("failures: %d; TCP connections in all: %ld\n", atomic_load(&failures),
           pfs_client_connections(c) - conn0);
    free(jobs);
    pfs_client_free(c);
    pfs_pool_free(pool);
    pfs_urlcache_free(urls);
    pfs_url_source_free(src);
    pfs_http_free(http);
    return atomic_load(&failures) ? 1 : 0;
}

/* Benchmark (not a test): nanoseconds per signature and per URL-cache hit.
 * Usage: bench_sign [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cred.h"
#include "sign.h"
#include "urlcache.h"
#include "urlsource.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    if (iters <= 0) {
        fprintf(stderr, "usage: bench_sign [iterations > 0]\n");
        return 2;
    }
    struct pfs_endpoint ep;
    const char *why;
    if (pfs_endpoint_parse(&ep, "https://tos-cn-beijing.volces.com", &why) != 0)
        return 1;
    for (int d = 0; d < 2; d++) {
        struct pfs_sign_params params = {.dialect = d ? PFS_DIALECT_S3 : PFS_DIALECT_TOS,
                                         .endpoint = &ep,
                                         .region = "cn-beijing",
                                         .addressing = PFS_ADDRESSING_VIRTUAL,
                                         .access_key = "AKIDEXAMPLE",
                                         .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
        const char *key = "photos/2024/january/some file name.jpg";
        struct pfs_sign_request req = {
            .method = "GET", .bucket = "examplebucket", .key = key, .key_len = strlen(key)};
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            char *url;
            if (pfs_sign_presign(&url, &params, &req, 1700000000 + i, 3600, &why) != 0)
                return 1;
            free(url);
        }
        double sign_ns = (now_ns() - t0) / (double)iters;

        struct pfs_cred *cred;
        struct pfs_url_source *src;
        struct pfs_urlcache *cache;
        if (pfs_cred_new(&cred, params.access_key, params.secret_key, NULL) != 0 ||
            pfs_url_source_local_new(&src, &params, cred, 3600) != 0 ||
            pfs_urlcache_new(&cache, src, &pfs_clock_realtime, 4096, 360) != 0)
            return 1;
        char *url;
        if (pfs_urlcache_get(cache, &url, &req) != 0)
            return 1;
        free(url);
        t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (pfs_urlcache_get(cache, &url, &req) != 0)
                return 1;
            free(url);
        }
        double hit_ns = (now_ns() - t0) / (double)iters;
        struct pfs_urlcache_stats st;
        pfs_urlcache_stats(cache, &st);
        printf("%-3s sign: %8.0f ns/signature   cache hit: %6.0f ns/hit   (hits %llu, misses "
               "%llu, %ld iterations)\n",
               pfs_dialect_name(params.dialect), sign_ns, hit_ns, (unsigned long long)st.hits,
               (unsigned long long)st.misses, iters);
        pfs_urlcache_free(cache);
        pfs_url_source_free(src);
    }
    return 0;
}

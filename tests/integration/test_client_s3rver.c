/* The client and libcurl against @20minutes/s3rver on 127.0.0.1 (started by
 * tests/server/with-server.sh, path-style, S3 dialect): round trips of every
 * vector key, ranges, a 2,500-key listing, a 64 MiB multipart upload, copy,
 * bulk delete, re-signing of an expired URL, a wrong secret, connection reuse
 * and retries of injected failures. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "crypto.h"
#include "uri.h"

#define BUCKET "itest"

struct env {
    struct pfs_endpoint ep;
    struct pfs_http *http;
    struct pfs_pool *pool;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *client;
    const char *control;
};

static struct env E;

static void no_sleep(void *ctx, unsigned ms)
{
    (void)ctx;
    usleep(ms * 100); /* a tenth of the back-off: fast, still exercises the path */
}

/* A client with its own source (secret, URL lifetime) over the shared transport. */
static struct pfs_client *make_client(const char *secret, int64_t expires, int64_t margin,
                                      struct pfs_url_source **src_out,
                                      struct pfs_urlcache **urls_out)
{
    struct pfs_sign_params params = {.dialect = PFS_DIALECT_S3,
                                     .endpoint = &E.ep,
                                     .region = "us-east-1",
                                     .addressing = PFS_ADDRESSING_PATH};
    struct pfs_cred *cred;
    assert_int_equal(pfs_cred_new(&cred, "S3RVER", secret, NULL), 0);
    assert_int_equal(pfs_url_source_local_new(src_out, &params, cred, expires), 0);
    assert_int_equal(pfs_urlcache_new(urls_out, *src_out, &pfs_clock_realtime, 0, margin), 0);
    struct pfs_client_opts opts = {.retries = 5, .sleep_ms = no_sleep};
    struct pfs_client *c;
    assert_int_equal(pfs_client_new(&c, E.http, *urls_out, E.pool, PFS_DIALECT_S3, BUCKET, &opts),
                     0);
    return c;
}

static int setup(void **state)
{
    (void)state;
    const char *endpoint = getenv("PFS_TEST_ENDPOINT");
    E.control = getenv("PFS_TEST_CONTROL");
    if (!endpoint || !E.control) {
        fprintf(stderr, "run me through tests/server/with-server.sh\n");
        return -1;
    }
    const char *why;
    if (pfs_endpoint_parse(&E.ep, endpoint, &why) != 0)
        return -1;
    if (pfs_http_curl_new(&E.http, NULL) != 0 || pfs_pool_new(&E.pool, 16) != 0)
        return -1;
    E.client = make_client("S3RVER", 3600, 360, &E.src, &E.urls);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pfs_client_free(E.client);
    pfs_urlcache_free(E.urls);
    pfs_url_source_free(E.src);
    pfs_pool_free(E.pool);
    pfs_http_free(E.http);
    return 0;
}

/* POSTs to the test server's control port (counter reset, fault injection). */
static void control(const char *path)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", E.control, path);
    struct pfs_http_request req = {.method = "POST", .url = url};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    assert_int_equal(pfs_http_perform(E.http, &req, &resp), 0);
    assert_int_equal(resp.status, 200);
    pfs_http_response_cleanup(&resp);
}

/* The count of one request class since the last reset. */
static long count_of(const char *cls)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/counts", E.control);
    struct pfs_buf body;
    pfs_buf_init(&body);
    struct pfs_http_request req = {
        .method = "GET", .url = url, .sink = {.kind = PFS_SINK_BUFFER, .buf = &body, .max = 4096}};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    assert_int_equal(pfs_http_perform(E.http, &req, &resp), 0);
    pfs_http_response_cleanup(&resp);
    char needle[64];
    snprintf(needle, sizeof(needle), "\"%s\":", cls);
    const char *p = body.data ? strstr(body.data, needle) : NULL;
    long v = p ? atol(p + strlen(needle)) : 0;
    pfs_buf_cleanup(&body);
    return v;
}

static void put_text(struct pfs_client *c, const char *key, const char *text)
{
    struct pfs_http_body body = {.data = text, .fd = -1, .len = strlen(text)};
    struct pfs_status st;
    if (pfs_client_put(c, key, &body, NULL, 0, NULL, &st) != 0) {
        char d[512];
        pfs_status_describe(&st, d, sizeof(d));
        fail_msg("PUT %s: %s", key, d);
    }
}

static char *get_text(struct pfs_client *c, const char *key, size_t cap)
{
    char *buf = calloc(1, cap + 1);
    size_t got;
    struct pfs_status st;
    if (pfs_client_get_range(c, buf, cap, 0, &got, key, &st) != 0) {
        char d[512];
        pfs_status_describe(&st, d, sizeof(d));
        fail_msg("GET %s: %s", key, d);
    }
    buf[got] = '\0';
    return buf;
}

static void test_vector_keys_round_trip(void **state)
{
    (void)state;
    FILE *f = fopen(PFS_TEST_DATA "/presign-vectors.tsv", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    char *keys[128];
    size_t n = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#' || strncmp(line, "dialect\t", 8) == 0)
            continue;
        char *field = line;
        for (int i = 0; i < 6 && field; i++) {
            field = strchr(field, '\t');
            field = field ? field + 1 : NULL;
        }
        assert_non_null(field);
        size_t len = strcspn(field, "\t");
        if (len == 1 && field[0] == '-')
            continue;
        struct pfs_buf k;
        pfs_buf_init(&k);
        assert_int_equal(pfs_uri_decode(&k, field, len), 0);
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup = dup || strcmp(keys[i], k.data) == 0;
        if (dup || n == 128) {
            pfs_buf_cleanup(&k);
            continue;
        }
        keys[n++] = pfs_buf_detach(&k);
    }
    free(line);
    fclose(f);
    assert_true(n >= 20);
    /* Plus the characters s3rver accepted in paths (presign spec 9). */
    static const char *const extra[] = {"p*q!r(s)t'u~v.txt", "sp ace/+plus/%25pct",
                                        "a&b=c;d,e:f@g$h", "trailing-space ",
                                        "\xd0\x9a\xd0\xb8\xd1\x80/\xe2\x82\xac"};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        keys[n++] = strdup(extra[i]);
    for (size_t i = 0; i < n; i++) {
        char content[2048];
        snprintf(content, sizeof(content), "object #%zu: %s", i, keys[i]);
        put_text(E.client, keys[i], content);
        char *back = get_text(E.client, keys[i], sizeof(content));
        if (strcmp(back, content) != 0)
            fail_msg("key '%s' read back '%s'", keys[i], back);
        free(back);
        struct pfs_object_info info;
        struct pfs_status st;
        assert_int_equal(pfs_client_head(E.client, &info, keys[i], &st), 0);
        assert_int_equal(info.size, strlen(content));
        assert_true(info.mtime > 1600000000);
        pfs_object_info_cleanup(&info);
        /* s3rver answers DELETE of dot-segment keys with 500, and routes a
         * DELETE of "/bucket//..." to the bucket itself (its defects). */
        if (!strstr(keys[i], "/./") && !strstr(keys[i], "/../") && keys[i][0] != '/' &&
            !strstr(keys[i], "//")) {
            assert_int_equal(pfs_client_delete(E.client, keys[i], &st), 0);
            assert_int_equal(pfs_client_head(E.client, &info, keys[i], &st), -1);
            assert_int_equal(pfs_status_errno(&st), ENOENT);
        }
        free(keys[i]);
    }
    print_message("%zu distinct vector keys round-tripped\n", n);
}

static void test_ranges(void **state)
{
    (void)state;
    char data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (char)('a' + i % 26);
    struct pfs_http_body body = {.data = data, .fd = -1, .len = sizeof(data)};
    struct pfs_status st;
    assert_int_equal(pfs_client_put(E.client, "ranges/obj", &body, NULL, 0, NULL, &st), 0);
    char buf[200];
    size_t got;
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 0, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 400, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, data + 400, 100);
    assert_int_equal(pfs_client_get_range(E.client, buf, 1, 999, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 1);
    assert_int_equal(buf[0], data[999]);
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 990, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, data + 990, 10);
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 1000, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 0);
    assert_int_equal(pfs_client_get_range(E.client, buf, 100, 5000, &got, "ranges/obj", &st), 0);
    assert_int_equal(got, 0);
    assert_int_equal(pfs_client_get_range(E.client, buf, 10, 0, &got, "ranges/missing", &st), -1);
    assert_int_equal(pfs_status_errno(&st), ENOENT);

    /* Streaming into a file, whole and from an offset. */
    char path[] = "/tmp/pfs-range-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    uint64_t n;
    assert_int_equal(
        pfs_client_get_to_fd(E.client, fd, 0, 0, UINT64_MAX, &n, NULL, "ranges/obj", &st), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(
        pfs_client_get_to_fd(E.client, fd, 1000, 500, UINT64_MAX, &n, NULL, "ranges/obj", &st), 0);
    assert_int_equal(n, 500);
    char back[1500];
    assert_int_equal(pread(fd, back, sizeof(back), 0), 1500);
    assert_memory_equal(back, data, 1000);
    assert_memory_equal(back + 1000, data + 500, 500);
    close(fd);
}

struct put_job {
    char key[64];
    int rc;
};

static void put_task(void *arg)
{
    struct put_job *j = arg;
    struct pfs_http_body body = {.data = j->key, .fd = -1, .len = strlen(j->key)};
    struct pfs_status st;
    j->rc = pfs_client_put(E.client, j->key, &body, NULL, 0, NULL, &st);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list_2500(void **state)
{
    (void)state;
    enum { N = 2500 };
    struct put_job *jobs = calloc(N, sizeof(*jobs));
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (int i = 0; i < N; i++) {
        snprintf(jobs[i].key, sizeof(jobs[i].key), "many/k%05d", i);
        assert_int_equal(pfs_pool_submit(E.pool, &g, put_task, &jobs[i]), 0);
    }
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].rc, 0);
    put_text(E.client, "many/sub1/x", "x");
    put_text(E.client, "many/sub2/deeper/y", "y");

    control("/reset");
    char **seen = calloc(N + 10, sizeof(*seen));
    size_t n_seen = 0;
    int pages = 0;
    char *token = NULL;
    struct pfs_status st;
    do {
        struct pfs_list_page page;
        struct pfs_list_params p = {
            .prefix = "many/k", .max_keys = 1000, .continuation_token = token};
        assert_int_equal(pfs_client_list(E.client, &page, &p, &st), 0);
        pages++;
        for (size_t i = 0; i < page.n_entries; i++) {
            assert_true(n_seen < N);
            seen[n_seen++] = strdup(page.entries[i].key);
            assert_int_equal(page.entries[i].size, strlen(page.entries[i].key));
        }
        free(token);
        token = page.next_token ? strdup(page.next_token) : NULL;
        assert_true(page.truncated == (token != NULL));
        pfs_list_page_cleanup(&page);
    } while (token);
    assert_int_equal(pages, 3);
    assert_int_equal(count_of("list"), 3);
    assert_int_equal(n_seen, N);
    qsort(seen, n_seen, sizeof(*seen), cmp_str);
    for (int i = 0; i < N; i++) {
        assert_string_equal(seen[i], jobs[i].key);
        free(seen[i]);
    }
    free(seen);

    /* With a delimiter: files of many/ plus its two sub-prefixes (one of which
     * holds only a deeper prefix). */
    struct pfs_list_page page;
    struct pfs_list_params p = {.prefix = "many/", .delimiter = "/", .max_keys = 1000};
    size_t entries = 0;
    bool sub1 = false, sub2 = false;
    token = NULL;
    do {
        p.continuation_token = token;
        assert_int_equal(pfs_client_list(E.client, &page, &p, &st), 0);
        entries += page.n_entries;
        for (size_t i = 0; i < page.n_prefixes; i++) {
            sub1 = sub1 || strcmp(page.prefixes[i], "many/sub1/") == 0;
            sub2 = sub2 || strcmp(page.prefixes[i], "many/sub2/") == 0;
        }
        free(token);
        token = page.next_token ? strdup(page.next_token) : NULL;
        pfs_list_page_cleanup(&page);
    } while (token);
    assert_int_equal(entries, N);
    assert_true(sub1 && sub2);

    /* Clean up with bulk deletes of 1000. */
    const char *keys[1000];
    for (int i = 0; i < N; i += 1000) {
        size_t k = 0;
        for (int j = i; j < N && j < i + 1000; j++)
            keys[k++] = jobs[j].key;
        struct pfs_delete_result r;
        assert_int_equal(pfs_client_delete_many(E.client, keys, k, &r, &st), 0);
        assert_int_equal(r.n_errors, 0);
        pfs_delete_result_cleanup(&r);
    }
    struct pfs_list_params after = {.prefix = "many/k"};
    assert_int_equal(pfs_client_list(E.client, &page, &after, &st), 0);
    assert_int_equal(page.n_entries, 0);
    pfs_list_page_cleanup(&page);
    free(jobs);
}

static void test_multipart_64mib(void **state)
{
    (void)state;
    const uint64_t size = 64ull << 20, part = 8ull << 20;
    char path[] = "/tmp/pfs-mpu-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *chunk = malloc(1 << 20);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t off = 0; off < size; off += 1 << 20) {
        for (size_t i = 0; i < (1 << 20); i += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(chunk + i, &x, 8);
        }
        assert_int_equal(pwrite(fd, chunk, 1 << 20, (off_t)off), 1 << 20);
    }
    control("/reset");
    struct pfs_status st;
    struct pfs_kv meta[] = {{"mode", "0100644"}};
    int rc = pfs_client_upload_fd(E.client, "big/64mib.bin", fd, 0, size, meta, 1, part, part, NULL,
                                  &st);
    if (rc) {
        char d[512];
        pfs_status_describe(&st, d, sizeof(d));
        fail_msg("multipart upload: %s", d);
    }
    assert_int_equal(count_of("mp_create"), 1);
    assert_int_equal(count_of("upload_part"), 8);
    assert_int_equal(count_of("mp_complete"), 1);
    assert_int_equal(count_of("put"), 0);

    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(E.client, &info, "big/64mib.bin", &st), 0);
    assert_int_equal(info.size, size);
    assert_true(strlen(info.etag) > 2);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "0100644");
    pfs_object_info_cleanup(&info);

    char path2[] = "/tmp/pfs-mpu-back-XXXXXX";
    int fd2 = mkstemp(path2);
    assert_true(fd2 >= 0);
    unlink(path2);
    uint64_t got;
    assert_int_equal(
        pfs_client_get_to_fd(E.client, fd2, 0, 0, UINT64_MAX, &got, NULL, "big/64mib.bin", &st), 0);
    assert_int_equal(got, size);
    char *a = malloc(1 << 20), *b = malloc(1 << 20);
    for (uint64_t off = 0; off < size; off += 1 << 20) {
        assert_int_equal(pread(fd, a, 1 << 20, (off_t)off), 1 << 20);
        assert_int_equal(pread(fd2, b, 1 << 20, (off_t)off), 1 << 20);
        if (memcmp(a, b, 1 << 20) != 0)
            fail_msg("multipart object differs in the MiB at %llu", (unsigned long long)off);
    }
    free(a);
    free(b);
    free(chunk);
    close(fd);
    close(fd2);
    assert_int_equal(pfs_client_delete(E.client, "big/64mib.bin", &st), 0);
}

static void test_copy_and_metadata(void **state)
{
    (void)state;
    struct pfs_status st;
    struct pfs_kv meta[] = {{"mode", "0100600"}, {"uid", "1000"}};
    struct pfs_http_body body = {.data = "copy me", .fd = -1, .len = 7};
    assert_int_equal(pfs_client_put(E.client, "copy/src file.txt", &body, meta, 2, NULL, &st), 0);
    assert_int_equal(
        pfs_client_copy(E.client, "copy/dst file.txt", "copy/src file.txt", false, NULL, 0, &st),
        0);
    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(E.client, &info, "copy/dst file.txt", &st), 0);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "0100600");
    pfs_object_info_cleanup(&info);
    char *back = get_text(E.client, "copy/dst file.txt", 100);
    assert_string_equal(back, "copy me");
    free(back);
    /* A copy onto itself with REPLACE changes only the metadata. */
    struct pfs_kv meta2[] = {{"mode", "0100644"}, {"mtime", "1700000000"}};
    assert_int_equal(
        pfs_client_copy(E.client, "copy/dst file.txt", "copy/dst file.txt", true, meta2, 2, &st),
        0);
    assert_int_equal(pfs_client_head(E.client, &info, "copy/dst file.txt", &st), 0);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "0100644");
    assert_string_equal(pfs_object_info_meta(&info, "mtime"), "1700000000");
    assert_null(pfs_object_info_meta(&info, "uid"));
    assert_int_equal(info.size, 7);
    pfs_object_info_cleanup(&info);
    assert_int_equal(
        pfs_client_copy(E.client, "copy/x", "copy/does-not-exist", false, NULL, 0, &st), -1);
    assert_int_equal(pfs_status_errno(&st), ENOENT);
}

static void test_multipart_copy(void **state)
{
    (void)state;
    const size_t size = 12u << 20;
    char *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 2654435761u >> 13);
    struct pfs_http_body body = {.data = data, .fd = -1, .len = size};
    struct pfs_status st;
    struct pfs_kv meta[] = {{"mode", "33152"}, {"mtime", "1700000000.5"}};
    assert_int_equal(pfs_client_put(E.client, "mpcopy/src", &body, meta, 2, NULL, &st), 0);
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *c = make_client("S3RVER", 3600, 360, &src, &urls);
    pfs_client_free(c);
    struct pfs_client_opts opts = {.retries = 2, .sleep_ms = no_sleep, .copy_threshold = 5u << 20};
    assert_int_equal(pfs_client_new(&c, E.http, urls, E.pool, PFS_DIALECT_S3, BUCKET, &opts), 0);
    control("/reset");
    assert_int_equal(
        pfs_client_copy_object(c, "mpcopy/dst", "mpcopy/src", size, 5u << 20, false, NULL, 0, &st),
        0);
    assert_int_equal(count_of("mp_create"), 1);
    assert_int_equal(count_of("upload_part"), 3); /* 5 + 5 + 2 MiB, copied server-side */
    assert_int_equal(count_of("put"), 0);
    char *back = malloc(size);
    size_t got;
    assert_int_equal(pfs_client_get_range(c, back, size, 0, &got, "mpcopy/dst", &st), 0);
    assert_int_equal(got, size);
    assert_memory_equal(back, data, size);
    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(c, &info, "mpcopy/dst", &st), 0);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "33152");
    assert_string_equal(pfs_object_info_meta(&info, "mtime"), "1700000000.5");
    pfs_object_info_cleanup(&info);
    /* A large object's metadata is replaced by a multipart copy onto itself. */
    struct pfs_kv meta2[] = {{"mode", "33188"}};
    control("/reset");
    assert_int_equal(
        pfs_client_copy_object(c, "mpcopy/dst", "mpcopy/dst", size, 5u << 20, true, meta2, 1, &st),
        0);
    assert_int_equal(count_of("upload_part"), 3);
    assert_int_equal(pfs_client_head(c, &info, "mpcopy/dst", &st), 0);
    assert_string_equal(pfs_object_info_meta(&info, "mode"), "33188");
    assert_null(pfs_object_info_meta(&info, "mtime"));
    assert_int_equal(info.size, size);
    pfs_object_info_cleanup(&info);
    assert_int_equal(pfs_client_get_range(c, back, size, 0, &got, "mpcopy/dst", &st), 0);
    assert_memory_equal(back, data, size);
    /* Objects up to the threshold still take one plain copy. */
    control("/reset");
    assert_int_equal(
        pfs_client_copy_object(c, "copy/small", "mpcopy/dst", 1000, 5u << 20, false, NULL, 0, &st),
        0);
    assert_int_equal(count_of("copy"), 1);
    assert_int_equal(count_of("mp_create"), 0);
    free(back);
    free(data);
    pfs_client_free(c);
    pfs_urlcache_free(urls);
    pfs_url_source_free(src);
}

static int64_t frozen_now(void *ctx)
{
    return *(const int64_t *)ctx;
}

static void test_expired_url_is_resigned(void **state)
{
    (void)state;
    put_text(E.client, "expiry/obj", "fresh");
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *c = make_client("S3RVER", 2, 0, &src, &urls);
    char *a = get_text(c, "expiry/obj", 16);
    assert_string_equal(a, "fresh");
    free(a);
    sleep(3); /* the cached URL, signed to live 2 s, has expired */
    char buf[16];
    size_t got;
    struct pfs_status st;
    /* The cache sees it and re-signs before sending. */
    assert_int_equal(pfs_client_get_range(c, buf, sizeof(buf), 0, &got, "expiry/obj", &st), 0);
    assert_int_equal(got, 5);
    assert_int_equal(st.attempts, 1);
    struct pfs_urlcache_stats s;
    pfs_urlcache_stats(urls, &s);
    assert_int_equal(s.refreshes, 1);
    pfs_client_free(c);
    pfs_urlcache_free(urls);

    /* A client whose clock is behind the server's hands out the expired URL:
     * the server's 403 "Request has expired" makes it re-sign and retry once. */
    int64_t now = pfs_clock_now(&pfs_clock_realtime);
    struct pfs_clock frozen = {frozen_now, &now};
    assert_int_equal(pfs_urlcache_new(&urls, src, &frozen, 0, 0), 0);
    struct pfs_client_opts opts = {.retries = 5, .sleep_ms = no_sleep};
    assert_int_equal(pfs_client_new(&c, E.http, urls, E.pool, PFS_DIALECT_S3, BUCKET, &opts), 0);
    a = get_text(c, "expiry/obj", 16);
    free(a);
    sleep(3);
    /* The re-signed URLs are signed at the same frozen time, so they have
     * expired too: after `retries` (5) re-signs the 403 is final and
     * reported as an access error. */
    assert_int_equal(pfs_client_get_range(c, buf, sizeof(buf), 0, &got, "expiry/obj", &st), -1);
    assert_int_equal(st.attempts, 6);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_non_null(strstr(st.message, "expired"));
    pfs_urlcache_stats(urls, &s);
    assert_int_equal(s.invalidations, 5);
    /* Once the clock catches up, the cache re-signs before sending. */
    now = pfs_clock_now(&pfs_clock_realtime);
    assert_int_equal(pfs_client_get_range(c, buf, sizeof(buf), 0, &got, "expiry/obj", &st), 0);
    assert_int_equal(st.attempts, 1);
    pfs_client_free(c);
    pfs_urlcache_free(urls);
    pfs_url_source_free(src);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    put_text(E.client, "secret/obj", "x");
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *c = make_client("WRONG", 3600, 360, &src, &urls);
    char buf[4];
    size_t got;
    struct pfs_status st;
    assert_int_equal(pfs_client_get_range(c, buf, sizeof(buf), 0, &got, "secret/obj", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_true(st.attempts <= 2);
    assert_string_equal(st.service_code, "SignatureDoesNotMatch");
    assert_true(strlen(st.message) > 10);
    struct pfs_http_body body = {.data = "x", .fd = -1, .len = 1};
    assert_int_equal(pfs_client_put(c, "secret/obj2", &body, NULL, 0, NULL, &st), -1);
    assert_int_equal(pfs_status_errno(&st), EACCES);
    struct pfs_object_info info;
    assert_int_equal(pfs_client_head(c, &info, "secret/obj", &st), -1); /* no body on HEAD */
    assert_int_equal(pfs_status_errno(&st), EACCES);
    assert_true(st.attempts <= 2);
    pfs_client_free(c);
    pfs_urlcache_free(urls);
    pfs_url_source_free(src);
}

struct get_job {
    int rc;
};

static void get_task(void *arg)
{
    struct get_job *j = arg;
    char buf[16];
    size_t got;
    struct pfs_status st;
    j->rc = pfs_client_get_range(E.client, buf, 10, 0, &got, "reuse/obj", &st);
    if (j->rc == 0 && got != 10)
        j->rc = -1;
}

static void test_connection_reuse(void **state)
{
    (void)state;
    put_text(E.client, "reuse/obj", "0123456789");
    /* A fresh transport counts the connection it opens. */
    struct pfs_http *fresh;
    assert_int_equal(pfs_http_curl_new(&fresh, NULL), 0);
    char url[256];
    snprintf(url, sizeof(url), "%s/counts", E.control);
    struct pfs_http_request req = {.method = "GET", .url = url};
    struct pfs_http_response resp;
    pfs_http_response_init(&resp);
    assert_int_equal(pfs_http_perform(fresh, &req, &resp), 0);
    assert_int_equal(fresh->ops->connections(fresh->ctx), 1);
    pfs_http_response_cleanup(&resp);
    pfs_http_free(fresh);
    long before = pfs_client_connections(E.client);
    char buf[16];
    size_t got;
    struct pfs_status st;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pfs_client_get_range(E.client, buf, 10, 0, &got, "reuse/obj", &st), 0);
    long opened = pfs_client_connections(E.client) - before;
    print_message("1000 sequential GETs opened %ld TCP connection(s)\n", opened);
    assert_true(opened <= 3);

    /* In parallel on the pool's 16 workers, connections are shared, not churned. */
    before = pfs_client_connections(E.client);
    struct get_job *jobs = calloc(1000, sizeof(*jobs));
    struct pfs_task_group g;
    pfs_task_group_init(&g);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pfs_pool_submit(E.pool, &g, get_task, &jobs[i]), 0);
    pfs_task_group_wait(&g);
    pfs_task_group_cleanup(&g);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(jobs[i].rc, 0);
    free(jobs);
    opened = pfs_client_connections(E.client) - before;
    print_message("1000 GETs, 16 in flight, opened %ld TCP connection(s)\n", opened);
    assert_true(opened <= 16);
}

static void test_injected_failures(void **state)
{
    (void)state;
    put_text(E.client, "retry/obj", "ok");
    char buf[4];
    size_t got;
    struct pfs_status st;
    control("/fail?count=2&status=503&code=SlowDown");
    assert_int_equal(pfs_client_get_range(E.client, buf, 4, 0, &got, "retry/obj", &st), 0);
    assert_int_equal(st.attempts, 3);
    control("/fail?count=2&status=500&code=InternalError");
    struct pfs_http_body body = {.data = "again", .fd = -1, .len = 5};
    assert_int_equal(pfs_client_put(E.client, "retry/obj", &body, NULL, 0, NULL, &st), 0);
    assert_int_equal(st.attempts, 3);
    char *back = get_text(E.client, "retry/obj", 8);
    assert_string_equal(back, "again"); /* the retried PUT re-sent its whole body */
    free(back);
    control("/fail?count=100&status=503&code=SlowDown");
    assert_int_equal(pfs_client_get_range(E.client, buf, 4, 0, &got, "retry/obj", &st), -1);
    assert_int_equal(pfs_status_errno(&st), EIO);
    assert_int_equal(st.attempts, 6); /* 1 + retries */
    assert_string_equal(st.service_code, "SlowDown");
    assert_true(strncmp(st.request_id, "injected-", 9) == 0);
    control("/fail?count=0");
    control("/fail?count=1&status=400&code=InvalidArgument");
    assert_int_equal(pfs_client_get_range(E.client, buf, 4, 0, &got, "retry/obj", &st), -1);
    assert_int_equal(st.attempts, 1); /* no retry on other 4xx */
    control("/fail?count=0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_keys_round_trip),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_list_2500),
        cmocka_unit_test(test_multipart_64mib),
        cmocka_unit_test(test_copy_and_metadata),
        cmocka_unit_test(test_multipart_copy),
        cmocka_unit_test(test_expired_url_is_resigned),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_injected_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

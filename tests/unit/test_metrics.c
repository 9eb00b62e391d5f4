/* The snapshot's renderings: the JSON shape of `presignfs stats --json` and
 * the Prometheus text of a known snapshot, line by line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void known(struct pfs_metrics *m)
{
    memset(m, 0, sizeof(*m));
    m->s.req[PFS_REQ_PUT].ok = 10;
    m->s.req[PFS_REQ_PUT].failed = 1;
    m->s.req[PFS_REQ_PUT].latency_sum_us = 1500000;         /* 1.5 s */
    m->s.req[PFS_REQ_PUT].buckets[0] = 4;                   /* <= 1 ms */
    m->s.req[PFS_REQ_PUT].buckets[2] = 6;                   /* <= 5 ms */
    m->s.req[PFS_REQ_PUT].buckets[PFS_STATS_N_BUCKETS] = 1; /* > 10 s */
    m->s.req[PFS_REQ_LIST].ok = 2;
    m->s.req[PFS_REQ_LIST].buckets[1] = 2;
    m->s.retries = 7;
    m->s.resigns = 1;
    m->s.bytes_in = 4096;
    m->s.bytes_out = 10000;
    m->s.fuse[PFS_FOP_CREATE] = 10;
    m->urls.hits = 3;
    m->urls.misses = 5;
    m->uploads.queued = 2;
    m->uploads.in_flight = 1;
    m->uploads.failed = 1;
    m->uploads.pending = 4;
    m->uploads.staged_bytes = 123456;
    m->have_fs = true;
    m->have_dcache = true; /* zeros: its families go through the format checks too */
}

static json_int_t iget(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_json_shape(void **state)
{
    (void)state;
    struct pfs_metrics m;
    known(&m);
    json_t *j = pfs_metrics_json(&m);
    assert_non_null(j);
    assert_int_equal(iget(j, "version", NULL), 1);
    json_t *req = json_object_get(j, "requests");
    assert_int_equal(json_object_size(req), PFS_REQ_N); /* every kind, zero or not */
    assert_int_equal(iget(j, "requests", "PUT"), 11);   /* ok and failed */
    assert_int_equal(iget(j, "requests", "LIST"), 2);
    assert_int_equal(iget(j, "requests", "GET"), 0);
    assert_int_equal(iget(j, "requests", "HEAD"), 0);
    assert_int_equal(iget(j, "requests_failed", "PUT"), 1);
    json_t *put = json_object_get(json_object_get(j, "latency_seconds"), "PUT");
    assert_int_equal(iget(put, "count", NULL), 11);
    assert_float_equal(json_real_value(json_object_get(put, "sum")), 1.5, 1e-9);
    json_t *b = json_object_get(put, "buckets");
    assert_int_equal(json_object_size(b), PFS_STATS_N_BUCKETS + 1);
    assert_int_equal(iget(b, "0.001", NULL), 4);
    assert_int_equal(iget(b, "0.0025", NULL), 4); /* cumulative */
    assert_int_equal(iget(b, "0.005", NULL), 10);
    assert_int_equal(iget(b, "10", NULL), 10);
    assert_int_equal(iget(b, "+Inf", NULL), 11);
    assert_int_equal(iget(j, "retries", NULL), 7);
    assert_int_equal(iget(j, "resigns", NULL), 1);
    assert_int_equal(iget(j, "bytes_in", NULL), 4096);
    assert_int_equal(iget(j, "bytes_out", NULL), 10000);
    assert_int_equal(json_object_size(json_object_get(j, "fuse")), PFS_FOP_N);
    assert_int_equal(iget(j, "fuse", "create"), 10);
    assert_int_equal(iget(j, "urlcache", "hits"), 3);
    assert_int_equal(iget(j, "urlcache", "misses"), 5);
    assert_int_equal(iget(j, "uploads", "queued"), 2);
    assert_int_equal(iget(j, "uploads", "in_flight"), 1);
    assert_int_equal(iget(j, "uploads", "failed"), 1);
    assert_int_equal(iget(j, "uploads", "pending"), 4);
    assert_int_equal(iget(j, "uploads", "staged_bytes"), 123456);
    json_decref(j);
    m.have_fs = false;
    j = pfs_metrics_json(&m);
    assert_true(json_is_null(json_object_get(j, "uploads")));
    json_decref(j);
}

static char *render(const struct pfs_metrics *m)
{
    struct pfs_buf b;
    pfs_buf_init(&b);
    pfs_metrics_prometheus(&b, m);
    assert_int_equal(pfs_buf_status(&b), 0);
    return pfs_buf_detach(&b);
}

/* text has line as one whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("missing line: %s", line);
}

static void test_prometheus_known_snapshot(void **state)
{
    (void)state;
    struct pfs_metrics m;
    known(&m);
    char *t = render(&m);
    assert_line(t, "# TYPE presignfs_requests_total counter");
    assert_line(t, "presignfs_requests_total{kind=\"PUT\",outcome=\"ok\"} 10");
    assert_line(t, "presignfs_requests_total{kind=\"PUT\",outcome=\"failed\"} 1");
    assert_line(t, "presignfs_requests_total{kind=\"GET\",outcome=\"ok\"} 0");
    assert_line(t, "# TYPE presignfs_request_duration_seconds histogram");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"PUT\",le=\"0.001\"} 4");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"PUT\",le=\"0.0025\"} 4");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"PUT\",le=\"0.005\"} 10");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"PUT\",le=\"10\"} 10");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"PUT\",le=\"+Inf\"} 11");
    assert_line(t, "presignfs_request_duration_seconds_sum{kind=\"PUT\"} 1.500000");
    assert_line(t, "presignfs_request_duration_seconds_count{kind=\"PUT\"} 11");
    assert_line(t, "presignfs_request_duration_seconds_bucket{kind=\"LIST\",le=\"0.0025\"} 2");
    assert_line(t, "presignfs_request_retries_total 7");
    assert_line(t, "presignfs_request_resigns_total 1");
    assert_line(t, "presignfs_received_bytes_total 4096");
    assert_line(t, "presignfs_sent_bytes_total 10000");
    assert_line(t, "presignfs_fuse_operations_total{op=\"create\"} 10");
    assert_line(t, "presignfs_url_cache_events_total{event=\"hit\"} 3");
    assert_line(t, "presignfs_url_cache_events_total{event=\"miss\"} 5");
    assert_line(t, "# TYPE presignfs_uploads_in_flight gauge");
    assert_line(t, "presignfs_uploads_queued 2");
    assert_line(t, "presignfs_uploads_in_flight 1");
    assert_line(t, "presignfs_uploads_failed 1");
    assert_line(t, "presignfs_uploads_pending 4");
    assert_line(t, "presignfs_staged_bytes 123456");

    /* The format's rules, over every line: a comment is HELP or TYPE of a
     * presignfs_ family, TYPE comes once per family and before its
     * samples, a sample is NAME[{labels}] VALUE of the family typed last,
     * counters end in _total, and the text ends with a newline. */
    assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
    char family[128] = "", type[32] = "", seen[4096] = " ";
    char *copy = strdup(t), *save = NULL;
    int samples = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[32];
        if (sscanf(line, "# TYPE %127s %31s", name, rest) == 2) {
            assert_memory_equal(name, "presignfs_", 10);
            char key[140];
            snprintf(key, sizeof(key), " %s ", name);
            assert_null(strstr(seen, key)); /* once per family */
            strncat(seen, key + 1, sizeof(seen) - strlen(seen) - 1);
            snprintf(family, sizeof(family), "%s", name);
            snprintf(type, sizeof(type), "%s", rest);
            if (strcmp(type, "counter") == 0)
                assert_non_null(strstr(family, "_total"));
            continue;
        }
        if (strncmp(line, "# HELP presignfs_", 17) == 0)
            continue;
        assert_true(line[0] != '#');
        size_t n = strcspn(line, "{ ");
        assert_true(n < sizeof(name));
        memcpy(name, line, n);
        name[n] = '\0';
        size_t fl = strlen(family);
        assert_true(fl > 0);
        if (strcmp(type, "histogram") == 0)
            assert_true(strncmp(name, family, fl) == 0 &&
                        (strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                         strcmp(name + fl, "_count") == 0));
        else
            assert_string_equal(name, family);
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        char *end;
        strtod(value + 1, &end);
        assert_true(*end == '\0' && end > value + 1);
        samples++;
    }
    /* requests, one histogram per kind, fuse ops: all there */
    assert_true(samples >= PFS_REQ_N * (2 + PFS_STATS_N_BUCKETS + 3) + PFS_FOP_N);
    free(copy);
    free(t);

    /* Without a filesystem, no upload gauges at all (not zeros). */
    m.have_fs = false;
    t = render(&m);
    assert_null(strstr(t, "presignfs_uploads_"));
    assert_null(strstr(t, "presignfs_staged_bytes"));
    assert_non_null(strstr(t, "presignfs_requests_total"));
    free(t);
}

/* The data cache's counters: in the JSON and as Prometheus families when
 * data_cache is on; null and absent when it is off. */
static void test_data_cache(void **state)
{
    (void)state;
    struct pfs_metrics m;
    known(&m);
    m.have_dcache = true;
    m.dcache = (struct pfs_dcache_stats){.hits = 256,
                                         .misses = 3,
                                         .hit_bytes = 256u << 20,
                                         .stored_bytes = 3u << 20,
                                         .corrupt = 1,
                                         .evictions = 2,
                                         .bytes = 40960,
                                         .limit = 300u << 20,
                                         .blocks = 10};
    json_t *j = pfs_metrics_json(&m);
    assert_int_equal(iget(j, "data_cache", "hits"), 256);
    assert_int_equal(iget(j, "data_cache", "misses"), 3);
    assert_int_equal(iget(j, "data_cache", "hit_bytes"), 256 << 20);
    assert_int_equal(iget(j, "data_cache", "stored_bytes"), 3 << 20);
    assert_int_equal(iget(j, "data_cache", "corrupt"), 1);
    assert_int_equal(iget(j, "data_cache", "evictions"), 2);
    assert_int_equal(iget(j, "data_cache", "bytes"), 40960);
    assert_int_equal(iget(j, "data_cache", "limit"), 300 << 20);
    assert_int_equal(iget(j, "data_cache", "blocks"), 10);
    json_decref(j);
    char *t = render(&m);
    assert_line(t, "# TYPE presignfs_data_cache_events_total counter");
    assert_line(t, "presignfs_data_cache_events_total{event=\"hit\"} 256");
    assert_line(t, "presignfs_data_cache_events_total{event=\"miss\"} 3");
    assert_line(t, "presignfs_data_cache_events_total{event=\"corrupt\"} 1");
    assert_line(t, "presignfs_data_cache_events_total{event=\"eviction\"} 2");
    assert_line(t, "presignfs_data_cache_read_bytes_total 268435456");
    assert_line(t, "presignfs_data_cache_stored_bytes_total 3145728");
    assert_line(t, "# TYPE presignfs_data_cache_bytes gauge");
    assert_line(t, "presignfs_data_cache_bytes 40960");
    assert_line(t, "presignfs_data_cache_limit_bytes 314572800");
    free(t);
    m.have_dcache = false;
    j = pfs_metrics_json(&m);
    assert_true(json_is_null(json_object_get(j, "data_cache")));
    json_decref(j);
    t = render(&m);
    assert_null(strstr(t, "presignfs_data_cache_"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_prometheus_known_snapshot),
        cmocka_unit_test(test_data_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

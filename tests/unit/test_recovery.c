/* Journal recovery over a scripted fake transport: which entries are
 * uploaded, deleted, dropped or sent to lost+found, and the exact requests
 * each decision costs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "fake_http.h"
#include "journal.h"
#include "recovery.h"

struct fx {
    char dir[64];
    struct fake_http *fake;
    struct pfs_endpoint ep;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_client *c;
    struct pfs_journal *j;
    int64_t accounted;
    unsigned changed;
    int claims; /* claims taken and not given back */
    int refuse; /* claims to refuse first (the live mount holds the key) */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pfs-recovery-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->fake = fake_http_new();
    const char *why;
    assert_int_equal(pfs_endpoint_parse(&f->ep, "http://127.0.0.1:9000", &why), 0);
    struct pfs_sign_params params = {.dialect = PFS_DIALECT_S3,
                                     .endpoint = &f->ep,
                                     .region = "us-east-1",
                                     .addressing = PFS_ADDRESSING_PATH};
    struct pfs_cred *cred;
    assert_int_equal(pfs_cred_new(&cred, "AK", "SK", NULL), 0);
    assert_int_equal(pfs_url_source_local_new(&f->src, &params, cred, 3600), 0);
    assert_int_equal(pfs_urlcache_new(&f->urls, f->src, &pfs_clock_realtime, 0, 360), 0);
    struct pfs_client_opts opts = {.retries = 0};
    assert_int_equal(pfs_client_new(&f->c, fake_http_transport(f->fake), f->urls, NULL,
                                    PFS_DIALECT_S3, "bkt", &opts),
                     0);
    assert_int_equal(pfs_journal_open(&f->j, f->dir), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fake_http_pending(f->fake), 0);
    pfs_journal_free(f->j);
    pfs_client_free(f->c);
    pfs_urlcache_free(f->urls);
    pfs_url_source_free(f->src);
    assert_int_equal(f->claims, 0); /* every claim ended, whatever the outcome */
    fake_http_free(f->fake);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static bool claim_always(void *ctx, const char *key)
{
    (void)key;
    struct fx *f = ctx;
    if (f->refuse > 0) {
        f->refuse--;
        assert_int_equal(fake_http_count(f->fake), 0); /* nothing asked before the claim */
        return false;
    }
    f->claims++;
    return true;
}

static void on_unclaim(void *ctx, const char *key)
{
    (void)key;
    ((struct fx *)ctx)->claims--;
}

static void on_changed(void *ctx, const char *key)
{
    (void)key;
    ((struct fx *)ctx)->changed++;
}

static void on_account(void *ctx, int64_t delta)
{
    ((struct fx *)ctx)->accounted += delta;
}

/* mpu_started of the next leave_entry (then reset). */
static int64_t next_mpu_started;

/* A journal entry as a dead daemon left it: data written, record in state. */
static void leave_entry(struct fx *f, const char *bucket, const char *key, enum pfs_jstate state,
                        const char *data, const char *base_etag, const char *upload_id)
{
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(f->j, id, &fd), 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    struct pfs_jrec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.id, id, sizeof(id));
    r.bucket = (char *)bucket;
    r.prefix = (char *)"";
    r.key = (char *)key;
    r.state = state;
    r.size = strlen(data);
    r.mode = S_IFREG | 0640;
    r.uid = 1;
    r.gid = 2;
    r.mtime = 1700000000;
    snprintf(r.base_etag, sizeof(r.base_etag), "%s", base_etag);
    r.upload_id = (char *)upload_id;
    r.mpu_started = next_mpu_started;
    next_mpu_started = 0;
    assert_int_equal(pfs_journal_write(f->j, &r, fd, true), 0);
    close(fd); /* the daemon died: its lock is gone */
}

/* Runs recovery until nothing is pending (or 10 s). */
static void recover(struct fx *f)
{
    struct pfs_recovery_opts o = {.bucket = "bkt",
                                  .prefix = "",
                                  .part_size = 8u << 20,
                                  .multipart_threshold = 8u << 20,
                                  .retry_interval_s = 1,
                                  .claim = claim_always,
                                  .unclaim = on_unclaim,
                                  .changed = on_changed,
                                  .account = on_account,
                                  .ctx = f};
    struct pfs_recovery *r = NULL;
    assert_int_equal(pfs_recovery_start(&r, f->c, f->j, &o), 0);
    for (int i = 0; i < 1000 && pfs_recovery_pending(r) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(pfs_recovery_pending(r), 0);
    pfs_recovery_stop(r);
}

static int count_files(const char *dir, const char *sub)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", dir, sub);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static const char *header(struct fx *f, size_t i, const char *name)
{
    const char *v = fake_http_header(f->fake, i, name);
    return v ? v : "";
}

static void test_content_etag(void **state)
{
    struct fx *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/data", f->dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_int_equal(write(fd, "abcdefghijkl", 12), 12);
    char etag[80];
    assert_int_equal(pfs_recovery_content_etag(fd, 12, 0, false, etag), 0);
    assert_string_equal(etag, "\"9fc9d606912030dca86582ed62595cf7\"");
    /* Parts of 5 bytes: MD5 of the three parts' binary MD5s, then "-3". */
    assert_int_equal(pfs_recovery_content_etag(fd, 12, 5, true, etag), 0);
    assert_string_equal(etag, "\"820f43a9e133258e67cab5ff59842a92-3\"");
    /* A data file shorter than its record is an error, not a guess. */
    assert_int_equal(pfs_recovery_content_etag(fd, 13, 0, false, etag), -EIO);
    close(fd);
}

static void test_closed_new_file_is_uploaded(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "dir/new", PFS_J_CLOSED, "payload", "", NULL);
    fake_http_push(f->fake, 404, "", NULL);                                    /* HEAD */
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"e\"", NULL}); /* PUT */
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_request(f->fake, 0)->method, "HEAD");
    const struct fake_request *put = fake_http_request(f->fake, 1);
    assert_string_equal(put->method, "PUT");
    assert_non_null(strstr(put->url, "/bkt/dir/new?"));
    assert_string_equal(put->body, "payload");
    assert_string_equal(header(f, 1, "x-amz-meta-mode"), "33184"); /* S_IFREG|0640 */
    assert_string_equal(header(f, 1, "x-amz-meta-uid"), "1");
    assert_int_equal(count_files(f->dir, "journal"), 0);
    assert_int_equal(f->changed, 1);
    assert_int_equal(f->accounted, 0); /* counted while held, released when done */
}

static void test_closed_based_on_stored_version_is_uploaded(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "k", PFS_J_CLOSED, "v2", "\"base\"", NULL);
    fake_http_push(f->fake, 200, "", (const char *[]){"Content-Length: 1", "ETag: \"base\"", NULL});
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"new\"", NULL});
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_request(f->fake, 1)->body, "v2");
}

static void test_conflict_goes_to_lost_found(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "a/b", PFS_J_CLOSED, "mine", "\"base\"", NULL);
    fake_http_push(f->fake, 200, "",
                   (const char *[]){"Content-Length: 1", "ETag: \"someone-else\"", NULL});
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 1); /* no PUT over the newer object */
    assert_int_equal(count_files(f->dir, "journal"), 0);
    assert_int_equal(count_files(f->dir, "lost+found"), 1);
    char cmd[256], got[64] = "";
    snprintf(cmd, sizeof(cmd), "cat '%s'/lost+found/a%%2Fb.*", f->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(got, sizeof(got), p));
    pclose(p);
    assert_string_equal(got, "mine");
}

/* A file created while the store could not be asked (open with O_TRUNC in a
 * blackout) replaces whatever version is there: no conflict. */
static void test_blind_overwrite_replaces_any_version(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "blind", PFS_J_CLOSED, "mine", PFS_BASE_ANY, NULL);
    fake_http_push(f->fake, 200, "",
                   (const char *[]){"Content-Length: 1", "ETag: \"someone-else\"", NULL});
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"new\"", NULL});
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_request(f->fake, 1)->method, "PUT");
    assert_string_equal(fake_http_request(f->fake, 1)->body, "mine");
    assert_int_equal(count_files(f->dir, "journal"), 0);
    assert_int_equal(count_files(f->dir, "lost+found"), 0);
}

static void test_already_stored_copy_is_dropped(void **state)
{
    struct fx *f = *state;
    /* The upload finished; the daemon died before it removed the record. */
    leave_entry(f, "bkt", "k", PFS_J_CLOSED, "abcdefghijkl", "\"old\"", NULL);
    fake_http_push(
        f->fake, 200, "",
        (const char *[]){"Content-Length: 12", "ETag: \"9fc9d606912030dca86582ed62595cf7\"", NULL});
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 1);
    assert_int_equal(count_files(f->dir, "journal"), 0);
    assert_int_equal(count_files(f->dir, "lost+found"), 0);
}

static void test_open_goes_to_lost_found_without_requests(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "being/written", PFS_J_OPEN, "half", "", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 0);
    assert_int_equal(count_files(f->dir, "lost+found"), 1);
    assert_int_equal(count_files(f->dir, "journal"), 0);
}

static void test_open_with_upload_is_aborted(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "big", PFS_J_OPEN, "partial", "", "UP1");
    fake_http_push(f->fake, 204, "", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 1);
    const struct fake_request *r = fake_http_request(f->fake, 0);
    assert_string_equal(r->method, "DELETE");
    assert_non_null(strstr(r->url, "uploadId=UP1"));
    assert_int_equal(count_files(f->dir, "lost+found"), 1);
}

static void test_deferred_delete(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "gone", PFS_J_DELETE, "", "\"v1\"", NULL);
    fake_http_push(f->fake, 200, "", (const char *[]){"Content-Length: 1", "ETag: \"v1\"", NULL});
    fake_http_push(f->fake, 204, "", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_request(f->fake, 1)->method, "DELETE");
    assert_non_null(strstr(fake_http_request(f->fake, 1)->url, "/bkt/gone?"));
    assert_int_equal(count_files(f->dir, "journal"), 0);
}

static void test_replaced_object_is_not_deleted(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "replaced", PFS_J_DELETE, "", "\"v1\"", NULL);
    fake_http_push(f->fake, 200, "", (const char *[]){"Content-Length: 1", "ETag: \"v2\"", NULL});
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 1); /* HEAD only */
    assert_int_equal(count_files(f->dir, "journal"), 0);
}

static void test_other_mounts_entries_are_left_alone(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "other-bucket", "k", PFS_J_CLOSED, "theirs", "", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 0);
    assert_int_equal(count_files(f->dir, "journal"), 2); /* record and data */
}

static void test_crash_inside_create_multipart(void **state)
{
    struct fx *f = *state;
    /* The daemon died after sending CreateMultipartUpload, before the answer
     * (2026-12-03T10:00:00Z): the record has the time, not the id. */
    next_mpu_started = 1796292000;
    leave_entry(f, "bkt", "big", PFS_J_OPEN, "partial", "", NULL);
    const char *list =
        "<ListMultipartUploadsResult><Upload><Key>big</Key><UploadId>OURS</UploadId>"
        "<Initiated>2026-12-03T10:00:01.000Z</Initiated></Upload>"
        "<Upload><Key>big</Key><UploadId>OLDER</UploadId>"
        "<Initiated>2026-12-02T10:00:00.000Z</Initiated></Upload>"
        "<Upload><Key>bigger</Key><UploadId>OTHERKEY</UploadId>"
        "<Initiated>2026-12-03T10:00:02.000Z</Initiated></Upload></ListMultipartUploadsResult>";
    fake_http_push(f->fake, 200, list, NULL);
    fake_http_push(f->fake, 204, "", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 2);
    const struct fake_request *q = fake_http_request(f->fake, 0);
    assert_string_equal(q->method, "GET");
    assert_non_null(strstr(q->url, "uploads"));
    assert_non_null(strstr(q->url, "prefix=big"));
    q = fake_http_request(f->fake, 1);
    assert_string_equal(q->method, "DELETE");
    assert_non_null(strstr(q->url, "/bkt/big?"));
    assert_non_null(strstr(q->url, "uploadId=OURS"));
    assert_int_equal(count_files(f->dir, "lost+found"), 1); /* still open: kept, not uploaded */
}

static void test_waits_for_a_claim(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "busy", PFS_J_CLOSED, "mine", "", NULL);
    f->refuse = 1; /* the first try finds the key busy: retried, no request */
    fake_http_push(f->fake, 404, "", NULL);
    fake_http_push(f->fake, 200, "", (const char *[]){"ETag: \"e\"", NULL});
    recover(f);
    assert_int_equal(f->refuse, 0);
    assert_int_equal(fake_http_count(f->fake), 2);
    assert_string_equal(fake_http_request(f->fake, 1)->method, "PUT");
}

static void test_keys_outside_the_mount_are_never_sent(void **state)
{
    struct fx *f = *state;
    char long_key[1100];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    leave_entry(f, "bkt", "", PFS_J_CLOSED, "planted", "", NULL);
    leave_entry(f, "bkt", long_key, PFS_J_DELETE, "", "\"v1\"", NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 0);
    assert_int_equal(count_files(f->dir, "lost+found"), 1); /* the data is kept */
    assert_int_equal(count_files(f->dir, "journal"), 0);
}

static void test_permanent_failure_is_kept_as_failed(void **state)
{
    struct fx *f = *state;
    leave_entry(f, "bkt", "ro", PFS_J_CLOSED, "x", "", NULL);
    fake_http_push(f->fake, 404, "", NULL);
    /* A 403 is signed again once (the URL may have expired), then final. */
    fake_http_push(f->fake, 403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
                   NULL);
    fake_http_push(f->fake, 403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
                   NULL);
    recover(f);
    assert_int_equal(fake_http_count(f->fake), 3);
    char cmd[256], got[4096] = "";
    snprintf(cmd, sizeof(cmd), "cat '%s'/journal/*.rec", f->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(got, sizeof(got), p));
    pclose(p);
    assert_non_null(strstr(got, "\"failed\""));
    assert_non_null(strstr(got, "AccessDenied"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_new_file_is_uploaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_based_on_stored_version_is_uploaded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conflict_goes_to_lost_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blind_overwrite_replaces_any_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_already_stored_copy_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_goes_to_lost_found_without_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_with_upload_is_aborted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_object_is_not_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_mounts_entries_are_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_a_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_inside_create_multipart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_outside_the_mount_are_never_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_permanent_failure_is_kept_as_failed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

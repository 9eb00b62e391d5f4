/* The filesystem layer without a mount, over a scripted transport: keys that
 * cannot be names ([S7]), a name that is both file and directory ([S6]), the
 * cost of a lookup ([S27]), and which close stores what when FUSE requests
 * of two writers interleave ([S13]): things the local test server cannot
 * store or count precisely, or a mount cannot order. */
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

#include "fake_http.h"
#include "fs.h"
#include "journal.h"
#include "log.h"
#include "testutil.h"

struct fx {
    struct fake_http *fake;
    struct pfs_endpoint ep;
    struct pfs_url_source *src;
    struct pfs_urlcache *urls;
    struct pfs_pool *pool;
    struct pfs_client *c;
    struct pfs_fs *fs;
    char *dir;
};

static struct fx *make_with(double dir_timeout, bool head_metadata)
{
    struct fx *f = calloc(1, sizeof(*f));
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
    assert_int_equal(pfs_pool_new(&f->pool, 2), 0);
    struct pfs_client_opts copts = {.retries = 0};
    assert_int_equal(pfs_client_new(&f->c, fake_http_transport(f->fake), f->urls, f->pool,
                                    PFS_DIALECT_S3, "bkt", &copts),
                     0);
    f->dir = tu_mkdtemp();
    struct pfs_fs_opts o = {.uid = 1000,
                            .gid = 1000,
                            .umask = 022,
                            .attr_timeout = 60,
                            .entry_timeout = 60,
                            .negative_timeout = 60,
                            .dir_timeout = dir_timeout,
                            .head_metadata = head_metadata,
                            .cache_dir = f->dir};
    assert_int_equal(pfs_fs_new(&f->fs, f->c, f->pool, "", &o), 0);
    return f;
}

static struct fx *make(double dir_timeout)
{
    return make_with(dir_timeout, false);
}

static void destroy(struct fx *f)
{
    assert_int_equal(fake_http_pending(f->fake), 0);
    pfs_fs_free(f->fs);
    pfs_client_free(f->c);
    pfs_pool_free(f->pool);
    pfs_urlcache_free(f->urls);
    pfs_url_source_free(f->src);
    fake_http_free(f->fake);
    tu_rmtree(f->dir);
    free(f);
}

static void push_list(struct fx *f, const char *contents_xml, const char *prefixes_xml)
{
    char body[8192];
    snprintf(body, sizeof(body),
             "<ListBucketResult><IsTruncated>false</IsTruncated>%s%s</ListBucketResult>",
             contents_xml, prefixes_xml);
    fake_http_push(f->fake, 200, body, NULL);
}

struct names {
    char list[64][300];
    int n;
};

static int collect(void *ctx, const char *name, const struct pfs_attr *a, uint64_t next)
{
    (void)a;
    (void)next;
    struct names *n = ctx;
    snprintf(n->list[n->n++], sizeof(n->list[0]), "%s", name);
    return 0;
}

/* What the code under test logs (stderr) between begin and end. */
struct capture {
    FILE *file;
    int saved;
};

static void capture_begin(struct capture *c)
{
    c->file = tmpfile();
    c->saved = dup(2);
    fflush(stderr);
    dup2(fileno(c->file), 2);
}

static void capture_end(struct capture *c, char *log, size_t size)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    rewind(c->file);
    size_t len = fread(log, 1, size - 1, c->file);
    log[len] = '\0';
    fclose(c->file);
}

static void test_unshowable_keys_are_hidden_and_logged_once(void **state)
{
    (void)state;
    struct fx *f = make(0); /* every opendir lists again */
    push_list(f, "", "<CommonPrefixes><Prefix>weird/</Prefix></CommonPrefixes>");
    struct pfs_attr a;
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "weird"), 0);
    assert_true(S_ISDIR(a.mode));

    char long_name[300];
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    char contents[1024];
    snprintf(contents, sizeof(contents),
             "<Contents><Key>weird/ok</Key><Size>2</Size></Contents>"
             "<Contents><Key>weird/%s</Key><Size>1</Size></Contents>",
             long_name);
    const char *prefixes = "<CommonPrefixes><Prefix>weird//</Prefix></CommonPrefixes>"
                           "<CommonPrefixes><Prefix>weird/./</Prefix></CommonPrefixes>"
                           "<CommonPrefixes><Prefix>weird/../</Prefix></CommonPrefixes>"
                           "<CommonPrefixes><Prefix>weird/sub/</Prefix></CommonPrefixes>";
    struct capture cap;
    capture_begin(&cap);
    for (int round = 0; round < 2; round++) {
        push_list(f, contents, prefixes);
        uint64_t dh;
        assert_int_equal(pfs_fs_opendir(f->fs, &dh, a.ino), 0);
        struct names n = {.n = 0};
        assert_int_equal(pfs_fs_readdir(f->fs, dh, 0, false, collect, &n), 0);
        pfs_fs_releasedir(f->fs, dh);
        assert_int_equal(n.n, 4);
        assert_string_equal(n.list[0], ".");
        assert_string_equal(n.list[1], "..");
        assert_string_equal(n.list[2], "ok");
        assert_string_equal(n.list[3], "sub");
    }
    char log[16384];
    capture_end(&cap, log, sizeof(log));
    /* Four hidden keys, two listings: four lines. */
    int lines = 0;
    for (char *p = log; (p = strstr(p, "cannot be shown")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 4);
    assert_non_null(strstr(log, "'weird//'"));
    assert_non_null(strstr(log, "'weird/./'"));
    assert_non_null(strstr(log, "'weird/../'"));
    /* A lookup of such a name fails cleanly without asking the store. */
    size_t before = fake_http_count(f->fake);
    assert_int_equal(pfs_fs_lookup(f->fs, &a, a.ino, long_name), -ENAMETOOLONG);
    assert_int_equal(fake_http_count(f->fake), before);
    destroy(f);
}

static void test_lookup_is_one_list(void **state)
{
    (void)state;
    struct fx *f = make(5);
    /* Siblings that extend the name sort between the key and its prefix. */
    push_list(f,
              "<Contents><Key>file</Key><Size>42</Size><LastModified>2024-01-15T08:30:00.000Z"
              "</LastModified></Contents>"
              "<Contents><Key>file.txt</Key><Size>1</Size></Contents>",
              "<CommonPrefixes><Prefix>file-dir/</Prefix></CommonPrefixes>");
    struct pfs_attr a;
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "file"), 0);
    assert_true(S_ISREG(a.mode));
    assert_int_equal(a.size, 42);
    assert_int_equal(a.mtime, 1705307400);
    assert_int_equal(a.mode & 0777, 0644);
    assert_int_equal(a.uid, 1000);
    assert_int_equal(fake_http_count(f->fake), 1);
    const struct fake_request *r = fake_http_request(f->fake, 0);
    assert_string_equal(r->method, "GET");
    assert_non_null(strstr(r->url, "/bkt?"));
    assert_non_null(strstr(r->url, "&prefix=file&"));
    assert_non_null(strstr(r->url, "&delimiter=%2F&"));

    /* Within attr_timeout: no request at all. */
    assert_int_equal(pfs_fs_getattr(f->fs, &a, a.ino), 0);
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "file"), 0);
    assert_int_equal(fake_http_count(f->fake), 1);

    /* A missing name: one LIST, then remembered for negative_timeout. */
    push_list(f, "", "");
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "missing"), -ENOENT);
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "missing"), -ENOENT);
    assert_int_equal(fake_http_count(f->fake), 2);
    destroy(f);
}

static void test_a_walk_through_a_directory_lists_it_once(void **state)
{
    (void)state;
    struct fx *f = make(5);
    struct pfs_attr a;
    char name[16];
    /* Four lookups ask the store one by one... */
    for (int i = 0; i < 4; i++) {
        push_list(f, "", "");
        snprintf(name, sizeof(name), "new%d", i);
        assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, name), -ENOENT);
    }
    assert_int_equal(fake_http_count(f->fake), 4);
    /* ...the fifth lists the directory instead, and the rest need nothing. */
    push_list(f, "<Contents><Key>have</Key><Size>3</Size></Contents>", "");
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "new4"), -ENOENT);
    assert_int_equal(fake_http_count(f->fake), 5);
    assert_null(strstr(fake_http_request(f->fake, 4)->url, "prefix="));
    for (int i = 5; i < 50; i++) {
        snprintf(name, sizeof(name), "new%d", i);
        assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, name), -ENOENT);
    }
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "have"), 0);
    assert_int_equal(a.size, 3);
    assert_int_equal(fake_http_count(f->fake), 5);
    destroy(f);
}

/* [S79] metadata=head: a name the walk listed whose own HEAD fails shows with
 * the listing's attributes; a chmod then reads the stored owner and times
 * first and keeps them, rather than storing the mount's defaults. */
static void test_chmod_after_a_failed_head_keeps_the_stored_owner(void **state)
{
    (void)state;
    struct fx *f = make_with(5, true);
    struct pfs_attr a;
    char name[16];
    for (int i = 0; i < 5; i++) { /* the fifth lists the directory (no HEADs) */
        push_list(f, i < 4 ? "" : "<Contents><Key>have</Key><Size>3</Size></Contents>", "");
        snprintf(name, sizeof(name), "new%d", i);
        assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, name), -ENOENT);
    }
    fake_http_push(f->fake, 500, "<Error><Code>InternalError</Code></Error>", NULL);
    struct capture cap;
    capture_begin(&cap);
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "have"), 0);
    char log[4096];
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(a.size, 3);
    assert_int_equal(a.uid, 1000); /* the listing's: the defaults */
    const char *stored[] = {"Content-Length: 3",         "ETag: \"e\"",
                            "x-amz-meta-uid: 7",         "x-amz-meta-gid: 8",
                            "x-amz-meta-mode: 33216",    "x-amz-meta-mtime: 1000000000",
                            "Content-Type: text/x-mine", NULL};
    fake_http_push(f->fake, 200, NULL, stored); /* chmod reads the metadata... */
    fake_http_push(f->fake, 200, NULL, stored); /* ...and the type and xattrs to keep */
    fake_http_push(f->fake, 200, "<CopyObjectResult><ETag>\"e2\"</ETag></CopyObjectResult>", NULL);
    struct pfs_setattr v = {.mode = 0600};
    assert_int_equal(pfs_fs_setattr(f->fs, &a, a.ino, 0, PFS_SET_MODE, &v), 0);
    size_t copy = fake_http_count(f->fake) - 1;
    assert_string_equal(fake_http_request(f->fake, copy)->method, "PUT");
    assert_string_equal(fake_http_header(f->fake, copy, "x-amz-meta-uid"), "7");
    assert_string_equal(fake_http_header(f->fake, copy, "x-amz-meta-gid"), "8");
    assert_string_equal(fake_http_header(f->fake, copy, "x-amz-meta-mode"), "33152");
    assert_non_null(strstr(fake_http_header(f->fake, copy, "x-amz-meta-mtime"), "1000000000"));
    assert_int_equal(a.uid, 7);
    destroy(f);
}

static void test_file_and_directory_shows_directory(void **state)
{
    (void)state;
    struct fx *f = make(5);
    push_list(f, "<Contents><Key>clash</Key><Size>9</Size></Contents>",
              "<CommonPrefixes><Prefix>clash/</Prefix></CommonPrefixes>");
    struct pfs_attr a;
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "clash"), 0);
    assert_true(S_ISDIR(a.mode));
    destroy(f);
}

/* Issue 11: "old_$folder$" (old s3fs, Hadoop) is the directory "old", its own
 * name hidden; rmdir removes the marker. A DELETE answered 404 for a key just
 * listed succeeds and logs one warning naming the key. */
static void test_folder_marker_and_delete_404(void **state)
{
    (void)state;
    struct fx *f = make(5);
    push_list(f,
              "<Contents><Key>f.txt</Key><Size>3</Size></Contents>"
              "<Contents><Key>old_$folder$</Key><Size>0</Size></Contents>",
              "");
    uint64_t dh;
    assert_int_equal(pfs_fs_opendir(f->fs, &dh, PFS_ROOT_INO), 0);
    struct names n = {.n = 0};
    assert_int_equal(pfs_fs_readdir(f->fs, dh, 0, false, collect, &n), 0);
    pfs_fs_releasedir(f->fs, dh);
    assert_int_equal(n.n, 4);
    assert_string_equal(n.list[2], "f.txt");
    assert_string_equal(n.list[3], "old");
    struct pfs_attr a;
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "old"), 0);
    assert_true(S_ISDIR(a.mode));
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "old_$folder$"), -ENOENT);
    assert_int_equal(fake_http_count(f->fake), 1); /* the listing answered */

    push_list(f, "", "");                   /* nothing below old/ */
    fake_http_push(f->fake, 204, "", NULL); /* DELETE old_$folder$ */
    assert_int_equal(pfs_fs_rmdir(f->fs, PFS_ROOT_INO, "old"), 0);
    assert_int_equal(fake_http_count(f->fake), 3);
    const struct fake_request *r = fake_http_request(f->fake, 2);
    assert_string_equal(r->method, "DELETE");
    assert_non_null(strstr(r->url, "/bkt/old_%24folder%24?"));

    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "f.txt"), 0);
    fake_http_push(f->fake, 404, "<Error><Code>NoSuchKey</Code></Error>", NULL);
    struct capture cap;
    capture_begin(&cap);
    assert_int_equal(pfs_fs_unlink(f->fs, PFS_ROOT_INO, "f.txt"), 0);
    char log[4096];
    capture_end(&cap, log, sizeof(log));
    assert_non_null(strstr(log, "warning: DELETE of 'f.txt' answered 404"));
    assert_null(strstr(strstr(log, "answered 404") + 1, "answered 404"));       /* one line */
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "f.txt"), -ENOENT); /* gone here */
    destroy(f);
}

/* The write path's gauges: a failed upload keeps its bytes staged and counts
 * as failed and pending until an upload succeeds. */
static void test_upload_stats(void **state)
{
    (void)state;
    struct fx *f = make(60);
    struct pfs_upload_stats u;
    pfs_fs_upload_stats(f->fs, &u);
    assert_int_equal(u.queued + u.in_flight + u.failed + u.pending + u.staged_bytes, 0);
    /* create asks the store nothing (the kernel looked the name up first). */
    struct pfs_attr a;
    uint64_t fh;
    assert_int_equal(pfs_fs_create(f->fs, &a, &fh, PFS_ROOT_INO, "new", 0644, O_WRONLY), 0);
    char data[100];
    memset(data, 'x', sizeof(data));
    assert_int_equal(pfs_fs_write(f->fs, fh, data, sizeof(data), 0), (ssize_t)sizeof(data));
    pfs_fs_upload_stats(f->fs, &u);
    assert_int_equal(u.staged_bytes, 100);
    assert_int_equal(u.pending, 1);
    assert_int_equal(u.failed, 0);
    fake_http_push(f->fake, 500, "<Error><Code>InternalError</Code></Error>", NULL);
    assert_int_not_equal(pfs_fs_flush(f->fs, fh), 0);
    pfs_fs_upload_stats(f->fs, &u);
    assert_int_equal(u.failed, 1);
    assert_int_equal(u.pending, 1);
    assert_int_equal(u.staged_bytes, 100);
    assert_int_equal(u.in_flight, 0);
    assert_int_equal(u.queued, 0);
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"e\"", NULL});
    assert_int_equal(pfs_fs_flush(f->fs, fh), 0);
    pfs_fs_upload_stats(f->fs, &u);
    assert_int_equal(u.failed, 0);
    assert_int_equal(u.pending, 0);
    assert_int_equal(pfs_fs_release(f->fs, fh), 0);
    destroy(f);
}

/* The journal's entries as "state size" words, sorted, for the checks below
 * (an OPEN record's size is not kept up to date: it says 0 here). */
struct jlist {
    char words[8][40];
    int n;
};

static int jlist_add(void *ctx, const struct pfs_jrec *r, bool live)
{
    (void)live;
    struct jlist *l = ctx;
    if (l->n < 8)
        snprintf(l->words[l->n++], sizeof(l->words[0]), "%s %llu", pfs_jstate_name(r->state),
                 r->state == PFS_J_OPEN ? 0ull : (unsigned long long)r->size);
    return 0;
}

static int cmp_words(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void journal_says(struct fx *f, const char *want)
{
    struct jlist l = {.n = 0};
    assert_int_equal(pfs_journal_list(f->dir, jlist_add, &l), 0);
    qsort(l.words, (size_t)l.n, sizeof(l.words[0]), cmp_words);
    char got[400] = "";
    for (int i = 0; i < l.n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? ", " : "", l.words[i]);
    assert_string_equal(got, want);
}

/* [S13, S48] P1 opens a stored file with O_TRUNC, writes and closes (its
 * upload fails: the version stays journalled, CLOSED); P2 opens it with
 * O_TRUNC, which copies that version aside. P1's last FLUSH and its RELEASE
 * arriving only now (as after a shell's `printf v1 > f`, or a dup P1 kept),
 * before P2 writes or after, must store nothing: neither the file P2's
 * truncation emptied nor P2's unfinished bytes. Either would mark the record
 * CLOSED and drop the copy of the version P1's close acknowledged. */
static void late_close_of_an_earlier_truncation(bool after_p2_writes)
{
    struct fx *f = make(60);
    push_list(f, "<Contents><Key>f</Key><Size>3</Size><ETag>\"old\"</ETag></Contents>", "");
    struct pfs_attr a;
    assert_int_equal(pfs_fs_lookup(f->fs, &a, PFS_ROOT_INO, "f"), 0);
    uint64_t h1, h2;
    assert_int_equal(pfs_fs_open(f->fs, &h1, a.ino, O_WRONLY | O_TRUNC), 0);
    const char v1[] = "version one";
    assert_int_equal(pfs_fs_write(f->fs, h1, v1, strlen(v1), 0), (ssize_t)strlen(v1));
    fake_http_push(f->fake, 503, "<Error><Code>ServiceUnavailable</Code></Error>", NULL);
    assert_int_not_equal(pfs_fs_flush(f->fs, h1), 0); /* journalled: retried later */
    journal_says(f, "closed 11");
    assert_int_equal(pfs_fs_open(f->fs, &h2, a.ino, O_WRONLY | O_TRUNC), 0);
    journal_says(f, "closed 11, open 0");
    const char unfinished[] = "unfinished";
    if (after_p2_writes)
        assert_int_equal(pfs_fs_write(f->fs, h2, unfinished, strlen(unfinished), 0),
                         (ssize_t)strlen(unfinished));
    size_t before = fake_http_count(f->fake);
    assert_int_equal(pfs_fs_flush(f->fs, h1), 0);
    assert_int_equal(pfs_fs_release(f->fs, h1), 0);
    assert_int_equal(fake_http_count(f->fake), before); /* nothing stored */
    journal_says(f, "closed 11, open 0");
    if (!after_p2_writes)
        assert_int_equal(pfs_fs_write(f->fs, h2, unfinished, strlen(unfinished), 0),
                         (ssize_t)strlen(unfinished));
    journal_says(f, "closed 11, open 0");
    /* P2's own close stores its version, which supersedes the copy. */
    fake_http_push(f->fake, 200, NULL,
                   (const char *[]){"ETag: \"old\"", "Content-Length: 3",
                                    "Content-Type: text/plain", NULL});         /* HEAD */
    fake_http_push(f->fake, 200, NULL, (const char *[]){"ETag: \"v2\"", NULL}); /* PUT */
    assert_int_equal(pfs_fs_flush(f->fs, h2), 0);
    assert_int_equal(pfs_fs_release(f->fs, h2), 0);
    const struct fake_request *put = fake_http_request(f->fake, fake_http_count(f->fake) - 1);
    assert_string_equal(put->method, "PUT");
    assert_int_equal(put->body_len, strlen(unfinished));
    journal_says(f, "");
    destroy(f);
}

static void test_a_late_release_leaves_a_newer_truncation_alone(void **state)
{
    (void)state;
    late_close_of_an_earlier_truncation(false);
}

static void test_a_late_close_leaves_a_newer_writer_alone(void **state)
{
    (void)state;
    late_close_of_an_earlier_truncation(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unshowable_keys_are_hidden_and_logged_once),
        cmocka_unit_test(test_upload_stats),
        cmocka_unit_test(test_a_late_release_leaves_a_newer_truncation_alone),
        cmocka_unit_test(test_a_late_close_leaves_a_newer_writer_alone),
        cmocka_unit_test(test_lookup_is_one_list),
        cmocka_unit_test(test_file_and_directory_shows_directory),
        cmocka_unit_test(test_folder_marker_and_delete_404),
        cmocka_unit_test(test_a_walk_through_a_directory_lists_it_once),
        cmocka_unit_test(test_chmod_after_a_failed_head_keeps_the_stored_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

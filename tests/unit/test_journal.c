/* The write-back journal: record round trips (every field, keys that are not
 * UTF-8), atomic writes, removal, lost+found names, the recovery scan
 * (entries locked by a live owner, orphan data, leftovers) and hostile
 * records, which must be moved aside and never crash. */
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "journal.h"
#include "log.h"
#include "testutil.h"

struct ctx {
    char *dir; /* cache_dir */
    struct pfs_journal *j;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->dir = tu_mkdtemp();
    assert_non_null(c->dir);
    assert_int_equal(pfs_journal_open(&c->j, c->dir), 0);
    pfs_log_set_level(PFS_LOG_ERROR); /* hostile records warn by design */
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    pfs_journal_free(c->j);
    tu_rmtree(c->dir);
    free(c);
    return 0;
}

static const char *jpath(struct ctx *c, const char *id, const char *suffix)
{
    static char paths[4][PATH_MAX];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, PATH_MAX, "%s/journal/%s%s", c->dir, id, suffix);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void put_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (len_out)
        *len_out = n;
    return buf;
}

/* Every entry a scan hands out, with the fd it got (closed here). */
struct seen {
    size_t n;
    struct pfs_jrec r[16];
    int fd_valid[16];
    bool fd_locked_by_us[16];
    int stop_after; /* return 7 after this many; 0: never */
};

static int lockable_elsewhere(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -errno;
    int rc = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 1 : 0;
    close(fd);
    return rc;
}

static const char *g_dir;

static int record_fn(void *ctxp, struct pfs_jrec *r, int fd)
{
    struct seen *s = ctxp;
    assert_true(s->n < 16);
    assert_int_equal(pfs_jrec_copy(&s->r[s->n], r), 0);
    s->fd_valid[s->n] = fd >= 0;
    if (fd >= 0) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/journal/%s.data", g_dir, r->id);
        s->fd_locked_by_us[s->n] = lockable_elsewhere(p) == 0;
        close(fd);
    }
    s->n++;
    if (s->stop_after && (int)s->n >= s->stop_after)
        return 7;
    return 0;
}

static void seen_cleanup(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        pfs_jrec_cleanup(&s->r[i]);
    memset(s, 0, sizeof(*s));
}

static int scan(struct ctx *c, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    g_dir = c->dir;
    return pfs_journal_scan(c->j, record_fn, s);
}

static void fill(struct pfs_jrec *r, const char *id, const char *key)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->bucket = strdup("bkt");
    r->prefix = strdup("pre/fix/");
    r->key = strdup(key);
    r->state = PFS_J_CLOSED;
    r->size = 5;
    r->mode = S_IFREG | 0640;
    r->uid = 1234;
    r->gid = 4294967294u;
    r->mtime = -12345678901LL;
    r->mtime_ns = 999999999;
    snprintf(r->base_etag, sizeof(r->base_etag), "\"d41d8cd98f00b204e9800998ecf8427e\"");
    r->upload_id = strdup("upl\xc3\xa9-\xfe");
    r->part_size = 8ull << 20;
    r->n_parts = 2;
    r->parts = calloc(2, sizeof(*r->parts));
    r->parts[0].number = 1;
    snprintf(r->parts[0].etag, sizeof(r->parts[0].etag), "\"e1\"");
    r->parts[0].size = 8ull << 20;
    r->parts[1].number = 2;
    snprintf(r->parts[1].etag, sizeof(r->parts[1].etag), "\"e2\"");
    r->parts[1].size = 3;
    r->error = strdup("HTTP 403 AccessDenied \"x\"\n\tnext");
    r->attempts = 3;
    r->created = 1700000000;
}

static void assert_same(const struct pfs_jrec *a, const struct pfs_jrec *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->bucket, b->bucket);
    assert_string_equal(a->prefix, b->prefix);
    assert_string_equal(a->key, b->key);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_true(a->mtime == b->mtime);
    assert_int_equal(a->mtime_ns, b->mtime_ns);
    assert_string_equal(a->base_etag, b->base_etag);
    assert_string_equal(a->upload_id, b->upload_id);
    assert_int_equal(a->part_size, b->part_size);
    assert_int_equal(a->n_parts, b->n_parts);
    for (size_t i = 0; i < a->n_parts; i++) {
        assert_int_equal(a->parts[i].number, b->parts[i].number);
        assert_string_equal(a->parts[i].etag, b->parts[i].etag);
        assert_int_equal(a->parts[i].size, b->parts[i].size);
    }
    assert_string_equal(a->error, b->error);
    assert_int_equal(a->attempts, b->attempts);
    assert_true(a->created == b->created);
    assert_true(a->updated == b->updated);
}

static void test_round_trip(void **state)
{
    struct ctx *c = *state;
    const char *keys[] = {"dir/\xff\xfe bad\x80utf8", "\xe5\x9b\xbe\xe7\x89\x87/cat.jpg"};
    for (int k = 0; k < 2; k++) {
        char id[PFS_JOURNAL_ID_LEN];
        int fd;
        assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
        assert_int_equal(strlen(id), PFS_JOURNAL_ID_LEN - 1);
        assert_int_equal(id[0], 'j');
        assert_int_equal(strspn(id + 1, "0123456789abcdef"), PFS_JOURNAL_ID_LEN - 2);
        char dp[PATH_MAX];
        pfs_journal_data_path(c->j, id, dp, sizeof(dp));
        assert_string_equal(dp, jpath(c, id, ".data"));
        struct stat st;
        assert_int_equal(stat(dp, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(lockable_elsewhere(dp), 0); /* create locked it */
        assert_int_equal(write(fd, "hello", 5), 5);

        struct pfs_jrec r;
        fill(&r, id, keys[k]);
        time_t before = time(NULL);
        assert_int_equal(pfs_journal_write(c->j, &r, fd, true), 0);
        assert_true(r.updated >= before && r.updated <= time(NULL));
        assert_true(r.created == 1700000000);
        assert_false(exists(jpath(c, id, ".rec.tmp")));
        char *text = slurp(jpath(c, id, ".rec"), NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"version\":1"));
        assert_non_null(strstr(text, k == 0 ? "\"key_hex\":" : "\"key\":"));
        json_error_t jerr;
        json_t *doc = json_loads(text, 0, &jerr); /* the file itself is plain JSON */
        assert_non_null(doc);
        json_decref(doc);
        free(text);

        /* The owner still holds the lock: a scan must not adopt it. */
        struct seen s;
        assert_int_equal(scan(c, &s), 0);
        assert_int_equal(s.n, 0);
        close(fd);

        assert_int_equal(scan(c, &s), 0);
        assert_int_equal(s.n, 1);
        assert_true(s.fd_valid[0]);
        assert_true(s.fd_locked_by_us[0]);
        assert_same(&s.r[0], &r);
        seen_cleanup(&s);

        /* A deep copy is equal and independent. */
        struct pfs_jrec copy;
        assert_int_equal(pfs_jrec_copy(&copy, &r), 0);
        assert_ptr_not_equal(copy.key, r.key);
        assert_ptr_not_equal(copy.parts, r.parts);
        assert_same(&copy, &r);
        pfs_jrec_cleanup(&copy);
        assert_null(copy.key);
        pfs_jrec_cleanup(&r);
        assert_int_equal(pfs_journal_remove(c->j, id), 0);
    }
    pfs_jrec_cleanup(NULL);
}

static void test_durable_and_not(void **state)
{
    struct ctx *c = *state;
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
    struct pfs_jrec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.id, id, sizeof(id));
    r.key = strdup("k");
    r.state = PFS_J_OPEN;
    assert_int_equal(pfs_journal_write(c->j, &r, -1, false), 0);
    assert_true(r.created > 0); /* set on the first write */
    assert_true(r.created == r.updated);
    assert_false(exists(jpath(c, id, ".rec.tmp")));
    r.state = PFS_J_CLOSED;
    r.size = 3;
    assert_int_equal(write(fd, "abc", 3), 3);
    assert_int_equal(pfs_journal_write(c->j, &r, fd, true), 0); /* replaces it */
    assert_false(exists(jpath(c, id, ".rec.tmp")));
    close(fd);
    struct seen s;
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.r[0].state, PFS_J_CLOSED);
    assert_int_equal(s.r[0].size, 3);
    assert_null(s.r[0].bucket);
    assert_null(s.r[0].upload_id);
    assert_null(s.r[0].error);
    assert_int_equal(s.r[0].n_parts, 0);
    assert_string_equal(s.r[0].base_etag, "");
    seen_cleanup(&s);

    /* Records recovery could not read back are refused. */
    struct pfs_jrec badr;
    memset(&badr, 0, sizeof(badr));
    memcpy(badr.id, id, sizeof(id));
    assert_int_equal(pfs_journal_write(c->j, &badr, -1, true), -EINVAL); /* no key */
    badr.key = strdup("k");
    badr.n_parts = 1;
    badr.parts = calloc(1, sizeof(*badr.parts)); /* part number 0 */
    assert_int_equal(pfs_journal_write(c->j, &badr, -1, true), -EINVAL);
    badr.parts[0].number = 1;
    badr.mtime_ns = 1000000000;
    assert_int_equal(pfs_journal_write(c->j, &badr, -1, true), -EINVAL);
    badr.mtime_ns = 0;
    badr.size = UINT64_MAX;
    assert_int_equal(pfs_journal_write(c->j, &badr, -1, true), -EOVERFLOW);
    pfs_jrec_cleanup(&badr);
    assert_false(exists(jpath(c, id, ".rec.tmp")));
    assert_int_equal(scan(c, &s), 0); /* the good record is still there */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.r[0].state, PFS_J_CLOSED);
    seen_cleanup(&s);

    /* Names that could leave the journal directory are refused. */
    snprintf(r.id, sizeof(r.id), "../../etc/passwd");
    assert_int_equal(pfs_journal_write(c->j, &r, -1, false), -EINVAL);
    assert_int_equal(pfs_journal_remove(c->j, "../x"), -EINVAL);
    assert_int_equal(pfs_journal_to_lost_found(c->j, "jnothex", "k", NULL, 0), -EINVAL);
    pfs_jrec_cleanup(&r);

    assert_string_equal(pfs_jstate_name(PFS_J_OPEN), "open");
    assert_string_equal(pfs_jstate_name(PFS_J_CLOSED), "closed");
    assert_string_equal(pfs_jstate_name(PFS_J_FAILED), "failed");
    assert_string_equal(pfs_jstate_name(PFS_J_DELETE), "delete");
    assert_string_equal(pfs_jstate_name((enum pfs_jstate)42), "unknown");
}

static void test_remove(void **state)
{
    struct ctx *c = *state;
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
    struct pfs_jrec r;
    fill(&r, id, "x");
    assert_int_equal(pfs_journal_write(c->j, &r, fd, false), 0);
    assert_true(exists(jpath(c, id, ".rec")));
    assert_int_equal(pfs_journal_remove(c->j, id), 0);
    assert_false(exists(jpath(c, id, ".rec")));
    assert_false(exists(jpath(c, id, ".data")));
    assert_int_equal(pfs_journal_remove(c->j, id), 0); /* missing is fine */
    close(fd);
    pfs_jrec_cleanup(&r);
    struct seen s;
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 0);
}

static void check_escapes(const char *name)
{
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        assert_true(ch >= 0x20 && ch < 0x7f && ch != '/');
        if (ch == '%')
            assert_true(strspn(p + 1, "0123456789ABCDEF") >= 2);
    }
}

static void test_lost_found(void **state)
{
    struct ctx *c = *state;
    struct {
        const char *key, *want; /* want: the name before ".ID"; NULL: just check */
    } cases[] = {
        {"a/b%c d\x01\x7f\xff", "a%2Fb%25c d%01%7F%FF"},
        {NULL, "unnamed"},
        {"", "unnamed"},
        {"plain.txt", "plain.txt"},
        {NULL, NULL}, /* a long key, filled in below */
        {NULL, NULL}, /* a long key of escapes */
    };
    char longkey[600], esckey[600];
    memset(longkey, 'x', 599);
    longkey[599] = '\0';
    for (int i = 0; i < 599; i++)
        esckey[i] = i % 3 == 0 ? 'a' : '/';
    esckey[599] = '\0';
    cases[4].key = longkey;
    cases[5].key = esckey;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char id[PFS_JOURNAL_ID_LEN], out[PATH_MAX], want[PATH_MAX];
        int fd;
        assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
        assert_int_equal(write(fd, "data!", 5), 5);
        struct pfs_jrec r;
        fill(&r, id, cases[k].key ? cases[k].key : "whatever");
        assert_int_equal(pfs_journal_write(c->j, &r, fd, true), 0);
        pfs_jrec_cleanup(&r);
        assert_int_equal(pfs_journal_to_lost_found(c->j, id, cases[k].key, out, sizeof(out)), 0);
        close(fd);
        assert_false(exists(jpath(c, id, ".rec")));
        assert_false(exists(jpath(c, id, ".data")));
        const char *name = strrchr(out, '/') + 1;
        assert_true(strlen(name) < 200);
        snprintf(want, sizeof(want), "%s/lost+found/", c->dir);
        assert_memory_equal(out, want, strlen(want));
        size_t nl = strlen(name), il = strlen(id);
        assert_true(nl > il + 1);
        assert_string_equal(name + nl - il, id);
        assert_int_equal(name[nl - il - 1], '.');
        if (cases[k].want) {
            snprintf(want, sizeof(want), "%s.%s", cases[k].want, id);
            assert_string_equal(name, want);
        }
        check_escapes(name);
        char *content = slurp(out, NULL);
        assert_string_equal(content, "data!");
        free(content);
    }
    /* No data file: nothing to move, the record stays. */
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
    struct pfs_jrec r;
    fill(&r, id, "gone");
    assert_int_equal(pfs_journal_write(c->j, &r, fd, false), 0);
    unlink(jpath(c, id, ".data"));
    close(fd);
    assert_int_equal(pfs_journal_to_lost_found(c->j, id, "gone", NULL, 0), -ENOENT);
    assert_true(exists(jpath(c, id, ".rec")));
    pfs_jrec_cleanup(&r);
}

static void test_scan_locks_orphans_leftovers(void **state)
{
    struct ctx *c = *state;
    char a[PFS_JOURNAL_ID_LEN], b[PFS_JOURNAL_ID_LEN], o[PFS_JOURNAL_ID_LEN];
    int fa, fb, fo;
    struct pfs_jrec r;
    assert_int_equal(pfs_journal_create(c->j, a, &fa), 0);
    fill(&r, a, "live/one");
    assert_int_equal(pfs_journal_write(c->j, &r, fa, true), 0);
    pfs_jrec_cleanup(&r);
    close(fa);
    assert_int_equal(pfs_journal_create(c->j, b, &fb), 0);
    fill(&r, b, "free/two");
    assert_int_equal(pfs_journal_write(c->j, &r, fb, true), 0);
    pfs_jrec_cleanup(&r);
    close(fb);
    assert_int_equal(pfs_journal_create(c->j, o, &fo), 0);
    assert_int_equal(write(fo, "orphan bytes", 12), 12);
    close(fo); /* a daemon died before its first record */

    /* Another open file description holding the lock is a live daemon. */
    int live = open(jpath(c, a, ".data"), O_RDWR);
    assert_true(live >= 0);
    assert_int_equal(flock(live, LOCK_EX | LOCK_NB), 0);

    /* Leftover temporaries: the free entry's and a lone one go, the live
     * entry's stays (its daemon may be in the middle of a write). */
    put_file(jpath(c, a, ".rec.tmp"), "{", 1);
    put_file(jpath(c, b, ".rec.tmp"), "{", 1);
    put_file(jpath(c, "j00000000000000000000ff", ".rec.tmp"), "{", 1);
    put_file(jpath(c, "notanid", ".rec"), "{", 1); /* not ours: ignored */

    struct seen s;
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 2);
    assert_true(exists(jpath(c, a, ".rec.tmp")));
    assert_false(exists(jpath(c, b, ".rec.tmp")));
    assert_false(exists(jpath(c, "j00000000000000000000ff", ".rec.tmp")));
    assert_true(exists(jpath(c, "notanid", ".rec")));
    bool got_b = false, got_o = false;
    for (size_t i = 0; i < s.n; i++) {
        assert_string_not_equal(s.r[i].id, a);
        assert_true(s.fd_valid[i]);
        if (strcmp(s.r[i].id, b) == 0) {
            got_b = true;
            assert_string_equal(s.r[i].key, "free/two");
        } else {
            got_o = true;
            assert_string_equal(s.r[i].id, o);
            assert_null(s.r[i].key);
            assert_int_equal(s.r[i].state, PFS_J_OPEN);
            assert_int_equal(s.r[i].size, 12);
        }
    }
    assert_true(got_b && got_o);
    seen_cleanup(&s);

    /* fn stopping the scan: its value comes back. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    g_dir = c->dir;
    assert_int_equal(pfs_journal_scan(c->j, record_fn, &s), 7);
    assert_int_equal(s.n, 1);
    seen_cleanup(&s);

    /* The live daemon lets go: its entry is adopted. */
    close(live);
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 3);
    seen_cleanup(&s);

    /* A record whose data file is gone: fn gets fd -1. */
    unlink(jpath(c, b, ".data"));
    assert_int_equal(pfs_journal_remove(c->j, a), 0);
    assert_int_equal(pfs_journal_remove(c->j, o), 0);
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.r[0].key, "free/two");
    assert_false(s.fd_valid[0]);
    seen_cleanup(&s);
}

static void hostile(struct ctx *c, const char *text, size_t len, bool with_data)
{
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
    assert_int_equal(write(fd, "xyz", 3), 3);
    close(fd);
    if (!with_data)
        unlink(jpath(c, id, ".data"));
    put_file(jpath(c, id, ".rec"), text, len);
    struct seen s;
    assert_int_equal(scan(c, &s), 0);
    if (with_data) {
        if (s.n != 1 || s.r[0].key != NULL)
            fail_msg("record not refused: %.*s", (int)(len > 200 ? 200 : len), text);
        assert_int_equal(s.r[0].state, PFS_J_OPEN);
        assert_int_equal(s.r[0].size, 3);
        assert_true(s.fd_valid[0]);
    } else {
        assert_int_equal(s.n, 0);
    }
    seen_cleanup(&s);
    assert_false(exists(jpath(c, id, ".rec")));
    assert_true(exists(jpath(c, id, ".rec.bad")));
    assert_int_equal(pfs_journal_remove(c->j, id), 0);
    unlink(jpath(c, id, ".rec.bad"));
}

#define OK_HEAD "{\"version\":1,\"key\":\"k\",\"state\":\"closed\",\"size\":1"

static void test_hostile_records(void **state)
{
    struct ctx *c = *state;
    const char *bad[] = {
        "",
        "{",
        "{\"version\":1,\"key\":\"k\",\"state\":\"clo",
        "[]",
        "null",
        "\"string\"",
        "{}",
        "{\"version\":2,\"key\":\"k\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":\"1\",\"key\":\"k\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"closed\"}",
        "{\"version\":1,\"key\":5,\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"bogus\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"state\":3,\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"closed\",\"size\":-1}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"closed\",\"size\":1.5}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"closed\",\"size\":99999999999999999999999}",
        "{\"version\":1,\"key\":\"k\",\"state\":\"closed\",\"size\":1e300}",
        "{\"version\":1,\"key\":\"k\",\"key\":\"k2\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\\u0000evil\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key\":\"k\",\"key_hex\":\"6b\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key_hex\":\"6\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key_hex\":\"zz\",\"state\":\"closed\",\"size\":1}",
        "{\"version\":1,\"key_hex\":\"6b00\",\"state\":\"closed\",\"size\":1}",
        OK_HEAD ",\"mode\":-1}",
        OK_HEAD ",\"mode\":4294967296}",
        OK_HEAD ",\"uid\":-5}",
        OK_HEAD ",\"gid\":4294967296}",
        OK_HEAD ",\"mtime_ns\":1000000000}",
        OK_HEAD ",\"attempts\":-1}",
        OK_HEAD ",\"part_size\":-8}",
        OK_HEAD ",\"created\":\"yesterday\"}",
        OK_HEAD ",\"error\":[1]}",
        OK_HEAD ",\"upload_id\":{}}",
        OK_HEAD ",\"base_etag\":\"" /* 80 chars: one too many */
                "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
                "\"}",
        OK_HEAD ",\"parts\":{}}",
        OK_HEAD ",\"parts\":[1]}",
        OK_HEAD ",\"parts\":[{\"number\":0,\"etag\":\"e\",\"size\":1}]}",
        OK_HEAD ",\"parts\":[{\"number\":1,\"etag\":\"e\"}]}",
        OK_HEAD ",\"parts\":[{\"number\":1,\"etag\":\"e\",\"size\":-1}]}",
        OK_HEAD ",\"parts\":[{\"number\":1,\"etag\":7,\"size\":1}]}",
        OK_HEAD "} trailing",
        "\xff\xfe\x00garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        hostile(c, bad[i], strlen(bad[i]), i % 2 == 0);
    /* Binary with a NUL inside, and a record larger than the cap. */
    hostile(c, "{\"version\":1\0}", 14, true);
    size_t big = 5u << 20;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    hostile(c, huge, big, true);
    free(huge);
    /* Too many parts. */
    size_t cap = 20000 * 40 + 200, n = 0;
    char *many = malloc(cap);
    n += (size_t)snprintf(many, cap, OK_HEAD ",\"parts\":[");
    for (int p = 0; p < 10001; p++)
        n += (size_t)snprintf(many + n, cap - n, "%s{\"number\":1,\"etag\":\"e\",\"size\":1}",
                              p ? "," : "");
    n += (size_t)snprintf(many + n, cap - n, "]}");
    hostile(c, many, n, true);
    free(many);

    /* A record that is a directory or a symbolic link is as bad as garbage. */
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(c->j, id, &fd), 0);
    close(fd);
    assert_int_equal(mkdir(jpath(c, id, ".rec"), 0700), 0);
    struct seen s;
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 1);
    assert_null(s.r[0].key);
    seen_cleanup(&s);
    assert_true(exists(jpath(c, id, ".rec.bad")));
    rmdir(jpath(c, id, ".rec.bad"));
    assert_int_equal(symlink("/etc/passwd", jpath(c, id, ".rec")), 0);
    assert_int_equal(scan(c, &s), 0);
    assert_int_equal(s.n, 1);
    assert_null(s.r[0].key);
    seen_cleanup(&s);
    assert_true(exists(jpath(c, id, ".rec.bad")));

    /* Minimal but valid: accepted, absent fields zero. */
    char id2[PFS_JOURNAL_ID_LEN];
    assert_int_equal(pfs_journal_create(c->j, id2, &fd), 0);
    close(fd);
    const char *ok = OK_HEAD ",\"upload_id\":null,\"key_hex\":null}";
    put_file(jpath(c, id2, ".rec"), ok, strlen(ok));
    assert_int_equal(scan(c, &s), 0);
    bool found = false;
    for (size_t i = 0; i < s.n; i++)
        if (strcmp(s.r[i].id, id2) == 0) {
            found = true;
            assert_string_equal(s.r[i].key, "k");
            assert_int_equal(s.r[i].size, 1);
            assert_null(s.r[i].upload_id);
        }
    assert_true(found);
    seen_cleanup(&s);
}

struct listed {
    size_t n, live;
    char keys[8][64];
};

static int list_fn(void *ctxp, const struct pfs_jrec *r, bool live)
{
    struct listed *l = ctxp;
    assert_true(l->n < 8);
    snprintf(l->keys[l->n++], 64, "%s", r->key ? r->key : "(none)");
    l->live += live;
    return 0;
}

static void test_list(void **state)
{
    struct ctx *c = *state;
    struct listed l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(pfs_journal_list(c->dir, list_fn, &l), 0);
    assert_int_equal(l.n, 0);
    char *nodir = tu_mkdtemp();
    assert_int_equal(pfs_journal_list(nodir, list_fn, &l), -ENOENT);
    tu_rmtree(nodir);

    char a[PFS_JOURNAL_ID_LEN], b[PFS_JOURNAL_ID_LEN];
    int fa, fb;
    struct pfs_jrec r;
    assert_int_equal(pfs_journal_create(c->j, a, &fa), 0);
    fill(&r, a, "held");
    assert_int_equal(pfs_journal_write(c->j, &r, fa, true), 0);
    pfs_jrec_cleanup(&r);
    assert_int_equal(pfs_journal_create(c->j, b, &fb), 0);
    close(fb); /* an orphan data file */
    assert_int_equal(pfs_journal_list(c->dir, list_fn, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.live, 1);
    /* Listing kept no lock: the owner still has it and the orphan is free. */
    assert_int_equal(lockable_elsewhere(jpath(c, a, ".data")), 0);
    assert_int_equal(lockable_elsewhere(jpath(c, b, ".data")), 1);
    close(fa);
    memset(&l, 0, sizeof(l));
    assert_int_equal(pfs_journal_list(c->dir, list_fn, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.live, 0);
}

static void test_open_errors(void **state)
{
    struct ctx *c = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/afile", c->dir);
    put_file(path, "x", 1);
    struct pfs_journal *j = (struct pfs_journal *)1;
    assert_int_equal(pfs_journal_open(&j, path), -ENOTDIR);
    assert_null(j);
    snprintf(path, sizeof(path), "%s/new/deeper", c->dir);
    assert_int_equal(pfs_journal_open(&j, path), -ENOENT);
    pfs_journal_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_and_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_locks_orphans_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

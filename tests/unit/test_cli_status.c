/* The status verb in-process: a journal made with pfs_journal_*, the text
 * and --json outputs, a mount point found through the runtime registry, and
 * the command-line errors. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli.h"
#include "journal.h"
#include "log.h"
#include "runtime.h"
#include "testutil.h"

static char *tmp;
static char cache[PATH_MAX], mnt[PATH_MAX];
static char *out_text, *err_text;

static int run(int argc, const char **argv)
{
    size_t on, en;
    free(out_text);
    free(err_text);
    FILE *out = open_memstream(&out_text, &on), *err = open_memstream(&err_text, &en);
    assert_non_null(out);
    assert_non_null(err);
    int status = pfs_cli_status(argc, (char **)argv, out, err);
    fclose(out);
    fclose(err);
    return status;
}

static int setup(void **state)
{
    (void)state;
    tmp = tu_mkdtemp();
    assert_non_null(tmp);
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
    assert_int_equal(mkdir(mnt, 0755), 0);
    char rt[PATH_MAX];
    snprintf(rt, sizeof(rt), "%s/rt", tmp);
    setenv("PRESIGNFS_RUNTIME_DIR", rt, 1);
    pfs_log_set_level(PFS_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp);
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

static void add(struct pfs_journal *j, const char *key, enum pfs_jstate st, uint64_t size,
                int64_t age, const char *error, int *keep_fd)
{
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(j, id, &fd), 0);
    struct pfs_jrec r;
    memset(&r, 0, sizeof(r));
    memcpy(r.id, id, sizeof(id));
    r.bucket = strdup("bkt");
    r.key = strdup(key);
    r.state = st;
    r.size = size;
    r.created = (int64_t)time(NULL) - age;
    r.error = error ? strdup(error) : NULL;
    r.attempts = error ? 2 : 0;
    assert_int_equal(pfs_journal_write(j, &r, fd, false), 0);
    pfs_jrec_cleanup(&r);
    if (keep_fd)
        *keep_fd = fd; /* the lock stays held: a live daemon */
    else
        close(fd);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_empty(void **state)
{
    (void)state;
    struct pfs_journal *j;
    assert_int_equal(pfs_journal_open(&j, cache), 0);
    const char *argv[] = {"status", cache};
    assert_int_equal(run(2, argv), PFS_EXIT_OK);
    assert_non_null(strstr(out_text, "nothing pending"));
    assert_int_equal(count_lines(out_text), 1);
    assert_string_equal(err_text, "");

    const char *jargv[] = {"status", "--json", cache};
    assert_int_equal(run(3, jargv), PFS_EXIT_OK);
    json_error_t jerr;
    json_t *doc = json_loads(out_text, 0, &jerr);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "entries")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "pending")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "failed")), 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "bytes")), 0);
    json_decref(doc);
    pfs_journal_free(j);
}

static void test_entries(void **state)
{
    (void)state;
    struct pfs_journal *j;
    assert_int_equal(pfs_journal_open(&j, cache), 0);
    int live_fd;
    add(j, "photos/a.jpg", PFS_J_CLOSED, 4u << 20, 7200, NULL, NULL);
    add(j, "photos/b.jpg", PFS_J_FAILED, 8u << 20, 90, "HTTP 403 AccessDenied", &live_fd);
    add(j, "raw/\xff\x1b[31m", PFS_J_OPEN, 0, 5, NULL, NULL);

    const char *argv[] = {"status", cache};
    assert_int_equal(run(2, argv), PFS_EXIT_OK);
    assert_string_equal(err_text, "");
    assert_int_equal(count_lines(out_text), 5); /* header, 3 entries, summary */
    assert_memory_equal(out_text, "STATE", 5);
    char *l1 = strchr(out_text, '\n') + 1; /* oldest first */
    assert_memory_equal(l1, "closed orphaned", 15);
    assert_non_null(strstr(l1, "4.0 MiB"));
    assert_non_null(strstr(l1, "2h  photos/a.jpg\n"));
    char *l2 = strchr(l1, '\n') + 1;
    assert_memory_equal(l2, "failed live", 11);
    assert_non_null(strstr(l2, "8.0 MiB"));
    assert_non_null(strstr(l2, "1m  photos/b.jpg  error: HTTP 403 AccessDenied (2 attempts)\n"));
    char *l3 = strchr(l2, '\n') + 1;
    assert_memory_equal(l3, "open orphaned", 13);
    assert_non_null(strstr(l3, "0 B"));
    assert_non_null(strstr(l3, "raw/\\xff\\x1b[31m\n")); /* no raw escape reaches a terminal */
    assert_null(strchr(out_text, 0x1b));
    assert_non_null(strstr(out_text, "\n3 files, 12.0 MiB, 1 failed\n"));

    /* --json, after the argument this time. */
    const char *jargv[] = {"status", cache, "--json"};
    assert_int_equal(run(3, jargv), PFS_EXIT_OK);
    json_error_t jerr;
    json_t *doc = json_loads(out_text, 0, &jerr);
    assert_non_null(doc);
    json_t *es = json_object_get(doc, "entries");
    assert_int_equal(json_array_size(es), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "pending")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "bytes")), 12u << 20);
    json_t *e0 = json_array_get(es, 0), *e1 = json_array_get(es, 1), *e2 = json_array_get(es, 2);
    assert_string_equal(json_string_value(json_object_get(e0, "key")), "photos/a.jpg");
    assert_string_equal(json_string_value(json_object_get(e0, "state")), "closed");
    assert_true(json_is_false(json_object_get(e0, "live")));
    assert_true(json_integer_value(json_object_get(e0, "age")) >= 7200);
    assert_true(json_is_null(json_object_get(e0, "error")));
    assert_true(json_is_true(json_object_get(e1, "live")));
    assert_string_equal(json_string_value(json_object_get(e1, "error")), "HTTP 403 AccessDenied");
    assert_int_equal(json_integer_value(json_object_get(e1, "size")), 8u << 20);
    assert_null(json_object_get(e2, "key"));
    assert_string_equal(json_string_value(json_object_get(e2, "key_hex")), "7261772fff1b5b33316d");
    assert_string_equal(json_string_value(json_object_get(e2, "bucket")), "bkt");
    json_decref(doc);

    /* A data file without a record shows up too. */
    char id[PFS_JOURNAL_ID_LEN];
    int fd;
    assert_int_equal(pfs_journal_create(j, id, &fd), 0);
    close(fd);
    assert_int_equal(run(2, argv), PFS_EXIT_OK);
    assert_non_null(strstr(out_text, "(no record: "));
    assert_non_null(strstr(out_text, "\n4 files, 12.0 MiB, 1 failed\n"));

    /* Through the mount point, once it is registered. */
    const char *margv[] = {"status", mnt};
    assert_int_equal(run(2, margv), PFS_EXIT_USAGE);
    assert_non_null(strstr(err_text, "neither"));
    assert_int_equal(count_lines(err_text), 1);
    assert_int_equal(pfs_runtime_register(mnt, cache), 0);
    assert_int_equal(run(2, margv), PFS_EXIT_OK);
    assert_non_null(strstr(out_text, "\n4 files, 12.0 MiB, 1 failed\n"));
    pfs_runtime_unregister(mnt);
    close(live_fd);
    pfs_journal_free(j);
}

static void test_usage_errors(void **state)
{
    (void)state;
    struct pfs_journal *j;
    assert_int_equal(pfs_journal_open(&j, cache), 0);
    pfs_journal_free(j);
    char missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/missing", tmp);
    struct {
        int argc;
        const char *argv[4];
        int status;
        const char *err;
    } cases[] = {
        {1, {"status"}, PFS_EXIT_USAGE, "expected"},
        {3, {"status", "--bogus", cache}, PFS_EXIT_USAGE, "unknown option '--bogus'"},
        {3, {"status", cache, "-x"}, PFS_EXIT_USAGE, "unknown option '-x'"},
        {3, {"status", cache, cache}, PFS_EXIT_USAGE, "expected one"},
        {2, {"status", missing}, PFS_EXIT_USAGE, "No such file or directory"},
        {2, {"status", tmp}, PFS_EXIT_USAGE, "neither"},
        {2, {"status", ""}, PFS_EXIT_USAGE, "expected"},
        {2, {"status", "--help"}, PFS_EXIT_OK, NULL},
        {3, {"status", "--", cache}, PFS_EXIT_OK, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = run(cases[i].argc, cases[i].argv);
        if (status != cases[i].status)
            fail_msg("case %zu: status %d, err %s", i, status, err_text);
        if (cases[i].err) {
            assert_non_null(strstr(err_text, cases[i].err));
            assert_int_equal(count_lines(err_text), 1);
            assert_string_equal(out_text, "");
        }
    }
    const char *hargv[] = {"status", "-h"};
    assert_int_equal(run(2, hargv), PFS_EXIT_OK);
    assert_non_null(strstr(out_text, "Usage: presignfs status"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* s3fs-compatible attribute metadata: the formats s3fs 1.90 writes (checked by
 * hand against it), round trips, and malformed values ignored. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "meta.h"

static void test_parse_s3fs_values(void **state)
{
    (void)state;
    struct pfs_meta_kv kv[] = {{"mode", "33184"}, {"uid", "1000"},
                               {"gid", "100"},    {"mtime", "981173106.500000000"},
                               {"atime", "1"},    {"other", "x"}};
    struct pfs_objmeta m;
    pfs_meta_parse(&m, kv, 6);
    assert_true(m.has_mode && m.has_uid && m.has_gid && m.has_mtime);
    assert_int_equal(m.mode, S_IFREG | 0640);
    assert_int_equal(m.uid, 1000);
    assert_int_equal(m.gid, 100);
    assert_int_equal(m.mtime, 981173106);
    assert_int_equal(m.mtime_ns, 500000000);
    struct pfs_meta_kv dir[] = {{"Mode", "16832"}, {"MTIME", "1012709106"}};
    pfs_meta_parse(&m, dir, 2);
    assert_int_equal(m.mode, S_IFDIR | 0700);
    assert_int_equal(m.mtime_ns, 0);
    struct pfs_meta_kv link[] = {{"mode", "41471"}};
    pfs_meta_parse(&m, link, 1);
    assert_true(S_ISLNK(m.mode));
}

static void test_malformed_ignored(void **state)
{
    (void)state;
    struct pfs_meta_kv kv[] = {{"mode", "-1"},    {"uid", "12abc"},   {"gid", "99999999999"},
                               {"mtime", "soon"}, {"ctime", "later"}, {"rdev", "-3"}};
    struct pfs_objmeta m;
    pfs_meta_parse(&m, kv, 6);
    assert_false(m.has_ctime || m.has_rdev);
    assert_false(m.has_mode || m.has_uid || m.has_gid || m.has_mtime);
    int64_t s;
    uint32_t ns;
    assert_int_equal(pfs_meta_parse_time(&s, &ns, "12.5"), 0);
    assert_int_equal(ns, 500000000);
    assert_int_equal(pfs_meta_parse_time(&s, &ns, "12.1234567891"), 0); /* cut to ns */
    assert_int_equal(ns, 123456789);
    assert_int_equal(pfs_meta_parse_time(&s, &ns, "12."), -EINVAL);
    assert_int_equal(pfs_meta_parse_time(&s, &ns, ".5"), -EINVAL);
    assert_int_equal(pfs_meta_parse_time(&s, &ns, ""), -EINVAL);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    struct pfs_objmeta m = {.has_mode = true,
                            .has_uid = true,
                            .has_gid = true,
                            .has_mtime = true,
                            .mode = S_IFREG | 0604,
                            .uid = 0,
                            .gid = 4,
                            .mtime = 1355314332,
                            .mtime_ns = 123};
    struct pfs_meta_out out;
    size_t n = pfs_meta_format(&out, &m);
    assert_int_equal(n, 6);
    assert_string_equal(out.kv[0].name, "mode");
    assert_string_equal(out.kv[0].value, "33156");
    assert_string_equal(out.kv[3].name, "mtime");
    assert_string_equal(out.kv[3].value, "1355314332.000000123");
    struct pfs_meta_kv back[6];
    for (size_t i = 0; i < n; i++)
        back[i] = (struct pfs_meta_kv){(char *)out.kv[i].name, (char *)out.kv[i].value};
    struct pfs_objmeta r;
    pfs_meta_parse(&r, back, n);
    assert_int_equal(r.mode, m.mode);
    assert_int_equal(r.gid, 4);
    assert_int_equal(r.mtime, m.mtime);
    assert_int_equal(r.mtime_ns, 123);
    m.mtime_ns = 0;
    pfs_meta_format(&out, &m);
    assert_string_equal(out.kv[3].value, "1355314332"); /* whole seconds as s3fs writes them */
}

/* Issue 11, finding 3: the octal form other tools write ("0100644", the TOS
 * spec's example) is octal, not decimal; its setuid/setgid bits are not
 * taken over. Decimal (s3fs, ours) is unchanged. */
static void test_parse_octal_mode(void **state)
{
    (void)state;
    struct pfs_objmeta m;
    struct pfs_meta_kv reg[] = {{"mode", "0100644"}};
    pfs_meta_parse(&m, reg, 1);
    assert_true(m.has_mode);
    assert_int_equal(m.mode, S_IFREG | 0644);
    assert_false(m.mode_suid_dropped);
    struct pfs_meta_kv dir[] = {{"Mode", "040755"}};
    pfs_meta_parse(&m, dir, 1);
    assert_int_equal(m.mode, S_IFDIR | 0755);
    struct pfs_meta_kv suid[] = {{"mode", "0106755"}};
    pfs_meta_parse(&m, suid, 1);
    assert_int_equal(m.mode, S_IFREG | 0755);
    assert_true(m.mode_suid_dropped);
    struct pfs_meta_kv sticky[] = {{"mode", "041777"}};
    pfs_meta_parse(&m, sticky, 1);
    assert_int_equal(m.mode, S_IFDIR | 01777);
    struct pfs_meta_kv dec[] = {{"mode", "35309"}}; /* decimal 0104755: ours, kept */
    pfs_meta_parse(&m, dec, 1);
    assert_int_equal(m.mode, S_IFREG | S_ISUID | 0755);
    assert_false(m.mode_suid_dropped);
    struct pfs_meta_kv zero[] = {{"mode", "0"}};
    pfs_meta_parse(&m, zero, 1);
    assert_true(m.has_mode);
    assert_int_equal(m.mode, 0);
    static const char *const bad[] = {"0100648", "0x81a4", "00", "01000000000000", "0 644"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pfs_meta_kv kv[] = {{"mode", (char *)bad[i]}};
        pfs_meta_parse(&m, kv, 1);
        if (strcmp(bad[i], "00") == 0) {
            assert_true(m.has_mode); /* octal zero */
            assert_int_equal(m.mode, 0);
        } else {
            assert_false(m.has_mode);
        }
    }
}

/* Issue 11: special files as s3fs stores them (the type in mode, rdev for
 * devices), a type nobody knows shown as a regular file, ctime of its own. */
static void test_special_files_and_ctime(void **state)
{
    (void)state;
    struct pfs_objmeta m;
    struct pfs_meta_kv fifo[] = {{"mode", "4516"}}; /* S_IFIFO|0644 */
    pfs_meta_parse(&m, fifo, 1);
    assert_int_equal(m.mode, S_IFIFO | 0644);
    struct pfs_meta_kv chr[] = {{"mode", "8630"}, {"rdev", "259"}}; /* S_IFCHR|0666, 1:3 */
    pfs_meta_parse(&m, chr, 2);
    assert_int_equal(m.mode, S_IFCHR | 0666);
    assert_true(m.has_rdev);
    assert_int_equal(m.rdev, 259);
    struct pfs_meta_kv sock[] = {{"mode", "0140755"}};
    pfs_meta_parse(&m, sock, 1);
    assert_int_equal(m.mode, S_IFSOCK | 0755);
    struct pfs_meta_kv odd[] = {{"mode", "0110640"}}; /* no such type */
    pfs_meta_parse(&m, odd, 1);
    assert_true(m.has_mode);
    assert_int_equal(m.mode, S_IFREG | 0640);
    assert_false(m.dir_type);
    struct pfs_meta_kv dir[] = {{"mode", "16877"}};
    pfs_meta_parse(&m, dir, 1);
    assert_true(m.dir_type);

    struct pfs_meta_kv t[] = {{"mtime", "1000000000"}, {"ctime", "1700000000.25"}};
    pfs_meta_parse(&m, t, 2);
    assert_true(m.has_ctime);
    assert_int_equal(m.ctime, 1700000000);
    assert_int_equal(m.ctime_ns, 250000000);
    assert_int_equal(m.mtime, 1000000000);

    struct pfs_objmeta w = {.has_mode = true,
                            .has_mtime = true,
                            .has_ctime = true,
                            .has_rdev = true,
                            .mode = S_IFBLK | 0600,
                            .mtime = 5,
                            .ctime = 7,
                            .rdev = 2049};
    struct pfs_meta_out out;
    size_t n = pfs_meta_format(&out, &w);
    assert_int_equal(n, 5);
    assert_string_equal(out.kv[1].name, "mtime");
    assert_string_equal(out.kv[1].value, "5");
    assert_string_equal(out.kv[3].name, "ctime");
    assert_string_equal(out.kv[3].value, "7");
    assert_string_equal(out.kv[4].name, "rdev");
    assert_string_equal(out.kv[4].value, "2049");
}

static void test_dir_content_types(void **state)
{
    (void)state;
    assert_true(pfs_meta_dir_content_type("application/x-directory"));
    assert_true(pfs_meta_dir_content_type("application/x-directory; charset=UTF-8"));
    assert_true(pfs_meta_dir_content_type("httpd/unix-directory"));
    assert_false(pfs_meta_dir_content_type("application/x-directoryx"));
    assert_false(pfs_meta_dir_content_type("text/plain"));
    assert_false(pfs_meta_dir_content_type(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_s3fs_values),       cmocka_unit_test(test_malformed_ignored),
        cmocka_unit_test(test_special_files_and_ctime), cmocka_unit_test(test_dir_content_types),
        cmocka_unit_test(test_format_round_trip),       cmocka_unit_test(test_parse_octal_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

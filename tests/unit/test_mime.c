/* Content types from extensions (src/mime.c): the system's mime.types format,
 * first line wins, case, the fallback, the built-in table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mime.h"

static char *write_types(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/pfs-mime-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_mime_types_file(void **state)
{
    (void)state;
    char *path = write_types("# comment line\n"
                             "application/pdf\t\t\t\tpdf\n"
                             "image/jpeg jpeg jpg jpe # trailing comment\n"
                             "text/plain txt asc\n"
                             "text/x-other txt\n" /* a later line for txt loses */
                             "notatype foo\n"
                             "\n"
                             "application/x-empty\n");
    struct pfs_mime *m;
    assert_int_equal(pfs_mime_new(&m, path, "application/octet-stream"), 0);
    unlink(path);
    assert_int_equal(pfs_mime_count(m), 6);
    assert_string_equal(pfs_mime_for_key(m, "docs/report.pdf"), "application/pdf");
    assert_string_equal(pfs_mime_for_key(m, "a/b/IMG_1.JPG"), "image/jpeg");
    assert_string_equal(pfs_mime_for_key(m, "x.jpe"), "image/jpeg");
    assert_string_equal(pfs_mime_for_key(m, "notes.txt"), "text/plain");
    /* unknown, none, a dot file, a dot in a directory name: the fallback */
    assert_string_equal(pfs_mime_for_key(m, "a.foo"), "application/octet-stream");
    assert_string_equal(pfs_mime_for_key(m, "Makefile"), "application/octet-stream");
    assert_string_equal(pfs_mime_for_key(m, "dir/.pdf"), "application/octet-stream");
    assert_string_equal(pfs_mime_for_key(m, "v1.pdf/readme"), "application/octet-stream");
    assert_string_equal(pfs_mime_for_key(m, "trailing."), "application/octet-stream");
    pfs_mime_free(m);
}

static void test_builtin_and_no_fallback(void **state)
{
    (void)state;
    struct pfs_mime *m;
    assert_int_equal(pfs_mime_new(&m, "/nonexistent/mime.types", NULL), 0);
    assert_true(pfs_mime_count(m) > 10);
    assert_string_equal(pfs_mime_for_key(m, "photo.jpg"), "image/jpeg");
    assert_string_equal(pfs_mime_for_key(m, "r.PDF"), "application/pdf");
    assert_null(pfs_mime_for_key(m, "blob.unknownext"));
    pfs_mime_free(m);
    assert_null(pfs_mime_for_key(NULL, "a.pdf"));
    pfs_mime_free(NULL);
}

static void test_system_file(void **state)
{
    (void)state;
    if (access("/etc/mime.types", R_OK) != 0)
        skip();
    struct pfs_mime *m;
    assert_int_equal(pfs_mime_new(&m, NULL, "application/octet-stream"), 0);
    assert_true(pfs_mime_count(m) > 100);
    assert_string_equal(pfs_mime_for_key(m, "a.pdf"), "application/pdf");
    assert_string_equal(pfs_mime_for_key(m, "a.png"), "image/png");
    pfs_mime_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mime_types_file),
        cmocka_unit_test(test_builtin_and_no_fallback),
        cmocka_unit_test(test_system_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

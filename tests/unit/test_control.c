/* The control socket without a daemon: mode 0600, one JSON answer per
 * connection, a stale socket replaced, anything else refused, and the
 * client's errors for a missing socket and one nobody serves. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "testutil.h"

static int calls;

static void collect(void *ctx, struct pfs_metrics *out)
{
    (void)ctx;
    calls++;
    out->s.req[PFS_REQ_PUT].ok = 10;
    out->s.req[PFS_REQ_HEAD].failed = 2;
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[256];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    int fd = pfs_control_listen(path);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    struct pfs_control *c = NULL;
    assert_int_equal(pfs_control_start(&c, fd, path, collect, NULL), 0);
    calls = 0;
    for (int round = 0; round < 2; round++) {
        struct pfs_buf b;
        pfs_buf_init(&b);
        assert_int_equal(pfs_control_fetch(path, &b, 5000), 0);
        json_error_t err;
        json_t *j = json_loadb(b.data, b.len, 0, &err);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "requests"), "PUT")),
                         10);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(j, "requests"), "HEAD")), 2);
        assert_int_equal(b.data[b.len - 1], '\n');
        json_decref(j);
        pfs_buf_cleanup(&b);
    }
    assert_int_equal(calls, 2); /* a snapshot per connection */
    pfs_control_free(c);
    assert_int_equal(lstat(path, &st), -1); /* removed */

    struct pfs_buf b;
    pfs_buf_init(&b);
    assert_int_equal(pfs_control_fetch(path, &b, 1000), -ENOENT);

    /* A socket left by a daemon killed with -9: nobody listens... */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(a.sun_path));
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof(a)), 0);
    close(stale);
    assert_int_equal(pfs_control_fetch(path, &b, 1000), -ECONNREFUSED);
    /* ...and the next daemon replaces it. */
    fd = pfs_control_listen(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);

    /* Anything but a socket stays. */
    tu_write(dir, "c.sock", "mine", 0600);
    assert_int_equal(pfs_control_listen(path), -EEXIST);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    pfs_buf_cleanup(&b);
    tu_rmtree(dir);
}

/* A server that accepts but never answers: the client gives up in time. */
static void test_fetch_times_out(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char path[256];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    int fd = pfs_control_listen(path); /* listening, never accepted */
    assert_true(fd >= 0);
    struct pfs_buf b;
    pfs_buf_init(&b);
    assert_int_equal(pfs_control_fetch(path, &b, 200), -ETIMEDOUT);
    pfs_buf_cleanup(&b);
    close(fd);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fetch_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The two time formats stores send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "timefmt.h"

static void test_iso8601(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(pfs_time_parse_iso8601(&t, "2024-01-15T08:30:00.000Z"), 0);
    assert_int_equal(t, 1705307400);
    assert_int_equal(pfs_time_parse_iso8601(&t, "2024-01-15T08:30:00Z"), 0);
    assert_int_equal(t, 1705307400);
    const char *bad[] = {"",
                         "2024-01-15",
                         "2024-01-15T08:30:00",
                         "2024-01-15T08:30:00+01:00",
                         "2024-13-15T08:30:00Z",
                         "x024-01-15T08:30:00Z",
                         "2024-01-15T08:30:00.Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pfs_time_parse_iso8601(&t, bad[i]), -EINVAL);
}

static void test_http_date(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(pfs_time_parse_http(&t, "Mon, 15 Jan 2024 08:30:00 GMT"), 0);
    assert_int_equal(t, 1705307400);
    const char *bad[] = {"", "Mon, 15 Jan 2024 08:30:00 UTC", "Mon, 15 Foo 2024 08:30:00 GMT",
                         "Mon 15 Jan 2024 08:30:00 GMT", "Mon, 15 Jan 2024 08:30 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pfs_time_parse_http(&t, bad[i]), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_http_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Time parsing (see timefmt.h). */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int to_unix(int64_t *out, int y, int mo, int d, int h, int mi, int sec)
{
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -EINVAL;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = (int64_t)t;
    return 0;
}

int pfs_time_parse_iso8601(int64_t *out, const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS[.fff]Z */
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -EINVAL;
    const char *tail = s + 19;
    if (*tail == '.') {
        tail++;
        while (isdigit((unsigned char)*tail))
            tail++;
    }
    if ((*tail != 'Z' && *tail != 'z') || tail[1] != '\0')
        return -EINVAL;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
        mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0)
        return -EINVAL;
    return to_unix(out, y, mo, d, h, mi, sec);
}

int pfs_time_parse_http(int64_t *out, const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* "Mon, 15 Jan 2024 08:30:00 GMT" */
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
        return -EINVAL;
    int mo = 0;
    while (mo < 12 && strncasecmp(months + 3 * mo, s + 8, 3) != 0)
        mo++;
    int d = digits(s + 5, 2), y = digits(s + 12, 4), h = digits(s + 17, 2), mi = digits(s + 20, 2),
        sec = digits(s + 23, 2);
    if (mo == 12 || d < 0 || y < 0 || h < 0 || mi < 0 || sec < 0)
        return -EINVAL;
    return to_unix(out, y, mo + 1, d, h, mi, sec);
}

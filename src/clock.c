/* Wall clock (see clock.h). */
#include "clock.h"

#include <time.h>

static int64_t realtime_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

const struct pfs_clock pfs_clock_realtime = {realtime_now, NULL};

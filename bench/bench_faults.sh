#!/bin/bash
# The fault scenarios of tests/fuse/test_faults.sh at the issue's full size
# (issue 10): 300 files of 4 KiB..1 MiB plus one 128 MiB file per mode, a
# 60 s blackout. CI runs them scaled down; this prints the same summary
# table (per mode: objects intact, missing, corrupt, extra in the bucket,
# the read-back under faults, application errors, faults injected) and the
# time of each mode. Minutes, not seconds: run it on a quiet machine. The
# stall mode abandons a request after 5 s without progress or 10 s in all
# (PFS_STALL_OPTS), since completing a 128 MiB upload takes the test server
# seconds; CI uses 1 s for its 12 MiB file.
# Usage: bench/bench_faults.sh BUILD_DIR [FILES] [BIG_MIB] [BLACKOUT_S]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/server/with-server.sh" --bucket bench -- \
    env PFS_BIN="$build/presignfs" BUCKET=bench PFS_FAULT_FILES="${2:-300}" \
    PFS_FAULT_BIG_MIB="${3:-128}" PFS_BLACKOUT_S="${4:-60}" \
    PFS_STALL_OPTS="${PFS_STALL_OPTS:-low_speed_time=5,request_timeout=10}" \
    "$here/../tests/fuse/test_faults.sh"

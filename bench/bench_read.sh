#!/bin/bash
# Read-path benchmark of issue 9, beside curl(1) on a presigned URL against
# the same local test server in the same run: MiB (default 512) read cold
# (a fresh mount each run, so neither the kernel's page cache nor read-ahead
# left from the last run helps) with cat, beside one curl GET of the same
# object. Also the ranged GETs the mount sent for one read and the daemon's
# peak RSS. Pairs alternate (mount, curl, ...) after one warm-up pair that is
# not counted; figures are medians, the ratio the median of per-pair ratios.
# It measures and never judges: it fails only on wrong bytes.
#
# DATA_CACHE=1: every mount uses one data_cache directory (in the run's
# work directory, removed at exit), so the warm-up read fills it and each
# counted read is a second read, in a new mount, from the data cache.
# DATA_CACHE=cold: a fresh data_cache for every mount, so each counted read
# is a first read that fills the cache (what turning it on costs).
#
# Usage: bench/bench_read.sh BUILD_DIR [MiB] [EXTRA_MOUNT_OPTS]
# Environment: RUNS (counted pairs, default 5), DATA_CACHE (0, 1 or cold).
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_read.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_read.sh" "$build" "${2:-512}" "${3:-}"
fi

build=$1 mib=$2 extra=$3 runs=${RUNS:-5}
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
store="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
work=$(mktemp -d /tmp/pfs-rbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
daemon_pid=
if [ "${DATA_CACHE:-0}" != 0 ]; then
    extra="data_cache=$work/dcache${extra:+,$extra}"
fi

cleanup() {
    stop_mount
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench_read.sh: $*" >&2; exit 1; }
now_us() { echo "${EPOCHREALTIME/./}"; }
presign() { "$build/presignfs" presign -o "$store" "$@"; }
gets() {
    # The server leaves out classes it counted none of (a read from the
    # data cache makes no GET at all).
    curl -sf "$PFS_TEST_CONTROL/counts" | { grep -o '"get\(_range\)\?":[0-9]*' || true; } |
        cut -d: -f2 | awk '{ n += $1 } END { print n + 0 }'
}

. "$(dirname "$0")/mount_fs.sh"
umount_fs() {
    hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || die "the daemon exited with status $?"
    daemon_pid=
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
col() { cut -d' ' -f"$1" "$work/runs" | median; }

dd if=/dev/urandom of="$work/src" bs=1M count="$mib" status=none
curl -sf -T "$work/src" -o /dev/null "$(presign -X PUT bench big)" || die "upload failed"
sum=$(md5sum <"$work/src")
get=$(presign bench big)
echo "== presignfs ${extra:+-o $extra }against $PFS_TEST_ENDPOINT; $mib MiB; $runs pairs after 1 warm-up, $(nproc) cores"
for i in $(seq 0 "$runs"); do
    [ "${DATA_CACHE:-0}" = cold ] && rm -rf "$work/dcache"
    mount_fs
    stat "$mnt/big" >/dev/null
    curl -sf -X POST -o /dev/null "$PFS_TEST_CONTROL/reset"
    t0=$(now_us)
    s=$(cat "$mnt/big" | md5sum)
    t1=$(now_us)
    n=$(gets)
    umount_fs
    [ "$s" = "$sum" ] || die "the mount read other bytes than were stored"
    t2=$(now_us)
    s=$(curl -sf "$get" | md5sum)
    t3=$(now_us)
    [ "$s" = "$sum" ] || die "curl read other bytes than were stored"
    [ "$i" = 0 ] && continue
    echo "$mib $t0 $t1 $t2 $t3 $n $hwm_kib" | awk '{ a = ($3 - $2) / 1e6; b = ($5 - $4) / 1e6
        printf "%.3f %.3f %.0f %.0f %.3f %d %d\n", a, b, $1 * 1.048576 / a, $1 * 1.048576 / b, b / a, $6, $7 / 1024 }' \
        >>"$work/runs"
    echo "  run $i: $(tail -n1 "$work/runs")"
done
echo "cold sequential read (cat | md5sum) vs curl GET | md5sum, medians:"
echo "  presignfs $(col 3) MB/s, curl $(col 4) MB/s, ratio per pair $(col 5)"
echo "  GETs per read $(col 6); daemon peak RSS $(col 7) MiB"

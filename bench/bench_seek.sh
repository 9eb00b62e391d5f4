#!/bin/bash
# What a reader that jumps about waits for (issue 9): a media player seeking,
# restic reading blobs out of packs. Through the fault proxy pacing every
# response body at RATE MiB/s (default 50: one connection to a real store,
# where the local test server alone gives hundreds), a fresh mount reads a
# MiB-sized object (default 256) in SEEKS jumps (default 40) to seeded random
# offsets, each followed by READS reads of 128 KiB (default 4), every byte
# checked (bench/seek_reads.py). Beside it in the same run, curl fetches the
# same bytes after each jump as one ranged GET through the same proxy.
# Reports medians over RUNS alternated rounds (default 3, after one warm-up)
# of the per-round medians, in ms: the first read after a jump, the second
# (it meets the read-ahead window's first chunk), the whole run of reads, and
# curl's GET of the same bytes. It measures and never judges.
#
# Usage: bench/bench_seek.sh BUILD_DIR [MiB]
# Environment: RUNS, SEEKS, READS, RATE.
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_seek.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_seek.sh" "$build" "${2:-256}"
fi

build=$1 mib=$2 runs=${RUNS:-3} seeks=${SEEKS:-40} reads=${READS:-4} rate=${RATE:-50} extra=
here=$(cd "$(dirname "$0")" && pwd)
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
work=$(mktemp -d /tmp/pfs-seekbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
daemon_pid= proxy_pid=
die() { echo "bench_seek.sh: $*" >&2; exit 1; }
. "$here/mount_fs.sh"
cleanup() {
    stop_mount
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

node "$here/../tests/server/faultproxy.js" --upstream "${PFS_TEST_ENDPOINT#http://}" \
    --ready "$work/proxy.ready" --parent $$ --config "{\"rate_mib_s\": $rate}" \
    </dev/null >>"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do [ -s "$work/proxy.ready" ] && break; sleep 0.1; done
[ -s "$work/proxy.ready" ] || die "the fault proxy did not start: $(cat "$work/proxy.log")"
proxy=http://127.0.0.1:$(cat "$work/proxy.ready")
store="dialect=s3,endpoint=$proxy,region=us-east-1"
presign() { "$build/presignfs" presign -o "$store" "$@"; }

dd if=/dev/urandom of="$work/src" bs=1M count="$mib" status=none
curl -sf -T "$work/src" -o /dev/null "$(presign -X PUT bench obj)" || die "upload failed"
get=$(presign bench obj)
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# curl_round SEED: curl's median over the same jumps (seek_reads.py's
# offsets: the same generator and seed) of one GET of each run's bytes.
curl_round() {
    python3 - "$1" "$mib" "$seeks" "$reads" <<'PY' | while read -r a z; do
import random, sys
seed, mib, seeks, reads = (int(x) for x in sys.argv[1:])
size, rng = mib << 20, random.Random(seed)
for _ in range(seeks):
    off = rng.randrange(0, (size - reads * 131072) // 4096) * 4096
    print(off, off + reads * 131072 - 1)
PY
        curl -sf -r "$a-$z" -o /dev/null -w '%{time_total}\n' "$get" || die "curl failed"
    done | awk '{ print $1 * 1000 }' | median
}

echo "== presignfs against $PFS_TEST_ENDPOINT through a proxy pacing bodies at $rate MiB/s; $mib MiB, $seeks jumps of $reads x 128 KiB; $runs rounds after 1 warm-up"
for i in $(seq 0 "$runs"); do
    mount_fs
    m=$(python3 "$here/seek_reads.py" "$mnt/obj" "$work/src" "$seeks" "$reads" "$i") || die "the reads failed"
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || die "the daemon exited with status $?"
    daemon_pid=
    c=$(curl_round "$i")
    [ "$i" = 0 ] && continue
    echo "$m $c" >>"$work/runs"
    echo "  round $i: first $(echo "$m" | cut -d' ' -f1) ms, second $(echo "$m" | cut -d' ' -f2) ms, all $reads $(echo "$m" | cut -d' ' -f3) ms; curl $c ms"
done
col() { cut -d' ' -f"$1" "$work/runs" | median; }
echo "medians: first read after a jump $(col 1) ms, second $(col 2) ms, all $reads reads $(col 3) ms; curl GET of the same bytes $(col 4) ms"

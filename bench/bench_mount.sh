#!/bin/bash
# Throughput of a 512 MiB file through the mount (dd in, read back after a
# remount) beside curl(1) moving the same bytes with presigned URLs, against
# the local test server. Usage: bench/bench_mount.sh BUILD_DIR [MiB]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
mib=${2:-512}
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/server/with-server.sh" --bucket bench -- bash -c '
set -euo pipefail
build=$1 mib=$2
work=$(mktemp -d /tmp/pfs-bench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() { fusermount3 -uz "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
o="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
now() { date +%s.%N; }
rate() { echo "scale=1; $mib / ($2 - $1)" | bc; }
dd if=/dev/urandom of="$work/src" bs=1M count=$mib status=none

"$build/presignfs" -o "$o,cache_dir=$work/cache" bench "$mnt"
t0=$(now); dd if="$work/src" of="$mnt/obj" bs=1M status=none; t1=$(now)
fusermount3 -u "$mnt"; sleep 1
"$build/presignfs" -o "$o,cache_dir=$work/cache" bench "$mnt"
t2=$(now); cat "$mnt/obj" >"$work/back"; t3=$(now)
fusermount3 -u "$mnt"
cmp -s "$work/src" "$work/back" || { echo "MISMATCH"; exit 1; }
echo "presignfs: write $(rate $t0 $t1) MB/s, read $(rate $t2 $t3) MB/s ($mib MiB, dd bs=1M / cat)"

put=$("$build/presignfs" presign -o "$o" -X PUT bench curl-obj)
get=$("$build/presignfs" presign -o "$o" bench curl-obj)
t0=$(now); curl -sf -T "$work/src" "$put" -o /dev/null; t1=$(now)
t2=$(now); curl -sf "$get" -o "$work/back2"; t3=$(now)
cmp -s "$work/src" "$work/back2" || { echo "MISMATCH (curl)"; exit 1; }
echo "curl(1):   write $(rate $t0 $t1) MB/s, read $(rate $t2 $t3) MB/s (one PUT, one GET)"
' _ "$build" "$mib"

#!/bin/bash
# Wall time of the backup workflows through presignfs beside s3fs, same
# machine, same local test server, same data. Usage: bench/bench_backup.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/server/with-server.sh" --bucket bench -- bash -c '
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/pfs-bbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() { fusermount3 -uz "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER RESTIC_PASSWORD=bench
echo "S3RVER:S3RVER" >"$work/pass"; chmod 600 "$work/pass"
src=$work/src
mkdir -p "$src/d1/d2" "$src/d3"
for i in $(seq 200); do
    n=$((1024 + (i * 7919) % 65536)); [ $((i % 10)) = 0 ] && n=$((1 << 20))
    case $((i % 3)) in 0) d=d1 ;; 1) d=d1/d2 ;; *) d=d3 ;; esac
    head -c $n /dev/urandom >"$src/$d/f$i"
done
mkdir -p "$work/mvsrc"; for i in $(seq 200); do echo $i >"$work/mvsrc/f$i"; done
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || echo "FAILED:$1" >&2; e=$(date +%s.%N); printf "%6.2f" "$(echo "$e - $s" | bc)"; }
mount_presignfs() {
    "$build/presignfs" -o "dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1,cache_dir=$work/cache" bench "$mnt"
}
mount_s3fs() {
    s3fs bench "$mnt" -o "passwd_file=$work/pass,url=$PFS_TEST_ENDPOINT,use_path_request_style,sigv4,endpoint=us-east-1"
    for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
}
remount() { fusermount3 -u "$mnt"; sleep 1; "mount_$1"; }
run() {
    local name=$1 p=$2
    "mount_$name"
    mkdir -p "$mnt/$p"
    printf "%-10s" "$name"
    printf "  rsync#1 %s" "$(t rsync -a "$src/" "$mnt/$p/rs/")"
    remount "$name" # the second run starts with cold caches, as a nightly backup would
    printf "  rsync#2 %s" "$(t rsync -a "$src/" "$mnt/$p/rs/")"
    printf "  tar-cf %s" "$(t tar cf "$mnt/$p/a.tar" -C "$src" .)"
    mkdir -p "$work/x-$p"
    printf "  tar-xf %s" "$(t tar xf "$mnt/$p/a.tar" -C "$work/x-$p")"
    printf "  cp-a %s" "$(t cp -a "$src" "$mnt/$p/cpa")"
    cp -r "$work/mvsrc" "$mnt/$p/mv1"
    printf "  mv-200 %s" "$(t mv "$mnt/$p/mv1" "$mnt/$p/mv2")"
    printf "  restic-init+backup %s" "$(t sh -c "restic -q init -r $mnt/$p/restic && restic -q -r $mnt/$p/restic backup $src")"
    echo
}
run presignfs p
fusermount3 -u "$mnt"; sleep 1
run s3fs s
fusermount3 -u "$mnt"
echo "(seconds; 200 files, 1 KiB..1 MiB, 3 directories; local s3rver; rsync#2 after a remount transfers nothing)"
' _ "$build"

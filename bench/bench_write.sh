#!/bin/bash
# Write-path benchmarks of issue 8, each beside curl(1) on presigned URLs
# against the same local test server in the same run:
#   big    MiB (default 512) written with dd into the mount until durable,
#          beside one curl PUT of the same file;
#   small  cp -r of FILES (default 1000) 4 KiB files into the mount until
#          durable, beside FILES sequential curl PUTs on one connection;
#   rss    the daemon's peak RSS over the big writes, beside the target
#          48 MiB + max_inflight x part_size.
# Runs are alternated (mount, curl, mount, curl, ...) after one warm-up pair
# that is not counted, and each figure is the MEDIAN over the runs, the ratio
# the median of the per-pair ratios: pairing keeps a ratio meaningful when
# the machine's speed drifts during the run. It measures and never judges:
# nothing here fails on a slow figure, only on wrong bytes or a broken mount.
#
# Usage: bench/bench_write.sh BUILD_DIR [MiB] [EXTRA_MOUNT_OPTS]
#   EXTRA_MOUNT_OPTS is appended to the mount's -o as given (for example
#   upload=async or max_inflight=8,part_size=16M); the RSS target follows
#   max_inflight and part_size from it.
# Environment: RUNS (counted pairs per benchmark, default 5), FILES (default
#   1000), WHICH (all, big or small; default all).
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_write.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    # Re-run this script under a fresh test server, which with-server.sh stops
    # by its PID however we end.
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_write.sh" "$build" "${2:-512}" "${3:-}"
fi

build=$1 mib=$2 extra=$3
runs=${RUNS:-5} files=${FILES:-1000} which=${WHICH:-all}
case $which in all | big | small) ;; *) echo "bench_write.sh: WHICH must be all, big or small" >&2; exit 2 ;; esac
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
store="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
work=$(mktemp -d /tmp/pfs-wbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt" "$work/out"
daemon_pid=

cleanup() {
    stop_mount
    if [ "${keep_log:-}" = 1 ] && [ -s "$work/daemon.log" ]; then
        echo "--- daemon log (last 20 lines)" >&2
        tail -n 20 "$work/daemon.log" >&2
    fi
    rm -rf "$work"
}
trap 'keep_log=1' ERR
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench_write.sh: $*" >&2; keep_log=1; exit 1; }
now_us() { echo "${EPOCHREALTIME/./}"; } # bash 5: microseconds, no fork
presign() { "$build/presignfs" presign -o "$store" "$@"; }
# The test server counts requests by class: what the mount sent for one run
# (curl sends one request per object) says where its time goes.
counts_reset() { curl -sf -X POST -o /dev/null "$PFS_TEST_CONTROL/reset"; }
counts() { curl -sf "$PFS_TEST_CONTROL/counts" | tr -d '{}"' | sed 's/,/, /g; s/:/ /g'; }

. "$(dirname "$0")/mount_fs.sh"
. "$(dirname "$0")/curl_puts.sh"
umount_fs() {
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || die "the daemon exited with status $?"
    daemon_pid=
}

# median FILE: the median of the numbers in FILE, one a line, then (min..max).
median() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s %s %s\n", m, v[1], v[NR] }'
}
fmt() { read -r m lo hi < <(median "$1"); printf "%.${2}f (%.${2}f..%.${2}f)" "$m" "$lo" "$hi"; }
med() { median "$1" | cut -d' ' -f1; }

# bytes VALUE: a size as presignfs reads it (8M, 16MiB, 1G, 1048576).
bytes() {
    [[ $1 =~ ^([0-9]+)([KkMmGgTt]?)(i?[Bb])?$ ]] || die "cannot read the size '$1'"
    local n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]^^}
    case $u in K) n=$((n << 10)) ;; M) n=$((n << 20)) ;; G) n=$((n << 30)) ;; T) n=$((n << 40)) ;; esac
    echo "$n"
}
# opt NAME: the value NAME has in this mount: the last NAME= of the extra
# options, else the default the binary under test prints in --help (so the
# target follows the code, not a number copied here).
opt() {
    local v="" kv
    IFS=, read -ra kvs <<<"$extra"
    for kv in "${kvs[@]}"; do [ "${kv%%=*}" = "$1" ] && v=${kv#*=}; done
    [ -n "$v" ] || v=$("$build/presignfs" --help | sed -n "s/^  $1 .*default \([0-9A-Za-z]*\).*/\1/p")
    [ -n "$v" ] || die "no default for $1 in presignfs --help"
    echo "$v"
}

echo "== presignfs ${extra:+-o $extra }against $PFS_TEST_ENDPOINT; $runs counted pairs after 1 warm-up, $(nproc) cores"
big_row="" small_row="" rss_row=""

if [ "$which" != small ]; then
    dd if=/dev/urandom of="$work/src" bs=1M count="$mib" status=none
    mount_fs
    for i in $(seq 0 "$runs"); do
        # A: dd until durable. conv=fsync makes dd fsync before its close, and
        # close itself (FUSE flush) returns only once the object is stored, so
        # dd's exit is the moment the bytes are in the store. A new key each
        # run: every run is the same create, not an overwrite of the last.
        [ "$i" = 1 ] && counts_reset
        t0=$(now_us)
        dd if="$work/src" of="$mnt/big-$i" bs=1M conv=fsync status=none
        t1=$(now_us)
        [ "$i" = 1 ] && big_counts=$(counts)
        # The stored object, fetched past the mount, must be these bytes, so
        # that a broken write cannot pass for a fast one. Not through the
        # mount: its read-ahead would count in the daemon's peak RSS.
        curl -sf "$(presign bench "big-$i")" | cmp -s - "$work/src" ||
            die "the object big-$i is not the $mib MiB that dd wrote"
        rm "$mnt/big-$i"
        # B: one PUT of the same file on a presigned URL (signed beforehand).
        put=$(presign -X PUT bench "curl-$i")
        t2=$(now_us)
        curl -sf -T "$work/src" -o /dev/null "$put" || die "curl PUT failed"
        t3=$(now_us)
        curl -sf -X DELETE -o /dev/null "$(presign -X DELETE bench "curl-$i")"
        [ "$i" = 0 ] && continue # the warm-up pair
        echo "$mib $t0 $t1 $t2 $t3" | awk '{ a = ($3 - $2) / 1e6; b = ($5 - $4) / 1e6
            printf "%.6f %.6f %.6f %.6f %.6f\n", a, b, $1 * 1.048576 / a, $1 * 1.048576 / b, b / a }' \
            >>"$work/big.runs"
        printf "  big run %d: presignfs %.2f s, curl %.2f s\n" "$i" \
            "$(tail -n1 "$work/big.runs" | cut -d' ' -f1)" "$(tail -n1 "$work/big.runs" | cut -d' ' -f2)"
    done
    # VmHWM is the daemon's high-water resident set since it started: every
    # big write, but no read through the mount (verification went past it).
    hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
    umount_fs
    for c in 1 2 3 4 5; do cut -d' ' -f$c "$work/big.runs" >"$work/big.$c"; done
    echo "big: $mib MiB, dd bs=1M conv=fsync into the mount vs curl -T on a presigned URL"
    echo "  presignfs  $(fmt "$work/big.1" 2) s   $(fmt "$work/big.3" 0) MB/s"
    echo "  curl(1)    $(fmt "$work/big.2" 2) s   $(fmt "$work/big.4" 0) MB/s"
    echo "  ratio presignfs/curl throughput, per pair: $(fmt "$work/big.5" 2)"
    echo "  requests the mount sent for one write: $big_counts"
    big_row=$(printf "%-34s %10s %10s %9sx   %s" "$mib MiB dd until durable (MB/s)" \
        "$(printf %.0f "$(med "$work/big.3")")" "$(printf %.0f "$(med "$work/big.4")")" \
        "$(printf %.2f "$(med "$work/big.5")")" ">= 0.9x curl")

    inflight=$(opt max_inflight)
    part=$(bytes "$(opt part_size)")
    target_mib=$((48 + inflight * part / 1048576))
    rss_row=$(printf "%-34s %10s %10s %10s   %s" "daemon peak RSS, big write (MiB)" \
        "$((hwm_kib / 1024))" "-" "-" "<= $target_mib (48 + $inflight x $((part / 1048576)))")
    echo "rss: daemon VmHWM $((hwm_kib / 1024)) MiB; target 48 MiB + max_inflight $inflight x part_size $((part / 1048576)) MiB = $target_mib MiB"
    rm -f "$work/src"
fi

if [ "$which" != big ]; then
    # A tree, not one flat directory: 10 directories of files/10 files each.
    for i in $(seq 0 $((files - 1))); do
        d=$work/tree/d$((i % 10))
        [ -d "$d" ] || mkdir -p "$d"
        head -c 4096 /dev/urandom >"$d/f$i"
    done
    # curl's side: the same relative keys, all in one curl process so that
    # it keeps one connection (curl_puts.sh).
    (cd "$work/tree" && find . -type f | sed 's|^\./||' | sort) >"$work/keys"
    curl_put_config "$work/keys" "$work/tree" curl-small/ "$work/put.cfg"
    for i in $(seq 0 "$runs"); do
        # A: cp -r until durable. In upload=sync close returns once the object
        # is stored; for upload=async what holds is the unmount, which waits
        # for the background uploads, so the clock stops when the daemon
        # exits. sync -f (syncfs) asks the mount too, should it ever answer.
        mount_fs
        [ "$i" = 1 ] && counts_reset
        t0=$(now_us)
        cp -r "$work/tree" "$mnt/small-$i"
        sync -f "$mnt"
        # Acknowledged: every close returned (with upload=async: the data and
        # its journal record are fsynced locally, S47); durable in the store
        # once the daemon has exited.
        tack=$(now_us)
        umount_fs
        t1=$(now_us)
        [ "$i" = 1 ] && small_counts=$(counts)
        if [ "$i" = 0 ]; then
            # Once, after a fresh mount: every name and every byte arrived.
            mount_fs
            diff -r "$work/tree" "$mnt/small-0" >/dev/null || die "the copied tree differs from its source"
            umount_fs
        fi
        # B: every PUT in one curl process; each transfer must answer 200, and
        # the sum of new connections must be 1.
        t2=$(now_us)
        curl -s -K "$work/put.cfg" -w '%{http_code} %{num_connects}\n' >"$work/put.out"
        t3=$(now_us)
        bad=$(awk '$1 != 200' "$work/put.out" | wc -l)
        [ "$bad" = 0 ] || die "$bad of curl's PUTs did not answer 200"
        conns=$(awk '{ s += $2 } END { print s }' "$work/put.out")
        [ "$i" = 0 ] && continue
        echo "$t0 $t1 $t2 $t3 $tack" | awk '{ a = ($2 - $1) / 1e6; b = ($4 - $3) / 1e6
            k = ($5 - $1) / 1e6; printf "%.6f %.6f %.6f %.6f %.6f\n", a, b, a / b, k, k / b }' >>"$work/small.runs"
        printf "  small run %d: presignfs %.2f s, curl %.2f s (%s connection(s))\n" "$i" \
            "$(tail -n1 "$work/small.runs" | cut -d' ' -f1)" "$(tail -n1 "$work/small.runs" | cut -d' ' -f2)" "$conns"
    done
    for c in 1 2 3 4 5; do cut -d' ' -f$c "$work/small.runs" >"$work/small.$c"; done
    echo "small: cp -r of $files x 4 KiB (10 directories) until durable vs $files curl PUTs in one process ($conns connection(s))"
    echo "  presignfs  $(fmt "$work/small.1" 2) s"
    echo "  curl(1)    $(fmt "$work/small.2" 2) s"
    echo "  ratio presignfs/curl time, per pair: $(fmt "$work/small.3" 2)"
    echo "  acknowledged (cp -r and sync -f returned): $(fmt "$work/small.4" 2) s, per pair vs curl $(fmt "$work/small.5" 2)"
    echo "  requests the mount sent for one cp -r: $small_counts"
    small_row=$(printf "%-34s %10s %10s %9sx   %s" "$files x 4 KiB cp -r until durable (s)" \
        "$(printf %.2f "$(med "$work/small.1")")" "$(printf %.2f "$(med "$work/small.2")")" \
        "$(printf %.2f "$(med "$work/small.3")")" "<= 0.5x curl time (upload=async)")
    small_row+=$'\n'$(printf "%-34s %10s %10s %9sx   %s" "$files x 4 KiB cp -r acknowledged (s)" \
        "$(printf %.2f "$(med "$work/small.4")")" "$(printf %.2f "$(med "$work/small.2")")" \
        "$(printf %.2f "$(med "$work/small.5")")" "(close returned; async: fsynced locally)")
fi

echo
echo "== medians of $runs alternated runs${extra:+ (-o $extra)}"
printf "%-34s %10s %10s %10s   %s\n" "figure" "presignfs" "curl(1)" "vs curl" "target"
for row in "$big_row" "$small_row" "$rss_row"; do if [ -n "$row" ]; then echo "$row"; fi; done
echo "(big: throughput ratio, higher is better; small: time ratio, lower is better)"

#!/bin/bash
# Read-path benchmark of issue 9, beside curl(1) on a presigned URL against
# the same local test server in the same run: MiB (default 512) read cold
# (a fresh mount each run, so neither the kernel's page cache nor read-ahead
# left from the last run helps) with cat, beside one curl GET of the same
# object, and the same pair again without the checksum (cat >/dev/null
# beside curl -o /dev/null: the read alone, where md5sum no longer takes a
# core from the server and the daemon). Also the ranged GETs the mount sent
# for one read and the daemon's peak RSS. Pairs alternate (mount, curl, ...)
# after one warm-up pair that is not counted; figures are medians, the ratio
# the median of per-pair ratios.
# It measures and never judges: it fails only on wrong bytes.
# Then (same pairing) 4 parallel readers of 4 objects of PAR_MIB (default
# 256) beside 8 parallel curl range GETs of the same bytes (each object in two
# halves), with the daemon's peak RSS under the 4 readers, also with and
# without the checksums (and, without them, the same 8 connections fetching
# in the mount's own 8 MiB ranges, one after another: the server's share of
# the gap); and the time to
# first byte of one of them on a fresh mount, timed inside one process
# (bench/first_byte.py: the stat that looks the name up, then open and a
# read of 1 byte, each with the requests it cost) beside curl -r 0-1's own
# time to first byte.
#
# DATA_CACHE=1: every mount uses one data_cache directory (in the run's
# work directory, removed at exit), so the warm-up read fills it and each
# counted read is a second read, in a new mount, from the data cache.
# DATA_CACHE=cold: a fresh data_cache for every mount, so each counted read
# is a first read that fills the cache (what turning it on costs).
#
# Usage: bench/bench_read.sh BUILD_DIR [MiB] [EXTRA_MOUNT_OPTS]
# Environment: RUNS (counted pairs, default 5), DATA_CACHE (0, 1 or cold),
# PAR_MIB (default 256), WHICH (any of "seq par ttfb", default all three).
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_read.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_read.sh" "$build" "${2:-512}" "${3:-}"
fi

build=$1 mib=$2 extra=$3 runs=${RUNS:-5} par_mib=${PAR_MIB:-256} which=${WHICH:-seq par ttfb}
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
reset() { curl -sf -X POST -o /dev/null "$PFS_TEST_CONTROL/reset"; }

. "$(dirname "$0")/mount_fs.sh"
umount_fs() {
    hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || die "the daemon exited with status $?"
    daemon_pid=
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
col() { cut -d' ' -f"$1" "$work/runs" | median; }

wants() { case " $which " in *" $1 "*) return 0 ;; esac; return 1; }
wants seq || { seq_skip=1; }
if [ -z "${seq_skip:-}" ]; then
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
    rss_kib=$hwm_kib
    [ "$s" = "$sum" ] || die "the mount read other bytes than were stored"
    t2=$(now_us)
    s=$(curl -sf "$get" | md5sum)
    t3=$(now_us)
    [ "$s" = "$sum" ] || die "curl read other bytes than were stored"
    # The same pair without the checksum: the read alone, bytes to /dev/null
    # on both sides (on 2 cores md5sum takes most of a core from the server,
    # the daemon and cat above). These bytes are the ones just checked.
    mount_fs
    stat "$mnt/big" >/dev/null
    t4=$(now_us)
    cat "$mnt/big" >/dev/null
    t5=$(now_us)
    umount_fs
    t6=$(now_us)
    curl -sf -o /dev/null "$get"
    t7=$(now_us)
    [ "$i" = 0 ] && continue
    echo "$mib $t0 $t1 $t2 $t3 $n $rss_kib $t4 $t5 $t6 $t7" | awk '{ a = ($3 - $2) / 1e6; b = ($5 - $4) / 1e6
        c = ($9 - $8) / 1e6; d = ($11 - $10) / 1e6
        printf "%.3f %.3f %.0f %.0f %.3f %d %d %.0f %.0f %.3f\n", a, b, $1 * 1.048576 / a, $1 * 1.048576 / b, b / a, $6, $7 / 1024,
            $1 * 1.048576 / c, $1 * 1.048576 / d, d / c }' \
        >>"$work/runs"
    echo "  run $i: $(tail -n1 "$work/runs")"
done
echo "cold sequential read (cat | md5sum) vs curl GET | md5sum, medians:"
echo "  presignfs $(col 3) MB/s, curl $(col 4) MB/s, ratio per pair $(col 5)"
echo "  GETs per read $(col 6); daemon peak RSS $(col 7) MiB"
echo "the same read alone (cat >/dev/null) vs curl -o /dev/null, medians:"
echo "  presignfs $(col 8) MB/s, curl $(col 9) MB/s, ratio per pair $(col 10)"
rm -f "$work/src"
fi

wants par || wants ttfb || exit 0
# Four objects; md5 of each and of each half (the curl side's ranges).
half=$((par_mib * 1048576 / 2))
for j in 0 1 2 3; do
    dd if=/dev/urandom of="$work/p$j" bs=1M count="$par_mib" status=none
    curl -sf -T "$work/p$j" -o /dev/null "$(presign -X PUT bench "p$j")" || die "upload failed"
    psum[j]=$(md5sum <"$work/p$j")
    hsum[2 * j]=$(head -c "$half" "$work/p$j" | md5sum)
    hsum[2 * j + 1]=$(tail -c +"$((half + 1))" "$work/p$j" | md5sum)
    purl[j]=$(presign bench "p$j")
    rm -f "$work/p$j"
done

if wants par; then
    chunk=$((8 << 20)) # PFS_PREFETCH_MAX_CHUNK (src/prefetch.h)
    echo "== 4 parallel readers of 4 x $par_mib MiB vs 8 parallel curl range GETs; $runs pairs after 1 warm-up"
    : >"$work/par"
    for i in $(seq 0 "$runs"); do
        mount_fs
        for j in 0 1 2 3; do stat "$mnt/p$j" >/dev/null; done
        reset
        t0=$(now_us)
        for j in 0 1 2 3; do (cat "$mnt/p$j" | md5sum >"$work/got.$j") & done
        wait $(jobs -p | grep -vx "$daemon_pid")
        t1=$(now_us)
        n=$(gets)
        umount_fs
        rss_kib=$hwm_kib
        for j in 0 1 2 3; do [ "$(cat "$work/got.$j")" = "${psum[j]}" ] || die "reader $j read other bytes"; done
        t2=$(now_us)
        for k in 0 1 2 3 4 5 6 7; do
            j=$((k / 2)) a=$(((k % 2) * half))
            (curl -sf -r "$a-$((a + half - 1))" "${purl[j]}" | md5sum >"$work/cgot.$k") &
        done
        wait $(jobs -p)
        t3=$(now_us)
        for k in 0 1 2 3 4 5 6 7; do [ "$(cat "$work/cgot.$k")" = "${hsum[k]}" ] || die "curl range $k: other bytes"; done
        # The same pair without the checksums (see the sequential read).
        mount_fs
        for j in 0 1 2 3; do stat "$mnt/p$j" >/dev/null; done
        t4=$(now_us)
        readers=()
        for j in 0 1 2 3; do
            cat "$mnt/p$j" >/dev/null &
            readers+=($!)
        done
        for r in "${readers[@]}"; do wait "$r" || die "a reader failed (status $?)"; done
        t5=$(now_us)
        umount_fs
        t6=$(now_us)
        for k in 0 1 2 3 4 5 6 7; do
            j=$((k / 2)) a=$(((k % 2) * half))
            curl -sf -r "$a-$((a + half - 1))" -o /dev/null "${purl[j]}" &
        done
        wait $(jobs -p)
        t7=$(now_us)
        # The same 8 connections, each fetching its half in ranges of the
        # mount's chunk size one after another on one connection: what the
        # server gives curl for the GETs the mount makes (it spends more CPU
        # per byte on a short range than on a long one).
        for k in 0 1 2 3 4 5 6 7; do
            j=$((k / 2)) a=$(((k % 2) * half)) args=()
            for ((r = a; r < a + half; r += chunk)); do
                e=$((r + chunk < a + half ? r + chunk : a + half))
                args+=(-r "$r-$((e - 1))" -o /dev/null "${purl[j]}")
            done
            curl -sf "${args[@]}" &
        done
        wait $(jobs -p)
        t8=$(now_us)
        [ "$i" = 0 ] && continue
        echo "$((4 * par_mib)) $t0 $t1 $t2 $t3 $n $rss_kib $t4 $t5 $t6 $t7 $t8" | awk '{ a = ($3 - $2) / 1e6; b = ($5 - $4) / 1e6
            c = ($9 - $8) / 1e6; d = ($11 - $10) / 1e6; e = ($12 - $11) / 1e6
            printf "%.3f %.3f %.0f %.0f %.3f %d %d %.0f %.0f %.3f %.0f %.3f\n", a, b, $1 * 1.048576 / a, $1 * 1.048576 / b, b / a, $6, $7 / 1024,
                $1 * 1.048576 / c, $1 * 1.048576 / d, d / c, $1 * 1.048576 / e, e / c }' \
            >>"$work/par"
        echo "  run $i: $(tail -n1 "$work/par")"
    done
    pcol() { cut -d' ' -f"$1" "$work/par" | median; }
    echo "4 parallel readers (cat | md5sum) vs 8 parallel curl range GETs | md5sum, medians:"
    echo "  presignfs $(pcol 3) MB/s, curl $(pcol 4) MB/s, ratio per pair $(pcol 5)"
    echo "  ranged GETs for the 4 reads $(pcol 6); daemon peak RSS with 4 readers $(pcol 7) MiB"
    echo "the same reads alone (cat >/dev/null) vs the curl ranges to /dev/null, medians:"
    echo "  presignfs $(pcol 8) MB/s, curl $(pcol 9) MB/s, ratio per pair $(pcol 10)"
    echo "  curl in the mount's $((chunk >> 20)) MiB ranges (8 connections, one range after another): $(pcol 11) MB/s, presignfs / that per run $(pcol 12)"
fi

if wants ttfb; then
    echo "== time to first byte of $par_mib MiB on a fresh mount, timed inside one process: stat (the lookup), then open + read of 1 byte; vs curl -r 0-1's time_starttransfer; $runs pairs after 1 warm-up"
    : >"$work/ttfb"
    for i in $(seq 0 "$runs"); do
        mount_fs
        # stat_ms stat_requests first_ms first_requests first_byte_hex
        r=$(python3 "$(dirname "$0")/first_byte.py" "$mnt/p0" "$PFS_TEST_CONTROL")
        umount_fs
        # -r 0-1, not 0-0: s3rver answers a range ending at byte 0 with the
        # whole object.
        [ "${r##* }" = "$(curl -sf -r 0-1 "${purl[0]}" | head -c 1 | od -An -tx1 | tr -d ' ')" ] ||
            die "the first byte differs"
        ct=$(curl -sf -r 0-1 -o /dev/null -w '%{time_starttransfer}' "${purl[0]}")
        [ "$i" = 0 ] && continue
        echo "${r% *} $ct" | awk '{ printf "%.2f %d %.2f %d %.2f\n", $1, $2, $3, $4, $5 * 1e3 }' >>"$work/ttfb"
        echo "  run $i: $(tail -n1 "$work/ttfb") (stat ms, requests; open+read ms, requests; curl ms)"
    done
    tcol() { cut -d' ' -f"$1" "$work/ttfb" | median; }
    echo "time to first byte, medians: stat $(tcol 1) ms ($(tcol 2) requests), then open + first byte $(tcol 3) ms ($(tcol 4) requests); curl $(tcol 5) ms (1 request)"
fi

#!/bin/bash
# presignfs beside its peers, s3fs(1) and rclone mount, and beside curl(1) on
# presigned URLs (the ceiling), against one local test server in one run:
#   write  cp of a MiB (default 512) local file into the mount, until the
#          object is in the store (polled through the S3 API: rclone uploads
#          after close), then compared byte for byte;
#   read   cold sequential read of a MiB object (a fresh mount each run);
#   small  cp -r of FILES (default 1000) 4 KiB files in 10 directories, until
#          every object is listed in the store with its MD5 as ETag;
#   ls     ls -l of a directory of LIST (default 5000) objects made through
#          the API (a fresh mount each run);
# with the requests the store received for each workload (the test server
# counts them) and the daemon's peak RSS (VmHWM of the foreground daemon).
# Rounds alternate the tools (each round starts with the next tool) after one
# warm-up round that is not counted; figures are medians, the ratio to curl
# the median of the per-round ratios. It measures and never judges: it fails
# only on wrong bytes (or a tool that does not mount).
#
# Usage: bench/bench_peers.sh BUILD_DIR [MiB]
# Environment: RUNS (counted rounds, default 3), QUICK=1 (64 MiB, 200 files,
#   1000 objects unless MiB, FILES, LIST say otherwise), FILES, LIST,
#   WHICH (all, or a space-separated subset of write read small ls),
#   TOOLS (default "presignfs s3fs rclone curl"; a missing peer is skipped),
#   WARMUP=0 (no warm-up round: a quarter less time with RUNS=3).
set -Eeuo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_peers.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    mib=${2:-$([ "${QUICK:-}" = 1 ] && echo 64 || echo 512)}
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_peers.sh" "$build" "$mib"
fi

build=$1 mib=$2
here=$(cd "$(dirname "$0")" && pwd)
quick=${QUICK:-}
runs=${RUNS:-3}
files=${FILES:-$([ "$quick" = 1 ] && echo 200 || echo 1000)}
list=${LIST:-$([ "$quick" = 1 ] && echo 1000 || echo 5000)}
which=${WHICH:-all}
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
store="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
work=$(mktemp -d /tmp/pfs-pbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
daemon_pid= extra=

cleanup() {
    stop_mount
    if [ "${keep_log:-}" = 1 ]; then
        for f in "$work"/*.log; do [ -s "$f" ] && { echo "--- $f (last 10 lines)" >&2; tail -n 10 "$f" >&2; }; done
    fi
    rm -rf "$work"
}
trap 'keep_log=1; echo "bench_peers.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench_peers.sh: $*" >&2; keep_log=1; exit 1; }
want() { [ "$which" = all ] || [[ " $which " == *" $1 "* ]]; }
now_us() { echo "${EPOCHREALTIME/./}"; }
presign() { "$build/presignfs" presign -o "$store" "$@"; }
pstore() { /usr/bin/python3 "$here/peers_store.py" "$@"; }
counts_reset() { curl -sf -X POST -o /dev/null "$PFS_TEST_CONTROL/reset"; }
# requests [CLASS=N]...: "TOTAL KINDS" since the reset, less the script's own.
requests() { pstore requests "$(curl -sf "$PFS_TEST_CONTROL/counts")" "$@"; }

. "$here/mount_fs.sh"
. "$here/curl_puts.sh"

tools=()
for t in ${TOOLS:-presignfs s3fs rclone curl}; do
    case $t in
    presignfs | curl) tools+=("$t") ;;
    s3fs | rclone)
        if command -v "$t" >/dev/null; then tools+=("$t"); else
            echo "bench_peers.sh: $t is not installed (apt-get install $t): skipping it" >&2
        fi ;;
    *) die "unknown tool $t (presignfs, s3fs, rclone, curl)" ;;
    esac
done

# The peers, each in the foreground as our child (daemon_pid), each with its
# own configuration in the work directory and the same keys.
printf 'S3RVER:S3RVER\n' >"$work/s3fs.passwd"
chmod 600 "$work/s3fs.passwd"
mount_tool() {
    case $1 in
    presignfs) mount_fs ;;
    s3fs)
        # s3fs's defaults otherwise: no local data cache (use_cache unset), a
        # temporary file per open file, multipart parts of 10 MB.
        s3fs bench "$mnt" -f -o "passwd_file=$work/s3fs.passwd,url=$PFS_TEST_ENDPOINT,use_path_request_style,sigv4,endpoint=us-east-1" \
            </dev/null >>"$work/s3fs.log" 2>&1 &
        daemon_pid=$!
        wait_mounted s3fs ;;
    rclone)
        # --vfs-cache-mode writes: without it (off) rclone streams cp to a new
        # file fine, but refuses a file opened O_RDWR and any seek while
        # writing (checked with rclone 1.60: EPERM and ESPIPE), which
        # presignfs and s3fs allow; writes is the mode rclone documents for
        # applications that need that. --vfs-write-back 0s starts each upload
        # at close instead of 5 s later, so the write figures measure the
        # transfer, not a configured delay.
        mount_rclone --vfs-cache-mode writes --vfs-write-back 0s ;;
    esac
}
# umount_tool: peak RSS (hwm_kib) of the daemon, then unmount and wait for it.
umount_tool() {
    hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || die "the daemon exited with status $?"
    daemon_pid=
}
# curl's own peak RSS, for the same column.
curl_rss() { /usr/bin/time -o "$work/curl.rss" -f %M curl "$@"; }

# record WORKLOAD TOOL ROUND T0 T1 "TOTAL KINDS" RSS_KIB
record() {
    read -r total kinds <<<"$6"
    local secs
    secs=$(awk -v a="$4" -v b="$5" 'BEGIN { printf "%.6f", (b - a) / 1e6 }')
    [ "$3" = 0 ] || echo "$1 $2 $3 $secs $total $7 $kinds" >>"$work/results"
    printf '  %-5s round %d %-9s %8.2f s  %6s requests  %s\n' "$1" "$3" "$2" "$secs" "$total" \
        "$([ "$7" = - ] && echo - || echo "$(($7 / 1024)) MiB")"
}

# wait_object URL BYTES: until a HEAD of the presigned URL answers BYTES as
# its length (a multipart object appears only when complete; s3fs creates an
# empty object first); heads counts the HEADs sent.
wait_object() {
    local len deadline=$((SECONDS + 600))
    heads=0
    while :; do
        heads=$((heads + 1))
        len=$(curl -sfI "$1" | tr -d '\r' | awk 'tolower($1) == "content-length:" { print $2 }') || len=none
        [ "$len" = "$2" ] && return 0
        [ $SECONDS -lt $deadline ] || die "the object never reached $2 bytes in the store"
        sleep 0.02
    done
}

# The rounds: round 0 is the warm-up (none with WARMUP=0); round r starts
# with tool r mod n.
rounds() {
    local r k n=${#tools[@]}
    for r in $(seq "$((${WARMUP:-1} ? 0 : 1))" "$runs"); do
        for k in $(seq 0 $((n - 1))); do "$1" "${tools[$(((r + k) % n))]}" "$r"; done
    done
}

echo "== bench_peers: ${tools[*]} against $PFS_TEST_ENDPOINT; $runs rounds after ${WARMUP:-1} warm-up, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/results"

if want write || want read; then
    dd if=/dev/urandom of="$work/src" bs=1M count="$mib" status=none
fi

if want ls; then
    # LIST objects of 16 bytes under list/, through the API; curl's side lists
    # the same pages, signed beforehand (start-after the last key of the
    # page before: the keys are known).
    BUCKET=bench /usr/bin/python3 "$here/../tests/fuse/s3util.py" put-many list/f "$list" 16 >/dev/null
    ls_urls=()
    for p in $(seq 0 $(((list - 1) / 1000))); do
        q=(--query list-type=2 --query prefix=list/ --query max-keys=1000)
        [ "$p" = 0 ] || q+=(--query "start-after=list/f$(printf %05d $((p * 1000 - 1)))")
        ls_urls+=("$(presign "${q[@]}" bench)")
    done
    w_ls() {
        local t0 t1 n
        if [ "$1" = curl ]; then
            counts_reset
            t0=$(now_us)
            curl_rss -sf "${ls_urls[@]}" >/dev/null || die "curl's listing failed"
            t1=$(now_us)
            record ls curl "$2" "$t0" "$t1" "$(requests)" "$(cat "$work/curl.rss")"
            n=$(pstore count-keys "${ls_urls[@]}")
        else
            mount_tool "$1"
            counts_reset
            t0=$(now_us)
            ls -l "$mnt/list" >"$work/ls.out"
            t1=$(now_us)
            local reqs
            reqs=$(requests)
            umount_tool
            record ls "$1" "$2" "$t0" "$t1" "$reqs" "$hwm_kib"
            n=$(grep -c ' f[0-9]*$' "$work/ls.out" || true)
        fi
        [ "$n" = "$list" ] || die "$1 listed $n of the $list objects"
    }
    rounds w_ls
fi

if want read; then
    curl -sf -T "$work/src" -o /dev/null "$(presign -X PUT bench read/big)" || die "upload failed"
    sum=$(md5sum <"$work/src")
    get=$(presign bench read/big)
    w_read() {
        local t0 t1 s reqs
        if [ "$1" = curl ]; then
            counts_reset
            t0=$(now_us)
            s=$(curl_rss -sf "$get" | md5sum)
            t1=$(now_us)
            record read curl "$2" "$t0" "$t1" "$(requests)" "$(cat "$work/curl.rss")"
        else
            mount_tool "$1"
            stat "$mnt/read/big" >/dev/null
            counts_reset
            t0=$(now_us)
            s=$(cat "$mnt/read/big" | md5sum)
            t1=$(now_us)
            reqs=$(requests)
            umount_tool
            record read "$1" "$2" "$t0" "$t1" "$reqs" "$hwm_kib"
        fi
        [ "$s" = "$sum" ] || die "$1 read other bytes than were stored"
    }
    rounds w_read
fi

if want write; then
    bytes=$((mib * 1048576))
    w_write() {
        local key=w-$1-$2 t0 t1 reqs rss head put
        head=$(presign -X HEAD bench "$key")
        put=$(presign -X PUT bench "$key")
        [ "$1" = curl ] || mount_tool "$1"
        counts_reset
        t0=$(now_us)
        if [ "$1" = curl ]; then
            curl_rss -sf -T "$work/src" -o /dev/null "$put" || die "curl PUT failed"
        else
            cp "$work/src" "$mnt/$key"
        fi
        wait_object "$head" "$bytes"
        t1=$(now_us)
        reqs=$(requests "head=$heads")
        if [ "$1" = curl ]; then rss=$(cat "$work/curl.rss"); else umount_tool; rss=$hwm_kib; fi
        record write "$1" "$2" "$t0" "$t1" "$reqs" "$rss"
        curl -sf "$(presign bench "$key")" | cmp -s - "$work/src" ||
            die "the object $key is not the $mib MiB that $1 wrote"
        curl -sf -X DELETE -o /dev/null "$(presign -X DELETE bench "$key")"
    }
    rounds w_write
    rm -f "$work/src"
fi

if want small; then
    # A tree of 10 directories; the manifest holds each file's MD5, which is
    # the ETag of a single PUT, so the listing check is a check of the bytes.
    for i in $(seq 0 $((files - 1))); do
        d=$work/tree/d$((i % 10))
        [ -d "$d" ] || mkdir -p "$d"
        head -c 4096 /dev/urandom >"$d/f$i"
    done
    (cd "$work/tree" && find . -type f | sed 's|^\./||' | sort | xargs md5sum | awk '{ print $2, $1 }') >"$work/manifest"
    # curl's side: one process, one connection, the same keys every round.
    cut -d' ' -f1 "$work/manifest" >"$work/keys"
    curl_put_config "$work/keys" "$work/tree" s-curl/ "$work/put.cfg"
    w_small() {
        local prefix t0 t1 reqs rss d polls urls=()
        prefix=s-$1-$2
        [ "$1" = curl ] && prefix="s-curl"
        # One listing page per directory (FILES / 10 keys each), signed now.
        for d in $(seq 0 9); do
            urls+=("$(presign --query list-type=2 --query "prefix=$prefix/d$d/" --query max-keys=1000 bench)")
        done
        [ "$1" = curl ] || mount_tool "$1"
        counts_reset
        t0=$(now_us)
        if [ "$1" = curl ]; then
            curl_rss -s -K "$work/put.cfg" -w '%{http_code}\n' >"$work/put.out"
            [ "$(grep -vc '^200$' "$work/put.out")" = 0 ] || die "some of curl's PUTs did not answer 200"
        else
            cp -r "$work/tree" "$mnt/$prefix"
        fi
        polls=$(pstore wait-tree "$work/manifest" "$prefix/" "${urls[@]}") || die "$1's tree is not in the store"
        t1=$(now_us)
        reqs=$(requests "list=$polls")
        if [ "$1" = curl ]; then rss=$(cat "$work/curl.rss"); else umount_tool; rss=$hwm_kib; fi
        record small "$1" "$2" "$t0" "$t1" "$reqs" "$rss"
    }
    rounds w_small
fi

echo
echo "== medians of $runs rounds, $mib MiB, $files files, $list objects; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$here/peers_table.py" "$work/results" "$mib" "$files" "$list" "${tools[@]}"

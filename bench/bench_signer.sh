#!/bin/bash
# Keyless mounts (issue 12) measured against the local test server, with a
# presignfs signer on loopback holding the keys:
#   calls    signer calls and URLs beside requests to the store, per workload:
#            cp -r of FILES (default 1000) 4 KiB files, MiB (default 512)
#            written and read back, ls -l of LIST (default 5000) files with
#            metadata=head (one HEAD each);
#   wall     each workload's wall time through a keyless mount (A) and a mount
#            with local keys (B), alternated A B A B ... after one warm-up pair
#            that is not counted; the median per side and the median of the
#            per-pair ratios A/B;
#   miss     the time one signer round trip adds to a URL cache miss (the
#            mean over MISSES sequential one-URL calls on one connection;
#            local signing costs microseconds: build/bench_sign);
#   signer   the signer's throughput in URLs per second per core (batches of
#            1000 URLs from 4 clients, URLs over the signer's CPU seconds)
#            and its peak RSS.
# It measures and never judges: nothing fails on a slow figure, only on
# wrong bytes or a mount that does not come up.
#
# Usage: bench/bench_signer.sh BUILD_DIR [MiB]
# Environment: RUNS (counted pairs for wall, default 3), FILES (1000), LIST
#   (5000), MISSES (1000), WHICH (all, or a space-separated subset of calls,
#   wall, miss, signer).
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_signer.sh: no $build/presignfs (build first)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_signer.sh" "$build" "${2:-512}"
fi

build=$1 mib=$2
runs=${RUNS:-3} files=${FILES:-1000} list=${LIST:-5000} misses=${MISSES:-1000}
which=${WHICH:-all}
here=$(cd "$(dirname "$0")" && pwd)
store="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
work=$(mktemp -d /tmp/pfs-sbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
export PRESIGNFS_RUNTIME_DIR=$work/run
daemon_pid= signer_pid=

cleanup() {
    # Only what this script started, by PID.
    if mountpoint -q "$mnt" 2>/dev/null; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
    fi
    for pid in $daemon_pid $signer_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench_signer.sh: $*" >&2; tail -n 20 "$work"/*.log >&2 || true; exit 1; }
want() { [ "$which" = all ] || [[ " $which " == *" $1 "* ]]; }
now_us() { echo "${EPOCHREALTIME/./}"; }
py() { /usr/bin/python3 -c "$@"; }

# The signer alone holds the keys; the keyless mounts get a token.
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '[bench]\ntoken = %s\nallow = bench\naccess = write\nrate = 1000000000\nburst = 1000000000\n' \
    "$token" >"$work/clients"
printf '%s\n' "$token" >"$work/token"
chmod 600 "$work/clients" "$work/token"
AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "$build/presignfs" signer \
    -o "$store,log_level=warn" --listen 127.0.0.1:0 --clients "$work/clients" \
    --ready "$work/ready" </dev/null 2>>"$work/signer.log" &
signer_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || die "the signer did not start"
signer=http://127.0.0.1:$(tr -dc 0-9 <"$work/ready")
keyless="signer=$signer,signer_token=$work/token"
local_keys=$store

# mount_fs OPTS: in the foreground as our child; keyless mounts get no keys.
mount_fs() {
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
        $( [[ $1 == signer=* ]] || echo AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER ) \
        "$build/presignfs" -f -o "$1,cache_dir=$work/cache,metadata=head,url_cache_size=16384" \
        bench "$mnt" </dev/null >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 300); do
        mountpoint -q "$mnt" && return 0
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    die "the mount did not come up"
}
unmount_fs() {
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || true
    daemon_pid=
}
stats() { "$build/presignfs" stats --json "$mnt"; }
# delta BEFORE AFTER: "signer calls, URLs, store requests" between two stats.
delta() {
    py 'import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
req = sum(b["requests"].values()) - sum(a["requests"].values())
kinds = {k: b["requests"][k] - a["requests"][k] for k in b["requests"] if b["requests"][k] != a["requests"][k]}
print("%d %d %d %s" % (b["signer"]["calls"] - a["signer"]["calls"], b["signer"]["urls"] - a["signer"]["urls"],
      req, " ".join("%s=%d" % kv for kv in sorted(kinds.items()))))' "$1" "$2"
}

# Inputs.
mkdir -p "$work/small"
for i in $(seq "$files"); do head -c 4096 /dev/urandom >"$work/small/f$i"; done
head -c $((mib * 1024 * 1024)) /dev/urandom >"$work/big"
AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER BUCKET=bench \
    /usr/bin/python3 "$here/../tests/fuse/s3util.py" put-many list/f "$list" 16 >/dev/null

# The workloads; each leaves the mount as it found it (the round's own
# names), so A and B runs do the same work.
w_cp() { cp -r "$work/small" "$mnt/cp-$1"; }
w_write() { cp "$work/big" "$mnt/big-$1"; }
w_read() { cat "$mnt/big-0" >/dev/null; }
w_ls() { ls -l "$mnt/list" >/dev/null; }
WORKLOADS="cp write read ls"

if want calls; then
    echo "== signer calls per workload (keyless mount, url_cache_size=16384)"
    printf '%-34s %12s %10s %14s  %s\n' workload "signer calls" URLs "store requests" "by kind"
    mount_fs "$keyless"
    for w in $WORKLOADS; do
        s0=$(stats)
        "w_$w" 0
        s1=$(stats)
        [ "$w" = write ] && { cmp "$work/big" "$mnt/big-0" || die "big-0 differs"; }
        read -r calls urls reqs kinds <<<"$(delta "$s0" "$s1")"
        case $w in
        cp) what="cp -r of $files files of 4 KiB" ;;
        write) what="write of $mib MiB" ;;
        read) what="read of $mib MiB (a new mount)" ;;
        ls) what="ls -l of $list files (HEADs)" ;;
        esac
        printf '%-34s %12s %10s %14s  %s\n' "$what" "$calls" "$urls" "$reqs" "$kinds"
        if [ "$w" = write ]; then # the read is of a file this mount did not just write
            unmount_fs
            mount_fs "$keyless"
        fi
    done
    unmount_fs
fi

if want wall; then
    echo "== wall time, keyless (A) vs local keys (B), $runs pairs after a warm-up pair"
    printf '%-8s %12s %12s %10s\n' workload "A median s" "B median s" "A/B"
    mount_fs "$local_keys" # the read's object, written once
    [ -e "$mnt/big-0" ] || cp "$work/big" "$mnt/big-0"
    unmount_fs
    for w in $WORKLOADS; do
        as=() bs=() ratios=()
        for r in $(seq 0 "$runs"); do
            for side in A B; do
                if [ $side = A ]; then mount_fs "$keyless"; else mount_fs "$local_keys"; fi
                t0=$(now_us)
                "w_$w" "$side$r"
                t1=$(now_us)
                unmount_fs # the uploads an unmount still waits for are part of the work
                t2=$(now_us)
                [ "$w" = read ] && t2=$t1
                [ $side = A ] && a=$((t2 - t0)) || b=$((t2 - t0))
            done
            [ "$r" = 0 ] && continue # warm-up
            as+=("$a") bs+=("$b") ratios+=("$(py "print($a / $b)")")
        done
        py 'import statistics, sys
w, n, v = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
a, b, r = v[:n], v[n:2*n], v[2*n:]
print("%-8s %12.2f %12.2f %10.2f" % (w, statistics.median(map(int, a)) / 1e6,
      statistics.median(map(int, b)) / 1e6, statistics.median(map(float, r))))' \
            "$w" "${#as[@]}" "${as[@]}" "${bs[@]}" "${ratios[@]}"
    done
fi

if want miss; then
    echo "== time a signer round trip adds to a URL cache miss ($misses one-URL calls, one connection)"
    py 'import http.client, json, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
tok, n = sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection(host, int(port))
h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
lat = []
for i in range(n + 20):
    body = json.dumps({"requests": [{"method": "HEAD", "bucket": "bench", "key": "list/f%05d" % (i % 1000)}]})
    t = time.perf_counter()
    c.request("POST", "/v1/presign", body, h)
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit("HTTP %d" % r.status)
    if i >= 20: lat.append(time.perf_counter() - t)
lat.sort()
print("mean %.3f ms, median %.3f ms, p99 %.3f ms" % (1e3 * sum(lat) / len(lat), 1e3 * lat[len(lat) // 2], 1e3 * lat[int(len(lat) * 0.99)]))' \
        "$signer" "$token" "$misses"
fi

if want signer; then
    echo "== signer throughput: batches of 1000 HEAD URLs from 4 clients"
    cpu() { awk '{print $14 + $15}' "/proc/$signer_pid/stat"; }
    c0=$(cpu) t0=$(now_us)
    py 'import http.client, json, sys, threading
host, port = sys.argv[1].split("//")[1].split(":")
tok = sys.argv[2]
body = json.dumps({"requests": [{"method": "HEAD", "bucket": "bench", "key": "list/f%05d" % i} for i in range(1000)]})
def client():
    c = http.client.HTTPConnection(host, int(port))
    for _ in range(25):
        c.request("POST", "/v1/presign", body, {"Authorization": "Bearer " + tok})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
ts = [threading.Thread(target=client) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]' "$signer" "$token"
    c1=$(cpu) t1=$(now_us)
    hz=$(getconf CLK_TCK)
    py "cpu = ($c1 - $c0) / $hz; wall = ($t1 - $t0) / 1e6
print('100000 URLs in %.2f s wall, %.2f s of signer CPU: %.0f URLs/s per core, %.0f URLs/s wall' % (wall, cpu, 100000 / cpu if cpu else 0, 100000 / wall))"
    echo "signer peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$signer_pid/status")"
fi

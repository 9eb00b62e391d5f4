#!/bin/bash
# Random 4 KiB reads (issue 9): fio randread of a 1 GiB object for 30 s
# through presignfs and, beside it in the same run, through rclone mount
# (its default, --vfs-cache-mode off) when rclone is installed. Reports IOPS,
# GET requests per read (the test server counts them) and bytes fetched per
# read (presignfs: `presignfs stats --json` bytes_in; rclone: not known, shown
# as -). Runs alternate the tools after one warm-up round that is not counted;
# figures are medians. It measures and never judges.
#
# Usage: bench/bench_randread.sh BUILD_DIR [MiB] [SECONDS]
# Environment: RUNS (counted rounds, default 3), TOOLS (default
#   "presignfs rclone"; a missing rclone is skipped with a note).
# Needs fio (apt-get install fio).
set -euo pipefail

if [ -z "${PFS_BENCH_INNER:-}" ]; then
    build=$(cd "${1:-build}" && pwd)
    [ -x "$build/presignfs" ] || { echo "bench_randread.sh: no $build/presignfs (build first)" >&2; exit 2; }
    command -v fio >/dev/null || { echo "bench_randread.sh: needs fio (apt-get install fio)" >&2; exit 2; }
    here=$(cd "$(dirname "$0")" && pwd)
    PFS_BENCH_INNER=1 exec "$here/../tests/server/with-server.sh" --bucket bench -- \
        "$here/bench_randread.sh" "$build" "${2:-1024}" "${3:-30}"
fi

build=$1 mib=$2 secs=$3 runs=${RUNS:-3} extra=
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
store="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
work=$(mktemp -d /tmp/pfs-rrbench-XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
daemon_pid=

cleanup() {
    stop_mount
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench_randread.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/mount_fs.sh"
counts() { curl -sf "$PFS_TEST_CONTROL/counts"; }
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

tools=()
for t in ${TOOLS:-presignfs rclone}; do
    if [ "$t" = rclone ] && ! command -v rclone >/dev/null; then
        echo "# rclone is not installed (apt-get install rclone): skipped"
        continue
    fi
    tools+=("$t")
done

mount_tool() {
    case $1 in
    presignfs) mount_fs ;;
    rclone) mount_rclone ;; # its default: --vfs-cache-mode off
    esac
}
unmount_tool() {
    fusermount3 -u "$mnt"
    wait "$daemon_pid" || true
    daemon_pid=
}

dd if=/dev/urandom of="$work/src" bs=1M count="$mib" status=none
curl -sf -T "$work/src" -o /dev/null "$("$build/presignfs" presign -o "$store" -X PUT bench big)" ||
    die "upload failed"
rm -f "$work/src"
echo "== fio randread 4 KiB, ${secs} s, a $mib MiB object, ${#tools[@]} tool(s), $runs rounds after 1 warm-up, $(nproc) cores"
for round in $(seq 0 "$runs"); do
    for k in "${!tools[@]}"; do
        t=${tools[$(((k + round) % ${#tools[@]}))]}
        mount_tool "$t"
        stat "$mnt/big" >/dev/null
        curl -sf -X POST -o /dev/null "$PFS_TEST_CONTROL/reset"
        before=0
        [ "$t" = presignfs ] && before=$("$build/presignfs" stats --json "$mnt" | field bytes_in)
        fio --name=rr --filename="$mnt/big" --readonly --rw=randread --bs=4k --ioengine=psync \
            --runtime="$secs" --time_based --randrepeat=0 --output-format=json \
            >"$work/fio.json" 2>"$work/fio.err" || die "fio failed: $(tail -n 3 "$work/fio.err")"
        after=0
        [ "$t" = presignfs ] && after=$("$build/presignfs" stats --json "$mnt" | field bytes_in)
        gets=$(counts | field get_range)
        unmount_tool
        [ "$round" = 0 ] && continue
        /usr/bin/python3 - "$work/fio.json" "$gets" "$before" "$after" "$t" >>"$work/runs-$t" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["read"]
ios, gets = j["total_ios"], int(sys.argv[2])
fetched = int(sys.argv[4]) - int(sys.argv[3])
per = "%.1f" % (fetched / ios / 1024) if sys.argv[5] == "presignfs" and ios else "-"
print("%.0f %.3f %s %d" % (j["iops"], gets / ios if ios else 0, per, ios))
PY
        echo "  round $round $t: $(tail -n1 "$work/runs-$t") (IOPS, GETs per read, KiB fetched per read, reads)"
    done
done
echo "medians:"
for t in "${tools[@]}"; do
    col() { cut -d' ' -f"$1" "$work/runs-$t" | median; }
    kib=-
    [ "$t" = presignfs ] && kib=$(col 3)
    echo "  $t: IOPS $(col 1), GETs per read $(col 2), KiB fetched per read $kib"
done

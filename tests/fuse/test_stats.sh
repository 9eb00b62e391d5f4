#!/bin/bash
# Live stats through a real mount: `presignfs stats` reads the daemon's
# control socket (owner-only, in the runtime directory) and -o metrics serves
# the Prometheus text format; their counters move by what a known workload
# costs (cp of 10 files = 10 PUTs); the errors when the argument is not a
# presignfs mount, its daemon is gone, or the metrics port is taken.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export PRESIGNFS_RUNTIME_DIR=$WORK/run
py() { /usr/bin/python3 -c "$@"; }
# jget FILE PATH: a value of the JSON object in FILE ("requests.PUT").
jget() {
    py 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

pfs_mount "$BUCKET" "upload=async,log_level=info,metrics=127.0.0.1:0"
log=${LOGS[0]}
for _ in $(seq 50); do grep -q "metrics: serving port" "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*metrics: serving port \([0-9]*\) .*/\1/p' "$log" | head -1)
ok "the metrics endpoint is up (port '$port')" test -n "$port"
METRICS=http://127.0.0.1:$port/metrics
# check_exposition FILE: the text follows the Prometheus text format 0.0.4.
check_exposition() {
    py '
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
sample = re.compile(r"^(%s)(\{(%s=\"(?:[^\"\\\n]|\\.)*\"(,%s=\"(?:[^\"\\\n]|\\.)*\")*)?\})? (\S+)$" % (name_re, name_re, name_re))
types, hist = {}, {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    m = re.match(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % name_re, line)
    if m:
        assert m.group(1) not in types, "TYPE twice: " + line
        types[m.group(1)] = m.group(2)
        continue
    m = sample.match(line)
    assert m, "not a sample: %r" % line
    name, labels, value = m.group(1), m.group(3) or "", m.group(5)
    float(value)
    assert name.startswith("presignfs_"), name
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    fam = name if name in types else base
    assert fam in types, "sample before its TYPE: " + line
    if types[fam] == "counter":
        assert fam.endswith("_total"), fam
    if types[fam] == "histogram":
        key = re.sub(r",?le=\"[^\"]*\"", "", labels)
        h = hist.setdefault((fam, key), {"buckets": []})
        if name.endswith("_bucket"):
            le = re.search(r"le=\"([^\"]*)\"", labels).group(1)
            h["buckets"].append((float(le), float(value)))
        else:
            h[name.rsplit("_", 1)[1]] = float(value)
for (fam, key), h in hist.items():
    b = h["buckets"]
    assert b and b[-1][0] == float("inf"), (fam, key)
    assert all(x[0] < y[0] and x[1] <= y[1] for x, y in zip(b, b[1:])), (fam, key, b)
    assert b[-1][1] == h["count"], (fam, key)
assert types.get("presignfs_request_duration_seconds") == "histogram"
' "$1"
}
# metric FILE SELECTOR: the value of one sample ("name{labels}").
metric() { awk -v k="$2" '$1 == k {print $2}' "$1"; }

note "the control socket"
sock=$(ls "$PRESIGNFS_RUNTIME_DIR"/*.sock 2>/dev/null)
ok "there is one socket in the runtime directory" test -S "$sock"
eq "the socket is 0600" 600 "$(stat -c %a "$sock")"
eq "its directory is 0700" 700 "$(stat -c %a "$PRESIGNFS_RUNTIME_DIR")"

note "stats --json: cp of 10 files is 10 PUTs"
"$PFS_BIN" stats --json "$MNT" >"$WORK/s0.json"
curl -sf "$METRICS" >"$WORK/m0.txt"
eq "exit status 0" 0 "$?"
eq "one JSON object on one line" 1 "$(wc -l <"$WORK/s0.json")"
ok "requests maps every kind to its count" py 'import json, sys
j = json.load(open(sys.argv[1]))
r = j["requests"]
assert set(["PUT", "GET", "HEAD", "LIST", "DELETE"]) <= set(r), r
assert all(isinstance(v, int) and v >= 0 for v in r.values()), r
assert j["version"] == 1 and isinstance(j["uploads"], dict), j
b = j["latency_seconds"]["LIST"]["buckets"]
assert b["+Inf"] == j["latency_seconds"]["LIST"]["count"] == r["LIST"], j
' "$WORK/s0.json"
mkdir -p "$WORK/ten" "$WORK/plain2"
for i in $(seq 1 10); do head -c 1000 /dev/urandom >"$WORK/ten/f$i"; done
cp "$WORK/ten/"f* "$MNT/"
sync "$MNT"/f* # fsync: waits for the async uploads
"$PFS_BIN" stats --json "$MNT" >"$WORK/s1.json"
curl -sf "$METRICS" >"$WORK/m1.txt"
eq "10 PUTs more" 10 $(($(jget "$WORK/s1.json" requests.PUT) - $(jget "$WORK/s0.json" requests.PUT)))
eq "10 FUSE creates more" 10 $(($(jget "$WORK/s1.json" fuse.create) - $(jget "$WORK/s0.json" fuse.create)))
eq "no request failed" 0 "$(py 'import json, sys; print(sum(json.load(open(sys.argv[1]))["requests_failed"].values()))' "$WORK/s1.json")"
sent=$(($(jget "$WORK/s1.json" bytes_out) - $(jget "$WORK/s0.json" bytes_out)))
ok "at least the 10000 bytes were sent (got $sent)" test "$sent" -ge 10000
eq "nothing is left to upload" "0 0 0 0" "$(jget "$WORK/s1.json" uploads.pending) $(jget "$WORK/s1.json" uploads.queued) $(jget "$WORK/s1.json" uploads.in_flight) $(jget "$WORK/s1.json" uploads.failed)"

note "the metrics endpoint: the same 10 PUTs, in the exposition format"
ok "the text parses as Prometheus exposition" check_exposition "$WORK/m1.txt"
sel='presignfs_requests_total{kind="PUT",outcome="ok"}'
eq "10 PUTs more in presignfs_requests_total" 10 $(($(metric "$WORK/m1.txt" "$sel") - $(metric "$WORK/m0.txt" "$sel")))
eq "the same count as stats --json" "$(jget "$WORK/s1.json" requests.PUT)" \
    "$(($(metric "$WORK/m1.txt" "$sel") + $(metric "$WORK/m1.txt" 'presignfs_requests_total{kind="PUT",outcome="failed"}')))"
eq "the PUT histogram counts them" "$(metric "$WORK/m1.txt" "$sel")" "$(metric "$WORK/m1.txt" 'presignfs_request_duration_seconds_count{kind="PUT"}')"
eq "10 FUSE creates more" 10 $(($(metric "$WORK/m1.txt" 'presignfs_fuse_operations_total{op="create"}') - $(metric "$WORK/m0.txt" 'presignfs_fuse_operations_total{op="create"}')))
eq "gauges: nothing in flight" 0 "$(metric "$WORK/m1.txt" presignfs_uploads_in_flight)"
eq "another path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
eq "a POST is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$METRICS")"
out=$("$PFS_BIN" -f -o "$BASE_OPTS,metrics=127.0.0.1:$port" "$BUCKET" "$WORK/plain2" 2>&1)
eq "a taken port fails a second mount: status 1" 1 "$?"
ok "naming it" grep -q "metrics=127.0.0.1:$port: cannot listen: Address already in use" <<<"$out" || echo "$out"
out=$("$PFS_BIN" -f -o "$BASE_OPTS,metrics=localhost:9464" "$BUCKET" "$WORK/plain2" 2>&1)
eq "a host name is refused: status 2" 2 "$?"
ok "as not an IP address" grep -q "localhost is not an IP address" <<<"$out" || echo "$out"

note "an upload in flight shows as one"
h=$(hold PUT "/$BUCKET/held" put)
head -c 5000 /dev/urandom >"$WORK/held"
cp "$WORK/held" "$MNT/held"
wait_held "$h"
"$PFS_BIN" stats --json "$MNT" >"$WORK/s2.json"
eq "in flight" 1 "$(jget "$WORK/s2.json" uploads.in_flight)"
eq "pending" 1 "$(jget "$WORK/s2.json" uploads.pending)"
curl -sf "$METRICS" >"$WORK/m2.txt"
eq "presignfs_uploads_in_flight too" 1 "$(metric "$WORK/m2.txt" presignfs_uploads_in_flight)"
ok "its bytes are staged" test "$(jget "$WORK/s2.json" uploads.staged_bytes)" -ge 5000
release "$h"
sync "$MNT/held"

note "the table"
"$PFS_BIN" stats "$MNT" >"$WORK/table"
eq "exit status 0" 0 "$?"
"$PFS_BIN" stats --json "$MNT" >"$WORK/s3.json"
ok "a PUT row with its count, none failed" grep -qE "^PUT +$(jget "$WORK/s3.json" requests.PUT) +0 " "$WORK/table"
ok "an uploads line" grep -q "^uploads: 0 pending, 0 queued, 0 in flight, 0 failed" "$WORK/table"

note "errors"
mkdir -p "$WORK/plain"
out=$("$PFS_BIN" stats "$WORK/plain" 2>&1)
eq "not a mount point: status 2" "2" "$?"
ok "says so" grep -q "is not a mount point" <<<"$out"
out=$("$PFS_BIN" stats /proc 2>&1)
eq "another file system: status 2" "2" "$?"
ok "names its type" grep -q "is not a presignfs mount (it is proc)" <<<"$out"
take_mount "$MNT" # killed with -9: the socket stays, the FUSE mount is dead
kill -KILL "$TAKEN_PID" && wait "$TAKEN_PID" 2>/dev/null
out=$("$PFS_BIN" stats "$MNT" 2>&1)
eq "a dead daemon: status 1" "1" "$?"
ok "says the daemon does not answer" grep -q "does not answer: nobody listens on $sock" <<<"$out" || echo "$out"
fusermount3 -uz "$MNT" 2>/dev/null

note "a clean unmount removes the socket"
pfs_mount "$BUCKET" ""
ok "the socket is back (the stale one replaced)" test -S "$sock"
ok "and answers" sh -c "'$PFS_BIN' stats --json '$MNT' >/dev/null"
pfs_unmount "$MNT"
ok "gone after the unmount" test ! -e "$sock"

note "upload progress: status and stats while a large file uploads, a slow unmount says why"
# Written second half first, so it goes up whole after close (async): three
# parts (5, 5, 2 MiB) in parallel; one 5 MiB part is held, the others land.
head -c $((12 * 1024 * 1024)) /dev/urandom >"$WORK/big"
pfs_mount "$BUCKET" "upload=async,part_size=5M,multipart_threshold=5M"
mkdir -p "$MNT/prog"
h=$(hold PUT "/$BUCKET/prog/big" upload_part "count=1&min_length=5242880")
py 'import os, sys
src = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
half = len(src) // 2
os.pwrite(fd, src[half:], half)
os.pwrite(fd, src[:half], 0)
os.close(fd)' "$WORK/big" "$MNT/prog/big"
wait_held "$h"
for _ in $(seq 100); do
    "$PFS_BIN" status "$MNT" >"$WORK/status" 2>&1
    grep -q "uploading: 7.0 MiB of 12.0 MiB" "$WORK/status" && break
    sleep 0.1
done
ok "status shows the bytes sent of the upload in flight" \
    grep -q "prog/big  uploading: 7.0 MiB of 12.0 MiB sent (58%)" "$WORK/status" || cat "$WORK/status"
ok "and what is left to send" grep -q "1 uploading now, 5.0 MiB still to send" "$WORK/status"
"$PFS_BIN" status --json "$MNT" >"$WORK/status.json"
eq "status --json: in_flight.remaining_bytes" $((5 * 1024 * 1024)) "$(jget "$WORK/status.json" in_flight.remaining_bytes)"
"$PFS_BIN" stats --json "$MNT" >"$WORK/s4.json"
eq "stats --json: the largest upload's key" prog/big \
    "$(py 'import json, sys; print(json.load(open(sys.argv[1]))["upload_progress"]["largest"][0]["key"])' "$WORK/s4.json")"
ok "stats --json: a read-ahead gauge and its limit" test "$(jget "$WORK/s4.json" readahead.limit)" -gt 0
log=${LOGS[-1]}
take_mount "$MNT"
fusermount3 -u "$MNT"
for _ in $(seq 100); do grep -q "unmounting: waiting" "$log" && break; sleep 0.1; done
ok "the unmount says what it waits for" \
    grep -q "presignfs: unmounting: waiting for 1 upload (5.0 MiB to send; largest prog/big 7.0 MiB of 12.0 MiB) ..." "$log" || cat "$log"
release "$h"
for _ in $(seq 300); do kill -0 "$TAKEN_PID" 2>/dev/null || break; sleep 0.1; done
ok "then exits" bash -c "! kill -0 $TAKEN_PID 2>/dev/null"
wait "$TAKEN_PID" 2>/dev/null
ok "and the file is stored" cmp "$WORK/big" <(s3 get prog/big)
pfs_finish

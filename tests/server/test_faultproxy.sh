#!/bin/bash
# The fault proxy (faultproxy.js) does what each mode says, reproducibly, and
# counts it; then one mount through it at 10 % 503s delivers every file.
# Run through with-server.sh:
#   with-server.sh --bucket ptest -- env PFS_BIN=.../presignfs BUCKET=ptest test_faultproxy.sh
# curl exit codes: 18 partial body, 28 timeout, 52 empty reply, 55 send
# failure, 56 receive failure (reset).
set -u
. "$(dirname "$0")/../fuse/lib.sh"

pfs_proxy_start '{"seed":1}' || { pfs_finish; exit 1; }
sign() { # sign METHOD KEY [DIALECT_ENDPOINT]: a URL through the proxy (default)
    "$PFS_BIN" presign -o "dialect=s3,endpoint=${3:-$PFS_PROXY_ENDPOINT},region=us-east-1" -X "$1" "$BUCKET" "$2"
}
# fetch [curl args...]: runs curl with a 10 s limit; sets RC (curl's exit
# status), CODE (HTTP status, 000 for none), SIZE (body bytes received), TIME
# (seconds); the body is in $WORK/body, the headers in $WORK/hdr.
fetch() {
    local out
    : >"$WORK/body"
    : >"$WORK/hdr"
    out=$(curl -sS --max-time "${MAXT:-10}" -o "$WORK/body" -D "$WORK/hdr" \
        -w '%{http_code} %{size_download} %{time_total}' "$@" 2>"$WORK/curl.err")
    RC=$?
    read -r CODE SIZE TIME <<<"$out"
}
in_set() { # in_set VALUE ALLOWED...
    local v=$1 a
    shift
    for a in "$@"; do [ "$v" = "$a" ] && return 0; done
    return 1
}
stat_of() { pfs_proxy_stats "$1"; }
header() { grep -i "^$1:" "$WORK/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
upstream_total() { count total; }
json_field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
# section JSON: zero the proxy's counters and set its config.
section() {
    note "$1"
    pfs_proxy_reset
    pfs_proxy_set "$2"
}

# 1.5 MiB: curl sends a body over 1 MiB with Expect: 100-continue.
SIZE_OBJ=1572864
head -c $SIZE_OBJ /dev/urandom >"$WORK/obj"
t_start=$SECONDS

section "pass-through" '{"modes":{}}'
fetch -T "$WORK/obj" "$(sign PUT obj)"
eq "PUT through the proxy" "0 200" "$RC $CODE"
fetch "$(sign GET obj)"
eq "GET through the proxy" "0 200" "$RC $CODE"
ok "the object comes back byte-exact" cmp -s "$WORK/obj" "$WORK/body"
fetch -I "$(sign HEAD obj)"
eq "HEAD through the proxy" "0 200 $SIZE_OBJ" "$RC $CODE $(header content-length)"
fetch "$(sign GET missing)"
eq "an upstream 404 passes through" "404" "$CODE"
ok "with the store's own body" grep -q '<Code>NoSuchKey</Code>' "$WORK/body"
eq "all passed" "4 4 0" "$(stat_of seen) $(stat_of passed) $(stat_of total_injected)"

section "control endpoints" '{"modes":{}}'
out=$(curl -s -X POST -d '{"modes":{"bogus":1}}' -w ' %{http_code}' "$PFS_PROXY_ENDPOINT/__proxy/config")
ok "an unknown mode is refused: $out" in_set "${out##* }" 400
out=$(curl -s -X POST -d '{"modes":{"err503":0.7,"reset":0.5}}' -w ' %{http_code}' "$PFS_PROXY_ENDPOINT/__proxy/config")
ok "rates adding up past 1 are refused: $out" in_set "${out##* }" 400
out=$(curl -s -X POST -d 'not json' -w ' %{http_code}' "$PFS_PROXY_ENDPOINT/__proxy/config")
ok "bad JSON is refused" in_set "${out##* }" 400

note "503 and 500 in the S3 dialect"
reset_counts
section "err503 (s3)" '{"dialect":"s3","modes":{"err503":1}}'
fetch "$(sign GET obj)"
eq "GET gets 503" "0 503" "$RC $CODE"
ok "an S3 XML SlowDown body" grep -Eq '<Error><Code>SlowDown</Code><Message>[^<]+</Message>.*<RequestId>[^<]+</RequestId>.*</Error>' "$WORK/body"
eq "Content-Type" "application/xml" "$(header content-type)"
ok "x-amz-request-id is set" test -n "$(header x-amz-request-id)"
fetch -T "$WORK/obj" "$(sign PUT obj503)"
eq "PUT (with Expect: 100-continue) gets 503" "0 503" "$RC $CODE"
fetch -I "$(sign HEAD obj)"
eq "HEAD gets 503 without a body" "503 0" "$CODE $SIZE"
fetch "$PFS_PROXY_ENDPOINT/__proxy/stats"
eq "control endpoints are not subject to faults" "200" "$CODE"
eq "nothing reached the server" "0" "$(upstream_total)"
eq "counted: 3 injected 503" "3 3" "$(stat_of seen) $(stat_of injected.err503)"
section "err500 (s3)" '{"modes":{"err500":1}}'
fetch "$(sign GET obj)"
eq "GET gets 500" "0 500" "$RC $CODE"
ok "an S3 XML InternalError body" grep -Eq '<Error><Code>InternalError</Code><Message>[^<]+</Message>.*<RequestId>' "$WORK/body"
eq "counted" "1" "$(stat_of injected.err500)"

section "503 and 500 in the TOS dialect" '{"dialect":"tos","modes":{"err503":1}}'
fetch "$(sign GET obj)"
eq "GET gets 503" "0 503" "$RC $CODE"
eq "Content-Type" "application/json" "$(header content-type)"
eq "TOS JSON Code" "SlowDown" "$(json_field "$WORK/body" Code)"
ok "TOS JSON Message" test -n "$(json_field "$WORK/body" Message)"
eq "TOS JSON RequestId = x-tos-request-id" "$(header x-tos-request-id)" "$(json_field "$WORK/body" RequestId)"
eq "TOS JSON EC = x-tos-ec" "$(header x-tos-ec)" "$(json_field "$WORK/body" EC)"
pfs_proxy_set '{"modes":{"err500":1}}'
fetch "$(sign GET obj)"
eq "TOS 500 InternalError" "500 InternalError" "$CODE $(json_field "$WORK/body" Code)"
pfs_proxy_set '{"modes":{"expired":1}}'
fetch "$(sign GET obj)"
eq "TOS expired URL" "403 AccessDenied Request has expired" \
    "$CODE $(json_field "$WORK/body" Code) $(json_field "$WORK/body" Message)"
pfs_proxy_set '{"modes":{"badsig":1}}'
fetch "$(sign GET obj)"
eq "TOS signature error" "403 SignatureDoesNotMatch" "$CODE $(json_field "$WORK/body" Code)"
eq "counted per mode" "1 1 1 1" \
    "$(stat_of injected.err503) $(stat_of injected.err500) $(stat_of injected.expired) $(stat_of injected.badsig)"

section "expired URL and signature error (s3)" '{"dialect":"s3","modes":{"expired":1}}'
fetch "$(sign GET obj)"
eq "expired: 403" "403" "$CODE"
ok "AccessDenied, Request has expired" grep -q '<Code>AccessDenied</Code><Message>Request has expired</Message>' "$WORK/body"
pfs_proxy_set '{"modes":{"badsig":1}}'
fetch -T "$WORK/obj" "$(sign PUT obj)"
eq "signature error: 403" "403" "$CODE"
ok "SignatureDoesNotMatch" grep -q '<Code>SignatureDoesNotMatch</Code>' "$WORK/body"

reset_counts
section "reset before any response" '{"modes":{"reset":1}}'
fetch "$(sign GET obj)"
ok "GET: connection reset (curl $RC)" in_set "$RC" 52 56
eq "no response at all" "000" "$CODE"
fetch -T "$WORK/obj" "$(sign PUT reset-put)"
ok "PUT: connection reset (curl $RC)" in_set "$RC" 52 55 56
eq "nothing reached the server" "0" "$(upstream_total)"
eq "counted" "2 2" "$(stat_of seen) $(stat_of injected.reset)"

section "reset mid-body" '{"modes":{"midbody":1}}'
fetch "$(sign GET obj)"
ok "GET: reset during the body (curl $RC)" in_set "$RC" 56 18
ok "the headers and part of the body came ($SIZE bytes)" test "$CODE" = 200 -a "$SIZE" -gt 0 -a "$SIZE" -lt $SIZE_OBJ
note "lost acknowledgement"
reset_counts
fetch -T "$WORK/obj" "$(sign PUT lost-ack)"
ok "PUT: the client got no answer (curl $RC, HTTP $CODE)" in_set "$RC" 52 56
ok "no final status" in_set "$CODE" 000 100
eq "the PUT reached the server" "1" "$(count put)"
eq "counted: one cut body, one lost acknowledgement" "1 1" "$(stat_of injected.midbody) $(stat_of injected.lost_ack)"
pfs_proxy_set '{"modes":{}}'
fetch "$(sign GET lost-ack "$PFS_TEST_ENDPOINT")"
eq "the object exists on the server" "0 200" "$RC $CODE"
ok "with the whole content" cmp -s "$WORK/obj" "$WORK/body"

section "truncated body" '{"modes":{"truncate":1}}'
fetch "$(sign GET obj)"
eq "GET: partial file (curl 18)" "18 200" "$RC $CODE"
eq "the Content-Length is the object's" "$SIZE_OBJ" "$(header content-length)"
eq "half of the body came" "$((SIZE_OBJ / 2))" "$SIZE"
ok "and it is the object's first half" cmp -s -n $((SIZE_OBJ / 2)) "$WORK/obj" "$WORK/body"
fetch -T "$WORK/obj" "$(sign PUT truncated-put)"
eq "a body-less answer (PUT) passes" "0 200" "$RC $CODE"
eq "counted" "1 1" "$(stat_of injected.truncate) $(stat_of skipped.truncate_nobody)"

reset_counts
section "stall" '{"modes":{"stall":1},"stall_s":3}'
MAXT=1 fetch "$(sign GET obj)"
eq "GET times out in the client (--max-time 1)" "28 000" "$RC $CODE"
MAXT=10 fetch -T "$WORK/obj" "$(sign PUT stall-put)"
ok "PUT: no answer, closed after stall_s (curl $RC after $TIME s)" in_set "$RC" 52 56
ok "not before stall_s" awk -v t="$TIME" 'BEGIN { exit !(t >= 2.9 && t < 8) }'
eq "nothing reached the server" "0" "$(upstream_total)"
eq "counted" "2" "$(stat_of injected.stall)"

section "latency" '{"modes":{}}'
fetch "$(sign GET obj)"
base=$TIME
pfs_proxy_set '{"latency_ms":800}'
fetch "$(sign GET obj)"
eq "GET with latency still works" "0 200" "$RC $CODE"
ok "it took at least 0.8 s more ($base -> $TIME s)" awk -v t="$TIME" 'BEGIN { exit !(t >= 0.8) }'
pfs_proxy_set '{"latency_ms":800,"modes":{"latency":0}}'
fetch "$(sign GET obj)"
ok "latency at rate 0 adds nothing ($TIME s)" awk -v t="$TIME" 'BEGIN { exit !(t < 0.8) }'
eq "counted" "1" "$(stat_of injected.latency)"
pfs_proxy_set '{"latency_ms":0,"modes":{}}'

section "pacing (rate_mib_s)" '{"modes":{},"rate_mib_s":2}'
fetch "$(sign GET obj)"
eq "a paced GET completes" "0 200 $SIZE_OBJ" "$RC $CODE $SIZE"
ok "byte-exact" cmp -s "$WORK/obj" "$WORK/body"
ok "1.5 MiB at 2 MiB/s takes at least 0.7 s ($TIME s)" awk -v t="$TIME" 'BEGIN { exit !(t >= 0.7) }'
fetch -r 1000-2999 "$(sign GET obj)"
eq "a paced range" "0 206 2000" "$RC $CODE $SIZE"
ok "its bytes" cmp -s <(tail -c +1001 "$WORK/obj" | head -c 2000) "$WORK/body"
out=$(curl -sS -X POST --data-binary '{"rate_mib_s":-1}' "$PFS_PROXY_ENDPOINT/__proxy/config" -w ' %{http_code}')
ok "a negative rate is refused: $out" in_set "${out##* }" 400
pfs_proxy_set '{"rate_mib_s":0}'

section "blackout (reset)" '{"modes":{},"blackout_s":2}'
fails=0
for i in 1 2 3 4 5; do
    fetch "$(sign GET obj)"
    in_set "$RC" 52 56 && fails=$((fails + 1))
done
eq "every request during the blackout fails" "5" "$fails"
fetch "$PFS_PROXY_ENDPOINT/__proxy/stats"
eq "the control endpoint answers during the blackout" "200" "$CODE"
for _ in $(seq 40); do [ "$(stat_of blackout_remaining_ms)" = 0 ] && break; sleep 0.1; done
fetch "$(sign GET obj)"
eq "healed after blackout_s" "0 200" "$RC $CODE"
eq "counted" "5" "$(stat_of injected.blackout)"
section "blackout (503)" '{"blackout_s":1,"blackout_mode":"503"}'
fetch "$(sign GET obj)"
eq "a 503 blackout answers 503" "503" "$CODE"
sleep 1.1
fetch "$(sign GET obj)"
eq "healed" "200" "$CODE"

note "determinism: the same seed gives the same fates, however requests interleave"
mixed='{"seed":42,"blackout_s":0,"modes":{"err503":0.25,"err500":0.15,"reset":0.2,"expired":0.1}}'
keys="d0 d1 d2 d3"
for k in $keys; do fetch -T "$WORK/obj" "$(sign PUT "$k" "$PFS_TEST_ENDPOINT")"; done
# outcomes DIR PARALLEL: 6 GETs of each key, keys one after another or all at
# once (each key's GETs in order); DIR/KEY gets one outcome per line.
outcomes() {
    local dir=$1 par=$2 k pids=()
    mkdir -p "$dir"
    for k in $keys; do
        local url
        url=$(sign GET "$k")
        run_key() {
            for _ in 1 2 3 4 5 6; do
                curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$url"
                echo " $?"
            done >"$dir/$k"
        }
        if [ "$par" = 1 ]; then run_key & pids+=($!); else run_key; fi
    done
    [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
    pfs_proxy_log | /usr/bin/python3 -c '
import json, sys
for e in sorted(json.load(sys.stdin), key=lambda e: (e["path"], e["i"])):
    print(e["method"], e["path"], e["part"], e["i"], e["fate"])' >"$dir/log"
}
section "run 1 (keys in turn)" "$mixed"
outcomes "$WORK/run1" 0
pfs_proxy_stop
pfs_proxy_start "$mixed"
section "run 2 (a new proxy process, keys in parallel)" "$mixed"
outcomes "$WORK/run2" 1
fates1=$(cat "$WORK/run1/log")
ok "run 1 saw 24 requests and some of each fate" test "$(wc -l <"$WORK/run1/log")" = 24 -a \
    "$(cut -d' ' -f5 <<<"$fates1" | sort -u | wc -l)" -ge 4
eq "the same fates in both runs" "$fates1" "$(cat "$WORK/run2/log")"
for k in $keys; do
    eq "the same outcomes for $k" "$(cat "$WORK/run1/$k")" "$(cat "$WORK/run2/$k")"
done
# Each fate shows as what it says.
bad=$(paste -d' ' <(cat "$WORK"/run1/d? ) <(cut -d' ' -f5 "$WORK/run1/log") | awk '
    $3 == "pass" && $1 != 200 { print } $3 == "err503" && $1 != 503 { print }
    $3 == "err500" && $1 != 500 { print } $3 == "expired" && $1 != 403 { print }
    $3 == "reset" && ($1 != "000" || ($2 != 52 && $2 != 56)) { print }')
eq "every outcome matches its logged fate" "" "$bad"
n503=$(grep -c ' err503$' "$WORK/run2/log")
eq "stats count what the log says" "24 $n503" "$(stat_of seen) $(stat_of injected.err503)"
section "run 3 (another seed)" "${mixed/42/43}"
outcomes "$WORK/run3" 0
ok "another seed gives other fates" test "$fates1" != "$(cat "$WORK/run3/log")"
pfs_proxy_set '{"modes":{"err503":1}}'
curl -s -o /dev/null -X PUT "$("$PFS_BIN" presign -o "dialect=s3,endpoint=$PFS_PROXY_ENDPOINT,region=us-east-1" \
    -X PUT --query partNumber=3 --query uploadId=x "$BUCKET" mp)"
eq "partNumber is part of the request's identity" "3" \
    "$(pfs_proxy_log | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["part"])')"

big_mib=${PFS_PROXY_BIG_MIB:-256}
section "streaming: $big_mib MiB each way" '{"modes":{}}'
truncate -s "${big_mib}M" "$WORK/big"
fetch -T "$WORK/big" "$(sign PUT big)"
eq "a $big_mib MiB PUT" "0 200" "$RC $CODE"
sum=$(curl -s --max-time 60 "$(sign GET big)" | md5sum)
eq "a $big_mib MiB GET, byte-exact" "$(md5sum <"$WORK/big")" "$sum"
rm -f "$WORK/big"
hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$PFS_PROXY_PID/status")
le "the proxy's peak memory (MiB) stays far below the object's size" 160 "$hwm"
note "the checks with curl took $((SECONDS - t_start)) s"

section "a mount through the proxy at 10 % 503" '{"seed":7,"modes":{"err503":0.1}}'
mkdir -p "$WORK/src"
for i in $(seq 1 12); do head -c $((i * 23456)) /dev/urandom >"$WORK/src/f$i"; done
head -c $((12 * 1048576)) /dev/urandom >"$WORK/src/large"
pfs_mount "$BUCKET" "$PROXY_OPTS,part_size=5M,multipart_threshold=5M"
ok "cp -r into the mount" cp -r "$WORK/src" "$MNT/tree"
pfs_unmount
pfs_proxy_set '{"modes":{}}'
for f in "$WORK"/src/*; do
    eq "$(basename "$f") arrived byte-exact" "$(sha256sum <"$f")" \
        "$(s3 get "tree/$(basename "$f")" | sha256sum)"
done
ok "503s were injected ($(stat_of injected.err503) of $(stat_of seen) requests)" \
    test "$(stat_of injected.err503)" -gt 0
ok "the multipart upload went through it too" grep -q '"part":"3"' <(pfs_proxy_log)

pfs_finish

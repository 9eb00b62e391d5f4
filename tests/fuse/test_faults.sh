#!/bin/bash
# Fault scenarios (issue 10): the mount through tests/server/faultproxy.js.
#
# Each mode at 10 % (503, 500, reset, reset mid-body and lost acknowledgement,
# truncated body, expired-URL 403, latency, stall with small timeouts): cp -r
# of a tree, rsync -a --delete of a changed tree over it, a read-back through
# a fresh mount with the faults still on; then, healed, the bucket through the
# S3 API: every object byte-exact, none missing, partial or extra, no
# multipart upload left over, and no application error (retries absorb all of
# these modes). Scaled down to fit CI (the issue's run is 300 files and one
# 128 MiB file): PFS_FAULT_FILES files of 4 KiB..1 MiB (default 40) and one
# file of PFS_FAULT_BIG_MIB MiB (default 12: multipart at part_size 5M);
# bench/bench_faults.sh runs the full size.
#
# Then a blackout of PFS_BLACKOUT_S seconds (default 10) while 20 files are
# written and closed one by one, with upload=sync (a close in the blackout
# fails with EIO within the bound of S64, the data stays in the journal and
# arrives after the store heals, nobody writing again) and upload=async (every
# close succeeds, all arrive); an open(O_CREAT|O_TRUNC) of a name the store
# cannot be asked about is created locally (S64), an O_CREAT without O_TRUNC
# fails with EIO. Then a mount at log_level=debug through faults: its log
# holds no secret key, signature or security token. A table of the outcomes
# per mode ends the output. Run under with-server.sh --bucket ftest (S3).
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
tree() { /usr/bin/python3 "$HERE/tree_util.py" "$@"; }
SEED=${PFS_FAULT_SEED:-10}
FILES=${PFS_FAULT_FILES:-40}
BIG=${PFS_FAULT_BIG_MIB:-12}
BLACKOUT=${PFS_BLACKOUT_S:-10}
note "seed $SEED, $FILES files + one of $BIG MiB, blackout $BLACKOUT s"
SUMMARY=()
# uploads_under PREFIX: multipart uploads the test server holds open below PREFIX/.
uploads_under() {
    curl -sf "$PFS_TEST_CONTROL/uploads" | /usr/bin/python3 -c '
import json, sys
# An upload whose key the server cannot tell counts too: nothing may be left.
print(sum(1 for u in json.load(sys.stdin)["uploads"]
          if u["key"] is None or u["key"].startswith(sys.argv[1] + "/")))' "$1"
}
row() { SUMMARY+=("$(printf '%-10s %7s %7s %7s %7s %9s %8s %8s' "$@")"); }

tree make "$WORK/src" "$SEED" "$FILES" "$BIG"
tree change "$WORK/src" "$WORK/src2" "$((SEED + 1))"
pfs_proxy_start "{\"seed\":$SEED,\"stall_s\":20}" || exit 1
# Small parts so that the big file is a multipart upload of several parts.
OPTS="$PROXY_OPTS,part_size=5M,multipart_threshold=5M"

# run_mode NAME MODES [OPTIONS]: the cp -r / rsync / read-back / check cycle
# under MODES (the proxy's "modes" JSON) with mount OPTIONS added.
run_mode() {
    local name=$1 modes=$2 extra=${3:-} prefix=m-$1 errs=$WORK/errs-$1 apperr res
    local t0=$SECONDS fails=$FAIL first_log=${#LOGS[@]} src=$WORK/src src2=$WORK/src2 d
    case " ${PFS_FAULT_MODES:-$name} " in *" $name "*) ;; *) return ;; esac
    if [ -n "${SRC_DIRS:-}" ]; then # a part of the trees
        src=$WORK/part-src src2=$WORK/part-src2
        rm -rf "$src" "$src2"
        mkdir -p "$src" "$src2"
        for d in $SRC_DIRS; do
            cp -r "$WORK/src/$d" "$src/"
            cp -r "$WORK/src2/$d" "$src2/"
        done
    fi
    note "mode $name: $modes"
    pfs_proxy_reset
    pfs_proxy_set "{\"modes\":$modes}"
    pfs_mount "$BUCKET" "$OPTS${extra:+,$extra}" || return
    : >"$errs"
    mkdir "$MNT/$prefix" 2>>"$errs" || echo "mkdir exit $?" >>"$errs"
    cp -r "$src/." "$MNT/$prefix/" 2>>"$errs" || echo "cp exit $?" >>"$errs"
    rsync -a --delete "$src2/" "$MNT/$prefix/" 2>>"$errs" || echo "rsync exit $?" >>"$errs"
    pfs_unmount
    pfs_mount "$BUCKET" "$OPTS${extra:+,$extra}" || return
    res=$(tree compare "$src2" "$MNT/$prefix" 2>>"$errs")
    pfs_unmount
    pfs_proxy_set '{"modes":{}}'
    read -r r_intact r_missing r_corrupt r_extra r_unreadable <<<"$res"
    res=$(tree bucket "$src2" "$BUCKET" "$prefix" 2>>"$errs")
    read -r intact missing corrupt extra _ <<<"$res"
    local uploads
    uploads=$(uploads_under "$prefix")
    apperr=$(grep -cv '^missing\|^corrupt\|^extra\|^unreadable\|^read ' "$errs")
    note "injected: $(pfs_proxy_stats injected)"
    [ -s "$errs" ] && sed 's/^/#   /' "$errs" | head -20
    local want
    want=$(find "$src2" -type f | wc -l)
    eq "[$name] every object intact in the bucket" "$want" "$intact"
    eq "[$name] none missing, corrupt or extra" "0 0 0" "$missing $corrupt $extra"
    eq "[$name] no multipart upload left over" "0" "$uploads"
    eq "[$name] no application error (cp, rsync)" "0" "$apperr"
    eq "[$name] the read-back through a fresh mount is byte-exact" "$want 0 0 0 0" \
        "$r_intact $r_missing $r_corrupt $r_extra $r_unreadable"
    local injected
    injected=$(pfs_proxy_stats total_injected)
    [ "$name" = latency ] && injected=$(pfs_proxy_stats injected.latency)
    ok "[$name] the proxy injected faults" test "$injected" -gt 0
    row "$name" "$intact" "$missing" "$corrupt" "$extra" "$r_intact/$want" "$apperr" "$injected"
    note "mode $name took $((SECONDS - t0)) s"
    [ "$FAIL" -eq "$fails" ] || show_logs "$first_log"
}
# show_logs FIRST: the ends of the daemon logs from index FIRST on.
show_logs() {
    local i
    for ((i = $1; i < ${#LOGS[@]}; i++)); do
        echo "# == ${LOGS[i]}"
        tail -30 "${LOGS[i]}" | sed 's/^/#   /'
    done
}

run_mode err503 '{"err503":0.1}'
run_mode err500 '{"err500":0.1}'
run_mode reset '{"reset":0.1}'
run_mode midbody '{"midbody":0.1}'
run_mode truncate '{"truncate":0.1}'
run_mode expired '{"expired":0.1}'
pfs_proxy_set '{"latency_ms":300}'
run_mode latency '{"latency":0.1}'
pfs_proxy_set '{"latency_ms":0}'
# A stalled request is abandoned after low_speed_time (nothing moves) or,
# without object data, request_timeout, and retried.
# Each stall costs a timeout, so this mode copies half the tree (and the big
# file) to stay inside the budget. The timeouts stay well under the proxy's
# 20 s stall but must exceed what an honest request takes: a 1 s request
# timeout is enough for the 12 MiB file of CI, not for completing a 128 MiB
# upload (the test server rewrites the whole object then) on a loaded machine.
STALL_OPTS=${PFS_STALL_OPTS:-low_speed_time=1,request_timeout=1}
SRC_DIRS="d0 d1 big.bin" run_mode stall '{"stall":0.1}' "$STALL_OPTS"

# blackout UPLOAD: 20 files written and closed one by one while the store
# resets every connection for $BLACKOUT s; prints nothing, records a row.
blackout() {
    local upload=$1 dir=bo-$1 out
    case " ${PFS_FAULT_MODES:-blackout} " in *" blackout "*) ;; *) return ;; esac
    note "blackout of $BLACKOUT s, upload=$upload"
    pfs_proxy_reset
    pfs_mount "$BUCKET" "$OPTS,upload=$upload,upload_retry_interval=2,dir_timeout=1" || return
    mkdir -p "$MNT/$dir" "$WORK/$dir"
    ls "$MNT/$dir" >/dev/null # listed: the mount knows what it holds
    sleep 1.1                 # ... and that listing is stale: lookups ask the store
    pfs_proxy_set "{\"blackout_s\":$BLACKOUT}"
    out=$(/usr/bin/python3 - "$MNT/$dir" "$WORK/$dir" <<'EOF'
import errno, os, sys, time
mnt, ref = sys.argv[1], sys.argv[2]
# An append (O_CREAT without O_TRUNC) of a name nobody could look up.
try:
    os.close(os.open(os.path.join(mnt, "log.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    append = "ok"
except OSError as e:
    append = errno.errorcode[e.errno]
opens = closes = 0
slowest = 0.0
for i in range(20):
    body = (b"file %d " % i) * (1000 + 37 * i)
    with open(os.path.join(ref, "f%02d" % i), "wb") as f:
        f.write(body)
    t0 = time.monotonic()
    try:
        fd = os.open(os.path.join(mnt, "f%02d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    except OSError as e:
        opens += 1
        print("open f%02d: %s" % (i, e), file=sys.stderr)
        continue
    os.write(fd, body)
    try:
        os.close(fd)
    except OSError as e:
        closes += 1
        print("close f%02d: %s" % (i, e), file=sys.stderr)
    slowest = max(slowest, time.monotonic() - t0)
    time.sleep(0.3)
print(append, opens, closes, int(slowest + 0.999))
EOF
)
    read -r append opens closes slowest <<<"$out"
    note "append: $append, open errors: $opens, close errors: $closes, slowest close: $slowest s"
    note "injected: $(pfs_proxy_stats injected)"
    eq "[S64] O_CREAT without O_TRUNC of a name the store cannot confirm is EIO" EIO "$append"
    eq "[S64] every open(O_CREAT|O_TRUNC) in the blackout succeeds" 0 "$opens"
    ok "[S64] the blackout hit the uploads" test "$(pfs_proxy_stats injected.blackout)" -gt 0
    if [ "$upload" = sync ]; then
        ok "[S17] with upload=sync, closes in the blackout fail" test "$closes" -gt 0
        le "[S64] ... each within the bound (retries and back-off, s)" 30 "$slowest"
    else
        eq "[S47] with upload=async, every close succeeds" 0 "$closes"
    fi
    # Healed: the retry queue (sync) or the background uploads (async) bring
    # every file, nobody writing again.
    local i res=
    for ((i = 0; i < 120; i++)); do
        res=$(tree bucket "$WORK/$dir" "$BUCKET" "$dir" 2>/dev/null)
        [ "$res" = "20 0 0 0 0" ] && break
        sleep 0.5
    done
    eq "[S64] after the blackout all 20 files arrive byte-exact" "20 0 0 0 0" "$res"
    pfs_unmount
    read -r intact missing corrupt extra _ <<<"$res"
    row "blackout-${upload:0:5}" "$intact" "$missing" "$corrupt" "$extra" "-" \
        "$((opens + closes))" "$(pfs_proxy_stats injected.blackout)"
}
blackout sync
blackout async

secrets() {
note "secrets: a mount at log_level=debug through faults"
export AWS_SESSION_TOKEN=pfs-session-token-7f3a9c
pfs_proxy_reset
pfs_proxy_set '{"modes":{"expired":0.1,"err503":0.1,"midbody":0.05}}'
pfs_mount "$BUCKET" "$OPTS,log_level=debug" || exit 1
mkdir -p "$MNT/sec"
cp -r "$WORK/src/d0" "$MNT/sec/"
cat "$MNT"/sec/d0/* >/dev/null
pfs_unmount
unset AWS_SESSION_TOKEN
pfs_proxy_set '{"modes":{}}'
LOG=${LOGS[-1]}
ok "the debug log shows the requests" grep -q 'PUT .*X-Amz-Signature' "$LOG"
ok "the proxy re-signed expired URLs" test "$(pfs_proxy_stats injected.expired)" -gt 0
# The test server's secret is also its access key (S3RVER/S3RVER), and the
# credential scope is redacted with the signature: neither may appear at all.
ok "[S65] no secret key (nor key id) in the debug log" bash -c "! grep -q S3RVER '$LOG'"
# Every signature-like parameter, in any spelling a log line could use
# (query, percent-encoded, JSON), carries REDACTED and nothing else.
ok "[S65] no signature value in the debug log" bash -c \
    "! grep -Eio '(signature|credential|security-token)(=|%3D|\": ?\")[^&\" ]*' '$LOG' | grep -Eiv '(=|%3D|\": ?\")REDACTED\$'"
ok "[S65] no security token in the debug log" bash -c "! grep -q pfs-session-token '$LOG'"
}
case " ${PFS_FAULT_MODES:-secrets} " in *" secrets "*) secrets ;; esac

note "summary (objects in the bucket after healing; read-back through a fresh mount under faults)"
printf '# %-10s %7s %7s %7s %7s %9s %8s %8s\n' mode intact missing corrupt extra read-back app-errs injected
for r in "${SUMMARY[@]}"; do printf '# %s\n' "$r"; done
pfs_finish

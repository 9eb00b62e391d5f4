# Helpers of the write-back hand-over scenarios (tests/fuse/writeback/*.sh,
# run by tests/fuse/test_writeback.sh). Sourced after lib.sh. One alone:
#   tests/server/with-server.sh --bucket ftest -- env PFS_BIN=$PWD/build/presignfs \
#       BUCKET=ftest tests/fuse/writeback/NAME.sh
py() { /usr/bin/python3 -c "$@"; }
BG=()
scenario_cleanup() {
    local p
    release 2>/dev/null
    inject "count=0" 2>/dev/null
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
    pfs_cleanup
}
trap scenario_cleanup EXIT
# hold_open MARKER PYTHON: runs PYTHON in the background (it opens and
# changes files, creates $WORK/MARKER, then sleeps with them open, for a
# bounded time); returns once MARKER exists (10 s at most; false if it never
# does). BGPID is the Python process itself (no wrapper, so a kill reaches
# it), which the cleanup kills; stop_holder kills it now.
hold_open() {
    /usr/bin/python3 -c "$2" &
    BGPID=$!
    BG+=("$BGPID")
    for _ in $(seq 100); do [ -e "$WORK/$1" ] && return 0; sleep 0.1; done
    return 1
}
stop_holder() {
    kill -KILL "$BGPID" 2>/dev/null
    wait "$BGPID" 2>/dev/null
}
store_down() { inject "count=100000&status=503&code=ServiceUnavailable"; }
store_up() { inject "count=0"; }
# wait_log PATTERN [SECONDS]: until the newest daemon log matches (30 s).
wait_log() {
    local i
    for ((i = 0; i < ${2:-30} * 10; i++)); do
        grep -qE "$1" "${LOGS[-1]}" && return 0
        sleep 0.1
    done
    echo "# the log has no '$1':"
    tail -5 "${LOGS[-1]}"
    return 1
}
journal_entries() { # the journal as "state key" lines, sorted
    "$PFS_BIN" status "$WORK/cache" --json | py '
import json, sys
for e in sorted(json.load(sys.stdin)["entries"], key=lambda e: e["key"] or ""):
    print(e["state"], e["key"])'
}
# releases: the RELEASEs the daemon has handled; await_release N: until it
# has handled N (a close's RELEASE reaches it after close(2) returns).
releases() {
    "$PFS_BIN" stats --json "$MNT" | py 'import json, sys; print(json.load(sys.stdin)["fuse"]["release"])'
}
await_release() {
    for _ in $(seq 100); do [ "$(releases)" -ge "$1" ] && return 0; sleep 0.1; done
    return 1
}
lost_found() { ls "$WORK/cache/lost+found/" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
# obj KEY: the object's bytes (or ABSENT)
obj() { if s3 exists "$1"; then s3 get "$1"; else printf ABSENT; fi; }

# Shared helpers for the mount tests (sourced; run under with-server.sh).
# A test calls pfs_mount, runs commands against $MNT, asserts with `ok`/`eq`,
# and ends with pfs_finish. Mounts and daemons are cleaned up on any exit,
# and a daemon log with a sanitizer report fails the test.
set -u
PFS_BIN=${PFS_BIN:?set PFS_BIN to the presignfs binary}
BUCKET=${BUCKET:-ftest}
WORK=$(mktemp -d /tmp/pfs-fuse-XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT"
export HOME=$WORK/home
mkdir -p "$HOME"
unset XDG_CONFIG_HOME XDG_CACHE_HOME PRESIGNFS_CONFIG
# The dialect of the server with-server.sh started: s3rver (S3) or the TOS
# front (with-server.sh --tos, which exports the front's TOS credentials).
PFS_TEST_DIALECT=${PFS_TEST_DIALECT:-s3}
if [ "$PFS_TEST_DIALECT" = tos ]; then
    BASE_OPTS="dialect=tos,endpoint=$PFS_TEST_ENDPOINT,region=$PFS_TEST_REGION,cache_dir=$WORK/cache"
else
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    BASE_OPTS="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1,cache_dir=$WORK/cache"
fi
is_tos() { [ "$PFS_TEST_DIALECT" = tos ]; }
# PFS_TEST_SIGNER=1: every mount is keyless (issue 12): a presignfs signer on
# a free loopback port alone holds the keys and the mounts run with no
# credentials in their environment, only a token. Tests that check the store
# past the mount (s3util.py) still have the keys.
SIGNER_PID=
MOUNT_ENV=(env)
if [ "${PFS_TEST_SIGNER:-}" = 1 ]; then
    signer_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '[suite]\ntoken = %s\nallow = %s\naccess = write\nmax_expires = 3600\nrate = 100000\nburst = 100000\n' \
        "$signer_token" "$BUCKET" >"$WORK/signer.clients"
    printf '%s\n' "$signer_token" >"$WORK/signer.token"
    chmod 600 "$WORK/signer.clients" "$WORK/signer.token"
    "$PFS_BIN" signer -o "${BASE_OPTS%,cache_dir=*}" --listen 127.0.0.1:0 \
        --clients "$WORK/signer.clients" --ready "$WORK/signer.ready" </dev/null 2>>"$WORK/signer.log" &
    SIGNER_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/signer.ready" ] && break; sleep 0.1; done
    [ -s "$WORK/signer.ready" ] || { echo "FAIL: the signer did not start"; cat "$WORK/signer.log"; exit 1; }
    BASE_OPTS="signer=http://127.0.0.1:$(tr -dc 0-9 <"$WORK/signer.ready"),signer_token=$WORK/signer.token,cache_dir=$WORK/cache"
    MOUNT_ENV=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u TOS_ACCESS_KEY -u TOS_SECRET_KEY)
fi
PFS_TEST_REGION=${PFS_TEST_REGION:-us-east-1}
# The variable that holds the secret key in this dialect.
if is_tos; then PFS_SECRET_VAR=TOS_SECRET_KEY; else PFS_SECRET_VAR=AWS_SECRET_ACCESS_KEY; fi
PASS=0
FAIL=0
DAEMON_PID=
MOUNTS=()
LOGS=()

note() { printf '# %s\n' "$*"; }

ok() { # ok DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        echo "FAIL: $what"
        return 1
    fi
}

eq() { # eq DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        echo "FAIL: $1: expected '$2', got '$3'"
        return 1
    fi
}

le() { # le DESCRIPTION LIMIT ACTUAL  (actual <= limit)
    if [ "$3" -le "$2" ]; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        echo "FAIL: $1: $3 exceeds the budget of $2"
        return 1
    fi
}

# errno_of COMMAND...: runs it, prints the errno name it failed with (or OK).
errno_of() {
    local out
    out=$("$@" 2>&1) && { echo OK; return; }
    case $out in
    *"No such file"*) echo ENOENT ;;
    *"Permission denied"*) echo EACCES ;;
    *"Input/output error"*) echo EIO ;;
    *"File name too long"*) echo ENAMETOOLONG ;;
    *"Read-only file system"*) echo EROFS ;;
    *"Directory not empty"*) echo ENOTEMPTY ;;
    *"No space left"*) echo ENOSPC ;;
    *) echo "OTHER($out)" ;;
    esac
}

# Mounts BUCKET[:PREFIX] on a mount point; extra -o options as $2.
# Usage: pfs_mount [SOURCE] [EXTRA_OPTS] [MOUNTPOINT]
pfs_mount() {
    local source=${1:-$BUCKET} extra=${2:-} mp=${3:-$MNT}
    local log=$WORK/daemon-${#LOGS[@]}.log
    mkdir -p "$mp"
    "${MOUNT_ENV[@]}" "$PFS_BIN" -f -o "$BASE_OPTS${extra:+,$extra}" "$source" "$mp" 2>"$log" &
    local pid=$!
    for _ in $(seq 100); do
        mountpoint -q "$mp" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    if ! mountpoint -q "$mp"; then
        echo "FAIL: mount of $source on $mp did not appear"
        cat "$log"
        FAIL=$((FAIL + 1))
        return 1
    fi
    MOUNTS+=("$mp:$pid")
    LOGS+=("$log")
    DAEMON_PID=$pid
}

# Unmounts and waits for the daemon to exit (it uploads what is pending first).
# take_mount MOUNTPOINT: removes it from MOUNTS, sets TAKEN_PID to its daemon.
take_mount() {
    local keep=() entry
    TAKEN_PID=
    for entry in "${MOUNTS[@]}"; do
        if [ "${entry%:*}" = "$1" ]; then TAKEN_PID=${entry##*:}; else keep+=("$entry"); fi
    done
    MOUNTS=("${keep[@]}")
}

pfs_unmount() {
    local mp=${1:-$MNT} pid
    take_mount "$mp"
    pid=$TAKEN_PID
    fusermount3 -u "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null
    if [ -n "$pid" ]; then
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: daemon $pid did not exit after unmount"
            FAIL=$((FAIL + 1))
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    fi
}

# Kills the daemon of a mount point with SIGKILL (a crash) and clears the dead
# mount. Usage: pfs_kill9 [MOUNTPOINT]
pfs_kill9() {
    local mp=${1:-$MNT} pid
    take_mount "$mp"
    pid=$TAKEN_PID
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    fusermount3 -uz "$mp" 2>/dev/null
    return 0
}

# open_uploads [KEY]: multipart uploads the test server holds open (for KEY).
open_uploads() {
    curl -sf "$PFS_TEST_CONTROL/uploads" | /usr/bin/python3 -c '
import json, sys
key = sys.argv[1] if len(sys.argv) > 1 else None
print(sum(1 for u in json.load(sys.stdin)["uploads"] if key is None or u["key"] == key))' "$@"
}
# wait_idle: until the test server serves no request (after a release whose
# client is gone, so that nothing lands later). Fails after 30 s.
wait_idle() {
    local i n
    for ((i = 0; i < 300; i++)); do
        n=$(curl -sf "$PFS_TEST_CONTROL/uploads" | grep -o '"inflight":[0-9]*' | cut -d: -f2)
        [ "${n:-1}" -eq 0 ] && return 0
        sleep 0.1
    done
    FAIL=$((FAIL + 1))
    echo "FAIL: the test server still serves $n requests after 30 s"
    return 1
}

counts() { curl -sf "$PFS_TEST_CONTROL/counts"; }
reset_counts() { curl -sf -X POST "$PFS_TEST_CONTROL/reset" >/dev/null; }
inject() { curl -sf -X POST "$PFS_TEST_CONTROL/fail?$1" >/dev/null; }
# count CLASS [CLASS...]: the sum of those request classes since the reset.
count() {
    local json total=0 c v
    json=$(counts)
    for c in "$@"; do
        v=$(printf '%s' "$json" | grep -o "\"$c\":[0-9]*" | cut -d: -f2)
        total=$((total + ${v:-0}))
    done
    echo $total
}

# Holds (race tests): the test server keeps matching requests from s3rver
# until released. The client gives up on a transfer slower than 1 KiB/s after
# 30 s (src/http_curl.c, not a mount option) and retries, so hold briefly.
# hold METHOD PATH [CLASS] [MORE]: prints the hold's id. PATH is a substring
# of the decoded request path (/BUCKET/KEY), CLASS a class of /counts, MORE
# more of the query (count=N&min_length=BYTES).
hold() {
    local q="method=$1&path=$(urlenc "$2")" out
    [ -n "${3:-}" ] && q+="&class=$3"
    [ -n "${4:-}" ] && q+="&$4"
    out=$(curl -sf -X POST "$PFS_TEST_CONTROL/hold?$q") || {
        echo "FAIL: hold $*: the control port refused" >&2
        return 1
    }
    printf '%s' "$out" | grep -o '"id":[0-9]*' | cut -d: -f2
}
urlenc() { /usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# held_count ID: how many requests hold ID has caught so far.
held_count() {
    curl -sf "$PFS_TEST_CONTROL/held?id=$1" | grep -o '"held":[0-9]*' | cut -d: -f2
}
# wait_held ID [N] [TIMEOUT_S] [PID]: waits until hold ID has caught N
# requests (default 1, 30 s; if PID is given, only while that process runs);
# otherwise counts a failure and returns 1.
wait_held() {
    local id=$1 n=${2:-1} t=${3:-30} pid=${4:-} i h
    for ((i = 0; i < t * 10; i++)); do
        h=$(held_count "$id")
        [ "${h:-0}" -ge "$n" ] && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            FAIL=$((FAIL + 1))
            echo "FAIL: hold $id caught ${h:-0} of $n requests; process $pid ended first"
            return 1
        fi
        sleep 0.1
    done
    FAIL=$((FAIL + 1))
    echo "FAIL: hold $id caught ${h:-0} of $n requests within $t s"
    return 1
}
# release [ID]: hands hold ID's requests (all holds without ID) to s3rver.
release() {
    curl -sf -X POST "$PFS_TEST_CONTROL/release${1:+?id=$1}" >/dev/null
}

# s3 ARGS: the S3 API directly (boto3), for objects made without the mount.
s3() { /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/s3util.py" "$@"; }

# The fault proxy (tests/server/faultproxy.js) between a mount and the test
# server. pfs_proxy_start [JSON] starts it (JSON: its initial config) and sets
# PFS_PROXY_ENDPOINT, PFS_PROXY_PID and PROXY_OPTS (mount options that send a
# pfs_mount through it: `pfs_mount "$BUCKET" "$PROXY_OPTS"`); it is stopped by
# PID at cleanup. pfs_proxy_set JSON changes its config (merged; a "modes"
# replaces the modes), pfs_proxy_reset zeroes its counters and sequences,
# pfs_proxy_stats [FIELD] prints its stats as JSON or one field (dotted:
# injected.err503), pfs_proxy_log prints its decisions (JSON).
PFS_PROXY_PID=
PFS_PROXY_ENDPOINT=
PROXY_OPTS=
pfs_proxy_start() {
    local cfg=${1:-'{}'} ready=$WORK/proxy.ready here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../server" && pwd)
    rm -f "$ready"
    node "$here/faultproxy.js" --upstream "${PFS_TEST_ENDPOINT#http://}" --ready "$ready" \
        --parent $$ --config "$cfg" </dev/null >>"$WORK/proxy.log" 2>&1 &
    PFS_PROXY_PID=$!
    for _ in $(seq 100); do
        [ -s "$ready" ] && break
        kill -0 "$PFS_PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$ready" ]; then
        echo "FAIL: the fault proxy did not start:"
        cat "$WORK/proxy.log"
        FAIL=$((FAIL + 1))
        PFS_PROXY_PID=
        return 1
    fi
    PFS_PROXY_ENDPOINT=http://127.0.0.1:$(cat "$ready")
    PROXY_OPTS="endpoint=$PFS_PROXY_ENDPOINT"
    # Injected errors in the server's dialect.
    if is_tos; then pfs_proxy_set '{"dialect":"tos"}'; fi
}
pfs_proxy_set() {
    local out
    if ! out=$(curl -sS -X POST --data-binary "$1" "$PFS_PROXY_ENDPOINT/__proxy/config" -w '\n%{http_code}'); then
        echo "FAIL: pfs_proxy_set: the proxy did not answer"
        FAIL=$((FAIL + 1))
        return 1
    fi
    if [ "${out##*$'\n'}" != 200 ]; then
        echo "FAIL: pfs_proxy_set $1: ${out%$'\n'*}"
        FAIL=$((FAIL + 1))
        return 1
    fi
}
pfs_proxy_reset() { curl -sf -X POST "$PFS_PROXY_ENDPOINT/__proxy/reset" >/dev/null; }
pfs_proxy_log() { curl -sf "$PFS_PROXY_ENDPOINT/__proxy/log"; }
pfs_proxy_stats() {
    if [ -z "${1:-}" ]; then
        curl -sf "$PFS_PROXY_ENDPOINT/__proxy/stats"
        return
    fi
    curl -sf "$PFS_PROXY_ENDPOINT/__proxy/stats" | /usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1"
}
pfs_proxy_stop() {
    local pid=$PFS_PROXY_PID
    PFS_PROXY_PID=
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

sanitizer_check() {
    local log
    for log in "${LOGS[@]}"; do
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$log"; then
            echo "FAIL: sanitizer report in the daemon log $log:"
            grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60
            FAIL=$((FAIL + 1))
        fi
    done
}

pfs_cleanup() {
    local entry
    # A held request would make an unmount (which uploads first) hang.
    release 2>/dev/null
    for entry in "${MOUNTS[@]}"; do
        fusermount3 -uz "${entry%:*}" 2>/dev/null
        kill -TERM "${entry##*:}" 2>/dev/null
    done
    for entry in "${MOUNTS[@]}"; do
        for _ in $(seq 100); do kill -0 "${entry##*:}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${entry##*:}" 2>/dev/null
    done
    pfs_proxy_stop
    if [ -n "$SIGNER_PID" ]; then
        kill -TERM "$SIGNER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SIGNER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SIGNER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap pfs_cleanup EXIT
trap "exit 143" TERM INT

pfs_finish() {
    local entry
    release 2>/dev/null
    for entry in "${MOUNTS[@]}"; do pfs_unmount "${entry%:*}"; done
    sanitizer_check
    # A failure in CI is read from this output alone: the daemons' own
    # account of it goes with the verdict.
    if [ "$FAIL" -ne 0 ]; then
        for entry in "${LOGS[@]}"; do
            echo "== the end of $entry"
            tail -40 "$entry"
        done
    fi
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

#!/bin/bash
# Runs a command against a fresh test server on 127.0.0.1 and stops the
# server (by its PID) however the command ends.
#   with-server.sh [--bucket NAME]... -- COMMAND [ARGS...]
# The command sees PFS_TEST_ENDPOINT (http://127.0.0.1:PORT), PFS_TEST_CONTROL
# (http://127.0.0.1:PORT of the counter/fault injector), PFS_TEST_BUCKETS and
# PFS_TEST_DATA_DIR (the server's storage).
# --tos starts the TOS-native front (tosfront.js, its own store) instead of
# s3rver; the command then also sees PFS_TEST_DIALECT=tos, PFS_TEST_REGION and
# TOS_ACCESS_KEY/TOS_SECRET_KEY (the front's credentials). --front-arg ARG
# passes ARG on to tosfront.js (e.g. --misorder-parts).
set -u
here=$(cd "$(dirname "$0")" && pwd)
buckets=()
tos=
front_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
    --bucket) buckets+=(--bucket "$2"); shift 2 ;;
    --tos) tos=1; shift ;;
    --front-arg) front_args+=("$2"); shift 2 ;;
    *) echo "with-server.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
shift
if [ -z "$tos" ] && [ ! -d "$here/node_modules/@20minutes/s3rver" ]; then
    echo "with-server.sh: test server not installed: run (cd $here && npm ci)" >&2
    exit 2
fi
work=$(mktemp -d /tmp/pfs-s3rver-XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$tos" ]; then
    # A secret with '/', '+' and '=' (they must survive every encoding step).
    export TOS_ACCESS_KEY=AKTPFRONTEXAMPLE TOS_SECRET_KEY='front/Secret+Key=0123'
    export PFS_TEST_DIALECT=tos PFS_TEST_REGION=cn-beijing
    node "$here/tosfront.js" --dir "$work/data" --ready "$work/ready" --parent $$ \
        --region "$PFS_TEST_REGION" --cred "$TOS_ACCESS_KEY:$TOS_SECRET_KEY" \
        "${buckets[@]}" "${front_args[@]}" </dev/null >"$work/server.log" 2>&1 &
else
    export PFS_TEST_DIALECT=s3 PFS_TEST_REGION=us-east-1
    node --openssl-legacy-provider "$here/server.js" --dir "$work/data" --ready "$work/ready" \
        --parent $$ "${buckets[@]}" </dev/null >"$work/server.log" 2>&1 &
fi
server_pid=$!
for _ in $(seq 300); do
    [ -s "$work/ready" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "with-server.sh: test server exited:" >&2
        cat "$work/server.log" >&2
        exit 2
    fi
    sleep 0.1
done
if [ ! -s "$work/ready" ]; then
    echo "with-server.sh: test server did not start within 30 s" >&2
    exit 2
fi
read -r s3_port control_port <"$work/ready"
export PFS_TEST_ENDPOINT=http://127.0.0.1:$s3_port
export PFS_TEST_CONTROL=http://127.0.0.1:$control_port
export PFS_TEST_DATA_DIR=$work/data
export PFS_TEST_BUCKETS="${buckets[*]}"
"$@"
status=$?
if [ $status -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "--- test server log (last 30 lines)" >&2
    tail -n 30 "$work/server.log" >&2
fi
exit $status

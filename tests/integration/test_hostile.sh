#!/bin/bash
# Runs a command against a fresh tests/server/hostile.js on 127.0.0.1 (no
# upstream) and stops it by its PID however the command ends.
#   test_hostile.sh COMMAND [ARGS...]
# The command sees PFS_HOSTILE_ENDPOINT (http://127.0.0.1:PORT).
set -u
here=$(cd "$(dirname "$0")/../server" && pwd)
work=$(mktemp -d /tmp/pfs-hostile-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
node "$here/hostile.js" --ready "$work/ready" --parent $$ </dev/null >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -s "$work/ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$work/ready" ]; then
    echo "test_hostile.sh: hostile.js did not start:" >&2
    cat "$work/log" >&2
    exit 2
fi
read -r port _ <"$work/ready"
export PFS_HOSTILE_ENDPOINT=http://127.0.0.1:$port
"$@"

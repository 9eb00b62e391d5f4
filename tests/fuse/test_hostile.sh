#!/bin/bash
# A mount in front of a hostile endpoint (tests/server/hostile.js passing
# everything else on to the test server): `ls` of a directory whose listing
# loops fails with EIO at once, one log line naming bucket and prefix ([S70]);
# a listing with raw names that are not UTF-8 is EIO, url-encoded ones are
# listed as the bytes they are ([S71]); the mount goes on working.
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")/../server" && pwd)
node "$here/hostile.js" --upstream "${PFS_TEST_ENDPOINT#http://}" --ready "$WORK/hostile.ready" \
    --parent $$ </dev/null >"$WORK/hostile.log" 2>&1 &
HOSTILE_PID=$!
stop_hostile() { kill -TERM "$HOSTILE_PID" 2>/dev/null; wait "$HOSTILE_PID" 2>/dev/null; }
for _ in $(seq 100); do [ -s "$WORK/hostile.ready" ] && break; sleep 0.1; done
if [ ! -s "$WORK/hostile.ready" ]; then
    echo "FAIL: hostile.js did not start"
    cat "$WORK/hostile.log"
    stop_hostile
    exit 1
fi
read -r hport _ <"$WORK/hostile.ready"
# Markers in the real store, so that a listing of the root (which passes
# through) names the directories too.
for mode in loop-same loop-cycle backwards empty-forever nonutf8-raw nonutf8-url; do
    s3 put "$mode/" </dev/null
done
pfs_mount "$BUCKET" "endpoint=http://127.0.0.1:$hport" || { stop_hostile; pfs_finish; exit 1; }
log=${LOGS[0]}

for mode in loop-same loop-cycle backwards empty-forever; do
    # `timeout` bounds a regression to a hang; the walk itself ends at once.
    eq "[S70] ls of a directory whose listing is $mode fails with EIO" EIO \
        "$(errno_of timeout 60 ls "$MNT/$mode")"
    ok "[S70] the log names bucket and prefix of $mode" \
        grep -q "LIST $BUCKET prefix '$mode/': .*giving up (EIO)" "$log"
done
eq "[S71] a listing with a raw name that is not UTF-8 is EIO" EIO \
    "$(errno_of timeout 60 ls "$MNT/nonutf8-raw")"
ok "[S71] its log line names the prefix" \
    grep -q "LIST $BUCKET prefix 'nonutf8-raw/': unreadable listing" "$log"
eq "[S71] a url-encoded name that is not UTF-8 is listed as its bytes" "[b'\\xff\\xfex']" \
    "$(/usr/bin/python3 -c 'import os, sys; print(os.listdir(os.fsencode(sys.argv[1])))' "$MNT/nonutf8-url")"

eq "[S71] and read as a file" x "$(cat "$MNT/nonutf8-url/"$'\xff\xfe'x)"
echo "still here" >"$MNT/after"
eq "the mount goes on working" "still here" "$(cat "$MNT/after")"
pfs_finish
rc=$?
stop_hostile
exit $rc

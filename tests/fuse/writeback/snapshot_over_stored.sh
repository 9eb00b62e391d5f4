#!/bin/bash
# [S48, S40] upload=async, the file's uploads failing: a new file's
# acknowledged version is copied aside when it is opened with O_TRUNC and
# written; the open file is then renamed over a stored object. After kill
# -9 the next mount must store that version over the object it replaces.
# (The copy's record kept the base of the file before the rename, "new",
# so recovery took the stored object for a conflict and put the
# acknowledged version in lost+found.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

printf 'x: the stored object\n' | s3 put x.dat
pfs_mount "$BUCKET" "upload=async,upload_retry_interval=3600"
ls "$MNT" >/dev/null
inject "count=100000&status=503&code=ServiceUnavailable&method=PUT&path=held"
printf 'f: version one, acknowledged by close\n' >"$MNT/f.held"
eq "[S47] close of f.held is acknowledged" "0" "$?"
hold_open rewriting "
import os, time
fd = os.open('$MNT/f.held', os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'unfinished second version')
open('$WORK/rewriting', 'w').close()
time.sleep(120)"
ok "f.held is open again, truncated and written" test -e "$WORK/rewriting"
mv "$MNT/f.held" "$MNT/x.dat"
eq "mv f.held x.dat while it is open" "0" "$?"
pfs_kill9
stop_holder
store_up
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
eq "[S40] x.dat holds the version f.held's close acknowledged" \
    "f: version one, acknowledged by close" "$(obj x.dat)"
eq "f.held is not in the store" "ABSENT" "$(obj f.held)"
eq "[S42] only the unfinished copy went to lost+found" "1" "$(ls "$WORK/cache/lost+found/" | wc -l)"
pfs_finish

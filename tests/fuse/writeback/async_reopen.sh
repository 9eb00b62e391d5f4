#!/bin/bash
# [S47, S48] upload=async: close of v1 is acknowledged while the store fails
# its PUT; a second process appends half a line and keeps the file open; the
# late RELEASE of the first handle must not mark that mix CLOSED, and the
# change must not take the only copy of v1 with it: after kill -9 the next
# mount stores v1 (the mixed copy goes to lost+found).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

pfs_proxy_start '{}' || exit 1
printf 'v0\n' | s3 put ar
pfs_mount "$BUCKET" "$PROXY_OPTS,upload=async,upload_retry_interval=3600"
cat "$MNT/ar" >/dev/null
pfs_proxy_set '{"modes":{"err500":1},"methods":["PUT"]}' # uploads fail for now
printf 'v1 acknowledged by close\n' >"$MNT/ar"
eq "[S47] close acknowledged v1" "0" "$?"
eq "the journal holds v1 as closed" "closed ar" "$(journal_entries)"
hold_open appending "
import os, time
fd = os.open('$MNT/ar', os.O_WRONLY | os.O_APPEND)
os.write(fd, b'half of an appended line')
open('$WORK/appending', 'w').close()
time.sleep(120)"
note "before the kill: $(cat "$WORK"/cache/journal/*.rec)"
pfs_kill9
stop_holder
pfs_proxy_set '{"modes":{}}'
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
eq "[S47] the next mount stores what close acknowledged (v1)" "v1 acknowledged by close" "$(obj ar)"
note "lost+found: $(lost_found)"; for l in "${LOGS[@]}"; do echo "== $l"; cat "$l"; done
pfs_finish

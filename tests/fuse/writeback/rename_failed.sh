#!/bin/bash
# [S40] A file whose upload failed (close returned EIO, data kept in the
# journal) is renamed over an existing file, then the daemon is killed: the
# next mount uploads it under its new key (its record takes the replaced
# object's ETag as its base, so this is no conflict). rsync and editors do
# exactly this: write tmp, close, rename over final.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

pfs_proxy_start '{}' || exit 1
printf 'old final\n' | s3 put final
printf 'new content of final\n' >"$WORK/new"

pfs_mount "$BUCKET" "$PROXY_OPTS,upload_retry_interval=3600"
eq "the mount shows the old final" "old final" "$(cat "$MNT/final")"
pfs_proxy_set '{"modes":{"err500":1},"methods":["PUT"]}' # only uploads fail
eq "[S17] close of tmp reports the failed upload" "EIO" "$(errno_of cp "$WORK/new" "$MNT/tmp")"
eq "rename tmp -> final succeeds" "OK" "$(errno_of mv "$MNT/tmp" "$MNT/final")"
ok "the mount shows the new content under final" cmp -s "$WORK/new" "$MNT/final"
eq "the journal holds it under its new key" "closed final" "$(journal_entries)"
pfs_kill9
pfs_proxy_set '{"modes":{}}'

pfs_mount "$BUCKET"
wait_log "recovery: (uploaded final|.*final.*lost\+found)" >/dev/null
eq "[S40] the next mount stores the renamed file under final" "new content of final" "$(obj final)"
eq "[S40] ... and nothing went to lost+found" "" "$(lost_found)"
eq "[S40] the journal is empty" "" "$(journal_entries)"
pfs_finish

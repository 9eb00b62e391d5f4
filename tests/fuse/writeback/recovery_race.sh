#!/bin/bash
# [S40, S45] Recovery claims a key from its HEAD to the end of its upload: a
# write or rm made through the new mount while recovery's upload of an older
# journal copy is held lands after it, so the store ends with the new
# content (or nothing), never the journal's older copy.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

for what in write rm; do
    note "scenario: $what through the new mount while recovery uploads the journal's copy"
    key=race-$what
    printf 'v0 stored\n' | s3 put "$key"
    pfs_mount "$BUCKET" "upload_retry_interval=3600"
    cat "$MNT/$key" >/dev/null # the mount knows v0's ETag: the staged copy's base
    store_down
    eq "close of v1 fails (store down)" "EIO" "$(errno_of py "
import os
fd = os.open('$MNT/$key', os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'v1 journal\n')
os.close(fd)")"
    eq "the journal holds v1" "closed $key" "$(journal_entries)"
    pfs_kill9
    store_up

    h=$(hold PUT "/$BUCKET/$key" put)
    pfs_mount "$BUCKET" "upload_retry_interval=3600"
    wait_held "$h" 1 20 # recovery: HEAD says v0 = base, so it uploads v1 (held)
    if [ $what = write ]; then
        printf 'v2 written after the remount\n' >"$MNT/$key"
        eq "close of v2 through the new mount succeeded" "0" "$?"
        eq "the store holds v2" "v2 written after the remount" "$(obj "$key")"
        expect="v2 written after the remount"
    else
        rm "$MNT/$key"
        eq "rm through the new mount succeeded" "0" "$?"
        eq "the object is gone" "ABSENT" "$(obj "$key")"
        expect=ABSENT
    fi
    release "$h"
    wait_log "recovery: (uploaded $key|.*$key.*lost\+found)" >/dev/null
    wait_idle
    eq "[S40/S19] the acknowledged $what is not undone by recovery" "$expect" "$(obj "$key")"
    pfs_unmount
done
pfs_finish

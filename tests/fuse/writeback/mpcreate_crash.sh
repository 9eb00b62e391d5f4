#!/bin/bash
# [S43] kill -9 while the CreateMultipartUpload of a streamed (or large)
# upload is in flight: the store creates the upload but the daemon never
# learns its id. The record says when the create went out, so the next
# mount lists the key's uploads and aborts the one begun since.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

for mode in stream close; do
    key=mpc-$mode
    head -c $((20 << 20)) /dev/urandom >"$WORK/big"
    if [ $mode = stream ]; then
        opts="multipart_threshold=8M,part_size=8M"      # streamed while written
    else
        opts="multipart_threshold=8M,part_size=8M,upload=async" # uploaded whole after close
    fi
    pfs_mount "$BUCKET" "$opts"
    h=$(hold POST "/$BUCKET/$key" mp_create)
    if [ $mode = stream ]; then
        timeout 60 cp "$WORK/big" "$MNT/$key" &
    else # the last byte first: not sequential, so uploaded whole by an uploader after close
        timeout 60 /usr/bin/python3 -c "
import os
d = open('$WORK/big', 'rb').read()
fd = os.open('$MNT/$key', os.O_CREAT | os.O_WRONLY, 0o644)
os.pwrite(fd, d[-1:], len(d) - 1)
os.pwrite(fd, d[:-1], 0)
os.close(fd)" &
    fi
    BGPID=$!
    BG+=("$BGPID")
    wait_held "$h" 1 30
    pfs_kill9
    kill -KILL "$BGPID" 2>/dev/null
    wait "$BGPID" 2>/dev/null
    release "$h"
    wait_idle
    note "$mode: open uploads after the crash: $(open_uploads "$key")"
    pfs_mount "$BUCKET" "$opts"
    ok "[S43] $mode: the next mount aborts the upload it finds" \
        wait_log "recovery: aborted multipart upload .* of $key \(begun as the last daemon stopped\)"
    ok "[S43] $mode: recovery is done" wait_log "recovery: done"
    eq "[S43] $mode: no multipart upload of $key is left after the next mount" "0" "$(open_uploads "$key")"
    pfs_unmount
done
pfs_finish

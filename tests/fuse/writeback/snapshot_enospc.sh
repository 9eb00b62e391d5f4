#!/bin/bash
# [S48] upload=async with the store down, cache_dir on a small tmpfs: the
# acknowledged version of a file cannot be copied aside when the file is
# opened with O_TRUNC (cache_dir is full), so that open fails with ENOSPC
# instead of truncating the only copy of acknowledged bytes; a write and a
# truncate of the file fail the same way. The file still reads as that
# version, and after kill -9 the next mount stores it. (The truncation once
# went ahead, and the crash left only the unfinished copy, in lost+found.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

mkdir -p "$WORK/cache"
mount -t tmpfs -o size=16m tmpfs "$WORK/cache" || { echo "cannot mount a tmpfs (needs root)"; exit 1; }
trap 'scenario_cleanup 2>/dev/null; umount "$WORK/cache" 2>/dev/null || umount -l "$WORK/cache"; rm -rf "$WORK"' EXIT

head -c 6000000 /dev/urandom >"$WORK/v1"
pfs_mount "$BUCKET" "upload=async,upload_retry_interval=3600"
ls "$MNT" >/dev/null
store_down
cp "$WORK/v1" "$MNT/big"
eq "[S47] close of big (6 MB) is acknowledged with the store down" "0" "$?"
# What is left of cache_dir cannot hold a copy of big.
dd if=/dev/zero of="$WORK/cache/filler" bs=64k status=none 2>/dev/null
note "cache_dir: $(df -k "$WORK/cache" | tail -1)"
eq "[S48] open(O_TRUNC) fails: no room to keep the acknowledged version" "ENOSPC" "$(errno_of py "
import os
os.open('$MNT/big', os.O_WRONLY | os.O_TRUNC)")"
eq "[S48] a write fails the same way" "ENOSPC" "$(errno_of py "
import os
fd = os.open('$MNT/big', os.O_WRONLY)
os.pwrite(fd, b'changed', 0)")"
eq "[S48] a truncate fails the same way" "ENOSPC" "$(errno_of py "
import os
os.truncate('$MNT/big', 10)")"
ok "big still reads as the acknowledged version" cmp -s "$WORK/v1" "$MNT/big"
pfs_kill9
rm -f "$WORK/cache/filler"
store_up
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
ok "[S40] the next mount stores the acknowledged version" bash -c "cmp -s '$WORK/v1' <(BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/../s3util.py get big)"
eq "nothing went to lost+found" "" "$(lost_found)"
pfs_finish

#!/bin/bash
# [S19, S40] A file unlinked while open defers its DELETE; a new file of the
# same name takes the old object over (the DELETE is cancelled with its
# journal record, the new file's base is the old object): a failed upload
# plus a crash, a refused upload plus rm, and identical bytes written back
# never bring the unlinked content back nor delete the new one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

note "A: recreate after unlink-while-open, upload fails, kill -9"
printf 'old unlinked\n' | s3 put ua
pfs_mount "$BUCKET" "upload_retry_interval=3600"
exec 3<"$MNT/ua"
rm "$MNT/ua"
store_down
eq "close of the new ua fails (store down)" "EIO" "$(errno_of py "
import os
fd = os.open('$MNT/ua', os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
os.write(fd, b'new acked\n')
os.close(fd)")"
exec 3<&-
store_up
pfs_kill9
pfs_mount "$BUCKET"
wait_log "recovery: (uploaded ua|.*ua.*lost\+found|done)" >/dev/null
eq "[S40] the new file is stored under ua" "new acked" "$(obj ua)"
eq "[S40] nothing in lost+found" "" "$(lost_found)"
pfs_unmount
rm -f "$WORK/cache/lost+found/"*

note "B: recreate after unlink-while-open, upload refused (403), rm of the new file"
printf 'old unlinked\n' | s3 put ub
pfs_mount "$BUCKET" "upload_retry_interval=3600,attr_timeout=0,entry_timeout=0,negative_timeout=0,dir_timeout=0"
exec 3<"$MNT/ub"
rm "$MNT/ub"
inject "count=100000&status=403&code=AccessDenied"
eq "close of the new ub is refused" "EACCES" "$(errno_of py "
import os
fd = os.open('$MNT/ub', os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
os.write(fd, b'new refused\n')
os.close(fd)")"
store_up
rm "$MNT/ub"
exec 3<&-
eq "[S19] the unlinked object stays deleted" "ABSENT" "$(obj ub)"
eq "[S19] ... and the name stays gone" "absent" "$(test -e "$MNT/ub" && echo present || echo absent)"
pfs_unmount

note "C: identical content re-written after unlink-while-open, kill -9"
printf 'same\n' | s3 put uc
pfs_mount "$BUCKET"
exec 3<"$MNT/uc"
rm "$MNT/uc"
printf 'same\n' >"$MNT/uc"
eq "the re-written uc is stored" "same" "$(obj uc)"
pfs_kill9
exec 3<&-
pfs_mount "$BUCKET"
wait_log "recovery: (deleted uc|done|.*uc.*kept)" >/dev/null
eq "[S45] recovery does not delete the object written after the unlink" "same" "$(obj uc)"
pfs_finish

#!/bin/bash
# [S15, S19b, S42] Rename of a stored file that is open and being overwritten
# (O_TRUNC, not closed yet), as logrotate does: the half-written copy never
# shows in the bucket; the stored version moves to the new name and survives
# a crash before the close.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

head -c 1000000 /dev/urandom >"$WORK/old"
s3 put ro <"$WORK/old"
pfs_mount "$BUCKET"
hold_open renamed "
import os, time
fd = os.open('$MNT/ro', os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'half of the new content')
os.rename('$MNT/ro', '$MNT/ro2')
open('$WORK/renamed', 'w').close()
time.sleep(120)"
ok "the rename returned" test -e "$WORK/renamed"
eq "[S15] a partially written file never shows in the bucket" "absent" \
    "$(s3 get ro2 2>/dev/null | grep -q 'half of the new' && echo present || echo absent)"
pfs_kill9
stop_holder
ok "[S19b/S42] the old content survives the crash (under ro2, or ro)" \
    bash -c "{ BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/../s3util.py get ro2 2>/dev/null | cmp -s - '$WORK/old'; } ||
             { BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/../s3util.py get ro 2>/dev/null | cmp -s - '$WORK/old'; }"
note "bucket: $(s3 keys | tr '\n' ' ') ro2=$(s3 get ro2 2>/dev/null | head -c 40)"
pfs_finish

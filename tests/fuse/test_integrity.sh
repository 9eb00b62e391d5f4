#!/bin/bash
# Whole-object integrity and foreign metadata in the home dialect, through a
# real mount against the TOS front (with-server.sh --tos; skipped, 77, against
# another server). Issue 11, findings 2 and 3.
. "$(dirname "$0")/lib.sh"
if ! is_tos; then
    echo "needs the TOS front (with-server.sh --tos)"
    exit 77
fi
misorder() { curl -sf -X POST "$PFS_TEST_CONTROL/misorder?on=$1" >/dev/null; }

note "multipart: the completed object's CRC-64 is checked against its parts'"
head -c $((20 << 20)) /dev/urandom >"$WORK/big"
pfs_mount "$BUCKET" "upload_retry_interval=1"
misorder 1
reset_counts
eq "a store that assembles the parts out of order fails the close with EIO" EIO \
    "$(errno_of cp "$WORK/big" "$MNT/big")"
ok "... after a multipart upload" test "$(count mp_complete)" -ge 1
ok "... saying why in the log" grep -q "CRC-64 .* is not that of its .* parts" "${LOGS[-1]}"
ok "... and the data is kept for a retry" grep -q "its data is kept" "${LOGS[-1]}"
misorder 0
for _ in $(seq 100); do s3 get big 2>/dev/null | cmp -s - "$WORK/big" && break; sleep 0.2; done
ok "once the store assembles them right, the retry stores the exact bytes" \
    bash -c "BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py get big | cmp - $WORK/big"
ok "... and says so" grep -q "upload of big succeeded on retry" "${LOGS[-1]}"
misorder 0
reset_counts
ok "an in-order multipart upload succeeds at once" cp "$WORK/big" "$MNT/big2"
eq "... with one complete" 1 "$(count mp_complete)"
pfs_finish

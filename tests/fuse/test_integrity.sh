#!/bin/bash
# Whole-object integrity and foreign metadata in the home dialect, through a
# real mount against the TOS front (with-server.sh --tos; skipped, 77, against
# another server). Issue 11, findings 2 (whole-object CRC-64 of a multipart
# upload) and 3 (octal mode metadata).
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

note "mode metadata in the octal form other tools write"
s3 put-meta oct/plain "p" mode=0100644 uid=0 gid=0
s3 put-meta oct/exec "x" mode=0100750
s3 put-meta oct/suid "s" mode=0104755
s3 put-meta oct/dir/ "" mode=040700
s3 put-meta oct/s3fs "d" mode=33184
pfs_unmount
pfs_mount
eq "x-tos-meta-mode 0100644 is -rw-r--r--" "-rw-r--r--" "$(stat -c %A "$MNT/oct/plain")"
eq "0100750 is -rwxr-x---" "-rwxr-x---" "$(stat -c %A "$MNT/oct/exec")"
eq "040700 on a marker is drwx------" "drwx------" "$(stat -c %A "$MNT/oct/dir")"
eq "the decimal form (s3fs) still reads as before" "-rw-r-----" "$(stat -c %A "$MNT/oct/s3fs")"
eq "setuid from a foreign tool's octal mode is not honoured" "-rwxr-xr-x" "$(stat -c %A "$MNT/oct/suid")"
ok "... and the log says so" grep -q "mode metadata 0104755 written by another tool asks for setuid/setgid" "${LOGS[-1]}"
pfs_unmount

note "whole-object CRC-64 on read ([S69])"
# The front serves the bytes of its file and the CRC-64 it computed when the
# object was stored: a byte changed in the file behind it is a store that
# corrupted the object at rest (or on the way).
M=$((1 << 20))
head -c $((5 * M + 333)) /dev/urandom >"$WORK/crc"
s3 put crc/bad <"$WORK/crc"
s3 put crc/good <"$WORK/crc"
stored=$(curl -sf "$PFS_TEST_CONTROL/file?bucket=$BUCKET&key=crc/bad" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["path"])')
ok "the front names the file of crc/bad" test -f "$stored"
# The byte's complement: a fixed letter is the byte already once in 256 runs.
flip=$(od -An -tu1 -j $((3 * M + 17)) -N1 "$stored" | tr -d ' ')
printf "\\$(printf '%03o' $((255 - flip)))" | dd of="$stored" bs=1 seek=$((3 * M + 17)) conv=notrunc status=none
ok "the byte changed" test "$(od -An -tu1 -j $((3 * M + 17)) -N1 "$stored" | tr -d ' ')" = $((255 - flip))
pfs_mount
ok "[S69] an intact object read whole checks out" cmp -s "$WORK/crc" "$MNT/crc/good"
eq "[S69] a read that reaches the end of a corrupted object is EIO" EIO \
    "$(errno_of cat "$MNT/crc/bad")"
eq "[S69] ... and one log line says so" 1 "$(grep -c 'x-tos-hash-crc64ecma says' "${LOGS[-1]}")"
eq "[S69] a second read is EIO too (the kernel's pages of the first are dropped)" EIO \
    "$(errno_of cat "$MNT/crc/bad")"
ok "[S69] a read that stops short of the end still returns the bytes" \
    cmp -s <(head -c $M "$WORK/crc") <(head -c $M "$MNT/crc/bad")
pfs_unmount

note "data-cache hits feed the same check"
DC=$WORK/dcache
pfs_mount "$BUCKET" "data_cache=$DC"
# The head and the tail in two opens: neither read covers the whole object,
# so neither has a verdict, and every block is now cached.
head -c $((2 * M)) "$MNT/crc/bad" >/dev/null
tail -c $((4 * M)) "$MNT/crc/bad" >/dev/null
head -c $((2 * M)) "$MNT/crc/good" >/dev/null
tail -c $((4 * M)) "$MNT/crc/good" >/dev/null
pfs_unmount
pfs_mount "$BUCKET" "data_cache=$DC"
reset_counts
ok "[S69] an intact object read from the cache checks out" cmp -s "$WORK/crc" "$MNT/crc/good"
eq "[S69] a corrupted object read whole from the cache is EIO" EIO \
    "$(errno_of cat "$MNT/crc/bad")"
eq "... with no GET at all: the blocks carry the store's CRC-64" 0 "$(count get get_range)"
ok "... logged" grep -q 'x-tos-hash-crc64ecma says' "${LOGS[-1]}"
pfs_finish

#!/bin/bash
# Races between a close() that is uploading and a namespace change (rename,
# unlink), made deterministic by holding the upload in the test server
# (hold / wait_held / release in lib.sh). Run under with-server.sh --bucket ftest.
# Each scenario checks the bucket through the S3 API after the mount is
# unmounted (so a write-back design has finished), and leaves no hold, mount
# or process behind.
. "$(dirname "$0")/lib.sh"
py() { /usr/bin/python3 -c "$@"; }

BG=() # background commands (each under `timeout`), ended by their pid
races_cleanup() {
    local p
    release 2>/dev/null
    for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null; done
    pfs_cleanup
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap races_cleanup EXIT

# bg COMMAND...: runs it in the background under a 60 s timeout; sets BGPID.
bg() {
    timeout 60 "$@" &
    BGPID=$!
    BG+=("$BGPID")
}
# reap PID: waits for it (in this shell, not a $(...)), sets RC to its status.
reap() {
    RC=0
    wait "$1" || RC=$?
}
# settle PID [SECONDS]: gives a command that may (or may not, by design) wait
# for the held upload up to SECONDS (3) to finish before the hold is released.
settle() {
    local i
    for ((i = 0; i < ${2:-3} * 10; i++)); do
        kill -0 "$1" 2>/dev/null || { note "... it returned while the upload was held"; return 0; }
        sleep 0.1
    done
    note "... it waits for the held upload"
}
# name_of FILE: which of the test's patterns FILE holds (A24, A8, B8, B, old,
# empty), "absent" or "other (N bytes)".
name_of() {
    local f=$1 p
    [ -e "$f" ] || { echo absent; return; }
    [ -s "$f" ] || { echo empty; return; }
    for p in A24 A8 B8 B old; do
        cmp -s "$f" "$WORK/$p" && { echo "$p"; return; }
    done
    echo "other ($(stat -c %s "$f") bytes)"
}
# obj KEY: name_of the object KEY in the store.
obj() {
    rm -f "$WORK/obj"
    s3 exists "$1" && s3 get "$1" >"$WORK/obj"
    name_of "$WORK/obj"
}
keys() { s3 keys "$1" | tr '\n' ' ' | sed 's/ $//'; }

head -c $((24 << 20)) /dev/urandom >"$WORK/A24"
head -c $((8 << 20)) /dev/urandom >"$WORK/A8"
head -c $((8 << 20)) /dev/urandom >"$WORK/B8"
printf 'small content B\n' >"$WORK/B"
printf 'old content\n' >"$WORK/old"
SINGLE="multipart_threshold=64M"          # 24 MiB is one PUT
MULTI="multipart_threshold=8M,part_size=8M" # 24 MiB is three parts

note "scenario 1: rename(src, dst) while close() of dst is uploading"
s3 put r1/src <"$WORK/B"
pfs_mount "$BUCKET" "$SINGLE"
id=$(hold PUT /r1/dst put min_length=1)
bg dd if="$WORK/A24" of="$MNT/r1/dst" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    bg mv "$MNT/r1/src" "$MNT/r1/dst"
    mover=$BGPID
    settle "$mover"
    release "$id"
    reap "$mover"
    eq "scenario 1: mv returns 0" 0 "$RC"
    reap "$writer"
    note "scenario 1: the writer's dd exited $RC"
fi
release
pfs_unmount
eq "scenario 1: dst holds exactly B (the rename is the last word)" B "$(obj r1/dst)"
eq "scenario 1: src is gone and nothing else is there" "r1/dst" "$(keys r1/)"

note "scenario 2: mv d e while close() of d/x is uploading"
s3 put r2/d/x <"$WORK/old"
pfs_mount "$BUCKET" "$SINGLE"
id=$(hold PUT /r2/d/x put min_length=1)
bg dd if="$WORK/A24" of="$MNT/r2/d/x" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    bg mv "$MNT/r2/d" "$MNT/r2/e"
    mover=$BGPID
    settle "$mover"
    release "$id"
    reap "$mover"
    eq "scenario 2: mv returns 0" 0 "$RC"
    reap "$writer"
    note "scenario 2: the writer's dd exited $RC"
fi
release
eq "scenario 2: ls d fails with ENOENT through the mount" ENOENT "$(errno_of ls "$MNT/r2/d")"
pfs_unmount
eq "scenario 2: e/x holds the new 24 MiB" A24 "$(obj r2/e/x)"
eq "scenario 2: d/x is absent, nothing under d/ (d does not reappear)" "" "$(keys r2/d/)"
eq "scenario 2: the store holds e/x only" "r2/e/x" "$(keys r2/)"
pfs_mount "$BUCKET" "$SINGLE"
eq "scenario 2: after a remount ls d fails with ENOENT" ENOENT "$(errno_of ls "$MNT/r2/d")"
pfs_unmount

note "scenario 3: rename(new.tmp, final) during new.tmp's first (multipart) upload"
pfs_mount "$BUCKET" "$MULTI"
mkdir "$MNT/r3"
id=$(hold POST /r3/new.tmp mp_complete)
bg dd if="$WORK/A24" of="$MNT/r3/new.tmp" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    bg mv "$MNT/r3/new.tmp" "$MNT/r3/final"
    mover=$BGPID
    settle "$mover"
    release "$id"
    reap "$mover"
    eq "scenario 3: rename returns 0" 0 "$RC"
    reap "$writer"
    eq "scenario 3: the writer's close returns 0" 0 "$RC"
fi
release
pfs_unmount
eq "scenario 3: final holds the full content" A24 "$(obj r3/final)"
eq "scenario 3: new.tmp is absent, nothing else (but the marker)" "r3/ r3/final" "$(keys r3/)"
pfs_mount "$BUCKET" "$MULTI"
eq "scenario 3: after a remount final reads back the full content" A24 "$(name_of "$MNT/r3/final")"
ok "scenario 3: after a remount new.tmp does not exist" test ! -e "$MNT/r3/new.tmp"
pfs_unmount

note "scenario 4: unlink of an open file costs no download"
head -c $((64 << 20)) /dev/urandom >"$WORK/A64"
s3 put r4/big <"$WORK/A64"
pfs_mount
mkfifo "$WORK/go"
bg /usr/bin/python3 -c "
import os, sys
mnt, ref, ready, go = sys.argv[1:]
fd = os.open(mnt, os.O_RDONLY)
r = open(ref, 'rb')
def same(off, n):
    r.seek(off)
    return os.pread(fd, n, off) == r.read(n)
first = same(0, 1 << 20)
open(ready, 'w').write('ready')
open(go).read()  # blocks until the test writes the fifo
later = same(40 << 20, 1 << 20) and same((64 << 20) - 4096, 4096) and same(5 << 20, 65536)
print('first', 'ok' if first else 'bad', 'later', 'ok' if later else 'bad')
os.close(fd)
" "$MNT/r4/big" "$WORK/A64" "$WORK/ready" "$WORK/go" >"$WORK/reader.out"
reader=$BGPID
for _ in $(seq 300); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
ok "scenario 4: the reader opened the file and read 1 MiB" test -s "$WORK/ready"
# The reader's read-ahead may still be in flight: wait (bounded) until the
# request count stops moving before counting what rm costs.
last=-1
for _ in $(seq 20); do
    now=$(count total)
    [ "$now" = "$last" ] && break
    last=$now
    sleep 0.5
done
reset_counts
eq "scenario 4: rm of the open file returns 0" OK "$(errno_of rm "$MNT/r4/big")"
eq "scenario 4: rm downloaded nothing (GETs at the moment rm returned)" 0 "$(count get get_range)"
eq "scenario 4: ls no longer shows it" "" "$(ls "$MNT/s4" 2>/dev/null)"
timeout 10 bash -c 'echo go >"$1"' _ "$WORK/go"
reap "$reader"
eq "scenario 4: the reader still reads the right bytes after the unlink" 0 "$RC"
eq "scenario 4: ... at every offset" "first ok later ok" "$(cat "$WORK/reader.out")"
gone=no
for _ in $(seq 100); do s3 exists r4/big || { gone=yes; break; }; sleep 0.1; done
eq "scenario 4: after the reader closed the object is gone from the store" yes "$gone"
pfs_unmount
eq "scenario 4: nothing left under r4/" "" "$(keys r4/)"

note "scenario 5: a truncating overwrite keeps the old object until the new one is complete"
s3 put r5/f <"$WORK/A8"
pfs_mount "$BUCKET" "$SINGLE"
# Only the upload of content (not an empty object at the truncation) is held.
id=$(hold PUT /r5/f put min_length=1)
bg dd if="$WORK/B8" of="$MNT/r5/f" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    eq "scenario 5: while the overwrite is uploading, f still holds the old A8" A8 "$(obj r5/f)"
    kill -KILL "$DAEMON_PID"
    release "$id"
    reap "$writer"
    note "scenario 5: the writer's dd exited $RC after the daemon was killed"
fi
release
pfs_unmount
pfs_mount "$BUCKET" "$SINGLE"
got=$(name_of "$MNT/r5/f")
ok "scenario 5: after kill -9 and a remount f reads as the old A8 or the full new B8, not $got" \
    test "$got" = A8 -o "$got" = B8
pfs_unmount # a design that replays its journal at mount has finished by now
got=$(obj r5/f)
note "scenario 5: after kill -9 and a remount f holds $got"
ok "scenario 5: after kill -9 and a remount f holds the old A8 or the full new B8, not $got" \
    test "$got" = A8 -o "$got" = B8

note "scenario 6: unlink of a file whose upload is held"
pfs_mount "$BUCKET" "$SINGLE"
mkdir "$MNT/r6"
id=$(hold PUT /r6/x put min_length=1)
bg dd if="$WORK/A24" of="$MNT/r6/x" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    bg rm "$MNT/r6/x"
    remover=$BGPID
    settle "$remover"
    release "$id"
    reap "$remover"
    eq "scenario 6: rm returns 0" 0 "$RC"
    reap "$writer"
    note "scenario 6: the writer's dd exited $RC"
fi
release
ok "scenario 6: x is gone through the mount" test ! -e "$MNT/r6/x"
pfs_unmount
ok "scenario 6: x does not exist in the store" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists r6/x"
eq "scenario 6: no other object appears (only the directory's marker)" "r6/" "$(keys r6/)"

note "scenario 7: a reader of a file whose upload is held is not blocked"
pfs_mount "$BUCKET" "$SINGLE"
id=$(hold PUT /r7 put min_length=1)
bg dd if="$WORK/A24" of="$MNT/r7" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 30 "$writer"; then
    # The held upload cannot finish before the release below, so a reader
    # that waited for it would still be running when the hold is checked.
    timeout 20 cmp -s "$WORK/A24" "$MNT/r7"
    eq "[S16a] scenario 7: a read returns its new content while the upload is held" 0 "$?"
    eq "scenario 7: ... and the upload is still held" '"released":0' \
        "$(curl -sf "$PFS_TEST_CONTROL/held?id=$id" | grep -o '"released":[0-9]*')"
    release "$id"
    reap "$writer"
    eq "scenario 7: the writer's close succeeds" 0 "$RC"
fi
release
pfs_unmount
eq "scenario 7: the object is the new content" "A24" "$(obj r7)"

note "scenario 8: a sequential write uploads its parts while it is written"
pfs_mount "$BUCKET" "$MULTI"
reset_counts
id=$(hold POST /r8 mp_complete)
bg dd if="$WORK/A24" of="$MNT/r8" bs=1M status=none
writer=$BGPID
if wait_held "$id" 1 60 "$writer"; then
    # close holds at the complete: every part is already stored by then.
    eq "[S13a] scenario 8: all three parts went up before the complete" 3 "$(count upload_part)"
    release "$id"
    reap "$writer"
    eq "[S13a] scenario 8: the writer's close succeeds" 0 "$RC"
fi
release
eq "[S13a] scenario 8: the object is the new content" "A24" "$(obj r8)"
reset_counts
# A write behind the parts already sent: that upload is abandoned (aborted)
# and the file goes up whole at close.
/usr/bin/python3 -c "
import os
src = open('$WORK/A24', 'rb').read()
fd = os.open('$MNT/r8b', os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
for i in range(0, len(src), 1 << 20):
    os.write(fd, src[i:i + (1 << 20)])
os.pwrite(fd, open('$WORK/B8', 'rb').read(), 0)
os.close(fd)"
head -c $((8 << 20)) "$WORK/B8" >"$WORK/B8A"
tail -c +$(((8 << 20) + 1)) "$WORK/A24" >>"$WORK/B8A"
ok "[S13a] scenario 8: a file rewritten behind its streamed parts is stored byte-exact" \
    bash -c "BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py get r8b | cmp -s - '$WORK/B8A'"
eq "[S13a] scenario 8: the abandoned upload was aborted" 1 "$(count mp_abort)"
eq "[S13a] scenario 8: no multipart upload is left open" 0 "$(open_uploads)"
pfs_unmount

pfs_finish

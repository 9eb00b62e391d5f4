#!/bin/bash
# Scheduling (issue 9): a directory rename whose copies are multipart never
# deadlocks the worker pool and leaves a worker for reads ([S34], [S60]); slow
# closes never take the FUSE workers that cached metadata needs ([S61]).
# Made deterministic by holding requests in the test server (lib.sh hold,
# wait_held, release); no timing asserts: every check is "answered while the
# hold is still in place", with a generous timeout only so a regression fails
# instead of hanging.
. "$(dirname "$0")/lib.sh"

BG=() # background commands (each under `timeout`), ended by their pid
sched_cleanup() {
    local p
    release 2>/dev/null
    for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null; done
    pfs_cleanup
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap sched_cleanup EXIT
bg() {
    timeout 90 "$@" &
    BGPID=$!
    BG+=("$BGPID")
}
reap() {
    RC=0
    wait "$1" || RC=$?
}
running() { kill -0 "$1" 2>/dev/null; }
# give_up: the daemon is stuck (the regression this test is for): kill it
# rather than wait on a dead mount, and fail.
give_up() {
    release 2>/dev/null
    pfs_kill9
    echo "$PASS passed, $FAIL failed"
    exit 1
}

note "directory rename with multipart copies on a pool of two workers"
head -c $((6 << 20)) /dev/urandom >"$WORK/six1"
head -c $((6 << 20)) /dev/urandom >"$WORK/six2"
s3 put top/d1/a <"$WORK/six1"
s3 put top/d1/b <"$WORK/six2"
s3 put other/small "unrelated"
# The rename locks its parent directory in the kernel, so the unrelated file
# lies elsewhere, and its names stay cached (entry_timeout) so the kernel need
# not look them up again.
pfs_mount "$BUCKET" "copy_threshold=5M,part_size=5M,max_inflight=2,entry_timeout=600"
ls "$MNT/top/d1" >/dev/null
stat "$MNT/other/small" >/dev/null
# The first part copy into the new tree is held: the copy is then truly in
# flight on a worker (with the old single FIFO both workers sat in copies
# waiting for parts queued behind them, and no part was ever sent).
id=$(hold PUT /top/d2/ upload_part)
bg mv "$MNT/top/d1" "$MNT/top/d2"
mover=$BGPID
if wait_held "$id" 1 30 "$mover"; then
    eq "[S60] a read gets a worker while a rename's copies hold the pool" "unrelated" \
        "$(timeout 30 cat "$MNT/other/small")"
    ok "[S60] ... and the rename is still waiting for its held part" running "$mover"
else
    give_up
fi
release "$id"
reap "$mover"
eq "[S34] mv of a directory of two multipart copies on two workers finishes" 0 "$RC"
ok "[S34] d2/a byte-exact" cmp -s "$WORK/six1" "$MNT/top/d2/a"
ok "[S34] d2/b byte-exact" cmp -s "$WORK/six2" "$MNT/top/d2/b"
eq "[S34] the old tree is gone" "" "$(s3 keys top/d1/)"
pfs_unmount

note "12 slow closes, then statfs, stat and ls of cached entries"
s3 put cached/f "cached file"
# attr_timeout=0 and entry_timeout=0 send every stat to the daemon (the
# kernel caches nothing); dir_timeout keeps the daemon's listing.
pfs_mount "$BUCKET" "attr_timeout=0,entry_timeout=0,dir_timeout=600"
mkdir "$MNT/slow"
ls "$MNT/cached" >/dev/null
exec 7<"$MNT/cached/f" # open: its attributes are the daemon's to answer
reset_counts
stat -f "$MNT" >/dev/null && stat "$MNT/cached/f" >/dev/null && ls "$MNT/cached" >/dev/null
eq "[S61] statfs, stat of an open file and ls of a listed directory need no request" 0 \
    "$(count total)"
id=$(hold PUT /slow/ put "count=12&min_length=1")
writers=()
for i in $(seq 1 12); do
    bg dd if=/dev/zero of="$MNT/slow/f$i" bs=4k count=1 status=none
    writers+=("$BGPID")
done
if wait_held "$id" 12 30; then
    ok "[S61] statfs answers while 12 closes wait for their uploads" timeout 20 stat -f "$MNT" >/dev/null
    ok "[S61] stat of a cached file answers meanwhile" timeout 20 stat "$MNT/cached/f" >/dev/null
    eq "[S61] ls of a cached directory answers meanwhile" "f" "$(timeout 20 ls "$MNT/cached")"
    eq "[S61] ... all while the 12 uploads are still held" 12 "$(held_count "$id")"
    n=0
    for p in "${writers[@]}"; do running "$p" && n=$((n + 1)); done
    eq "[S61] ... and the 12 closes still wait" 12 "$n"
    [ "$FAIL" -eq 0 ] || give_up
else
    give_up
fi
release "$id"
bad=0
for p in "${writers[@]}"; do
    reap "$p"
    [ "$RC" -eq 0 ] || bad=$((bad + 1))
done
eq "[S61] the 12 closes succeed once their uploads are released" 0 "$bad"
exec 7<&-
eq "[S61] the 12 files are stored" 12 "$(s3 keys slow/ | grep -c /f)"

pfs_finish

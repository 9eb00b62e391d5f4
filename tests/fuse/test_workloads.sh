#!/bin/bash
# Tool workloads through a real mount with byte-exact (sha256) checks.
. "$(dirname "$0")/lib.sh"
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

note "cp -r of 1000 files of 4 KiB in 20 directories, ls -lR, cat, rm -r"
src=$WORK/tree
for d in $(seq -w 1 20); do
    mkdir -p "$src/dir$d"
    for f in $(seq -w 1 50); do head -c 4096 /dev/urandom >"$src/dir$d/file$f"; done
done
pfs_mount
t0=$(date +%s.%N)
ok "cp -r into the mount" cp -r "$src" "$MNT/tree"
t1=$(date +%s.%N)
note "cp -r of 1000 x 4 KiB: $(echo "$t1 - $t0" | bc) s"
eq "ls -lR lists 1000 files" 1000 "$(ls -lR "$MNT/tree" | grep -c '^-')"
pfs_unmount
pfs_mount
eq "cat of every file after a remount matches" "$(sums "$src")" "$(sums "$MNT/tree")"
eq "find counts files and directories" "1021" "$(find "$MNT/tree" | wc -l)"
eq "du --apparent-size agrees with the local tree" "$(du -sb --apparent-size "$src" | cut -f1)" "$(du -sb --apparent-size "$MNT/tree" | cut -f1)"
eq "du in blocks agrees with the local tree" "$(du -sk "$src" | cut -f1)" "$(du -sk "$MNT/tree" | cut -f1)"
ok "rm -r" rm -r "$MNT/tree"
ok "the tree is gone" test ! -e "$MNT/tree"
eq "nothing left in the bucket" "" "$(s3 keys tree/)"

note "512 MiB written with dd, read back after a remount"
dd if=/dev/urandom of="$WORK/big" bs=1M count=512 status=none
want=$(sha256sum <"$WORK/big")
t0=$(date +%s.%N)
ok "dd into the mount" dd if="$WORK/big" of="$MNT/big" bs=1M status=none
t1=$(date +%s.%N)
pfs_unmount
pfs_mount
t2=$(date +%s.%N)
got=$(sha256sum <"$MNT/big")
t3=$(date +%s.%N)
eq "512 MiB read back byte-exact" "$want" "$got"
note "512 MiB write: $(echo "scale=1; 512 / ($t1 - $t0)" | bc) MB/s, read: $(echo "scale=1; 512 / ($t3 - $t2)" | bc) MB/s"
rm -f "$MNT/big" "$WORK/big"

note "random 4 KiB reads and writes against a local copy"
head -c $((4 << 20)) /dev/urandom >"$WORK/rand.ref"
cp "$WORK/rand.ref" "$MNT/rand"
eq "random reads and writes agree" "agree" "$(/usr/bin/python3 -c "
import os, random
random.seed(7)
a = os.open('$WORK/rand.ref', os.O_RDWR); b = os.open('$MNT/rand', os.O_RDWR)
size = 4 << 20
for i in range(400):
    off = random.randrange(0, size + 8192)
    if i % 3 == 0:
        data = os.urandom(4096)
        os.pwrite(a, data, off); os.pwrite(b, data, off)
        size = max(size, off + 4096)
    elif os.pread(a, 4096, off) != os.pread(b, 4096, off):
        print('differ at', off); break
else:
    print('agree')
os.close(a); os.close(b)")"
pfs_unmount
pfs_mount
ok "the object holds the same bytes after a remount" cmp "$WORK/rand.ref" "$MNT/rand"

note "appends with echo >>"
: >"$WORK/log.ref"
for i in $(seq 100); do
    echo "line $i" >>"$WORK/log.ref"
    echo "line $i" >>"$MNT/log"
done
ok "100 appends" cmp "$WORK/log.ref" "$MNT/log"
eq "the object too" "$(sha256sum <"$WORK/log.ref")" "$(s3 get log | sha256sum)"

note "8 processes writing files at once"
mkdir -p "$WORK/par.ref" "$MNT/par"
writers=()
for p in $(seq 8); do
    (
        for f in $(seq 20); do
            n=$(((p * 7919 + f * 104729) % 300000 + 1))
            head -c $n /dev/urandom >"$WORK/par.ref/p$p-$f"
            cp "$WORK/par.ref/p$p-$f" "$MNT/par/p$p-$f"
        done
    ) &
    writers+=($!)
done
wait "${writers[@]}" # not a bare wait: the daemon is a background job too
eq "160 files written concurrently" "$(sums "$WORK/par.ref")" "$(sums "$MNT/par")"
pfs_unmount
pfs_mount
eq "... and after a remount" "$(sums "$WORK/par.ref")" "$(sums "$MNT/par")"

# What the suite cost the store, by request kind: compared between the
# dialects (fuse.workloads, fuse.tos.workloads) in the issue 11 notes.
note "requests of the whole suite: $(counts)"
pfs_finish

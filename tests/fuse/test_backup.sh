#!/bin/bash
# Backup workflows through a real mount, byte-exact: rsync (three runs), tar,
# restic, cp -a, mv, chmod -R, touch -d, and buckets shared with Debian's s3fs.
. "$(dirname "$0")/lib.sh"
# tree DIR: a mixed tree (files of 1 KiB to 8 MiB, subdirectories, a symlink,
# names with spaces and unicode, a few modes), deterministic in shape.
tree() {
    local d=$1 i
    mkdir -p "$d/sub dir/ünïcødé" "$d/deep/er/est" "$d/empty"
    for i in $(seq 1 200); do
        local size=$((1024 + (i * i * 211) % (8 << 20)))
        [ $((i % 10)) -ne 0 ] && size=$((1024 + (i * 7919) % 65536))
        case $((i % 4)) in
        0) head -c $size /dev/urandom >"$d/file $i.bin" ;;
        1) head -c $size /dev/urandom >"$d/sub dir/f$i" ;;
        2) head -c $size /dev/urandom >"$d/sub dir/ünïcødé/ü$i" ;;
        3) head -c $size /dev/urandom >"$d/deep/er/est/e$i" ;;
        esac
    done
    chmod 600 "$d/file 4.bin"
    chmod 750 "$d/sub dir/f5"
    chmod 700 "$d/deep/er"
    ln -s "sub dir/f5" "$d/link to f5"
    touch -d '2020-01-02 03:04:05.123456789' "$d/file 8.bin"
}
# meta DIR: path, type, mode and mtime (seconds) of everything below DIR
meta() { (cd "$1" && find . -printf '%p %y %m %TY%Tm%Td%TH%TM%TS\n' | sed 's/\.[0-9]*$//' | sort); }
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

src=$WORK/src
tree "$src"
pfs_mount

note "rsync -a, three runs"
t0=$(date +%s.%N)
ok "rsync -a into the mount" rsync -a "$src/" "$MNT/dst/"
t1=$(date +%s.%N)
note "rsync first run: $(echo "$t1 - $t0" | bc) s"
pfs_unmount
pfs_mount
reset_counts
out=$(rsync -a --stats "$src/" "$MNT/dst/")
note "rsync second run requests: $(counts) for $(find "$src" | wc -l) entries"
eq "a second rsync -a transfers 0 files" "0" "$(grep 'Number of regular files transferred' <<<"$out" | awk '{print $NF}')"
eq "rsync -anc --itemize-changes reports nothing" "" "$(rsync -anc --itemize-changes "$src/" "$MNT/dst/")"
eq "contents are identical" "$(sums "$src")" "$(sums "$MNT/dst")"
eq "modes and mtimes are identical" "$(meta "$src")" "$(meta "$MNT/dst")"
eq "the symlink is a symlink" "sub dir/f5" "$(readlink "$MNT/dst/link to f5")"
eq "nanosecond mtime kept" "$(stat -c %y "$src/file 8.bin")" "$(stat -c %y "$MNT/dst/file 8.bin")"

note "tar cf into the mount, tar xf back out"
ok "tar cf into the mount" tar cf "$MNT/backup.tar" -C "$src" .
mkdir "$WORK/untar"
ok "tar xf out of the mount" tar xf "$MNT/backup.tar" -C "$WORK/untar"
eq "tar: contents" "$(sums "$src")" "$(sums "$WORK/untar")"
eq "tar: modes and mtimes" "$(meta "$src")" "$(meta "$WORK/untar")"
mkdir "$MNT/untar"
ok "tar xf into the mount" tar xf "$MNT/backup.tar" -C "$MNT/untar"
pfs_unmount
pfs_mount
eq "tar xf into the mount: modes and mtimes after a remount" "$(meta "$src")" "$(meta "$MNT/untar")"

note "cp -a, mv, chmod -R, touch -d"
ok "cp -a into the mount" cp -a "$src" "$MNT/cpa"
pfs_unmount
pfs_mount
eq "cp -a preserves modes and times" "$(meta "$src")" "$(meta "$MNT/cpa")"
echo "moving" >"$MNT/mv-src"
ok "mv of a file" mv "$MNT/mv-src" "$MNT/mv-dst"
eq "the file moved" "moving" "$(cat "$MNT/mv-dst")"
ok "the old name is gone" test ! -e "$MNT/mv-src"
mkdir -p "$MNT/mvdir/inner"
for i in $(seq 200); do echo "$i" >"$MNT/mvdir/inner/f$i"; done
t0=$(date +%s.%N)
ok "mv of a directory holding 200 files" mv "$MNT/mvdir" "$MNT/mvdir2"
t1=$(date +%s.%N)
note "mv of 200 files: $(echo "$t1 - $t0" | bc) s"
eq "all 200 arrived" 200 "$(ls "$MNT/mvdir2/inner" | wc -l)"
eq "their contents too" "137" "$(cat "$MNT/mvdir2/inner/f137")"
eq "nothing is left under the old name" "" "$(s3 keys mvdir/)"
ok "chmod -R" chmod -R go-rwx "$MNT/cpa"
ok "touch -d" touch -d '1999-12-31 23:59:58' "$MNT/cpa/file 4.bin"
pfs_unmount
pfs_mount
eq "chmod -R stored" "" "$(find "$MNT/cpa" ! -type l -perm /077)"
eq "touch -d stored" "946684798" "$(stat -c %Y "$MNT/cpa/file 4.bin")"

note "restic init, backup, check --read-data, restore"
export RESTIC_PASSWORD=presignfs-test
rtree=$WORK/restic-src
mkdir -p "$rtree/a" "$rtree/b"
for i in $(seq 1 50); do head -c $((2 << 20)) /dev/urandom >"$rtree/$([ $((i % 2)) = 0 ] && echo a || echo b)/blob$i"; done
ok "restic init on the mount" restic -q init -r "$MNT/restic"
t0=$(date +%s.%N)
ok "restic backup of 100 MiB" restic -q -r "$MNT/restic" backup "$rtree"
t1=$(date +%s.%N)
note "restic backup of 100 MiB: $(echo "$t1 - $t0" | bc) s"
pfs_unmount
pfs_mount
ok "restic check --read-data" restic -q -r "$MNT/restic" check --read-data
ok "restic restore" restic -q -r "$MNT/restic" restore latest --target "$WORK/restored"
eq "restic: restored tree is identical" "$(sums "$rtree")" "$(sums "$WORK/restored$rtree")"

note "a bucket shared with s3fs"
if is_tos; then
    note "s3fs speaks S3 only: not run against the TOS front"
elif command -v s3fs >/dev/null; then
    echo "S3RVER:S3RVER" >"$WORK/s3fs-pass"
    chmod 600 "$WORK/s3fs-pass"
    s3m=$WORK/s3fs
    mkdir -p "$s3m"
    s3fs "$BUCKET" "$s3m" -o "passwd_file=$WORK/s3fs-pass,url=$PFS_TEST_ENDPOINT,use_path_request_style,sigv4,endpoint=us-east-1,stat_cache_expire=1"
    for _ in $(seq 50); do mountpoint -q "$s3m" && break; sleep 0.1; done
    mkdir -p "$s3m/from-s3fs/sub"
    echo "written by s3fs" >"$s3m/from-s3fs/sub/file"
    chmod 640 "$s3m/from-s3fs/sub/file"
    touch -d '2011-11-11 11:11:11' "$s3m/from-s3fs/sub/file"
    ln -s sub/file "$s3m/from-s3fs/link"
    # Made behind this mount's back: visible after its cache timeouts ([S28]),
    # or at once on a fresh mount.
    pfs_unmount
    pfs_mount
    eq "s3fs -> presignfs: content" "written by s3fs" "$(cat "$MNT/from-s3fs/sub/file")"
    eq "s3fs -> presignfs: mode and mtime" "640 1321009871" "$(stat -c '%a %Y' "$MNT/from-s3fs/sub/file")"
    eq "s3fs -> presignfs: symlink" "sub/file" "$(readlink "$MNT/from-s3fs/link")"
    mkdir -p "$MNT/from-presignfs"
    echo "written by presignfs" >"$MNT/from-presignfs/file"
    chmod 604 "$MNT/from-presignfs/file"
    touch -d '2012-12-12 12:12:12' "$MNT/from-presignfs/file"
    ln -s file "$MNT/from-presignfs/link"
    sleep 2
    eq "presignfs -> s3fs: content" "written by presignfs" "$(cat "$s3m/from-presignfs/file")"
    eq "presignfs -> s3fs: mode and mtime" "604 1355314332" "$(stat -c '%a %Y' "$s3m/from-presignfs/file")"
    eq "presignfs -> s3fs: symlink" "file" "$(readlink "$s3m/from-presignfs/link")"
    fusermount3 -u "$s3m" 2>/dev/null || fusermount -u "$s3m"
else
    echo "FAIL: s3fs is not installed (apt-get install s3fs)"
    FAIL=$((FAIL + 1))
fi

pfs_finish

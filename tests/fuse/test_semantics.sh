#!/bin/bash
# Every sentence of doc/SEMANTICS.md through a real mount (run under
# with-server.sh --bucket ftest). Messages name the sentence: [S7].
. "$(dirname "$0")/lib.sh"
py() { /usr/bin/python3 -c "$@"; }

note "names"
s3 put obj/a/b/c "deep file"
s3 put implicit/x/y/z "z"
s3 put marker/ ""
s3 put clash "file part"
s3 put clash/inner "inner"
pfs_mount
eq "[S1] object a/b/c is file c in a/b" "deep file" "$(cat "$MNT/obj/a/b/c")"
ok "[S1] prefixes are directories" test -d "$MNT/obj/a/b"
ok "[S2] implicit directory at depth" test -d "$MNT/implicit/x/y"
eq "[S2] implicit directory lists its child" "z" "$(ls "$MNT/implicit/x/y")"
ok "[S3] marker is an empty directory" test -d "$MNT/marker"
eq "[S3] marker directory is empty" "" "$(ls -A "$MNT/marker")"
ok "[S6] file-and-prefix shows as a directory" test -d "$MNT/clash"
eq "[S6] its children are there" "inner" "$(ls "$MNT/clash")"
ok "[S6] the file object is not deleted" s3 exists clash
# [S7] s3rver cannot store keys with '//', '.' or '..' components (its disk
# store normalises them) nor 256-byte components: tests/unit/test_fs.c feeds
# such keys to the filesystem layer through a scripted listing instead.
long=$(printf 'n%.0s' $(seq 256))
eq "[S8] 256-byte name is ENAMETOOLONG" ENAMETOOLONG "$(errno_of touch "$MNT/$long")"
ok "[S8] 255-byte name is fine in lookups" test ! -e "$MNT/${long:1}"

note "directories"
mkdir "$MNT/newdir"
ok "[S4] mkdir writes the marker" s3 exists newdir/
echo x >"$MNT/newdir/f"
eq "[S5] rmdir of a non-empty directory" ENOTEMPTY "$(errno_of rmdir "$MNT/newdir")"
rm "$MNT/newdir/f"
ok "[S5] rmdir of an empty directory" rmdir "$MNT/newdir"
ok "[S5] its marker is deleted" bash -c "! s3 exists newdir/ 2>/dev/null; ! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists newdir/"
mkdir "$MNT/keepme"
pfs_unmount
pfs_mount
ok "[S4] an empty directory survives a remount" test -d "$MNT/keepme"
pfs_unmount
pfs_mount "$BUCKET:obj/a" "" "$WORK/sub"
eq "[S9] a prefix mount shows what is below it" "b" "$(ls "$WORK/sub")"
eq "[S9] ... and reads through it" "deep file" "$(cat "$WORK/sub/b/c")"
pfs_unmount "$WORK/sub"

note "reading"
head -c 1000000 /dev/urandom >"$WORK/ref"
s3 put data/ref <"$WORK/ref"
pfs_mount
ok "[S10] whole read" cmp "$WORK/ref" "$MNT/data/ref"
for spec in "0 1" "0 4096" "123457 5000" "500000 131072" "999999 1" "999000 5000"; do
    set -- $spec
    a=$(dd if="$WORK/ref" bs=1M iflag=skip_bytes,count_bytes skip=$1 count=$2 status=none | sha256sum)
    b=$(dd if="$MNT/data/ref" bs=1M iflag=skip_bytes,count_bytes skip=$1 count=$2 status=none | sha256sum)
    eq "[S10] read of $2 bytes at $1" "$a" "$b"
done
eq "[S10] read past the end is empty" 0 "$(dd if="$MNT/data/ref" bs=4096 skip=1000 status=none | wc -c)"
head -c $((40 << 20)) /dev/urandom >"$WORK/big"
s3 put data/big <"$WORK/big"
reset_counts
ok "[S11] sequential read is byte-exact" cmp "$WORK/big" "$MNT/data/big"
ranged=$(count get_range get)
le "[S11] read-ahead: 40 MiB in large ranged GETs, not 128 KiB reads" 40 "$ranged"
# The first open looks again when the attributes are older than attr_timeout
# (close-to-open, S64); the second is within it.
cat "$MNT/data/ref" >/dev/null
reset_counts
cat "$MNT/data/ref" >/dev/null
eq "[S12] no metadata request for a second read within attr_timeout" 0 "$(count head list)"
pfs_unmount
pfs_mount "$BUCKET" "memory_limit=2M"
ok "[S11] a 2 MiB memory_limit still reads correctly (back-pressure)" cmp "$WORK/big" "$MNT/data/big"
pfs_unmount

note "writing"
pfs_mount "$BUCKET" "multipart_threshold=8M,part_size=8M,retries=1,upload_retry_interval=2"
reset_counts
head -c 20000 /dev/urandom >"$WORK/small"
cp "$WORK/small" "$MNT/small"
eq "[S13] a small file is one PUT" 1 "$(count put)"
eq "[S13] ... and no multipart" 0 "$(count mp_create)"
reset_counts
head -c $((20 << 20)) /dev/urandom >"$WORK/twenty"
cp "$WORK/twenty" "$MNT/twenty"
eq "[S13] a 20 MiB file is a multipart upload" "1 3 1 0" "$(count mp_create) $(count upload_part) $(count mp_complete) $(count put)"
s3 get twenty >"$WORK/twenty.back"
ok "[S13] the multipart object is byte-exact" cmp "$WORK/twenty" "$WORK/twenty.back"

# [S14] every way of writing, mirrored on a local reference file
ref=$WORK/w.ref
f=$MNT/w.dat
for target in "$ref" "$f"; do
    py "
import os
p='$target'
fd=os.open(p, os.O_CREAT|os.O_WRONLY|os.O_TRUNC, 0o644); os.write(fd, b'hello world\n'*1000); os.close(fd)
fd=os.open(p, os.O_WRONLY); os.pwrite(fd, b'OVERWRITE', 100); os.close(fd)
fd=os.open(p, os.O_WRONLY|os.O_APPEND); os.write(fd, b'appended\n'); os.close(fd)
fd=os.open(p, os.O_RDWR); os.pwrite(fd, b'far', 50000); os.close(fd)
os.truncate(p, 30000)
os.truncate(p, 40000)
fd=os.open(p, os.O_RDWR); os.pwrite(fd, b'sparse', 100000); os.ftruncate(fd, 90000); os.close(fd)
"
done
ok "[S14] create, overwrite, append, random writes, truncate, sparse" cmp "$ref" "$f"
s3 get w.dat >"$WORK/w.back"
ok "[S14] the object holds exactly those bytes" cmp "$ref" "$WORK/w.back"
for target in "$ref" "$f"; do
    py "import os; fd=os.open('$target', os.O_WRONLY|os.O_TRUNC); os.write(fd, b'short'); os.close(fd)"
done
s3 get w.dat >"$WORK/w.back"
ok "[S14] O_TRUNC" cmp "$ref" "$WORK/w.back"
# Any close of a descriptor flushes (even a forked child's copy), so the
# bucket is checked from inside the writing process, without forking.
eq "[S15] a file being written is not in the bucket; it appears at close" "absent present" "$(py "
import os, sys
sys.path.insert(0, '$(dirname "$0")')
import s3util
def state():
    return 'present' if s3util.exists('$BUCKET', 'partial') else 'absent'
fd = os.open('$MNT/partial', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'not yet')
before = state()
os.close(fd)
print(before, state())")"
reset_counts
eq "[S18] stat and ls of a file just written" "7" "$(stat -c %s "$MNT/partial")"
ls -l "$MNT/partial" >/dev/null
eq "[S18] ... cost no request" 0 "$(count total)"
eq "[S16] fsync stores before returning" "absent stored" "$(py "
import os, sys
sys.path.insert(0, '$(dirname "$0")')
import s3util
def state():
    b = s3util.get_or_none('$BUCKET', 'synced')
    return 'absent' if b is None else b.decode()
fd = os.open('$MNT/synced', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'stored')
before = state()
os.fsync(fd)
after = state()
os.close(fd)
print(before, after)")"

# [S17] a failing upload: EIO at close, data kept, retried until stored
py "import os; fd=os.open('$MNT/retry', os.O_CREAT|os.O_WRONLY, 0o644); os.close(fd)"
# Every request fails until the injection is lifted (however many the kernel's
# lookups and the retries make).
inject "count=1000&status=500&code=InternalError"
eq "[S17] close returns EIO when the upload fails" "EIO" "$(py "
import os, errno
fd=os.open('$MNT/retry', os.O_WRONLY)
os.write(fd, b'precious data')
try:
    os.close(fd); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")"
ok "[S17] the log names the staged file" grep -q "upload of retry failed.*kept in $WORK/cache/journal/j[0-9a-f]*\.data" "${LOGS[-1]}"
staged=$(grep -o "kept in $WORK/cache/journal/j[0-9a-f]*\.data" "${LOGS[-1]}" | head -1 | cut -d' ' -f3)
eq "[S17] the staged file holds the data" "precious data" "$(cat "$staged" 2>/dev/null)"
eq "[S17a] its journal record says closed, with the key" "closed retry" \
    "$("$PFS_BIN" status "$WORK/cache" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(" ".join((e["state"], e["key"])) for e in d["entries"]))')"
ok "[S17] nothing partial reached the bucket" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py get retry 2>/dev/null | grep -q precious"
inject "count=0"
# The empty object from the create exists already: wait for the content.
for _ in $(seq 60); do [ "$(s3 get retry 2>/dev/null)" = "precious data" ] && break; sleep 0.5; done
eq "[S17] the upload is retried and stored" "precious data" "$(s3 get retry 2>/dev/null)" ||
    tail -20 "${LOGS[-1]}"
ok "[S17] the staged file is removed once stored" test ! -e "$staged"
pfs_unmount

note "unlink"
pfs_mount
printf 'still here' >"$MNT/doomed"
exec 3<"$MNT/doomed"
rm "$MNT/doomed"
ok "[S19] the name disappears at once" test ! -e "$MNT/doomed"
eq "[S19] an open file keeps reading after unlink" "still here" "$(cat <&3)"
exec 3<&-
for _ in $(seq 50); do s3 exists doomed || break; sleep 0.1; done
ok "[S19] unlink deletes the object (at the last close of an open reader)" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists doomed"
s3 put doomed2 "remote content"
eq "[S19] an open file keeps working for writes after unlink" "remote content+more" "$(py "
import os
fd=os.open('$MNT/doomed2', os.O_RDWR)
os.unlink('$MNT/doomed2')
os.pwrite(fd, b'+more', 14)
print(os.pread(fd, 100, 0).decode()); os.close(fd)")"
ok "[S19] ... and is not uploaded again" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists doomed2"

note "attributes"
printf '12345' >"$MNT/attr"
mkdir "$MNT/attrdir"
eq "[S20] file owner, group and mode" "$(id -u) $(id -g) 644" "$(stat -c '%u %g %a' "$MNT/attr")"
eq "[S20] directory mode" "755" "$(stat -c '%a' "$MNT/attrdir")"
age=$(($(date +%s) - $(stat -c %Y "$MNT/data/ref")))
ok "[S20] mtime is LastModified" test "$age" -ge 0 -a "$age" -lt 600
eq "[S21] st_blocks in 512-byte units" "$(((1000000 + 511) / 512))" "$(stat -c %b "$MNT/data/ref")"
eq "[S21] du agrees with the size" "$(((1000000 + 1023) / 1024))" "$(du -k "$MNT/data/ref" | cut -f1)"
ok "[S22] statfs reports a large capacity" test "$(stat -f -c '%a' "$MNT")" -ge $((1 << 38))
chmod 600 "$MNT/attr"
touch -d '2001-02-03 04:05:06.25' "$MNT/attr"
reset_counts
chmod 640 "$MNT/attr"
eq "[S23] chmod of a stored object is a copy onto itself, not a re-upload" "1 0" "$(count copy) $(count put)"
eq "[S23] chmod and touch show through the mount" "640 981173106" "$(stat -c '%a %Y' "$MNT/attr")"
chmod 700 "$MNT/attrdir"
s3 put nometa "plain object"
pfs_unmount
pfs_mount
eq "[S23] ... and are stored" "640 2001-02-03 04:05:06.250000000 +0000" "$(TZ=UTC stat -c '%a %y' "$MNT/attr")"
eq "[S23] a directory's mode is stored in its marker" "700" "$(stat -c '%a' "$MNT/attrdir")"
eq "[S23] s3fs names and formats" "33184 981173106.250000000" "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
m = s3util.user_meta('$BUCKET', 'attr')
print(m['mode'], m['mtime'])")"
eq "[S23] an object without metadata shows the defaults" "644 $(id -u)" "$(stat -c '%a %u' "$MNT/nometa")"
reset_counts
ls -l "$MNT" >/dev/null
ok "[S32] metadata=head reads attributes with HEADs" test "$(count head)" -gt 0
pfs_unmount
pfs_mount "$BUCKET" "metadata=listing"
reset_counts
# TOS listings carry the metadata (fetch-meta=true), S3 listings do not.
eq "[S32] metadata=listing shows listing attributes" "$(is_tos && echo 640 || echo 644)" "$(stat -c '%a' "$MNT/attr")"
ls -l "$MNT" >/dev/null
eq "[S32] ... without any HEAD" 0 "$(count head)"
pfs_unmount
pfs_mount

note "rename, links, xattrs"
echo one >"$MNT/r1"
echo two >"$MNT/r2"
chmod 600 "$MNT/r1"
ok "[S33] rename of a file" mv "$MNT/r1" "$MNT/r1b"
eq "[S33] ... keeps content and metadata" "one 600" "$(cat "$MNT/r1b") $(stat -c %a "$MNT/r1b")"
ok "[S33] ... and the old key is gone" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists r1"
ok "[S33] rename over an existing file" mv -f "$MNT/r1b" "$MNT/r2"
eq "[S33] ... replaces it" "one" "$(cat "$MNT/r2")"
echo three >"$MNT/r3"
renameat2() { /usr/bin/python3 -c "
import ctypes, os, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(316, -100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
print('OK' if r == 0 else errno.errorcode[ctypes.get_errno()])" "$@"; }
eq "[S33] RENAME_NOREPLACE onto an existing file" EEXIST "$(renameat2 "$MNT/r3" "$MNT/r2" 1)"
eq "[S33] RENAME_EXCHANGE" EINVAL "$(renameat2 "$MNT/r3" "$MNT/r2" 2)"
eq "[S33] RENAME_NOREPLACE onto a free name" OK "$(renameat2 "$MNT/r3" "$MNT/r4" 1)"
pfs_unmount
pfs_mount "$BUCKET" "copy_threshold=5M,part_size=5M"
head -c $((12 << 20)) /dev/urandom >"$WORK/mp.ref"
cp "$WORK/mp.ref" "$MNT/mp-src"
chmod 640 "$MNT/mp-src"
reset_counts
ok "[S33] rename of a file larger than copy_threshold" mv "$MNT/mp-src" "$MNT/mp-dst"
eq "[S33] ... is a multipart copy in parts" "1 3 0" "$(count mp_create) $(count upload_part) $(count put)"
ok "[S33] ... byte-exact" cmp "$WORK/mp.ref" "$MNT/mp-dst"
chmod 604 "$MNT/mp-dst"
pfs_unmount
pfs_mount
eq "[S33] ... with its metadata, which a chmod above copy_threshold also replaces" "604" "$(stat -c %a "$MNT/mp-dst")"
ok "[S33] ... still byte-exact" cmp "$WORK/mp.ref" "$MNT/mp-dst"
mkdir -p "$MNT/tree/a/b"
for i in $(seq 20); do echo "$i" >"$MNT/tree/a/b/f$i"; done
ok "[S34] rename of a directory" mv "$MNT/tree" "$MNT/tree2"
eq "[S34] every object moved" 20 "$(s3 keys tree2/a/b/ | grep -vc '/$')"
eq "[S34] none left behind" "" "$(s3 keys tree/)"
eq "[S34] contents intact" "17" "$(cat "$MNT/tree2/a/b/f17")"
ln -s "tree2/a/b/f3" "$MNT/lnk"
eq "[S35] a symlink reads back" "tree2/a/b/f3" "$(readlink "$MNT/lnk")"
eq "[S35] it is stored as s3fs stores it" "tree2/a/b/f3 41471" "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
print(s3util.get_or_none('$BUCKET', 'lnk').decode(), s3util.user_meta('$BUCKET', 'lnk')['mode'])")"
eq "[S35] it resolves" "3" "$(cat "$MNT/lnk")"
eq "[S36] user extended attributes are stored; other namespaces are ENOTSUP" "OK ENOTSUP" "$(/usr/bin/python3 -c "
import os, errno
os.setxattr('$MNT/r2', 'user.test', b'v')
try:
    os.setxattr('$MNT/r2', 'trusted.test', b'v'); print('OK OK')
except OSError as e:
    print('OK', errno.errorcode[e.errno])")"

note "names that listings encode"
# Listings are asked for with encoding-type=url: AWS and TOS then write a
# space as '+' and a '+' as %2B (the S3 test server is taught to do so). A
# name must come back exactly, and two names must never collapse into one.
names=("my file.txt" "my+file.txt" "100%.txt" "a%2Bb" "ünï 中文.txt" $'ctl\x01\x7fx')
for n in "${names[@]}"; do s3 put "enc/$n" "content of $n"; done
pfs_unmount
pfs_mount
eq "listing names with spaces, '+', '%', unicode and control characters come back exactly" \
    "$(printf '%s\n' "${names[@]}" | LC_ALL=C sort)" "$(ls -A "$MNT/enc" | LC_ALL=C sort)"
good=0
for n in "${names[@]}"; do [ "$(cat "$MNT/enc/$n" 2>&1)" = "content of $n" ] && good=$((good + 1)); done
eq "... and each opens with its own content" "${#names[@]}" "$good"
ok "rm of 'my+file.txt'" rm "$MNT/enc/my+file.txt"
eq "... keeps 'my file.txt'" "content of my file.txt" "$(cat "$MNT/enc/my file.txt" 2>&1)"
ok "... and deletes its own object" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists 'enc/my+file.txt'"
echo "via the mount" >"$MNT/enc/new one+two.txt"
ok "a name written through the mount is stored as written" s3 exists "enc/new one+two.txt"
pfs_unmount
pfs_mount
eq "... and lists back as written" "via the mount" "$(cat "$MNT/enc/new one+two.txt" 2>&1)"

note "errors"
eq "[S24] missing key is ENOENT" ENOENT "$(errno_of cat "$MNT/no-such-file")"
# Objects made behind the mount's back are seen after the caches' timeouts
# ([S28]): remount so the lookups below reach the store.
s3 put denied "x"
s3 put unreachable "x"
pfs_unmount
pfs_mount
inject "count=2&status=403&code=AccessDenied"
eq "[S24] access denied is EACCES" EACCES "$(errno_of cat "$MNT/denied")"
pfs_unmount
pfs_mount "$BUCKET" "retries=2"
inject "count=50&status=503&code=ServiceUnavailable"
eq "[S24] a failing store is EIO after retries" EIO "$(errno_of cat "$MNT/unreachable")"
inject "count=0"
ok "[S24] ... with a log line naming the request id" grep -q "request id injected-" "${LOGS[-1]}"
pfs_unmount
pfs_mount "$BUCKET" "ro"
eq "[S24] writing on a ro mount is EROFS" EROFS "$(errno_of touch "$MNT/ro-file")"
eq "[S24] mkdir on a ro mount is EROFS" EROFS "$(errno_of mkdir "$MNT/ro-dir")"
ok "[S24] reading a ro mount works" cmp "$WORK/ref" "$MNT/data/ref"
pfs_unmount

note "caches"
pfs_mount
pfs_mount "$BUCKET" "" "$WORK/other"
ls "$WORK/other" >/dev/null
echo fresh >"$MNT/visible-now"
ok "[S25] a file created here shows at once" test -e "$MNT/visible-now"
rm "$MNT/visible-now"
ok "[S25] a file removed here is gone at once" test ! -e "$MNT/visible-now"
echo "from A" >"$MNT/shared"
sleep 6
eq "[S28] another mount sees the change within the timeouts" "from A" "$(cat "$WORK/other/shared" 2>&1)"
echo "changed by B" >"$WORK/other/shared"
sleep 6
eq "[S28] ... and the other way round" "changed by B" "$(cat "$MNT/shared" 2>&1)"
pfs_unmount "$WORK/other"
pfs_unmount

note "mounting"
mkdir -p "$WORK/m2"
if [ "${PFS_TEST_SIGNER:-}" = 1 ]; then
    note "[S29] keyless: credentials and endpoints are the signer's (fuse.keyless checks them)"
else
    out=$(env "$PFS_SECRET_VAR=wrong" "$PFS_BIN" -o "$BASE_OPTS" "$BUCKET" "$WORK/m2" 2>&1)
    eq "[S29] a wrong secret fails the mount with status 1" "1" "$?"
    eq "[S29] ... in one line" 1 "$(printf '%s\n' "$out" | wc -l)"
    ok "[S29] ... naming the store's answer" grep -q "HTTP 403" <<<"$out"
    ok "[S29] ... what a 403 usually means, and presignfs check" \
        grep -q "usually a wrong access key, secret key or region; \`presignfs check\` says more" <<<"$out"
    ok "[S29] ... and nothing is mounted" bash -c "! mountpoint -q $WORK/m2"
    "$PFS_BIN" -o "$BASE_OPTS" no-such-bucket "$WORK/m2" 2>"$WORK/err"
    eq "[S29] a missing bucket fails the mount with status 1" "1" "$?"
    ok "[S29] ... saying so" grep -q "NoSuchBucket" "$WORK/err"
    "$PFS_BIN" -o "dialect=$PFS_TEST_DIALECT,endpoint=http://127.0.0.1:1,region=$PFS_TEST_REGION,retries=0" "$BUCKET" "$WORK/m2" 2>"$WORK/err"
    eq "[S29] an unreachable endpoint fails the mount with status 1" "1" "$?"
fi
pfs_mount
"$PFS_BIN" -o "$BASE_OPTS" "$BUCKET" "$MNT" 2>"$WORK/err"
eq "[S30] mounting on a mount point twice is refused with status 2" "2" "$?"
"$PFS_BIN" -o "$BASE_OPTS" "$BUCKET" "$WORK/missing" 2>"$WORK/err"
eq "[S30] a missing mount point is refused with status 2" "2" "$?"

# [S37] the mount(8) helper, as fstab would run it
HELPER=${PFS_MOUNT_HELPER:-$(dirname "$PFS_BIN")/mount.presignfs}
printf 'dialect = %s\nendpoint = %s\nregion = %s\ncache_dir = %s\n' "$PFS_TEST_DIALECT" "$PFS_TEST_ENDPOINT" "$PFS_TEST_REGION" "$WORK/cache" >"$WORK/fstab.conf"
mkdir -p "$WORK/fstab-mnt"
wait_gone() { for _ in $(seq 100); do pgrep -f "presignfs.* $1\$" >/dev/null || return 0; sleep 0.1; done; return 1; }
ok "[S37] mount.presignfs takes fstab options" env PRESIGNFS_BIN="$PFS_BIN" "$HELPER" "$BUCKET" "$WORK/fstab-mnt" -o "_netdev,allow_other,noauto,rw,defaults,config=$WORK/fstab.conf"
eq "[S37] ... and the bucket is mounted" "deep file" "$(cat "$WORK/fstab-mnt/obj/a/b/c" 2>&1)"
fusermount3 -u "$WORK/fstab-mnt"
ok "[S37] ... and its daemon ends at unmount" wait_gone "$WORK/fstab-mnt"
if [ "$(id -u)" = 0 ] && [ ! -e /sbin/mount.presignfs ] && command -v mount >/dev/null; then
    # mount(8) itself, reading an fstab of our own (-T), finds the helper in /sbin.
    sed "s|^PRESIGNFS=.*|PRESIGNFS=$PFS_BIN|" "$HELPER" >/sbin/mount.presignfs
    chmod 755 /sbin/mount.presignfs
    printf '%s %s presignfs _netdev,allow_other,config=%s 0 0\n' "$BUCKET" "$WORK/fstab-mnt" "$WORK/fstab.conf" >"$WORK/fstab"
    ok "[S37] mount -T FSTAB -a mounts it" mount -T "$WORK/fstab" -a
    eq "[S37] ... readable" "deep file" "$(cat "$WORK/fstab-mnt/obj/a/b/c" 2>&1)"
    umount "$WORK/fstab-mnt" 2>/dev/null || fusermount3 -u "$WORK/fstab-mnt"
    wait_gone "$WORK/fstab-mnt"
    rm -f /sbin/mount.presignfs
fi

# [S31] a pending upload is completed at unmount
pfs_unmount
pfs_mount "$BUCKET" "retries=0,upload_retry_interval=3600"
py "import os; fd=os.open('$MNT/at-unmount', os.O_CREAT|os.O_WRONLY, 0o644); os.close(fd)"
inject "count=1000&status=500&code=InternalError"
eq "[S31] the upload fails at close" "EIO" "$(py "
import os, errno
fd=os.open('$MNT/at-unmount', os.O_WRONLY); os.write(fd, b'late but stored')
try:
    os.close(fd); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")"
inject "count=0"
pfs_unmount
eq "[S31] unmount waited for the pending upload" "late but stored" "$(s3 get at-unmount 2>&1)"

pfs_finish

#!/bin/bash
# Interoperability with what other tools read and write (issue 11), in both
# dialects (fuse.interop against s3rver, fuse.tos.interop against the TOS
# front): Content-Type from the extension [S49], extended attributes as s3fs
# stores them [S36], special files [S73], directory objects other tools make
# [S74], ctime [S75], a DELETE answered 404 [S76].
. "$(dirname "$0")/lib.sh"

note "Content-Type from the file name's extension"
pfs_mount
printf '%%PDF-1.4\n' >"$WORK/r.pdf"
cp "$WORK/r.pdf" "$MNT/report.pdf"
printf 'jpeg' >"$MNT/photo.JPG"
printf 'plain' >"$MNT/README"
head -c $((20 << 20)) /dev/urandom >"$WORK/movie.mp4"
cp "$WORK/movie.mp4" "$MNT/movie.mp4"
eq "[S49] a .pdf is stored as application/pdf" application/pdf "$(s3 ctype report.pdf)"
eq "[S49] the extension's case does not matter" image/jpeg "$(s3 ctype photo.JPG)"
eq "[S49] no extension: application/octet-stream" application/octet-stream "$(s3 ctype README)"
eq "[S49] a multipart upload has it too" video/mp4 "$(s3 ctype movie.mp4)"
mv "$MNT/report.pdf" "$MNT/report.bin"
eq "[S49] rename keeps the stored Content-Type" application/pdf "$(s3 ctype report.bin)"
reset_counts
chmod 600 "$MNT/report.bin"
eq "[S49] ... so does chmod (a copy with REPLACE)" application/pdf "$(s3 ctype report.bin)"
eq "[S49] ... still one copy and no upload" "1 0" "$(count copy) $(count put)"
s3 put-ct foreign.txt "made elsewhere" "text/x-custom; charset=utf-8"
pfs_unmount
pfs_mount
touch -d '2001-02-03 04:05:06' "$MNT/foreign.txt"
eq "[S49] an attribute change keeps another tool's Content-Type" "text/x-custom; charset=utf-8" \
    "$(s3 ctype foreign.txt)"
chmod 644 "$MNT/report.bin"
eq "[S49] ... and one this mount stored before it was remounted" application/pdf \
    "$(s3 ctype report.bin)"
pfs_unmount

note "content_type= sets the default or turns it off"
pfs_mount "$BUCKET" "content_type=text/plain"
printf 'x' >"$MNT/noext"
printf 'x' >"$MNT/known.png"
eq "[S49] content_type=TYPE is the default for unknown extensions" text/plain "$(s3 ctype noext)"
eq "[S49] ... known extensions keep their type" image/png "$(s3 ctype known.png)"
pfs_unmount
pfs_mount "$BUCKET" "content_type=off"
printf 'x' >"$MNT/off.pdf"
ok "[S49] content_type=off sends none (the store's default)" \
    test "$(s3 ctype off.pdf)" != application/pdf
pfs_unmount

note "extended attributes, stored as s3fs stores them"
pfs_mount
printf 'data' >"$MNT/x.txt"
mkdir "$MNT/xdir"
xa() { /usr/bin/python3 -c "import os, errno, sys
try:
    $1
except OSError as e:
    print(errno.errorcode[e.errno])"; }
reset_counts
xa "os.setxattr('$MNT/x.txt', 'user.color', b'blue'); os.setxattr('$MNT/x.txt', 'user.bin', bytes([0, 255, 34, 44]))"
eq "[S36] setxattr of a stored file is a copy onto itself, not a re-upload" "2 0" "$(count copy) $(count put)"
eq "[S36] getxattr reads it back" "b'blue'" "$(xa "print(os.getxattr('$MNT/x.txt', 'user.color'))")"
eq "[S36] binary values round-trip" "b'\\x00\\xff\",'" "$(xa "print(os.getxattr('$MNT/x.txt', 'user.bin'))")"
eq "[S36] listxattr" "['user.bin', 'user.color']" "$(xa "print(sorted(os.listxattr('$MNT/x.txt')))")"
eq "[S36] stored in s3fs's encoding" '{"user.bin":"AP8iLA==","user.color":"Ymx1ZQ=="}' \
    "$(/usr/bin/python3 -c "
import sys, urllib.parse; sys.path.insert(0, '$(dirname "$0")'); import s3util
print(urllib.parse.unquote(s3util.user_meta('$BUCKET', 'x.txt')['xattr']))")"
eq "[S36] a missing name is ENODATA" ENODATA "$(xa "os.getxattr('$MNT/x.txt', 'user.none')")"
eq "[S36] a buffer too small is ERANGE" ERANGE "$(/usr/bin/python3 -c "
import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); b = ctypes.create_string_buffer(2)
r = libc.getxattr(b'$MNT/x.txt', b'user.color', b, ctypes.c_size_t(2))
print(errno.errorcode[ctypes.get_errno()] if r < 0 else r)")"
eq "[S36] XATTR_CREATE over an existing name is EEXIST" EEXIST "$(xa "os.setxattr('$MNT/x.txt', 'user.color', b'x', os.XATTR_CREATE)")"
eq "[S36] XATTR_REPLACE of a missing name is ENODATA" ENODATA "$(xa "os.setxattr('$MNT/x.txt', 'user.new', b'x', os.XATTR_REPLACE)")"
eq "[S36] past the store's metadata limit is E2BIG, not a failed upload" E2BIG "$(xa "os.setxattr('$MNT/x.txt', 'user.big', b'v' * 3000)")"
eq "[S36] security.* is not stored" ENODATA "$(xa "os.getxattr('$MNT/x.txt', 'security.capability')")"
xa "os.setxattr('$MNT/xdir', 'user.d', b'dirval')"
chmod 600 "$MNT/x.txt"
eq "[S36] chmod keeps them" "b'blue'" "$(xa "print(os.getxattr('$MNT/x.txt', 'user.color'))")"
printf 'new content' >"$MNT/x.txt"
mv "$MNT/x.txt" "$MNT/y.txt"
pfs_unmount
pfs_mount
eq "[S36] an overwrite and a rename keep them (after a remount)" "b'blue'" "$(xa "print(os.getxattr('$MNT/y.txt', 'user.color'))")"
eq "[S36] ... and a directory's" "b'dirval'" "$(xa "print(os.getxattr('$MNT/xdir', 'user.d'))")"
xa "os.removexattr('$MNT/y.txt', 'user.color')"
eq "[S36] removexattr" "['user.bin']" "$(xa "print(os.listxattr('$MNT/y.txt'))")"
s3 put-meta fromS3fs "written by s3fs" "xattr=%7B%22user.s3fs%22%3A%22aGVsbG8%3D%22%7D"
eq "[S36] an attribute s3fs wrote reads back" "b'hello'" "$(xa "print(os.getxattr('$MNT/fromS3fs', 'user.s3fs'))")"
pfs_unmount

note "directory objects other tools make: dir/, dir_\$folder\$, dir with a directory mode or type"
s3 put "forms/slash/" ""
s3 put "forms/folder_\$folder\$" ""
s3 put-meta "forms/mode" "" "mode=16872" "uid=7"
s3 put-ct "forms/ctype" "" "application/x-directory"
s3 put "forms/full_\$folder\$" ""
s3 put "forms/full/inner" "x"
pfs_mount
eq "[S74] each shows as a directory, the \$folder\$ marker's name hidden" "ctype/ folder/ full/ mode/ slash/" \
    "$(ls -p "$MNT/forms" | tr '\n' ' ' | sed 's/ $//')"
eq "[S74] stat: directories, the mode and owner an object's metadata gives" "directory
directory
directory 750 7
directory
directory" \
    "$(stat -c '%F' "$MNT/forms/slash" "$MNT/forms/folder"; stat -c '%F %a %u' "$MNT/forms/mode"; stat -c '%F' "$MNT/forms/ctype" "$MNT/forms/full")"
eq "[S74] a marker's own name is not there" ENOENT "$(errno_of stat "$MNT/forms/folder_\$folder\$")"
ok "[S74] ... and cannot be created (it would be a marker)" test "$(errno_of touch "$MNT/forms/x_\$folder\$")" != OK
for f in slash folder mode ctype; do
    printf 'in %s' "$f" >"$MNT/forms/$f/new"
done
eq "[S74] a file made inside each lands under dir/" "in slash in folder in mode in ctype" \
    "$(for f in slash folder mode ctype; do s3 get "forms/$f/new"; echo; done | tr '\n' ' ' | sed 's/ $//')"
chmod 700 "$MNT/forms/mode"
eq "[S74] chmod of a directory object rewrites that object (no dir/ marker)" "16832 no" \
    "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
print(s3util.user_meta('$BUCKET', 'forms/mode').get('mode'), 'yes' if s3util.exists('$BUCKET', 'forms/mode/') else 'no')")"
for f in slash folder mode ctype; do rm "$MNT/forms/$f/new"; done
eq "[S74] rmdir of a non-empty one is ENOTEMPTY" ENOTEMPTY "$(errno_of rmdir "$MNT/forms/full")"
rm "$MNT/forms/full/inner"
ok "[S74] rmdir of each empty one succeeds" rmdir "$MNT/forms/slash" "$MNT/forms/folder" "$MNT/forms/mode" \
    "$MNT/forms/ctype" "$MNT/forms/full"
eq "[S74] ... and removes its objects, markers included" "" "$(s3 keys forms/)"
pfs_unmount
pfs_mount
eq "[S74] ... so they stay gone after a remount" "" "$(ls -A "$MNT/forms" 2>/dev/null)"
s3 put "moved_\$folder\$" ""
mv "$MNT/moved" "$MNT/moved2"
eq "[S74] rename of a \$folder\$ directory: a dir/ marker under the new name, the old marker gone" "moved2/" \
    "$(s3 keys moved)"
# A directory object and a dir/ marker (or files under dir/) of the same name,
# as old and new s3fs leave them: the directory object goes too; an empty
# regular file that a directory hides is not a directory object and stays.
s3 put-meta "both/mode" "" "mode=16872"
s3 put "both/mode/" ""
s3 put "both/plain" ""
s3 put "both/plain/" ""
s3 put-ct "both/ct" "" "application/x-directory"
s3 put "both/ct/f" "f"
s3 put-meta "both/probed" "" "mode=16872"
s3 put "both/probed/" ""
ok "[S78] rmdir of a directory that has a dir/ marker and a directory object (no listing)" \
    rmdir "$MNT/both/probed"
ls "$MNT/both" >/dev/null
ok "[S78] ... listed" rmdir "$MNT/both/mode" "$MNT/both/plain"
mv "$MNT/both/ct" "$MNT/both/ct2"
eq "[S78] rmdir and rename remove the directory object too, not an empty regular file" \
    "both/ct2/ both/ct2/f both/plain" "$(s3 keys both/ | tr '\n' ' ' | sed 's/ $//')"
# A dir_$folder$ past a full page of siblings sorting between dir/ and it.
s3 put-many "many/d" 1001 1
s3 put "many/d_\$folder\$" ""
eq "[S74] a \$folder\$ directory behind 1001 siblings dNNNNN is found by a lookup" directory \
    "$(stat -c %F "$MNT/many/d" 2>&1)"
rmdir "$MNT/many/d"
eq "[S74] ... and rmdir removes its marker" "" "$(s3 keys many/ | grep -v '^many/d0')"

note "a DELETE answered 404 for a key just listed"
printf 'x' >"$MNT/gone.txt"
stat "$MNT/gone.txt" >/dev/null
inject "count=1&status=404&code=NoSuchKey"
ok "[S76] rm succeeds (the name is gone either way)" rm "$MNT/gone.txt"
# (The object is still there, as under a wrong key: a later lookup finds it.)
eq "[S76] ... and one WARN line names the key" 1 "$(grep -c "warning: DELETE of 'gone.txt' answered 404" "${LOGS[-1]}")"
pfs_unmount

note "FIFOs, sockets and device nodes (rsync -a and tar round trips)"
# The kernel serves a FIFO on a FUSE mount itself (an open blocks for a
# writer): nothing here opens one; rsync and tar only stat and mknod them.
src=$WORK/special
mkdir -p "$src/sub"
mkfifo -m 640 "$src/fifo"
mknod -m 600 "$src/null" c 1 3
mknod "$src/loop" b 7 2
/usr/bin/python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('$src/sock')"
printf 'x' >"$src/sub/file"
touch -h -d '2001-02-03 04:05:06' "$src"/* "$src/sub/file"
tree_of() { (cd "$1" && find . -mindepth 1 -printf '%p\n' | sort | while read -r p; do
    stat -c '%n %F %t %T %a %Y' "$p"; done); }
pfs_mount
ok "[S73] rsync -a of a tree with a FIFO, a socket and devices succeeds" rsync -a "$src/" "$MNT/special/"
ok "[S73] tar x of the same tree succeeds" sh -c "mkdir -p '$MNT/tarred' && tar -C '$src' -cf - . 2>/dev/null | tar -C '$MNT/tarred' -xf -"
meta_of() { /usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
m = s3util.user_meta('$BUCKET', sys.argv[1]); print(m.get('mode'), m.get('rdev'))" "$1"; }
eq "[S73] a character device: mode with S_IFCHR, rdev as a decimal dev_t" "8576 259" "$(meta_of special/null)"
eq "[S73] a FIFO: mode with S_IFIFO, no rdev" "4512 None" "$(meta_of special/fifo)"
pfs_unmount
pfs_mount
rm -rf "$WORK/back" "$WORK/tback"
mkdir -p "$WORK/tback"
rsync -a "$MNT/special/" "$WORK/back/"
eq "[S73] ... and rsync -a back out restores them (type, device, mode, mtime)" "$(tree_of "$src")" "$(tree_of "$WORK/back")"
tar -C "$MNT/tarred" -cf - . 2>/dev/null | tar -C "$WORK/tback" -xf -
# tar itself leaves sockets out ("socket ignored").
eq "[S73] ... and so does tar (but for the socket tar skips)" "$(tree_of "$src" | grep -v '^./sock ')" "$(tree_of "$WORK/tback")"
pfs_unmount

note "ctime: chmod, chown, xattrs, rename and writes change it; mtime only writes and utimens"
for f in chmod chown xattr renamed; do
    s3 put-meta "ct-$f" "old" "mode=33188" "mtime=1000000000" "ctime=1000000000"
done
pfs_mount
eq "[S75] ctime is read from the metadata" "1000000000 1000000000" "$(stat -c '%Y %Z' "$MNT/ct-chmod")"
start=$(date +%s)
ctime_after() { # ctime_after WHAT FILE: mtime still 1000000000, ctime now
    local y z
    read -r y z < <(stat -c '%Y %Z' "$MNT/$2")
    eq "[S75] $1 leaves mtime" 1000000000 "$y"
    ok "[S75] $1 sets ctime" test "$z" -ge "$start"
}
chmod 600 "$MNT/ct-chmod"
ctime_after chmod ct-chmod
chown 1:1 "$MNT/ct-chown"
ctime_after chown ct-chown
xa "os.setxattr('$MNT/ct-xattr', 'user.k', b'v')"
ctime_after setxattr ct-xattr
mv "$MNT/ct-renamed" "$MNT/ct-moved"
ctime_after rename ct-moved
pfs_unmount
pfs_mount
eq "[S75] ... and the stored ctime persists across a remount" "1000000000 1 1" \
    "$(stat -c '%Y' "$MNT/ct-chmod") $(($(stat -c '%Z' "$MNT/ct-chmod") >= start)) $(($(stat -c '%Z' "$MNT/ct-xattr") >= start))"
touch -d '2001-02-03 04:05:06' "$MNT/ct-chown"
eq "[S75] touch -d sets mtime" 981173106 "$(stat -c '%Y' "$MNT/ct-chown")"
printf 'more' >>"$MNT/ct-chown"
read -r y z < <(stat -c '%Y %Z' "$MNT/ct-chown")
ok "[S75] a write sets mtime and ctime" test "$y" -ge "$start" -a "$z" -ge "$start"
pfs_finish

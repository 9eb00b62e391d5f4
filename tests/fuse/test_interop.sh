#!/bin/bash
# Interoperability with what other tools read and write (issue 11), in both
# dialects (fuse.interop against s3rver, fuse.tos.interop against the TOS
# front): Content-Type from the extension [S49].
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
pfs_finish

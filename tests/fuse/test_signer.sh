#!/bin/bash
# A keyless mount's calls to its signer (doc/SIGNER.md): a HEAD fan-out and
# the parts of a multipart upload are signed in batches, so they cost
# ceil(N / batch) calls, not N (counted by the mount's `presignfs stats`).
export PFS_TEST_SIGNER=1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export PRESIGNFS_RUNTIME_DIR=$WORK/run
# sget FILE PATH: a value of `presignfs stats --json` ("signer.calls").
sget() {
    /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}
snap() { "$PFS_BIN" stats --json "$MNT" >"$WORK/$1.json"; }
delta() { echo $(($(sget "$WORK/$2.json" "$3") - $(sget "$WORK/$1.json" "$3"))); }

note "ls -l of 200 files with metadata=head: the HEAD URLs come in one batch"
s3 put-many d/f 200 10 >/dev/null
pfs_mount "$BUCKET" "metadata=head,part_size=5M,multipart_threshold=5M"
snap a
eq "ls -l lists 200 files" 200 "$(ls -l "$MNT/d" | grep -c '^-')"
snap b
ok "200 HEADs went to the store" test "$(delta a b requests.HEAD)" -ge 200
# two LISTs (the directory and its marker probe), the directory's HEAD, one batch
le "signer calls for the listing and its 200 HEADs" 5 "$(delta a b signer.calls)"
le "URLs asked for (HEADs and the listing)" 210 "$(delta a b signer.urls)"
ok "at least the 200 HEAD URLs were asked for" test "$(delta a b signer.urls)" -ge 200

note "a multipart upload: its part URLs come in one batch"
head -c $((40 * 1024 * 1024 + 7)) /dev/urandom >"$WORK/big"
snap c
ok "cp of a 40 MiB file in 5 MiB parts" cp "$WORK/big" "$MNT/big"
snap d
eq "nine parts went to the store" 9 "$(($(delta c d requests.PUT)))"
# create, one batch of 9 part URLs, complete; the lookups before the create
le "signer calls for the upload" 6 "$(delta c d signer.calls)"
pfs_unmount
pfs_mount "$BUCKET"
ok "the upload reads back" cmp "$WORK/big" "$MNT/big"
pfs_unmount
pfs_finish

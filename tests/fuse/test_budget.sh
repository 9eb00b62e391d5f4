#!/bin/bash
# Request budgets, counted by the test server ([S26], [S27], [S12], [S18]).
. "$(dirname "$0")/lib.sh"
report() { note "budget: $1: $(counts)"; }

note "ls -l of 5000 objects made through the API"
s3 put-many big/obj 5000
pfs_mount "$BUCKET" "metadata=listing"
stat "$MNT/big" >/dev/null
reset_counts
eq "[S26] ls -l shows 5000 entries" 5000 "$(ls -l "$MNT/big" | grep -c '^-')"
report "ls -l of 5000"
eq "[S26] ceil(5000/1000) LIST requests" 5 "$(count list)"
eq "[S26] no HEAD or GET per file" 0 "$(count head get get_range)"

note "stat right after create"
touch "$MNT/fresh"
reset_counts
stat "$MNT/fresh" >/dev/null
ls -l "$MNT/fresh" >/dev/null
eq "[S18] stat and ls -l after create cost nothing" 0 "$(count total)"

note "a shell redirect into a new file"
stat "$MNT/redir" >/dev/null 2>&1
reset_counts
bash -c "echo hello >'$MNT/redir'" # bash closes a dup of the descriptor before it writes
report "echo > new"
eq "[S15] one PUT, no empty object first" 1 "$(count put)"
eq "[S15] ... holding the line" "hello" "$(s3 get redir)"

note "cat of the same file twice within the TTL"
s3 put twice "read me twice"
cat "$MNT/twice" >/dev/null
reset_counts
cat "$MNT/twice" >/dev/null
report "second cat"
eq "[S12] no second HEAD or LIST" 0 "$(count head list)"

note "cp of 1000 small files into a new directory"
src=$WORK/small
mkdir -p "$src"
for i in $(seq -w 1 1000); do printf 'file %s\n' "$i" >"$src/f$i"; done
reset_counts
cp -r "$src" "$MNT/small"
report "cp -r of 1000 files"
le "[S27] one PUT per file (plus the directory marker)" 1001 "$(count put)"
le "[S27] at most one lookup per file" 1001 "$(count list head)"

note "cp of 1000 small files into a directory not listed yet"
s3 put existing/keep "x"
pfs_unmount
# Timeouts longer than the run: these budgets count requests, and on a loaded
# machine 1000 unlinks can outlast a 5 s listing, which would then be
# (rightly) fetched again.
pfs_mount "$BUCKET" "metadata=listing,dir_timeout=120,attr_timeout=120,entry_timeout=120"
reset_counts
cp "$src"/* "$MNT/existing/"
report "cp of 1000 files into an existing directory"
le "[S27] one PUT per file" 1000 "$(count put)"
le "[S27] at most one lookup per file" 1001 "$(count list head)"
eq "[S27] lookups never HEAD" 0 "$(count head)"
le "[S38] a walk through the directory lists it instead of probing each name" 50 "$(count list)"

note "rm -r of them"
reset_counts
rm -r "$MNT/small"
report "rm -r of 1000 files"
le "one DELETE per file (plus the marker)" 1001 "$(count delete)"
le "a handful of LISTs" 5 "$(count list)"
eq "rm -r leaves nothing" "" "$(s3 keys small/)"

pfs_finish

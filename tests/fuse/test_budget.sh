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

note "metadata=head: stats of missing names in a 300-entry directory"
s3 put-many walk/obj 300
pfs_unmount
pfs_mount "$BUCKET" "metadata=head,dir_timeout=120,attr_timeout=120,entry_timeout=120"
stat "$MNT/walk" >/dev/null
reset_counts
# All six at once: the walk heuristic counts lookups that ask the store within
# a second, and six in parallel are counted within milliseconds however
# loaded the machine is (one after another, a slow LIST each could spread
# them over more than a second and no walk would happen).
pids=()
for i in 1 2 3 4 5 6; do
    stat "$MNT/walk/missing$i" >/dev/null 2>&1 &
    pids+=($!)
done
wait "${pids[@]}" || true # each stat fails: the names are missing
report "six stats of missing names"
eq "[S38] missing names cost no HEAD fan-out" 0 "$(count head)"
le "[S38] ... and at most one LIST each" 6 "$(count list)"
if ! is_tos; then # a TOS listing carries the metadata: no HEAD at all
    reset_counts
    stat "$MNT/walk/obj00007" >/dev/null
    eq "[S38] a name the walk listed costs its own HEAD" "0 1" "$(count list) $(count head)"
    reset_counts
    ls -l "$MNT/walk" >/dev/null
    le "[S26] ls -l after the walk lists again and HEADs the rest" 300 "$(count head)"

    note "metadata=head: a directory holding one object the key may list but not HEAD"
    s3 put-many deny/obj 20
    inject "count=50&status=403&code=AccessDenied&method=HEAD&path=deny/obj00007"
    eq "[S38] the directory lists with every entry" 20 "$(ls -l "$MNT/deny" | grep -c '^-')"
    ok "[S38] ... and stat of the unreadable one works" stat "$MNT/deny/obj00007"
    inject "count=0"
    ok "[S38] one log line names it" grep -q "HEAD failed for 1 of 20 entries (first 'deny/obj00007'" \
        "${LOGS[-1]}"

    note "an attribute change of an entry whose HEAD failed keeps what the store holds"
    s3 put-meta "deny2/x-own" "data" "mode=33216" "uid=7" "gid=8" "mtime=1000000000"
    s3 put-meta "deny2/x-still" "data" "mode=33216" "uid=7" "gid=8" "mtime=1000000000"
    s3 put-meta "deny2/x-over" "data" "mode=33216" "uid=7" "gid=8" "mtime=1000000000"
    inject "count=50&status=403&code=AccessDenied&method=HEAD&path=deny2/x-"
    ls -l "$MNT/deny2" >/dev/null
    eq "[S79] chmod while the HEAD still fails is refused" EACCES "$(errno_of chmod 640 "$MNT/deny2/x-still")"
    inject "count=0"
    ok "[S79] chmod once the HEAD works" chmod 640 "$MNT/deny2/x-own"
    eq "[S79] chmod reads the stored owner and times first, and keeps them" "33184 7 8 1000000000" \
        "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
m = s3util.user_meta('$BUCKET', 'deny2/x-own'); print(m.get('mode'), m.get('uid'), m.get('gid'), m.get('mtime'))")"
    printf 'over' >"$MNT/deny2/x-over"
    eq "[S79] an overwrite keeps the stored owner and mode" "33216 7 8 over" \
        "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
m = s3util.user_meta('$BUCKET', 'deny2/x-over'); print(m.get('mode'), m.get('uid'), m.get('gid'), 'over')")"
    eq "[S79] ... and its new content" over "$(s3 get deny2/x-over)"
    eq "[S79] ... and the one refused is unchanged in the store" "33216 7" \
        "$(/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$(dirname "$0")'); import s3util
m = s3util.user_meta('$BUCKET', 'deny2/x-still'); print(m.get('mode'), m.get('uid'))")"
fi

pfs_finish

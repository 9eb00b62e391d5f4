#!/bin/bash
# kill -9 at seeded points (issue 10): during a large overwrite and during a
# cp -r, the daemon is killed once the test server has received the K-th
# request of a class (K drawn from PFS_CRASH_SEED, printed), not after a
# sleep. Afterwards the old object is intact or the new one complete, never
# partial ([S42], [S15]); after the next mount's recovery, every file whose
# close had returned is stored byte-exact ([S40], [S47]) and no multipart
# upload is left over ([S43]). Scaled for CI: a 40 MiB overwrite (8 parts of
# 5 MiB) and a cp -r of 24 files (upload=async, so that closes return before
# the uploads and recovery has work). Run under with-server.sh --bucket ftest.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SEED=${PFS_CRASH_SEED:-$((RANDOM % 1000))}
note "seed $SEED (PFS_CRASH_SEED=$SEED reproduces the points)"
OUTCOMES=()
BG=()
crash_cleanup() {
    local p
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
    pfs_cleanup
}
trap crash_cleanup EXIT
# pick N LO HI: N numbers in LO..HI drawn from the seed (one per line).
pick() { /usr/bin/python3 -c "
import random, sys
r = random.Random($SEED * 7 + $1)
print('\n'.join(str(r.randint($2, $3)) for _ in range($4)))"; }
# kill_at CLASS K PID: kills the daemon once the server has counted K
# requests of CLASS since the reset, or when PID (the writer) ends first.
kill_at() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(count $1)" -ge "$2" ] && break
        kill -0 "$3" 2>/dev/null || break
        sleep 0.05
    done
    pfs_kill9
}
# wait_recovered: until the new mount's recovery has settled the journal.
wait_recovered() {
    local i n
    for ((i = 0; i < 300; i++)); do
        n=$("$PFS_BIN" status "$WORK/cache" --json 2>/dev/null |
            /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)["entries"]))')
        [ "${n:-1}" -eq 0 ] && return 0
        sleep 0.1
    done
    echo "FAIL: the journal still holds $n entries after 30 s"
    FAIL=$((FAIL + 1))
}
stored_is() { s3 get "$1" 2>/dev/null | cmp -s - "$2"; }

head -c $((40 << 20)) /dev/urandom >"$WORK/old"
head -c $((40 << 20)) /dev/urandom >"$WORK/new"
OPTS="part_size=5M,multipart_threshold=5M"

note "overwrite of a 40 MiB object, killed after the K-th part or completion request"
n=0
for k in $(pick 1 1 9 5); do
    # Every other point with upload=async: its close returns before the
    # upload, so recovery has an acknowledged version to store.
    upload=sync
    [ $((n++ % 2)) -eq 1 ] && upload=async
    s3 put big <"$WORK/old"
    rm -rf "$WORK/cache"
    pfs_mount "$BUCKET" "$OPTS,upload=$upload" || break
    reset_counts
    (cp "$WORK/new" "$MNT/big" 2>/dev/null && touch "$WORK/closed") &
    BGPID=$!
    BG+=("$BGPID")
    rm -f "$WORK/closed"
    kill_at "upload_part mp_complete" "$k" "$BGPID"
    wait "$BGPID" 2>/dev/null
    wait_idle
    closed=no
    [ -e "$WORK/closed" ] && closed=yes
    if stored_is big "$WORK/old"; then now=old; elif stored_is big "$WORK/new"; then now=new; else now=PARTIAL; fi
    ok "[S42] point $k: after the crash the object is the old or the new one ($now)" \
        test "$now" != PARTIAL
    pfs_mount "$BUCKET" "$OPTS" || break
    wait_recovered
    pfs_unmount
    wait_idle
    if stored_is big "$WORK/old"; then after=old; elif stored_is big "$WORK/new"; then after=new; else after=PARTIAL; fi
    if [ "$closed" = yes ]; then
        eq "[S40] point $k: the close had returned: the new one is stored" new "$after"
    else
        ok "[S42] point $k: after recovery old or new, never partial ($after)" test "$after" != PARTIAL
    fi
    eq "[S43] point $k: no multipart upload is left over" 0 "$(open_uploads)"
    OUTCOMES+=("overwrite k=$k upload=$upload: close returned: $closed, after the crash: $now, after recovery: $after")
done

note "cp -r of 24 files with upload=async, killed after the K-th PUT"
/usr/bin/python3 "$HERE/tree_util.py" make "$WORK/tree" "$SEED" 24 0
rm -f "$WORK/tree/big.bin"
for k in $(pick 2 1 24 5); do
    rm -rf "$WORK/cache"
    pfs_mount "$BUCKET" "$OPTS,upload=async" || break
    prefix=cp-$k
    mkdir "$MNT/$prefix"
    reset_counts
    # Each name is logged once its close has returned.
    /usr/bin/python3 - "$WORK/tree" "$MNT/$prefix" "$WORK/closed.$k" 2>/dev/null <<'EOF' &
import os, shutil, sys
src, dst, log = sys.argv[1:4]
with open(log, "w") as out:
    for d, _, names in sorted(os.walk(src)):
        rel = os.path.relpath(d, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for n in sorted(names):
            shutil.copyfile(os.path.join(d, n), os.path.join(dst, rel, n))
            out.write(os.path.normpath(os.path.join(rel, n)) + "\n")
            out.flush()
EOF
    BGPID=$!
    BG+=("$BGPID")
    kill_at put "$k" "$BGPID" 2>/dev/null
    wait "$BGPID" 2>/dev/null
    wait_idle
    pfs_mount "$BUCKET" "$OPTS" || break
    wait_recovered
    pfs_unmount
    wait_idle
    res=$(/usr/bin/python3 - "$WORK/tree" "$BUCKET" "$prefix" "$WORK/closed.$k" <<EOF
import hashlib, os, sys
sys.path.insert(0, "$HERE")
import s3util
src, bucket, prefix, log = sys.argv[1:5]
closed = [l.strip() for l in open(log) if l.strip()]
c = s3util.client()
have = {}
for p in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for o in p.get("Contents", []):
        rel = o["Key"][len(prefix) + 1:]
        if rel and not rel.endswith("/"):
            have[rel] = c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
partial = [n for n, b in have.items() if b != open(os.path.join(src, n), "rb").read()]
lost = [n for n in closed if n not in have]
for n in partial: print("partial: " + n, file=sys.stderr)
for n in lost: print("lost: " + n, file=sys.stderr)
print(len(closed), len(have), len(partial), len(lost))
EOF
)
    read -r n_closed n_stored n_partial n_lost <<<"$res"
    eq "[S15] point $k: no stored object is partial or mixed" 0 "$n_partial"
    eq "[S40] point $k: every file whose close returned is stored" 0 "$n_lost"
    eq "[S43] point $k: no multipart upload is left over" 0 "$(open_uploads)"
    OUTCOMES+=("cp -r k=$k: closes returned: $n_closed, stored: $n_stored, partial: $n_partial, lost: $n_lost")
done

note "outcomes (seed $SEED)"
for o in "${OUTCOMES[@]}"; do note "$o"; done
pfs_finish

#!/bin/bash
# Crashes of the daemon (kill -9 at chosen points) and unmounts with the store
# down, then a new mount with the same cache_dir: what close() acknowledged
# arrives byte-exact, an overwrite in progress never replaces the stored
# object, a file still open goes to lost+found, a conflict keeps both
# versions, a deferred delete still happens, and no multipart upload is left
# over (doc/SEMANTICS.md S40-S45; S46 is checked in tests/unit/test_recovery.c).
# Run under with-server.sh --bucket ftest.
. "$(dirname "$0")/lib.sh"
py() { /usr/bin/python3 -c "$@"; }
BG=()
crash_cleanup() {
    local p
    release 2>/dev/null
    inject "count=0" 2>/dev/null
    for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
    pfs_cleanup
}
trap crash_cleanup EXIT

# Every request fails while the store is "down" (the kernel's lookups and
# the retries take some).
store_down() { inject "count=100000&status=503&code=ServiceUnavailable"; }
store_up() { inject "count=0"; }
# wait_object KEY FILE: until the bucket holds FILE's bytes under KEY (60 s).
wait_object() {
    local i
    for ((i = 0; i < 120; i++)); do
        s3 get "$1" 2>/dev/null | cmp -s - "$2" && return 0
        sleep 0.5
    done
    return 1
}
# wait_log PATTERN: until the newest daemon log matches (30 s).
wait_log() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -qE "$1" "${LOGS[-1]}" && return 0
        sleep 0.1
    done
    echo "# the log has no '$1':"
    tail -5 "${LOGS[-1]}"
    return 1
}
journal_entries() { # the journal as "state key" lines, sorted
    "$PFS_BIN" status "$WORK/cache" --json | py '
import json, sys
for e in sorted(json.load(sys.stdin)["entries"], key=lambda e: e["key"] or ""):
    print(e["state"], e["key"])'
}
lost_found_file() { ls "$WORK/cache/lost+found/" | grep -F "$1." | head -1; }

head -c 1048576 /dev/urandom >"$WORK/one"
head -c 8388608 /dev/urandom >"$WORK/old"

note "a file whose close failed (store down) survives kill -9"
pfs_mount
: >"$MNT/acked" # created while the store is up (a create needs a lookup)
store_down
eq "[S40] close reports the failed upload" "EIO" \
    "$(errno_of cp "$WORK/one" "$MNT/acked")"
eq "[S40] the journal holds it as closed" "closed acked" "$(journal_entries)"
pfs_kill9
store_up
eq "[S40] the bucket has only the empty file before the crash" "0" "$(s3 get acked | wc -c)"
pfs_mount
ok "[S40] the next mount uploads it, byte-exact" wait_object acked "$WORK/one"
ok "[S40] ... and logs it" wait_log "recovery: uploaded acked"
eq "[S40] the journal is empty afterwards" "" "$(journal_entries)"
ok "[S40] the mount shows it" cmp -s "$WORK/one" "$MNT/acked"
pfs_unmount

note "an unmount with the store down keeps what it could not upload"
pfs_mount
: >"$MNT/later2"
chmod 640 "$MNT/later2"
store_down
py "
import os
fd = os.open('$MNT/later2', os.O_WRONLY)
os.write(fd, open('$WORK/one', 'rb').read())
try:
    os.close(fd)
except OSError:
    pass"
pfs_unmount
ok "[S41] unmount names what stays in the journal" grep -q "later2 failed at unmount.*next mount" "${LOGS[-1]}"
eq "[S41] the journal holds it" "closed later2" "$(journal_entries)"
store_up
pfs_mount
ok "[S41] the next mount uploads it" wait_object later2 "$WORK/one"
eq "[S41] with its mode" "640" "$(stat -c %a "$MNT/later2" 2>/dev/null)"
pfs_unmount

note "kill -9 during a 256 MiB overwrite"
s3 put big <"$WORK/old"
pfs_mount
timeout 120 dd if=/dev/urandom of="$MNT/big" bs=1M count=256 status=none 2>/dev/null &
BGPID=$!
BG+=("$BGPID")
# Kill when a good part of the new content is staged (not at a chosen
# request: the point is "mid-write", any point in it).
for _ in $(seq 300); do
    [ -n "$(find "$WORK/cache/journal" -name '*.data' -size +64M 2>/dev/null)" ] && break
    sleep 0.1
done
ok "[S42] the overwrite was under way" test -n "$(find "$WORK/cache/journal" -name '*.data' -size +64M)"
pfs_kill9
wait "$BGPID" 2>/dev/null
ok "[S42] the stored object is intact after the crash" bash -c "BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py get big | cmp -s - '$WORK/old'"
pfs_mount
ok "[S42] the next mount moves the unfinished copy to lost+found, naming the key" \
    wait_log "recovery: file 'big' .* was still being written.*lost\+found"
ok "[S42] ... where it is" test -n "$(lost_found_file big)"
ok "[S42] the object is still the old version" cmp -s "$WORK/old" "$MNT/big"
eq "[S42] the journal is empty" "" "$(journal_entries)"
pfs_unmount

note "kill -9 while the overwrite's multipart upload is in flight"
rm -f "$WORK/cache/lost+found/"*
head -c 41943040 /dev/urandom >"$WORK/new"
pfs_mount
# All five parts held: the streamed upload has read every byte back from the
# staged copy, so the whole new content is there when the daemon dies (a
# hold on the first part would kill it while cp is still writing).
h=$(hold PUT "/$BUCKET/big" upload_part "count=5")
timeout 120 cp "$WORK/new" "$MNT/big" &
BGPID=$!
BG+=("$BGPID")
wait_held "$h" 5 60 "$BGPID"
eq "[S43] the journal names the multipart upload in flight" "1" \
    "$(grep -l '"upload_id"' "$WORK"/cache/journal/*.rec 2>/dev/null | wc -l)"
pfs_kill9
wait "$BGPID" 2>/dev/null
release "$h"
wait_idle
eq "[S43] the crash left a multipart upload open" "1" "$(open_uploads big)"
ok "[S43] the stored object is intact" bash -c "BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py get big | cmp -s - '$WORK/old'"
pfs_mount
ok "[S43] the next mount aborts it" wait_log "recovery: aborted multipart upload .* of big"
eq "[S43] no multipart upload is left over" "0" "$(open_uploads)"
ok "[S43] the copy whose close never returned is in lost+found" \
    cmp -s "$WORK/new" "$WORK/cache/lost+found/$(lost_found_file big)"
ok "[S43] the object is still the old version" cmp -s "$WORK/old" "$MNT/big"
pfs_unmount

note "a conflict: the object changed in the store while the mount was down"
pfs_mount
printf 'theirs-old' | s3 put conflict
cat "$MNT/conflict" >/dev/null
store_down
py "
import os
fd = os.open('$MNT/conflict', os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'mine')
try:
    os.close(fd)
except OSError:
    pass"
eq "[S44] the journal holds the local version" "closed conflict" "$(journal_entries)"
pfs_kill9
store_up
printf 'theirs-new' | s3 put conflict
pfs_mount
ok "[S44] the next mount reports the conflict" wait_log "conflict\).*lost\+found"
eq "[S44] the newer object in the store is not overwritten" "theirs-new" "$(s3 get conflict)"
eq "[S44] the local version is kept in lost+found" "mine" \
    "$(cat "$WORK/cache/lost+found/$(lost_found_file conflict)")"
pfs_unmount

note "a deferred delete and a file still open at the crash"
s3 put doomed "held open"
pfs_mount
exec 3<"$MNT/doomed"
rm "$MNT/doomed"
eq "[S45] the journal holds the deferred delete" "delete doomed" "$(journal_entries)"
# Open across the crash: a process that exits closes its files, and a shell
# redirection flushes through the descriptors it duplicates.
timeout 60 /usr/bin/python3 -c "
import os, time
fd = os.open('$MNT/unclosed', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'never closed')
open('$WORK/writer-ready', 'w').close()
time.sleep(60)" &
BGPID=$!
BG+=("$BGPID")
for _ in $(seq 100); do [ -e "$WORK/writer-ready" ] && break; sleep 0.1; done
pfs_kill9
kill -KILL "$BGPID" 2>/dev/null
wait "$BGPID" 2>/dev/null
exec 3<&-
pfs_mount
for _ in $(seq 100); do s3 exists doomed || break; sleep 0.1; done
ok "[S45] the next mount deletes what was unlinked" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists doomed"
ok "[S42] a file never closed is not uploaded" bash -c "! BUCKET=$BUCKET /usr/bin/python3 $(dirname "$0")/s3util.py exists unclosed"
eq "[S42] its data is in lost+found" "never closed" \
    "$(cat "$WORK/cache/lost+found/$(lost_found_file unclosed)" 2>/dev/null)"
ok "[S42] the log names its key" grep -q "recovery: file 'unclosed'" "${LOGS[-1]}"
eq "[S42] the journal is empty" "" "$(journal_entries)"

pfs_unmount

note "upload=async: close acknowledges once the data is durable locally"
pfs_mount "$BUCKET" "upload=async"
h=$(hold PUT "/$BUCKET/async1" put)
timeout 30 cp "$WORK/one" "$MNT/async1"
eq "[S47] close returns before the upload is stored" "0" "$?"
wait_held "$h"
eq "[S47] the journal holds it as closed" "closed async1" "$(journal_entries)"
eq "[S47] stat shows the new size at once" "1048576" "$(stat -c %s "$MNT/async1")"
ok "[S47] it reads back from the local copy" cmp -s "$WORK/one" "$MNT/async1"
pfs_kill9
release "$h"
wait_idle
# The whole body may have reached the socket before the crash, so the
# released PUT may store it: recovery then finds the copy already stored.
pfs_mount
ok "[S47] the next mount uploads what close acknowledged" wait_object async1 "$WORK/one"
ok "[S47] ... and says so" wait_log "recovery: (uploaded async1|async1 was already stored)" || cat "${LOGS[-1]}"
pfs_unmount

pfs_mount "$BUCKET" "upload=async"
h=$(hold PUT "/$BUCKET/async2" put)
timeout 60 /usr/bin/python3 -c "
import os
fd = os.open('$MNT/async2', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'fsynced')
os.fsync(fd)
os.close(fd)" &
BGPID=$!
BG+=("$BGPID")
wait_held "$h" 1 30 "$BGPID"
ok "[S47] fsync waits for the store" kill -0 "$BGPID"
release "$h"
wait "$BGPID"
eq "[S47] ... and returns once the object is stored" "0 fsynced" "$? $(s3 get async2)"
mkdir -p "$WORK/tree"
for i in $(seq 1 40); do head -c $((i * 1000)) /dev/urandom >"$WORK/tree/f$i"; done
cp -r "$WORK/tree" "$MNT/tree"
pfs_unmount
for i in $(seq 1 40); do
    s3 get "tree/f$i" | cmp -s - "$WORK/tree/f$i" || break
done
eq "[S47] unmount waits for every queued upload" "40" "$((i == 40 ? 40 : i - 1))"
eq "[S47] the journal is empty after the unmount" "" "$(journal_entries)"

pfs_finish

#!/bin/bash
# [S48, S40] upload=async with the store down: a file's acknowledged version
# is copied aside (its snapshot) when the file is opened again with O_TRUNC
# and written; the open file is then renamed, or its directory is, and a new
# file takes the old name and is closed. After kill -9 the next mount must
# store each acknowledged version under the name its file has now: the copy
# under the new name, the new file under the old one. (The snapshot's record
# once kept the old key, and recovery then stored the old version under the
# old name, or over the new file there, by the journal ids' order.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

pfs_mount "$BUCKET" "upload=async,upload_retry_interval=3600"
mkdir "$MNT/d"
ls "$MNT" "$MNT/d" >/dev/null
# Every upload of the files (their names hold "held") fails; the rename of
# the directory's marker object still works.
inject "count=100000&status=503&code=ServiceUnavailable&method=PUT&path=held"
printf 'f: version one, acknowledged by close\n' >"$MNT/f.held"
eq "[S47] close of f is acknowledged with the store down" "0" "$?"
printf 'd/a: version one, acknowledged by close\n' >"$MNT/d/a.held"
eq "[S47] close of d/a is acknowledged" "0" "$?"
hold_open rewriting "
import os, time
fds = [os.open(p, os.O_WRONLY | os.O_TRUNC) for p in ('$MNT/f.held', '$MNT/d/a.held')]
for fd in fds:
    os.write(fd, b'unfinished second version')
open('$WORK/rewriting', 'w').close()
time.sleep(120)"
ok "both files are open again, truncated and written" test -e "$WORK/rewriting"
mv "$MNT/f.held" "$MNT/g.held"
eq "mv f.held g.held while it is open" "0" "$?"
mv "$MNT/d" "$MNT/e"
eq "mv d e while d/a is open" "0" "$?"
mkdir "$MNT/d"
printf 'a new f, acknowledged by close\n' >"$MNT/f.held"
eq "[S47] close of the new f" "0" "$?"
printf 'a new d/a, acknowledged by close\n' >"$MNT/d/a.held"
eq "[S47] close of the new d/a" "0" "$?"
note "the journal before the kill: $(journal_entries | tr '\n' ',')"
eq "the snapshots' entries follow the renames" \
    "closed d/a.held,closed e/a.held,closed f.held,closed g.held,open e/a.held,open g.held" "$(journal_entries | sort | tr '\n' ',' | sed 's/,$//')"
pfs_kill9
stop_holder
store_up
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
eq "[S40] g holds the version f's close acknowledged" "f: version one, acknowledged by close" "$(obj g.held)"
eq "[S40] e/a holds the version d/a's close acknowledged" "d/a: version one, acknowledged by close" "$(obj e/a.held)"
eq "[S40] the new f is stored under f" "a new f, acknowledged by close" "$(obj f.held)"
eq "[S40] the new d/a is stored under d/a" "a new d/a, acknowledged by close" "$(obj d/a.held)"
eq "[S42] the unfinished copies went to lost+found" "2" "$(ls "$WORK/cache/lost+found/" | wc -l)"
pfs_finish

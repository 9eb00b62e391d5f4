#!/bin/bash
# [S48, S13] upload=async, the file's uploads failing: f.held's acknowledged
# version is not stored. P1 opens it for writing and writes nothing; P2
# opens it with O_TRUNC (the acknowledged version is copied aside); P1
# closes; P2 then writes and stays open. Nobody closed another version, so
# after kill -9 the next mount must store the acknowledged one. (P1's
# release stored the emptied file, as if it were its own truncation, and
# that dropped the copy: the next mount stored 0 bytes.) The same for a
# writer that changed nothing but flushes while another writes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

# holder NAME FLAGS: a process that opens f.held with FLAGS, creates
# $WORK/NAME.open, writes what $WORK/NAME.write holds once that file exists,
# closes when $WORK/NAME.close exists (each step signalled by $WORK/NAME.*).
holder() {
    hold_open "$1.open" "
import os, time
fd = os.open('$MNT/f.held', $2)
open('$WORK/$1.open', 'w').close()
def wait(p):
    end = time.time() + 60
    while not os.path.exists(p):
        if time.time() > end:
            raise SystemExit('gave up waiting for ' + p)
        time.sleep(0.02)
wait('$WORK/$1.go')
if os.path.exists('$WORK/$1.write'):
    os.write(fd, open('$WORK/$1.write', 'rb').read())
    open('$WORK/$1.wrote', 'w').close()
wait('$WORK/$1.close')
os.close(fd)
open('$WORK/$1.closed', 'w').close()
time.sleep(120)"
}
step() { touch "$WORK/$1.$2"; for _ in $(seq 100); do [ -e "$WORK/$1.$3" ] && return 0; sleep 0.05; done; return 1; }

pfs_mount "$BUCKET" "upload=async,upload_retry_interval=3600"
ls "$MNT" >/dev/null
inject "count=100000&status=503&code=ServiceUnavailable&method=PUT&path=held"
printf 'f: version one, acknowledged by close\n' >"$MNT/f.held"
eq "[S47] close of f.held is acknowledged" "0" "$?"
await_release 1
holder p1 "os.O_WRONLY"
P1=$BGPID
holder p2 "os.O_WRONLY | os.O_TRUNC"
n=$(releases)
touch "$WORK/p1.go"
ok "P1, which wrote nothing, closes" step p1 close closed
ok "its release reached the daemon" await_release $((n + 1))
printf 'unfinished second version' >"$WORK/p2.write"
ok "P2 writes and stays open" step p2 go wrote
eq "the journal: the acknowledged copy, P2's open copy" "closed f.held,open f.held" \
    "$(journal_entries | sort | tr '\n' ',' | sed 's/,$//')"
# A third writer that changes nothing, while P2's content is unfinished.
holder p3 "os.O_WRONLY"
P3=$BGPID
touch "$WORK/p3.go"
ok "P3, which wrote nothing, closes" step p3 close closed
ok "its release reached the daemon" await_release $((n + 2))
eq "the journal is unchanged by P3's flush and release" "closed f.held,open f.held" \
    "$(journal_entries | sort | tr '\n' ',' | sed 's/,$//')"
pfs_kill9
kill -KILL "$P1" "$P3" 2>/dev/null
stop_holder
store_up
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
eq "[S48] the next mount stores the acknowledged version" \
    "f: version one, acknowledged by close" "$(obj f.held)"
eq "[S42] P2's unfinished copy went to lost+found" "1" "$(ls "$WORK/cache/lost+found/" | wc -l)"
pfs_finish

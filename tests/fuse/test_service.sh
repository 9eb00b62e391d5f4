#!/bin/bash
# The daemon as a systemd service sees it: sd_notify READY=1 only once the
# mount answers; on SIGTERM pending uploads are drained before the exit
# (status 0), STOPPING=1 on the way; SIGHUP reopens the log file (logrotate). systemd itself is stood in
# for by a datagram socket in $NOTIFY_SOCKET. Also checks the unit files
# with systemd-analyze where it is installed.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
LISTENER=
svc_cleanup() {
    [ -n "$LISTENER" ] && kill -KILL "$LISTENER" 2>/dev/null
    pfs_cleanup
}
trap svc_cleanup EXIT
trap "exit 143" TERM INT

# Records each notification with whether MNT answered a stat when it came.
export NOTIFY_SOCKET=$WORK/notify.sock
/usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    msg = s.recv(4096).decode()
    try:
        answered = os.path.ismount(sys.argv[3]) and os.stat(sys.argv[3]) is not None
    except OSError:
        answered = False
    for line in msg.split("\n"):
        out.write("%s answered=%s\n" % (line, answered))
' "$NOTIFY_SOCKET" "$WORK/notify.log" "$MNT" &
LISTENER=$!
for _ in $(seq 50); do [ -S "$NOTIFY_SOCKET" ] && break; sleep 0.1; done
wait_line() { # wait_line FILE PATTERN: until FILE has a line matching (20 s)
    for _ in $(seq 200); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

note "READY=1 once the mount answers"
pfs_mount "$BUCKET" "upload=async,logfile=$WORK/pfs.log,log_level=info"
ok "READY=1 came" wait_line "$WORK/notify.log" "^READY=1 "
eq "the mount answered when it came" "READY=1 answered=True" "$(grep '^READY=1' "$WORK/notify.log")"
ok "with a status line" grep -q "^STATUS=serving $MNT answered" "$WORK/notify.log"

note "SIGHUP reopens the log file"
ok "the log file is written" wait_line "$WORK/pfs.log" "mounted bucket $BUCKET"
mv "$WORK/pfs.log" "$WORK/pfs.log.1"
kill -HUP "$DAEMON_PID"
ok "a new log file appears" wait_line "$WORK/pfs.log" "SIGHUP: log file reopened"
ok "the daemon lives on" kill -0 "$DAEMON_PID"
ok "the mount still serves" sh -c "echo hup >'$MNT/after-hup' && test \"\$(cat '$MNT/after-hup')\" = hup"
ok "the old file has no later line" sh -c "! grep -q reopened '$WORK/pfs.log.1'"

note "SIGUSR1 writes a stats line: cp of 10 files is 10 PUTs and 10 creates"
# stat_of FIELD: FIELD's count in the newest stats line (0 when absent).
stats_line() { # asks for one more line, prints it
    local before
    before=$(grep -c 'presignfs: stats: ' "$WORK/pfs.log")
    kill -USR1 "$DAEMON_PID"
    for _ in $(seq 100); do
        [ "$(grep -c 'presignfs: stats: ' "$WORK/pfs.log")" -gt "$before" ] && break
        sleep 0.05
    done
    grep 'presignfs: stats: ' "$WORK/pfs.log" | tail -1
}
field() { # field LINE SECTION NAME
    local part=${1#*" $2"}
    part=${part%%" fuse"*}
    [ "$2" = fuse ] && part=${1#*" fuse"} && part=${part%%" urlcache"*}
    printf '%s\n' $part | sed -n "s/^$3=//p" | grep . || echo 0
}
sync "$MNT/after-hup" # its upload (async, maybe two: the shell closes a dup first) is done
l0=$(stats_line)
mkdir -p "$WORK/ten"
for i in $(seq 1 10); do echo "file $i" >"$WORK/ten/s$i"; done
cp "$WORK/ten/"s* "$MNT/"
sync "$MNT"/s* # fsync: waits for the async uploads
l1=$(stats_line)
ok "the stats line names the URL cache" grep -q "urlcache hits=[0-9]* misses=[0-9]* refreshes=" <<<"$l1"
eq "10 PUTs more" 10 $(($(field "$l1" requests PUT) - $(field "$l0" requests PUT))) || printf "%s\n%s\n" "$l0" "$l1"
eq "10 FUSE creates more" 10 $(($(field "$l1" fuse create) - $(field "$l0" fuse create)))
eq "no request failed" "$(field "$l0" requests failed)" "$(field "$l1" requests failed)"
ok "the daemon lives on after SIGUSR1" kill -0 "$DAEMON_PID"

note "SIGTERM: STOPPING=1, then the pending upload, then the exit"
h=$(hold PUT "/$BUCKET/pending" put)
head -c 100000 /dev/urandom >"$WORK/pending"
timeout 30 cp "$WORK/pending" "$MNT/pending"
eq "close returned before the upload (async)" 0 "$?"
wait_held "$h"
pid=$DAEMON_PID
take_mount "$MNT"
kill -TERM "$pid"
ok "the daemon waits for the held upload" kill -0 "$pid"
release "$h"
# A FUSE release still waiting for that upload holds up the loop's end, so
# STOPPING=1 may come only now.
ok "STOPPING=1 came" wait_line "$WORK/notify.log" "^STOPPING=1 "
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
ok "then exits" sh -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
eq "with status 0" 0 "$?"
ok "the mount is gone" sh -c "! mountpoint -q '$MNT'"
ok "the upload was drained" sh -c "s3() { /usr/bin/python3 '$here/s3util.py' \"\$@\"; }; s3 get pending | cmp -s - '$WORK/pending'"
eq "READY=1 came once" 1 "$(grep -c '^READY=1' "$WORK/notify.log")"

if command -v systemd-analyze >/dev/null; then
    note "unit files"
    units=$(cd "$here/../../packaging/systemd" && pwd)
    mkdir -p "$WORK/units"
    # verify wants the ExecStart binary where the unit says it is.
    sed "s|/usr/bin/presignfs|$PFS_BIN|" "$units/presignfs@.service" >"$WORK/units/presignfs@.service"
    cp "$units/mnt-b.mount.example" "$WORK/units/mnt-b.mount"
    for u in presignfs@demo.service mnt-b.mount; do
        out=$(cd "$WORK/units" && systemd-analyze verify --man=no "./$u" 2>&1)
        eq "systemd-analyze verify $u" "0:" "$?:$out"
    done
else
    note "skipped systemd-analyze verify (no systemd)"
fi
pfs_finish

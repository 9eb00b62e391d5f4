#!/bin/bash
# [S13, S48] upload=async, the file's uploads failing: a file the store never
# held (its first upload failed) is emptied by `: > f` while a reader keeps
# it open (A), or while a reader and an appending writer do (B; the writer
# closes after the truncation without writing again). That close returned 0,
# so after kill -9 the next mount must store the empty file. (An O_TRUNC open
# of a file never stored did not own its truncation: only the file's last
# close stored it, which the reader never made. A kept the first version and
# put the emptied copy in lost+found; B did too once a close stores only its
# own handle's changes, since the appender's close had stored it before.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

await_file() { for _ in $(seq 200); do [ -e "$WORK/$1" ] && return 0; sleep 0.05; done; return 1; }

pfs_mount "$BUCKET" "upload=async,upload_retry_interval=3600"
ls "$MNT" >/dev/null
inject "count=100000&status=503&code=ServiceUnavailable&method=PUT&path=held"
HOLDERS=()
for key in a.held b.held; do
    printf '%s: version one\n' "$key" >"$MNT/$key"
    eq "[S47] close of $key is acknowledged" "0" "$?"
    hold_open "$key.reading" "
import os, time
fd = os.open('$MNT/$key', os.O_RDONLY)
open('$WORK/$key.reading', 'w').close()
time.sleep(120)"
    ok "a reader holds $key open" test -e "$WORK/$key.reading"
    HOLDERS+=("$BGPID")
done
hold_open b.appended "
import os, time
fd = os.open('$MNT/b.held', os.O_WRONLY | os.O_APPEND)
os.write(fd, b'b: appended\n')
open('$WORK/b.appended', 'w').close()
end = time.time() + 60
while not os.path.exists('$WORK/b.close') and time.time() < end:
    time.sleep(0.02)
os.close(fd)
open('$WORK/b.closed', 'w').close()
time.sleep(120)"
ok "a writer appended to b.held and holds it open" test -e "$WORK/b.appended"
HOLDERS+=("$BGPID")
for key in a.held b.held; do
    n=$(releases)
    : >"$MNT/$key"
    eq "[S47] close of ': > $key' is acknowledged" "0" "$?"
    ok "its release reached the daemon" await_release $((n + 1))
done
n=$(releases)
touch "$WORK/b.close"
ok "the appending writer closes without writing again" await_file b.closed
ok "its release reached the daemon" await_release $((n + 1))
eq "the journal: both emptied files closed" "closed a.held,closed b.held" \
    "$(journal_entries | sort | tr '\n' ',' | sed 's/,$//')"
pfs_kill9
kill -KILL "${HOLDERS[@]}" 2>/dev/null
store_up
pfs_mount "$BUCKET"
wait_log "recovery: done" >/dev/null
for key in a.held b.held; do
    eq "[S48] the next mount stores $key as ': >' left it" "exists, 0 bytes" \
        "$(s3 exists "$key" && printf 'exists, %s bytes' "$(obj "$key" | wc -c)")"
done
eq "[S42] nothing went to lost+found" "" "$(lost_found)"
pfs_finish

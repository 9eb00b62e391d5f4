#!/bin/bash
# The read path (issue 9): an open file follows renames of itself and of its
# directories ([S62]); a handle reads one version, pinned with If-Match, so an
# object replaced behind a reader gives EIO or the old bytes, never a mix, and
# the next open reads the new version ([S63]).
. "$(dirname "$0")/lib.sh"


head -c $((32 << 20)) /dev/urandom >"$WORK/old"
head -c $((32 << 20)) /dev/urandom >"$WORK/new"
s3 put r/a/f <"$WORK/old"
s3 put v/f <"$WORK/old"
pfs_mount "$BUCKET"

# preads FILE STEP...: one open; each STEP is OFFSET:LEN (pread, appended to
# $WORK/got; prints "EIO" and stops when a pread fails with EIO) or a shell
# command run between reads (`!cmd`).
preads() {
    /usr/bin/python3 - "$@" <<'PY'
import errno, os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
with open(os.environ["WORK"] + "/got", "wb") as out:
    for step in sys.argv[2:]:
        if step.startswith("!"):
            subprocess.run(step[1:], shell=True, check=True)
            continue
        off, n = (int(x) for x in step.split(":"))
        try:
            out.write(os.pread(fd, n, off))
        except OSError as e:
            print(errno.errorcode.get(e.errno, e.errno))
            sys.exit(0)
print("OK")
PY
}
export WORK
S3UTIL=$(cd "$(dirname "$0")" && pwd)/s3util.py
M=$((1 << 20))

note "rename of a file open for reading, then of its directory"
# Each read lies far beyond what read-ahead fetched before (a jump), so it is
# a GET made after the rename: under the new key, or ENOENT under the old.
eq "[S62] reads go on through a rename of the file and of its directory" OK \
    "$(preads "$MNT/r/a/f" "0:$M" "!mv $MNT/r/a/f $MNT/r/a/g" "$((12 * M)):$M" \
        "!mv $MNT/r/a $MNT/r/b" "$((24 * M)):$M")"
cat <(head -c "$M" "$WORK/old") <(tail -c +$((12 * M + 1)) "$WORK/old" | head -c "$M") \
    <(tail -c +$((24 * M + 1)) "$WORK/old" | head -c "$M") >"$WORK/want"
ok "[S62] ... byte-exact" cmp -s "$WORK/want" "$WORK/got"
ok "[S62] the file is at its new name" cmp -s "$WORK/old" "$MNT/r/b/g"

note "an object replaced behind a reader"
eq "[S63] a read of the replaced object's other bytes is EIO" EIO \
    "$(preads "$MNT/v/f" "0:$M" "!/usr/bin/python3 $S3UTIL put v/f <$WORK/new" "$((24 * M)):$M")"
ok "[S63] what the reader got is the old version's bytes, never the new" \
    cmp -s "$WORK/got" <(head -c "$M" "$WORK/old")
eq "[S63] one log line says the object changed under the reader" 1 \
    "$(grep -c 'was replaced in the store while open' "${LOGS[0]}")"
ok "[S63] the next open reads the new version, whole" cmp -s "$WORK/new" "$MNT/v/f"

note "a cold sequential read grows to large ranges"
# The window doubles from 1 MiB up to 64 MiB and its ranges from 1 MiB up to
# 8 MiB (prefetch.h): the ramp (1+1+2+4+8 MiB) takes 5 GETs, the other 80 MiB
# 10 of 8 MiB; 4 more for reads the kernel sends out of order. Topping the
# window up by each 128 KiB read once it stopped growing made ~300.
head -c $((96 * M)) /dev/urandom >"$WORK/big"
s3 put big <"$WORK/big"
reset_counts
ok "a 96 MiB cat reads back byte-exact" cmp -s "$WORK/big" "$MNT/big"
le "a 96 MiB cat takes ranges of up to 8 MiB" 19 "$(count get get_range)"

note "time to first byte"
s3 put ttfb/f <"$WORK/big"
ls -l "$MNT/ttfb" >/dev/null
reset_counts
eq "the first bytes of a listed file" "$(head -c 100 "$WORK/big" | od -An -tx1)" \
    "$(head -c 100 "$MNT/ttfb/f" | od -An -tx1)"
eq "... cost one request, a GET (no HEAD at open, no tiny first range)" 1 "$(count total)"

note "keep_cache and close-to-open ([S66])"
pfs_unmount
pfs_mount "$BUCKET" "attr_timeout=1,entry_timeout=1"
printf 'first version\n' >"$MNT/c"
cat "$MNT/c" >/dev/null
reset_counts
eq "[S66] a re-read of an unchanged file" "first version" "$(cat "$MNT/c")"
eq "[S66] ... costs no GET (the kernel kept its pages)" 0 "$(count get get_range)"
printf 'the second, longer version\n' | s3 put c
# Past attr_timeout: waiting out the documented bound, not a race.
sleep 1.5
reset_counts
eq "[S66] an open after another client replaced the object reads it whole" \
    "the second, longer version" "$(cat "$MNT/c")"
le "[S66] ... at the cost of a lookup (LIST, and HEAD for a changed object's metadata)" 2 \
    "$(count head list)"
reset_counts
eq "[S66] and its re-read is again free" "the second, longer version" "$(cat "$MNT/c")"
eq "[S66] ... no GET" 0 "$(count get get_range)"

pfs_finish

#!/bin/bash
# Keyless mounts (issue 12, doc/SIGNER.md): a presignfs signer on 127.0.0.1
# holds the test server's keys; every mount here has only a token in its
# environment. A write/read/list workload, a read-only token, a prefix token,
# a wrong token, check and presign through the signer, the expiry cap, and the
# signer killed mid-run (cached URLs work, then EIO, then recovery).
. "$(dirname "$0")/lib.sh"

SIGNER_PID=
SIGNER_PORT=0
signer_stop() {
    if [ -n "$SIGNER_PID" ]; then
        kill -TERM "$SIGNER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SIGNER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SIGNER_PID" 2>/dev/null
        wait "$SIGNER_PID" 2>/dev/null
        SIGNER_PID=
    fi
}
trap 'signer_stop; pfs_cleanup' EXIT

tok() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
RW=$(tok) RO=$(tok) PRE=$(tok) SHORT=$(tok)
cat >"$WORK/clients" <<EOF
[rw-host]
token = $RW
allow = $BUCKET
access = write
max_expires = 900
[ro-host]
token = $RO
allow = $BUCKET
[home-host]
token = $PRE
allow = $BUCKET/home/
access = write
[short-host]
token = $SHORT
allow = $BUCKET
max_expires = 20
EOF
chmod 600 "$WORK/clients"
for t in RW RO PRE SHORT; do
    printf '%s\n' "${!t}" >"$WORK/$t.token"
    chmod 600 "$WORK/$t.token"
done
printf 'nottherightonenottherightone\n' >"$WORK/BAD.token"
chmod 600 "$WORK/BAD.token"

# The signer alone sees the keys (lib.sh exported them for every test).
SIGNER_ENV=(AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY")
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN TOS_ACCESS_KEY TOS_SECRET_KEY

signer_start() {
    rm -f "$WORK/ready"
    env "${SIGNER_ENV[@]}" "$PFS_BIN" signer \
        -o "dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1" \
        --listen "127.0.0.1:$SIGNER_PORT" --clients "$WORK/clients" --ready "$WORK/ready" \
        </dev/null 2>>"$WORK/signer.log" &
    SIGNER_PID=$!
    for _ in $(seq 100); do
        [ -s "$WORK/ready" ] && break
        kill -0 "$SIGNER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$WORK/ready" ]; then
        echo "FAIL: the signer did not start"
        cat "$WORK/signer.log"
        exit 1
    fi
    SIGNER_PORT=$(cat "$WORK/ready")
    SIGNER=http://127.0.0.1:$SIGNER_PORT
}
signer_start

# No endpoint, region, dialect or key on the mount's side: the signer names the store.
BASE_OPTS="cache_dir=$WORK/cache"
keyless() { echo "signer=$SIGNER,signer_token=$WORK/$1.token${2:+,$2}"; }
ok "the mount's environment holds no credentials" \
    test -z "$(env | grep -E '^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|TOS_ACCESS_KEY|TOS_SECRET_KEY|TOS_SECURITY_TOKEN)=' || true)"

note "check and presign through the signer"
out=$("$PFS_BIN" check -o "$(keyless RW)" "$BUCKET" 2>&1)
eq "check exits 0" 0 $?
ok "check says there are no keys here" grep -q "credentials:   none on this host" <<<"$out"
ok "check names the signer's client" grep -q "client rw-host with write access" <<<"$out"
out=$("$PFS_BIN" check -o "$(keyless BAD)" "$BUCKET" 2>&1)
eq "check with a wrong token exits 1" 1 $?
ok "check with a wrong token says so" grep -q "unknown token" <<<"$out"

note "a write/read/list workload through a keyless mount"
pfs_mount "$BUCKET" "$(keyless RW)"
mkdir -p "$MNT/w/sub"
head -c 100000 /dev/urandom >"$WORK/small"
head -c $((9 * 1024 * 1024 + 5)) /dev/urandom >"$WORK/big" # multipart: parts signed one by one
ok "cp of a small file" cp "$WORK/small" "$MNT/w/sub/small"
ok "cp of a 9 MiB file (multipart)" cp "$WORK/big" "$MNT/w/big"
for i in $(seq 20); do echo "file $i" >"$MNT/w/f$i"; done
ok "mv" mv "$MNT/w/f1" "$MNT/w/sub/moved"
ok "rm" rm "$MNT/w/f2"
pfs_unmount
pfs_mount "$BUCKET" "$(keyless RW)"
ok "the small file reads back" cmp "$WORK/small" "$MNT/w/sub/small"
ok "the big file reads back" cmp "$WORK/big" "$MNT/w/big"
eq "ls sees the files" "$(printf 'big\n%s\nsub' "$(printf 'f%s\n' 10 11 12 13 14 15 16 17 18 19 20 3 4 5 6 7 8 9)")" \
    "$(ls "$MNT/w" | LC_ALL=C sort)"
eq "the moved file" "file 1" "$(cat "$MNT/w/sub/moved")"
ok "ls -l of the directory" ls -l "$MNT/w" >/dev/null
pfs_unmount
ok "the signer wrote audit lines" grep -q "audit client=rw-host peer=127.0.0.1 PUT $BUCKET/w/sub/small expires=900 allowed" "$WORK/signer.log"
ok "no audit line holds a signature or a token" \
    bash -c "! grep -E 'Signature=|$RW' '$WORK/signer.log'"

note "presign through the signer: the expiry is capped at max_expires"
url=$("$PFS_BIN" presign -o "$(keyless RW)" --expires 86400 "$BUCKET" w/sub/moved)
eq "presign exits 0" 0 $?
ok "the URL lives max_expires (900 s), not 86400" grep -q "X-Amz-Expires=900&" <<<"$url"
eq "the URL works without keys" "file 1" "$(curl -sf "$url")"
url=$("$PFS_BIN" presign -o "$(keyless RO)" -X PUT "$BUCKET" w/x 2>"$WORK/err")
eq "a read-only token gets no PUT URL (exit 2)" 2 $?
ok "and is told why" grep -q "needs write access" "$WORK/err"

note "a read-only token: reads work, writes fail with EACCES"
pfs_mount "$BUCKET" "$(keyless RO)"
ok "read with a read-only token" cmp "$WORK/small" "$MNT/w/sub/small"
eq "write with a read-only token" EACCES "$(errno_of cp "$WORK/small" "$MNT/w/new")"
eq "unlink with a read-only token" EACCES "$(errno_of rm "$MNT/w/f3")"
ok "f3 is still there" test -f "$MNT/w/f3"
ok "the daemon logged the refusal" grep -q "signer $SIGNER refused PUT $BUCKET/w/new: PUT needs write access" "${LOGS[-1]}"
pfs_unmount

note "a prefix token sees only its prefix"
pfs_mount "$BUCKET:home" "$(keyless PRE)"
ok "write below the prefix" cp "$WORK/small" "$MNT/mine"
ok "read below the prefix" cmp "$WORK/small" "$MNT/mine"
eq "ls below the prefix" "mine" "$(ls "$MNT")"
pfs_unmount
pfs_mount "$BUCKET" "$(keyless PRE)"
eq "the bucket's root is refused" EACCES "$(errno_of ls "$MNT")"
eq "a file outside the prefix is refused" EACCES "$(errno_of cat "$MNT/w/f3")"
pfs_unmount

note "a wrong token: the mount is refused with one line"
mkdir -p "$WORK/mnt-bad"
"$PFS_BIN" -f -o "$BASE_OPTS,$(keyless BAD)" "$BUCKET" "$WORK/mnt-bad" 2>"$WORK/bad.err"
eq "exit status of a mount with a wrong token" 1 $?
eq "one line" 1 "$(wc -l <"$WORK/bad.err")"
ok "naming the signer and the reason" grep -q "signer $SIGNER refused: HTTP 401 unknown token" "$WORK/bad.err"
ok "nothing is mounted" bash -c "! mountpoint -q '$WORK/mnt-bad'"

note "the signer killed mid-run: cached URLs work, then EIO, then recovery"
# Lookups ask the store every time (no attribute cache), so every stat needs a
# URL. URLs live 20 s and are re-signed in their last 15 s.
pfs_mount "$BUCKET" "$(keyless SHORT "cache_dir=$WORK/cache-short,url_expires=20,url_refresh_margin=15,attr_timeout=0,entry_timeout=0,negative_timeout=0,dir_timeout=0")"
ok "stat with the signer up" stat "$MNT/w/f3" >/dev/null
signed_at=$(date +%s)
signer_stop
reset_counts
ok "stat with the signer down, from a cached URL" stat "$MNT/w/f3" >/dev/null
sleep $((signed_at + 7 - $(date +%s)))
ok "stat inside the refresh margin, the signer still down" stat "$MNT/w/f3" >/dev/null
ok "the store saw the requests (their URLs came from the cache)" test "$(count total)" -ge 2
ok "the daemon named the signer" grep -q "signer $SIGNER does not answer" "${LOGS[-1]}"
# A URL with 5 s of life or less is not used: from 15 s after signing, EIO.
sleep $((signed_at + 17 - $(date +%s)))
eq "stat once the cached URLs expired" EIO "$(errno_of stat "$MNT/w/f3")"
signer_start # same port
ok "stat once the signer is back" stat "$MNT/w/f3" >/dev/null
ok "the daemon says it recovered" grep -q "signer $SIGNER answers again" "${LOGS[-1]}"
pfs_unmount

note "SIGHUP reloads the clients file: a removed token stops working"
sed -i '/^\[ro-host\]/,/^allow/d' "$WORK/clients"
kill -HUP "$SIGNER_PID"
for _ in $(seq 50); do grep -q "signer reloaded" "$WORK/signer.log" && break; sleep 0.1; done
"$PFS_BIN" presign -o "$(keyless RO)" "$BUCKET" w/f3 >/dev/null 2>"$WORK/err"
ok "the removed token is refused" grep -q "unknown token" "$WORK/err"
ok "the others still work" "$PFS_BIN" presign -o "$(keyless RW)" "$BUCKET" w/f3 >/dev/null

signer_stop
pfs_finish

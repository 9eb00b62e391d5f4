#!/bin/bash
# The Debian package as a user gets it: installs DEB, mounts a bucket of the
# test server with the installed mount(8) helper and binary (an fstab-style
# option list with _netdev and a config file), copies a file in and out,
# unmounts, purges the package and checks that nothing is left; lintian must
# report no errors. Run under tests/server/with-server.sh, as root (it
# installs a system package). Usage: test_deb.sh DEB [CHANGES]
set -u
deb=$1
changes=${2:-}
BUCKET=${BUCKET:-dtest}
PASS=0
FAIL=0
ok() {
    local what=$1
    shift
    if "$@"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: $what"; fi
}
if [ "$(id -u)" -ne 0 ]; then
    echo "test_deb.sh: needs root (it installs the package); skipped"
    exit 77
fi
if dpkg-query -W -f='${Status}' presignfs 2>/dev/null | grep -q 'install ok installed'; then
    echo "test_deb.sh: a presignfs package is installed already; not touching it" >&2
    exit 2
fi
WORK=$(mktemp -d /tmp/pfs-deb-XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT" "$WORK/cache"
daemon_pid() { # the installed daemon serving our mount point, by its command line
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/presignfs ] || continue
        tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$MNT" && echo "${p#/proc/}"
    done
}
cleanup() {
    local pid
    pid=$(daemon_pid)
    if mountpoint -q "$MNT"; then umount "$MNT" 2>/dev/null || umount -l "$MNT"; fi
    for p in $pid; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    dpkg-query -W presignfs >/dev/null 2>&1 && dpkg --purge presignfs >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

ok "dpkg -i" dpkg -i "$deb" >"$WORK/dpkg.log" 2>&1 || cat "$WORK/dpkg.log"
for f in /usr/bin/presignfs /sbin/mount.presignfs /etc/presignfs/presignfs.conf \
    /lib/systemd/system/presignfs@.service; do
    ok "$f installed" test -e "$f"
done
ok "the configuration is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' presignfs | grep -q ' /etc/presignfs/presignfs.conf '"
for page in man1/presignfs.1 man8/mount.presignfs.8 man5/presignfs.conf.5; do
    ok "man page $page installed" test -e "/usr/share/man/$page.gz"
done
ok "man presignfs renders" sh -c 'MANWIDTH=80 man presignfs 2>/dev/null | grep -q "^EXIT STATUS"'
ok "presignfs --version" sh -c '/usr/bin/presignfs --version | grep -q "^presignfs [0-9]"'

# An fstab line's options: mount(8) runs /sbin/mount.presignfs, which drops
# _netdev and passes config= to /usr/bin/presignfs.
printf 'access_key = S3RVER\nsecret_key = S3RVER\n' >"$WORK/cred"
chmod 600 "$WORK/cred"
cat >"$WORK/presignfs.conf" <<CONF
dialect = s3
endpoint = $PFS_TEST_ENDPOINT
region = us-east-1
credentials = $WORK/cred
cache_dir = $WORK/cache
CONF
ok "mount -t presignfs" mount -t presignfs -o "_netdev,config=$WORK/presignfs.conf" "$BUCKET" "$MNT"
ok "the mount appeared" mountpoint -q "$MNT"
ok "the installed binary serves it" test -n "$(daemon_pid)"
head -c 300000 /dev/urandom >"$WORK/in.bin"
ok "cp in" cp "$WORK/in.bin" "$MNT/copied.bin"
ok "umount" umount "$MNT"
pid=$(daemon_pid)
for _ in $(seq 300); do [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.1; done
ok "the daemon exited after umount" test -z "$(daemon_pid)"
ok "the object is in the bucket" test -n "$(find "$PFS_TEST_DATA_DIR/$BUCKET" -path '*copied.bin*' | head -1)"
ok "mount again" mount -t presignfs -o "_netdev,config=$WORK/presignfs.conf" "$BUCKET" "$MNT"
ok "cp out" cp "$MNT/copied.bin" "$WORK/out.bin"
ok "the copy is intact" cmp -s "$WORK/in.bin" "$WORK/out.bin"
ok "umount again" umount "$MNT"
pid=$(daemon_pid)
for _ in $(seq 300); do [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.1; done

ok "dpkg --purge" dpkg --purge presignfs >"$WORK/dpkg.log" 2>&1 || cat "$WORK/dpkg.log"
for f in /usr/bin/presignfs /sbin/mount.presignfs /etc/presignfs; do
    ok "$f gone after purge" test ! -e "$f"
done

if [ -n "$changes" ]; then
    lintian --fail-on error "$changes" >"$WORK/lintian.log" 2>&1
    rc=$?
    sed 's/^/# lintian: /' "$WORK/lintian.log"
    ok "lintian reports no errors" test $rc -eq 0
fi
echo "$PASS passed, $FAIL failed"
[ $FAIL -eq 0 ]

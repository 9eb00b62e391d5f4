#!/bin/bash
# The RPM holds what the .deb holds, and its binary runs. It is not installed
# (this is a Debian machine): its payload is unpacked with rpm2archive.
# Usage: test_rpm.sh RPM
set -u
rpmfile=$1
PASS=0
FAIL=0
ok() {
    local what=$1
    shift
    if "$@"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: $what"; fi
}
work=$(mktemp -d /tmp/pfs-rpm-XXXXXX)
trap 'rm -rf "$work"' EXIT
rpm -qlp "$rpmfile" >"$work/files" 2>/dev/null
for f in /usr/bin/presignfs /usr/sbin/mount.presignfs /etc/presignfs/presignfs.conf \
    /usr/lib/systemd/system/presignfs@.service; do
    ok "$f in the rpm" grep -qxF "$f" "$work/files"
done
ok "man pages in the rpm" test "$(grep -c "^/usr/share/man/man[158]/.*presignfs" "$work/files")" -eq 3
ok "the configuration is %config(noreplace)" \
    sh -c "rpm -qcp '$rpmfile' 2>/dev/null | grep -qxF /etc/presignfs/presignfs.conf"
ok "it requires fuse3" sh -c "rpm -qRp '$rpmfile' 2>/dev/null | grep -qx fuse3"
rpm2archive - <"$rpmfile" 2>/dev/null | tar -C "$work" -xzf - 2>/dev/null
ok "its presignfs runs" sh -c "'$work/usr/bin/presignfs' --version | grep -q '^presignfs [0-9]'"
echo "$PASS passed, $FAIL failed"
[ $FAIL -eq 0 ]

#!/bin/bash
# TLS (issue 10): a store behind https with a self-signed certificate
# (made here with openssl; tests/server/tlsfront.js in front of the test
# server). Refused by default with one line that names the certificate
# problem and ca_file; trusted with ca_file = the certificate (a file written
# and read back through a mount); insecure = true works and warns; a missing
# ca_file is refused before any request.
# Usage: with-server.sh --bucket tls -- test_tls.sh PATH_TO_PRESIGNFS
set -u
bin=$1
here=$(cd "$(dirname "$0")/../server" && pwd)
W=$(mktemp -d /tmp/pfs-tls-XXXXXX)
front_pid=
cleanup() {
    mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"
    [ -n "$front_pid" ] && kill "$front_pid" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
export HOME=$W/home
mkdir -p "$HOME" "$W/mnt"
unset XDG_CONFIG_HOME XDG_CACHE_HOME PRESIGNFS_CONFIG
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
pass=0 fail=0
ok() { # ok DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $what"; fail=$((fail + 1)); fi
}

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null ||
    { echo "FAIL: openssl could not make a certificate"; exit 1; }
up=${PFS_TEST_ENDPOINT#http://}
node "$here/tlsfront.js" --cert "$W/cert.pem" --key "$W/key.pem" --upstream "$up" \
    --ready "$W/ready" --parent $$ </dev/null >"$W/front.log" 2>&1 &
front_pid=$!
for _ in $(seq 100); do [ -s "$W/ready" ] && break; sleep 0.1; done
[ -s "$W/ready" ] || { echo "FAIL: the TLS front did not start"; cat "$W/front.log"; exit 1; }
o="dialect=s3,endpoint=https://127.0.0.1:$(cat "$W/ready"),region=us-east-1,retries=0,cache_dir=$W/cache"

# Refused by default: one line, exit 1, the certificate problem and ca_file named.
"$bin" -o "$o" tls "$W/mnt" >"$W/out" 2>"$W/err"
rc=$?
ok "an untrusted certificate fails the mount with status 1 (got $rc)" [ $rc -eq 1 ]
ok "... in one line" [ "$(wc -l <"$W/err")" -eq 1 ]
ok "... naming the certificate problem: $(cat "$W/err")" grep -Eq 'certificate problem: self.signed certificate' "$W/err"
ok "... and ca_file" grep -q 'ca_file' "$W/err"
ok "... and nothing is mounted" bash -c "! mountpoint -q $W/mnt"
"$bin" check -o "$o" tls >"$W/out" 2>"$W/err"
ok "check says the same" grep -q 'self.signed certificate.*ca_file' "$W/out"

# Trusted with ca_file: a mount that stores and reads back a file.
if "$bin" -o "$o,ca_file=$W/cert.pem" tls "$W/mnt" 2>"$W/err"; then
    echo "over TLS" >"$W/mnt/hello.txt"
    fusermount3 -u "$W/mnt"
    "$bin" -o "$o,ca_file=$W/cert.pem" tls "$W/mnt" 2>>"$W/err"
    ok "a file written over TLS reads back after a remount" [ "$(cat "$W/mnt/hello.txt" 2>&1)" = "over TLS" ]
    fusermount3 -u "$W/mnt"
    ok "... and nothing was logged: $(cat "$W/err")" [ ! -s "$W/err" ]
else
    echo "FAIL: mount with ca_file failed: $(cat "$W/err")"
    fail=$((fail + 1))
fi

# insecure: works, with a warning.
if "$bin" -o "$o,insecure" tls "$W/mnt" 2>"$W/err"; then
    ok "insecure mounts and reads" [ "$(cat "$W/mnt/hello.txt" 2>&1)" = "over TLS" ]
    fusermount3 -u "$W/mnt"
    ok "insecure logs a warning: $(cat "$W/err")" grep -q 'TLS certificate verification is off' "$W/err"
else
    echo "FAIL: mount with insecure failed: $(cat "$W/err")"
    fail=$((fail + 1))
fi

# A ca_file that is not there: refused before any request, exit 2.
"$bin" -o "$o,ca_file=$W/none.pem" tls "$W/mnt" >"$W/out" 2>"$W/err"
rc=$?
ok "a missing ca_file is refused with status 2 (got $rc)" [ $rc -eq 2 ]
ok "... in one line naming it: $(cat "$W/err")" bash -c "[ \$(wc -l <$W/err) -eq 1 ] && grep -q 'ca_file $W/none.pem: No such file' $W/err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/bash
# A keyless mount's calls to its signer (doc/SIGNER.md): a HEAD fan-out and
# the parts of a multipart upload are signed in batches, so they cost
# ceil(N / batch) calls, not N (counted by the mount's `presignfs stats`).
# Then the signer over HTTPS with certificates openssl makes here: a mount
# verifies it with signer_ca, a wrong CA is refused with one clear line, and
# client certificates (tls_client_ca; cert_subject, cert_sha256) are required
# where the clients file says so.
export PFS_TEST_SIGNER=1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export PRESIGNFS_RUNTIME_DIR=$WORK/run
# sget FILE PATH: a value of `presignfs stats --json` ("signer.calls").
sget() {
    /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}
snap() { "$PFS_BIN" stats --json "$MNT" >"$WORK/$1.json"; }
delta() { echo $(($(sget "$WORK/$2.json" "$3") - $(sget "$WORK/$1.json" "$3"))); }

note "ls -l of 200 files with metadata=head: the HEAD URLs come in one batch"
s3 put-many d/f 200 10 >/dev/null
pfs_mount "$BUCKET" "metadata=head,part_size=5M,multipart_threshold=5M"
snap a
eq "ls -l lists 200 files" 200 "$(ls -l "$MNT/d" | grep -c '^-')"
snap b
ok "200 HEADs went to the store" test "$(delta a b requests.HEAD)" -ge 200
# two LISTs (the directory and its marker probe), the directory's HEAD, one batch
le "signer calls for the listing and its 200 HEADs" 5 "$(delta a b signer.calls)"
le "URLs asked for (HEADs and the listing)" 210 "$(delta a b signer.urls)"
ok "at least the 200 HEAD URLs were asked for" test "$(delta a b signer.urls)" -ge 200

note "a multipart upload: its part URLs come in one batch"
head -c $((40 * 1024 * 1024 + 7)) /dev/urandom >"$WORK/big"
snap c
ok "cp of a 40 MiB file in 5 MiB parts" cp "$WORK/big" "$MNT/big"
snap d
eq "nine parts went to the store" 9 "$(($(delta c d requests.PUT)))"
# create, one batch of 9 part URLs, complete; the lookups before the create
le "signer calls for the upload" 6 "$(delta c d signer.calls)"
pfs_unmount
pfs_mount "$BUCKET"
ok "the upload reads back" cmp "$WORK/big" "$MNT/big"
pfs_unmount

note "the signer over HTTPS, with client certificates"
T=$WORK/tls
mkdir -p "$T"
# mkcert NAME ISSUER SUBJECT: a key and a certificate signed by ISSUER (a CA
# when ISSUER is "-").
mkcert() {
    local name=$1 issuer=$2 subj=$3
    openssl req -new -newkey rsa:2048 -nodes -keyout "$T/$name.key" -subj "$subj" \
        -out "$T/$name.csr" 2>/dev/null || return 1
    if [ "$issuer" = - ]; then
        openssl x509 -req -in "$T/$name.csr" -signkey "$T/$name.key" -days 2 \
            -extfile <(printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n') \
            -out "$T/$name.pem" 2>/dev/null
    else
        openssl x509 -req -in "$T/$name.csr" -CA "$T/$issuer.pem" -CAkey "$T/$issuer.key" \
            -CAcreateserial -days 2 -out "$T/$name.pem" \
            -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n') 2>/dev/null
    fi
    chmod 600 "$T/$name.key"
}
ok "a CA" mkcert ca - "/CN=presignfs test CA"
ok "another CA" mkcert other - "/CN=someone else"
ok "the signer's certificate" mkcert server ca "/CN=127.0.0.1"
ok "a client certificate" mkcert client ca "/O=presignfs-test/CN=mount-host"
ok "a client certificate of another CA" mkcert stranger other "/O=presignfs-test/CN=mount-host"
fp=$(openssl x509 -in "$T/client.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
subject=$(openssl x509 -in "$T/client.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
tok() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
PLAIN=$(tok) BYNAME=$(tok) PINNED=$(tok)
cat >"$T/clients" <<EOC
[plain]
token = $PLAIN
allow = $BUCKET
access = write
[by-name]
token = $BYNAME
allow = $BUCKET
access = write
cert_subject = $subject
[pinned]
token = $PINNED
allow = $BUCKET
cert_sha256 = $fp
EOC
chmod 600 "$T/clients"
for t in PLAIN BYNAME PINNED; do printf '%s\n' "${!t}" >"$T/$t.token"; chmod 600 "$T/$t.token"; done
"$PFS_BIN" signer -o "dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1,tls_cert=$T/server.pem,tls_key=$T/server.key,tls_client_ca=$T/ca.pem" \
    --listen 127.0.0.1:0 --clients "$T/clients" --ready "$T/ready" </dev/null 2>>"$T/signer.log" &
TLS_PID=$!
trap 'kill -TERM $TLS_PID 2>/dev/null; wait $TLS_PID 2>/dev/null; pfs_cleanup' EXIT
for _ in $(seq 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
ok "the HTTPS signer started" test -s "$T/ready"
HTTPS=https://127.0.0.1:$(tr -dc 0-9 <"$T/ready")
BASE_OPTS="cache_dir=$WORK/cache-tls"
via() { echo "signer=$HTTPS,signer_token=$T/$1.token,signer_ca=$T/$2.pem${3:+,$3}"; }
CLIENT_CERT="signer_cert=$T/client.pem,signer_key=$T/client.key"

pfs_mount "$BUCKET" "$(via PLAIN ca)"
ok "a mount through the HTTPS signer writes" cp "$WORK/big" "$MNT/tls-big"
ok "and reads" cmp "$WORK/big" "$MNT/tls-big"
pfs_unmount

mkdir -p "$WORK/mnt-refused"
refused() { # refused TOKEN CA [OPTS]: the mount must fail; its stderr in $T/err
    "${MOUNT_ENV[@]}" "$PFS_BIN" -f -o "$BASE_OPTS,$(via "$@")" "$BUCKET" "$WORK/mnt-refused" 2>"$T/err"
}
refused PLAIN other
eq "a mount that cannot verify the signer exits 1" 1 $?
ok "saying so (certificate)" grep -q "signer $HTTPS does not answer (.*certificate" "$T/err"
le "in at most two lines" 2 "$(wc -l <"$T/err")"
ok "nothing is mounted" bash -c "! mountpoint -q '$WORK/mnt-refused'"

refused BYNAME ca
eq "a client that must show a certificate and shows none exits 1" 1 $?
ok "told why" grep -q "must present a client certificate" "$T/err"
pfs_mount "$BUCKET" "$(via BYNAME ca "$CLIENT_CERT")"
ok "with its certificate (subject $subject) it reads" cmp "$WORK/big" "$MNT/tls-big"
pfs_unmount

refused PINNED ca "signer_cert=$T/stranger.pem,signer_key=$T/stranger.key"
eq "a certificate of another CA exits 1" 1 $?
ok "told it is not trusted" grep -q "client certificate not trusted" "$T/err"
pfs_mount "$BUCKET" "$(via PINNED ca "$CLIENT_CERT")"
ok "the pinned certificate reads" cmp "$WORK/big" "$MNT/tls-big"
pfs_unmount
ok "the signer logged the refusals" grep -q "audit client=by-name .* refused: client by-name must present a client certificate" "$T/signer.log"
chmod 644 "$T/client.key"
refused PINNED ca "$CLIENT_CERT"
eq "a signer_key readable by others exits 1" 1 $?
ok "told so" grep -q "signer_key $T/client.key has mode 0644" "$T/err"
pfs_finish

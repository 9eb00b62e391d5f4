#!/bin/bash
# The bad-invocation table (issue 10): every case must fail with exit status
# 1 or 2 (the one given), print exactly one line on stderr that names the
# problem and where it came from (matched by the regex), print nothing on
# stdout, leave no mount behind and not crash. Run through with-server.sh.
# Usage: with-server.sh --bucket btest -- test_badinput.sh PATH_TO_PRESIGNFS
set -u
bin=$1
W=$(mktemp -d /tmp/pfs-bad-XXXXXX)
mnt=$W/mnt
tmpfs_mounts=()
cleanup() {
    grep -F " $W/" /proc/mounts | awk '{print $2}' | while read -r m; do
        fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null
    done
    rm -rf "$W"
}
trap cleanup EXIT
export HOME=$W/home
mkdir -p "$HOME" "$mnt"
unset XDG_CONFIG_HOME XDG_CACHE_HOME PRESIGNFS_CONFIG TOS_ACCESS_KEY TOS_SECRET_KEY TOS_SECURITY_TOKEN
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
B=btest
o="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1,retries=0,cache_dir=$W/cache"
pass=0 fail=0

# bad STATUS REGEX -- ARGS...: presignfs ARGS fails as described above.
bad() {
    local want=$1 re=$2
    shift 3
    timeout 60 "$bin" "$@" </dev/null >"$W/out" 2>"$W/err"
    local got=$? why=
    local lines
    lines=$(wc -l <"$W/err")
    if [ "$got" -ne "$want" ]; then
        why="status $got, want $want"
    elif [ -s "$W/out" ]; then
        why="printed on stdout"
    elif [ "$lines" -ne 1 ]; then
        why="$lines lines on stderr"
    elif ! grep -Eq -- "^presignfs: .*$re" "$W/err"; then
        why="message does not match /$re/"
    elif grep -qF " $mnt " /proc/mounts; then
        why="a mount was left behind"
    fi
    if [ -n "$why" ]; then
        echo "FAIL: presignfs $* -> $why"
        echo "  stderr: $(head -c 600 "$W/err")"
        fail=$((fail + 1))
        grep -qF " $mnt " /proc/mounts && fusermount3 -u "$mnt"
    else
        pass=$((pass + 1))
    fi
}

# --- The store and the account ---
AWS_SECRET_ACCESS_KEY=wrong bad 1 "cannot mount bucket $B from .*HTTP 403.*wrong access key, secret key or region" -- -o "$o" $B "$mnt"
AWS_ACCESS_KEY_ID=NOBODY bad 1 "cannot mount bucket $B .*HTTP 403" -- -o "$o" $B "$mnt"
bad 1 "cannot mount bucket nobucket .*HTTP 404 NoSuchBucket: the bucket does not exist" -- -o "$o" nobucket "$mnt"
bad 1 "from http://127.0.0.1:1: no response" -- -o "$o,endpoint=http://127.0.0.1:1" $B "$mnt"
curl -fsS -X POST "$PFS_TEST_CONTROL/fail?count=1&status=400&code=AuthorizationQueryParametersError&region=eu-west-1" >/dev/null
bad 1 "wrong region 'us-east-1': the store says the bucket is in 'eu-west-1' \(region = eu-west-1\)" -- -o "$o" $B "$mnt"
# A skewed store refuses every request (the re-signed one too).
fault() { curl -fsS -X POST "$PFS_TEST_CONTROL/fail?$1" >/dev/null; }
fault "count=4&status=403&code=RequestTimeTooSkewed&skew=3600"
bad 1 "RequestTimeTooSkewed: this machine's clock is 3(599|600|601) s behind the store's" -- -o "$o" $B "$mnt"
fault "count=4&status=403&code=RequestTimeTooSkewed&skew=-7200"
bad 1 "clock is 7(199|200|201) s ahead of the store's" -- -o "$o" $B "$mnt"
fault "count=0"

# --- The endpoint, region and dialect ---
bad 2 "endpoint '127.0.0.1:9000' is not valid: it must start with http:// or https://" -- -o "$o,endpoint=127.0.0.1:9000" $B "$mnt"
bad 2 "endpoint 'ftp://127.0.0.1' is not valid: it must start with http" -- -o "$o,endpoint=ftp://127.0.0.1" $B "$mnt"
bad 2 "endpoint '$PFS_TEST_ENDPOINT/some/path' is not valid: .*no path" -- -o "$o,endpoint=$PFS_TEST_ENDPOINT/some/path" $B "$mnt"
bad 2 "endpoint 'http://h:99999' is not valid" -- -o "$o,endpoint=http://h:99999" $B "$mnt"
bad 2 "no endpoint: set endpoint = URL" -- -o region=r $B "$mnt"
bad 2 "no region: set region = NAME" -- -o endpoint=http://127.0.0.1:1 $B "$mnt"
bad 2 "region 'us east' may hold only" -- -o "$o,region=us east" $B "$mnt"
bad 2 "-o dialect=gcs: dialect must be 'tos' or 's3'" -- -o "$o,dialect=gcs" $B "$mnt"

# --- The bucket name ---
bad 2 "bucket name 'bad bucket' is not valid: it may hold only" -- -o "$o" "bad bucket" "$mnt"
bad 2 "bucket name 'ab' is not valid: it must be 3 to 255" -- -o "$o" ab "$mnt"
bad 2 "bucket name 'Upper_Case' is not valid: it may hold only lower-case" -- -o "dialect=tos,endpoint=https://tos-cn-beijing.volces.com,region=cn-beijing,cache_dir=$W/cache" Upper_Case "$mnt"
bad 2 "bucket name 'a..b' is not valid: .*two dots" -- -o "$o,addressing=virtual" a..b "$mnt"
bad 2 "'' is not a bucket name" -- -o "$o" :prefix "$mnt"

# --- The command line ---
bad 2 "expected BUCKET\[:PREFIX\] MOUNTPOINT" -- -o "$o" $B
bad 2 "expected BUCKET\[:PREFIX\] MOUNTPOINT" -- -o "$o" $B "$mnt" extra
bad 2 "unknown or incomplete option '--frobnicate'" -- --frobnicate -o "$o" $B "$mnt"
bad 2 "-o colour=red: unknown option 'colour'" -- -o "$o,colour=red" $B "$mnt"
bad 2 "-o noequals: expected key=value" -- -o "$o,noequals" $B "$mnt"

# --- The mount point ---
bad 2 "mount point $W/none: No such file or directory" -- -o "$o" $B "$W/none"
touch "$W/afile"
bad 2 "mount point $W/afile is not a directory" -- -o "$o" $B "$W/afile"
mkdir -p "$W/full-dir" && touch "$W/full-dir/keep.txt"
bad 2 "mount point $W/full-dir is not empty \(it holds 'keep.txt'\).*-o nonempty" -- -o "$o" $B "$W/full-dir"
# Already mounted: by a live presignfs mount, which the failed attempt leaves working.
if "$bin" -o "$o" $B "$mnt" 2>"$W/err"; then
    echo hello >"$mnt/probe.txt"
    "$bin" -o "$o" $B "$mnt" >"$W/out" 2>"$W/err2"
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$W/err2")" -eq 1 ] && grep -q "is already a mount point" "$W/err2" &&
        [ "$(cat "$mnt/probe.txt")" = hello ]; then
        pass=$((pass + 1))
    else
        echo "FAIL: mounting twice -> status $rc: $(cat "$W/err2")"
        fail=$((fail + 1))
    fi
    fusermount3 -u "$mnt"
else
    echo "FAIL: the good mount failed: $(cat "$W/err")"
    fail=$((fail + 1))
fi

# --- The cache directory ---
bad 2 "cache_dir $W/afile is not a directory" -- -o "$o,cache_dir=$W/afile" $B "$mnt"
bad 2 "cache_dir $W/afile/sub: cannot create it: Not a directory" -- -o "$o,cache_dir=$W/afile/sub" $B "$mnt"
if [ "$(id -u)" -eq 0 ]; then
    # Root writes through modes: a read-only file system is unwritable for
    # everyone; a 2 MiB file system filled up is full.
    mkdir -p "$W/ro" "$W/tiny"
    if mount -t tmpfs -o ro,size=1m tmpfs "$W/ro" && mount -t tmpfs -o size=2m tmpfs "$W/tiny"; then
        bad 2 "cache_dir $W/ro: cannot create a file in it: Read-only file system" -- -o "$o,cache_dir=$W/ro" $B "$mnt"
        dd if=/dev/zero of="$W/tiny/fill" bs=64k 2>/dev/null
        bad 2 "cache_dir $W/tiny(/c)?(: cannot .*: No space left on device| is full: [0-9]+ bytes free)" -- -o "$o,cache_dir=$W/tiny/c" $B "$mnt"
        rm -f "$W/tiny/fill"
        head -c 1500000 /dev/zero >"$W/tiny/fill"
        bad 2 "cache_dir $W/tiny is full: [0-9]+ bytes free, at least 1048576 needed" -- -o "$o,cache_dir=$W/tiny" $B "$mnt"
    else
        echo "FAIL: cannot mount a tmpfs as root"
        fail=$((fail + 1))
    fi
else
    mkdir -p "$W/ro" && chmod 500 "$W/ro"
    bad 2 "cache_dir $W/ro: cannot create a file in it: Permission denied" -- -o "$o,cache_dir=$W/ro" $B "$mnt"
fi

# --- Credentials and configuration files ---
bad 2 "credentials file $W/nocred: cannot read it: No such file or directory" -- -o "$o,credentials=$W/nocred" $B "$mnt"
printf 'access_key = S3RVER\nsecret_key = S3RVER\n' >"$W/cred" && chmod 644 "$W/cred"
bad 2 "credentials file $W/cred has mode 0644: .*chmod 600" -- -o "$o,credentials=$W/cred" $B "$mnt"
head -c 300 /dev/urandom | tr -d '\n' >"$W/garbage" && chmod 600 "$W/garbage"
bad 2 "credentials file $W/garbage:1: line is longer than 199 bytes" -- -o "$o,credentials=$W/garbage" $B "$mnt"
printf 'access_key = S3RVER\npassword = x\n' >"$W/cred2" && chmod 600 "$W/cred2"
bad 2 "credentials file $W/cred2:2: unknown key 'password'" -- -o "$o,credentials=$W/cred2" $B "$mnt"
printf 'access_key = S3RVER\n' >"$W/cred3" && chmod 600 "$W/cred3"
bad 2 "credentials file $W/cred3: access_key and secret_key are both required" -- -o "$o,credentials=$W/cred3" $B "$mnt"
bad 2 "credentials file $W: not a regular file" -- -o "$o,credentials=$W" $B "$mnt"
unset AWS_ACCESS_KEY_ID
bad 2 "missing credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" -- -o "$o" $B "$mnt"
export AWS_ACCESS_KEY_ID=S3RVER
printf 'endpoint = %s\nregion us-east-1\n' "$PFS_TEST_ENDPOINT" >"$W/syntax.conf"
bad 2 "$W/syntax.conf:2: not 'key = value'" -- -o "config=$W/syntax.conf" $B "$mnt"
printf 'region = r\ncolour = blue\n' >"$W/unknown.conf"
bad 2 "$W/unknown.conf:2: unknown option 'colour'" -- -o "config=$W/unknown.conf" $B "$mnt"
printf '[presignfs]\nregion = r\n[other]\nx = 1\n' >"$W/section.conf"
bad 2 "$W/section.conf:4: unknown section \[other\]" -- -o "config=$W/section.conf" $B "$mnt"
printf 'endpoint = http://h\nregion = r\nretries = many\n' >"$W/value.conf"
bad 2 "$W/value.conf:3: retries must be a whole number, not 'many'" -- -o "config=$W/value.conf" $B "$mnt"
printf 'session = %0300d\n' 0 >"$W/long.conf"
bad 2 "$W/long.conf:1: line is longer than 199 bytes" -- -o "config=$W/long.conf" $B "$mnt"
bad 2 "$W/none.conf: cannot read the configuration file: No such file or directory" -- -o "config=$W/none.conf" $B "$mnt"
bad 2 "logfile $W/none/log: No such file or directory" -- -o "$o,logfile=$W/none/log" $B "$mnt"
bad 2 "signer = http://127.0.0.1:1 needs signer_token" -- -o "signer=http://127.0.0.1:1,cache_dir=$W/cache" $B "$mnt"

# --- Every numeric option: negative, zero (where zero is not allowed), huge, not a number ---
zero_bad=" url_expires url_cache_size max_inflight connect_timeout memory_limit part_size copy_threshold upload_retry_interval multipart_threshold "
for opt in url_expires url_refresh_margin url_cache_size retries max_inflight connect_timeout uid gid \
    umask cache_size attr_timeout entry_timeout negative_timeout dir_timeout memory_limit part_size \
    copy_threshold upload_retry_interval multipart_threshold; do
    values="-1 99999999999999999999 12abc"
    case $zero_bad in *" $opt "*) values="$values 0" ;; esac
    [ "$opt" = umask ] && values="-1 07777 8 abc"
    for v in $values; do
        bad 2 "-o $opt=$v: $opt must be " -- -o "$o,$opt=$v" $B "$mnt"
    done
done
bad 2 "url_refresh_margin \(100 s\) must be less than url_expires \(100 s\)" -- -o "$o,url_expires=100,url_refresh_margin=100" $B "$mnt"
bad 2 "multipart_threshold \(5242880\) must be at least part_size \(10485760\)" -- -o "$o,part_size=10M,multipart_threshold=5M" $B "$mnt"

echo "$pass passed, $fail failed ($((pass + fail)) bad invocations)"
[ "$fail" -eq 0 ]

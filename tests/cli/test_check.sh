#!/bin/bash
# `presignfs check` against the test server (run through with-server.sh):
# a good setup, a missing bucket, a wrong secret and an unreachable endpoint.
# Usage: with-server.sh --bucket itest -- test_check.sh PATH_TO_PRESIGNFS
set -u
bin=$1
export HOME=$(mktemp -d /tmp/pfs-check-XXXXXX)
trap 'rm -rf "$HOME"' EXIT
unset XDG_CONFIG_HOME PRESIGNFS_CONFIG
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
o="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1,retries=1"
pass=0 fail=0
# matches FILE REGEX: REGEX is an extended regex, or EMPTY for an empty file.
matches() {
    if [ "$2" = EMPTY ]; then [ ! -s "$1" ]; else grep -Eq -- "$2" "$1"; fi
}
check() { # WANT_STATUS STDOUT_REGEX STDERR_REGEX -- args
    local want=$1 out_re=$2 err_re=$3
    shift 4
    "$bin" check "$@" >"$HOME/out" 2>"$HOME/err"
    local got=$?
    if [ $got -eq "$want" ] && matches "$HOME/out" "$out_re" && matches "$HOME/err" "$err_re"; then
        pass=$((pass + 1))
    else
        echo "FAIL: check $* -> $got (want $want)"; cat "$HOME/out" "$HOME/err"; fail=$((fail + 1))
    fi
}
check 0 'bucket: +itest: answers' EMPTY -- -o "$o" itest
check 0 'listing: +works' EMPTY -- -o "$o" itest
check 1 'FAILED: HTTP 404 NoSuchBucket' '^presignfs: bucket nobucket at .* does not answer: HTTP 404' -- -o "$o" nobucket
AWS_SECRET_ACCESS_KEY=wrong check 1 'FAILED: HTTP 403' 'does not answer: HTTP 403 .*2 attempts' -- -o "$o" itest
check 1 'FAILED: no response' 'does not answer: no response' -- -o "dialect=s3,endpoint=http://127.0.0.1:1,region=us-east-1,retries=0" itest
check 2 EMPTY 'no region' -- -o "dialect=s3,endpoint=$PFS_TEST_ENDPOINT" itest
check 2 EMPTY 'expected BUCKET' -- -o "$o"
if [ "$(wc -l <"$HOME/err")" -ne 1 ]; then echo "FAIL: error is not one line"; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

#!/bin/bash
# The presignfs binary as a user runs it: --version, --help, exit statuses,
# one-line errors naming their source, and the URL for a TOS known answer.
# Usage: test_cli.sh PATH_TO_PRESIGNFS DATA_DIR
set -u
bin=$1
work=$(mktemp -d /tmp/pfs-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
unset XDG_CONFIG_HOME PRESIGNFS_CONFIG AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
      TOS_ACCESS_KEY TOS_SECRET_KEY TOS_SECURITY_TOKEN
mkdir -p "$HOME"
pass=0 fail=0

# matches FILE PATTERN: PATTERN is an extended regex, or EMPTY for an empty file.
matches() {
    if [ "$2" = EMPTY ]; then [ ! -s "$1" ]; else grep -Eq -- "$2" "$1"; fi
}

# expect STATUS STDOUT_PATTERN STDERR_PATTERN -- command...
expect() {
    local want=$1 out_pat=$2 err_pat=$3
    shift 4
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    if [ "$got" -ne "$want" ] || ! matches "$work/out" "$out_pat" ||
        ! matches "$work/err" "$err_pat"; then
        echo "FAIL: $* -> status $got (want $want)"
        echo "  stdout: $(head -c 400 "$work/out")"
        echo "  stderr: $(head -c 400 "$work/err")"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
}

expect 0 '^presignfs [0-9]+\.[0-9]+\.[0-9]+$' EMPTY -- "$bin" --version
expect 0 'presign' EMPTY -- "$bin" --help
expect 0 'url_refresh_margin' EMPTY -- "$bin" presign --help
expect 2 EMPTY 'Usage' -- "$bin"
expect 2 EMPTY 'mount point /nonexistent/mnt: No such file or directory' -- "$bin" -o endpoint=http://127.0.0.1:1,region=r bucket /nonexistent/mnt
expect 2 EMPTY 'mount point /etc/passwd is not a directory' -- "$bin" -o endpoint=http://127.0.0.1:1,region=r bucket /etc/passwd
expect 2 EMPTY 'is already a mount point' -- "$bin" -o endpoint=http://127.0.0.1:1,region=r bucket /proc
expect 2 EMPTY 'expected BUCKET\[:PREFIX\] MOUNTPOINT' -- "$bin" -o endpoint=http://127.0.0.1:1,region=r onlyone
expect 2 EMPTY "unknown option 'colour'" -- "$bin" -o endpoint=http://127.0.0.1:1,region=r,colour=red bucket /tmp

# Known answer (presign spec 8.2): TOS, STS token, credentials from the environment.
export TOS_ACCESS_KEY=AKTPEXAMPLESTS0000001 TOS_SECRET_KEY='stsSecretExample/0123+abcdefGHIJ=xyz'
export TOS_SECURITY_TOKEN='STSv2/Token+With/Special==Chars.-_~ExampleSessionToken0123456789'
tos="-o endpoint=https://tos-cn-beijing.volces.com,region=cn-beijing"
expect 0 '^https://examplebucket\.tos-cn-beijing\.volces\.com/sts/read%20me\.txt\?X-Tos-.*X-Tos-Signature=55d3da85b1903b65fc38503a683248d166a10448c7bd509066f7109653d0cb5b$' EMPTY \
    -- "$bin" presign $tos --at 20250301T000000Z --expires 3600 examplebucket 'sts/read me.txt'
lines=$(wc -l <"$work/out")
[ "$lines" -eq 1 ] && pass=$((pass + 1)) || { echo "FAIL: presign printed $lines lines"; fail=$((fail + 1)); }

# The same through a config file and a 0600 credentials file.
unset TOS_ACCESS_KEY TOS_SECRET_KEY TOS_SECURITY_TOKEN
printf 'access_key = AKTPEXAMPLESTS0000001\nsecret_key = stsSecretExample/0123+abcdefGHIJ=xyz\nsession_token = STSv2/Token+With/Special==Chars.-_~ExampleSessionToken0123456789\n' >"$work/cred"
chmod 600 "$work/cred"
printf 'endpoint = https://tos-cn-beijing.volces.com\nregion = cn-beijing\ncredentials = %s\n' "$work/cred" >"$work/conf"
expect 0 'X-Tos-Signature=55d3da85b1903b65fc38503a683248d166a10448c7bd509066f7109653d0cb5b$' EMPTY \
    -- "$bin" presign -o "config=$work/conf" --at 20250301T000000Z --expires 3600 examplebucket 'sts/read me.txt'
PRESIGNFS_CONFIG=$work/conf expect 0 'X-Tos-Signature=55d3da85' EMPTY \
    -- "$bin" presign --at 20250301T000000Z --expires 3600 examplebucket 'sts/read me.txt'
mkdir -p "$HOME/.config/presignfs" && cp "$work/conf" "$HOME/.config/presignfs/presignfs.conf"
expect 0 'X-Tos-Signature=55d3da85' EMPTY \
    -- "$bin" presign --at 20250301T000000Z --expires 3600 examplebucket 'sts/read me.txt'
rm "$HOME/.config/presignfs/presignfs.conf"

# Bad input: exit 2 and one line naming the source.
chmod 644 "$work/cred"
expect 2 EMPTY "credentials file $work/cred has mode 0644" -- "$bin" presign -o "config=$work/conf" b k
chmod 600 "$work/cred"
printf 'endpoint = https://h\nbogus = 1\n' >"$work/bad.conf"
expect 2 EMPTY "$work/bad.conf:2: unknown option 'bogus'" -- "$bin" presign -o "config=$work/bad.conf" b k
expect 2 EMPTY "-o url_expires=0: url_expires must be between 1 and 604800" \
    -- "$bin" presign -o "config=$work/conf,url_expires=0" b k
expect 2 EMPTY 'no endpoint' -- "$bin" presign -o region=r b k
expect 2 EMPTY 'missing credentials: set TOS_ACCESS_KEY and TOS_SECRET_KEY' \
    -- "$bin" presign -o endpoint=https://h,region=r b k
expect 2 EMPTY '--expires 9999999' -- "$bin" presign -o "config=$work/conf" --expires 9999999 b k
expect 2 EMPTY 'cannot read' -- "$bin" presign -o config=/nonexistent.conf b k
if [ "$(wc -l <"$work/err")" -ne 1 ]; then echo "FAIL: error is not one line"; fail=$((fail + 1)); fi
# Secrets never appear in output, even in errors.
"$bin" presign -o "config=$work/conf" -X BAD b k >"$work/out" 2>&1
if grep -q 'stsSecretExample' "$work/out"; then echo "FAIL: secret printed"; fail=$((fail + 1)); else pass=$((pass + 1)); fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/bash
# Installs what presignfs needs to build and test on Debian 12 (bookworm).
# Idempotent; uses sudo when not run as root.
set -euo pipefail
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
PACKAGES=(
    build-essential cmake pkg-config clang-format
    libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libinih-dev libexpat1-dev libjansson-dev
    libcmocka-dev libsystemd-dev man-db python3 python3-boto3 curl bc rsync restic s3fs
    # scripts/package.sh and tests/package: the .deb, its lint, the .rpm
    debhelper lintian rpm
)
# presignfs signer (the signing service) serves HTTP with libmicrohttpd.
PACKAGES+=(libmicrohttpd-dev)
# Its client certificates are verified with GnuTLS (src/signer_tls.c).
PACKAGES+=(libgnutls28-dev)
# scripts/fuzz.sh: libFuzzer comes with clang's runtime libraries.
PACKAGES+=(clang libclang-rt-14-dev)
# This machine image may ship its own Node.js (with npm bundled); only fall
# back to Debian's packages when there is none.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

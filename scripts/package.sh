#!/bin/bash
# Builds the packages into dist/: the Debian package (dpkg-buildpackage with
# debhelper, from packaging/debian) and, with --rpm, the RPM
# (rpmbuild, from packaging/rpm/presignfs.spec).
#   scripts/package.sh [--deb] [--rpm]     (default: --deb)
# Needs the build dependencies of scripts/install-deps.sh, plus debhelper for
# the .deb and rpm for the .rpm.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
deb=0
rpm=0
for a in "$@"; do
    case $a in
    --deb) deb=1 ;;
    --rpm) rpm=1 ;;
    *) echo "usage: scripts/package.sh [--deb] [--rpm]" >&2; exit 2 ;;
    esac
done
[ $deb = 1 ] || [ $rpm = 1 ] || deb=1
version=$(sed -n 's/^project(presignfs VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "package.sh: no version in CMakeLists.txt" >&2; exit 1; }
mkdir -p dist
work=$(mktemp -d /tmp/pfs-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The sources as git sees them (tracked and new files, nothing ignored), so a
# build tree or node_modules never ends up in a package.
src=$work/presignfs-$version
mkdir -p "$src"
git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$src" 2>/dev/null || {
    # deleted-but-tracked files make cp fail; copy what exists
    git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] && cp --parents -t "$src" "$f"
    done
}

if [ $deb = 1 ]; then
    cp -r packaging/debian "$src/debian"
    (cd "$src" && dpkg-buildpackage -us -uc -b >"$work/deb.log" 2>&1) || {
        tail -n 60 "$work/deb.log" >&2
        echo "package.sh: dpkg-buildpackage failed" >&2
        exit 1
    }
    rm -f dist/presignfs_*.deb dist/presignfs-dbgsym_*.deb dist/presignfs_*.changes \
        dist/presignfs_*.buildinfo
    mv "$work"/presignfs*.deb "$work"/presignfs_*.changes "$work"/presignfs_*.buildinfo dist/
    ls dist/presignfs_*.deb
fi

if [ $rpm = 1 ]; then
    rm -rf "$src/debian"
    mkdir -p "$work/rpm/SOURCES"
    tar -C "$work" -czf "$work/rpm/SOURCES/presignfs-$version.tar.gz" "presignfs-$version"
    # Debian's rpmbuild has no RPM database of the build dependencies: they
    # come from dpkg (scripts/install-deps.sh), hence --nodeps.
    rpmbuild --define "_topdir $work/rpm" --define "pfs_version $version" --nodeps \
        -bb packaging/rpm/presignfs.spec >"$work/rpm.log" 2>&1 || {
        tail -n 60 "$work/rpm.log" >&2
        echo "package.sh: rpmbuild failed" >&2
        exit 1
    }
    rm -f dist/presignfs-*.rpm
    find "$work/rpm/RPMS" -name 'presignfs-*.rpm' ! -name '*debug*' -exec mv -t dist/ {} +
    ls dist/presignfs-*.rpm
fi

#!/bin/bash
# Installs what is needed, builds presignfs twice (normal and ASan+UBSan) and
# runs every test in both builds. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-test-server.sh

echo "== clang-format check"
bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
if [ "$bad" -ne 0 ]; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
    echo "clang-format: $bad problems (run: git ls-files '*.c' '*.h' | xargs clang-format -i)"
    exit 1
fi

status=0
for variant in normal sanitize; do
    dir=build
    args=()
    if [ "$variant" = sanitize ]; then
        dir=build-asan
        args=(-DPFS_SANITIZE=ON)
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    fi
    echo "== $variant build ($dir)"
    scripts/build.sh "$dir" "${args[@]}"
    echo "== $variant tests"
    (cd "$dir" && ctest --output-on-failure -j 2) || status=1
done

# libFuzzer targets (clang): each for a bounded time from its corpus; the
# corpora were replayed as fuzz.* tests in both builds above.
echo "== fuzz"
scripts/fuzz.sh 15 || status=1

# The packages as a user installs them (once, not per build variant): the
# .deb is installed, mounts a bucket, is purged and linted; the .rpm is built
# and inspected.
echo "== packages"
if scripts/package.sh --deb --rpm; then
    arch=$(dpkg --print-architecture)
    rc=0
    tests/server/with-server.sh --bucket dtest -- tests/package/test_deb.sh \
        "$PWD"/dist/presignfs_*_"$arch".deb "$PWD"/dist/presignfs_*_"$arch".changes || rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || status=1
    tests/package/test_rpm.sh "$PWD"/dist/presignfs-*.rpm || status=1
else
    status=1
fi
exit $status

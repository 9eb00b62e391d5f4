#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs
# each for a bounded time from its seed corpus, printing the executions per
# target. New inputs go to a scratch directory, never into the tree; a crash
# fails the run and its input is kept in build-fuzz/crashes/ (add it to
# tests/fuzz/corpus/<target>/ with the fix, so the replays keep it).
# Usage: fuzz.sh [SECONDS_PER_TARGET]   (default 15: 8 targets, under 3 min with the build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
if ! command -v clang >/dev/null; then
    echo "fuzz: clang not installed; skipped"
    exit 0
fi
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPFS_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzzers >/dev/null
targets=$(sed -n 's/^set(PFS_FUZZ_TARGETS \([a-z0-9_ ]*\))$/\1/p' tests/fuzz/CMakeLists.txt)
scratch=$(mktemp -d /tmp/pfs-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p build-fuzz/crashes
status=0
for t in $targets; do
    mkdir -p "$scratch/$t"
    log=$scratch/$t.log
    rc=0
    # -rss_limit_mb and -timeout make a leak or a hang a failure too.
    build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$t-" \
        "$scratch/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    printf 'fuzz %-14s %10s executions in %ss, %s\n' "$t" "${execs:-?}" "$secs" \
        "$([ $rc -eq 0 ] && echo ok || echo "FAILED (status $rc)")"
    if [ $rc -ne 0 ]; then
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -20
        status=1
    fi
done
exit $status

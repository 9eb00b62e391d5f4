#!/bin/bash
# The write-back hand-overs: where a journal entry, a recovery, an unlinked
# file's deferred DELETE or a rename passes a key from one owner to another
# (tests/fuse/writeback/*.sh, each with its own mounts, proxy and crash).
# Runs every scenario, each in its own process so that its traps clean up
# after it, and fails when one fails.
here=$(dirname "$0")/writeback
failed=()
for s in "$here"/*.sh; do
    [ "$(basename "$s")" = common.sh ] && continue
    echo "### $(basename "$s" .sh)"
    bash "$s" || failed+=("$(basename "$s" .sh)")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed scenarios: ${failed[*]}"
    exit 1
fi
echo "every scenario passed"

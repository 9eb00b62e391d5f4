#!/bin/bash
# Configures and builds one build tree. Usage: build.sh DIR [cmake args...]
set -euo pipefail
dir=$1
shift
cd "$(dirname "$0")/.."
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"

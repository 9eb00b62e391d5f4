#!/bin/bash
# Installs the pinned S3 test server (@20minutes/s3rver, see tests/server/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/../tests/server"
if [ ! -d node_modules/@20minutes/s3rver ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

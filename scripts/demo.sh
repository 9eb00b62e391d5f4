#!/bin/bash
# The main job for a newcomer: install what is needed, build, and print a
# presigned GET URL for a demo bucket, the way you would hand a download link
# to someone who holds no keys. (Mounting arrives in a later version.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
# Demo credentials for the local test server (key and secret "S3RVER").
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-S3RVER} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-S3RVER}
echo "A presigned GET URL for demo-bucket/hello.txt, valid for 10 minutes:"
./build/presignfs presign -o dialect=s3,endpoint=http://127.0.0.1:9000,region=us-east-1 \
    --expires 600 demo-bucket hello.txt
echo "A presigned PUT URL (TOS dialect) for the same object:"
TOS_ACCESS_KEY=AKIDEXAMPLE TOS_SECRET_KEY=demo-secret \
    ./build/presignfs presign -o endpoint=https://tos-cn-beijing.volces.com,region=cn-beijing \
    -X PUT --expires 600 demo-bucket hello.txt

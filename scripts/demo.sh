#!/bin/bash
# The main job for a newcomer: install what is needed, build, start a local S3
# test server, create a bucket and mount it, so you can cp into it right away.
#   scripts/demo.sh          set up and mount (at .demo/mnt)
#   scripts/demo.sh stop     unmount and stop the local server
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.demo
mnt=$root/mnt

stop() {
    if mountpoint -q "$mnt" 2>/dev/null; then
        fusermount3 -u "$mnt" && echo "unmounted $mnt"
    fi
    if [ -f "$root/server.pid" ]; then
        pid=$(cat "$root/server.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" && echo "stopped the test server (pid $pid)"
        fi
        rm -f "$root/server.pid"
    fi
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

scripts/install-deps.sh
scripts/install-test-server.sh
scripts/build.sh build
stop
mkdir -p "$root/data" "$mnt"
rm -f "$root/ready"
nohup node --openssl-legacy-provider tests/server/server.js --dir "$root/data" \
    --ready "$root/ready" --bucket demo >"$root/server.log" 2>&1 &
echo $! >"$root/server.pid"
for _ in $(seq 100); do [ -s "$root/ready" ] && break; sleep 0.1; done
read -r port _ <"$root/ready"
echo "local S3 test server on http://127.0.0.1:$port (bucket 'demo', key and secret S3RVER)"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
./build/presignfs -o "dialect=s3,endpoint=http://127.0.0.1:$port,region=us-east-1,cache_dir=$root/cache,logfile=$root/presignfs.log" \
    demo "$mnt"
echo "hello from presignfs" >"$mnt/hello.txt"
echo
echo "mounted bucket 'demo' on $mnt:"
ls -l "$mnt"
echo
echo "Try:  cp -r /usr/share/doc/bash $mnt/ && ls -lR $mnt | head"
echo "A presigned link to the file, for someone without keys:"
./build/presignfs presign -o "dialect=s3,endpoint=http://127.0.0.1:$port,region=us-east-1" \
    --expires 600 demo hello.txt
echo
echo "Stop with:  scripts/demo.sh stop"

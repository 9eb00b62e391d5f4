#!/bin/bash
# Client throughput beside curl(1) on the same presigned URLs, against the
# local test server. Usage: bench/bench_client.sh BUILD_DIR [N]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/server/with-server.sh" --bucket bench -- bash -c '
set -euo pipefail
build=$1 n=$2
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
o="dialect=s3,endpoint=$PFS_TEST_ENDPOINT,region=us-east-1"
echo "== presignfs client ($n requests each)"
"$build/bench_client" "$n"
work=$(mktemp -d)
trap "rm -rf $work" EXIT
head -c 4096 /dev/zero | tr "\0" x >"$work/4k"
keys=200
for i in $(seq 0 $((keys - 1))); do
    k=$(printf "obj%04d" "$i")
    "$build/presignfs" presign -o "$o" -X PUT bench "$k" >>"$work/put.urls"
    "$build/presignfs" presign -o "$o" bench "$k" >>"$work/get.urls"
done
# curl with every URL in one process (connection reused), as fast as curl(1) gets.
mkcfg() { local verb=$1 file=$2; for i in $(seq 0 $((n - 1))); do
    u=$(sed -n "$((i % keys + 1))p" "$file")
    if [ "$verb" = PUT ]; then printf "url = \"%s\"\nupload-file = \"%s\"\noutput = /dev/null\n" "$u" "$work/4k"
    else printf "url = \"%s\"\noutput = /dev/null\n" "$u"; fi
done; }
mkcfg PUT "$work/put.urls" >"$work/put.cfg"
mkcfg GET "$work/get.urls" >"$work/get.cfg"
echo "== curl(1), one process, $n URLs each"
for v in put get; do
    t0=$(date +%s.%N)
    curl -s -K "$work/$v.cfg" -w "%{num_connects}\n" >"$work/$v.conns"
    t1=$(date +%s.%N)
    printf "curl 4 KiB %s: %8.0f req/s, %s TCP connections\n" "$v" \
        "$(echo "$n / ($t1 - $t0)" | bc -l)" "$(paste -sd+ "$work/$v.conns" | bc)"
done
echo "== curl(1), one process per request (a shell loop), 200 requests"
t0=$(date +%s.%N)
while read -r u; do curl -s -o /dev/null "$u"; done <"$work/get.urls"
t1=$(date +%s.%N)
printf "curl loop 4 KiB get: %8.0f req/s\n" "$(echo "200 / ($t1 - $t0)" | bc -l)"
' _ "$build" "$n"

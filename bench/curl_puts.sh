# Sourced by the bench scripts: curl's side of a small-files benchmark.
# curl_put_config KEYS TREE PREFIX OUT writes to OUT a curl config (-K) with
# one PUT of TREE/KEY to bench/PREFIX KEY per line of KEYS, every URL signed
# now (before any clock starts), so that one curl process sends them all on
# one connection. Two signing loops in parallel halve the set-up; their order
# does not matter. Uses presign from the caller.
curl_put_config() {
    local keys=$1 tree=$2 prefix=$3 out=$4 part_keys k pids=()
    split -n l/2 "$keys" "$keys."
    for part_keys in "$keys".a?; do
        while read -r k; do
            printf 'url = "%s"\nupload-file = "%s"\noutput = /dev/null\n' \
                "$(presign -X PUT bench "$prefix$k")" "$tree/$k"
        done <"$part_keys" >"$part_keys.cfg" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$keys".a?.cfg >"$out"
}

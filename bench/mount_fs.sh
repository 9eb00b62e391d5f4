# Sourced by the bench scripts: mount_fs starts the daemon under test in the
# foreground (-f) as the script's child, so the script holds its PID (its
# /proc status gives the peak RSS; after fusermount3 -u, waiting for it is
# the wait for what the unmount still uploads). Uses build, store, work,
# extra, mnt and die from the caller; sets daemon_pid.
mount_fs() {
    "$build/presignfs" -f -o "$store,cache_dir=$work/cache${extra:+,$extra}" bench "$mnt" \
        </dev/null >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    wait_mounted "the daemon"
}

# wait_mounted WHAT: returns once $mnt is a mount point; dies when the
# foreground daemon daemon_pid (WHAT, for the message) exits first, or after
# 15 s. Any FUSE daemon the script started as its child (bench_peers.sh: s3fs
# and rclone too).
wait_mounted() {
    for _ in $(seq 300); do
        mountpoint -q "$mnt" && return 0
        kill -0 "$daemon_pid" 2>/dev/null || die "$1 exited before mounting"
        sleep 0.05
    done
    die "$1 did not mount within 15 s"
}

# stop_mount: at exit, only what the script started: its own mount and its
# own daemon's PID.
stop_mount() {
    if mountpoint -q "$mnt" 2>/dev/null; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
    fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
}

# mount_rclone [RCLONE MOUNT OPTIONS...]: rclone mount of the test server's
# bucket "bench" on $mnt in the foreground as the script's child (daemon_pid),
# configured by a file in the work directory with the test server's keys;
# its cache in $work/rclone-cache, emptied first. AWS_CA_BUNDLE (set on some
# machines) makes rclone's S3 client refuse plain HTTP, so it is unset.
mount_rclone() {
    export RCLONE_CONFIG=$work/rclone.conf
    printf '[bench]\ntype = s3\nprovider = Other\naccess_key_id = S3RVER\nsecret_access_key = S3RVER\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n' \
        "$PFS_TEST_ENDPOINT" >"$RCLONE_CONFIG"
    rm -rf "$work/rclone-cache"
    env -u AWS_CA_BUNDLE rclone mount bench:bench "$mnt" --cache-dir "$work/rclone-cache" "$@" \
        </dev/null >>"$work/rclone.log" 2>&1 &
    daemon_pid=$!
    wait_mounted rclone
}

#!/usr/bin/env python3
"""Times what a reader that jumps about waits for (a media player seeking,
restic reading pack blobs): on PATH, SEEKS jumps to seeded random offsets,
each followed by READS sequential reads of 128 KiB, checking every byte
against the object's expected content (bench_seek.sh writes it with
urandom seeded by the offset: see expected()). Prints, in milliseconds, the
median of the first read after a jump, of the second (the one that meets
the read-ahead window's first chunk), and of the whole run of reads."""
import os
import random
import statistics
import sys
import time

READ = 128 * 1024


def main():
    path, ref, seeks, reads, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    size = os.path.getsize(path)
    rng = random.Random(seed)
    first, second, whole = [], [], []
    fd = os.open(path, os.O_RDONLY)
    rfd = os.open(ref, os.O_RDONLY)
    for _ in range(seeks):
        off = rng.randrange(0, (size - reads * READ) // 4096) * 4096
        t0 = time.perf_counter()
        times = []
        for i in range(reads):
            got = os.pread(fd, READ, off + i * READ)
            times.append(time.perf_counter())
            if got != os.pread(rfd, READ, off + i * READ):
                sys.exit("seek_reads.py: wrong bytes at %d" % (off + i * READ))
        first.append(times[0] - t0)
        second.append(times[1] - times[0])
        whole.append(times[-1] - t0)
    os.close(fd)
    os.close(rfd)
    med = lambda v: statistics.median(v) * 1e3
    print("%.2f %.2f %.2f" % (med(first), med(second), med(whole)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times, inside one process (no process start in the figures), the stat
that looks PATH up on a fresh mount and then open + a read of 1 byte, and
counts the requests each cost on the test server's control port CONTROL
(reset before each). Prints: stat_ms stat_requests first_ms first_requests
first_byte_hex."""
import json
import os
import sys
import time
import urllib.request


def control(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def requests(ctl):
    return json.loads(control(ctl + "/counts")).get("total", 0)


def main():
    path, ctl = sys.argv[1], sys.argv[2]
    control(ctl + "/reset", "POST")
    t0 = time.perf_counter()
    os.stat(path)
    t1 = time.perf_counter()
    n_stat = requests(ctl)
    control(ctl + "/reset", "POST")
    t2 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    first = os.read(fd, 1)
    t3 = time.perf_counter()
    os.close(fd)
    n_first = requests(ctl)
    print("%.3f %d %.3f %d %s" % ((t1 - t0) * 1e3, n_stat, (t3 - t2) * 1e3, n_first, first.hex()))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Store-side checks for bench/bench_peers.sh through presigned URLs it is
given (it holds no keys), so that the same check serves every tool:

  peers_store.py wait-tree MANIFEST PREFIX URL...
      Polls the listing pages URL... (ListObjectsV2, one page each) until every
      "KEY MD5" line of MANIFEST is listed as PREFIX+KEY with that ETag; other
      keys (directory markers) are ignored. An asynchronous tool is done when
      this returns; a wrong ETag is a wrong byte. Prints the number of
      requests it sent (the caller subtracts them from the store's counts).
      Exit 1 after PEERS_TIMEOUT seconds (default 600) naming what is missing.
  peers_store.py count-keys URL...
      The number of keys the listing pages URL... hold.
  peers_store.py requests COUNTS_JSON [CLASS=N]...
      From the test server's /counts: the total and the classes, less the N
      requests of CLASS the script sent itself.
"""
import json
import os
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

# Any namespace: AWS answers in http://s3.amazonaws.com/doc/2006-03-01/,
# s3rver in http://doc.s3.amazonaws.com/2006-03-01/.
NS = "{*}"


def page(url, whole=False):
    """(key -> ETag) of one listing page; whole: the page must not be
    truncated (wait-tree's pages: a truncated one would hide keys)."""
    with urllib.request.urlopen(url, timeout=60) as r:
        root = ET.fromstring(r.read())
    if whole and root.findtext(NS + "IsTruncated") == "true":
        sys.exit("peers_store.py: a listing page is truncated: %s" % url.split("?")[0])
    return {c.findtext(NS + "Key"): (c.findtext(NS + "ETag") or "").strip('"')
            for c in root.findall(NS + "Contents")}


def wait_tree(manifest, prefix, urls):
    want = {}
    with open(manifest) as f:
        for line in f:
            key, md5 = line.split()
            want[prefix + key] = md5
    deadline = time.monotonic() + float(os.environ.get("PEERS_TIMEOUT", "600"))
    sent = 0
    while True:
        have = {}
        for u in urls:
            have.update(page(u, whole=True))
            sent += 1
        bad = [k for k, v in want.items() if have.get(k) != v]
        if not bad:
            print(sent)
            return
        if time.monotonic() > deadline:
            sys.exit("peers_store.py: %d of %d objects missing or with other bytes, e.g. %s"
                     % (len(bad), len(want), bad[0]))
        time.sleep(0.02)


def requests(counts, subtract):
    c = json.loads(counts)
    c.pop("injected_faults", None)
    for s in subtract:
        cls, n = s.split("=")
        c[cls] = c.get(cls, 0) - int(n)
        c["total"] = c.get("total", 0) - int(n)
    total = c.pop("total", 0)
    kinds = ",".join("%s:%d" % kv for kv in sorted(c.items()) if kv[1])
    print(total, kinds or "-")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-tree":
        wait_tree(args[0], args[1], args[2:])
    elif cmd == "count-keys":
        print(sum(len(page(u)) for u in args))
    elif cmd == "requests":
        requests(args[0], args[1:])
    else:
        sys.exit("peers_store.py: unknown command %s" % cmd)


if __name__ == "__main__":
    main()

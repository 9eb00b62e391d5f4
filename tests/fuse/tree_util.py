#!/usr/bin/python3
"""Trees of test files for the fault scenarios (tests/fuse/test_faults.sh).

  tree_util.py make DIR SEED COUNT BIG_MIB   COUNT files of 4 KiB..1 MiB (log-uniform
                                             sizes) in four subdirectories, plus
                                             big.bin of BIG_MIB MiB; reproducible
  tree_util.py change SRC DST SEED           DST = SRC with every third file rewritten
                                             (another size), every seventh removed and
                                             five files added
  tree_util.py compare DIR OTHER             OTHER (a directory: a mount) against DIR:
                                             prints "intact missing corrupt extra
                                             read_errors"; names the bad files on stderr
  tree_util.py bucket DIR BUCKET PREFIX      the objects under PREFIX/ against DIR
                                             through the S3 API, the same line

Contents come from a seeded generator, so a missing, partial or mixed object
never matches by chance.
"""
import hashlib
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def payload(rng, size):
    return rng.randbytes(size)


def make(top, seed, count, big_mib):
    rng = random.Random(seed)
    for i in range(count):
        size = int(4096 * (256 ** rng.random()))  # 4 KiB .. 1 MiB
        path = os.path.join(top, "d%d" % (i % 4), "f%03d.bin" % i)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(payload(rng, size))
    with open(os.path.join(top, "big.bin"), "wb") as f:
        for _ in range(big_mib):
            f.write(payload(rng, 1 << 20))


def change(src, dst, seed):
    rng = random.Random(seed)
    shutil.copytree(src, dst)
    names = sorted(files(dst))
    for n, rel in enumerate(names):
        if rel == "big.bin":
            continue
        path = os.path.join(dst, rel)
        if n % 7 == 3:
            os.unlink(path)
        elif n % 3 == 0:
            with open(path, "wb") as f:
                f.write(payload(rng, int(4096 * (256 ** rng.random()))))
    for i in range(5):
        with open(os.path.join(dst, "d%d" % (i % 4), "new%d.bin" % i), "wb") as f:
            f.write(payload(rng, 4096 * (i + 1)))


def files(top):
    for d, _, names in os.walk(top):
        for n in names:
            yield os.path.relpath(os.path.join(d, n), top)


def digest(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def report(want, got, errors):
    """want, got: {name: md5}; errors: names that could not be read."""
    intact = sum(1 for n, d in want.items() if got.get(n) == d)
    missing = sorted(n for n in want if n not in got and n not in errors)
    corrupt = sorted(n for n in want if n in got and got[n] != want[n])
    extra = sorted(n for n in got if n not in want)
    for what, names in (("missing", missing), ("corrupt", corrupt), ("extra", extra),
                        ("unreadable", sorted(errors))):
        for n in names:
            print("%s: %s" % (what, n), file=sys.stderr)
    print(intact, len(missing), len(corrupt), len(extra), len(errors))


def compare(top, other):
    want = {n: digest(os.path.join(top, n)) for n in files(top)}
    got, errors = {}, set()
    for n in files(other):
        try:
            got[n] = digest(os.path.join(other, n))
        except OSError as e:
            print("read %s: %s" % (n, e), file=sys.stderr)
            errors.add(n)
    report(want, got, errors)


def bucket(top, name, prefix):
    import s3util
    c = s3util.client()
    want = {n: digest(os.path.join(top, n)) for n in files(top)}
    got = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            rel = o["Key"][len(prefix) + 1:]
            if rel == "" or rel.endswith("/"):
                continue  # a directory's marker
            body = c.get_object(Bucket=name, Key=o["Key"])["Body"].read()
            got[rel] = hashlib.md5(body).hexdigest()
    report(want, got, set())


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        make(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "change":
        change(args[0], args[1], int(args[2]))
    elif cmd == "compare":
        compare(args[0], args[1])
    elif cmd == "bucket":
        bucket(args[0], args[1], args[2])
    else:
        print("unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""One source of truth for the option list: the table in src/config.c.

Fails when an option of that table is missing from `presignfs --help`, from
the Options table of doc/CONFIGURATION.md or from presignfs.conf(5), or when
either document describes an option the table does not have. Also renders
every man page with man -l and fails on any groff warning.

Usage: test_options_doc.py PRESIGNFS_BIN SOURCE_DIR
"""
import os
import re
import subprocess
import sys

binary, src = sys.argv[1], sys.argv[2]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


with open(os.path.join(src, "src/config.c")) as f:
    code = f.read()
table = code.split("static const struct opt_def options[] = {", 1)[1].split("\n};", 1)[0]
options = re.findall(r'^\s*\{"([a-z_0-9]+)",\s*OPT_', table, re.M)
if len(options) < 10:
    fail("found only %d options in src/config.c: the parser is out of date" % len(options))

helptext = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
in_help = set(re.findall(r"^  ([a-z_0-9]+) +\S", helptext, re.M))

with open(os.path.join(src, "doc/CONFIGURATION.md")) as f:
    md = f.read()
md_opts = md.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
in_md = set()
for line in md_opts.splitlines():
    if line.startswith("| `"):
        in_md.update(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))

with open(os.path.join(src, "doc/man/presignfs.conf.5")) as f:
    man = f.read()
man_opts = man.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
in_man = set()
for tag in re.findall(r"^\.TP\n(.*)$", man_opts, re.M):
    in_man.update(re.findall(r"\\fB([a-z_0-9]+)\\fR", tag))

for name in options:
    if name not in in_help:
        fail("option %s is missing from presignfs --help" % name)
    if name not in in_md:
        fail("option %s is missing from the Options table of doc/CONFIGURATION.md" % name)
    if name not in in_man:
        fail("option %s is missing from OPTIONS in doc/man/presignfs.conf.5" % name)
for name in sorted(in_md - set(options)):
    fail("doc/CONFIGURATION.md describes %s, which src/config.c does not have" % name)
for name in sorted(in_man - set(options)):
    fail("doc/man/presignfs.conf.5 describes %s, which src/config.c does not have" % name)

env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
for page in ("presignfs.1", "mount.presignfs.8", "presignfs.conf.5"):
    path = os.path.join(src, "doc/man", page)
    r = subprocess.run(["man", "--warnings=w", "-l", path], capture_output=True, text=True, env=env)
    name = page.rsplit(".", 1)[0].upper()
    if r.returncode != 0 or r.stderr.strip():
        fail("man -l %s: exit %d: %s" % (page, r.returncode, r.stderr.strip()))
    elif name not in r.stdout or "NAME" not in r.stdout:
        fail("man -l %s rendered no page" % page)

checks = 3 * len(options) + 3
print("# %d options" % len(options))
print("%d passed, %d failed" % (checks - len(failures), len(failures)))
sys.exit(1 if failures else 0)

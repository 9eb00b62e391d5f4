#!/usr/bin/python3
"""The Markdown table of bench/bench_peers.sh from its results file, lines of
  WORKLOAD TOOL ROUND SECONDS REQUESTS RSS_KIB KINDS
(RSS_KIB "-" where none was read). Medians over the rounds; the ratio to
curl is the median of the per-round ratios (same round, so a machine whose
speed drifts during the run moves both sides): throughput over curl's for
write and read (higher is better), time over curl's for small and ls
(lower is better).
  peers_table.py RESULTS MiB FILES LIST TOOL...   (rows in the order of TOOL...)
"""
import collections
import statistics
import sys

results, mib, files, nlist = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tools = sys.argv[5:]
rows = collections.defaultdict(dict)  # (workload, tool) -> round -> fields
with open(results) as f:
    for line in f:
        w, tool, rnd, secs, reqs, rss, kinds = line.split()
        rows[(w, tool)][int(rnd)] = (float(secs), int(reqs), rss, kinds)

WHAT = {
    "write": ("write %d MiB until stored" % mib, "MB/s", True),
    "read": ("cold read %d MiB" % mib, "MB/s", True),
    "small": ("cp -r %d x 4 KiB until stored" % files, "s", False),
    "ls": ("ls -l of %d objects" % nlist, "s", False),
}
print("| workload | tool | median | min..max | vs curl | requests | peak RSS |")
print("|---|---|---:|---:|---:|---:|---:|")
for w, (what, unit, rate) in WHAT.items():
    curl = rows.get((w, "curl"), {})
    for tool in tools:
        runs = rows.get((w, tool))
        if not runs:
            continue
        fig = {r: (mib * 1.048576 / v[0] if rate else v[0]) for r, v in runs.items()}
        med = statistics.median(fig.values())
        fmt = "%.0f" if rate else "%.2f"
        ratios = [(fig[r] / (mib * 1.048576 / curl[r][0]) if rate else fig[r] / curl[r][0])
                  for r in fig if r in curl]
        ratio = "%.2fx" % statistics.median(ratios) if ratios and tool != "curl" else "-"
        reqs = statistics.median(v[1] for v in runs.values())
        rss = [int(v[2]) for v in runs.values() if v[2] != "-"]
        rss = "%.0f MiB" % (statistics.median(rss) / 1024) if rss else "-"
        print("| %s | %s | %s %s | %s..%s | %s | %.0f | %s |" % (
            what, tool, fmt % med, unit, fmt % min(fig.values()), fmt % max(fig.values()),
            ratio, reqs, rss))
print()
print("Requests by kind (the first counted round):")
for w in WHAT:
    for tool in tools:
        runs = rows.get((w, tool))
        if runs:
            print("- %s, %s: %s" % (w, tool, runs[min(runs)][3]))

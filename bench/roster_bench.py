"""Roster throughput and peak memory of `eligibility evaluate` (CSV → CSV), by size.

Each size runs in its own process, which reports its own peak RSS, so sizes do not
share memory. Run:  .venv/bin/python bench/roster_bench.py [--sizes 10000,100000,1000000]
Numbers are printed as a table (and as Markdown with --markdown); nothing is asserted."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, datetime as dt
t0 = time.perf_counter()
from eligibility import Engine
from eligibility.batch import evaluate_roster
engine = Engine.load()
t1 = time.perf_counter()
s = evaluate_roster(engine, sys.argv[1], dt.date(2018, 9, 15), sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"rows": s.rows, "startup_s": t1 - t0, "seconds": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "eligibility-bench"))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        src = data / f"roster_{n}.csv"
        if not src.exists():
            subprocess.run([py, "-m", "eligibility.cli", "generate-roster", "--rows", str(n), "--out", str(src),
                            "--dirty-rate", "0.01"], check=True)
        out = data / f"out_{n}.csv"
        proc = subprocess.run([py, "-c", CHILD, str(src), str(out)], check=True, capture_output=True, text=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["rows_per_s"] = r["rows"] / r["seconds"]
        results.append(r)
        print(f"{r['rows']:>9} rows  {r['rows_per_s']:>9,.0f} rows/s  peak {r['peak_rss_mb']:7.1f} MB  "
              f"({r['seconds']:.1f} s, start-up {r['startup_s'] * 1000:.0f} ms)", flush=True)
    base = results[0]
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"{time.strftime('%Y-%m-%d')}", "",
             "| rows | rows/s | peak RSS (MB) | throughput vs smallest | memory vs smallest |",
             "|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['rows']:,} | {r['rows_per_s']:,.0f} | {r['peak_rss_mb']:.1f} | "
                     f"{r['rows_per_s'] / base['rows_per_s']:.2f} | {r['peak_rss_mb'] / base['peak_rss_mb']:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

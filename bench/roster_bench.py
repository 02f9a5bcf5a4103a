"""Roster throughput and peak memory of `eligibility evaluate`, by size and by input →
output format (CSV → CSV, XLSX → XLSX, CSV → XLSX, XLSX → CSV, JSON lines → JSON lines).

Each run is its own process, which reports its own peak RSS (getrusage), so runs do not
share memory; a large .xlsx input is parsed by a child process, whose peak RSS is its own
column. The XLSX and JSON lines inputs hold the same rows as the CSV: they are made
from it with `eligibility convert`. Run:
  .venv/bin/python bench/roster_bench.py [--sizes 10000,100000,1000000] [--pairs csv:csv,xlsx:xlsx]
Numbers are printed as a table (Markdown); nothing is asserted."""

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
from eligibility.apps.evaluate import evaluate_roster
engine = Engine.load()
t1 = time.perf_counter()
s = evaluate_roster(engine, sys.argv[1], dt.date(2018, 9, 15), sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"rows": s.rows, "startup_s": t1 - t0, "seconds": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

PAIRS = "csv:csv,xlsx:xlsx,csv:xlsx,xlsx:csv,jsonl:jsonl"


def roster(data: Path, n: int, fmt: str) -> Path:
    py = sys.executable
    csv_src = data / f"roster_{n}.csv"
    if not csv_src.exists():
        subprocess.run(
            [
                py,
                "-m",
                "eligibility",
                "generate-roster",
                "--rows",
                str(n),
                "--out",
                str(csv_src),
                "--dirty-rate",
                "0.01",
            ],
            check=True,
        )
    if fmt == "csv":
        return csv_src
    src = data / f"roster_{n}.{fmt}"
    if not src.exists():
        # The same rows in the other format; unreadable rows (a few broken bytes) are left out.
        subprocess.run(
            [py, "-m", "eligibility", "convert", str(csv_src), "--out", str(src)]
            + (["--style", "plain"] if fmt == "jsonl" else []),
            capture_output=True,
        )
    return src


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--pairs", default=PAIRS, help="input:output formats, comma-separated")
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "eligibility-bench"))
    args = ap.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        for pair in args.pairs.split(","):
            fin, fout = pair.split(":")
            src = roster(data, n, fin)
            out = data / f"out_{n}_{fin}.{fout}"
            proc = subprocess.run([py, "-c", CHILD, str(src), str(out)], check=True, capture_output=True, text=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(size=n, pair=f"{fin} → {fout}", rows_per_s=r["rows"] / r["seconds"])
            results.append(r)
            print(
                f"{n:>9} {r['pair']:14} {r['rows']:>9} rows {r['seconds']:7.1f} s {r['rows_per_s']:>9,.0f} rows/s "
                f"peak {r['peak_rss_mb']:7.1f} MB (reader process {r['child_rss_mb']:.1f} MB)",
                flush=True,
            )
    base = {r["size"]: r for r in results if r["pair"] == "csv → csv"}
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "| rows | formats | seconds | rows/s | peak RSS (MB) | XLSX reader process peak RSS (MB) | time vs CSV → CSV |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = base.get(r["size"])
        ratio = f"{r['seconds'] / b['seconds']:.2f}" if b else "–"
        child = f"{r['child_rss_mb']:.1f}" if r["child_rss_mb"] else "–"
        lines.append(
            f"| {r['size']:,} | {r['pair']} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:.1f} | {child} | {ratio} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Throughput of `engine.timeline` over synthetic person records (whole history from the
rule set's start, default end). Run: .venv/bin/python bench/timeline_bench.py [--rows 100000]
Prints records/s, change points and intervals per record, and peak memory."""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import resource
import time

from eligibility import Engine
from eligibility.apps.synth import records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    engine = Engine.load()
    intervals = 0
    started = time.perf_counter()
    n = 0
    for rec in records(args.rows, seed=11, reference=dt.date(2022, 6, 1)):
        plain = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in rec.items()}
        t = engine.timeline(plain)
        intervals += sum(len(v) for v in t.outcomes.values())
        n += 1
    seconds = time.perf_counter() - started
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")
    print("| records | seconds | records/s | intervals/record | peak RSS (MB) |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {intervals / n:.1f} | "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} |"
    )


if __name__ == "__main__":
    main()

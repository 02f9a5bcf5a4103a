"""Before and after in one run: `compare.py`'s own worker over two source trees, alternating.

    git -C . archive 24947c8 | tar -x -C /tmp/before
    .venv/bin/python bench/before_after.py --before /tmp/before/src --n 100000 --repeat 3 \\
        --kinds batch,openfisca_table,batch_dicts,handwritten,csv,handwritten_csv
    .venv/bin/python bench/before_after.py --before /tmp/before/src --n 5000 --repeat 7 \\
        --kinds zen_trace,single,single_model

The engine's kinds run once per tree and round, the order of the trees swapped every round; the
peers (which do not depend on the engine's code) run once per round from this checkout's bench/.
Each run is its own process, so the ratios compare like with like on a shared machine. Prints
every run (rate, p50/p99 where the worker gives them, load) and the medians (records/s)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import compare

HERE = Path(__file__).resolve().parent
PEERS = ("zen", "zen_trace", "handwritten", "handwritten_csv", "openfisca", "openfisca_table", "durable")


def run(kind: str, n: int, src: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", compare.WORKER, kind, str(n), compare.ON.isoformat(), src, str(HERE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    if proc.returncode:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-1500:]}")
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the src folder of the code before")
    ap.add_argument("--n", type=int, default=100_000, help="records per run")
    ap.add_argument("--repeat", type=int, default=3, help="rounds")
    ap.add_argument("--kinds", default="batch,openfisca_table,batch_dicts,handwritten,csv,handwritten_csv")
    args = ap.parse_args()
    trees = [("before", args.before), ("after", str(HERE.parent / "src"))]
    results: dict[tuple[str, str], list[float]] = {}
    print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load", os.getloadavg(), flush=True)
    for r in range(args.repeat):
        for kind in args.kinds.split(","):
            order = [("peer", trees[1][1])] if kind in PEERS else trees if r % 2 == 0 else trees[::-1]
            for label, src in order:
                got = run(kind, args.n, src)
                results.setdefault((kind, label), []).append(got["rate"])
                lat = f" p50 {got['p50_ms']:.3f} ms p99 {got['p99_ms']:.3f} ms" if "p50_ms" in got else ""
                print(f"{r + 1} {kind} {label} {got['rate']:,.0f}/s{lat} load {os.getloadavg()[0]:.2f}", flush=True)
    print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load", os.getloadavg(), flush=True)
    for (kind, label), rates in results.items():
        runs = " · ".join(f"{x:,.0f}" for x in rates)
        print(f"{kind:16} {label:7} median {statistics.median(rates):>12,.0f}  runs {runs}")


if __name__ == "__main__":
    main()

"""Before and after in one run: `compare.py`'s own worker over two source trees, alternating.

    git -C . archive 24947c8 | tar -x -C /tmp/before
    .venv/bin/python bench/before_after.py --before /tmp/before/src --n 100000 --repeat 3 \\
        --kinds batch,openfisca_table,batch_dicts,handwritten,csv,handwritten_csv

The engine's kinds (batch, batch_lists, batch_dicts, csv) run once per tree and round, the order
of the trees swapped every round; the peers run once per round from this checkout's bench/. Each
run is its own process. Prints every run and the medians (records/s), with the load average."""

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
ENGINE_KINDS = ("batch", "batch_lists", "batch_dicts", "csv")


def run(kind: str, n: int, src: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", compare.WORKER, kind, str(n), compare.ON.isoformat(), src, str(HERE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    if proc.returncode:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-1500:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["rate"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the src folder of the code before")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", default="batch,openfisca_table,batch_dicts,handwritten,csv,handwritten_csv")
    args = ap.parse_args()
    after = str(HERE.parent / "src")
    trees = [("before", args.before), ("after", after)]
    results: dict[tuple[str, str], list[float]] = {}
    print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load", os.getloadavg(), flush=True)
    for r in range(args.repeat):
        for kind in args.kinds.split(","):
            if kind in ENGINE_KINDS:
                for label, src in trees if r % 2 == 0 else trees[::-1]:
                    results.setdefault((kind, label), []).append(run(kind, args.n, src))
            else:
                results.setdefault((kind, "peer"), []).append(run(kind, args.n, after))
        print(f"round {r + 1} done", time.strftime("%H:%M:%S"), "load", os.getloadavg(), flush=True)
    for (kind, label), rates in results.items():
        runs = " · ".join(f"{x:,.0f}" for x in rates)
        print(f"{kind:16} {label:7} median {statistics.median(rates):>12,.0f}  runs {runs}")


if __name__ == "__main__":
    main()

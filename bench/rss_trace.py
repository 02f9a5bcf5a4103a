"""Resident memory of `evaluate_roster` over the run, not only its peak: is memory bounded by
the pipeline (a plateau once a few blocks are in flight) or does it grow with the rows read?

    .venv/bin/python bench/rss_trace.py ROSTER OUT [--every 0.5] [--points 24]

Runs the evaluation in its own process (as `bench/roster_bench.py` does), samples its VmRSS from
/proc (Linux) every --every seconds, and prints the samples thinned to --points, the peak, and the
mean of the first and the second half of the samples after the first quarter (equal means: a
plateau; a rising second half: growth with the file)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = (
    "import datetime as dt, sys\n"
    "from eligibility import Engine\n"
    "from eligibility.apps.evaluate import evaluate_roster\n"
    "evaluate_roster(Engine.load(), sys.argv[1], dt.date(2018, 9, 15), sys.argv[2])\n"
)


def rss_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except FileNotFoundError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("roster")
    ap.add_argument("out")
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--points", type=int, default=24)
    args = ap.parse_args()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, args.roster, args.out])
    t0 = time.perf_counter()
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            samples.append((time.perf_counter() - t0, mb))
        time.sleep(args.every)
    if proc.returncode or not samples:
        raise SystemExit(f"evaluation failed (exit {proc.returncode})")
    step = max(1, len(samples) // args.points)
    print(" ".join(f"{t:.0f}s:{mb}" for t, mb in samples[::step]))
    rest = [mb for _, mb in samples[len(samples) // 4 :]]
    half = len(rest) // 2
    first, second = (statistics.mean(rest[:half]), statistics.mean(rest[half:])) if half else (rest[0], rest[0])
    print(
        f"{len(samples)} samples over {samples[-1][0]:.1f} s; peak {max(mb for _, mb in samples)} MB; "
        f"mean after the first quarter: first half {first:.0f} MB, second half {second:.0f} MB"
    )


if __name__ == "__main__":
    main()

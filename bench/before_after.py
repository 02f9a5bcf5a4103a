"""Alternate the code before and after a change in one run, with `bench/compare.py`'s worker.

    git -C . archive 24947c8 | tar -x -C /tmp/before
    .venv/bin/python bench/before_after.py /tmp/before/src --kinds zen_trace,single,single_model \
        --records 5000 --rounds 7

Each measurement runs in its own process; each round measures every kind before and after (zen
and the other peers once: they do not depend on the code), so the ratios compare like with like on a
shared machine. Prints every run (rate, p50/p99 where the worker gives them, load) and the medians."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare  # noqa: E402 - the worker lives there

PEERS = ("zen", "zen_trace", "handwritten", "openfisca", "openfisca_table")


def one(kind: str, n: int, src: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", compare.WORKER, kind, str(n), compare.ON.isoformat(), src, str(HERE)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", help="the src folder of the code before")
    ap.add_argument("--kinds", default="zen_trace,single,single_model")
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sources = {"before": args.before, "after": str(HERE.parent / "src")}
    rates: dict[str, list[float]] = {}
    print("start", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "load", os.getloadavg())
    for i in range(args.rounds):
        for kind in args.kinds.split(","):
            for label in ["peer"] if kind in PEERS else ["before", "after"]:
                r = one(kind, args.records, sources.get(label, sources["after"]))
                rates.setdefault(f"{kind}/{label}", []).append(r["rate"])
                lat = f"p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f}" if "p50_ms" in r else ""
                print(i, kind, label, round(r["rate"]), lat, "load", round(os.getloadavg()[0], 2), flush=True)
    print("end", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "load", os.getloadavg())
    for key, values in rates.items():
        print(key, " · ".join(f"{x:,.0f}" for x in values), "median", f"{statistics.median(values):,.0f}")


if __name__ == "__main__":
    main()

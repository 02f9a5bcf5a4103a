"""One run, one roster, the shipped rules: this engine against the alternatives.

    .venv/bin/python bench/compare.py [--sizes 10000,100000,1000000] [--repeat 3]

1. Agreement first: every implementation decides a 10^4 sample of fully known records on
   several reference dates; one that disagrees on any outcome gets no speed reported.
2. Speed, each measurement in its own process (peak RSS is per process): records/s,
   start-up (import + rule load), peak memory; medians of --repeat runs; ratios of this
   engine's batch path to each peer; scaling from the smallest to the largest size.

Implementations: this engine's batch path (`decide_table` over a column table: values,
deciding rule and missing facts per row), its per-record `decide` with the full
explanation (latency p50/p99), `evaluate` CSV → CSV end to end, hand-written Python
(bench/handwritten.py), OpenFisca (bench/openfisca_peer.py, vectorised, dicts → columns
included), zen-engine (bench/zen_peer.py, `ZenEngine.evaluate` with a static loader, with
and without trace) and durable_rules through the bridge. Peers: pip install -r bench/requirements.txt"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATES = [dt.date(2016, 5, 1), dt.date(2018, 9, 15), dt.date(2019, 9, 15), dt.date(2022, 6, 1), dt.date(2024, 1, 20)]
ON = dt.date(2018, 9, 15)

WORKER = r'''
import json, resource, sys, time, datetime as dt
t0 = time.perf_counter()
kind, n, on = sys.argv[1], int(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from eligibility.apps.synth import records
rows = [] if kind in ("csv", "handwritten_csv") else [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
                                  for r in records(n, seed=42, reference=dt.date(2024, 6, 1))]
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base_rss = rss()
t_import = time.perf_counter()
out = {}
def arrow_table(rows):
    """The roster as a typed Arrow table: what a program or pyarrow.csv hands over."""
    import pyarrow as pa
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return pa.table({k: pa.array([None if x is None else dt.date.fromisoformat(x) for x in v], pa.date32())
                     if k.endswith("_datum") else pa.array(v) for k, v in cols.items()})
if kind in ("batch", "batch_lists", "batch_dicts", "csv"):
    import pyarrow, pyarrow.compute, pyarrow.csv  # start-up: the table paths' imports
if kind in ("batch", "batch_lists", "batch_dicts"):
    from eligibility import Engine
    engine = Engine.load(); t_ready = time.perf_counter()
    if kind == "batch":
        inp = arrow_table(rows); warm = inp.slice(0, 100)
    elif kind == "batch_lists":
        inp = {k: [r[k] for r in rows] for k in rows[0]}; warm = {k: v[:100] for k, v in inp.items()}
    else:
        inp = rows; warm = rows[:100]
    engine.decide_table(warm, on)  # warm: first-call imports
    t = time.perf_counter(); table = engine.decide_table(inp, on); dt_s = time.perf_counter() - t
    assert len(table) == n
elif kind in ("single", "single_model"):
    from eligibility import Engine
    engine = Engine.load(); t_ready = time.perf_counter()
    # "single": the decision as JSON-ready data (what zen returns: plain dicts);
    # "single_model": the validated pydantic Decision. Both with the full explanation.
    fn = engine.decide_data if kind == "single" else engine.decide
    for r in rows[:200]:
        fn(r, on)
    lat = []
    t = time.perf_counter()
    for r in rows:
        s = time.perf_counter(); fn(r, on, explain=True); lat.append(time.perf_counter() - s)
    dt_s = time.perf_counter() - t
    lat.sort(); out["p50_ms"] = lat[len(lat) // 2] * 1000; out["p99_ms"] = lat[int(len(lat) * 0.99)] * 1000
elif kind == "csv":
    import tempfile, os
    from eligibility import Engine
    from eligibility.apps.evaluate import evaluate_roster
    from eligibility.apps.synth import write_roster
    engine = Engine.load(); t_ready = time.perf_counter()
    d = tempfile.mkdtemp(); src = os.path.join(d, "in.csv"); dst = os.path.join(d, "out.csv")
    write_roster(src, n, seed=42, reference=dt.date(2024, 6, 1))
    t = time.perf_counter(); evaluate_roster(engine, src, on, dst); dt_s = time.perf_counter() - t
elif kind == "handwritten_csv":
    import tempfile, os
    sys.path.insert(0, sys.argv[5])
    from handwritten_csv import evaluate_csv
    from eligibility.apps.synth import write_roster
    t_ready = time.perf_counter()
    d = tempfile.mkdtemp(); src = os.path.join(d, "in.csv"); dst = os.path.join(d, "out.csv")
    write_roster(src, n, seed=42, reference=dt.date(2024, 6, 1))
    t = time.perf_counter(); evaluate_csv(src, on, dst, "pakt-fuer-integration-bw 2026.1", "0" * 64)
    dt_s = time.perf_counter() - t
elif kind == "handwritten":
    sys.path.insert(0, sys.argv[5])
    import handwritten
    t_ready = time.perf_counter()
    t = time.perf_counter()
    for r in rows:
        handwritten.decide(r, on)
    dt_s = time.perf_counter() - t
elif kind == "openfisca":
    sys.path.insert(0, sys.argv[5])
    from openfisca_peer import OpenFiscaPeer
    peer = OpenFiscaPeer(); peer.decide_many(rows[:10], on); t_ready = time.perf_counter()
    t = time.perf_counter(); peer.decide_many(rows, on); dt_s = time.perf_counter() - t
elif kind == "openfisca_table":
    sys.path.insert(0, sys.argv[5])
    from openfisca_peer import OpenFiscaPeer, decide_table
    peer = OpenFiscaPeer(); inp = arrow_table(rows); decide_table(peer.tbs, inp.slice(0, 10), on)
    t_ready = time.perf_counter()
    t = time.perf_counter(); decide_table(peer.tbs, inp, on); dt_s = time.perf_counter() - t
elif kind in ("zen", "zen_trace"):
    sys.path.insert(0, sys.argv[5])
    from zen_peer import ZenPeer
    peer = ZenPeer(trace=kind == "zen_trace"); peer.decide(rows[0], on); t_ready = time.perf_counter()
    t = time.perf_counter()
    for r in rows:
        peer.decide(r, on)
    dt_s = time.perf_counter() - t
elif kind == "durable":
    from eligibility import Engine
    from eligibility.eval.durable import DurableEngine
    engine = Engine.load(); bridge = DurableEngine(engine); bridge.decide(rows[0], on); t_ready = time.perf_counter()
    t = time.perf_counter()
    for r in rows:
        bridge.decide(r, on)
    dt_s = time.perf_counter() - t
out.update({"kind": kind, "n": n, "seconds": dt_s, "rate": n / dt_s, "startup_ms": (t_ready - t_import) * 1000,
            "peak_rss_mb": rss(), "data_rss_mb": base_rss})
print(json.dumps(out))
'''


def run(kind: str, n: int, on: dt.date = ON) -> dict:
    src = str(HERE.parent / "src")
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, kind, str(n), on.isoformat(), src, str(HERE)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(n: int) -> dict[str, int]:
    sys.path.insert(0, str(HERE))
    import handwritten

    from eligibility import Engine
    from eligibility.apps.synth import records

    engine = Engine.load()
    rows = [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
        for r in records(n, seed=7, reference=dt.date(2024, 6, 1))
    ]
    peers: dict[str, object] = {"handwritten": handwritten.decide}
    try:
        from zen_peer import ZenPeer

        peers["zen"] = ZenPeer().decide
    except ImportError:
        pass
    openfisca = None
    try:
        from openfisca_peer import OpenFiscaPeer

        openfisca = OpenFiscaPeer()
    except ImportError:
        pass
    try:
        from eligibility.eval.durable import DurableEngine

        bridge = DurableEngine(engine)
        peers["durable"] = bridge.decide
    except ImportError:
        pass
    disagreements = {
        name: 0
        for name in ["single", "batch_table", "batch_lists"]
        + list(peers)
        + (["openfisca", "openfisca_table"] if openfisca else [])
    }
    import pyarrow as pa

    typed = pa.table(
        {
            k: pa.array([None if x is None else dt.date.fromisoformat(x) for x in (r[k] for r in rows)], pa.date32())
            if k.endswith("_datum")
            else pa.array([r[k] for r in rows])
            for k in rows[0]
        }
    )
    lists = {k: [r[k] for r in rows] for k in rows[0]}
    for on in DATES:
        table = engine.decide_table(rows, on)
        reference_rows = [
            [row[o] for o in table.outcomes]
            + [row[o + "_rule"] for o in table.outcomes]
            + [row[o + "_missing"] for o in table.outcomes]
            for row in table.rows()
        ]
        for name, inp in (("batch_table", typed), ("batch_lists", lists)):
            other = engine.decide_table(inp, on)
            got_rows = [
                [row[o] for o in other.outcomes]
                + [row[o + "_rule"] for o in other.outcomes]
                + [row[o + "_missing"] for o in other.outcomes]
                for row in other.rows()
            ]
            disagreements[name] += sum(a != b for a, b in zip(got_rows, reference_rows))
        if openfisca is not None:
            for got, row in zip(openfisca.decide_many(rows, on), table.rows()):
                if any(got[o] != row[o] or type(got[o]) is not type(row[o]) for o in table.outcomes):
                    disagreements["openfisca"] += 1
            from openfisca_peer import decide_table as openfisca_table

            cols = openfisca_table(openfisca.tbs, typed, on)
            got_cols = {
                o: [x if isinstance(x, str) or x is False else bool(x) for x in cols[o].tolist()]
                for o in table.outcomes
            }
            for i, row in enumerate(table.rows()):
                if any(got_cols[o][i] != row[o] or type(got_cols[o][i]) is not type(row[o]) for o in table.outcomes):
                    disagreements["openfisca_table"] += 1
        for i, (rec, row) in enumerate(zip(rows, table.rows())):
            reference = {oid: row[oid] for oid in table.outcomes}
            single = {oid: o.value for oid, o in engine.decide(rec, on, explain=False).outcomes.items()}
            if single != reference:
                disagreements["single"] += 1
            if i < (2000 if "durable" in peers else n):
                for name, fn in peers.items():
                    if name == "durable" and i >= 2000:
                        continue
                    got = fn(rec, on)  # type: ignore[operator]
                    if any(got[o] != reference[o] or type(got[o]) is not type(reference[o]) for o in reference):
                        disagreements[name] += 1
    return disagreements


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--agree", type=int, default=10000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}\n"
    )
    print(f"Agreement on {args.agree:,} fully known records x {len(DATES)} dates (durable on the first 2,000 of them):")
    dis = agreement(args.agree)
    for name, count in dis.items():
        print(f"  {name:12} {'agrees' if count == 0 else f'DISAGREES on {count} records'}")
    kinds = ["batch", "batch_lists", "batch_dicts", "handwritten", "single", "single_model", "csv", "handwritten_csv"]
    for module, names in (
        ("openfisca_core", ["openfisca", "openfisca_table"]),
        ("zen", ["zen", "zen_trace"]),
        ("durable", ["durable"]),
    ):
        try:
            __import__(module)
            kinds += names
        except ImportError:
            pass
    # A peer that disagrees gets no speed reported.
    kinds = [
        k
        for k in kinds
        if dis.get(
            {
                "batch": "batch_table",
                "batch_dicts": "single",
                "single_model": "single",
                "handwritten_csv": "handwritten",
            }.get(k, k).replace("_trace", ""),
            0,
        )
        == 0
        or k == "csv"
    ]
    results: dict[tuple[str, int], dict] = {}
    for n in sizes:
        for kind in kinds:
            if kind in ("single", "single_model", "durable", "zen", "zen_trace") and n > 100_000:
                continue  # per-record peers: the rate is flat; 10^6 would take many minutes
            runs = [run(kind, n) for _ in range(args.repeat)]
            med = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
            results[(kind, n)] = med
            extra = f"  p50 {med['p50_ms']:.2f} ms  p99 {med['p99_ms']:.2f} ms" if "p50_ms" in med else ""
            print(
                f"  {kind:12} n={n:>9,}  {med['rate']:>11,.0f} rec/s  start-up {med['startup_ms']:6.0f} ms  "
                f"peak {med['peak_rss_mb']:7.1f} MB{extra}",
                flush=True,
            )
    n0 = sizes[0]
    nb = sizes[min(1, len(sizes) - 1)]
    print(
        f"\n| implementation | records/s ({nb:,}) | start-up ms | peak MB ({nb:,}) | batch (table) ÷ this "
        f"| batch (dicts) ÷ this |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    b = results[("batch", nb)]["rate"]
    bd = results[("batch_dicts", nb)]["rate"]
    for kind in kinds:
        r = results.get((kind, nb)) or results.get((kind, n0))
        if r:
            print(
                f"| {kind} | {r['rate']:,.0f} | {r['startup_ms']:.0f} | {r['peak_rss_mb']:.1f} | "
                f"{b / r['rate']:.2f} | {bd / r['rate']:.2f} |"
            )
    print(
        "\n| implementation | "
        + " | ".join(f"rec/s {n:,}" for n in sizes)
        + " | "
        + " | ".join(f"MB {n:,}" for n in sizes)
        + " |"
    )
    print("|---|" + "---:|" * (2 * len(sizes)))
    for kind in kinds:
        cells = [f"{results[(kind, n)]['rate']:,.0f}" if (kind, n) in results else "–" for n in sizes]
        mem = [f"{results[(kind, n)]['peak_rss_mb']:.0f}" if (kind, n) in results else "–" for n in sizes]
        print(f"| {kind} | " + " | ".join(cells) + " | " + " | ".join(mem) + " |")


if __name__ == "__main__":
    main()

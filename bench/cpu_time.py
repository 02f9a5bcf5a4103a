"""CPU time of one batch path on one thread: records per CPU second, best of 3 in this process.

    PYTHONPATH=SRC .venv/bin/python bench/cpu_time.py {dicts|batch_lists|batch|csv|handwritten|openfisca_table} 100000
    PYTHONPATH=SRC .venv/bin/python bench/cpu_time.py {single|single_model} 2000

`single` is `decide_data` with the full explanation, `single_model` is `decide` with the
decisions kept in a list (as `bench/compare.py` runs them, one record at a time). The best of 3
decides the same records again, so the explanation subtrees the explainers keep (design §36) are
all found from the second pass on: it overstates `single`'s before/after ratio (bench/RESULTS.md,
session 8, measured one pass over distinct records instead).

On a shared machine wall-clock runs of the same code vary by a factor of two or more; CPU time
is disturbed much less, so before/after ratios of the work done are taken this way (run the
trees alternately, one process each). `csv` reads, decides and formats the roster's blocks as
`evaluate` does, without writing the file. `openfisca_table` is the peer of `batch`: OpenFisca over
the same typed Arrow table (`openfisca_peer.decide_table`; it does not depend on the engine's code)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eligibility.engine as engine_module
from eligibility import Engine
from eligibility.apps.synth import records, write_roster

engine_module._workers = lambda: 1  # one thread: the work, not the cores


def main() -> None:
    kind, n = sys.argv[1], int(sys.argv[2])
    engine = Engine.load()
    on = dt.date(2018, 9, 15)
    f: Callable[[], Any]
    if kind == "csv":
        from eligibility.apps.result_rows import CsvBlockWriter
        from eligibility.io.rosters import read_csv_blocks

        src = f"/tmp/cpu_time_{n}.csv"
        if not os.path.exists(src):
            write_roster(src, n, seed=42, reference=dt.date(2024, 6, 1))
        facts = engine.entity(None).facts

        def f() -> None:
            _, blocks = read_csv_blocks(src, facts, None, None, 20_000)
            text = CsvBlockWriter(engine, None, "de", True, ";", "\r\n")
            for b in blocks:
                text.block(engine.decide_table(b.columns, on), b.first)

    else:
        import pyarrow as pa

        rows = [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
            for r in records(n, seed=42, reference=dt.date(2024, 6, 1))
        ]
        inp: Any = rows
        if kind in ("batch", "openfisca_table"):
            inp = pa.table(
                {
                    k: pa.array([None if r[k] is None else dt.date.fromisoformat(r[k]) for r in rows], pa.date32())
                    if k.endswith("_datum")
                    else pa.array([r[k] for r in rows])
                    for k in rows[0]
                }
            )
        elif kind == "batch_lists":
            inp = {k: [r[k] for r in rows] for k in rows[0]}
        if kind == "openfisca_table":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from openfisca_peer import OpenFiscaPeer, decide_table

            tbs = OpenFiscaPeer().tbs
            decide_table(tbs, inp.slice(0, 10), on)

            def f() -> None:
                decide_table(tbs, inp, on)

        elif kind in ("single", "single_model"):
            decide = engine.decide_data if kind == "single" else engine.decide
            for r in rows[:200]:
                decide(r, on)

            def f() -> None:
                kept = []
                for r in rows:
                    kept.append(decide(r, on, explain=True))

        elif kind == "handwritten":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import handwritten

            def f() -> None:
                for r in rows:
                    handwritten.decide(r, on)

        else:
            engine.decide_table(rows[:100], on)

            def f() -> None:
                engine.decide_table(inp, on)

    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    print(f"{n / best:.0f}")


if __name__ == "__main__":
    main()

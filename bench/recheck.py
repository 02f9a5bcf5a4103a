"""`eligibility log recheck` over a logged caseload (issue 17). Logs N synthetic 2022 persons
(seed 3) decided under the rules before the Ukraine Erlass (examples/amendments/ukraine_2022/
vorher) into a SQLite log in a temporary directory, 5,000 per `DecisionLog.record` call as the
service's batch endpoint does, then times `recheck` with rules/ against `impact` on the same
records as a CSV roster, in the same run.
Run: .venv/bin/python bench/recheck.py [--rows 100000]"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import tempfile
import time
from pathlib import Path

from eligibility import Engine
from eligibility.apps import impact as imp
from eligibility.apps.recheck import recheck
from eligibility.apps.synth import records, write_roster
from eligibility.decisionlog import NewDecision, open_log
from eligibility.decisionlog.reproduce import decision_doc
from eligibility.io.rosters import read_roster

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2022, 6, 1)
CHUNK = 5_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    old = Engine.load(ROOT / "examples" / "amendments" / "ukraine_2022" / "vorher")
    new = Engine.load(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/log.db"
        started = time.perf_counter()
        with open_log(url) as log:
            chunk: list[NewDecision] = []
            for rec in records(args.rows, seed=3, reference=DAY):
                facts = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in rec.items()}
                chunk.append(
                    NewDecision(decision_doc(old, facts, DAY.isoformat(), None, "batch"), facts, "batch", "batch")
                )
                if len(chunk) == CHUNK:
                    log.record(old, chunk)
                    chunk = []
            if chunk:
                log.record(old, chunk)
        logging = time.perf_counter() - started
        size = Path(tmp, "log.db").stat().st_size

        with open_log(url) as log:
            started = time.perf_counter()
            result = recheck(log, new, "rules")
            t_recheck = time.perf_counter() - started

        roster = Path(tmp) / "roster.csv"
        write_roster(roster, args.rows, seed=3, reference=DAY)
        started = time.perf_counter()
        _, rows = read_roster(roster, new.entity().facts)
        impacted = imp.impact(old, new, rows, DAY, "vorher", "rules")
        t_impact = time.perf_counter() - started

    causes = sorted({f.flip.cause.id for f in result.flips if f.flip.cause})
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")
    print(
        f"logging {args.rows:,} decisions: {logging:.1f} s ({args.rows / logging:,.0f}/s incl. deciding), "
        f"log file {size / 1e6:.0f} MB"
    )
    print("| persons | flips | causes | recheck s | persons/s | impact (CSV) s | recheck / impact |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    print(
        f"| {result.persons:,} | {len(result.flips):,} | {', '.join(causes)} | {t_recheck:.1f} | "
        f"{result.persons / t_recheck:,.0f} | {t_impact:.1f} | {t_recheck / t_impact:.2f} |"
    )
    assert len(result.flips) == len(impacted.flips), (len(result.flips), len(impacted.flips))


if __name__ == "__main__":
    main()

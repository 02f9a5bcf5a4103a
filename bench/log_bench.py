"""The decision log's cost on the service: POST /v1/decide requests per second without a log,
with a SQLite log and with a PostgreSQL log (a server started for the run, tests/pg_server.py),
and a 10,000-record batch each way. Servers run as `eligibility serve` in their own process on
127.0.0.1; the client runs here, one keep-alive connection per client thread. The three
configurations are measured in alternating rounds in one run, so that their ratios compare
like with like. Bounded in count; only 127.0.0.1 is contacted.
Run: .venv/bin/python bench/log_bench.py [--requests 1500] [--concurrency 8] [--rounds 2]"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _serve  # bench/_serve.py: this script's own folder is on sys.path
import httpx

from eligibility.apps.synth import records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def plain(rec: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in rec.items()}


@contextlib.contextmanager
def serving(log: str | None) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k != "ELIGIBILITY_LOG"}
    with _serve.serving(["--log", log] if log else [], env=env) as base:
        yield base


def load(base: str, people: list[dict], n: int, concurrency: int) -> tuple[float, float, float]:
    local = threading.local()

    def one(i: int) -> float:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=base, timeout=60)
        t0 = time.perf_counter()
        r = c.post("/v1/decide", json={"record": people[i % len(people)], "on": "2018-09-15"})
        assert r.status_code in (200, 422), r.status_code
        return time.perf_counter() - t0

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(100, n))))  # warm-up
        t0 = time.perf_counter()
        lat = sorted(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    return n / wall, statistics.median(lat) * 1000, lat[int(0.99 * (len(lat) - 1))] * 1000


def batch(base: str, recs: list[dict]) -> float:
    t0 = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as c:
        r = c.post("/v1/decide/batch", json={"records": recs, "on": "2018-09-15"})
        lines = sum(1 for _ in r.iter_lines())
    assert lines == len(recs) + 1
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    people = [plain(r) for r in records(500, seed=4)]
    recs = [plain(r) for r in records(args.batch, seed=5)]
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="log-bench-")))
        configs: dict[str, str | None] = {"ohne Protokoll": None, "SQLite": f"sqlite:///{tmp}/log.db"}
        try:
            from pg_server import PgUnavailable, running_server

            pg = stack.enter_context(running_server())
            configs["PostgreSQL"] = pg.create_database("bench")
        except (ImportError, PgUnavailable) as exc:
            print(f"PostgreSQL not measured: {exc}")
        for _ in range(args.rounds):
            for name, url in configs.items():
                with serving(url) as base:
                    rps, p50, p99 = load(base, people, args.requests, args.concurrency)
                    results.setdefault(name, []).append((rps, p50, p99, batch(base, recs)))
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d')}; one uvicorn worker, client in this process with {args.concurrency} "
        f"threads; {args.requests} requests × {args.rounds} alternating rounds; medians of the rounds"
    )
    print(f"| decision log | req/s | ratio to no log | p50 ms | p99 ms | batch of {args.batch:,} s | batch ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base_rps = statistics.median(r[0] for r in results["ohne Protokoll"])
    base_batch = statistics.median(r[3] for r in results["ohne Protokoll"])
    for name, rows in results.items():
        rps = statistics.median(r[0] for r in rows)
        b = statistics.median(r[3] for r in rows)
        print(
            f"| {name} | {rps:,.0f} | {rps / base_rps:.2f} | {statistics.median(r[1] for r in rows):.1f} | "
            f"{statistics.median(r[2] for r in rows):.1f} | {b:.2f} | {b / base_batch:.2f} |"
        )


if __name__ == "__main__":
    main()

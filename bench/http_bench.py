"""Load test of `eligibility serve` on loopback, from a second process: requests per
second and p50/p99 latency for POST /v1/decide, and the time for a 10,000-record batch.
Bounded in count; only 127.0.0.1 is ever contacted.
Run: .venv/bin/python bench/http_bench.py [--requests 2000] [--concurrency 4]"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from _serve import serving  # bench/_serve.py: this script's own folder is on sys.path

from eligibility.apps.synth import records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    with serving(warm_seconds=5) as base:
        people = [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()} for r in records(500, seed=4)
        ]
        with httpx.Client(base_url=base, timeout=30) as warm:
            for p in people[:50]:
                warm.post("/v1/decide", json={"record": p, "on": "2018-09-15", "explain": False})

        import threading

        local = threading.local()

        def one(i: int) -> float:
            # one keep-alive connection per client thread, as a case-management system would hold
            c = getattr(local, "client", None)
            if c is None:
                c = local.client = httpx.Client(base_url=base, timeout=30)
            t0 = time.perf_counter()
            r = c.post("/v1/decide", json={"record": people[i % len(people)], "on": "2018-09-15"})
            assert r.status_code in (200, 422)
            return time.perf_counter() - t0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            lat = sorted(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - t0
        batch = [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
            for r in records(args.batch, seed=5)
        ]
        t1 = time.perf_counter()
        with httpx.Client(base_url=base, timeout=600) as c:
            r = c.post("/v1/decide/batch", json={"records": batch, "on": "2018-09-15"})
            lines = sum(1 for _ in r.iter_lines())
        batch_s = time.perf_counter() - t1
        assert lines == args.batch + 1  # one line per record and the summary line (issue 13)
        print(
            f"Machine: {platform.machine()}, Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}; "
            f"one uvicorn worker, client in a second process, {args.concurrency} client threads"
        )
        print("| request | count | req/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        print(
            f"| POST /v1/decide (with explanation) | {args.requests} | {args.requests / wall:,.0f} | "
            f"{statistics.median(lat) * 1000:.1f} | {lat[int(0.99 * (len(lat) - 1))] * 1000:.1f} |"
        )
        print(f"| POST /v1/decide/batch ({args.batch:,} records) | 1 | – | {batch_s * 1000:,.0f} (total) | – |")
        print(f"\nbatch throughput: {args.batch / batch_s:,.0f} records/s")


if __name__ == "__main__":
    main()

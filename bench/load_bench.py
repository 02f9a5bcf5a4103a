"""Load test of the hardened service (issue 15): 200 concurrent clients on POST /v1/decide
(bearer token, keep-alive) while one caseworker uploads a roster at the body-size limit;
requests per second, p50/p99, errors, and /healthz latency during the upload.

The server runs as `eligibility serve` in its own process on 127.0.0.1 (the token set, the
default limits); the clients are asyncio tasks on one httpx.AsyncClient in this process.
Bounded: the clients stop once the upload is answered and at least --min-requests are done.
Run: .venv/bin/python bench/load_bench.py [--clients 200] [--min-requests 4000]"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _serve import serving  # bench/_serve.py: this script's own folder is on sys.path

from eligibility.apps.synth import records

TOKEN = "last-test-schluessel-0123456789"
LIMIT = 10 * 1024 * 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(base: str, roster: bytes, clients: int, min_requests: int) -> dict[str, object]:
    people = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()} for r in records(500, seed=4)]
    auth = {"authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    upload_done = asyncio.Event()
    health: list[float] = []
    health_before: list[float] = []
    upload_result: dict[str, object] = {}

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        for p in people[:50]:  # warm-up, not measured
            await client.post("/v1/decide", json={"record": p, "on": "2018-09-15", "explain": True}, headers=auth)

        async def decide_client(i: int) -> None:
            n = i
            while not (upload_done.is_set() and len(latencies) >= min_requests):
                body = {"record": people[n % len(people)], "on": "2018-09-15", "explain": True}
                n += clients
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/decide", json=body, headers=auth)
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)

        async def caseworker() -> None:
            await asyncio.sleep(1.0)  # the decide load is running
            async with httpx.AsyncClient(base_url=base, timeout=300, follow_redirects=False) as browser:
                await browser.post("/anmelden", data={"schluessel": TOKEN, "weiter": "/"})
                page = await browser.get("/")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert csrf, page.text[:300]
                start = time.perf_counter()
                r = await browser.post(
                    "/liste",
                    data={"stichtag": "15.09.2018", "ausgabe": "ergebnis", "csrf": csrf.group(1)},
                    files={"datei": ("liste.csv", roster, "text/csv")},
                )
                upload_result.update(status=r.status_code, seconds=time.perf_counter() - start, bytes=len(r.content))
            upload_done.set()

        async def prober() -> None:
            # A separate connection, as a monitoring system would have; the first second
            # (decide load, no upload yet) is the baseline.
            async with httpx.AsyncClient(base_url=base, timeout=30) as probe:
                began = time.perf_counter()
                while not upload_done.is_set():
                    start = time.perf_counter()
                    await probe.get("/healthz")
                    took = time.perf_counter() - start
                    (health_before if start - began < 1.0 else health).append(took)
                    await asyncio.sleep(0.1)

        started = time.perf_counter()
        await asyncio.gather(*(decide_client(i) for i in range(clients)), caseworker(), prober())
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": pct(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
        "errors": errors,
        "upload": upload_result,
        "before_p50": statistics.median(health_before) * 1000 if health_before else float("nan"),
        "health_n": len(health),
        "health_p50": statistics.median(health) * 1000 if health else float("nan"),
        "health_max": max(health) * 1000 if health else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--min-requests", type=int, default=4000)
    ap.add_argument("--rows", type=int, default=76_000, help="roster rows (76,000 ≈ 9.2 MB, just under the limit)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eligibility-bench-"))
    roster_path = work / "liste.csv"
    subprocess.run(
        [sys.executable, "-m", "eligibility", "generate-roster", "--rows", str(args.rows), "--out", str(roster_path)],
        check=True,
        capture_output=True,
    )
    roster = roster_path.read_bytes()
    assert len(roster) < LIMIT - 4096, "the roster must fit under the body limit with its form"
    env = dict(os.environ, ELIGIBILITY_TOKEN=TOKEN)
    env.pop("ELIGIBILITY_TOKEN_FILE", None)
    try:
        with serving(["--log-level", "warning"], env=env) as base:
            result = asyncio.run(run(base, roster, args.clients, args.min_requests))
    finally:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
    up = result["upload"]
    assert isinstance(up, dict)
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores; {dt.date.today()}"
    )
    print(f"{args.clients} clients, POST /v1/decide with explanation, one uvicorn worker")
    print("| requests | seconds | req/s | p50 ms | p99 ms | max ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {result['requests']} | {result['seconds']:.1f} | {result['rps']:.0f} | {result['p50']:.1f} | "
        f"{result['p99']:.1f} | {result['max']:.0f} | {result['errors'] or 'none'} |"
    )
    print(
        f"roster upload {len(roster) / 1024 / 1024:.1f} MB ({args.rows} rows): status {up.get('status')}, "
        f"{up.get('seconds', 0):.1f} s, result {int(up.get('bytes', 0)) / 1024 / 1024:.1f} MB"
    )
    print(
        f"/healthz during the upload: {result['health_n']} probes, median {result['health_p50']:.1f} ms, "
        f"max {result['health_max']:.1f} ms (median {result['before_p50']:.1f} ms under the decide load alone)"
    )
    print(f"load average of the machine after the run: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Roster uploads evaluated off the event loop: in a small pool of worker processes, each
job with a time budget and each worker with a memory budget, so one large or hostile
roster can neither stall `/healthz` nor take the machine's memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import multiprocessing
import resource
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("eligibility.service.jobs")


@dataclass(frozen=True)
class JobLimits:
    workers: int = 1  # the machine's other work (the API) keeps a core
    seconds: float = 120.0  # one roster, from start to the file
    memory_bytes: int = 2 * 1024**3  # address space a worker may add to what it had at start
    waiting: int = 4  # uploads waiting for a worker; more get 503


class JobRefused(Exception):
    """A roster job that did not end with a result; the message is for the caseworker (German)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RosterJob:
    src: str
    day: dt.date
    what: str  # "ergebnis" (the evaluated XLSX) or "bericht" (the HTML report)
    source_name: str
    # The decision log to store every decided row in before the result is handed out (or
    # none), and who uploaded the roster.
    log_url: str | None = None
    user: str | None = None


def _limit_memory(extra: int) -> None:
    # Runs in each new worker: what it has now (imports) plus the budget, no more.
    with open("/proc/self/status", encoding="ascii") as fh:
        vm = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:")), 0)
    limit = vm + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


STARTUP_SECONDS = 120.0


def _warm(engine: Any, folder: str) -> None:
    """A one-row roster through the whole path: imports and first-call costs paid here.
    The folder is the server's (it removes it even if this worker dies)."""
    src = Path(folder) / "liste.jsonl"
    src.write_text('{"person_id": "warm"}\n', encoding="utf-8")
    run_job(engine, RosterJob(str(src), dt.date(2018, 1, 1), "ergebnis", "liste.jsonl"))
    tempfile.tempdir = None


def run_job(engine: Any, job: RosterJob) -> tuple[str, Any]:
    """In the worker: ("xlsx", bytes), ("html", text) or ("error", German message)."""
    from eligibility.apps.evaluate import evaluate_roster, table_decisions
    from eligibility.apps.report import collect, render_report
    from eligibility.io.rosters import read_roster

    src = Path(job.src)
    # The worker's own temporary files (writers spool there) go into the job's folder, which
    # the server removes even when it had to kill this process.
    tempfile.tempdir = str(src.parent)
    try:
        if job.what == "bericht":
            info, rows = read_roster(src, engine.entity().facts)
            data = collect(
                engine,
                table_decisions(engine, rows, job.day),
                job.day,
                info.ignored,
                row_offset=0 if info.format == "jsonl" else 1,
            )
            return "html", render_report(engine, data)
        out = src.parent / "ergebnis.xlsx"
        evaluate_roster(engine, src, job.day, out, source_name=job.source_name)
        return "xlsx", out.read_bytes()
    except MemoryError:
        return "error", "Die Liste braucht mehr Speicher, als dem Dienst für eine Liste zusteht."
    except (ValueError, OverflowError, UnicodeError) as exc:
        # The readers' messages name rows and columns, as on the command line.
        return "error", f"Die Liste kann nicht gelesen werden: {exc}"
    except RecursionError:
        return "error", "Die Liste ist zu tief verschachtelt."


def run_logged_job(engine: Any, job: RosterJob) -> tuple[str, Any]:
    """`run_job`, and with a decision log every decided row stored before the result is
    handed back (a roster's decisions are decisions of the page too)."""
    kind, result = run_job(engine, job)
    if kind == "error" or not job.log_url:
        return kind, result
    try:
        log_roster(engine, job)
    except Exception as exc:  # noqa: BLE001 - no result without its entries; the type only, no data
        logging.getLogger("eligibility.service.app").error("decision log not written: %s", type(exc).__name__)
        return (
            "error",
            "Das Entscheidungsprotokoll kann gerade nicht beschrieben werden; die Liste wurde nicht ausgewertet.",
        )
    return kind, result


LOG_CHUNK = 500


def log_roster(engine: Any, job: RosterJob) -> int:
    """Store the decision of every readable row (batch form, like /v1/decide/batch); rows that
    cannot be read or decided are no decisions, as in the batch. Returns how many were stored."""
    from eligibility.decisionlog import DecisionLog, NewDecision
    from eligibility.decisionlog.reproduce import decision_doc
    from eligibility.io.rosters import read_roster

    assert job.log_url is not None
    stored = 0
    with DecisionLog(job.log_url, create=False) as log:
        _info, rows = read_roster(job.src, engine.entity().facts)
        chunk: list[Any] = []
        for row in rows:
            if row.record is None:
                continue
            try:
                doc = decision_doc(engine, row.record, job.day.isoformat(), None, "batch")
            except (ValueError, OverflowError):
                continue  # the result file shows this row's reason
            chunk.append(NewDecision(doc, row.record, "roster", form="batch", user=job.user))
            if len(chunk) >= LOG_CHUNK:
                stored += len(log.record(engine, chunk))
                chunk = []
        stored += len(log.record(engine, chunk))
    return stored


class RosterPool:
    """At most `workers` jobs run at once, at most `waiting` wait; a job past its time is
    ended by killing its worker (a running process cannot be cancelled otherwise)."""

    def __init__(self, limits: JobLimits | None = None) -> None:
        self.limits = limits or JobLimits()
        self._pool: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._starting: asyncio.Lock | None = None
        self._waiting = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: a clean process without the server's threads (fork would copy locks
        # held by the reload thread); 3.14's default too.
        ctx = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(
            self.limits.workers, mp_context=ctx, initializer=_limit_memory, initargs=(self.limits.memory_bytes,)
        )

    async def ready(self, engine: Any) -> ProcessPoolExecutor:
        """The pool, its workers started and warmed. Starting a process (and the forkserver
        the first time) blocks its caller for a while: done in a thread, so the event loop
        keeps answering; the first job's imports are not part of any job's time budget."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pool is not None:
                return self._pool
            pool = self._new_pool()
            folder = Path(tempfile.mkdtemp(prefix="eligibility-warm-"))
            try:
                warm = asyncio.to_thread(lambda: pool.submit(_warm, engine, str(folder)).result())
                await asyncio.wait_for(warm, STARTUP_SECONDS)
            except BaseException:
                _end(pool)
                raise
            finally:
                remove_tree(folder)
            self._pool = pool
            return pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _end(pool)

    async def run(self, engine: Any, job: RosterJob) -> tuple[str, Any]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.workers)
        if self._waiting >= self.limits.waiting + self.limits.workers:
            raise JobRefused(503, "Es werden gerade zu viele Listen ausgewertet; bitte gleich noch einmal.")
        self._waiting += 1
        try:
            async with self._slots:
                try:
                    executor = await self.ready(engine)
                    future = asyncio.get_running_loop().run_in_executor(executor, run_logged_job, engine, job)
                    return await asyncio.wait_for(future, self.limits.seconds)
                except TimeoutError:
                    log.error("roster job over its time budget (%.0f s): worker ended", self.limits.seconds)
                    self._kill()
                    raise JobRefused(
                        422,
                        f"Die Auswertung hat länger als {self.limits.seconds:.0f} s gedauert und wurde abgebrochen.",
                    ) from None
                except BrokenProcessPool:
                    log.error("roster worker died (memory budget or crash)")
                    self._kill()
                    raise JobRefused(
                        422, "Die Auswertung der Liste ist abgebrochen (zu groß oder beschädigt)."
                    ) from None
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._kill()


def _end(pool: ProcessPoolExecutor) -> None:
    # The pool has no public way to end a running job; its processes are ours.
    processes = getattr(pool, "_processes", None) or {}
    for proc in list(processes.values()):
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def sweep(paths: set[Path]) -> None:
    """At shutdown: the upload folders of requests that never got to their own cleanup."""
    for p in list(paths):
        remove_tree(p)
        paths.discard(p)


__all__ = ["JobLimits", "JobRefused", "RosterJob", "RosterPool", "remove_tree", "run_job", "run_logged_job", "sweep"]

"""The decision log: an append-only, hash-chained table of decisions in SQLite or PostgreSQL.

Writes go through one writer thread that commits whatever is waiting in one transaction
(group commit): a request waits until its entry is durable, so a decision id in a response
always names a stored decision, and many concurrent requests share one commit. Writers in
other processes (the `log erase` command beside a running service) are serialised by the
database: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's transaction-level advisory lock."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from eligibility.decisionlog import chain
from eligibility.decisionlog.records import Erasure, NewDecision, Page, StoredDecision, _outcomes_of, _stored
from eligibility.decisionlog.schema import entries, rule_files, rulesets
from eligibility.decisionlog.snapshots import Snapshot, engine_from_snapshot, snapshot_of
from eligibility.decisionlog.verify import Verification, verify

LOCK_KEY = 1_700_017  # PostgreSQL advisory lock of the log's writers
KINDS = ("decision", "erasure", "retention")
SOURCES = ("api", "batch", "page", "aktenvermerk", "cli")


class LogError(Exception):
    """A decision log that cannot be opened or written, in German and English."""

    def __init__(self, de: str, en: str) -> None:
        super().__init__(en)
        self.de = de
        self.en = en


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalized(url: str) -> str:
    """`postgresql://` (and `postgres://`) through psycopg 3, the driver this package installs;
    SQLAlchemy would pick psycopg2 for the plain scheme."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as the user typed it, cut
        return url.split("@")[-1]


def _sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


class DecisionLog:
    """An open decision log. Thread-safe; one writer thread per process."""

    def __init__(self, url: str, *, clock: Callable[[], dt.datetime] = utc_now, create: bool = True) -> None:
        """Open (and migrate) the log at `url`. With `create=False` (the commands that only
        read or edit a log), a SQLite file that does not exist is an error, not a new log."""
        url = normalized(url)
        self.url = url
        self.clock = clock
        try:
            parsed = make_url(url)
            self.backend = parsed.get_backend_name()
        except Exception as exc:  # noqa: BLE001 - a URL that is no URL: said so, without its password
            raise LogError(
                f"Entscheidungsprotokoll: '{redacted(url)}' ist keine Datenbank-URL (sqlite:///datei.db oder postgresql://…)",
                f"decision log: '{redacted(url)}' is not a database URL (sqlite:///file.db or postgresql://…)",
            ) from exc
        if self.backend == "sqlite" and _sqlite_file(url) is None:
            raise LogError(
                "Entscheidungsprotokoll: eine SQLite-Datenbank im Speicher ginge beim Beenden verloren; "
                "bitte eine Datei angeben (sqlite:///pfad/datei.db)",
                "decision log: an in-memory SQLite database would be lost on exit; give a file (sqlite:///path/file.db)",
            )
        if self.backend == "sqlite" and not create:
            path = _sqlite_file(url)
            if path is not None and not path.is_file():
                raise LogError(f"Entscheidungsprotokoll {path} gibt es nicht", f"decision log {path} does not exist")
        if self.backend not in ("sqlite", "postgresql"):
            raise LogError(
                f"Entscheidungsprotokoll: nur sqlite:/// und postgresql:// werden unterstützt, nicht '{self.backend}'",
                f"decision log: only sqlite:/// and postgresql:// are supported, not '{self.backend}'",
            )
        try:
            self._engine = self._connect(url)
        except LogError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad port, option or path in the URL
            raise LogError(
                f"Entscheidungsprotokoll {redacted(url)} lässt sich nicht öffnen: {type(exc).__name__}",
                f"decision log {redacted(url)} cannot be opened: {type(exc).__name__}",
            ) from exc
        self._known: set[str] = set()
        self._engines: dict[str, Any] = {}
        self._queue: queue.Queue[tuple[list[dict[str, Any]], Future[list[str]]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.migrate()

    # ------------------------------------------------------------ connection

    def _connect(self, url: str) -> Engine:
        if self.backend == "sqlite":
            path = _sqlite_file(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    # Owner-only from the first byte: refugees' records live in this file.
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                elif path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
                    # A file made by hand (or copied) readable by others: narrowed, as a new one.
                    path.chmod(0o600)
            eng = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(eng, "connect")
            def _pragmas(dbapi: Any, _record: Any) -> None:
                dbapi.isolation_level = None  # transactions are begun below, not by the driver
                cur = dbapi.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                # Erased and expired entries are overwritten with zeros, not only unlinked.
                cur.execute("PRAGMA secure_delete=ON")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(eng, "begin")
            def _begin(conn: Connection) -> None:
                write = conn.get_execution_options().get("eligibility_write")
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

            return eng
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        except ModuleNotFoundError as exc:
            raise LogError(
                "Für PostgreSQL fehlt der Treiber: pip install 'eligibility[postgres]'",
                "the PostgreSQL driver is missing: pip install 'eligibility[postgres]'",
            ) from exc

    def _write(self) -> Any:
        """A write transaction, serialised with every other writer of this log."""
        conn = self._engine.connect().execution_options(eligibility_write=True)
        return _WriteTx(conn, self.backend)

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self._write() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except LogError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the URL, never with data
            raise LogError(
                f"Entscheidungsprotokoll {redacted(self.url)} lässt sich nicht öffnen: {type(exc).__name__}",
                f"decision log {redacted(self.url)} cannot be opened: {type(exc).__name__}: {exc}",
            ) from exc

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        self._engine.dispose()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def record(
        self,
        engine: Any,
        items: Sequence[NewDecision],
    ) -> list[str]:
        """Store decisions made by `engine`; returns their decision ids once committed."""
        if not items:
            return []
        snap = snapshot_of(engine)
        overlays = chain.dumps(list(engine.info.overlays))
        now = stamp(self.clock())
        rows = []
        for it in items:
            doc = it.decision
            rid = doc.get("record_id")
            rows.append(
                {
                    "decision_id": str(uuid.uuid4()),
                    "salt": secrets.token_hex(16),
                    "kind": "decision",
                    "created_at": now,
                    "record_id": None if rid is None else str(rid),
                    "entity": doc.get("entity"),
                    "on_date": doc.get("on"),
                    "source": it.source,
                    "form": it.form,
                    "ruleset_sha": snap.sha256,
                    "ruleset_name": snap.name,
                    "ruleset_version": snap.version,
                    "overlays": overlays,
                    "user_name": it.user,
                    "aktenzeichen": it.aktenzeichen,
                    "facts": chain.dumps_facts(it.facts),
                    "decision": it.text if it.text is not None else chain.dumps(doc),
                    "outcomes": _outcomes_of(doc),
                    "note": None,
                    "_snapshot": snap,
                }
            )
        return self._submit(rows)

    def _submit(self, rows: list[dict[str, Any]]) -> list[str]:
        fut: Future[list[str]] = Future()
        with self._start_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="decision-log", daemon=True)
                self._writer.start()
        self._queue.put((rows, fut))
        return fut.result()

    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            # Whatever else is waiting goes into the same transaction (bounded).
            while len(jobs) < 256:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            done: list[tuple[list[dict[str, Any]], Future[list[str]], set[str]]] = []
            try:
                with self._write() as conn:
                    for rows, fut in jobs:
                        # Each request in its own savepoint: one that cannot be written fails
                        # alone, the others of the group are still committed.
                        try:
                            with conn.begin_nested():
                                snaps = self._append(conn, rows)
                        except Exception as exc:  # noqa: BLE001 - this request learns it failed
                            fut.set_exception(_unwritable(exc))
                            continue
                        done.append((rows, fut, snaps))
            except Exception as exc:  # noqa: BLE001 - the commit failed: every request of it learns so
                for _, fut, _snaps in done:
                    fut.set_exception(_unwritable(exc))
                continue
            for rows, fut, snaps in done:
                # Known only once committed: a rolled-back snapshot is stored again next time.
                self._known.update(snaps)
                fut.set_result([r["decision_id"] for r in rows])

    def _head(self, conn: Connection) -> tuple[int, str]:
        row = conn.execute(select(entries.c.seq, entries.c.entry_sha).order_by(entries.c.seq.desc()).limit(1)).first()
        return (0, chain.GENESIS) if row is None else (int(row[0]), str(row[1]))

    def _append(self, conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
        seq, prev = self._head(conn)
        out = []
        snaps: set[str] = set()
        for r in rows:
            r = dict(r)
            snap = r.pop("_snapshot", None)
            if snap is not None and snap.sha256 not in self._known and snap.sha256 not in snaps:
                self._store_snapshot(conn, snap)
            if snap is not None:
                snaps.add(snap.sha256)
            seq += 1
            public, content = chain.public_sha(r), chain.content_sha(r)
            prev_sha, prev = prev, chain.entry_sha(seq, prev, public, content)
            out.append(
                {
                    **r,
                    "seq": seq,
                    "public_sha": public,
                    "content_sha": content,
                    "prev_sha": prev_sha,
                    "entry_sha": prev,
                    "chain_format": chain.FORMAT,
                }
            )
        conn.execute(entries.insert(), out)
        return snaps

    def _store_snapshot(self, conn: Connection, snap: Snapshot) -> None:
        import hashlib

        if conn.execute(select(rulesets.c.sha256).where(rulesets.c.sha256 == snap.sha256)).first() is None:
            listing = []
            for name, raw in snap.files:
                blob = hashlib.sha256(raw).hexdigest()
                listing.append([name, blob])
                if conn.execute(select(rule_files.c.sha256).where(rule_files.c.sha256 == blob)).first() is None:
                    conn.execute(rule_files.insert().values(sha256=blob, content=raw))
            conn.execute(
                rulesets.insert().values(
                    sha256=snap.sha256,
                    name=snap.name,
                    version=snap.version,
                    files=chain.dumps(listing),
                    created_at=stamp(self.clock()),
                )
            )

    # ------------------------------------------------------------ erasing

    def erase(self, record_id: str) -> Erasure:
        """Empty every entry of `record_id` (GDPR Art. 17); the chain records how many."""
        return self._erase(entries.c.record_id == record_id, "erasure", {"reason": "DSGVO Art. 17"})

    def apply_retention(self, keep_days: int) -> Erasure:
        """Empty every decision older than `keep_days` days."""
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1")
        cutoff = stamp(self.clock() - dt.timedelta(days=keep_days))
        return self._erase(entries.c.created_at < cutoff, "retention", {"keep_days": keep_days, "before": cutoff})

    def _erase(self, where: Any, kind: str, note: dict[str, Any]) -> Erasure:
        cond = and_(where, entries.c.kind == "decision", entries.c.erased_by.is_(None))
        seq = 0
        with self._write() as conn:
            ids = [str(r[0]) for r in conn.execute(select(entries.c.decision_id).where(cond))]
            if ids:
                seq = self._empty(conn, cond, ids, kind, note)
        # Also when nothing was left to empty: an erasure repeated because a reader held the
        # WAL last time finishes the compaction now.
        return Erasure(seq, len(ids), self._compact())

    def _empty(self, conn: Connection, cond: Any, ids: list[str], kind: str, note: dict[str, Any]) -> int:
        """Append the erasure entry and empty the entries it covers (in the open transaction)."""
        seq, prev = self._head(conn)
        seq += 1
        row = {
            "decision_id": str(uuid.uuid4()),
            "kind": kind,
            "created_at": stamp(self.clock()),
            **{c: None for c in chain.CONTENT_COLUMNS if c not in ("decision_id", "kind", "created_at")},
            "note": chain.dumps({**note, "erased": len(ids), "ids_sha256": chain.ids_digest(ids)}),
        }
        public, content = chain.public_sha(row), chain.content_sha(row)
        conn.execute(
            entries.insert().values(
                **row,
                seq=seq,
                public_sha=public,
                content_sha=content,
                prev_sha=prev,
                entry_sha=chain.entry_sha(seq, prev, public, content),
                chain_format=chain.FORMAT,
            )
        )
        conn.execute(entries.update().where(cond).values(erased_by=seq, **{c: None for c in chain.PERSONAL_COLUMNS}))
        return seq

    def _compact(self, attempts: int = 50) -> bool:
        """Let no copy of erased data stay in the database's files. False when SQLite could
        not truncate its WAL (a reader held it for the whole bounded wait): the erased data is
        then still in the WAL file until the next checkpoint, and the caller says so."""
        if self.backend == "sqlite":
            for _ in range(attempts):
                with self._engine.connect() as conn:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                if busy is not None and busy[0] == 0:
                    return True
                time.sleep(0.1)
            return False
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM decision_log")
        return True

    # ------------------------------------------------------------ reading

    def get(self, decision_id: str) -> StoredDecision | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(entries).where(entries.c.decision_id == decision_id)).first()
        return None if row is None else _stored(row)

    def page(
        self,
        record_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 50,
        before: int | None = None,
        entity: str | None = None,
    ) -> Page:
        """Decisions, newest first; `start`/`end` bound the day of `created_at` (inclusive),
        `before` is the cursor of the previous page."""
        q = select(entries).where(entries.c.kind == "decision", entries.c.erased_by.is_(None))
        if record_id is not None:
            q = q.where(entries.c.record_id == record_id)
        if entity is not None:
            q = q.where(entries.c.entity == entity)
        if start is not None:
            q = q.where(entries.c.created_at >= start)
        if end is not None:
            # "YYYY-MM-DDT…" sorts below "YYYY-MM-DDU": the whole last day, no date arithmetic
            # (which would overflow on 9999-12-31).
            q = q.where(entries.c.created_at < end[:10] + "U")
        if before is not None:
            q = q.where(entries.c.seq < before)
        q = q.order_by(entries.c.seq.desc()).limit(limit + 1)
        with self._engine.connect() as conn:
            rows = [_stored(r) for r in conn.execute(q)]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(tuple(rows), rows[-1].seq if more and rows else None)

    def iter_all(self, record_id: str | None = None) -> Iterator[StoredDecision]:
        """Every stored decision in log order (for export), streamed."""
        q = select(entries).where(entries.c.kind == "decision", entries.c.erased_by.is_(None))
        if record_id is not None:
            q = q.where(entries.c.record_id == record_id)
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(q.order_by(entries.c.seq)):
                yield _stored(row)

    def latest(self, entity: str | None = None) -> Iterator[StoredDecision]:
        """The latest decision of every person (by record id and entity), in log order;
        decisions of records without an id each count as their own."""
        live = and_(entries.c.kind == "decision", entries.c.erased_by.is_(None))
        if entity is not None:
            live = and_(live, entries.c.entity == entity)
        newest = (
            select(func.max(entries.c.seq))
            .where(live, entries.c.record_id.is_not(None))
            .group_by(entries.c.record_id, entries.c.entity)
        )
        q = (
            select(entries)
            .where(live, (entries.c.seq.in_(newest)) | entries.c.record_id.is_(None))
            .order_by(entries.c.seq)
        )
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(q):
                yield _stored(row)

    def verify(self) -> Verification:
        """Walk the chain (see `verify.verify`)."""
        return verify(self._engine)

    def snapshot(self, sha: str) -> Snapshot | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(rulesets).where(rulesets.c.sha256 == sha)).first()
            if row is None:
                return None
            listing = json.loads(row._mapping["files"])
            blobs = {
                r[0]: bytes(r[1])
                for r in conn.execute(
                    select(rule_files.c.sha256, rule_files.c.content).where(
                        rule_files.c.sha256.in_([b for _, b in listing])
                    )
                )
            }
        return Snapshot(sha, row._mapping["name"], row._mapping["version"], tuple((n, blobs[b]) for n, b in listing))

    def snapshots(self) -> list[tuple[str, str, str, str]]:
        """(sha256, name, version, created_at) of every stored rule set, oldest first."""
        with self._engine.connect() as conn:
            q = select(rulesets.c.sha256, rulesets.c.name, rulesets.c.version, rulesets.c.created_at)
            return [
                (r[0], r[1], r[2], r[3]) for r in conn.execute(q.order_by(rulesets.c.created_at, rulesets.c.sha256))
            ]

    def find_snapshot(self, prefix: str) -> str | None:
        """The full hash of the stored rule set whose hash starts with `prefix` (unique)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
            return None  # at least 8 hex digits: an empty or short prefix would match anything
        found = [s for s, *_ in self.snapshots() if s.startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def engine_for(self, sha: str) -> Any:
        """The Engine of a stored rule set (cached per process)."""
        eng = self._engines.get(sha)
        if eng is None:
            snap = self.snapshot(sha)
            if snap is None:
                raise LogError(
                    f"Regelwerk {sha[:12]} ist im Entscheidungsprotokoll nicht gespeichert",
                    f"rule set {sha[:12]} is not stored in the decision log",
                )
            eng = self._engines[sha] = engine_from_snapshot(snap)
        return eng


class _WriteTx:
    """`with log._write() as conn`: one serialised write transaction, committed on success."""

    def __init__(self, conn: Connection, backend: str) -> None:
        self.conn = conn
        self.backend = backend

    def __enter__(self) -> Connection:
        self.tx = self.conn.begin()
        if self.backend == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()


def _unwritable(exc: Exception) -> LogError:
    return LogError(
        f"Entscheidungsprotokoll nicht beschreibbar: {type(exc).__name__}",
        f"decision log cannot be written: {type(exc).__name__}",
    )


def open_log(url: str | None = None, *, create: bool = True) -> DecisionLog:
    """The log at `url` (default: $ELIGIBILITY_LOG)."""
    url = url or os.environ.get("ELIGIBILITY_LOG")
    if not url:
        raise LogError(
            "Kein Entscheidungsprotokoll angegeben: --log URL oder ELIGIBILITY_LOG",
            "no decision log given: --log URL or ELIGIBILITY_LOG",
        )
    return DecisionLog(url, create=create)

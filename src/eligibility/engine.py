"""The public Python API: load a rule set once, decide records against it."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eligibility import __version__
from eligibility.compile.compiler import CompiledEntity, CompiledRuleSet, compile_ruleset
from eligibility.decision.builder import DecisionBuilder
from eligibility.decision.model import SCHEMA_VERSION, Decision, RuleSetInfo
from eligibility.decision.records import LATEST_DATE, DateOutOfRange, parse_date, record_id, record_normalizer
from eligibility.eval.evaluator import evaluate_entity
from eligibility.lang.values import iso_date
from eligibility.source.citations import localize
from eligibility.source.loader import load_model
from eligibility.text.render import render

DateLike = dt.date | str | None

if TYPE_CHECKING:
    from eligibility.apps.timeline import Interval, Timeline
    from eligibility.eval.columnar import DecisionTable


def default_rules_dir() -> Path:
    """The shipped rule set: $ELIGIBILITY_RULES, else the copy an installed wheel carries
    (`eligibility/_rules`), else `rules/` of the source checkout this package runs from (an
    editable install: the checkout is the source of truth), else `./rules`."""
    env = os.environ.get("ELIGIBILITY_RULES")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    # An installed wheel carries its rules: never pick up some rules/ folder near the install.
    packaged = here.parent / "_rules"
    if (packaged / "ruleset.yaml").is_file():
        return packaged
    # The source checkout (src/ layout): the rules/ beside pyproject.toml.
    checkout = here.parents[2] if len(here.parents) > 2 else None
    if (
        checkout is not None
        and (checkout / "pyproject.toml").is_file()
        and (checkout / "rules" / "ruleset.yaml").is_file()
    ):
        return checkout / "rules"
    return Path("rules")


def arrow_stream(obj: Any) -> Any | None:
    """`obj` as a pyarrow.RecordBatchReader if it is an Arrow stream (and not a table, which
    the table path reads zero-copy), else None."""
    mod = type(obj).__module__
    if mod.startswith("duckdb"):
        for method in ("to_arrow_reader", "fetch_arrow_reader", "fetch_record_batch"):
            if hasattr(obj, method):
                return getattr(obj, method)()
        return None
    if not (hasattr(obj, "__arrow_c_stream__") or mod.startswith("pyarrow")):
        return None
    import pyarrow as pa

    if isinstance(obj, pa.RecordBatchReader):
        return obj
    if isinstance(obj, pa.Table):
        return obj.to_reader()
    if isinstance(obj, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(obj.schema, [obj])
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(obj)
    return None


def _from_model(model: Any) -> Engine:
    return Engine(compile_ruleset(model))


def coerce_date(on: DateLike) -> dt.date:
    if on is None:
        day = dt.date.today()
    elif isinstance(on, dt.datetime):
        day = on.date()
    elif isinstance(on, dt.date):
        # A subclass of date as the plain date: kept explanation trees are keyed by the
        # reference date's value, and what a subclass prints must not reach other decisions.
        day = on if on.__class__ is dt.date else dt.date(on.year, on.month, on.day)
    else:
        parsed = parse_date(str(on).strip())
        if parsed is None:
            raise ValueError(f"not a date: expected YYYY-MM-DD or TT.MM.JJJJ, got {on!r}")
        day = parsed
    if day > LATEST_DATE:
        # Periods are computed from the reference date onwards (timelines, "nächste Änderung").
        raise DateOutOfRange(f"reference date after {LATEST_DATE.isoformat()}: it cannot be computed with")
    return day


class Engine:
    """A compiled rule set. Thread-safe for reading: decisions share no mutable state
    but the per-date caches, which only ever gain equal entries."""

    def __init__(self, compiled: CompiledRuleSet) -> None:
        self.compiled = compiled
        m = compiled.model
        self.info = RuleSetInfo(
            name=m.manifest.name, version=m.manifest.version, sha256=m.sha256, overlays=[o.name for o in m.overlays]
        )
        self._builders: dict[str, Any] = {}
        self._batch: dict[str, Any] = {}
        self._info_data = self.info.model_dump(mode="json")
        # Conversions of raw cells, per record type: records repeat the same dates and codes.
        self._convert_memo: dict[str, dict[Any, Any]] = {}
        # Per record type: `normalize` over its facts, generated once, with that memo.
        self._normalizers: dict[str, Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[Any]]]] = {}
        self._decisions = DecisionBuilder()

    def __reduce__(self) -> tuple[Any, ...]:
        # The compiled form holds closures and generated code; the validated model does not.
        # A pickled engine is its model, compiled again where it is unpickled (process pools,
        # Dask, Spark), so workers decide exactly as the parent (same rules, same hash).
        return (_from_model, (self.compiled.model,))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        overlays: Iterable[str | os.PathLike[str]] = (),
        *,
        rules_hash: str | None = None,
        log: str | None = None,
    ) -> Engine:
        """Load, check and compile a rule set directory (default: the shipped rules).
        Raises RuleSetError with `file:line:col` diagnostics.

        With `rules_hash` (the full SHA-256 or a unique prefix), the rule set of that hash
        as stored in the decision log at `log` (default $ELIGIBILITY_LOG): an old rule set,
        decided with on purpose. Raises `eligibility.decisionlog.LogError` if it is not there."""
        if rules_hash is not None:
            from eligibility.decisionlog import LogError, open_log

            with open_log(log, create=False) as store:
                sha = store.find_snapshot(rules_hash)
                if sha is None:
                    raise LogError(
                        f"Regelwerk {rules_hash} ist im Entscheidungsprotokoll nicht (eindeutig) gespeichert",
                        f"rule set {rules_hash} is not stored (unambiguously) in the decision log",
                    )
                engine: Engine = store.engine_for(sha)
                return engine
        root = Path(path) if path is not None else default_rules_dir()
        return cls(compile_ruleset(load_model(root, [Path(o) for o in overlays])))

    # ------------------------------------------------------------------ metadata

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def default_entity(self) -> str:
        return self.compiled.model.manifest.default_entity

    @property
    def entities(self) -> list[str]:
        return sorted(self.compiled.entities)

    def entity(self, name: str | None = None) -> CompiledEntity:
        key = name or self.default_entity
        try:
            return self.compiled.entities[key]
        except KeyError:
            raise ValueError(f"unknown record type '{key}' (known: {', '.join(self.entities)})") from None

    def outcomes(self, entity: str | None = None) -> list[str]:
        return list(self.entity(entity).outcome_order)

    # ------------------------------------------------------------------ decisions

    def decide(
        self, record: Mapping[str, Any], on: DateLike = None, entity: str | None = None, explain: bool = True
    ) -> Decision:
        """Decide every outcome of `record` on the reference date `on` (default today).

        Bad fields do not raise: they are listed in `decision.errors` and treated as
        unknown, so the other outcomes are still decided. Call
        `decision.raise_for_errors()` for an exception instead.

        With `explain`, each outcome's `trace` (the explanation tree) is built when it is
        first read or the decision is serialised: the same record is decided once more with
        the explanation, so a decision kept in a list stays small (design §20)."""
        day = coerce_date(on)
        data = self.decide_data(record, day, entity, explain=False)
        later = None
        if explain and isinstance(record, Mapping):
            kept = dict(record)  # the caller may change its record after deciding
            later = functools.partial(self.decide_data, kept, day, data["entity"], True)
        return self._decisions.build(data, later)

    def decide_data(
        self, record: Mapping[str, Any], on: DateLike = None, entity: str | None = None, explain: bool = True
    ) -> dict[str, Any]:
        """The same decision as `decide`, as JSON-ready data: exactly what
        `decide(...).model_dump(mode="json")` gives (tested), without building the model.
        For services and pipelines that serialise anyway. Labels and other static parts
        are shared between decisions: treat the result as read-only."""
        day = coerce_date(on)
        ent = self.entity(entity)
        if not isinstance(record, Mapping):
            data = self.decide_data({}, day, ent.name, explain=False)
            data["errors"] = [
                {
                    "field": None,
                    "code": "record",
                    "message": {
                        "de": "Datensatz ist kein Objekt mit Feldern",
                        "en": "record is not an object with fields",
                    },
                }
            ]
            return data
        normalized = self._normalizers.get(ent.name)
        if normalized is None:
            memo = self._convert_memo.setdefault(ent.name, {})
            normalized = self._normalizers[ent.name] = record_normalizer(ent.facts, memo)
        facts, field_errors = normalized(record)
        issues = (
            [{"field": e.field, "code": e.code, "message": {"de": e.de, "en": e.en}} for e in field_errors]
            if field_errors
            else []
        )
        manifest = self.compiled.model.manifest
        if day < manifest.valid_from or (manifest.valid_to and day > manifest.valid_to):
            issues.append(
                {
                    "field": "on",
                    "code": "on_out_of_range",
                    "message": {
                        "de": f"Stichtag liegt außerhalb des Geltungsbereichs des Regelwerks (ab {manifest.valid_from:%d.%m.%Y})",
                        "en": f"reference date is outside the rule set's range (from {manifest.valid_from.isoformat()})",
                    },
                }
            )
        outcomes = evaluate_entity(self.compiled, ent, facts, day, explain=explain)
        missing: set[str] = set()
        questions: dict[str, dict[str, Any]] = {}
        for o in outcomes.values():
            if o["missing"]:
                missing.update(o["missing"])
                for q in o["questions"]:
                    questions.setdefault(q["fact"], q)
        return {
            "schema_version": SCHEMA_VERSION,
            "record_id": record_id(record, ent.id_field),
            "entity": ent.name,
            "on": iso_date(day) if day.__class__ is dt.date else day.isoformat(),
            "outcomes": outcomes,
            "missing": sorted(missing),
            "questions": [questions[f] for f in sorted(questions)] if questions else [],
            "errors": issues,
            "ruleset": self._info_data,
        }

    def decide_many(
        self,
        records: Iterable[Mapping[str, Any]],
        on: DateLike = None,
        entity: str | None = None,
        explain: bool = False,
    ) -> Iterator[Decision]:
        """One decision per record, in input order, lazily (constant memory)."""
        day = coerce_date(on)
        for record in records:
            yield self.decide(record, day, entity, explain=explain)

    def decide_table(
        self, records: Any, on: DateLike = None, entity: str | None = None, chunk_size: int = 50_000
    ) -> DecisionTable:
        """The batch path: a whole roster at once, evaluated column-wise. `records` is a
        list of dicts, or a pandas/polars DataFrame or an Arrow table. Returns one row per
        record, in input order: the id, and per outcome its value, deciding rule, status
        and missing facts, plus field errors. Same answers as `decide` (property-tested)."""
        from eligibility.eval.columnar import (
            BatchEvaluator,
            DecisionTable,
            columns_from_table,
            decide_columns,
            records_from_table,
        )

        day = coerce_date(on)
        ent = self.entity(entity)
        info0 = {"name": self.info.name, "version": self.info.version, "sha256": self.info.sha256}
        table_columns = columns_from_table(records)
        if table_columns is None:
            stream = arrow_stream(records)
            if stream is not None:
                parts = list(self.decide_stream(stream, day, entity=entity, chunk_size=chunk_size))
                if not parts:
                    return self.decide_table([], day, entity=entity)
                return parts[0] if len(parts) == 1 else DecisionTable.concat(parts)
        evaluator = self._batch.get(ent.name)
        if evaluator is None:
            evaluator = self._batch[ent.name] = BatchEvaluator(self.compiled, ent)
        if table_columns is not None and evaluator.supported:
            n = len(next(iter(table_columns.values()))) if table_columns else 0
            size = _chunk_for(n, chunk_size)
            chunks = [{k: v[i : i + size] for k, v in table_columns.items()} for i in range(0, n, size)]
            parts = _map_chunks(lambda c: decide_columns(evaluator, None, day, info0, c), chunks) or [
                decide_columns(evaluator, [], day, info0)
            ]
            return self._out_of_range(parts[0] if len(parts) == 1 else DecisionTable.concat(parts), day)
        if table_columns is not None:
            n = len(next(iter(table_columns.values()))) if table_columns else 0
            lists = {k: v if isinstance(v, list) else v.to_pylist() for k, v in table_columns.items()}
            records = [{k: v[i] for k, v in lists.items()} for i in range(n)]
        recs = records_from_table(records)
        if not isinstance(recs, list):
            recs = list(recs)
        info = {"name": self.info.name, "version": self.info.version, "sha256": self.info.sha256}
        if not evaluator.supported:
            return self._table_per_record(recs, day, ent.name, info)
        size = _chunk_for(len(recs), chunk_size)
        parts = _map_chunks(
            lambda c: decide_columns(evaluator, c, day, info), [recs[i : i + size] for i in range(0, len(recs), size)]
        ) or [decide_columns(evaluator, [], day, info)]
        return self._out_of_range(parts[0] if len(parts) == 1 else DecisionTable.concat(parts), day)

    def decide_stream(
        self, stream: Any, on: DateLike = None, entity: str | None = None, chunk_size: int = 50_000
    ) -> Iterator[DecisionTable]:
        """The batch path over an Arrow stream, batch by batch: a `pyarrow.RecordBatchReader`,
        any object with `__arrow_c_stream__` (polars, DuckDB, nanoarrow, ...) or a DuckDB
        relation. Yields one DecisionTable per batch, in order, so that neither the input nor
        the output of a stream larger than memory is ever held whole."""
        import pyarrow as pa

        reader = arrow_stream(stream)
        if reader is None:
            raise TypeError(f"not an Arrow stream: {type(stream).__name__}")
        day = coerce_date(on)
        for batch in reader:
            if batch.num_rows:
                yield self.decide_table(pa.Table.from_batches([batch]), day, entity=entity, chunk_size=chunk_size)

    def _out_of_range(self, table: DecisionTable, day: dt.date) -> DecisionTable:
        manifest = self.compiled.model.manifest
        if day < manifest.valid_from or (manifest.valid_to and day > manifest.valid_to):
            note = f"Stichtag liegt außerhalb des Geltungsbereichs des Regelwerks (ab {manifest.valid_from:%d.%m.%Y})"
            note_en = f"reference date is outside the rule set's range (from {manifest.valid_from.isoformat()})"
            errs, errs_en = table.array("errors"), table.array("errors_en")
            for i in range(len(errs)):
                errs[i] = f"{errs[i]}; {note}" if errs[i] else note
                errs_en[i] = f"{errs_en[i]}; {note_en}" if errs_en[i] else note_en
        return table

    def _table_per_record(self, recs: list[Any], day: dt.date, entity: str, info: dict[str, str]) -> DecisionTable:
        from eligibility.eval.columnar import DecisionTable

        ent = self.entity(entity)
        cols: dict[str, list[Any]] = {"record_id": []}
        for oid in ent.outcome_order:
            for suffix in ("", "_rule", "_status", "_missing", "_assumption"):
                cols[f"{oid}{suffix}"] = []
        cols["errors"], cols["errors_en"] = [], []
        for rec in recs:
            d = self.decide(rec, day, entity=entity, explain=False)
            cols["record_id"].append(d.record_id)
            for oid, o in d.outcomes.items():
                cols[oid].append(o.value)
                cols[f"{oid}_rule"].append(o.rule)
                cols[f"{oid}_status"].append(
                    "unknown" if o.status == "unknown" else "not_in_force" if o.status == "not_in_force" else "value"
                )
                cols[f"{oid}_missing"].append(o.missing)
                cols[f"{oid}_assumption"].append(o.assumption)
            cols["errors"].append("; ".join(e.message.de for e in d.errors))
            cols["errors_en"].append("; ".join(e.message.en for e in d.errors))
        return DecisionTable(cols, list(ent.outcome_order), info)

    def render(
        self,
        decision: Decision,
        fmt: str = "text",
        lang: str = "de",
        detail: bool = True,
        timeline: Timeline | None = None,
        *,
        technical: bool = False,
    ) -> str:
        """The decision as German (or English) text or Markdown; with a timeline, each
        outcome also shows since when it holds and its next change. The text has no ids,
        expressions or rule paths; `technical=True` adds them in a last section."""
        marks = None
        if timeline is not None:
            marks = {}
            for oid in decision.outcomes:
                nxt = timeline.next_change(oid, decision.on)
                since = timeline.since(oid, decision.on)
                marks[oid] = {
                    "since": since,
                    "next": nxt.start if nxt else None,
                    "next_value": self._word(decision.entity, oid, nxt, lang) if nxt else None,
                    "next_cause": localize(getattr(nxt.cause, lang), lang) if nxt and nxt.cause else None,
                }
        return render(
            decision, self.entity(decision.entity), fmt, lang, detail, marks, technical=technical, crs=self.compiled
        )

    def _word(self, entity: str, oid: str, iv: Interval, lang: str) -> str:
        from eligibility.text.render import value_text

        if iv.status == "unknown":
            return "noch offen" if lang == "de" else "unknown"
        if iv.status == "not_in_force":
            return "nicht in Kraft" if lang == "de" else "not in force"
        return value_text(self.entity(entity), oid, iv.value, lang)

    # ------------------------------------------------------------------ timelines

    def timeline(
        self, record: Mapping[str, Any], start: DateLike = None, end: DateLike = None, entity: str | None = None
    ) -> Timeline:
        """For every outcome, the intervals on which its value is constant, each with the
        deciding rule and what starts it, computed exactly from the change points the
        rules and the record imply. Default start: the rule set's first day; default end:
        one year after the last change point."""
        from eligibility.apps.timeline import TimelineBuilder, build_timeline

        ent = self.entity(entity)
        builder = self._builders.get(ent.name)
        if builder is None:
            builder = self._builders[ent.name] = TimelineBuilder(self.compiled, ent)
        first = coerce_date(start) if start is not None else self.compiled.model.manifest.valid_from
        last_day = coerce_date(end) if end is not None else None
        if last_day is not None and last_day < first:
            raise ValueError("the end of a timeline lies before its start")
        info = {"name": self.info.name, "version": self.info.version, "sha256": self.info.sha256}
        return build_timeline(
            self.compiled, ent, builder, record, first, last_day, record_id(record, ent.id_field), info
        )

    # ------------------------------------------------------------------ schema

    def facts_schema(self, entity: str | None = None) -> dict[str, Any]:
        """The record's facts as JSON Schema (draft 2020-12). Every field is optional:
        a missing field is an unknown fact, not an error."""
        ent = self.entity(entity)
        props: dict[str, Any] = {}
        date_pattern = r"^(\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4}|unbekannt)$"
        for name, f in ent.facts.items():
            p: dict[str, Any]
            if f.type == "bool":
                p = {"type": "boolean"}
            elif f.type == "int":
                p = {"type": "integer"}
            elif f.type == "decimal":
                p = {"type": "number"}
            elif f.type == "date":
                p = {"type": "string", "pattern": date_pattern}
            elif f.type == "enum":
                p = {"type": "string", "enum": list(f.values or [])}
            elif f.type == "list":
                p = {"type": "array", "items": {"type": "string"}}
            else:
                p = {"type": "string"}
                if f.pattern:
                    p["pattern"] = f.pattern
            if f.event:
                p = {"anyOf": [p, {"type": "null"}]}
                p["x-event-date"] = True
            p["title"] = f.label.de
            p["description"] = f.question.de + (" Leer = nicht eingetreten; fehlend = unbekannt." if f.event else "")
            p["x-label-en"] = f.label.en
            props[name] = p
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:eligibility:{self.info.name}:{ent.name}",
            "title": ent.model.label.de if ent.model.label else ent.name,
            "type": "object",
            "properties": props,
            "additionalProperties": True,
            "x-ruleset": {"name": self.info.name, "version": self.info.version, "sha256": self.info.sha256},
        }

    def __repr__(self) -> str:
        return f"Engine({self.info.name} {self.info.version}, sha256={self.info.sha256[:12]}, engine {__version__})"


# The batch path splits a large table over the machine's cores: numpy and Arrow release the
# GIL inside their loops, so chunks decided in threads run side by side (measured 1.5x on
# two cores). Each chunk runs on its own copy of the prepared evaluator.
_MIN_PARALLEL_CHUNK = 25_000
T = TypeVar("T")
_pool: Any = None


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _chunk_for(n: int, chunk_size: int) -> int:
    """Chunks no larger than `chunk_size`, and enough of them to keep every core busy."""
    if n >= 2 * _MIN_PARALLEL_CHUNK and _workers() > 1:
        return max(1, min(chunk_size, max(_MIN_PARALLEL_CHUNK, -(-n // _workers()))))
    return max(1, chunk_size)


def _map_chunks(fn: Callable[[Any], T], chunks: list[Any]) -> list[T]:
    global _pool
    if len(chunks) < 2 or _workers() < 2:
        return [fn(c) for c in chunks]
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(_workers(), thread_name_prefix="eligibility-batch")
    return list(_pool.map(fn, chunks))

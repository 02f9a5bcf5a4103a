"""`eligibility evaluate`: a whole roster through the engine, streaming, one row out
per row in, with a summary at the end."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from eligibility.decision.model import Decision
from eligibility.engine import Engine
from eligibility.io.cells import neutralise
from eligibility.io.csv_format import CsvFormat
from eligibility.io.rosters import Block, InputRow, RosterInfo, RosterWriter, format_of, read_csv_blocks, read_roster
from eligibility.io.xlsx_reader import read_xlsx_blocks

VALUE_WORDS = {"de": {True: "ja", False: "nein", None: "unklar"}, "en": {True: "yes", False: "no", None: "unknown"}}


@dataclasses.dataclass
class Summary:
    rows: int = 0
    decided: int = 0  # every outcome known, no error
    unknown: int = 0  # at least one outcome unknown, no error
    errors: int = 0  # rows with an error (unreadable row or bad field values)
    info: RosterInfo | None = None
    seconds: float = 0.0

    def text(self, lang: str = "de") -> str:
        if lang == "de":
            out = (
                f"{self.rows} Zeilen gelesen: {self.decided} entschieden, {self.unknown} mit offenen Fragen, "
                f"{self.errors} mit Fehlern"
            )
            if self.info and self.info.ignored:
                out += f"\nNicht verwendete Spalten: {', '.join(self.info.ignored)}"
            return out
        out = f"{self.rows} rows read: {self.decided} decided, {self.unknown} with open questions, {self.errors} with errors"
        if self.info and self.info.ignored:
            out += f"\nUnused columns: {', '.join(self.info.ignored)}"
        return out


def columns_for(engine: Engine, entity: str | None, lang: str) -> list[str]:
    ent = engine.entity(entity)
    de = lang == "de"
    cols = ["zeile" if de else "row", ent.id_field or "id"]
    for oid in ent.outcome_order:
        cols += [oid, f"{oid}_{'grund' if de else 'reason'}"]
    cols += [
        "fehlende_angaben" if de else "missing",
        "fehler" if de else "errors",
        "regelwerk" if de else "ruleset",
        "regelwerk_sha256" if de else "ruleset_sha256",
    ]
    return cols


def german_headers(engine: Engine, entity: str | None, columns: list[str], info: RosterInfo | None = None) -> list[str]:
    """The CSV result's column names as the caseworker XLSX labels them (the id column
    as the input file names it)."""
    ent = engine.entity(entity)
    used = {fact: header for header, fact in info.columns.items()} if info and info.format != "jsonl" else {}
    fixed = {
        "zeile": "Zeile",
        "row": "Zeile",
        "fehlende_angaben": "Fehlende Angaben",
        "missing": "Fehlende Angaben",
        "fehler": "Fehler",
        "errors": "Fehler",
        "regelwerk": "Regelwerk",
        "ruleset": "Regelwerk",
        "regelwerk_sha256": "Regelwerk SHA-256",
        "ruleset_sha256": "Regelwerk SHA-256",
    }
    out = []
    for c in columns:
        base = c.rsplit("_", 1)[0] if c.endswith(("_grund", "_reason")) else None
        if c in ent.outcomes:
            out.append(ent.outcomes[c].spec.label.de)
        elif base in ent.outcomes:
            out.append(f"{ent.outcomes[base].spec.label.de}: Begründung")
        elif c == ent.id_field:
            out.append(used.get(c) or (ent.facts[c].aliases[0] if ent.facts[c].aliases else c))
        else:
            out.append(fixed.get(c, c))
    return out


def cell_value(value: Any, status: str, lang: str, german_numbers: bool) -> Any:
    if status == "not_in_force":
        return "nicht in Kraft" if lang == "de" else "not in force"
    if value is None or isinstance(value, bool):
        return VALUE_WORDS[lang][value]
    if isinstance(value, float) and german_numbers:
        return f"{Decimal(str(value)):.2f}".replace(".", ",")
    return value


def decision_row(
    number: int, decision: Decision, engine: Engine, lang: str, german_numbers: bool, xlsx: bool = False
) -> dict[str, Any]:
    ent = engine.entity(decision.entity)
    de = lang == "de"
    row: dict[str, Any] = {"zeile" if de else "row": number, ent.id_field or "id": decision.record_id or ""}
    for oid, o in decision.outcomes.items():
        v = o.value
        if xlsx and isinstance(v, (int, float)) and not isinstance(v, bool):
            row[oid] = v  # a number stays a number in Excel
        else:
            row[oid] = cell_value(v, o.status, lang, german_numbers)
        row[f"{oid}_{'grund' if de else 'reason'}"] = getattr(o.reason, lang)
    row["fehlende_angaben" if de else "missing"] = ", ".join(decision.missing)
    row["fehler" if de else "errors"] = "; ".join(getattr(e.message, lang) for e in decision.errors)
    row["regelwerk" if de else "ruleset"] = f"{decision.ruleset.name} {decision.ruleset.version}"
    row["regelwerk_sha256" if de else "ruleset_sha256"] = decision.ruleset.sha256
    return row


def error_row(row: InputRow, engine: Engine, entity: str | None, lang: str) -> dict[str, Any]:
    ent = engine.entity(entity)
    de = lang == "de"
    rid = ""
    if row.record is not None and ent.id_field:
        rid = str(row.record.get(ent.id_field) or "")
    out: dict[str, Any] = {"zeile" if de else "row": row.number, ent.id_field or "id": rid}
    out["fehler" if de else "errors"] = row.error if de else row.error_en
    out["regelwerk" if de else "ruleset"] = f"{engine.info.name} {engine.info.version}"
    out["regelwerk_sha256" if de else "ruleset_sha256"] = engine.info.sha256
    return out


UNDECIDABLE = (
    "Datensatz kann nicht entschieden werden: ein Datum liegt zu nahe am Ende des Kalenders (Jahr 9999) oder außerhalb",
    "record cannot be decided: a date lies too close to the end of the calendar (year 9999) or beyond",
)


def undecidable(row: InputRow) -> InputRow:
    """The row as an error row: the engine could not decide its record (a date arithmetic
    overflow). The record is kept so its id can still be written."""
    return dataclasses.replace(row, error=UNDECIDABLE[0], error_en=UNDECIDABLE[1])


def _record_id(row: InputRow, ent: Any) -> str | None:
    if row.record is None or not ent.id_field:
        return None
    v = row.record.get(ent.id_field)
    return None if v is None or v == "" else str(v)


def _unreadable(row: InputRow) -> bool:
    return row.record is None or row.error is not None


def decide_chunk(engine: Engine, chunk: list[InputRow], on: dt.date, entity: str | None) -> tuple[list[InputRow], Any]:
    """The batch table of a chunk's readable rows. Should the engine fail on a record
    (date arithmetic beyond year 9999), that record becomes an error row and the others
    are decided: the chunk, with such rows marked, and the table of the rest."""
    try:
        return chunk, engine.decide_table([r.record for r in chunk if not _unreadable(r)], on, entity=entity)
    except (ValueError, OverflowError):
        pass
    marked: list[InputRow] = []
    for r in chunk:
        if _unreadable(r):
            marked.append(r)
            continue
        try:
            engine.decide_table([r.record], on, entity=entity)
            marked.append(r)
        except (ValueError, OverflowError):
            marked.append(undecidable(r))
    return marked, engine.decide_table([r.record for r in marked if not _unreadable(r)], on, entity=entity)


def evaluated_rows(
    engine: Engine, rows: Iterator[InputRow], on: dt.date, entity: str | None = None
) -> Iterator[tuple[InputRow, Decision | None]]:
    """Each input row with its decision, in order; None for a row that could not be read
    or decided (its `error` says why)."""
    for row in rows:
        if row.record is None:
            yield row, None
            continue
        try:
            decision = engine.decide(row.record, on, entity=entity, explain=False)
        except (ValueError, OverflowError):
            # Date arithmetic beyond year 9999; the record gets an error row, the run goes on.
            yield undecidable(row), None
            continue
        yield row, decision


BATCH_ROWS = 20_000  # rows decided together on the batch path; memory stays flat


def evaluate_roster(
    engine: Engine,
    src: str | Path,
    on: dt.date,
    out: str | Path,
    *,
    entity: str | None = None,
    lang: str = "de",
    in_format: str | None = None,
    out_format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    progress: Callable[[int], None] | None = None,
    keep: Sequence[str] = (),
    columns: str | None = None,
    source_name: str | None = None,
) -> Summary:
    """CSV and XLSX output go through the column-wise batch path in chunks; JSON lines
    carry the full decision of each record and use the per-record path. XLSX is the
    caseworker result (`xlsx_result.CaseworkerResult`): `keep` names the input columns
    copied in (default id, Gemeinde, Kreis), `columns="codes"` gives code headers. CSV
    keeps its columns; `columns="de"` gives them German headers."""
    started = time.perf_counter()
    ent = engine.entity(entity)
    fmt = format_of(out, out_format)
    if fmt == "xlsx":
        return _evaluate_to_xlsx(
            engine,
            src,
            on,
            out,
            entity,
            in_format,
            encoding,
            delimiter,
            sheet,
            progress,
            keep,
            columns == "codes",
            started,
            source_name or Path(src).name,
        )
    blocks = None
    if fmt == "csv" and format_of(src, in_format) == "csv":
        info, blocks = read_csv_blocks(src, ent.facts, encoding, delimiter, BATCH_ROWS)
        rows: Iterator[InputRow] = iter(())
    elif fmt == "csv" and _streamed_xlsx(src, in_format):
        info, blocks = read_xlsx_blocks(src, ent.facts, sheet, BATCH_ROWS)
        rows = iter(())
    else:
        info, rows = read_roster(src, ent.facts, in_format, encoding, delimiter, sheet)
    german = info.german or info.format != "csv"
    cols = columns_for(engine, entity, lang)
    writer = RosterWriter(
        out,
        fmt,
        cols,
        delimiter=(info.delimiter or ";") if info.format == "csv" else ";",
        bom=german,
        header=german_headers(engine, entity, cols, info) if columns == "de" else None,
    )
    summary = Summary(info=info)
    try:
        if fmt == "jsonl":
            for row, decision in evaluated_rows(engine, rows, on, entity):
                _count(summary, decision)
                if decision is None:
                    rid = _record_id(row, ent)
                    writer.write(
                        {},
                        {
                            "row": row.number,
                            "record_id": rid,
                            "errors": [
                                {
                                    "field": None,
                                    "code": "undecidable" if row.record is not None else "row",
                                    "message": {"de": row.error, "en": row.error_en},
                                }
                            ],
                            "ruleset": engine.info.model_dump(),
                        },
                    )
                else:
                    writer.write(
                        {},
                        {
                            "row": row.number,
                            **decision.model_dump(mode="json", exclude={"outcomes": {"__all__": {"trace"}}}),
                        },
                    )
                if progress is not None:
                    progress(summary.rows)
        elif blocks is not None:
            # Plain blocks come as Arrow columns and go out as whole lines built from the
            # table's codes; other blocks take the exact reader and the row writer.
            text = CsvBlockWriter(engine, entity, lang, german, str(info.delimiter or ";"), "\r\n" if german else "\n")

            def fast(block: Any) -> tuple[bytes, int, int] | None:
                try:
                    return text.block(engine.decide_table(block.columns, on, entity=entity), block.first)
                except (ValueError, OverflowError):
                    return None  # a record the engine cannot decide: this block row by row

            # Arrow blocks are decided and formatted two at a time in threads (numpy and
            # Arrow release the GIL) and written in order; at most three are held at once.
            for block, done in _pipelined(blocks, fast):
                if done is not None and block.columns is not None:
                    chunk_text, errors, unknown = done
                    writer.write_encoded(chunk_text, block.n)
                    summary.rows += block.n
                    summary.errors += errors
                    summary.unknown += unknown
                    summary.decided += block.n - errors - unknown
                else:
                    for out_row, state in _table_rows(engine, _block_rows(block), on, entity, lang, german, False):
                        _tally(summary, state)
                        writer.write(out_row)
                if progress is not None:
                    progress(summary.rows)
        else:
            for chunk in _chunks(rows, BATCH_ROWS):
                for out_row, state in _table_rows(
                    engine, chunk, on, entity, lang, german and fmt == "csv", fmt == "xlsx"
                ):
                    _tally(summary, state)
                    writer.write(out_row)
                if progress is not None:
                    progress(summary.rows)
    finally:
        writer.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _block_rows(block: Block) -> list[InputRow]:
    """A block's rows as InputRows (Arrow columns converted)."""
    if block.rows is not None:
        return block.rows
    assert block.columns is not None  # a block holds rows or columns
    cols = {k: _pylist(v) for k, v in block.columns.items()}
    return [InputRow(block.first + i, {k: c[i] for k, c in cols.items()}) for i in range(block.n)]


def _pylist(column: Any) -> list[Any]:
    """A block column as the list of its cells: a list (XLSX) as it is, an Arrow array (CSV
    strings; XLSX dates, whose empty cells are nulls) with "" for a null, as the row read it."""
    if isinstance(column, list):
        return column
    cells = column.to_pylist()
    return [("" if c is None else c) for c in cells] if column.null_count else cells


def _cell_at(column: Any, i: int) -> Any:
    if isinstance(column, list):
        return column[i]
    c = column[i].as_py()
    return "" if c is None else c


def _streamed_xlsx(src: str | Path, in_format: str | None) -> bool:
    """An .xlsx/.xlsm roster: read by the streaming reader, in blocks of columns."""
    from eligibility.io.xlsx_reader import is_xlsx

    return format_of(src, in_format) == "xlsx" and is_xlsx(src)


def _pipelined(blocks: Iterator[Any], fn: Callable[[Any], Any], depth: int = 2) -> Iterator[tuple[Any, Any]]:
    """(block, fn(block)) in order for blocks with columns, (block, None) for the others;
    up to `depth` column blocks are worked on at once in a small thread pool."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque[tuple[Any, Any]] = deque()
    with ThreadPoolExecutor(depth, thread_name_prefix="eligibility-csv") as pool:
        for block in blocks:
            pending.append((block, pool.submit(fn, block) if block.columns is not None else None))
            while len(pending) > depth or (pending and pending[0][1] is None):
                b, fut = pending.popleft()
                yield b, fut.result() if fut is not None else None
        while pending:
            b, fut = pending.popleft()
            yield b, fut.result() if fut is not None else None


def _tally(summary: Summary, state: str) -> None:
    summary.rows += 1
    if state == "error":
        summary.errors += 1
    elif state == "unknown":
        summary.unknown += 1
    else:
        summary.decided += 1


class CsvBlockWriter:
    """CSV text of a decided block, built column-wise: the cells of a row depend only on
    each outcome's (value, status, rule, assumption, missing facts), and a roster has few
    distinct combinations of those, so each combination's cells are formatted and quoted
    once and rows are joined in C. Byte for byte what the row writer writes (tested)."""

    def __init__(
        self, engine: Engine, entity: str | None, lang: str, german_numbers: bool, delimiter: str, lineterminator: str
    ) -> None:
        self.engine = engine
        self.ent = engine.entity(entity)
        self.lang = lang
        self.german_numbers = german_numbers
        self.delim = delimiter
        self.eol = lineterminator
        self.csv = CsvFormat(delimiter, lineterminator)
        self.reasons: dict[tuple[Any, ...], tuple[str, str]] = {}
        info = engine.info
        self.tail = self.delim + self.quote(f"{info.name} {info.version}") + self.delim + self.quote(info.sha256)

    def quote(self, text: str) -> str:
        return self.csv.quote(text)

    def quote_all(self, values: list[Any]) -> list[str]:
        texts = ["" if v is None else str(v) for v in values]
        if self.csv.needs_quoting(texts):
            texts = [self.csv.quote(t) for t in texts]
        return texts

    def block(self, table: Any, first: int) -> tuple[bytes, int, int]:
        """The block's lines in UTF-8 (each ending in the line terminator), its error and
        unknown counts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from eligibility.text.render import short_reason

        n = len(table)
        if n == 0:
            return b"", 0, 0
        # Rows with the same outcome state over all outcomes have the same cells.
        per_outcome, firsts, inverse = outcome_groups(table, self.ent.outcome_order)
        segs: list[str] = []
        unknown_combo = np.zeros(len(firsts), dtype=bool)
        for j, row in enumerate(firsts.tolist()):
            parts: list[str] = []
            missing: set[str] = set()
            for oid, (v, st, r, a, m) in per_outcome:
                value, status, rule = v.values[v.codes[row]], st.values[st.codes[row]], r.values[r.codes[row]]
                asm, miss = a.values[a.codes[row]], m.values[m.codes[row]]
                rkey = (
                    oid,
                    value if not isinstance(value, float) else repr(value),
                    type(value),
                    status,
                    rule,
                    asm,
                    tuple(miss),
                )
                hit = self.reasons.get(rkey)
                if hit is None:
                    cell = cell_value(value, status, self.lang, self.german_numbers)
                    reason = getattr(short_reason(self.ent, oid, value, status, rule, asm, miss), self.lang)
                    hit = self.reasons[rkey] = (self.quote("" if cell is None else str(cell)), self.quote(reason))
                parts += hit
                missing.update(miss)
                if status == "unknown":
                    unknown_combo[j] = True
            parts.append(self.quote(", ".join(sorted(missing))))
            segs.append(self.delim.join(parts))
        errors = table.codes("errors" if self.lang == "de" else "errors_en")
        err_texts = [self.quote(t) + self.tail + self.eol for t in errors.values.tolist()]
        has_error = np.array([bool(t) for t in errors.values.tolist()], dtype=bool)[errors.codes]
        # Ids are the input's text: neutralised against formula injection like every cell.
        ids = self.quote_all([None if v is None else neutralise(str(v)) for v in table.array("record_id").tolist()])
        # The lines are joined by Arrow in C++; the string array's data buffer is the text.
        lines = pc.binary_join_element_wise(
            pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.string()),
            pa.array(ids, type=pa.string()),
            pc.take(pa.array(segs, type=pa.string()), pa.array(inverse)),
            pc.take(pa.array(err_texts, type=pa.string()), pa.array(errors.codes)),
            self.delim,
        )
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        data = memoryview(lines.buffers()[2])[int(offsets[lines.offset]) : int(offsets[lines.offset + n])]
        unknown = int(np.count_nonzero(unknown_combo[inverse] & ~has_error))
        return bytes(data), int(np.count_nonzero(has_error)), unknown


def outcome_groups(table: Any, outcome_order: Sequence[str]) -> tuple[list[tuple[str, list[Any]]], Any, Any]:
    """A decision table's rows grouped by their state in every outcome (value, status, rule,
    assumption, missing facts): per outcome its coded columns, each group's first row, and
    each row's group. The writers format one row per group and repeat it."""
    n = len(table)
    per_outcome = []
    keys = []
    for oid in outcome_order:
        cs = [
            table.codes(name) for name in (oid, f"{oid}_status", f"{oid}_rule", f"{oid}_assumption", f"{oid}_missing")
        ]
        key = np.zeros(n, dtype=np.int64)
        for c in cs:
            key = key * max(1, len(c.values)) + c.codes
        per_outcome.append((oid, cs))
        keys.append(key)
    firsts, inverse = _group(keys)
    return per_outcome, firsts, inverse


def _group(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by equal keys in every column: each group's first row, and each row's
    group. Mixed-radix codes of the per-column groups while they fit in 62 bits."""
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    space = 1
    for key in keys:
        uniq, inverse = np.unique(key, return_inverse=True)
        space *= len(uniq)
        if space >= 1 << 62:
            _, firsts, inv = np.unique(np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True)
            return firsts, inv.reshape(-1)
        combined = combined * len(uniq) + inverse.reshape(-1)
    _, firsts, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return firsts, inverse.reshape(-1)


def _count(summary: Summary, decision: Decision | None) -> None:
    summary.rows += 1
    if decision is None or decision.errors:
        summary.errors += 1
    elif any(o.status == "unknown" for o in decision.outcomes.values()):
        summary.unknown += 1
    else:
        summary.decided += 1


def _chunks(rows: Iterator[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _table_rows(
    engine: Engine, chunk: list[InputRow], on: dt.date, entity: str | None, lang: str, german_numbers: bool, xlsx: bool
) -> Iterator[tuple[dict[str, Any], str]]:
    """Output rows of one chunk, in input order, from one batch-table evaluation."""
    from eligibility.text.render import short_reason

    ent = engine.entity(entity)
    chunk, table = decide_chunk(engine, chunk, on, entity)
    cols = table.columns
    de = lang == "de"
    ruleset = f"{engine.info.name} {engine.info.version}"
    row_col, id_col = ("zeile" if de else "row"), (ent.id_field or "id")
    missing_col, error_col = ("fehlende_angaben" if de else "missing"), ("fehler" if de else "errors")
    ruleset_col, sha_col = ("regelwerk" if de else "ruleset"), ("regelwerk_sha256" if de else "ruleset_sha256")
    errors_src = cols["errors"] if de else cols["errors_en"]
    # Per outcome: its columns once, and (cell, reason) memoised by what they depend on —
    # a roster has few distinct combinations of value, rule, assumption and missing facts.
    # (outcome, reason column, values, statuses, rules, missing, assumptions, memo)
    per_outcome: list[
        tuple[str, str, list[Any], list[Any], list[Any], list[Any], list[Any], dict[tuple[Any, ...], tuple[Any, str]]]
    ] = []
    for oid in ent.outcome_order:
        per_outcome.append(
            (
                oid,
                f"{oid}_{'grund' if de else 'reason'}",
                cols[oid],
                cols[f"{oid}_status"],
                cols[f"{oid}_rule"],
                cols[f"{oid}_missing"],
                cols[f"{oid}_assumption"],
                {},
            )
        )
    j = 0
    for row in chunk:
        if _unreadable(row):
            yield error_row(row, engine, entity, lang), "error"
            continue
        out: dict[str, Any] = {row_col: row.number, id_col: cols["record_id"][j] or ""}
        missing: set[str] = set()
        unknown = False
        for oid, reason_col, vals, stats, rules, misses, asms, memo in per_outcome:
            v, status, miss = vals[j], stats[j], misses[j]
            key = (v if not isinstance(v, float) else repr(v), type(v), status, rules[j], asms[j], tuple(miss))
            hit = memo.get(key)
            if hit is None:
                if xlsx and isinstance(v, (int, float)) and not isinstance(v, bool):
                    cell = v  # a number stays a number in Excel
                else:
                    cell = cell_value(v, status, lang, german_numbers)
                text = getattr(short_reason(ent, oid, v, status, rules[j], asms[j], miss), lang)
                hit = memo[key] = (cell, text)
            out[oid], out[reason_col] = hit
            if miss:
                missing.update(miss)
            if status == "unknown":
                unknown = True
        out[missing_col] = ", ".join(sorted(missing))
        errors = errors_src[j]
        out[error_col] = errors
        out[ruleset_col] = ruleset
        out[sha_col] = engine.info.sha256
        j += 1
        yield out, ("error" if errors else "unknown" if unknown else "decided")


@dataclasses.dataclass
class _Msg:
    de: str
    en: str


@dataclasses.dataclass
class _Issue:
    message: _Msg


@dataclasses.dataclass
class _Outcome:
    value: Any
    status: str
    missing: list[str]
    rule: str | None


@dataclasses.dataclass
class TableDecision:
    """A row of the batch table shaped like the parts of a `Decision` that counts need."""

    record_id: str | None
    outcomes: dict[str, _Outcome]
    errors: list[_Issue]

    @property
    def missing(self) -> list[str]:
        return sorted({f for o in self.outcomes.values() for f in o.missing})


def table_decisions(
    engine: Engine, rows: Iterator[InputRow], on: dt.date, entity: str | None = None, size: int = BATCH_ROWS
) -> Iterator[tuple[InputRow, TableDecision | None]]:
    """Like `evaluated_rows`, through the batch path: each input row with its outcome
    values (None for an unreadable row), in order, deciding a chunk at a time."""
    ent = engine.entity(entity)
    for chunk in _chunks(rows, size):
        chunk, table = decide_chunk(engine, chunk, on, entity)
        cols = table.columns
        j = 0
        for row in chunk:
            if _unreadable(row):
                yield row, None
                continue
            outcomes = {}
            for oid in ent.outcome_order:
                status = cols[f"{oid}_status"][j]
                v = cols[oid][j]
                if status == "value":
                    status = "yes" if v is True else "no" if v is False else "value"
                outcomes[oid] = _Outcome(v, status, cols[f"{oid}_missing"][j], cols[f"{oid}_rule"][j])
            errs = (
                [
                    _Issue(_Msg(de, en))
                    for de, en in zip(cols["errors"][j].split("; "), cols["errors_en"][j].split("; "))
                ]
                if cols["errors"][j]
                else []
            )
            yield row, TableDecision(cols["record_id"][j], outcomes, errs)
            j += 1


def count_rows(path: str | Path) -> int | None:
    """Data rows of a CSV or JSON lines file (physical lines minus the header), for the
    progress bar; None for other formats."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".txt", ".jsonl", ".ndjson"):
        return None
    with open(path, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(0, lines - (1 if suffix in (".csv", ".txt") else 0))


def progress_line(done: int, total: int | None, rate: float, width: int = 30) -> str:
    """One line of the progress display: a bar with percentage when the total is known."""
    count = f"{done:,}".replace(",", ".")
    speed = f"{rate:,.0f}".replace(",", ".")
    if not total:
        return f"{count} Zeilen ({speed}/s)"
    share = min(1.0, done / total)
    filled = int(round(share * width))
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share * 100:5.1f} %  {count} von {total:,}".replace(",", ".")
        + f" Zeilen ({speed}/s)"
    )


def terminal_progress(path: str | Path | None = None, stream: Any = None) -> Callable[[int], None] | None:
    """A progress bar on a terminal (stderr), nothing on a pipe or file."""
    out = stream if stream is not None else sys.stderr
    if stream is None and not out.isatty():
        return None
    total = count_rows(path) if path is not None else None
    last = [0.0]
    start = time.perf_counter()

    def tick(n: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.2 or (total and n >= total):
            last[0] = now
            out.write("\r" + progress_line(n, total, n / max(now - start, 1e-9)))
            out.flush()

    return tick


def _evaluate_to_xlsx(
    engine: Engine,
    src: str | Path,
    on: dt.date,
    out: str | Path,
    entity: str | None,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    progress: Callable[[int], None] | None,
    keep: Sequence[str],
    codes: bool,
    started: float,
    source_name: str,
) -> Summary:
    """The caseworker XLSX: chunks through the batch table, one sheet row per input row."""
    from eligibility.io.xlsx_result import CaseworkerResult, parse_keep
    from eligibility.text.render import short_reason

    ent = engine.entity(entity)
    kept = parse_keep(list(keep), ent.facts, ent.id_field)
    if format_of(src, in_format) == "csv":
        # Plain CSV blocks come as Arrow columns (the fast reader), the others as rows.
        info, blocks = read_csv_blocks(src, ent.facts, encoding, delimiter, BATCH_ROWS)
    elif _streamed_xlsx(src, in_format):
        # .xlsx rows come as columns of typed cells, decided like CSV's Arrow blocks.
        info, blocks = read_xlsx_blocks(src, ent.facts, sheet, BATCH_ROWS)
    else:
        info, rows = read_roster(src, ent.facts, in_format, encoding, delimiter, sheet)
        blocks = (Block(c[0].number, len(c), rows=c) for c in _chunks(rows, BATCH_ROWS))
    headers = {fact: header for header, fact in info.columns.items()} if info.format != "jsonl" else {}
    result = CaseworkerResult(
        out, engine, entity, kept, codes, on, source_name, headers, row_offset=0 if info.format == "jsonl" else 1
    )
    memo: dict[tuple[Any, ...], str] = {}

    def reason_of(oid: str, v: Any, status: str, rule: Any, asm: Any, miss: list[str]) -> str:
        key = (oid, v if not isinstance(v, float) else repr(v), type(v), status, rule, asm, tuple(miss))
        text = memo.get(key)
        if text is None:
            text = memo[key] = short_reason(ent, oid, v, status, rule, asm, miss).de
        return text

    try:
        for block in blocks:
            table = None
            if block.columns is not None:
                try:
                    table = engine.decide_table(block.columns, on, entity=entity)
                except (ValueError, OverflowError):
                    table = None  # a record the engine cannot decide: this block row by row
            entries: list[tuple[int, Sequence[Any], Any, str | None]]
            if table is not None:
                cols = block.columns
                assert cols is not None  # a table is decided only from a block's columns
                kept_cols = [_pylist(cols[f]) if f in cols else [None] * block.n for f in kept]

                def record_at(i: int, cols: Any = cols) -> dict[str, Any]:
                    return {k: _cell_at(v, i) for k, v in cols.items()}

                entries = list(
                    zip(
                        range(block.first, block.first + block.n),
                        zip(*kept_cols) if kept_cols else [()] * block.n,
                        range(block.n),
                        [None] * block.n,
                    )
                )
                result.write_table(table, entries, reason_of, record_at)
            else:
                chunk, table = decide_chunk(engine, _block_rows(block), on, entity)
                entries = [
                    (
                        r.number,
                        [(r.record or {}).get(f) for f in kept],
                        r.record,
                        (r.error or "") if _unreadable(r) else None,
                    )
                    for r in chunk
                ]
                result.write_table(table, entries, reason_of)
            if progress is not None:
                progress(result.rows)
    finally:
        result.close(info.ignored)
    summary = Summary(rows=result.rows, decided=result.decided, unknown=result.unknown, errors=result.errors, info=info)
    summary.seconds = time.perf_counter() - started
    return summary

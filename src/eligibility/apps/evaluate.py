"""`eligibility evaluate`: a whole roster through the engine, streaming, one row out
per row in, with a summary at the end."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from eligibility.apps.result_rows import (
    CsvBlockWriter,
    TableDecision,
    _Issue,
    _Msg,
    _Outcome,
    _record_id,
    _unreadable,
    cell_value,
    columns_for,
    error_row,
    german_headers,
    undecidable,
)
from eligibility.decision.model import Decision
from eligibility.engine import Engine
from eligibility.io.rosters import Block, InputRow, RosterInfo, RosterWriter, format_of, read_csv_blocks, read_roster
from eligibility.io.xlsx_reader import read_xlsx_blocks


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

                result.write_columns(table, block.first, kept_cols, reason_of, record_at)
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

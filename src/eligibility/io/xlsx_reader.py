"""Rosters from .xlsx/.xlsm sheets, streamed: the sheet with the best header, its rows one
by one (`read_xlsx`) or in blocks of columns for the batch path (`read_xlsx_blocks`), a large
sheet parsed by a child process while this one decides and writes. The sheet XML itself is
parsed by `xlsx_sheet` (flat memory, calamine's cells)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections.abc import Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from eligibility.io.headers import SCAN_ROWS, Header, find_header
from eligibility.io.roster_rows import Block, InputRow, RosterInfo, _info_of
from eligibility.io.xlsx_sheet import (
    Workbook as Workbook,
)
from eligibility.io.xlsx_sheet import (
    XlsxError as XlsxError,
)
from eligibility.io.xlsx_sheet import (
    _unreadable,
)
from eligibility.source.model import FactSpec

# ---------------------------------------------------------------- rosters


@dataclasses.dataclass(frozen=True)
class Opened:
    """A sheet chosen by its header: the rows read to find it (at least SCAN_ROWS, whole
    lists of `Workbook.row_lists`) and the lists of rows to come."""

    workbook: Workbook
    name: str
    header: Header
    head: list[tuple[int, list[Any]]]
    rest: Generator[list[tuple[int, list[Any]]], None, None]


def open_roster(path: str, facts: Mapping[str, FactSpec], sheet: str | None = None) -> Opened | None:
    """The workbook's sheet with the best header (or `sheet`), None if no sheet has one."""
    wb = Workbook(path)
    names = wb.sheet_names
    if sheet is not None and sheet not in names:
        wb.close()
        raise ValueError(f"Tabellenblatt „{sheet}“ gibt es nicht; die Datei hat: " + ", ".join(f"„{n}“" for n in names))
    chosen: Opened | None = None
    try:
        for name in [sheet] if sheet is not None else names:
            it = wb.row_lists(name)
            head: list[tuple[int, list[Any]]] = []
            for batch in it:
                head.extend(batch)
                if len(head) >= SCAN_ROWS:
                    break
            h = find_header([r for _, r in head[:SCAN_ROWS]], facts)
            if h is not None and (chosen is None or h.score > chosen.header.score):
                if chosen is not None:
                    chosen.rest.close()
                chosen = Opened(wb, name, h, head, it)
            else:
                it.close()
    except BaseException:
        wb.close()
        raise
    if chosen is None:
        wb.close()
    return chosen


def data_rows(opened: Opened) -> Iterator[tuple[int, list[Any]]]:
    """The rows below the header, with their sheet row numbers."""
    h = opened.header
    yield from opened.head[h.index + h.height :]
    for batch in opened.rest:
        yield from batch


def data_row_lists(opened: Opened) -> Iterator[list[tuple[int, list[Any]]]]:
    """The same rows in lists (the block path's input)."""
    h = opened.header
    yield opened.head[h.index + h.height :]
    yield from opened.rest


def _blank(row: list[Any]) -> bool:
    first = row[0]
    if first.__class__ is not str or first.strip():
        return False  # the usual row: settled by its first cell
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


def read_xlsx(
    path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None = None
) -> tuple[RosterInfo, Iterator[InputRow]]:
    """The roster of an .xlsx sheet row by row, as `rosters.read_xlsx` gives it."""
    opened, info = _open(path, facts, sheet)
    if opened is None:
        return info, iter(())
    mapping = dict(opened.header.mapping)
    width = len(opened.header.names)

    def rows() -> Iterator[InputRow]:
        try:
            number = 0
            for sheet_row, row in data_rows(opened):
                if not row or _blank(row):
                    continue
                number += 1
                if len(row) < width:
                    row = row + [""] * (width - len(row))
                yield InputRow(number, {fact: row[i] for i, fact in mapping.items()}, line=sheet_row)
        finally:
            opened.workbook.close()

    return info, rows()


# A sheet larger than this (uncompressed XML; ~550,000 roster rows) is parsed in a second
# process while this one decides and writes. With the C scanner the parse is a fraction of
# deciding and writing, and the child's fixed costs (an interpreter, the shared strings read a
# second time, pickling every block) outweigh the overlap below this: at 10^5 rows (44 MB)
# in-process is 1.3-1.8 s faster, at 10^6 (472 MB) the two are even under load and the
# child ahead on two free cores (bench/RESULTS.md, issue 13, session 7).
PARALLEL_BYTES = 256 << 20


def read_xlsx_blocks(
    path: str | Path,
    facts: Mapping[str, FactSpec],
    sheet: str | None = None,
    block_rows: int = 20_000,
    parallel: bool | None = None,
) -> tuple[RosterInfo, Iterator[Block]]:
    """The same rows in blocks of columns (fact -> cells) for the batch path. With
    `parallel` (default: for a sheet over PARALLEL_BYTES) the rows below the header are
    parsed by a child process and handed over block by block (at most two waiting)."""
    opened, info = _open(path, facts, sheet)
    if opened is None:
        return info, iter(())
    mapping = sorted(opened.header.mapping.items())
    width = max([len(opened.header.names)] + [i + 1 for i, _ in mapping])
    dates = sorted(f for _, f in mapping if facts[f].type == "date")
    if parallel is None and os.environ.get("ELIGIBILITY_XLSX_PROCESS") in ("0", "1"):
        parallel = os.environ["ELIGIBILITY_XLSX_PROCESS"] == "1"  # for benchmarks: force it off or on
    if parallel is None:
        member = next(s.member for s in opened.workbook.sheets if s.name == opened.name)
        parallel = opened.workbook.zip.getinfo(member).file_size > PARALLEL_BYTES
    if parallel:
        skip = opened.header.index + opened.header.height
        opened.rest.close()
        opened.workbook.close()
        return info, _from_child(str(path), opened.name, skip, mapping, width, block_rows, dates)

    def blocks() -> Iterator[Block]:
        try:
            for first, n, columns in _column_blocks(data_row_lists(opened), mapping, width, block_rows, dates):
                yield Block(first, n, columns=columns)
        finally:
            opened.workbook.close()

    return info, blocks()


def _column_blocks(
    batches: Iterable[list[tuple[int, list[Any]]]],
    mapping: list[tuple[int, str]],
    width: int,
    block_rows: int,
    dates: Iterable[str] = (),
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(first row number, rows, fact -> cells) per block of `block_rows` rows (the last one
    fewer), from lists of sheet rows; blank rows are no rows. A date fact's column of date cells
    and empty cells only is an Arrow date32 array (empty = null), which the batch path reads in
    C; any other column is the list of its cells."""
    pad = [""] * width
    date_facts = set(dates)

    def flush(first: int, chunk: list[list[Any]]) -> tuple[int, int, dict[str, Any]]:
        # Rows are cut or padded to the header's width and turned into columns in C.
        cols = list(zip(*chunk))
        out: dict[str, Any] = {}
        for i, fact in mapping:
            cells = list(cols[i])
            out[fact] = _date_array(cells) if fact in date_facts else cells
        return first, len(chunk), out

    number = 0  # roster rows given in blocks so far
    chunk: list[list[Any]] = []
    for batch in batches:
        # One comprehension per list of rows: `_blank`'s first test inline (the usual row is
        # settled by its first cell), then cut or padded to the width.
        chunk += [
            row if len(row) == width else row[:width] if len(row) > width else row + pad[len(row) :]
            for _, row in batch
            if row and (row[0].__class__ is not str or row[0].strip() or not _blank(row))
        ]
        while len(chunk) >= block_rows:
            yield flush(number + 1, chunk[:block_rows])
            number += block_rows
            del chunk[:block_rows]
    if chunk:
        yield flush(number + 1, chunk)


def _skip(batches: Iterable[list[tuple[int, list[Any]]]], skip: int) -> Iterator[list[tuple[int, list[Any]]]]:
    """The lists of rows without their first `skip` rows."""
    for batch in batches:
        if skip >= len(batch):
            skip -= len(batch)
            continue
        yield batch[skip:] if skip else batch
        skip = 0


class _NotDate(Exception):
    """A cell of a date column that is neither a date nor empty."""


def _not_date() -> Any:
    raise _NotDate


def _date_array(cells: list[Any]) -> Any:
    """The cells as an Arrow date32 array if each is a date or empty (""): for
    `records.convert_value` "" and None are the same empty cell, so the batch path answers
    the same; else the list itself (typed text, a time, a number: read cell by cell). One pass
    over the cells: a date is taken by its class alone, only the others are compared."""
    date = dt.date
    try:
        days = [c if c.__class__ is date else None if c == "" else _not_date() for c in cells]
    except _NotDate:
        return cells
    import pyarrow as pa

    return pa.array(days, type=pa.date32())


def _child(
    path: str, name: str, skip: int, mapping: list[tuple[int, str]], width: int, block_rows: int, dates: list[str]
) -> None:
    """The child process: parse the sheet and write its blocks to stdout as pickled frames,
    then ("end", None); a failure is one ("error", German message) frame."""
    import gc

    # The parse makes millions of short-lived tuples and lists (findall's matches, rows) and
    # no reference cycle: the cyclic collector would only scan them again and again, ~18%
    # of this process's time at 10^5 rows (bench/RESULTS.md, issue 13, session 5).
    # Reference counting frees everything as before, so memory stays flat.
    gc.disable()
    out = sys.stdout.buffer

    def frame(obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(struct.pack("<Q", len(data)))
        out.write(data)

    try:
        wb = Workbook(path)
        try:
            for block in _column_blocks(_skip(wb.row_lists(name), skip), mapping, width, block_rows, dates):
                frame(("block", block))
        finally:
            wb.close()
        frame(("end", None))
    except XlsxError as exc:
        frame(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - any failure reaches the parent as a German error
        frame(("error", str(_unreadable(type(exc).__name__))))
    out.flush()


def _from_child(
    path: str, name: str, skip: int, mapping: list[tuple[int, str]], width: int, block_rows: int, dates: list[str]
) -> Iterator[Block]:
    """Blocks parsed by a child interpreter (`python -m eligibility.io.xlsx_reader`), read from
    its stdout. A plain subprocess, not multiprocessing: nothing of the caller's __main__ is
    imported again, and the pipe's buffer bounds what is in flight (memory stays flat)."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = json.dumps([path, name, skip, mapping, width, block_rows, dates])
    proc = subprocess.Popen(
        [sys.executable, "-m", "eligibility.io.xlsx_reader", args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # no traceback with a cell's value on the user's terminal
        env=env,
    )
    assert proc.stdout is not None
    pipe = proc.stdout
    try:
        while True:
            head = pipe.read(8)
            if len(head) < 8:
                raise _unreadable("Leseprozess beendet")
            data = pipe.read(struct.unpack("<Q", head)[0])
            kind, payload = pickle.loads(data)
            if kind == "end":
                break
            if kind == "error":
                raise XlsxError(payload)
            first, n, columns = payload
            yield Block(first, n, columns=columns)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()  # the consumer stopped early: end the child this started
            proc.wait()
        pipe.close()


def _open(path: str | Path, facts: Mapping[str, FactSpec], sheet: str | None) -> tuple[Opened | None, RosterInfo]:
    opened = open_roster(str(path), facts, sheet)
    if opened is None:
        return None, RosterInfo("xlsx", sheet=sheet)
    _, info = _info_of(opened.header, "xlsx")
    info.german = True
    info.sheet = opened.name
    return opened, info


def is_xlsx(path: str | Path) -> bool:
    """An Office Open XML workbook (.xlsx, .xlsm) by its content, whatever its name:
    a zip with an XML workbook part (.xlsb holds a binary one, .ods no workbook part)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
        with zipfile.ZipFile(path) as z:
            return any(n.lower().endswith("workbook.xml") for n in z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


if __name__ == "__main__":
    path_, name_, skip_, mapping_, width_, rows_, dates_ = json.loads(sys.argv[1])
    _child(path_, name_, skip_, [(int(i), str(f)) for i, f in mapping_], width_, rows_, dates_)

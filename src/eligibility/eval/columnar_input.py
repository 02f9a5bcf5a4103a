"""The batch path's input: a roster's cells as typed fact columns (`Columns`), each read once
per distinct cell with the per-record path's own conversion, and the table forms accepted
(dicts of lists, Arrow, polars, pandas, row dicts)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import numpy as np

from eligibility.compile.ir import CompiledEntity
from eligibility.decision.records import FieldError, convert_value
from eligibility.eval import native
from eligibility.lang.values import UNKNOWN, ordinal
from eligibility.source.model import FactSpec

_EPOCH = dt.date(1970, 1, 1).toordinal()


@dataclasses.dataclass
class Col:
    val: np.ndarray
    known: np.ndarray
    # uint64 bitmask of facts, meaningful where not known; None when not tracked. A fact's own
    # column holds its one bit as a scalar (numpy broadcasts it): no array of n equal masks.
    miss: np.ndarray | np.uint64 | None
    asm: Any = False  # does the value rest on an assumption (scalar False or a bool array)
    # A fact column read from distinct cells: val == uniq[codes]; tests against a constant
    # are made once per distinct value.
    codes: np.ndarray | None = None
    uniq: np.ndarray | None = None
    scalar: Any = None  # the value, for a column that is one constant (a literal, a parameter)


# ---------------------------------------------------------------- input columns


class Columns:
    """Typed fact columns of a batch. Each column is dictionary-encoded (by Arrow, in C) and
    every distinct cell is converted once by `records.convert_value`, the per-record path's
    own conversion: a roster repeats the same dates and codes over and over, and one
    conversion function keeps one semantics. Columns no rule reads are only validated."""

    def __init__(
        self,
        ent: CompiledEntity,
        records: list[Mapping[str, Any]] | None = None,
        columns: Mapping[str, Any] | None = None,
        used: set[str] | None = None,
        memo: dict[str, dict[Any, tuple[Any, bool, Any]]] | None = None,
    ) -> None:
        self.ent = ent
        # Conversions of distinct cells, kept across the chunks of a roster and across calls.
        self.memo = {} if memo is None else memo
        self.used = set(ent.facts) if used is None else used
        self.bits = {name: np.uint64(1 << i) for i, name in enumerate(ent.facts) if i < 64}
        self.columns: dict[str, Col] = {}
        # Text columns kept as the Arrow arrays they came in as: the id, when no rule reads it.
        self.texts: dict[str, Any] = {}
        # Sparse: row -> messages; most rows have none.
        self.errors: dict[int, list[str]] = {}
        self.error_en: dict[int, list[str]] = {}
        if columns is not None:
            lengths = {len(v) for v in columns.values()}
            if len(lengths) > 1:
                raise ValueError("all columns of a table must have the same length")
            self.n = lengths.pop() if lengths else 0
            for name, spec in ent.facts.items():
                self._add(name, spec, columns.get(name, None))
            return
        assert records is not None
        self.n = len(records)
        if self._read_native(records):  # every row a plain dict: no row is asked in Python
            return
        # A row that is not a mapping has no facts: every fact is unknown, and it says so.
        # Plain dicts (the usual case) are told apart in C; only other rows are asked one by one.
        bad = (
            []
            if set(map(type, records)) <= {dict}
            else [i for i, r in enumerate(records) if not isinstance(r, Mapping)]
        )
        if bad:
            records = [rec if isinstance(rec, Mapping) else {} for rec in records]
            for i in bad:
                self.errors.setdefault(i, []).append("Datensatz ist kein Objekt mit Feldern")
                self.error_en.setdefault(i, []).append("record is not an object with fields")
        if bad and self._read_native(records):
            return
        names = [name for name in ent.facts if records and name in records[0]]
        try:
            # Records with the same keys (the usual case) are transposed in C.
            cells = _transpose(records, names) if len(names) > 1 else None
        except KeyError:
            cells = None
        for name, spec in ent.facts.items():
            if cells is not None and name in cells:
                self._add(name, spec, cells[name])
            else:
                self._add(name, spec, [rec.get(name, _MISSING) for rec in records])

    def _read_native(self, records: list[Mapping[str, Any]]) -> bool:
        """The columns from row dicts read once, in C (`_factorize.c`): per fact its distinct
        cells and each row's code, which then take the same conversion as every other input;
        free text as its cells. False (nothing done) where the extension is not there or a
        row is not exactly a dict."""
        module = native.factorize
        if module is None:
            return False
        facts = self.ent.facts
        free = tuple(name for name, spec in facts.items() if _is_free_text(spec))
        factor = tuple(name for name in facts if name not in free)
        out = module.factorize(records, factor, free, _MISSING)
        if out is None:
            return False
        parts = dict(zip(factor + free, out))
        for name, spec in facts.items():
            part = parts[name]
            if part is None:  # a cell Python cannot hash: keyed by its repr in `_add`
                self._add(name, spec, [rec.get(name, _MISSING) for rec in records])
            elif name in free:
                cells, odd = part
                self._add_text(name, self._free_text(name, cells, odd))
            else:
                distinct, codes = part
                self._add_distinct(name, spec, distinct, np.frombuffer(codes, dtype=np.int64))
        return True

    def _add_distinct(self, name: str, spec: FactSpec, distinct: list[Any], idx: np.ndarray) -> None:
        """One fact's column from its distinct cells (in order of first appearance) and each
        row's code. Date texts take `_date_texts` as Arrow's dictionary would give them: the
        texts, and the empty cell one past the end."""
        if spec.type == "date" and set(map(type, distinct)) <= {str, type(None)}:
            import pyarrow as pa

            texts = [d for d in distinct if d is not None]
            if len(texts) < len(distinct):
                at = next(i for i, d in enumerate(distinct) if d is None)
                move = np.arange(len(distinct), dtype=np.int64)
                move[at] = len(texts)
                move[at + 1 :] -= 1
                idx = move[idx]
            if self._date_texts(name, spec, pa.array(texts, pa.string()), idx):
                return
        self._from_distinct(name, spec, distinct, idx)

    def _add_text(self, name: str, col: Col | None) -> None:
        if col is not None:
            col.miss = self.bits.get(name, np.uint64(0))
            self.columns[name] = col

    def take(self, rows: np.ndarray) -> Columns:
        """The same columns for a subset of rows (field errors are not carried)."""
        sub = copy.copy(self)
        sub.n = len(rows)
        sub.columns = {
            name: Col(c.val[rows], c.known[rows], c.miss[rows] if isinstance(c.miss, np.ndarray) else c.miss)
            for name, c in self.columns.items()
        }
        sub.errors, sub.error_en = {}, {}
        return sub

    def _add(self, name: str, spec: FactSpec, raws: Any) -> None:
        """One fact's column; `raws` is a list of Python cells, an Arrow array, or None
        when the table has no such column (every cell missing: unknown)."""
        bit = self.bits.get(name, np.uint64(0))
        if raws is None:
            if name in self.used or name == self.ent.id_field:
                vals = (
                    np.full(self.n, None, dtype=object)
                    if spec.type in ("text", "list")
                    else np.zeros(self.n, dtype=bool if spec.type == "bool" else np.int64)
                )
                self.columns[name] = Col(vals, np.zeros(self.n, dtype=bool), bit)
            return
        if _is_free_text(spec):
            self._add_text(name, self._free_text(name, raws))
            return
        if spec.type == "date" and _is_date32(raws):
            self._dates(name, spec, raws)
            return
        encoded = _encode(raws)
        if encoded is None:  # mixed or unusual cells: hash them in Python
            raws = _as_list(raws)
            # Keyed with their type: True, 1 and 1.0 are equal in Python but not as cells
            # ("1.0" is no yes/no answer). An unhashable cell (a list or dict in a JSON
            # record) is keyed by its repr.
            keys = [(type(r), r if _hashable(r) else repr(r)) for r in raws]
            position: dict[Any, int] = {}
            distinct: list[Any] = []
            for key, raw in zip(keys, raws):
                if key not in position:
                    position[key] = len(distinct)
                    distinct.append(raw)
            idx = np.fromiter(map(position.__getitem__, keys), dtype=np.int64, count=self.n)
        else:
            dictionary, idx = encoded
            if spec.type == "date" and self._date_texts(name, spec, dictionary, idx):
                return
            distinct = dictionary.to_pylist() + [None]
        self._from_distinct(name, spec, distinct, idx)

    def _from_distinct(self, name: str, spec: FactSpec, distinct: list[Any], idx: np.ndarray) -> None:
        kind = spec.type
        values, known, errs = self._convert(name, spec, distinct)
        if kind in ("bool", "date", "enum", "int", "decimal"):
            dtype = {"bool": bool, "decimal": np.float64}.get(kind, np.int64)
            filler: Any = {"bool": False, "date": 0, "enum": -1, "int": 0, "decimal": 0.0}[kind]
            u_vals = np.array([filler if v is None else v for v in values], dtype=dtype)
        else:
            u_vals = np.empty(len(values), dtype=object)
            u_vals[:] = values
        self._store(name, u_vals, np.array(known, dtype=bool), idx, errs)

    def _convert(self, name: str, spec: FactSpec, distinct: list[Any]) -> tuple[list[Any], list[bool], dict[int, Any]]:
        """Distinct cells by the per-record path's conversion (memoised): their column values
        (None where unknown), known flags and field errors by position."""
        values: list[Any] = []
        known: list[bool] = []
        errs: dict[int, FieldError] = {}
        memo = self.memo.setdefault(name, {})
        for i, raw in enumerate(distinct):
            if raw is _MISSING:
                values.append(None)
                known.append(False)
                continue
            key = (type(raw), raw) if _hashable(raw) else None
            hit = memo.get(key) if key is not None else None
            if hit is None:
                hit = _typed(name, spec, raw)
                if key is not None and len(memo) < _MEMO_LIMIT:
                    memo[key] = hit
            values.append(hit[0])
            known.append(hit[1])
            if hit[2] is not None:
                errs[i] = hit[2]
        return values, known, errs

    def _store(self, name: str, u_vals: np.ndarray, u_known: np.ndarray, idx: np.ndarray, errs: dict[int, Any]) -> None:
        """A column from its distinct values and each row's index into them; the field
        errors of distinct cells go to every row that holds one."""
        if errs:
            for row in np.flatnonzero(np.isin(idx, list(errs))).tolist():
                err = errs[int(idx[row])]
                self.errors.setdefault(row, []).append(err.de)
                self.error_en.setdefault(row, []).append(err.en)
        if name not in self.used and name != self.ent.id_field:
            return  # validated; no rule reads it
        bit = self.bits.get(name, np.uint64(0))
        self.columns[name] = Col(u_vals[idx], u_known[idx], bit, codes=idx, uniq=u_vals)

    def _date_texts(self, name: str, spec: FactSpec, dictionary: Any, idx: np.ndarray) -> bool:
        """A date column of texts: the distinct texts in the two plain forms `records.parse_date`
        reads (YYYY-MM-DD, DD.MM.YYYY with two-digit day and month) become day numbers by
        Arrow in C++ (refusing, like `dt.date`, days that do not
        exist); every other distinct text, and days outside the computable calendar, take
        `convert_value` as before."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from eligibility.decision.records import LATEST_DATE

        if not pa.types.is_string(dictionary.type):
            return False
        iso = pc.match_substring_regex(dictionary, _ISO_TEXT)
        german = pc.match_substring_regex(dictionary, _GERMAN_TEXT)
        plain = pc.or_(iso, german)
        stamps = pc.if_else(
            german,
            pc.strptime(dictionary, format="%d.%m.%Y", unit="s", error_is_null=True),
            pc.strptime(dictionary, format="%Y-%m-%d", unit="s", error_is_null=True),
        )
        # strptime rolls a day that does not exist over (2015-02-29 → 03-01): a text is a day
        # only where its day of the month is the day written.
        written = pc.if_else(
            german, pc.utf8_slice_codeunits(dictionary, 0, 2), pc.utf8_slice_codeunits(dictionary, 8, 10)
        )
        written = pc.if_else(plain, written, "0").cast(pa.int64())
        exact = pc.equal(pc.day(stamps), written)
        plain = pc.fill_null(pc.and_(plain, exact), False).to_numpy(zero_copy_only=False)
        n = len(dictionary)
        u_vals = np.zeros(n + 1, dtype=np.int64)
        days = pc.fill_null(stamps.cast(pa.date32()).cast(pa.int32()), 0)
        u_vals[:n] = days.to_numpy(zero_copy_only=False).astype(np.int64) + _EPOCH
        fast = np.zeros(n + 1, dtype=bool)
        fast[:n] = plain & (u_vals[:n] >= 1) & (u_vals[:n] <= LATEST_DATE.toordinal())
        u_known = fast.copy()
        # The rest (other forms, unknown words, empty cells, the null slot at the end) as the
        # record path reads them.
        slow = np.flatnonzero(~fast)
        cells = dictionary.take(pa.array(slow[slow < n])).to_pylist() + [None]
        values, known, slow_errs = self._convert(name, spec, cells)
        for j, i in enumerate(slow.tolist()):
            u_vals[i] = 0 if values[j] is None else values[j]
            u_known[i] = known[j]
        self._store(name, u_vals, u_known, idx, {int(slow[j]): e for j, e in slow_errs.items()})
        return True

    def _dates(self, name: str, spec: FactSpec, raws: Any) -> None:
        """An Arrow date column: day numbers are ordinals already; an empty cell means
        what it means in a record (the event has not happened, or unknown)."""

        from eligibility.decision.records import LATEST_DATE

        arr = _one_array(raws)
        n, offset = len(arr), arr.offset
        # The day numbers straight from the data buffer (date32 is int32 days since 1970); an
        # empty cell's slot holds anything, so the validity bitmap decides. Selections are
        # np.where, not boolean indexing: empty cells are scattered, and a masked copy
        # branches on every row.
        days = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + offset)[offset:]
        vals = days.astype(np.int64)
        vals += _EPOCH
        valid: np.ndarray | None = None
        if arr.null_count:
            bitmap = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
            valid = np.unpackbits(bitmap, count=n + offset, bitorder="little")[offset:].view(bool)
        if n == arr.null_count:
            lo, hi = 1, 0
        elif valid is None:
            lo, hi = int(vals.min()), int(vals.max())
        else:
            lo = int(np.where(valid, vals, np.int64(np.iinfo(np.int64).max)).min())
            hi = int(np.where(valid, vals, np.int64(np.iinfo(np.int64).min)).max())
        # Date arithmetic on a column is done once per distinct day (see `call`): with every
        # day in the calendar and their span no wider than the column, the span itself is the
        # dictionary (day d has code d - lo) and nothing is hashed. Otherwise (a few rows
        # spread over centuries, days before year 1) Arrow encodes the distinct days.
        if lo < 1 or hi - lo >= max(n, 1024):
            self._dates_encoded(name, spec, arr)
            return
        empty, empty_known, _ = _typed(name, spec, None)
        late_day = LATEST_DATE.toordinal()
        late = vals > late_day if hi > late_day else None
        if late is not None:
            self._late_days(name, np.flatnonzero(late if valid is None else late & valid))
        if name not in self.used and name != self.ent.id_field:
            return
        span = hi - lo + 1
        u_vals = np.arange(lo, hi + 2, dtype=np.int64)
        u_vals[span] = empty if empty is not None else 0
        # int32 codes (the column's own width): every gather through them reads half the bytes.
        codes = days - np.int32(lo - _EPOCH)
        known = np.ones(n, dtype=bool) if late is None else ~late
        if valid is not None:
            codes = np.where(valid, codes, np.int32(span))
            vals = np.where(valid, vals, u_vals[span])
            known = np.where(valid, known, bool(empty_known))
        self.columns[name] = Col(vals, known, self.bits.get(name, np.uint64(0)), codes=codes, uniq=u_vals)

    def _late_days(self, name: str, rows: np.ndarray) -> None:
        """A day past the computable calendar is the record path's field error (convert_value)."""
        from eligibility.decision.records import LATEST_DATE, _in_calendar

        err = _in_calendar(name, LATEST_DATE + dt.timedelta(days=1))[1]
        assert err is not None
        for row in rows.tolist():
            self.errors.setdefault(row, []).append(err.de)
            self.error_en.setdefault(row, []).append(err.en)

    def _dates_encoded(self, name: str, spec: FactSpec, arr: Any) -> None:
        """`_dates` for days spread wider than the column: dictionary-encoded by Arrow."""
        import pyarrow as pa

        from eligibility.decision.records import LATEST_DATE

        empty, empty_known, _ = _typed(name, spec, None)
        dictionary, idx = _dictionary_codes(arr)
        days = dictionary.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64) + _EPOCH
        late = np.flatnonzero(days > LATEST_DATE.toordinal())
        if len(late):
            self._late_days(name, np.flatnonzero(np.isin(idx, late)))
        if name not in self.used and name != self.ent.id_field:
            return
        u_vals = np.append(days, empty if empty is not None else 0)
        u_known = np.append(np.ones(len(days), dtype=bool), empty_known)
        u_known[late] = False
        self.columns[name] = Col(
            u_vals[idx],
            u_known[idx],
            self.bits.get(name, np.uint64(0)),
            codes=idx,
            uniq=u_vals,
        )

    def _free_text(self, name: str, raws: Any, odd: list[int] | None = None) -> Col | None:
        """Free text (ids, names of places): every value is its own answer; no memo. Only
        the id and columns that rules read keep their values; a text cell cannot be wrong
        unless it is a list or an object. `odd`, with a list of cells read from row dicts in
        C, holds the rows whose cell is not a plain text (every other one is a str that
        strip() leaves as it is): only those take the expression below, no trip through Arrow."""
        import pyarrow as pa

        keep = name in self.used or name == self.ent.id_field
        if odd is not None:
            return self._text_cells(name, raws, odd, keep)
        if not keep and isinstance(raws, list) and not any(issubclass(t, (dict, list)) for t in set(map(type, raws))):
            return None  # no cell can be wrong (told by their types, in C) and no rule reads them
        arr = _arrow(raws)
        if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_null(arr.type)):
            if not keep:
                return None
            if pa.types.is_null(arr.type):
                none = np.full(self.n, None, dtype=object)
                return Col(none, np.zeros(self.n, dtype=bool), None)
            # Cells Python's strip() might change (or empty ones) are read exactly, in Python.
            suspects = np.flatnonzero(_strip_suspects(arr))
            cells = arr.take(suspects).to_pylist()
            exact = all(v is None or (v and v.strip() == v) for v in cells)
            if exact and name == self.ent.id_field and name not in self.used:
                # Only the result's id column reads it: it stays Arrow (columnar_table.Texts).
                self.texts[name] = arr
                return None
            vals = arr.to_numpy(zero_copy_only=False)
            for i, v in zip(suspects.tolist(), cells):
                if v is not None:
                    vals[i] = v.strip() or None
            return Col(vals, vals != None, None)  # noqa: E711 - elementwise on an object array
        cells = _as_list(raws)
        return self._text_cells(name, cells, range(len(cells)), keep)

    def _text_cells(self, name: str, cells: list[Any], odd: Any, keep: bool) -> Col | None:
        """A free-text column from its cells, where only the rows in `odd` may hold anything
        but a text that strip() leaves as it is."""
        for i in odd:
            if isinstance(cells[i], (dict, list)):
                self.errors.setdefault(i, []).append(f"{name}: Text erwartet")
                self.error_en.setdefault(i, []).append(f"{name}: text expected")
        if not keep:
            return None
        vals = np.empty(self.n, dtype=object)
        vals[:] = cells
        known = np.ones(self.n, dtype=bool)
        for i in odd:
            vals[i] = value = _text_value(cells[i])
            known[i] = value is not None
        return Col(vals, known, None)


# Rows transposed per slice: fewer than the collector's first threshold (700 new containers),
# so the row tuples of a slice die young. Transposing 10^5 rows at once kept 10^5 tuples
# alive and set off full collections over the caller's dicts: 3-5x slower.
_SLICE = 512


def _transpose(records: list[Mapping[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    """The records' cells as one list per name (KeyError where a record lacks one)."""
    get = itemgetter(*names)
    columns: list[list[Any]] = [[] for _ in names]
    for lo in range(0, len(records), _SLICE):
        for column, part in zip(columns, zip(*map(get, records[lo : lo + _SLICE]))):
            column.extend(part)
    return dict(zip(names, columns))


_MEMO_LIMIT = 100_000  # distinct cells remembered per fact


def _typed(name: str, spec: FactSpec, raw: Any) -> tuple[Any, bool, FieldError | None]:
    """A cell as its column value: (value or None, known, the field error if any)."""
    value, err = convert_value(name, spec, raw)
    if err is not None or value is UNKNOWN:
        return None, False, err
    kind = spec.type
    if kind == "date":
        value = ordinal(value)
    elif kind == "enum":
        value = (spec.values or []).index(value)
    elif kind == "decimal":
        value = float(value)
    return value, True, None


def _is_date32(raws: Any) -> bool:
    t = getattr(raws, "type", None)
    return t is not None and str(t) == "date32[day]"


# The two plain forms of a date text (a subset of what `records.parse_date` reads).
_ISO_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_GERMAN_TEXT = r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$"
# The bytes a UTF-8 text may begin or end with if str.strip() could change it: the ASCII
# characters Python counts as white space, and every byte of a character beyond ASCII (all
# of those are told apart exactly by strip() itself, in `_strip_suspects`' callers).
_SUSPECT_BYTES = np.array([b >= 0x80 or chr(b).isspace() for b in range(256)], dtype=bool)


def _strip_suspects(arr: Any) -> np.ndarray:
    """Per cell of an Arrow string array: might str.strip() change it, or is it empty? Read
    from the first and last byte of each cell in the array's buffers, no Python string made;
    an empty cell (null or "") is always a suspect."""
    n, offset = len(arr), arr.offset
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1 + offset)[offset:]
    starts, ends = offsets[:-1], offsets[1:]
    suspect: np.ndarray = starts == ends
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    if len(data):
        last = len(data) - 1
        suspect |= _SUSPECT_BYTES[data[np.minimum(starts, last)]]
        suspect |= _SUSPECT_BYTES[data[np.clip(ends - 1, 0, last)]]
    return suspect


# Arrow types whose Python values are exactly the cells a list would hold.
_EXACT_TYPES = ("string", "large_string", "bool", "date32[day]", "int64", "null")


def _arrow(raws: Any) -> Any:
    """An Arrow array of the cells, or None when they do not convert exactly (mixed types,
    floats that would swallow ints, nested values, the missing marker)."""
    import pyarrow as pa

    raws = _one_array(raws)
    if isinstance(raws, pa.Array):
        arr = raws
        if str(arr.type) in ("string_view", "large_string"):
            arr = arr.cast(pa.string())
    else:
        try:
            arr = pa.array(raws, from_pandas=False)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
    if isinstance(arr.type, pa.DictionaryType) or str(arr.type) in _EXACT_TYPES:
        return arr
    return None


def _one_array(raws: Any) -> Any:
    """A column as one Arrow array: a chunked column of one chunk (a slice of a table, as
    `decide_table` cuts them) is that chunk as it is, since `combine_chunks` copies even one
    chunk; the copy of every column in fresh memory was a third of a first call's time."""
    import pyarrow as pa

    if isinstance(raws, pa.ChunkedArray):
        return raws.chunk(0) if raws.num_chunks == 1 else raws.combine_chunks()
    return raws


def _encode(raws: Any) -> tuple[Any, np.ndarray] | None:
    """The distinct cells (an Arrow array) and each row's index into them; a null cell
    gets the index one past the end (the caller appends None there)."""

    arr = _arrow(raws)
    if arr is None:
        return None
    return _dictionary_codes(arr)


def _dictionary_codes(arr: Any) -> tuple[Any, np.ndarray]:
    """An Arrow array's distinct cells and each row's index into them, a null cell one past
    the end; a dictionary array as it is."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # From the system allocator, as numpy's arrays are: these arrays live for one chunk, and
    # Arrow's default pool (mimalloc) growing in a fresh process cost a tenth of a first call
    # (design §39).
    pool = pa.system_memory_pool()
    d = arr if isinstance(arr.type, pa.DictionaryType) else pc.dictionary_encode(arr, memory_pool=pool)
    filler = pa.scalar(len(d.dictionary), d.indices.type)
    idx = pc.coalesce(d.indices, filler, memory_pool=pool).to_numpy(zero_copy_only=False)
    return d.dictionary, idx


def _as_list(raws: Any) -> list[Any]:
    return raws if isinstance(raws, list) else raws.to_pylist() if hasattr(raws, "to_pylist") else list(raws)


_MISSING = object()


def _text_value(r: Any) -> str | None:
    """A free-text cell's value (None: unknown)."""
    if type(r) is str:
        return r.strip() or None
    if r is _MISSING or r is None or isinstance(r, (dict, list)):
        return None
    return str(r).strip() or None


def _is_free_text(spec: FactSpec) -> bool:
    return spec.type == "text" and not spec.pattern and not spec.format and not spec.forms


def _hashable(x: Any) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


def columns_from_table(table: Any) -> dict[str, Any] | None:
    """A column-oriented table as one sequence per column: lists for a dict of lists,
    Arrow arrays for an Arrow table or a polars DataFrame (zero-copy), lists for pandas.
    None for row-oriented input."""
    if isinstance(table, Mapping) and table and all(_is_column(v) for v in table.values()):
        return {k: _column_of(v) for k, v in table.items()}
    mod = type(table).__module__
    if mod.startswith("pandas"):
        return {str(c): _pandas_column(table[c]) for c in table.columns}
    if mod.startswith("polars"):
        table = table.to_arrow()
        mod = "pyarrow"
    if mod.startswith("pyarrow") and hasattr(table, "column_names"):
        return {c: table.column(c) for c in table.column_names}
    return None


def _is_column(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) or type(v).__module__.split(".")[0] in (
        "pyarrow",
        "polars",
        "pandas",
    )


def _column_of(v: Any) -> Any:
    """A column as a list, or as an Arrow array where it is one already (or a polars Series)."""
    if isinstance(v, list):
        return v
    mod = type(v).__module__.split(".")[0]
    if mod == "pyarrow":
        return v
    if mod == "polars":
        return v.to_arrow()
    if mod == "pandas":
        return _pandas_column(v)
    return list(v)


def _pandas_column(series: Any) -> Any:
    """A pandas column with its missing markers (NaN, None, NA, NaT) as empty cells: as an
    Arrow array where Arrow converts it exactly, else as a list."""
    import pyarrow as pa

    try:
        arr = pa.Array.from_pandas(series)
    except (pa.ArrowException, TypeError, ValueError):
        arr = None
    if arr is not None and str(arr.type) in _EXACT_TYPES + ("string_view",):
        return arr
    return [None if _pandas_missing(v) else v for v in series.tolist()]


def _pandas_missing(v: Any) -> bool:
    if v is None or (isinstance(v, float) and v != v):
        return True
    return type(v).__name__ in ("NAType", "NaTType")


def records_from_table(table: Any) -> list[Mapping[str, Any]]:
    """Accept a list of dicts, or a pandas/polars DataFrame or an Arrow table."""
    if isinstance(table, list):
        return table
    rows: list[Mapping[str, Any]]
    if hasattr(table, "to_dicts"):  # polars
        rows = table.to_dicts()
    elif hasattr(table, "to_pylist"):  # arrow
        rows = table.to_pylist()
    elif hasattr(table, "to_dict"):  # pandas
        rows = table.to_dict(orient="records")
    else:
        rows = list(table)
    return rows

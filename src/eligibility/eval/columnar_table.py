"""The batch path's result: `DecisionTable`, one row per record with its outcome columns kept
dictionary-encoded (`Coded`) until Python objects are asked for."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

# ---------------------------------------------------------------- the table


def code_dtype(n_values: int) -> Any:
    """The smallest integer type for codes into `n_values` values: a table of a million
    rows then holds its outcome columns in a few megabytes, not a few hundred."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_values <= np.iinfo(dtype).max:
            return dtype
    return np.int64


@dataclasses.dataclass
class Coded:
    """A dictionary-encoded column: row i holds `values[codes[i]]`. Outcome values, rules,
    statuses and missing-fact lists take a handful of distinct values over a roster, so
    the batch path keeps them as codes and builds Python objects only when asked."""

    codes: np.ndarray
    values: np.ndarray  # of Python objects

    def __post_init__(self) -> None:
        dtype = code_dtype(len(self.values))
        if self.codes.dtype != dtype:
            self.codes = self.codes.astype(dtype)

    def materialize(self) -> np.ndarray:
        out: np.ndarray = self.values[self.codes]
        return out

    def __len__(self) -> int:
        return len(self.codes)


class Texts:
    """A text column held as the Arrow string array it came in as (the ids of an Arrow
    roster; after `DecisionTable.concat`, the parts' arrays as one chunked array): turning
    10^5 ids into Python strings was an eighth of a table's time, and a caller that writes
    Arrow or only counts rows never needs them. Nulls are None."""

    def __init__(self, arrow: Any) -> None:
        self.arrow = arrow

    def materialize(self) -> np.ndarray:
        out: np.ndarray = self.arrow.to_numpy(zero_copy_only=False)
        # to_numpy shares nothing with the caller's table, but may hand back a read-only view.
        return out if out.flags.writeable else out.copy()

    def __len__(self) -> int:
        return len(self.arrow)


class DecisionTable:
    """One row per record, in input order: the id, and per outcome its value, deciding
    rule, status, missing facts and assumption flag; plus the field errors. Internally a
    column is either an object array or dictionary-encoded (`Coded`); `array(name)` gives
    an object array, `codes(name)` the encoding where there is one, `columns` plain
    lists, and `to_pandas`, `to_polars`, `to_arrow` convert when those libraries are
    installed. The ids of an Arrow roster stay an Arrow array (`Texts`) until asked for."""

    def __init__(self, arrays: dict[str, Any], outcomes: list[str], ruleset: dict[str, str]) -> None:
        self._arrays: dict[str, np.ndarray | Coded | Texts] = {
            k: (v if isinstance(v, (np.ndarray, Coded, Texts)) else _objects(v)) for k, v in arrays.items()
        }
        self._lists: dict[str, list[Any]] | None = None
        self.outcomes = outcomes
        self.ruleset = ruleset

    def array(self, name: str) -> np.ndarray:
        col = self._arrays[name]
        if isinstance(col, (Coded, Texts)):
            col = self._arrays[name] = col.materialize()
        return col

    def codes(self, name: str) -> Coded:
        """The column as codes into distinct values (encoded here if it was not)."""
        col = self._arrays[name]
        if isinstance(col, Coded):
            return col
        col = self.array(name)
        # A value's type is part of its identity (True is not 1); lists are keyed as tuples.
        position: dict[Any, int] = {}
        firsts: list[int] = []
        codes = np.empty(len(col), dtype=np.int64)
        for row, v in enumerate(col.tolist()):
            key = (type(v), tuple(v) if isinstance(v, list) else v)
            code = position.get(key)
            if code is None:
                code = position[key] = len(firsts)
                firsts.append(row)
            codes[row] = code
        return Coded(codes, col[np.array(firsts, dtype=np.int64)] if firsts else _objects([]))

    @property
    def columns(self) -> dict[str, list[Any]]:
        if self._lists is None:
            self._lists = {k: self.array(k).tolist() for k in self._arrays}
        return self._lists

    def __len__(self) -> int:
        return len(next(iter(self._arrays.values()))) if self._arrays else 0

    def rows(self) -> Iterable[dict[str, Any]]:
        cols = self.columns
        names = list(cols)
        for values in zip(*(cols[n] for n in names)):
            yield dict(zip(names, values))

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.columns)

    def to_polars(self) -> Any:
        import polars as pl

        return pl.DataFrame(self.columns, strict=False)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        # An enum outcome is a code or false ("no for every outcome", e.g. naturalised): Arrow
        # has no such column type, so it holds text there, "false" as polars writes it.
        cols: dict[str, Any] = {}
        for name, values in self.columns.items():
            kinds = {type(v) for v in values if v is not None}
            if str in kinds and bool in kinds:
                values = [("true" if v else "false") if isinstance(v, bool) else v for v in values]
            cols[name] = values
        return pa.table(cols)

    @staticmethod
    def concat(parts: list[DecisionTable]) -> DecisionTable:
        arrays: dict[str, Any] = {}
        for k in parts[0]._arrays:
            cols = [p._arrays[k] for p in parts]
            coded = [c for c in cols if isinstance(c, Coded)]
            ids = [c for c in cols if isinstance(c, Texts)]
            texts = [a for c in ids for a in _chunks(c.arrow)]
            if len(ids) == len(cols):
                import pyarrow as pa

                # Chunked, not concatenated: a copy of every id into fresh memory was a tenth
                # of a first call (design §39); readers take a chunked array as they take one.
                arrays[k] = Texts(pa.chunked_array(texts, type=ids[0].arrow.type))
            elif len(coded) == len(cols):
                values = np.concatenate([c.values for c in coded])
                dtype = code_dtype(len(values))
                offsets = np.cumsum([0] + [len(c.values) for c in coded[:-1]])
                arrays[k] = Coded(
                    np.concatenate([c.codes.astype(dtype) + dtype(o) for c, o in zip(coded, offsets.tolist())]), values
                )
            else:
                arrays[k] = np.concatenate([p.array(k) for p in parts])
        return DecisionTable(arrays, parts[0].outcomes, parts[0].ruleset)


def _chunks(arrow: Any) -> list[Any]:
    """The arrays of an Arrow array or chunked array (a table of tables' ids is chunked)."""
    chunks = getattr(arrow, "chunks", None)
    return list(chunks) if chunks is not None else [arrow]


def _objects(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr

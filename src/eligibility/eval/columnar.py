"""The batch path: the compiled rules evaluated column-wise over a whole roster with
numpy, with the same three-valued semantics as the per-record path.

Every expression node yields a column triple: values, a known-mask, and a bitmask of the
facts whose unknownness matters (for the minimal missing facts). Kleene's `and`/`or` are
mask arithmetic; dates are day ordinals, with "has not happened" as an ordinal after every
date; enums are codes. Outcomes are decided rule by rule in precedence order over all rows
at once. An entity whose rules use something this module does not vectorise (computed
amounts, arithmetic) falls back to the per-record path, which gives the same answers."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

import numpy as np

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledRuleSet
from eligibility.decision.records import STRIP_CLASS, FieldError, convert_value
from eligibility.eval.semantics import DECISIVE, resolve_outcome, same_conclusion
from eligibility.lang.values import NEVER_ORDINAL, UNKNOWN, ordinal, shift_ordinals, year_of_ordinals
from eligibility.source.model import FactSpec

_EPOCH = dt.date(1970, 1, 1).toordinal()


class Unsupported(Exception):
    pass


@dataclasses.dataclass
class Col:
    val: np.ndarray
    known: np.ndarray
    miss: np.ndarray | None  # uint64 bitmask of facts, meaningful where not known; None when not tracked
    asm: Any = False  # does the value rest on an assumption (scalar False or a bool array)
    # A fact column read from distinct cells: val == uniq[codes]; tests against a constant
    # are made once per distinct value.
    codes: np.ndarray | None = None
    uniq: np.ndarray | None = None
    scalar: Any = None  # the value, for a column that is one constant (a literal, a parameter)


def _const(n: int, value: Any, dtype: Any) -> Col:
    return Col(
        np.full(n, value, dtype=dtype),
        np.ones(n, dtype=bool),
        np.zeros(n, dtype=np.uint64),
        scalar=np.array(value, dtype=dtype)[()],
    )


def _scalar_col(n: int, v: Any) -> Col:
    """A literal or parameter value repeated for every row."""
    if isinstance(v, bool):
        return _const(n, v, bool)
    if isinstance(v, dt.date):
        return _const(n, v.toordinal(), np.int64)
    if isinstance(v, int):
        return _const(n, v, np.int64)
    if isinstance(v, str):
        return _const(n, v, object)
    return _const(n, float(v), np.float64)


def _asm_all(*cols: Col) -> Any:
    out: Any = False
    for c in cols:
        if c.asm is not False:
            out = c.asm if out is False else out | c.asm
    return out


def _asm_where(mask: np.ndarray, asm: Any) -> Any:
    """The assumption flag where `mask` holds, else no assumption."""
    return False if asm is False else mask & asm


def _asm_or(a: Any, b: Any) -> Any:
    return b if a is False else a if b is False else a | b


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
        # A row that is not a mapping has no facts: every fact is unknown, and it says so.
        bad = [i for i, rec in enumerate(records) if not isinstance(rec, Mapping)]
        if bad:
            records = [rec if isinstance(rec, Mapping) else {} for rec in records]
            for i in bad:
                self.errors.setdefault(i, []).append("Datensatz ist kein Objekt mit Feldern")
                self.error_en.setdefault(i, []).append("record is not an object with fields")
        names = [name for name in ent.facts if records and name in records[0]]
        try:
            # Records with the same keys (the usual case) are transposed in C.
            cells = dict(zip(names, zip(*map(itemgetter(*names), records)))) if len(names) > 1 else None
        except KeyError:
            cells = None
        for name, spec in ent.facts.items():
            if cells is not None and name in cells:
                self._add(name, spec, list(cells[name]))
            else:
                self._add(name, spec, [rec.get(name, _MISSING) for rec in records])

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
                self.columns[name] = Col(vals, np.zeros(self.n, dtype=bool), np.full(self.n, bit, dtype=np.uint64))
            return
        if spec.type == "text" and not spec.pattern and not spec.format and not spec.forms:
            col = self._free_text(name, raws)
            if col is not None:
                col.miss = np.full(self.n, bit, dtype=np.uint64)
                self.columns[name] = col
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
            distinct = dictionary.to_pylist() + [None]
        self._from_distinct(name, spec, distinct, idx)

    def _from_distinct(self, name: str, spec: FactSpec, distinct: list[Any], idx: np.ndarray) -> None:
        kind = spec.type
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
        if errs:
            for row in np.flatnonzero(np.isin(idx, list(errs))).tolist():
                err = errs[int(idx[row])]
                self.errors.setdefault(row, []).append(err.de)
                self.error_en.setdefault(row, []).append(err.en)
        if name not in self.used and name != self.ent.id_field:
            return  # validated; no rule reads it
        if kind in ("bool", "date", "enum", "int", "decimal"):
            dtype = {"bool": bool, "decimal": np.float64}.get(kind, np.int64)
            filler: Any = {"bool": False, "date": 0, "enum": -1, "int": 0, "decimal": 0.0}[kind]
            u_vals = np.array([filler if v is None else v for v in values], dtype=dtype)
        else:
            u_vals = np.empty(len(values), dtype=object)
            u_vals[:] = values
        u_known = np.array(known, dtype=bool)
        bit = self.bits.get(name, np.uint64(0))
        self.columns[name] = Col(
            u_vals[idx], u_known[idx], np.full(self.n, bit, dtype=np.uint64), codes=idx, uniq=u_vals
        )

    def _dates(self, name: str, spec: FactSpec, raws: Any) -> None:
        """An Arrow date column: day numbers are ordinals already; an empty cell means
        what it means in a record (the event has not happened, or unknown)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from eligibility.decision.records import LATEST_DATE, _in_calendar

        arr = raws.combine_chunks() if isinstance(raws, pa.ChunkedArray) else raws
        empty, empty_known, _ = _typed(name, spec, None)
        # Dictionary-encoded like every other column: a roster has few distinct days, and
        # date arithmetic on them is done once per day (see `call`).
        d = arr.dictionary_encode()
        days = d.dictionary.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64) + _EPOCH
        idx = pc.fill_null(d.indices, len(days)).to_numpy(zero_copy_only=False)
        # A day past the computable calendar is the record path's field error (convert_value).
        late = np.flatnonzero(days > LATEST_DATE.toordinal())
        if len(late):
            err = _in_calendar(name, LATEST_DATE + dt.timedelta(days=1))[1]
            assert err is not None
            for row in np.flatnonzero(np.isin(idx, late)).tolist():
                self.errors.setdefault(row, []).append(err.de)
                self.error_en.setdefault(row, []).append(err.en)
        if name not in self.used and name != self.ent.id_field:
            return
        u_vals = np.append(days, empty if empty is not None else 0)
        u_known = np.append(np.ones(len(days), dtype=bool), empty_known)
        u_known[late] = False
        self.columns[name] = Col(
            u_vals[idx],
            u_known[idx],
            np.full(self.n, self.bits.get(name, np.uint64(0)), dtype=np.uint64),
            codes=idx,
            uniq=u_vals,
        )

    def _free_text(self, name: str, raws: Any) -> Col | None:
        """Free text (ids, names of places): every value is its own answer; no memo. Only
        the id and columns that rules read keep their values; a text cell cannot be wrong
        unless it is a list or an object."""
        import pyarrow as pa
        import pyarrow.compute as pc

        keep = name in self.used or name == self.ent.id_field
        arr = _arrow(raws)
        if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_null(arr.type)):
            if not keep:
                return None
            if pa.types.is_null(arr.type):
                none = np.full(self.n, None, dtype=object)
                return Col(none, np.zeros(self.n, dtype=bool), None)
            vals = arr.to_numpy(zero_copy_only=False)
            # Cells Python's strip() would change (or empty ones) take the exact path below.
            odd = pc.fill_null(pc.match_substring_regex(arr, _STRIP_RE), False).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(odd).tolist():
                vals[i] = vals[i].strip() or None
            return Col(vals, vals != None, None)  # noqa: E711 - elementwise on an object array
        cells = _as_list(raws)
        missing = _MISSING
        for i, r in enumerate(cells):
            if isinstance(r, (dict, list)):
                self.errors.setdefault(i, []).append(f"{name}: Text erwartet")
                self.error_en.setdefault(i, []).append(f"{name}: text expected")
        if not keep:
            return None
        vals = np.empty(self.n, dtype=object)
        vals[:] = [
            (r.strip() or None)
            if type(r) is str
            else (None if r is missing or r is None or isinstance(r, (dict, list)) else str(r).strip() or None)
            for r in cells
        ]
        return Col(vals, np.asarray(vals != None, dtype=bool), None)  # noqa: E711


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


# Leading or trailing characters that str.strip() removes, or an empty cell.
_STRIP_RE = rf"^$|^{STRIP_CLASS}|{STRIP_CLASS}$"
# Arrow types whose Python values are exactly the cells a list would hold.
_EXACT_TYPES = ("string", "large_string", "bool", "date32[day]", "int64", "null")


def _arrow(raws: Any) -> Any:
    """An Arrow array of the cells, or None when they do not convert exactly (mixed types,
    floats that would swallow ints, nested values, the missing marker)."""
    import pyarrow as pa

    if isinstance(raws, pa.ChunkedArray):
        raws = raws.combine_chunks()
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


def _encode(raws: Any) -> tuple[Any, np.ndarray] | None:
    """The distinct cells (an Arrow array) and each row's index into them; a null cell
    gets the index one past the end (the caller appends None there)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow(raws)
    if arr is None:
        return None
    d = arr if isinstance(arr.type, pa.DictionaryType) else arr.dictionary_encode()
    idx = pc.fill_null(d.indices, len(d.dictionary)).to_numpy(zero_copy_only=False)
    return d.dictionary, idx


def _as_list(raws: Any) -> list[Any]:
    return raws if isinstance(raws, list) else raws.to_pylist() if hasattr(raws, "to_pylist") else list(raws)


_MISSING = object()


def _hashable(x: Any) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


# ---------------------------------------------------------------- expressions


class BatchEvaluator:
    """Evaluates one entity's compiled rules over a batch. Prepared once per engine; a run
    works on a shallow copy. With `track` off it computes values, statuses, deciding rules
    and assumption flags but not the missing facts: `decide_columns` runs untracked over
    the whole batch and tracked only over the rows left undecided, which are few."""

    def __init__(self, crs: CompiledRuleSet, ent: CompiledEntity) -> None:
        self.crs = crs
        self.ent = ent
        self.supported = self._check()
        self.track = True
        # What can carry an assumption: rules, derived facts, parameters.
        self.asm_rules = {r.id for oc in ent.outcomes.values() for r in oc.rules if r.spec.assumption}
        self.asm_derived = {n for n, d in ent.derived.items() if d.spec.assumption}
        self.memo: dict[str, dict[Any, tuple[Any, bool, Any]]] = {}
        from eligibility.compile.compiler import reachable

        roots = [x for oc in ent.outcomes.values() for r in oc.rules for x in (r.cond, r.compute)]
        self.used = {n.name for n in reachable(ent, roots) if n.kind == "fact"}

    def _check(self) -> bool:
        for oc in self.ent.outcomes.values():
            for r in oc.rules:
                if r.compute is not None:
                    return False
                stack = [r.cond] if r.cond else []
                while stack:
                    n = stack.pop()
                    if n.kind == "arith" or n.kind == "neg":
                        return False
                    if n.kind == "outcome" and self.ent.outcomes[n.name].type.kind != "bool":
                        return False
                    if n.kind == "derived":
                        stack.append(self.ent.derived[n.name].node)
                    stack.extend(n.kids)
        return len(self.ent.facts) <= 64

    # -- one batch on one reference date
    def run(self, cols: Columns, on: dt.date, track: bool = True) -> dict[str, dict[str, Any]]:
        self.cols = cols
        self.n = cols.n
        self.on = on
        self.track = track
        self.params = self.crs.params_on(on)
        self.rules = self.crs.rules_on(self.ent.name, on)
        self.derived_cache: dict[str, Col] = {}
        self.outcome_cache: dict[str, dict[str, Any]] = {}
        from eligibility.compile.compiler import parameter_version

        self.param_asm = set()
        for name, spec in self.crs.model.parameters.items():
            v = parameter_version(spec, on)
            if v is not None and v.assumption:
                self.param_asm.add(name)
        return {oid: self.outcome(oid) for oid in self.ent.outcome_order}

    def _miss(self, known: np.ndarray, *cols: Col) -> np.ndarray | None:
        """Where the result is unknown: the facts whose unknownness it depends on."""
        if not self.track:
            return None
        out = np.zeros(self.n, dtype=np.uint64)
        for c in cols:
            assert c.miss is not None  # every column carries its mask while tracking
            out |= np.where(c.known, np.uint64(0), c.miss)
        return np.where(known, np.uint64(0), out)

    def expr(self, node: CNode) -> Col:
        k = node.kind
        n = self.n
        if k in ("not", "and", "or", "compare", "call"):
            return self._composite(node)
        if k == "known":
            a = self.expr(node.kids[0])
            ones = np.ones(n, dtype=bool)
            miss = np.zeros(n, dtype=np.uint64) if self.track else None
            return Col(a.known.copy(), ones, miss, a.asm)
        if k == "fact":
            col = self.cols.columns[node.name]
            return col if self.track else Col(col.val, col.known, None, False, col.codes, col.uniq)
        if k == "stichtag":
            return _const(n, self.on.toordinal(), np.int64)
        if k == "literal":
            return _scalar_col(n, node.ast.value)  # type: ignore[attr-defined]
        if k == "param":
            col = self._param(node, n)
            if node.name in self.param_asm:
                col.asm = True
            return col
        if k == "outcome":
            res = self.outcome(node.name)
            is_true = res["_ids"] == res["_true_id"]
            known = res["_status"] == 0
            return Col(is_true & known, known, res["_miss"], known & res["_asm"])
        if k == "derived":
            if node.name not in self.derived_cache:
                inner = self.expr(self.ent.derived[node.name].node)
                asm = True if node.name in self.asm_derived else inner.asm
                self.derived_cache[node.name] = Col(inner.val, inner.known, inner.miss, asm)
            return self.derived_cache[node.name]
        raise Unsupported(k)

    def _composite(self, node: CNode) -> Col:
        k = node.kind
        if k == "not":
            # semantics.negation: the value flips where known; unknown stays unknown.
            a = self.expr(node.kids[0])
            return Col(~a.val & a.known, a.known, a.miss, a.asm)
        if k in DECISIVE:
            parts = [self.expr(c) for c in node.kids]
            # semantics.junction as masks: decided (as `stop`) where an operand is known to be
            # the deciding value, the other value where all are known to be it, else unknown. A
            # decided junction rests on the assumptions of the operands that decided it; an
            # undecided one on all of them.
            stop = DECISIVE[k]
            decisive: np.ndarray | None = None  # operands known to be the deciding value
            unanimous: np.ndarray | None = None  # all operands known to be the other value
            decisive_asm: Any = False
            for p in parts:
                is_stop = p.val if stop else ~p.val
                hit = p.known & is_stop
                same = p.known & ~is_stop
                decisive = hit if decisive is None else decisive | hit
                unanimous = same if unanimous is None else unanimous & same
                decisive_asm = _asm_or(decisive_asm, _asm_where(hit, p.asm))
            assert decisive is not None and unanimous is not None
            known = decisive | unanimous
            all_asm = _asm_all(*parts)
            if decisive_asm is False and all_asm is False:
                asm: Any = False
            else:
                asm = np.where(decisive, decisive_asm, all_asm)
            val = decisive if stop else unanimous
            return Col(val, known, self._miss(known, *parts), asm)
        if k == "compare":
            return self.compare(node)
        if k == "call":
            return self.call(node)
        raise Unsupported(k)

    def _param(self, node: CNode, n: int) -> Col:
        v = self.params[node.name]
        if v is UNKNOWN:  # no version in force: unknown, and no fact could settle it
            return Col(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.uint64))
        if isinstance(v, tuple):
            raise Unsupported("a list parameter outside 'in'")
        return _scalar_col(n, v)

    def _enum_code(self, node: CNode, value: str) -> int:
        spec = self.ent.facts.get(node.name) if node.kind == "fact" else None
        if spec is not None and spec.type == "enum":
            return (spec.values or []).index(value) if value in (spec.values or []) else -1
        raise Unsupported("string compared with a non-enum")

    def _is_enum(self, node: CNode) -> bool:
        return node.kind == "fact" and self.ent.facts[node.name].type == "enum"

    def compare(self, node: CNode) -> Col:
        left, right = node.kids
        op = node.name
        a = self.expr(left)
        if op in ("in", "not in"):
            if right.kind == "list":
                items = [c.ast.value for c in right.kids]  # type: ignore[attr-defined]
            elif right.kind == "param":
                listed = self.params[right.name]
                if listed is UNKNOWN:
                    no = np.zeros(self.n, bool)
                    return Col(no, no, self._miss(no, a))
                items = list(listed)
            else:
                raise Unsupported("'in' over a computed list")
            if self._is_enum(left):
                items = [self._enum_code(left, i) for i in items]
            if a.codes is not None and a.uniq is not None:
                wanted = set(items)
                hit = np.array([v in wanted for v in a.uniq.tolist()], dtype=bool)
                val = hit[a.codes]
            elif a.val.dtype != object and len(items) <= 8:
                # A few equality tests beat isin's sort for the short lists rules use.
                val = np.zeros(self.n, dtype=bool)
                for item in items:
                    val |= a.val == item
            else:
                val = np.isin(a.val, np.array(items, dtype=a.val.dtype if a.val.dtype != object else object))
            if op == "not in":
                val = ~val
            return Col(val & a.known, a.known, self._miss(a.known, a), a.asm)
        if right.kind == "literal" and isinstance(right.ast.value, str) and self._is_enum(left):  # type: ignore[attr-defined]
            code = self._enum_code(left, right.ast.value)  # type: ignore[attr-defined]
            fn = {"==": np.equal, "!=": np.not_equal}.get(op)
            if fn is not None:
                return Col(fn(a.val, code) & a.known, a.known, self._miss(a.known, a), a.asm)
            b = _const(self.n, code, np.int64)
        else:
            b = self.expr(right)
        known = a.known & b.known
        fn = {
            "==": np.equal,
            "!=": np.not_equal,
            "<": np.less,
            "<=": np.less_equal,
            ">": np.greater,
            ">=": np.greater_equal,
        }[op]
        with np.errstate(invalid="ignore"):
            if b.scalar is not None and a.codes is not None and a.uniq is not None and a.uniq.dtype != object:
                val = fn(a.uniq, b.scalar)[a.codes]  # once per distinct value
            elif a.scalar is not None and b.codes is not None and b.uniq is not None and b.uniq.dtype != object:
                val = fn(a.scalar, b.uniq)[b.codes]
            else:
                val = fn(a.val, b.val)
        val = np.asarray(val, dtype=bool) & known
        return Col(val, known, self._miss(known, a, b), _asm_or(a.asm, b.asm))

    def call(self, node: CNode) -> Col:
        args = [self.expr(c) for c in node.kids]
        known = args[0].known
        for a in args[1:]:
            known = known & a.known
        miss = self._miss(known, *args)
        f = node.name
        if f in ("add_months", "add_years", "add_days"):
            d, m = args[0], args[1]
            if d.codes is not None and d.uniq is not None and m.scalar is not None:
                # Once per distinct day; the rows take their day's result.
                shifted = _shift(f, d.uniq, m.scalar, d.uniq > 0)
                return Col(shifted[d.codes], known, miss, _asm_all(*args), codes=d.codes, uniq=shifted)
            return Col(_shift(f, d.val, m.val, known), known, miss, _asm_all(*args))
        if f == "days_between":
            start, end = args[0].val, args[1].val
            # values.days_between on ordinals is their difference; a period to or from an event
            # that has not happened has no length (semantics.FUNCTIONS).
            never = (start >= NEVER_ORDINAL) | (end >= NEVER_ORDINAL)
            return Col(end - start, known & ~never, miss, _asm_all(*args))
        if f == "year":
            day = args[0].val
            never = day >= NEVER_ORDINAL
            years = year_of_ordinals(np.where(never | ~known, dt.date(2000, 1, 1).toordinal(), day))
            return Col(years, known & ~never, miss, _asm_all(*args))
        raise Unsupported(f)

    # -- outcomes
    def outcome(self, oid: str) -> dict[str, Any]:
        if oid in self.outcome_cache:
            return self.outcome_cache[oid]
        oc = self.ent.outcomes[oid]
        rules = self.rules.get(oid, [])
        dom = _ColumnDomain(self, oc)
        status = np.zeros(self.n, dtype=np.int8)  # 0 decided, 1 unknown, 2 no rule / not in force
        miss = None
        if not rules:
            status[:] = 2
        else:
            res = resolve_outcome(dom, rules, oc.default is not None)
            if oc.default is not None:
                dom.ids[res.pending] = dom.cid(oc.default)
            if self.track:
                miss = np.zeros(self.n, dtype=np.uint64)
                for i, open_ in res.opened:
                    cond = dom.conds[i]
                    m = cond.miss if cond is not None else None
                    assert m is not None  # conditions carry their mask while tracking
                    miss |= np.where(open_ & res.undecided, m, np.uint64(0))
            status[res.undecided] = 1
        if self.track:
            miss = np.zeros(self.n, dtype=np.uint64) if miss is None else np.where(status == 1, miss, np.uint64(0))
        asm = dom.asm & (status == 0) & (dom.rule_idx >= 0)
        out = {
            "_ids": dom.ids,
            "_status": status,
            "_rule": dom.rule_idx,
            "_miss": miss,
            "_true_id": dom.true_id,
            "_asm": asm,
            "conclusions": dom.conclusions,
            "rules": [r.id for r in rules],
        }
        self.outcome_cache[oid] = out
        return out


class _ColumnDomain:
    """`semantics.Domain` for a column of records: a lane is a row of a numpy bool array.
    Conclusions are literal (an entity with computed ones takes the per-record path) and are
    held as ids into `conclusions`, told apart by `semantics.same_conclusion`."""

    def __init__(self, ev: BatchEvaluator, oc: Any) -> None:
        self.ev = ev
        n = self.n = ev.n
        self.conclusions: list[Any] = []
        self.true_id = self.cid(True) if oc.type.kind == "bool" else -99
        self.ids = np.full(n, -1, dtype=np.int64)
        self.rule_idx = np.full(n, -1, dtype=np.int64)
        self.asm = np.zeros(n, dtype=bool)
        self.default_id = -1 if oc.default is None else self.cid(oc.default)
        self.conds: dict[int, Col | None] = {}
        self.concl: dict[int, int] = {}
        self.rules: dict[int, Any] = {}

    def cid(self, v: Any) -> int:
        for i, c in enumerate(self.conclusions):
            if same_conclusion(c, v):
                return i
        self.conclusions.append(v)
        return len(self.conclusions) - 1

    def everywhere(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def nowhere(self) -> np.ndarray:
        return np.zeros(self.n, dtype=bool)

    def any(self, lanes: np.ndarray) -> bool:
        return bool(lanes.any())

    def applies(self, index: int, rule: Any, pending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A literal conclusion is known: the rule applies where its condition does.
        self.concl[index] = self.cid(rule.value)
        self.rules[index] = rule
        if rule.cond is None:
            self.conds[index] = None
            return self.everywhere(), self.nowhere()
        c = self.conds[index] = self.ev.expr(rule.cond)
        return c.known & c.val, ~c.known

    def choose(self, index: int, lanes: np.ndarray) -> None:
        self.ids[lanes] = self.concl[index]
        self.rule_idx[lanes] = index
        c = self.conds[index]
        if self.rules[index].id in self.ev.asm_rules:
            self.asm |= lanes
        elif c is not None and c.asm is not False:
            self.asm |= lanes & c.asm

    def concludes_otherwise(self, index: int, pending: np.ndarray) -> np.ndarray:
        reached = np.where(pending, self.default_id, self.ids)
        other: np.ndarray = reached != self.concl[index]
        return other


def _shift(f: str, d: np.ndarray, m: Any, valid: np.ndarray) -> np.ndarray:
    """add_days / add_months / add_years on day ordinals: the per-record path's own kernel in
    its vectorised form (`values.shift_ordinals`) over the live rows; "has not happened" stays
    so (as `semantics.FUNCTIONS` says); rows not `valid` give 0, which their known-mask hides.
    Where a result leaves the calendar this raises OverflowError, as the per-record path does
    (the callers then decide row by row and give that record an error row)."""
    d = np.asarray(d, dtype=np.int64)
    counts = np.broadcast_to(np.asarray(m, dtype=np.int64), d.shape)
    never = d >= NEVER_ORDINAL
    live = valid & ~never
    out = np.where(never, np.int64(NEVER_ORDINAL), np.int64(0))
    if live.any():
        out[live] = shift_ordinals(f, d[live], counts[live])
    return out


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


class DecisionTable:
    """One row per record, in input order: the id, and per outcome its value, deciding
    rule, status, missing facts and assumption flag; plus the field errors. Internally a
    column is either an object array or dictionary-encoded (`Coded`); `array(name)` gives
    an object array, `codes(name)` the encoding where there is one, `columns` plain
    lists, and `to_pandas`, `to_polars`, `to_arrow` convert when those libraries are
    installed."""

    def __init__(self, arrays: dict[str, Any], outcomes: list[str], ruleset: dict[str, str]) -> None:
        self._arrays: dict[str, np.ndarray | Coded] = {
            k: (v if isinstance(v, (np.ndarray, Coded)) else _objects(v)) for k, v in arrays.items()
        }
        self._lists: dict[str, list[Any]] | None = None
        self.outcomes = outcomes
        self.ruleset = ruleset

    def array(self, name: str) -> np.ndarray:
        col = self._arrays[name]
        if isinstance(col, Coded):
            col = self._arrays[name] = col.materialize()
        return col

    def codes(self, name: str) -> Coded:
        """The column as codes into distinct values (encoded here if it was not)."""
        col = self._arrays[name]
        if isinstance(col, Coded):
            return col
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
            if len(coded) == len(cols):
                values = np.concatenate([c.values for c in coded])
                dtype = code_dtype(len(values))
                offsets = np.cumsum([0] + [len(c.values) for c in coded[:-1]])
                arrays[k] = Coded(
                    np.concatenate([c.codes.astype(dtype) + dtype(o) for c, o in zip(coded, offsets.tolist())]), values
                )
            else:
                arrays[k] = np.concatenate([p.array(k) for p in parts])
        return DecisionTable(arrays, parts[0].outcomes, parts[0].ruleset)


def _objects(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


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


def decide_columns(
    ev: BatchEvaluator,
    records: list[Mapping[str, Any]] | None,
    on: dt.date,
    ruleset: dict[str, str],
    columns: Mapping[str, Any] | None = None,
) -> DecisionTable:
    # The prepared evaluator is shared by an engine's calls; a run keeps its state (columns,
    # caches) on a shallow copy, so concurrent calls never see each other's rows.
    ev = copy.copy(ev)
    ent = ev.ent
    cols = Columns(ent, records, columns, used=ev.used, memo=ev.memo)
    results = ev.run(cols, on, track=False)
    # Missing facts matter only where an outcome stayed unknown: those rows (usually few)
    # are evaluated once more with the fact bitmasks tracked.
    undecided = np.zeros(cols.n, dtype=bool)
    for res in results.values():
        undecided |= res["_status"] == 1
    rows = np.flatnonzero(undecided)
    sub = copy.copy(ev).run(cols.take(rows), on, track=True) if len(rows) else {}
    fact_names = list(ent.facts)
    out: dict[str, Any] = {}
    id_field = ent.id_field
    if id_field:
        idcol = cols.columns[id_field]
        # numpy takes None as an object scalar here; its stubs do not list None as array-like.
        out["record_id"] = (
            np.where(idcol.known, idcol.val, None)  # type: ignore[call-overload]
            if idcol.val.dtype == object
            else _objects([str(v) if k else None for v, k in zip(idcol.val.tolist(), idcol.known.tolist())])
        )
    else:
        out["record_id"] = _objects([None] * cols.n)
    statuses = _objects(["value", "unknown", "not_in_force"])
    no_yes = _objects([False, True])
    for oid in ent.outcome_order:
        res = results[oid]
        decided = res["_status"] == 0
        out[oid] = Coded(np.where(decided, res["_ids"], len(res["conclusions"])), _objects(res["conclusions"] + [None]))
        out[f"{oid}_rule"] = Coded(
            np.where(decided & (res["_rule"] >= 0), res["_rule"], len(res["rules"])), _objects(res["rules"] + [None])
        )
        out[f"{oid}_status"] = Coded(res["_status"], statuses)
        # Code 0 is "nothing missing"; the undecided rows' fact sets follow.
        miss_codes = np.zeros(cols.n, dtype=np.int64)
        names: list[list[str]] = [[]]
        if len(rows):
            masks, inverse = np.unique(sub[oid]["_miss"], return_inverse=True)
            names += [sorted(f for i, f in enumerate(fact_names) if i < 64 and int(m) >> i & 1) for m in masks.tolist()]
            miss_codes[rows] = inverse.reshape(-1) + 1
        out[f"{oid}_missing"] = Coded(miss_codes, _objects(names))
        out[f"{oid}_assumption"] = Coded(res["_asm"].view(np.int8), no_yes)
    error_codes = np.zeros(cols.n, dtype=np.int64)
    texts, texts_en = [""], [""]
    for i in sorted(cols.errors):
        error_codes[i] = len(texts)
        texts.append("; ".join(cols.errors[i]))
        texts_en.append("; ".join(cols.error_en[i]))
    out["errors"] = Coded(error_codes, _objects(texts))
    out["errors_en"] = Coded(error_codes.copy(), _objects(texts_en))
    return DecisionTable(out, list(ent.outcome_order), ruleset)

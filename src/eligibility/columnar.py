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
from typing import Any

import numpy as np

from .compiler import CNode, CompiledEntity, CompiledRuleSet
from .model import FactSpec
from .records import convert_value
from .values import NEVER, UNKNOWN

NEVER_ORD = 10**9  # after every real date's ordinal
_EPOCH = dt.date(1970, 1, 1).toordinal()


class Unsupported(Exception):
    pass


@dataclasses.dataclass
class Col:
    val: np.ndarray
    known: np.ndarray
    miss: np.ndarray  # uint64 bitmask of facts, meaningful where not known
    asm: Any = 0  # uint64 bitmask of assumptions the value rests on (scalar 0 or an array)


def _const(n: int, value: Any, dtype: Any) -> Col:
    return Col(np.full(n, value, dtype=dtype), np.ones(n, dtype=bool), np.zeros(n, dtype=np.uint64))


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
    out: Any = np.uint64(0)
    for c in cols:
        out = out | c.asm
    return out


def _miss_of(*cols: Col) -> np.ndarray:
    out = np.zeros(len(cols[0].known), dtype=np.uint64)
    for c in cols:
        out |= np.where(c.known, np.uint64(0), c.miss)
    return out


# ---------------------------------------------------------------- input columns


class Columns:
    """Typed fact columns of a batch, converted once with memoised cell parsing (a roster
    repeats the same dates and codes over and over)."""

    def __init__(self, ent: CompiledEntity, records: list[Mapping[str, Any]] | None = None,
                 columns: Mapping[str, list[Any]] | None = None) -> None:
        if columns is not None:
            self._init_columns(ent, columns)
            return
        assert records is not None
        self.n = len(records)
        self.ent = ent
        self.bits = {name: np.uint64(1 << i) for i, name in enumerate(ent.facts) if i < 64}
        self.columns: dict[str, Col] = {}
        # Sparse: row -> messages; most rows have none.
        self.errors: dict[int, list[str]] = {}
        self.error_en: dict[int, list[str]] = {}
        # A row that is not a mapping has no facts: every fact is unknown, and it says so.
        bad = [i for i, rec in enumerate(records) if not isinstance(rec, Mapping)]
        if bad:
            records = [rec if isinstance(rec, Mapping) else {} for rec in records]
            for i in bad:
                self.errors.setdefault(i, []).append("Datensatz ist kein Objekt mit Feldern")
                self.error_en.setdefault(i, []).append("record is not an object with fields")
        for name, spec in ent.facts.items():
            self.columns[name] = self._column(name, spec, records)

    def _init_columns(self, ent: CompiledEntity, columns: Mapping[str, list[Any]]) -> None:
        """From a column-oriented table: no per-row dicts at all."""
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError("all columns of a table must have the same length")
        self.n = lengths.pop() if lengths else 0
        self.ent = ent
        self.bits = {name: np.uint64(1 << i) for i, name in enumerate(ent.facts) if i < 64}
        self.columns = {}
        self.errors = {}
        self.error_en = {}
        for name, spec in ent.facts.items():
            raws = list(columns[name]) if name in columns else [_MISSING] * self.n
            self.columns[name] = self._column_from(name, spec, raws)

    def _column(self, name: str, spec: FactSpec, records: list[Mapping[str, Any]]) -> Col:
        return self._column_from(name, spec, [rec.get(name, _MISSING) for rec in records])

    def _column_from(self, name: str, spec: FactSpec, raws: list[Any]) -> Col:
        n = self.n
        kind = spec.type
        codes = {v: i for i, v in enumerate(spec.values or [])}
        missing = _MISSING
        if kind == "text" and not spec.pattern:
            # Free text (ids, names of places): every value is its own answer; no memo.
            vals = np.empty(n, dtype=object)
            vals[:] = [(r.strip() or None) if type(r) is str else (None if r is missing or r is None
                       or isinstance(r, (dict, list)) else str(r).strip() or None) for r in raws]
            known = vals != None  # noqa: E711 - elementwise on an object array
            bit = self.bits.get(name, np.uint64(0))
            return Col(vals, np.asarray(known, dtype=bool), np.full(n, bit, dtype=np.uint64))
        memo: dict[Any, tuple[Any, bool, Any]] = {missing: (None, False, None)}
        try:
            distinct = set(raws)
        except TypeError:  # an unhashable cell (a list or dict in a JSON record)
            raws = [r if _hashable(r) else repr(r) for r in raws]
            distinct = set(raws)
        for raw in distinct:
            if raw is missing:
                continue
            value, err = convert_value(name, spec, raw)
            if err is not None:
                memo[raw] = (None, False, err)
            elif value is UNKNOWN:
                memo[raw] = (None, False, None)
            else:
                if kind == "date":
                    value = NEVER_ORD if value is NEVER else value.toordinal()
                elif kind == "enum":
                    value = codes[value]
                elif kind == "decimal":
                    value = float(value)
                memo[raw] = (value, True, None)
        # One pass of dict lookups maps every cell to its distinct value; numpy does the rest.
        uniq = list(memo)
        position = {u: i for i, u in enumerate(uniq)}
        idx = np.fromiter(map(position.__getitem__, raws), dtype=np.int64, count=n)
        u_known = np.array([memo[u][1] for u in uniq], dtype=bool)
        known = u_known[idx]
        if kind in ("bool", "date", "enum", "int", "decimal"):
            dtype = {"bool": bool, "decimal": np.float64}.get(kind, np.int64)
            filler: Any = {"bool": False, "date": 0, "enum": -1, "int": 0, "decimal": 0.0}[kind]
            u_vals = np.array([filler if memo[u][0] is None else memo[u][0] for u in uniq], dtype=dtype)
        else:
            u_vals = np.empty(len(uniq), dtype=object)
            u_vals[:] = [memo[u][0] for u in uniq]
        vals = u_vals[idx]
        bad = [i for i, u in enumerate(uniq) if memo[u][2] is not None]
        if bad:
            for i in np.flatnonzero(np.isin(idx, bad)).tolist():
                err = memo[raws[i]][2]
                self.errors.setdefault(i, []).append(err.de)
                self.error_en.setdefault(i, []).append(err.en)
        bit = self.bits.get(name, np.uint64(0))
        return Col(vals, known, np.full(n, bit, dtype=np.uint64))


_MISSING = object()


def _hashable(x: Any) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


# ---------------------------------------------------------------- expressions


class BatchEvaluator:
    def __init__(self, crs: CompiledRuleSet, ent: CompiledEntity) -> None:
        self.crs = crs
        self.ent = ent
        self.supported = self._check()
        # One bit per thing that can carry an assumption: rules, derived facts, parameters.
        items: list[tuple[str, str]] = [("rule", r.id) for oc in ent.outcomes.values() for r in oc.rules
                                        if r.spec.assumption]
        items += [("derived", n) for n, d in ent.derived.items() if d.spec.assumption]
        items += [("param", n) for n, p in crs.model.parameters.items() if any(v.assumption for v in p.versions)]
        self.asm_bits = {item: np.uint64(1 << i) for i, item in enumerate(items[:64])}
        if len(items) > 64:
            self.supported = False

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
    def run(self, cols: Columns, on: dt.date) -> dict[str, dict[str, Any]]:
        self.cols = cols
        self.n = cols.n
        self.on = on
        self.params = self.crs.params_on(on)
        self.rules = self.crs.rules_on(self.ent.name, on)
        self.derived_cache: dict[str, Col] = {}
        self.outcome_cache: dict[str, dict[str, Any]] = {}
        from .compiler import parameter_version

        self.param_asm = {}
        for name, spec in self.crs.model.parameters.items():
            v = parameter_version(spec, on)
            if v is not None and v.assumption and ("param", name) in self.asm_bits:
                self.param_asm[name] = self.asm_bits[("param", name)]
        return {oid: self.outcome(oid) for oid in self.ent.outcome_order}

    def expr(self, node: CNode) -> Col:
        k = node.kind
        n = self.n
        if k in ("not", "and", "or", "compare", "call"):
            return self._composite(node)
        if k == "fact":
            return self.cols.columns[node.name]
        if k == "stichtag":
            return _const(n, self.on.toordinal(), np.int64)
        if k == "literal":
            return _scalar_col(n, node.ast.value)  # type: ignore[attr-defined]
        if k == "param":
            col = self._param(node, n)
            bit = self.param_asm.get(node.name)
            if bit is not None:
                col.asm = bit
            return col
        if k == "outcome":
            res = self.outcome(node.name)
            is_true = res["_ids"] == res["_true_id"]
            known = res["_status"] == 0
            return Col(is_true & known, known, res["_miss"], np.where(known, res["_asm"], np.uint64(0)))
        if k == "derived":
            if node.name not in self.derived_cache:
                inner = self.expr(self.ent.derived[node.name].node)
                bit = self.asm_bits.get(("derived", node.name))
                asm = inner.asm | bit if bit is not None else inner.asm
                self.derived_cache[node.name] = Col(inner.val, inner.known, inner.miss, asm)
            return self.derived_cache[node.name]
        raise Unsupported(k)

    def _composite(self, node: CNode) -> Col:
        k = node.kind
        n = self.n
        if k == "not":
            a = self.expr(node.kids[0])
            return Col(~a.val & a.known, a.known, a.miss, a.asm)
        if k in ("and", "or"):
            parts = [self.expr(c) for c in node.kids]
            if k == "and":
                any_false = np.zeros(n, dtype=bool)
                all_true = np.ones(n, dtype=bool)
                false_asm: Any = np.uint64(0)
                for p in parts:
                    f = p.known & ~p.val
                    any_false |= f
                    all_true &= p.known & p.val
                    false_asm = false_asm | np.where(f, p.asm, np.uint64(0))
                known = any_false | all_true
                # A false "and" rests on its false operands, a true one on all of them.
                asm = np.where(any_false, false_asm, _asm_all(*parts))
                return Col(all_true, known, np.where(known, np.uint64(0), _miss_of(*parts)), asm)
            any_true = np.zeros(n, dtype=bool)
            all_false = np.ones(n, dtype=bool)
            true_asm: Any = np.uint64(0)
            for p in parts:
                t = p.known & p.val
                any_true |= t
                all_false &= p.known & ~p.val
                true_asm = true_asm | np.where(t, p.asm, np.uint64(0))
            known = any_true | all_false
            asm = np.where(any_true, true_asm, _asm_all(*parts))
            return Col(any_true, known, np.where(known, np.uint64(0), _miss_of(*parts)), asm)
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
                items = list(self.params[right.name]) if self.params[right.name] is not UNKNOWN else None
                if items is None:
                    return Col(np.zeros(self.n, bool), np.zeros(self.n, bool), _miss_of(a))
            else:
                raise Unsupported("'in' over a computed list")
            if self._is_enum(left):
                items = [self._enum_code(left, i) for i in items]
            val = np.isin(a.val, np.array(items, dtype=a.val.dtype if a.val.dtype != object else object))
            if op == "not in":
                val = ~val
            return Col(val & a.known, a.known.copy(), np.where(a.known, np.uint64(0), a.miss), a.asm)
        if right.kind == "literal" and isinstance(right.ast.value, str) and self._is_enum(left):  # type: ignore[attr-defined]
            b = _const(self.n, self._enum_code(left, right.ast.value), np.int64)  # type: ignore[attr-defined]
        else:
            b = self.expr(right)
        known = a.known & b.known
        fn = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
              ">=": np.greater_equal}[op]
        with np.errstate(invalid="ignore"):
            val = fn(a.val, b.val)
        val = np.asarray(val, dtype=bool) & known
        return Col(val, known, np.where(known, np.uint64(0), _miss_of(a, b)), a.asm | b.asm)

    def call(self, node: CNode) -> Col:
        args = [self.expr(c) for c in node.kids]
        known = np.ones(self.n, dtype=bool)
        for a in args:
            known &= a.known
        miss = np.where(known, np.uint64(0), _miss_of(*args))
        f = node.name
        if f in ("add_months", "add_years", "add_days"):
            d, m = args[0].val, args[1].val
            never = d >= NEVER_ORD
            safe = np.where(never | ~known, dt.date(2000, 1, 1).toordinal(), d) - _EPOCH
            days = safe.astype("datetime64[D]")
            if f == "add_days":
                out = days + m.astype("timedelta64[D]")
            else:
                months = m * (12 if f == "add_years" else 1)
                start = days.astype("datetime64[M]")
                dom = (days - start.astype("datetime64[D]")).astype(np.int64)
                target = start + months.astype("timedelta64[M]")
                length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]")
                          - target.astype("datetime64[D]")).astype(np.int64)
                out = target.astype("datetime64[D]") + np.minimum(dom, length - 1).astype("timedelta64[D]")
            result = out.astype(np.int64) + _EPOCH
            return Col(np.where(never, NEVER_ORD, result), known, miss, _asm_all(*args))
        if f == "days_between":
            a, b = args[0].val, args[1].val
            never = (a >= NEVER_ORD) | (b >= NEVER_ORD)
            return Col(b - a, known & ~never, miss, _asm_all(*args))
        if f == "year":
            d = args[0].val
            never = d >= NEVER_ORD
            safe = np.where(never | ~known, dt.date(2000, 1, 1).toordinal(), d) - _EPOCH
            years = safe.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
            return Col(years, known & ~never, miss, _asm_all(*args))
        raise Unsupported(f)

    # -- outcomes
    def outcome(self, oid: str) -> dict[str, Any]:
        if oid in self.outcome_cache:
            return self.outcome_cache[oid]
        oc = self.ent.outcomes[oid]
        rules = self.rules.get(oid, [])
        n = self.n
        conclusions: list[Any] = []

        def cid(v: Any) -> int:
            for i, c in enumerate(conclusions):
                if c == v and type(c) is type(v):
                    return i
            conclusions.append(v)
            return len(conclusions) - 1

        true_id = cid(True) if oc.type.kind == "bool" else -99
        done = np.zeros(n, dtype=bool)
        ids = np.full(n, -1, dtype=np.int64)
        rule_idx = np.full(n, -1, dtype=np.int64)
        open_rules: list[tuple[int, np.ndarray, np.ndarray]] = []  # (conclusion id, open mask, miss)
        asm = np.zeros(n, dtype=np.uint64)
        for i, r in enumerate(rules):
            c = _const(n, True, bool) if r.cond is None else self.expr(r.cond)
            concl = cid(r.value)
            fires = c.known & c.val & ~done
            unknown = ~c.known & ~done
            if unknown.any():
                open_rules.append((concl, unknown, c.miss))
            ids[fires] = concl
            rule_idx[fires] = i
            rule_bit = self.asm_bits.get(("rule", r.id), np.uint64(0))
            asm = np.where(fires, np.asarray(c.asm, dtype=np.uint64) | rule_bit, asm)
            done |= fires
        status = np.zeros(n, dtype=np.int8)  # 0 decided, 1 unknown, 2 no rule / not in force
        if not rules:
            status[:] = 2
        else:
            conflict = np.zeros(n, dtype=bool)
            if oc.default is not None:
                ids[~done] = cid(oc.default)
            else:
                # No rule fired and there is no fallback: undecided (as in the per-record path).
                conflict |= ~done
            miss = np.zeros(n, dtype=np.uint64)
            for concl, mask, m in open_rules:
                conflict |= mask & (ids != concl)
            for concl, mask, m in open_rules:
                miss |= np.where(mask & conflict, m, np.uint64(0))
            status[conflict] = 1
        if not rules:
            miss = np.zeros(n, dtype=np.uint64)
        miss = np.where(status == 1, miss, np.uint64(0))
        asm = np.where((status == 0) & (rule_idx >= 0), asm, np.uint64(0))
        res = {"_ids": ids, "_status": status, "_rule": rule_idx, "_miss": miss, "_true_id": true_id, "_asm": asm,
               "conclusions": conclusions, "rules": [r.id for r in rules]}
        self.outcome_cache[oid] = res
        return res


# ---------------------------------------------------------------- the table


class DecisionTable:
    """One row per record, in input order: the id, and per outcome its value, deciding
    rule, status, missing facts and assumption flag; plus the field errors. Columns are
    numpy arrays of Python objects internally (`array(name)`); `columns` gives plain lists,
    and `to_pandas`, `to_polars`, `to_arrow` convert when those libraries are installed."""

    def __init__(self, arrays: dict[str, Any], outcomes: list[str], ruleset: dict[str, str]) -> None:
        self._arrays = {k: (v if isinstance(v, np.ndarray) else _objects(v)) for k, v in arrays.items()}
        self._lists: dict[str, list[Any]] | None = None
        self.outcomes = outcomes
        self.ruleset = ruleset

    def array(self, name: str) -> np.ndarray:
        return self._arrays[name]

    @property
    def columns(self) -> dict[str, list[Any]]:
        if self._lists is None:
            self._lists = {k: v.tolist() for k, v in self._arrays.items()}
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

        return pa.table(self.columns)

    @staticmethod
    def concat(parts: list["DecisionTable"]) -> "DecisionTable":
        names = list(parts[0]._arrays)
        arrays = {k: np.concatenate([p._arrays[k] for p in parts]) for k in names}
        return DecisionTable(arrays, parts[0].outcomes, parts[0].ruleset)


def _objects(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def columns_from_table(table: Any) -> dict[str, list[Any]] | None:
    """A column-oriented table as lists per column: a dict of lists, a pandas or polars
    DataFrame, or an Arrow table. None for row-oriented input."""
    if isinstance(table, Mapping) and table and all(isinstance(v, (list, tuple, np.ndarray)) for v in table.values()):
        return {k: list(v) for k, v in table.items()}
    mod = type(table).__module__
    if mod.startswith("pandas"):
        return {str(c): table[c].tolist() for c in table.columns}
    if mod.startswith("polars"):
        return {c: table[c].to_list() for c in table.columns}
    if mod.startswith("pyarrow"):
        return {c: table.column(c).to_pylist() for c in table.column_names}
    return None


def records_from_table(table: Any) -> list[Mapping[str, Any]]:
    """Accept a list of dicts, or a pandas/polars DataFrame or an Arrow table."""
    if isinstance(table, list):
        return table
    if hasattr(table, "to_dicts"):  # polars
        return table.to_dicts()
    if hasattr(table, "to_pylist"):  # arrow
        return table.to_pylist()
    if hasattr(table, "to_dict"):  # pandas
        return table.to_dict(orient="records")
    return list(table)


def decide_columns(ev: BatchEvaluator, records: list[Mapping[str, Any]] | None, on: dt.date,
                   ruleset: dict[str, str], columns: Mapping[str, list[Any]] | None = None) -> DecisionTable:
    # The prepared evaluator is shared by an engine's calls; a run keeps its state (columns,
    # caches) on a shallow copy, so concurrent calls never see each other's rows.
    ev = copy.copy(ev)
    ent = ev.ent
    cols = Columns(ent, records, columns)
    results = ev.run(cols, on)
    fact_names = list(ent.facts)
    out: dict[str, Any] = {}
    id_field = ent.id_field
    if id_field:
        idcol = cols.columns[id_field]
        out["record_id"] = np.where(idcol.known, idcol.val, None) if idcol.val.dtype == object else \
            _objects([str(v) if k else None for v, k in zip(idcol.val.tolist(), idcol.known.tolist())])
    else:
        out["record_id"] = _objects([None] * cols.n)
    statuses = _objects(["value", "unknown", "not_in_force"])
    for oid in ent.outcome_order:
        res = results[oid]
        concl = _objects(res["conclusions"] + [None])
        ids = np.where(res["_status"] == 0, res["_ids"], len(res["conclusions"]))
        out[oid] = concl[ids]
        rules = _objects(res["rules"] + [None])
        ridx = np.where((res["_status"] == 0) & (res["_rule"] >= 0), res["_rule"], len(res["rules"]))
        out[f"{oid}_rule"] = rules[ridx]
        out[f"{oid}_status"] = statuses[res["_status"]]
        masks, inverse = np.unique(res["_miss"], return_inverse=True)
        names = _objects([sorted(f for i, f in enumerate(fact_names) if i < 64 and int(m) >> i & 1)
                          for m in masks.tolist()])
        out[f"{oid}_missing"] = names[inverse.reshape(-1)] if len(masks) else _objects([])
        out[f"{oid}_assumption"] = _objects((res["_asm"] != 0).tolist())
    errors = np.full(cols.n, "", dtype=object)
    errors_en = np.full(cols.n, "", dtype=object)
    for i, msgs in cols.errors.items():
        errors[i] = "; ".join(msgs)
        errors_en[i] = "; ".join(cols.error_en[i])
    out["errors"] = errors
    out["errors_en"] = errors_en
    return DecisionTable(out, list(ent.outcome_order), ruleset)

"""The batch path's evaluator: one entity's compiled rules over a batch of fact columns with
numpy, translating `eval/semantics` into masks — the junctions from its `DECISIVE` table, the
calendar functions by the vectorised kernels of `lang/values`, outcome resolution by the generic
`semantics.resolve_outcome` over a column domain. Every expression node yields a `Col`: values,
a known-mask, a bitmask of the facts whose unknownness matters (for the minimal missing facts)
and whether the value rests on an assumption."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from eligibility.compile.ir import CNode, CompiledEntity, CompiledRuleSet
from eligibility.eval.columnar_input import Col, Columns
from eligibility.eval.columnar_table import code_dtype
from eligibility.eval.semantics import DECISIVE, resolve_outcome, same_conclusion
from eligibility.lang.values import NEVER_ORDINAL, UNKNOWN, shift_ordinals, year_of_ordinals


class Unsupported(Exception):
    pass


# A shared all-true known-mask for constants (sliced, never written: see `_const`).
_ALL_KNOWN = np.ones(1 << 16, dtype=bool)
_ALL_KNOWN.flags.writeable = False


def _const(n: int, value: Any, dtype: Any) -> Col:
    # Read-only broadcast views, not n copies: a rule set's literals and parameters made a
    # fifth of an evaluation's allocations. Nothing writes into an operand's arrays.
    scalar = np.array(value, dtype=dtype)
    return Col(
        np.broadcast_to(scalar, (n,)),
        _ALL_KNOWN[:n] if n <= len(_ALL_KNOWN) else np.ones(n, dtype=bool),
        np.uint64(0),
        scalar=scalar[()],
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
            if a.val.dtype != object and len(items) <= 8 and all(isinstance(i, (int, float)) for i in items):
                # A few equality tests beat isin's sort for the short lists rules use, and a
                # gather through the codes too (a random read per row: ten times an equality).
                val = np.zeros(self.n, dtype=bool)
                for item in items:
                    val |= a.val == item
            elif a.codes is not None and a.uniq is not None:
                wanted = set(items)
                hit = np.array([v in wanted for v in a.uniq.tolist()], dtype=bool)
                val = hit[a.codes]
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
            # Numbers against a constant straight on the values (val == uniq[codes]): an
            # equality over the rows is ten times cheaper than a gather through the codes.
            if b.scalar is not None and a.val.dtype != object:
                val = fn(a.val, b.scalar)
            elif a.scalar is not None and b.val.dtype != object:
                val = fn(a.scalar, b.val)
            elif b.scalar is not None and a.codes is not None and a.uniq is not None and a.uniq.dtype != object:
                val = fn(a.uniq, b.scalar)[a.codes]  # once per distinct value
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
        dom = _ColumnDomain(self, oc, len(rules))
        ids = np.full(self.n, -1, dtype=np.int64)
        status = np.zeros(self.n, dtype=np.int8)  # 0 decided, 1 unknown, 2 no rule / not in force
        miss = None
        if not rules:
            status[:] = 2
        else:
            pending, opened, undecided = resolve_outcome(dom, rules, oc.default is not None)
            ids = dom.reached()  # the pending lanes take the default where there is one
            if self.track:
                miss = np.zeros(self.n, dtype=np.uint64)
                for i, open_ in opened:
                    cond = dom.conds[i]
                    m = cond.miss if cond is not None else None
                    assert m is not None  # conditions carry their mask while tracking
                    miss |= np.where(open_ & undecided, m, np.uint64(0))
            status = undecided.astype(np.int8)  # 1 where unknown, else 0 (decided)
        if self.track:
            miss = np.zeros(self.n, dtype=np.uint64) if miss is None else np.where(status == 1, miss, np.uint64(0))
        rule_idx = dom.chosen - dom.chosen.dtype.type(1)  # -1 where no rule decided
        asm = dom.asm & (status == 0) & (rule_idx >= 0)
        out = {
            "_ids": ids,
            "_status": status,
            "_rule": rule_idx,
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

    def __init__(self, ev: BatchEvaluator, oc: Any, n_rules: int) -> None:
        self.ev = ev
        n = self.n = ev.n
        self.conclusions: list[Any] = []
        self.true_id = self.cid(True) if oc.type.kind == "bool" else -99
        self.n_rules = n_rules
        # 1 + the index of the rule that decided a lane, 0 where none has (yet): the smallest
        # integer type, so that `choose` is one vectorised multiply-add (see there).
        self.chosen = np.zeros(n, dtype=code_dtype(n_rules + 1))
        self._reached: np.ndarray | None = None
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
        # `resolve_outcome` chooses only pending lanes, where `chosen` is still 0: adding
        # lanes * (index + 1) stores the rule there. Arithmetic, not a masked store: the lanes
        # are scattered over the rows, and a masked store branches on every row (20x slower).
        self.chosen += lanes.view(np.int8) * self.chosen.dtype.type(index + 1)
        self._reached = None
        c = self.conds[index]
        if self.rules[index].id in self.ev.asm_rules:
            self.asm |= lanes
        elif c is not None and c.asm is not False:
            self.asm |= lanes & c.asm

    def reached(self) -> np.ndarray:
        """Each lane's conclusion id: the deciding rule's, or where no rule decided (the
        pending lanes, `chosen` 0) the default's, -1 without one. Kept until the next
        `choose`: `settle` asks once per open rule."""
        if self._reached is None:
            lut = np.array([self.default_id] + [self.concl.get(i, -1) for i in range(self.n_rules)], dtype=np.int64)
            self._reached = lut[self.chosen]
        return self._reached

    def concludes_otherwise(self, index: int, pending: np.ndarray) -> np.ndarray:
        other: np.ndarray = self.reached() != self.concl[index]
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

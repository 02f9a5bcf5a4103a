"""A second, independent engine: the rule set compiled into a durable_rules (Rete)
ruleset. Optional (`pip install eligibility[durable]`, Python < 3.13); the core never
imports this module.

What it is for: cross-checking. The conditions of every rule are translated into
durable_rules' own condition language and matched by its Rete network; only the
precedence between rules that fired is resolved here. It covers outcomes concluded by
literal values (the person outcomes), for fully known records: durable_rules has no
notion of an unknown fact, so records with missing facts are out of its scope.

Traps measured with durable_rules 2.0.28 (recorded in docs/design.md):
- a record must be asserted as a fact; a posted event is consumed by the first rule;
- more than 1,024 live sessions in one ruleset crash the process: each record gets its
  own session, deleted right after;
- delete_state on a fresh ruleset whose first session matched nothing aborts the
  process: every ruleset is warmed up with a fact that fires a rule.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledOutcome, CompiledRule
from eligibility.decision.records import normalize
from eligibility.engine import Engine, coerce_date
from eligibility.eval.evaluator import make_env
from eligibility.lang.values import NEVER, NEVER_ORDINAL, UNKNOWN

_counter = itertools.count()


class Unsupported(Exception):
    """A rule the translation does not cover (computed conclusions)."""


# Boolean formulas over leaf comparisons: ("and", [..]) ("or", [..]) ("not", f)
# ("cmp", op, field_or_const, field_or_const) ("const", bool).
Formula = tuple[Any, ...]

_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_DURABLE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def _plain(value: Any) -> Any:
    # Dates as day numbers; "has not happened" as the one day number for it (after every date).
    if value is NEVER:
        return NEVER_ORDINAL
    if isinstance(value, dt.date):
        return value.toordinal()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (bool, int, float)):
        return float(value)
    return value


class _Translator:
    """Turns one outcome's rules into formulas over record fields, for one date."""

    def __init__(self, entity: CompiledEntity, params: dict[str, Any], on: dt.date) -> None:
        self.entity = entity
        self.params = params
        self.on = on
        # Sub-expressions that compute from facts (add_months(aufnahme, 24) ...) are
        # given to durable as extra fields of the fact: durable cannot call functions.
        self.synthetic: dict[int, tuple[str, CNode]] = {}

    def field_for(self, node: CNode) -> Any:
        """A leaf operand: ("field", name) or ("const", value)."""
        if node.kind == "fact":
            return ("field", node.name)
        if node.kind == "literal":
            return ("const", _plain(node.fn(None)))  # type: ignore[arg-type]
        if node.kind == "stichtag":
            return ("const", _plain(self.on))
        if node.kind == "param":
            return ("const", _plain(self.params[node.name]))
        if node.kind == "list" and all(k.kind in ("literal",) for k in node.kids):
            return ("const", tuple(_plain(k.fn(None)) for k in node.kids))  # type: ignore[arg-type]
        if node.kind in ("call", "arith", "neg", "known"):
            key = id(node)
            if key not in self.synthetic:
                self.synthetic[key] = (f"_x{len(self.synthetic)}", node)
            return ("field", self.synthetic[key][0])
        raise Unsupported(f"operand {node.kind}")

    def formula(self, node: CNode | None) -> Formula:
        if node is None:
            return ("const", True)
        k = node.kind
        if k == "and":
            return ("and", [self.formula(c) for c in node.kids])
        if k == "or":
            return ("or", [self.formula(c) for c in node.kids])
        if k == "not":
            return ("not", self.formula(node.kids[0]))
        if k == "literal":
            return ("const", bool(node.fn(None)))  # type: ignore[arg-type]
        if k == "fact":
            return ("cmp", "==", ("field", node.name), ("const", True))
        if k == "known":
            # Computed in Python like the calendar functions: durable has no test for absence.
            return ("cmp", "==", self.field_for(node), ("const", True))
        if k == "param":
            return ("const", bool(self.params[node.name]))
        if k == "derived":
            return self.formula(self.entity.derived[node.name].node)
        if k == "outcome":
            # Outcomes are decided stratum by stratum; a later stratum reads the
            # value an earlier one produced as a field of the fact.
            return ("cmp", "==", ("field", f"_o_{node.name}"), ("const", True))
        if k == "compare":
            op = node.name
            left, right = self.field_for(node.kids[0]), self.field_for(node.kids[1])
            if op in ("in", "not in"):
                if right[0] != "const":
                    raise Unsupported("'in' needs a constant list")
                eqs = [("cmp", "==", left, ("const", v)) for v in right[1]]
                f: Formula = ("or", eqs) if eqs else ("const", False)
                return f if op == "in" else ("not", f)
            return ("cmp", op, left, right)
        raise Unsupported(f"condition {k}")

    def rules_in_force(self, oc: CompiledOutcome) -> list[CompiledRule]:
        return [r for r in oc.rules if r.in_force(self.on)]


def _nnf(f: Formula, negate: bool = False) -> Formula:
    """Negation normal form with constants folded: durable_rules has no 'not' over
    a condition, only negated comparisons."""
    tag = f[0]
    if tag == "const":
        return ("const", (not f[1]) if negate else f[1])
    if tag == "not":
        return _nnf(f[1], not negate)
    if tag in ("and", "or"):
        op = tag if not negate else ("or" if tag == "and" else "and")
        parts = [_nnf(p, negate) for p in f[1]]
        if op == "and":
            if any(p == ("const", False) for p in parts):
                return ("const", False)
            parts = [p for p in parts if p != ("const", True)]
            return ("const", True) if not parts else (parts[0] if len(parts) == 1 else ("and", parts))
        if any(p == ("const", True) for p in parts):
            return ("const", True)
        parts = [p for p in parts if p != ("const", False)]
        return ("const", False) if not parts else (parts[0] if len(parts) == 1 else ("or", parts))
    _, op, left, right = f
    if negate:
        op = _NEGATE[op]
    if left[0] == "const" and right[0] == "const":
        a, b = left[1], right[1]
        return ("const", {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    if left[0] == "const":
        left, right, op = right, left, _FLIP[op]
    return ("cmp", op, left, right)


def _to_durable(f: Formula) -> dict[str, Any]:
    tag = f[0]
    if tag in ("and", "or"):
        return {f"${tag}": [_to_durable(p) for p in f[1]]}
    _, op, left, right = f
    field = left[1]
    if right[0] == "field":
        rhs: Any = {"$m": right[1]}
    else:
        rhs = right[1]
    if op == "==":
        return {field: rhs}
    return {_DURABLE_OP[op]: {field: rhs}}


class DurableEngine:
    """Evaluates records with durable_rules. One ruleset per reference date."""

    def __init__(self, engine: Engine, entity: str | None = None) -> None:
        from durable import engine as durable_engine  # the optional extra

        self.engine = engine
        self.entity = engine.entity(entity)
        self._not_handled = durable_engine.MessageNotHandledException
        self._host = durable_engine.Host()
        self._rulesets: dict[
            dt.date, tuple[list[tuple[str, list[str]]], _Translator, dict[str, list[CompiledRule]]]
        ] = {}
        self._fired: dict[str, set[str]] = {}

    def outcomes(self) -> list[str]:
        return list(self.entity.outcome_order)

    def _strata(self) -> list[list[str]]:
        """Outcomes grouped so that each group reads only outcomes of earlier groups."""
        from eligibility.compile.ir import _outcome_deps

        deps = {o: _outcome_deps(self.entity.outcomes[o], self.entity.derived) for o in self.entity.outcome_order}
        level: dict[str, int] = {}

        def lvl(o: str) -> int:
            if o not in level:
                level[o] = 0
                level[o] = 1 + max((lvl(d) for d in deps[o]), default=-1)
            return level[o]

        groups: dict[int, list[str]] = {}
        for o in self.entity.outcome_order:
            groups.setdefault(lvl(o), []).append(o)
        return [groups[k] for k in sorted(groups)]

    def _ruleset_for(
        self, on: dt.date
    ) -> tuple[list[tuple[str, list[str]]], _Translator, dict[str, list[CompiledRule]]]:
        if on in self._rulesets:
            return self._rulesets[on]
        crs = self.engine.compiled
        translator = _Translator(self.entity, crs.params_on(on), on)
        in_force: dict[str, list[CompiledRule]] = {}
        strata: list[tuple[str, list[str]]] = []
        for group in self._strata():
            name = f"eligibility_{on.isoformat()}_{next(_counter)}"
            definitions: dict[str, Any] = {}
            for oid in group:
                oc = self.entity.outcomes[oid]
                rules = translator.rules_in_force(oc)
                in_force[oid] = rules
                for r in rules:
                    if r.compute is not None:
                        raise Unsupported(f"outcome {oid} computes its value; durable covers literal conclusions only")
                    f = _nnf(translator.formula(r.cond))
                    if f == ("const", False):
                        continue
                    cond = {"_always": 1} if f == ("const", True) else _to_durable(f)
                    definitions[f"{oid}|{r.id}"] = {"all": [{"m": cond}], "run": self._action(r.id, oid)}
            # Warm-up rule: the first session must fire a rule (see the module docstring).
            definitions["$warmup"] = {"all": [{"m": {"_warmup": 1}}], "run": self._action("$warmup", "$warmup")}
            self._host.register_rulesets({name: definitions})
            self._host.assert_fact(name, {"sid": "warmup", "_rid": "warmup", "_warmup": 1})
            self._host.delete_state(name, "warmup")
            self._fired.pop("warmup", None)
            strata.append((name, group))
        self._rulesets[on] = (strata, translator, in_force)
        return self._rulesets[on]

    def _action(self, rule_id: str, outcome: str) -> Any:
        key = f"{outcome}|{rule_id}"

        def run(c: Any) -> None:
            self._fired.setdefault(c.m["_rid"], set()).add(key)

        return run

    def decide(self, record: Mapping[str, Any], on: dt.date | str) -> dict[str, Any]:
        """Outcome values of a fully known record (True / False / enum value)."""
        day = coerce_date(on)
        strata, translator, in_force = self._ruleset_for(day)
        facts, errors = normalize(record, self.entity.facts)
        if errors:
            raise ValueError("record has invalid fields: " + ", ".join(e.field for e in errors))
        fact: dict[str, Any] = {}
        for k, v in facts.items():
            fact[k] = _plain(v)
        # Values of the sub-expressions durable cannot compute, from the same record.
        env = make_env(self.engine.compiled, self.entity, facts, day)
        for _key, (field, node) in translator.synthetic.items():
            v = node.fn(env)
            if v is UNKNOWN:
                raise ValueError(f"record is not fully known ({node.text} is unknown)")
            fact[field] = _plain(v)
        out: dict[str, Any] = {}
        for name, group in strata:
            rid = f"r{next(_counter)}"
            fact.update({"_rid": rid, "_always": 1, "sid": rid})
            try:
                self._host.assert_fact(name, fact)
            except self._not_handled:
                # No rule of this stratum matched: every outcome takes its default below.
                pass
            finally:
                self._host.delete_state(name, rid)
            fired = self._fired.pop(rid, set())
            for oid in group:
                rules = in_force[oid]
                winner = next((r for r in rules if f"{oid}|{r.id}" in fired), None)
                if winner is not None:
                    out[oid] = winner.value
                elif not rules:
                    out[oid] = None
                else:
                    out[oid] = self.entity.outcomes[oid].default
                fact[f"_o_{oid}"] = out[oid]
        return {oid: out[oid] for oid in self.entity.outcome_order}

    def decide_many(self, records: Iterable[Mapping[str, Any]], on: dt.date | str) -> Iterator[dict[str, Any]]:
        for r in records:
            yield self.decide(r, on)

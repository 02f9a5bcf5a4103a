"""The compiled form (IR) every backend runs: frozen dataclasses, never written after
compilation (design §21), and the one walker over it (`reachable`) that the analyses use.

A node keeps its AST, source text, closure (`fn`, built by `compile/closures`) and, for the
strict operators, the operation from `eval/semantics`' tables (`op`), so that evaluators that
compute a tree bottom-up (the explanation, the column-wise backend) use the same operation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eligibility.lang.syntax import Node
from eligibility.lang.types import Type
from eligibility.lang.values import UNKNOWN
from eligibility.source.loader import EntityModel, RuleSetModel
from eligibility.source.model import DerivedSpec, FactSpec, OutcomeSpec, ParameterSpec, RuleSpec

if TYPE_CHECKING:
    from eligibility.compile.closures import Env

REFERENCE_DATE = "stichtag"

Fn = Callable[["Env"], Any]


@dataclasses.dataclass(eq=False, frozen=True)
class CNode:
    """A compiled expression node: its AST, its source text and its closure."""

    ast: Node
    text: str
    fn: Fn
    kids: tuple[CNode, ...]
    kind: str  # literal fact param derived outcome stichtag and or not compare arith neg call list
    name: str = ""
    # The operation on the operands' values (compare, arith, call, neg), for evaluators that
    # compute a tree bottom-up once (the explanation) instead of through `fn`.
    op: Callable[..., Any] | None = None


@dataclasses.dataclass(eq=False, frozen=True)
class CompiledDerived:
    name: str
    spec: DerivedSpec
    node: CNode
    type: Type


@dataclasses.dataclass(eq=False, frozen=True)
class CompiledRule:
    id: str
    outcome: str
    spec: RuleSpec
    cond: CNode | None  # None: always applies
    value: Any  # literal conclusion, or UNKNOWN when computed
    compute: CNode | None
    order: int  # position in precedence order (0 = tried first)
    valid_from: dt.date
    valid_to: dt.date | None

    def in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@dataclasses.dataclass(slots=True)
class OutcomeResult:
    value: Any  # True / False / a value / UNKNOWN / None (no rule in force)
    rule: CompiledRule | None  # the deciding rule (None: the outcome's default, or undecided)
    considered: list[tuple[CompiledRule, Any]]  # rules tried, in order, with condition value
    open_rules: list[CompiledRule]  # rules whose unknown condition could change the value
    by_default: bool = False
    no_rule_in_force: bool = False
    # With the explanation: the rules tried as the decision's trace entries (JSON shape of
    # `decision.TraceStep`), made by the generated resolution as it tries them.
    trace: list[dict[str, Any]] | None = None


@dataclasses.dataclass(eq=False, frozen=True)
class CompiledOutcome:
    name: str
    spec: OutcomeSpec
    type: Type
    rules: list[CompiledRule]  # precedence order
    default: Any  # value when no rule fires, or None

    def in_force(self, on: dt.date) -> bool:
        vf, vt = self.spec.valid_from, self.spec.valid_to
        return (vf is None or vf <= on) and (vt is None or on <= vt)

    def evaluate(self, env: Env) -> OutcomeResult:
        """This outcome for one record (`closures.evaluate_outcome`: the generic resolution of
        `eval/semantics` over one record)."""
        from eligibility.compile.closures import evaluate_outcome

        return evaluate_outcome(self, env)


@dataclasses.dataclass(eq=False, frozen=True)
class CompiledEntity:
    name: str
    model: EntityModel
    facts: dict[str, FactSpec]
    fact_types: dict[str, Type]
    derived: dict[str, CompiledDerived]
    outcomes: dict[str, CompiledOutcome]
    outcome_order: list[str]
    id_field: str | None


@dataclasses.dataclass(eq=False, frozen=True)
class CompiledRuleSet:
    model: RuleSetModel
    entities: dict[str, CompiledEntity]
    param_types: dict[str, Type]
    # Containers made with the IR for what evaluation derives and keeps (parameter values and
    # rules in force per day, and eval/tables.EntityTables per entity): the IR's own fields
    # never change; these caches hang off it so that they go with it (design §21).
    _param_cache: dict[dt.date, dict[str, Any]] = dataclasses.field(default_factory=dict)
    _rules_cache: dict[tuple[str, dt.date], dict[str, list[CompiledRule]]] = dataclasses.field(default_factory=dict)
    eval_tables: dict[str, Any] = dataclasses.field(default_factory=dict)

    def params_on(self, on: dt.date) -> dict[str, Any]:
        cached = self._param_cache.get(on)
        if cached is not None:
            return cached
        out: dict[str, Any] = {}
        for name, spec in self.model.parameters.items():
            version = parameter_version(spec, on)
            out[name] = UNKNOWN if version is None else runtime_param_value(version.value, spec)
        if len(self._param_cache) > 4096:
            self._param_cache.clear()
        self._param_cache[on] = out
        return out

    def rules_on(self, entity: str, on: dt.date) -> dict[str, list[CompiledRule]]:
        key = (entity, on)
        cached = self._rules_cache.get(key)
        if cached is not None:
            return cached
        ent = self.entities[entity]
        out = {
            name: ([r for r in oc.rules if r.in_force(on)] if oc.in_force(on) else [])
            for name, oc in ent.outcomes.items()
        }
        if len(self._rules_cache) > 4096:
            self._rules_cache.clear()
        self._rules_cache[key] = out
        return out


def parameter_version(spec: ParameterSpec, on: dt.date) -> Any:
    for v in spec.versions:
        if v.valid_from <= on and (v.valid_to is None or on <= v.valid_to):
            return v
    return None


def runtime_param_value(value: Any, spec: ParameterSpec) -> Any:
    if isinstance(value, list):
        return tuple(runtime_param_value(v, spec) for v in value)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def reachable(ent: CompiledEntity, roots: Iterable[CNode | None], through_outcomes: bool = False) -> Iterator[CNode]:
    """Every node the roots read, following derived facts into their expressions (and,
    with `through_outcomes`, referenced outcomes into their rules), each derived fact or
    outcome once."""
    seen: set[tuple[str, str]] = set()
    stack = [n for n in roots if n is not None]
    while stack:
        n = stack.pop()
        yield n
        if n.kind == "derived" and ("d", n.name) not in seen and n.name in ent.derived:
            seen.add(("d", n.name))
            stack.append(ent.derived[n.name].node)
        elif through_outcomes and n.kind == "outcome" and ("o", n.name) not in seen:
            seen.add(("o", n.name))
            stack.extend(x for r in ent.outcomes[n.name].rules for x in (r.cond, r.compute) if x is not None)
        stack.extend(n.kids)


def _deps(cn: CNode | None) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    stack = [cn] if cn else []
    while stack:
        n = stack.pop()
        if n.kind in ("derived", "outcome"):
            out.add((n.kind, n.name))
        stack.extend(n.kids)
    return out


def _outcome_deps(oc: CompiledOutcome, derived: dict[str, CompiledDerived]) -> set[str]:
    """Outcomes an outcome reads, through derived facts too."""
    out: set[str] = set()
    todo: list[tuple[str, str]] = []
    for r in oc.rules:
        todo.extend(_deps(r.cond) | _deps(r.compute))
    seen: set[tuple[str, str]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        kind, name = item
        if kind == "outcome":
            out.add(name)
        elif name in derived:
            todo.extend(_deps(derived[name].node))
    return out

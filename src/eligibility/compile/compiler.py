"""Compile a validated rule set model into the IR (`compile/ir`) with load-time checks.

This module checks a rule set and reports what is wrong (precedence, parameter versions,
names, types, conclusions, cycles) and builds the frozen IR; the closures are made by
`compile/closures`, names are resolved by `compile/scope`. The names other packages import
from here (the IR classes, `Env`, `reachable`, `parameter_version`) are re-exported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from eligibility.compile.closures import Env, compile_expr
from eligibility.compile.ir import (
    REFERENCE_DATE,
    CNode,
    CompiledDerived,
    CompiledEntity,
    CompiledOutcome,
    CompiledRule,
    CompiledRuleSet,
    Fn,
    OutcomeResult,
    _outcome_deps,
    parameter_version,
    reachable,
    runtime_param_value,
)
from eligibility.compile.scope import Scope
from eligibility.diagnostics import Diagnostic, RuleSetError, did_you_mean
from eligibility.lang.syntax import ExpressionError, Node, fixed_shift_beyond_calendar, parse
from eligibility.lang.types import BOOL, DATE, EnumValueError, Type, infer, type_of_spec
from eligibility.lang.values import UNKNOWN
from eligibility.source.loader import EntityModel, Origin, RuleSetModel
from eligibility.source.model import ParameterSpec, RuleSpec

__all__ = [
    "CNode",
    "CompiledDerived",
    "CompiledEntity",
    "CompiledOutcome",
    "CompiledRule",
    "CompiledRuleSet",
    "Env",
    "Fn",
    "OutcomeResult",
    "REFERENCE_DATE",
    "compile_expr",
    "compile_ruleset",
    "parameter_version",
    "reachable",
    "runtime_param_value",
]

# Name resolution is `compile/scope`; kept under its old name for the functions below.
_Scope = Scope


# ---------------------------------------------------------------- rule set compiler


def _topo_rules(
    outcome: str, rules: list[RuleSpec], origin: Callable[[str], Origin | None], diags: list[Diagnostic]
) -> list[RuleSpec]:
    """Precedence order: a rule that overrides another is tried first. Ties are broken
    by rule id, never by file order, so reordering files changes nothing."""
    ids = {r.id for r in rules}
    beats: dict[str, set[str]] = {r.id: set() for r in rules}
    for r in rules:
        if r.overrides == "all":
            beats[r.id] = {o.id for o in rules if o.overrides != "all"}
            continue
        for target in r.overrides:
            if target not in ids:
                o = origin(r.id)
                if o:
                    diags.append(
                        o.diagnostic(
                            "E017",
                            f"rule '{r.id}' overrides '{target}', which is not a rule of outcome '{outcome}'",
                            ("overrides",),
                            did_you_mean(target, ids),
                        )
                    )
                continue
            beats[r.id].add(target)
    # Cycle check (Kahn): what cannot be ordered is part of a cycle.
    indegree = {i: 0 for i in ids}
    for winners in beats.values():
        for loser in winners:
            indegree[loser] += 1
    ready = [i for i, d in indegree.items() if d == 0]
    ordered: set[str] = set()
    while ready:
        cur = ready.pop()
        ordered.add(cur)
        for loser in beats[cur]:
            indegree[loser] -= 1
            if indegree[loser] == 0:
                ready.append(loser)
    stuck = sorted(ids - ordered)
    if stuck:
        o = origin(stuck[0])
        if o:
            diags.append(
                o.diagnostic(
                    "E017",
                    f"precedence cycle between rules {', '.join(stuck)}",
                    ("overrides",),
                    "an exception cannot also be overridden by the rule it overrides",
                )
            )
        for i in stuck:
            beats[i] = set()
    # Level: an exception stands above every rule it overrides. Within a level, rules
    # without an assumption are tried first, so a decision rests on sourced law where
    # sourced law suffices; then the rule id breaks the tie (never the file order).
    level: dict[str, int] = {}

    def lvl(i: str) -> int:
        if i not in level:
            level[i] = 0
            level[i] = 1 + max((lvl(j) for j in beats[i]), default=-1)
        return level[i]

    by_assumption = {r.id: r.assumption for r in rules}
    order = sorted(ids, key=lambda i: (-lvl(i), by_assumption[i], i))
    by_id = {r.id: r for r in rules}
    return [by_id[i] for i in order]


def compile_ruleset(model: RuleSetModel) -> CompiledRuleSet:
    diags: list[Diagnostic] = []
    param_types = {name: type_of_spec(p.type, None, p.item_type) for name, p in model.parameters.items()}
    for name, p in model.parameters.items():
        o = model.origin("parameter", name)
        for i, v in enumerate(p.versions):
            if v.valid_to is not None and v.valid_to < v.valid_from and o:
                diags.append(
                    o.diagnostic(
                        "E018",
                        f"version {i + 1} of parameter '{name}' ends before it starts",
                        ("versions", i, "valid_to"),
                    )
                )
            if v.assumption and v.note is None and o:
                diags.append(
                    o.diagnostic(
                        "E014",
                        f"parameter '{name}' version {i + 1} is an assumption without a note",
                        ("versions", i, "assumption"),
                        "add 'note: {de: ..., en: ...}' saying what is assumed and why",
                    )
                )
            if not _value_fits(v.value, p.type, p.item_type) and o:
                diags.append(
                    o.diagnostic(
                        "E006",
                        f"value of parameter '{name}' version {i + 1} is not of type {p.type}",
                        ("versions", i, "value"),
                    )
                )
        _check_overlaps(name, p, o, diags)
    entities: dict[str, CompiledEntity] = {}
    for ename, ent in sorted(model.entities.items()):
        entities[ename] = _compile_entity(model, ent, param_types, diags)
    if model.manifest.default_entity not in entities and model.manifest_origin:
        diags.append(
            model.manifest_origin.diagnostic(
                "E022",
                f"default_entity '{model.manifest.default_entity}' has no facts or outcomes",
                ("default_entity",),
                did_you_mean(model.manifest.default_entity, list(entities)),
            )
        )
    if any(d.severity == "error" for d in diags):
        raise RuleSetError([d for d in diags if d.severity == "error"])
    return CompiledRuleSet(model, entities, param_types)


def _value_fits(value: Any, kind: str, item: str | None) -> bool:
    if kind == "list":
        return isinstance(value, list) and all(_value_fits(v, item or "any", None) for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, dt.date)
    if kind in ("text", "enum"):
        return isinstance(value, str)
    return True


def _check_overlaps(name: str, p: ParameterSpec, o: Origin | None, diags: list[Diagnostic]) -> None:
    vs = sorted(enumerate(p.versions), key=lambda iv: iv[1].valid_from)
    for (_i, a), (j, b) in zip(vs, vs[1:]):
        a_end = a.valid_to or dt.date.max
        if b.valid_from <= a_end and o:
            diags.append(
                o.diagnostic(
                    "E015",
                    f"parameter '{name}': versions valid from {a.valid_from} and from "
                    f"{b.valid_from} are both valid on {b.valid_from}",
                    ("versions", j, "valid_from"),
                    f"end the earlier version with 'valid_to: {b.valid_from - dt.timedelta(days=1)}'",
                )
            )


def _compile_entity(
    model: RuleSetModel, ent: EntityModel, param_types: dict[str, Type], diags: list[Diagnostic]
) -> CompiledEntity:
    fact_types = {n: type_of_spec(f.type, f.values, f.item_type) for n, f in ent.facts.items()}
    scope = _Scope(ent, fact_types, param_types)
    # Names must be unique across kinds: an expression must never be ambiguous.
    seen: dict[str, str] = {}
    for kind, names in (
        ("fact", ent.facts),
        ("derived", ent.derived),
        ("outcome", ent.outcomes),
        ("parameter", model.parameters),
    ):
        for n in names:
            if n == REFERENCE_DATE or n in seen:
                o = model.origin(
                    kind if kind != "parameter" else "parameter", *(() if kind == "parameter" else (ent.name,)), n
                )
                if o:
                    diags.append(
                        o.diagnostic(
                            "E008",
                            f"name '{n}' is used for a {seen.get(n, 'built-in')} and a {kind}",
                            (),
                            "give it a distinct name",
                            key=True,
                        )
                    )
            seen.setdefault(n, kind)

    def parse_at(text: str, origin: Origin | None, sub: tuple[Any, ...], what: str) -> Node | None:
        try:
            node = parse(text)
            shift = fixed_shift_beyond_calendar(node)
            if shift is not None:
                raise shift
            return node
        except ExpressionError as exc:
            if origin:
                diags.append(
                    origin.diagnostic(exc.code, f"{what}: {exc.message}", sub, exc.hint, column_offset=exc.column)
                )
            return None

    # Derived facts and outcomes may read each other: infer types in dependency order
    # and report cycles instead of recursing forever.
    derived_nodes: dict[str, Node] = {}
    for n, spec in ent.derived.items():
        o = model.origin("derived", ent.name, n)
        node = parse_at(spec.expr, o, ("expr",), f"derived fact '{n}'")
        if node is not None:
            derived_nodes[n] = node
    for oname, ospec in ent.outcomes.items():
        scope.outcome_types[oname] = (
            type_of_spec("enum", ospec.values) if ospec.type == "enum" else type_of_spec(ospec.type)
        )

    visiting: list[str] = []
    failed: set[str] = set()

    def make_resolver() -> Callable[[str, int], Type]:
        def resolve(name: str, column: int) -> Type:
            kind = scope.kind(name)
            if kind is None:
                hint = (
                    did_you_mean(name, scope.all_names())
                    or "facts, derived facts, outcomes and parameters are declared in the rule files"
                )
                raise _UnknownName(f"unknown name '{name}'", column, hint)
            if kind == "stichtag":
                return DATE
            if kind == "fact":
                return fact_types[name]
            if kind == "param":
                return param_types[name]
            if kind == "outcome":
                return scope.outcome_types[name]
            return derived_type(name, column)

        return resolve

    def derived_type(name: str, column: int) -> Type:
        if name in scope.derived_types:
            return scope.derived_types[name]
        if name in visiting:
            cycle = visiting[visiting.index(name) :] + [name]
            raise _Cycle(
                f"cycle between derived facts: {' -> '.join(cycle)}", column, "a derived fact cannot depend on itself"
            )
        if name not in derived_nodes or name in failed:
            return BOOL if name in failed else _raise_unknown(name, column)
        visiting.append(name)
        try:
            o = model.origin("derived", ent.name, name)
            t = _typed(derived_nodes[name], ent.derived[name].expr, o, ("expr",), f"derived fact '{name}'")
            scope.derived_types[name] = t if t is not None else BOOL
            return scope.derived_types[name]
        finally:
            visiting.pop()

    def _typed(node: Node, text: str, origin: Origin | None, sub: tuple[Any, ...], what: str) -> Type | None:
        try:
            return infer(node, make_resolver())
        except _Cycle as exc:
            if origin:
                diags.append(origin.diagnostic("E016", exc.message, sub, exc.hint, column_offset=exc.column))
        except _UnknownName as exc:
            if origin:
                diags.append(
                    origin.diagnostic("E010", f"{what}: {exc.message}", sub, exc.hint, column_offset=exc.column)
                )
        except EnumValueError as exc:
            if origin:
                diags.append(
                    origin.diagnostic("E012", f"{what}: {exc.message}", sub, exc.hint, column_offset=exc.column)
                )
        except ExpressionError as exc:
            if origin:
                diags.append(
                    origin.diagnostic("E011", f"{what}: {exc.message}", sub, exc.hint, column_offset=exc.column)
                )
        return None

    for n in sorted(derived_nodes):
        try:
            derived_type(n, 0)
        except (_Cycle, _UnknownName):
            failed.add(n)

    derived: dict[str, CompiledDerived] = {}
    for n in sorted(derived_nodes):
        derived[n] = CompiledDerived(
            n,
            ent.derived[n],
            compile_expr(ent.derived[n].expr, derived_nodes[n], scope),
            scope.derived_types.get(n, BOOL),
        )
        o = model.origin("derived", ent.name, n)
        if ent.derived[n].assumption and ent.derived[n].note is None and o:
            diags.append(
                o.diagnostic(
                    "E014",
                    f"derived fact '{n}' is an assumption without a note",
                    ("assumption",),
                    "add 'note: {de: ..., en: ...}' saying what is assumed and why",
                )
            )

    outcomes: dict[str, CompiledOutcome] = {}
    for oname in sorted(ent.outcomes):
        ospec = ent.outcomes[oname]
        otype = scope.outcome_types[oname]
        ordered = _topo_rules(oname, ospec.rules, lambda rid: model.origin("rule", ent.name, rid), diags)
        compiled_rules: list[CompiledRule] = []
        for idx, r in enumerate(ordered):
            o = model.origin("rule", ent.name, r.id)
            if not (r.source and r.source.strip()) and o:
                diags.append(
                    o.diagnostic(
                        "E013",
                        f"rule '{r.id}' has no source",
                        ("id",),
                        "add 'source:' with law and paragraph, VwV number or Erlass and date",
                    )
                )
            if r.assumption and r.note is None and o:
                diags.append(
                    o.diagnostic(
                        "E014",
                        f"rule '{r.id}' is an assumption without a note",
                        ("assumption",),
                        "add 'note: {de: ..., en: ...}' saying what is assumed and why",
                    )
                )
            vf = r.valid_from or model.manifest.valid_from
            if r.valid_to is not None and r.valid_to < vf and o:
                diags.append(o.diagnostic("E018", f"rule '{r.id}' ends before it starts", ("valid_to",)))
            cond: CNode | None = None
            if isinstance(r.when, bool):
                if r.when is False and o:
                    diags.append(
                        o.diagnostic(
                            "E006",
                            f"rule '{r.id}': 'when: false' never applies",
                            ("when",),
                            "delete the rule or give it a condition",
                        )
                    )
                cond = None
            else:
                node = parse_at(r.when, o, ("when",), f"rule '{r.id}'")
                if node is not None:
                    t = _typed(node, r.when, o, ("when",), f"rule '{r.id}'")
                    if t is not None and t.kind != "bool" and o:
                        diags.append(
                            o.diagnostic(
                                "E011",
                                f"rule '{r.id}': the condition must be true/false, not {t.describe()}",
                                ("when",),
                            )
                        )
                    cond = compile_expr(r.when, node, scope)
            compute: CNode | None = None
            value: Any = UNKNOWN
            if r.compute is not None:
                node = parse_at(r.compute, o, ("compute",), f"rule '{r.id}'")
                if node is not None:
                    t = _typed(node, r.compute, o, ("compute",), f"rule '{r.id}'")
                    if t is not None and not _fits_outcome(t, otype) and o:
                        diags.append(
                            o.diagnostic(
                                "E021",
                                f"rule '{r.id}' computes {t.describe()}, but outcome '{oname}' is {otype.describe()}",
                                ("compute",),
                            )
                        )
                    compute = compile_expr(r.compute, node, scope)
            else:
                value = _literal_conclusion(r.then, otype)
                if value is _BAD and o:
                    allowed = ", ".join(sorted(otype.values or ())) if otype.kind == "enum" else otype.kind
                    diags.append(
                        o.diagnostic(
                            "E021",
                            f"rule '{r.id}' concludes '{r.then}', which does not fit outcome '{oname}' ({allowed})",
                            ("then",),
                            did_you_mean(str(r.then), otype.values or ()) if otype.values else "",
                        )
                    )
            compiled_rules.append(CompiledRule(r.id, oname, r, cond, value, compute, idx, vf, r.valid_to))
        default = None
        if ospec.default is not None:
            default = _literal_conclusion(ospec.default.value, otype)
            if default is _BAD:
                o = model.origin("outcome", ent.name, oname)
                if o:
                    diags.append(
                        o.diagnostic(
                            "E021", f"default of outcome '{oname}' does not fit its type", ("default", "value")
                        )
                    )
                default = None
        outcomes[oname] = CompiledOutcome(oname, ospec, otype, compiled_rules, default)
    _check_outcome_cycles(model, ent, outcomes, derived, diags)
    order = _outcome_order(ent)
    id_field = ent.id_field or next((n for n, f in ent.facts.items() if f.id), None)
    return CompiledEntity(ent.name, ent, dict(ent.facts), fact_types, derived, outcomes, order, id_field)


_BAD = object()


def _literal_conclusion(value: Any, otype: Type) -> Any:
    if otype.kind == "bool":
        return value if isinstance(value, bool) else _BAD
    if otype.kind == "enum":
        # An enum outcome may be "no" (false) for persons outside the scope altogether.
        if value is False:
            return False
        return value if isinstance(value, str) and value in (otype.values or ()) else _BAD
    if otype.kind in ("decimal", "int"):
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, (int, Decimal)):
            return value
        try:
            return Decimal(str(value))
        except (InvalidOperation, ValueError):
            return _BAD
    return value


def _fits_outcome(t: Type, otype: Type) -> bool:
    if otype.kind in ("decimal", "int"):
        return t.kind in ("decimal", "int")
    if otype.kind == "enum":
        return t.kind in ("enum", "text")
    return t.kind == otype.kind


def _check_outcome_cycles(
    model: RuleSetModel,
    ent: EntityModel,
    outcomes: dict[str, CompiledOutcome],
    derived: dict[str, CompiledDerived],
    diags: list[Diagnostic],
) -> None:
    graph = {n: _outcome_deps(oc, derived) for n, oc in outcomes.items()}
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cyc = path[path.index(d) :] + [d] if d in path else [n, d]
                o = model.origin("outcome", ent.name, n)
                if o:
                    diags.append(
                        o.diagnostic(
                            "E016",
                            f"cycle between outcomes: {' -> '.join(cyc)}",
                            (),
                            "an outcome cannot depend on itself",
                            key=True,
                        )
                    )
            elif state.get(d) is None:
                visit(d, path + [d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def _outcome_order(ent: EntityModel) -> list[str]:
    """Outcomes in the order the rule files declare them (for display)."""
    return list(ent.outcomes)


class _UnknownName(ExpressionError):
    pass


class _Cycle(ExpressionError):
    pass


def _raise_unknown(name: str, column: int) -> Type:
    raise _UnknownName(f"unknown name '{name}'", column)

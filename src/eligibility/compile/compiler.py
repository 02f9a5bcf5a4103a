"""Compile a validated rule set model into callables.

Each expression becomes a tree of closures (built once at load time, never re-parsed
per record) that computes a value under three-valued (Kleene) logic. The compiled form
keeps its AST, so the same structure can be explained, searched for missing facts, or
translated to column-wise code for whole rosters."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from eligibility.diagnostics import Diagnostic, RuleSetError, did_you_mean
from eligibility.lang.syntax import (
    Arith,
    BoolOp,
    Call,
    Compare,
    ExpressionError,
    ListExpr,
    Literal,
    Name,
    Neg,
    Node,
    Not,
    children,
    fixed_shift_beyond_calendar,
    parse,
)
from eligibility.lang.types import BOOL, DATE, EnumValueError, Type, infer, type_of_spec
from eligibility.lang.values import NEVER, UNKNOWN, add_months
from eligibility.source.loader import EntityModel, Origin, RuleSetModel
from eligibility.source.model import DerivedSpec, FactSpec, OutcomeSpec, ParameterSpec, RuleSpec

REFERENCE_DATE = "stichtag"

Fn = Callable[["Env"], Any]


class Env:
    """The evaluation context of one record on one reference date. Derived facts and
    outcomes are computed at most once per record (memoised)."""

    __slots__ = ("facts", "on", "params", "entity", "derived_cache", "outcome_cache", "rules_in_force")

    def __init__(
        self,
        entity: CompiledEntity,
        facts: dict[str, Any],
        on: dt.date,
        params: dict[str, Any],
        rules_in_force: dict[str, list[CompiledRule]],
    ) -> None:
        self.entity = entity
        self.facts = facts
        self.on = on
        self.params = params
        self.derived_cache: dict[str, Any] = {}
        self.outcome_cache: dict[str, OutcomeResult] = {}
        self.rules_in_force = rules_in_force

    def derived(self, name: str) -> Any:
        try:
            return self.derived_cache[name]
        except KeyError:
            value = self.entity.derived[name].node.fn(self)
            self.derived_cache[name] = value
            return value

    def outcome(self, name: str) -> OutcomeResult:
        try:
            return self.outcome_cache[name]
        except KeyError:
            result = self.entity.outcomes[name].evaluate(self)
            self.outcome_cache[name] = result
            return result


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


@dataclasses.dataclass
class OutcomeResult:
    value: Any  # True / False / a value / UNKNOWN / None (no rule in force)
    rule: CompiledRule | None  # the deciding rule (None: the outcome's default, or undecided)
    considered: list[tuple[CompiledRule, Any]]  # rules tried, in order, with condition value
    open_rules: list[CompiledRule]  # rules whose unknown condition could change the value
    by_default: bool = False
    no_rule_in_force: bool = False


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
        rules = env.rules_in_force.get(self.name, ())
        considered: list[tuple[CompiledRule, Any]] = []
        possible: list[tuple[CompiledRule, Any]] = []
        decided: Any = None
        decider: CompiledRule | None = None
        for rule in rules:
            c = True if rule.cond is None else rule.cond.fn(env)
            considered.append((rule, c))
            if c is False:
                continue
            val = rule.value if rule.compute is None else rule.compute.fn(env)
            if c is True and val is not UNKNOWN:
                decided, decider = val, rule
                break
            possible.append((rule, val))
        by_default = False
        if decider is None and self.default is not None and rules:
            decided, by_default = self.default, True
        if not rules:
            return OutcomeResult(None, None, considered, [], no_rule_in_force=True)
        if decider is None and not by_default:
            if not possible:
                return OutcomeResult(None, None, considered, [], no_rule_in_force=False)
            return OutcomeResult(UNKNOWN, None, considered, [r for r, _ in possible])
        if any(v is UNKNOWN or v != decided or type(v) is not type(decided) for _, v in possible):
            # Undecided. Every rule with an unknown condition can settle it: one that
            # concludes the same as the fallback would still decide it once known.
            return OutcomeResult(UNKNOWN, None, considered, [r for r, _ in possible])
        return OutcomeResult(decided, decider, considered, [], by_default=by_default)


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


# ---------------------------------------------------------------- expression compiler


def _kleene_and(fns: tuple[Fn, ...]) -> Fn:
    def f(env: Env) -> Any:
        unknown = False
        for fn in fns:
            v = fn(env)
            if v is False:
                return False
            if v is UNKNOWN:
                unknown = True
        return UNKNOWN if unknown else True

    return f


def _kleene_or(fns: tuple[Fn, ...]) -> Fn:
    def f(env: Env) -> Any:
        unknown = False
        for fn in fns:
            v = fn(env)
            if v is True:
                return True
            if v is UNKNOWN:
                unknown = True
        return UNKNOWN if unknown else False

    return f


def _not(fn: Fn) -> Fn:
    def f(env: Env) -> Any:
        v = fn(env)
        return v if v is UNKNOWN else not v

    return f


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def _binary(op: Callable[[Any, Any], Any], lf: Fn, rf: Fn) -> Fn:
    def f(env: Env) -> Any:
        a = lf(env)
        if a is UNKNOWN:
            return UNKNOWN
        b = rf(env)
        if b is UNKNOWN:
            return UNKNOWN
        return op(a, b)

    return f


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def div(a: Any, b: Any) -> Any:
        if b == 0:
            return UNKNOWN
        return Decimal(a) / Decimal(b)

    def mod(a: Any, b: Any) -> Any:
        if b == 0:
            return UNKNOWN
        return Decimal(a) % Decimal(b) if isinstance(a, Decimal) or isinstance(b, Decimal) else a % b

    def num(x: Any) -> Any:
        return x

    table: dict[str, Callable[[Any, Any], Any]] = {
        "+": lambda a, b: num(a) + num(b),
        "-": lambda a, b: num(a) - num(b),
        "*": lambda a, b: num(a) * num(b),
        "/": div,
        "%": mod,
    }
    return table[op]


def _date_fn(name: str) -> Callable[..., Any]:
    def add_m(d: Any, n: int) -> Any:
        return NEVER if d is NEVER else add_months(d, n)

    def add_y(d: Any, n: int) -> Any:
        return NEVER if d is NEVER else add_months(d, 12 * n)

    def add_d(d: Any, n: int) -> Any:
        return NEVER if d is NEVER else d + dt.timedelta(days=n)

    def between(a: Any, b: Any) -> Any:
        # A period measured to or from an event that has not happened has no length.
        if a is NEVER or b is NEVER:
            return UNKNOWN
        return (b - a).days

    def year(d: Any) -> Any:
        return UNKNOWN if d is NEVER else d.year

    fns: dict[str, Callable[..., Any]] = {
        "add_months": add_m,
        "add_years": add_y,
        "add_days": add_d,
        "days_between": between,
        "year": year,
    }
    return fns[name]


def _call(fn: Callable[..., Any], arg_fns: tuple[Fn, ...]) -> Fn:
    def f(env: Env) -> Any:
        args = []
        for a in arg_fns:
            v = a(env)
            if v is UNKNOWN:
                return UNKNOWN
            args.append(v)
        return fn(*args)

    return f


def _known(arg: Fn) -> Fn:
    # The one operator that looks at unknownness itself: it is never unknown.
    def f(env: Env) -> Any:
        return arg(env) is not UNKNOWN

    return f


def _negate(x: Any) -> Any:
    return -x


def _list(fns: tuple[Fn, ...]) -> Fn:
    def f(env: Env) -> Any:
        vals = tuple(fn(env) for fn in fns)
        return UNKNOWN if any(v is UNKNOWN for v in vals) else vals

    return f


class _Scope:
    """Names visible to one entity's expressions, with their kind and type."""

    def __init__(self, entity: EntityModel, fact_types: dict[str, Type], param_types: dict[str, Type]) -> None:
        self.entity = entity
        self.fact_types = fact_types
        self.param_types = param_types
        self.derived_types: dict[str, Type] = {}
        self.outcome_types: dict[str, Type] = {}

    def kind(self, name: str) -> str | None:
        if name == REFERENCE_DATE:
            return "stichtag"
        if name in self.entity.facts:
            return "fact"
        if name in self.entity.derived:
            return "derived"
        if name in self.entity.outcomes:
            return "outcome"
        if name in self.param_types:
            return "param"
        return None

    def all_names(self) -> list[str]:
        return [REFERENCE_DATE, *self.entity.facts, *self.entity.derived, *self.entity.outcomes, *self.param_types]


def compile_expr(text: str, node: Node, scope: _Scope) -> CNode:
    src = text[node.start : node.end]
    if isinstance(node, Literal):
        v = node.value
        return CNode(node, src, lambda env: v, (), "literal")
    if isinstance(node, Name):
        name = node.name
        kind = scope.kind(name)
        if kind == "stichtag":
            return CNode(node, src, lambda env: env.on, (), "stichtag", name)
        if kind == "fact":
            return CNode(node, src, lambda env: env.facts.get(name, UNKNOWN), (), "fact", name)
        if kind == "derived":
            return CNode(node, src, lambda env: env.derived(name), (), "derived", name)
        if kind == "outcome":
            return CNode(node, src, lambda env: _outcome_value(env, name), (), "outcome", name)
        return CNode(node, src, lambda env: env.params[name], (), "param", name)
    kids = tuple(compile_expr(text, k, scope) for k in children(node))
    fns = tuple(k.fn for k in kids)
    if isinstance(node, BoolOp):
        return CNode(node, src, _kleene_and(fns) if node.op == "and" else _kleene_or(fns), kids, node.op)
    if isinstance(node, Not):
        return CNode(node, src, _not(fns[0]), kids, "not")
    if isinstance(node, Neg):
        return CNode(node, src, _call(_negate, fns), kids, "neg", op=_negate)
    if isinstance(node, Compare):
        return CNode(node, src, _binary(_CMP[node.op], fns[0], fns[1]), kids, "compare", node.op, op=_CMP[node.op])
    if isinstance(node, Arith):
        op = _arith(node.op)
        return CNode(node, src, _binary(op, fns[0], fns[1]), kids, "arith", node.op, op=op)
    if isinstance(node, Call) and node.func == "known":
        # A wrong number of operands is reported by the type check (E011), which runs later.
        known_fn = _known(fns[0]) if len(fns) == 1 else (lambda env: UNKNOWN)
        return CNode(node, src, known_fn, kids, "known", "known")
    if isinstance(node, Call):
        fn = _date_fn(node.func)
        return CNode(node, src, _call(fn, fns), kids, "call", node.func, op=fn)
    if isinstance(node, ListExpr):
        return CNode(node, src, _list(fns), kids, "list")
    raise AssertionError(node)  # pragma: no cover


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


def _outcome_value(env: Env, name: str) -> Any:
    # An outcome with no rule in force has no value: for other rules that is unknown.
    v = env.outcome(name).value
    return UNKNOWN if v is None else v


class _UnknownName(ExpressionError):
    pass


class _Cycle(ExpressionError):
    pass


def _raise_unknown(name: str, column: int) -> Type:
    raise _UnknownName(f"unknown name '{name}'", column)

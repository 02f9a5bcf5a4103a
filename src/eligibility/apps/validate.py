"""`eligibility validate`: the checks that need the whole rule set, beyond what loading
already rejects: parameters read on days they have no value, gaps in histories and in
outcomes, rules that can never fire or never decide, rules that conflict without
precedence, and definitions nothing reads.

Rules that can never fire and conflicts are found by searching inputs: every fact a rule
reads takes values from its finite domain (enums, booleans, "has not happened") and, for
dates and numbers, from the boundary values the rule set itself names (date literals,
parameter values, validity boundaries, and offsets of the periods it computes), each
±1 day. A rule with no true condition among these combinations is reported; a conflict is
reported with the input that shows it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from eligibility.compile.compiler import CNode, CompiledEntity, CompiledRule, CompiledRuleSet, Env, reachable
from eligibility.diagnostics import Diagnostic, RuleSetError
from eligibility.engine import Engine
from eligibility.lang.values import NEVER, add_months
from eligibility.source.citations import PRIMARY_KINDS, Cited, kind_label
from eligibility.source.loader import OVERLAY_DIR, Origin

SAMPLES_PER_OUTCOME = 6000


@dataclasses.dataclass
class Report:
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def validate(engine: Engine, samples: int = SAMPLES_PER_OUTCOME, seed: int = 0) -> Report:
    crs = engine.compiled
    diags: list[Diagnostic] = []
    diags += _parameter_gaps(crs)
    for ename in engine.entities:
        ent = engine.entity(ename)
        diags += _params_in_force(crs, ent)
        diags += _outcome_gaps(crs, ent)
        diags += _weak_sources(crs, ent)
        diags += _rule_search(crs, ent, samples, seed)
    diags += _unused(crs)
    return Report(sorted(set(diags), key=Diagnostic.sort_key))


def _origin(crs: CompiledRuleSet, *key: Any) -> Origin | None:
    return crs.model.origin(*key)


def _diag(origin: Origin | None, code: str, message: str, sub: tuple[Any, ...] = (), hint: str = "") -> Diagnostic:
    if origin is None:
        return Diagnostic(code, message, hint=hint)
    return origin.diagnostic(code, message, sub, hint)


# ---------------------------------------------------------------- parameters and gaps


def _parameter_gaps(crs: CompiledRuleSet) -> list[Diagnostic]:
    out = []
    for name, p in crs.model.parameters.items():
        vs = sorted(enumerate(p.versions), key=lambda iv: iv[1].valid_from)
        for (i, a), (j, b) in zip(vs, vs[1:]):
            if a.valid_to is not None and (b.valid_from - a.valid_to).days > 1:
                out.append(
                    _diag(
                        _origin(crs, "parameter", name),
                        "W101",
                        f"parameter '{name}' has no value from {a.valid_to + dt.timedelta(days=1)} to "
                        f"{b.valid_from - dt.timedelta(days=1)}",
                        ("versions", j, "valid_from"),
                        f"let version {i + 1} run to {b.valid_from - dt.timedelta(days=1)}, or add a version",
                    )
                )
    return out


def _params_read(node: CNode | None, ent: CompiledEntity) -> set[str]:
    """Parameters a condition reads, through derived facts (not through other outcomes,
    which are checked on their own)."""
    return {n.name for n in reachable(ent, [node]) if n.kind == "param"}


def _covered(p: Any, start: dt.date, end: dt.date | None) -> dt.date | None:
    """First day in [start, end] on which parameter p has no value, or None."""
    day = start
    limit = end or dt.date(2100, 1, 1)
    versions = sorted(p.versions, key=lambda v: v.valid_from)
    while day <= limit:
        v = next((v for v in versions if v.valid_from <= day and (v.valid_to is None or day <= v.valid_to)), None)
        if v is None:
            return day
        if v.valid_to is None:
            return None
        day = v.valid_to + dt.timedelta(days=1)
    return None


def _params_in_force(crs: CompiledRuleSet, ent: CompiledEntity) -> list[Diagnostic]:
    out = []
    for _oid, oc in ent.outcomes.items():
        for r in oc.rules:
            start = max(r.valid_from, oc.spec.valid_from or r.valid_from)
            ends = [e for e in (r.valid_to, oc.spec.valid_to) if e is not None]
            end = min(ends) if ends else None
            for pname in sorted(_params_read(r.cond, ent) | _params_read(r.compute, ent)):
                gap = _covered(crs.model.parameters[pname], start, end)
                if gap is not None:
                    out.append(
                        _diag(
                            _origin(crs, "rule", ent.name, r.id),
                            "E019",
                            f"rule '{r.id}' is in force on {gap}, but parameter '{pname}' has no value then",
                            ("id",),
                            "limit the rule with valid_from/valid_to, or add a parameter version",
                        )
                    )
    return out


def _outcome_gaps(crs: CompiledRuleSet, ent: CompiledEntity) -> list[Diagnostic]:
    out = []
    m = crs.model.manifest
    for oid, oc in ent.outcomes.items():
        start = oc.spec.valid_from or m.valid_from
        end = oc.spec.valid_to or m.valid_to
        points = sorted(
            {start}
            | {r.valid_from for r in oc.rules}
            | {r.valid_to + dt.timedelta(days=1) for r in oc.rules if r.valid_to}
        )
        for day in points:
            if day < start or (end and day > end):
                continue
            if not any(r.in_force(day) for r in oc.rules):
                nxt = min([r.valid_from for r in oc.rules if r.valid_from > day] or [end or dt.date(2100, 1, 1)])
                out.append(
                    _diag(
                        _origin(crs, "outcome", ent.name, oid),
                        "W105",
                        f"outcome '{oid}' has no rule in force from {day}"
                        + (f" to {nxt - dt.timedelta(days=1)}" if nxt != dt.date(2100, 1, 1) else ""),
                        (),
                        "declare the outcome's own valid_from/valid_to, or add a rule for that period",
                    )
                )
    return out


def _weak_sources(crs: CompiledRuleSet, ent: CompiledEntity) -> list[Diagnostic]:
    """An outcome whose every citation is county practice, press or the rule set's own
    assumption: a caseworker should know that no law or official document stands behind it."""
    register = crs.model.sources
    if not register:
        return []
    out = []
    for oid, oc in ent.outcomes.items():
        cited = [
            oc.spec.source,
            oc.spec.default.source if oc.spec.default else None,
            *(r.spec.source for r in oc.rules),
        ]
        kinds: set[str] = set()
        for c in cited:
            if isinstance(c, Cited):
                kinds |= c.kinds(register)
        if kinds and not kinds & PRIMARY_KINDS:
            out.append(
                _diag(
                    _origin(crs, "outcome", ent.name, oid),
                    "W106",
                    f"outcome '{oid}' rests only on sources of these kinds: "
                    + ", ".join(kind_label(k, "en") for k in sorted(kinds)),
                    (),
                    "cite the law, regulation or official publication it follows, or keep the warning "
                    "as a reminder that it is practice",
                )
            )
    return out


def validate_tree(root: str | Path, samples: int = SAMPLES_PER_OUTCOME, seed: int = 0) -> tuple[Engine | None, Report]:
    """The rule set under `root` and each county overlay in its overlays/ folder, every
    overlay checked against the base rules: policy staff edit overlays too."""
    diags: list[Diagnostic] = []
    base: Engine | None = None
    try:
        base = Engine.load(root)
    except RuleSetError as exc:
        return None, Report(sorted(set(exc.diagnostics), key=Diagnostic.sort_key))
    diags += validate(base, samples, seed).diagnostics
    folder = Path(root) / OVERLAY_DIR
    overlays = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    for ov in overlays:
        try:
            engine = Engine.load(root, overlays=[ov])
        except RuleSetError as exc:
            diags += exc.diagnostics
            continue
        diags += validate(engine, samples, seed).diagnostics
    return base, Report(sorted(set(diags), key=Diagnostic.sort_key))


def _unused(crs: CompiledRuleSet) -> list[Diagnostic]:
    read: set[tuple[str, str]] = set()
    params: set[str] = set()
    for ent in crs.entities.values():
        nodes: list[CNode] = [d.node for d in ent.derived.values()]
        for oc in ent.outcomes.values():
            nodes += [n for r in oc.rules for n in (r.cond, r.compute) if n is not None]
        stack = list(nodes)
        while stack:
            n = stack.pop()
            if n.kind in ("fact", "derived"):
                read.add((ent.name, n.name))
            elif n.kind == "param":
                params.add(n.name)
            stack.extend(n.kids)
    out = []
    for ent in crs.entities.values():
        for name, f in ent.facts.items():
            if (ent.name, name) not in read and not f.id and not f.informational:
                out.append(
                    _diag(
                        _origin(crs, "fact", ent.name, name),
                        "W104",
                        f"no rule reads fact '{name}'",
                        (),
                        "remove it, or mark it 'informational: true' if reports use it",
                    )
                )
        for name in ent.derived:
            if (ent.name, name) not in read:
                out.append(
                    _diag(
                        _origin(crs, "derived", ent.name, name),
                        "W104",
                        f"no rule reads derived fact '{name}'",
                        (),
                        "remove it",
                    )
                )
    for name, p in crs.model.parameters.items():
        if name not in params and not p.informational:
            out.append(
                _diag(
                    _origin(crs, "parameter", name),
                    "W104",
                    f"no rule reads parameter '{name}'",
                    (),
                    "remove it, or mark it 'informational: true' if tools use it",
                )
            )
    return out


# ---------------------------------------------------------------- search for inputs


def _walk(nodes: Iterable[CNode | None]) -> Iterable[CNode]:
    stack = [n for n in nodes if n is not None]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.kids)


class _Domain:
    """Candidate values for each fact, drawn from what the rule set itself names."""

    def __init__(self, crs: CompiledRuleSet, ent: CompiledEntity) -> None:
        self.crs = crs
        self.ent = ent
        nodes = [d.node for d in ent.derived.values()] + [
            n for oc in ent.outcomes.values() for r in oc.rules for n in (r.cond, r.compute) if n is not None
        ]
        literals_dates: set[dt.date] = set()
        numbers: set[Decimal] = {
            Decimal(0),
            Decimal(1),
            Decimal("0.25"),
            Decimal("0.3"),
            Decimal("0.5"),
            Decimal("0.75"),
            Decimal(2),
            Decimal(10),
            Decimal(100),
            Decimal(1000),
            Decimal(100000),
        }
        texts: set[str] = {"ANDERS"}  # a value no rule names
        self.month_offsets: set[int] = {0, 1, 6, 12, 24, 36, 48}
        for n in _walk(nodes):
            if n.kind == "literal":
                v = n.ast.value  # type: ignore[attr-defined]
                if isinstance(v, dt.date):
                    literals_dates.add(v)
                elif isinstance(v, str):
                    texts.add(v)
                elif isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                    numbers.add(Decimal(v))
            if n.kind == "call" and n.name in ("add_months", "add_years"):
                amount = n.kids[1]
                for months in self._values_of(amount):
                    self.month_offsets.add(months * (12 if n.name == "add_years" else 1))
        for p in crs.model.parameters.values():
            for v in p.versions:
                for x in v.value if isinstance(v.value, list) else [v.value]:
                    if isinstance(x, dt.date):
                        literals_dates.add(x)
                    elif isinstance(x, str):
                        texts.add(x)
                    elif isinstance(x, (int, Decimal, float)) and not isinstance(x, bool):
                        numbers.add(Decimal(str(x)))
                        numbers.add(Decimal(str(x)) + 1)
                        numbers.add(max(Decimal(0), Decimal(str(x)) - 1))
                literals_dates.add(v.valid_from)
                if v.valid_to:
                    literals_dates.add(v.valid_to)
        self.reference_days: list[dt.date] = []
        m = crs.model.manifest
        bounds = (
            {m.valid_from}
            | {r.valid_from for oc in ent.outcomes.values() for r in oc.rules}
            | {r.valid_to for oc in ent.outcomes.values() for r in oc.rules if r.valid_to}
            | literals_dates
        )
        for b in sorted(bounds):
            for k in (-1, 0, 1):
                d = b + dt.timedelta(days=k)
                if d >= m.valid_from and (m.valid_to is None or d <= m.valid_to):
                    self.reference_days.append(d)
        self.literal_dates = sorted(literals_dates)
        self.numbers = sorted(numbers)
        self.texts = sorted(texts)

    def _values_of(self, node: CNode) -> set[int]:
        if node.kind == "literal" and isinstance(node.ast.value, int):  # type: ignore[attr-defined]
            return {node.ast.value}  # type: ignore[attr-defined]
        if node.kind == "param":
            out = set()
            for v in self.crs.model.parameters[node.name].versions:
                if isinstance(v.value, int) and not isinstance(v.value, bool):
                    out.add(v.value)
            return out
        return set()

    def value(self, rnd: random.Random, name: str, on: dt.date) -> Any:
        f = self.ent.facts[name]
        if f.type == "enum":
            return rnd.choice(f.values or [])
        if f.type == "bool":
            return rnd.random() < 0.5
        if f.type == "date":
            r = rnd.random()
            if f.event and r < 0.2:
                return NEVER
            if r < 0.35:
                return rnd.choice(self.literal_dates) + dt.timedelta(days=rnd.choice((-1, 0, 1)))
            months = rnd.choice(sorted(self.month_offsets))
            base = add_months(on, -months)
            return base + dt.timedelta(days=rnd.choice((-2, -1, 0, 1, 2)))
        if f.type in ("int", "decimal"):
            n = rnd.choice(self.numbers)
            if f.type == "int":
                return int(n) if n == n.to_integral_value() else int(n) + 1
            return n
        if f.type == "list":
            return tuple(rnd.sample(self.texts, k=min(2, len(self.texts))))
        return rnd.choice(self.texts)


def _facts_read(ent: CompiledEntity, nodes: Iterable[CNode | None]) -> set[str]:
    return {n.name for n in reachable(ent, nodes, through_outcomes=True) if n.kind == "fact"}


def _beats(rules: list[CompiledRule]) -> dict[str, set[str]]:
    """Transitive 'is tried before because it overrides' relation."""
    direct: dict[str, set[str]] = {}
    ids = {r.id for r in rules}
    for r in rules:
        o = r.spec.overrides
        direct[r.id] = {x.id for x in rules if x.spec.overrides != "all"} - {r.id} if o == "all" else set(o) & ids
    closure = {k: set(v) for k, v in direct.items()}
    changed = True
    while changed:
        changed = False
        for k in closure:
            extra = set().union(*(closure[x] for x in closure[k])) - closure[k] if closure[k] else set()
            if extra:
                closure[k] |= extra
                changed = True
    return closure


def _rule_search(crs: CompiledRuleSet, ent: CompiledEntity, samples: int, seed: int) -> list[Diagnostic]:
    dom = _Domain(crs, ent)
    rnd = random.Random(seed)
    options = [n for n, p in crs.model.parameters.items() if p.option]
    out: list[Diagnostic] = []
    for oid, oc in ent.outcomes.items():
        facts = sorted(_facts_read(ent, [n for r in oc.rules for n in (r.cond, r.compute)]))
        fired: dict[str, int] = {r.id: 0 for r in oc.rules}
        decided: dict[str, int] = {r.id: 0 for r in oc.rules}
        shadowed_by: dict[str, set[str]] = {r.id: set() for r in oc.rules}
        beats = _beats(oc.rules)
        conflicts: dict[tuple[str, str], tuple[dt.date, dict[str, Any]]] = {}
        days = [d for d in dom.reference_days if oc.in_force(d)]
        if not days:
            continue
        for _ in range(samples):
            on = rnd.choice(days)
            facts_now = {f: dom.value(rnd, f, on) for f in facts}
            params = dict(crs.params_on(on))
            for name in options:
                params[name] = rnd.random() < 0.5
            in_force = crs.rules_on(ent.name, on)
            env = Env(ent, facts_now, on, params, in_force)
            true_rules = []
            for r in in_force.get(oid, ()):
                c = True if r.cond is None else r.cond.fn(env)
                if c is True:
                    fired[r.id] += 1
                    true_rules.append(r)
            if true_rules:
                first = true_rules[0]  # rules are in precedence order
                decided[first.id] += 1
                for r in true_rules[1:]:
                    shadowed_by[r.id].add(first.id)
                for i, a in enumerate(true_rules):
                    for b in true_rules[i + 1 :]:
                        if (
                            a.compute is None
                            and b.compute is None
                            and (a.value != b.value or type(a.value) is not type(b.value))
                            and b.id not in beats[a.id]
                            and a.id not in beats[b.id]
                        ):
                            conflicts.setdefault((a.id, b.id), (on, facts_now))
        for r in oc.rules:
            o = _origin(crs, "rule", ent.name, r.id)
            if not any(r.in_force(d) for d in days):
                continue
            if fired[r.id] == 0:
                out.append(
                    _diag(
                        o,
                        "E023",
                        f"rule '{r.id}' can never fire: no combination of the boundary values "
                        f"of its facts makes its condition true while it is in force",
                        ("when",),
                        "check the condition against its validity period and the enum values",
                    )
                )
            elif decided[r.id] == 0:
                by = ", ".join(sorted(shadowed_by[r.id]))
                verb = "decides" if len(shadowed_by[r.id]) == 1 else "decide"
                out.append(
                    _diag(
                        o,
                        "E024",
                        f"rule '{r.id}' never decides: whenever it applies, {by} {verb} first",
                        ("id",),
                        "remove the rule, narrow the earlier one, or make this one an exception ('overrides')",
                    )
                )
        for (a_id, b_id), (on, witness) in sorted(conflicts.items()):
            shown = ", ".join(f"{k}={_show(v)}" for k, v in sorted(witness.items()))
            out.append(
                _diag(
                    _origin(crs, "rule", ent.name, b_id),
                    "E025",
                    f"rules '{a_id}' and '{b_id}' of outcome '{oid}' conclude different values on {on} "
                    f"for {shown}, and neither overrides the other",
                    ("id",),
                    f"add 'overrides: [{a_id}]' to the exception, or make the conditions exclusive",
                )
            )
    return out


def _show(v: Any) -> str:
    if v is NEVER:
        return "(nicht eingetreten)"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def summary_line(diagnostics: list[Diagnostic], engine: Engine | None, lang: str = "de") -> str:
    """The last line of `validate`: how many errors and warnings, and a rule set found sound."""
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    sound = engine is not None and not diagnostics
    if lang == "en":
        ok = f" – {engine.info.name} {engine.info.version} is sound" if sound and engine else ""
        return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}{ok}"
    ok = f" – {engine.info.name} {engine.info.version} ist in Ordnung" if sound and engine else ""
    return f"{errors} Fehler, {warnings} Warnungen{ok}"

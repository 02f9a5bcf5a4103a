"""Evaluate one record on one reference date: outcome values, the deciding rules,
the minimal missing facts, and (on request) the explanation tree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .compiler import CNode, CompiledEntity, CompiledOutcome, CompiledRule, CompiledRuleSet, Env, OutcomeResult, \
    parameter_version
from .decision import AssumptionRef, Label, OutcomeDecision, Question
from .model import Text
from .values import NEVER, UNKNOWN, to_json_value


def label(t: Text | None, fallback: str = "") -> Label:
    if t is None:
        return Label(de=fallback, en=fallback)
    return Label(de=t.de, en=t.en or t.de)


def label_dict(t: Text | None, fallback: str = "") -> dict[str, str]:
    if t is None:
        return {"de": fallback, "en": fallback}
    return {"de": t.de, "en": t.en or t.de}


def make_env(crs: CompiledRuleSet, entity: CompiledEntity, facts: dict[str, Any], on: dt.date) -> Env:
    return Env(entity, facts, on, crs.params_on(on), crs.rules_on(entity.name, on))


# ---------------------------------------------------------------- missing facts


def missing_of(node: CNode | None, env: Env, memo: dict[int, frozenset[str]]) -> frozenset[str]:
    """Facts whose value could change this node's unknown value. Children that are
    known contribute nothing: in `a and b` with b false the result is known anyway."""
    if node is None:
        return frozenset()
    if node.fn(env) is not UNKNOWN:
        return frozenset()
    if node.kind == "fact":
        return frozenset((node.name,))
    if node.kind == "derived":
        return missing_of(env.entity.derived[node.name].node, env, memo)
    if node.kind == "outcome":
        return outcome_missing(env.entity.outcomes[node.name], env.outcome(node.name), env, memo)
    if node.kind in ("param", "literal", "stichtag"):
        return frozenset()
    out: frozenset[str] = frozenset()
    for kid in node.kids:
        out |= missing_of(kid, env, memo)
    return out


def outcome_missing(oc: CompiledOutcome, result: OutcomeResult, env: Env, memo: dict[int, frozenset[str]]) -> frozenset[str]:
    key = id(oc)
    if key in memo:
        return memo[key]
    memo[key] = frozenset()  # guards against re-entry; outcome cycles are rejected at load
    out: frozenset[str] = frozenset()
    if result.value is UNKNOWN:
        for rule in result.open_rules:
            out |= missing_of(rule.cond, env, memo)
            if rule.compute is not None:
                out |= missing_of(rule.compute, env, memo)
    memo[key] = out
    return out


# ---------------------------------------------------------------- explanation


def explain_node(node: CNode, env: Env, crs: CompiledRuleSet) -> dict[str, Any]:
    """The explanation tree as plain dicts: pydantic validates the whole tree once, in
    Rust, when the decision is built, instead of one Python-level model per node."""
    value = node.fn(env)
    ent = env.entity
    base: dict[str, Any] = {"kind": node.kind, "text": node.text, "value": to_json_value(value),
                            "known": value is not UNKNOWN}
    if value is NEVER:
        base["value"] = None
    if node.kind == "fact":
        spec = ent.facts[node.name]
        return dict(base, name=node.name, label=label_dict(spec.label, node.name))
    if node.kind == "stichtag":
        return dict(base, name=node.name, label={"de": "Stichtag", "en": "reference date"})
    if node.kind == "param":
        spec = crs.model.parameters[node.name]
        version = parameter_version(spec, env.on)
        return dict(base, name=node.name, label=label_dict(spec.label, node.name),
                    source=version.source if version else None,
                    assumption=bool(version and version.assumption))
    if node.kind == "derived":
        d = ent.derived[node.name]
        return dict(base, name=node.name, label=label_dict(d.spec.label, node.name), source=d.spec.source,
                    assumption=d.spec.assumption, children=[explain_node(d.node, env, crs)])
    if node.kind == "outcome":
        result = env.outcome(node.name)
        oc = ent.outcomes[node.name]
        return dict(base, name=node.name, label=label_dict(oc.spec.label, node.name),
                    rule=result.rule.id if result.rule else None,
                    source=result.rule.spec.source if result.rule else None)
    # Literals (and lists of literals) are already in the node's text.
    kids = [k for k in node.kids if k.kind != "literal" and not (k.kind == "list" and all(
        g.kind == "literal" for g in k.kids))]
    if node.kind in ("and", "or"):
        # Only the operands that made the result: for a false "and" the false ones,
        # for a true "or" the true ones, for an unknown result the unknown ones.
        if value is UNKNOWN:
            kids = [k for k in kids if k.fn(env) is UNKNOWN]
        elif (node.kind == "and" and value is False) or (node.kind == "or" and value is True):
            kids = [k for k in kids if k.fn(env) is value]
    return dict(base, name=node.name or None, children=[explain_node(k, env, crs) for k in kids])


def _relevant_kids(node: CNode, env: Env) -> tuple[CNode, ...]:
    """The operands that made a node's value (the same pruning as the explanation)."""
    if node.kind in ("and", "or"):
        value = node.fn(env)
        if value is UNKNOWN:
            return tuple(k for k in node.kids if k.fn(env) is UNKNOWN)
        if (node.kind == "and" and value is False) or (node.kind == "or" and value is True):
            return tuple(k for k in node.kids if k.fn(env) is value)
    return node.kids


def _assumptions_in(node: CNode | None, crs: CompiledRuleSet, env: Env, out: dict[str, AssumptionRef],
                    seen_outcomes: set[str]) -> None:
    """Assumptions a decision rests on: marked derived facts and parameter versions on
    the part of the condition that made its value, and those of outcomes it read."""
    if node is None:
        return
    if node.kind == "derived":
        d = env.entity.derived[node.name]
        if d.spec.assumption:
            out.setdefault(f"derived:{node.name}", AssumptionRef(
                id=node.name, kind="derived", label=label(d.spec.label),
                note=label(d.spec.note) if d.spec.note else None))
        _assumptions_in(d.node, crs, env, out, seen_outcomes)
        return
    if node.kind == "param":
        spec = crs.model.parameters[node.name]
        v = parameter_version(spec, env.on)
        if v is not None and v.assumption:
            out.setdefault(f"param:{node.name}", AssumptionRef(id=node.name, kind="parameter", label=label(spec.label),
                                                               note=label(v.note) if v.note else None))
        return
    if node.kind == "outcome":
        if node.name not in seen_outcomes:
            seen_outcomes.add(node.name)
            result = env.outcome(node.name)
            if result.rule is not None and result.value is not UNKNOWN:
                _rule_assumptions(result.rule, crs, env, out, seen_outcomes)
        return
    for kid in _relevant_kids(node, env):
        _assumptions_in(kid, crs, env, out, seen_outcomes)


def _rule_assumptions(rule: CompiledRule, crs: CompiledRuleSet, env: Env, out: dict[str, AssumptionRef],
                      seen_outcomes: set[str]) -> None:
    if rule.spec.assumption:
        out.setdefault(f"rule:{rule.id}", AssumptionRef(id=rule.id, kind="rule", label=label(rule.spec.label),
                                                        note=label(rule.spec.note) if rule.spec.note else None))
    _assumptions_in(rule.cond, crs, env, out, seen_outcomes)
    _assumptions_in(rule.compute, crs, env, out, seen_outcomes)


def rule_path(oc_name: str, result: OutcomeResult, env: Env, seen: set[str] | None = None) -> list[str]:
    """`outcome/rule` steps: the deciding rule, then the deciding rules of the
    outcomes its condition read."""
    seen = seen or set()
    if oc_name in seen:
        return []
    seen.add(oc_name)
    if result.rule is None:
        return [f"{oc_name}/(default)"] if result.by_default else [oc_name]
    path = [f"{oc_name}/{result.rule.id}"]
    for dep in _outcomes_read(result.rule, env):
        path += rule_path(dep, env.outcome(dep), env, seen)
    return path


def _outcomes_read(rule: CompiledRule, env: Env) -> list[str]:
    out: list[str] = []
    stack = [n for n in (rule.cond, rule.compute) if n is not None]
    while stack:
        n = stack.pop(0)
        if n.kind == "outcome" and n.name not in out:
            out.append(n.name)
        elif n.kind == "derived":
            stack.append(env.entity.derived[n.name].node)
        # Follow only the parts that made the result, as in the explanation.
        if n.kind in ("and", "or"):
            v = n.fn(env)
            if (n.kind == "and" and v is False) or (n.kind == "or" and v is True):
                stack.extend(k for k in n.kids if k.fn(env) is v)
                continue
        stack.extend(n.kids)
    return out


def status_of(value: Any, oc: CompiledOutcome, result: OutcomeResult) -> str:
    if result.no_rule_in_force:
        return "not_in_force"
    if value is UNKNOWN or value is None:
        return "unknown"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "value"


def evaluate_entity(crs: CompiledRuleSet, entity: CompiledEntity, facts: dict[str, Any], on: dt.date,
                    explain: bool = True) -> dict[str, OutcomeDecision]:
    env = make_env(crs, entity, facts, on)
    memo: dict[int, frozenset[str]] = {}
    decisions: dict[str, OutcomeDecision] = {}
    for name in entity.outcome_order:
        oc = entity.outcomes[name]
        result = env.outcome(name)
        value = result.value
        missing = sorted(outcome_missing(oc, result, env, memo)) if value is UNKNOWN else []
        rule = result.rule
        assumptions: dict[str, AssumptionRef] = {}
        if rule is not None:
            _rule_assumptions(rule, crs, env, assumptions, set())
        trace: list[dict[str, Any]] = []
        if explain:
            for r, cond in result.considered:
                concl = r.value if r.compute is None else r.compute.fn(env)
                trace.append({
                    "rule": r.id, "label": label_dict(r.spec.label, r.id), "source": r.spec.source,
                    "condition": None if cond is UNKNOWN else bool(cond), "concludes": to_json_value(concl),
                    "assumption": r.spec.assumption,
                    "explanation": explain_node(r.cond, env, crs) if r.cond is not None else None})
        decisions[name] = OutcomeDecision(
            value=None if value is UNKNOWN else to_json_value(value),
            status=status_of(value, oc, result),  # type: ignore[arg-type]
            label=label(oc.spec.label, name),
            rule=rule.id if rule else None,
            rule_path=rule_path(name, result, env),
            source=rule.spec.source if rule else (oc.spec.default.source if result.by_default and oc.spec.default else None),
            assumption=bool(assumptions),
            assumptions=list(assumptions.values()),
            missing=missing,
            questions=[Question(fact=f, label=label(entity.facts[f].label, f), question=label(entity.facts[f].question, f))
                       for f in missing],
            reason=Label(de="", en=""),
            trace=trace,
        )
    return decisions

"""Evaluate one record on one reference date: outcome values, the deciding rules,
the minimal missing facts, and (on request) the explanation tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from eligibility.compile.closures import Env, record_resolver
from eligibility.compile.ir import (
    CNode,
    CompiledEntity,
    CompiledOutcome,
    CompiledRule,
    CompiledRuleSet,
    OutcomeResult,
    parameter_version,
)
from eligibility.decision.shared import SharedTree, share
from eligibility.eval import semantics as sem
from eligibility.eval.explaining import assumptions_key, outcomes_key, valued_explainer
from eligibility.eval.tables import EntityTables, can_assume, tables
from eligibility.lang.values import UNKNOWN, to_json_value
from eligibility.source.model import Text
from eligibility.text.render import reason_data


def label_dict(t: Text | None, fallback: str = "") -> dict[str, str]:
    if t is None:
        return {"de": fallback, "en": fallback}
    return {"de": t.de, "en": t.en or t.de}


def make_env(
    crs: CompiledRuleSet, entity: CompiledEntity, facts: dict[str, Any], on: dt.date, explain: bool = False
) -> Env:
    in_force = crs.rules_on(entity.name, on)
    return Env(entity, facts, on, crs.params_on(on), in_force, resolvers=_resolvers(crs, entity, in_force, explain))


def _resolvers(
    crs: CompiledRuleSet, entity: CompiledEntity, in_force: dict[str, list[CompiledRule]], explain: bool = False
) -> dict[str, Callable[[Env], OutcomeResult]]:
    """Each outcome's generated resolution for these rules in force: generated once per outcome
    and combination of rules in force (a new reference date reuses them), looked up once per
    table. `explain`: the resolutions for `explaining_env`, taking conditions from their explainers."""
    t = tables(entity, crs)
    hit = t.resolvers.get((id(in_force), explain))
    if hit is not None and hit[0] is in_force:
        return hit[1]
    made: dict[str, Callable[[Env], OutcomeResult]] = {}
    for name, oc in entity.outcomes.items():
        rules = in_force.get(name, [])
        key = (name, explain, tuple(id(r) for r in rules))  # rules live as long as the table
        fn = t.resolver_of.get(key)
        if fn is None:
            explainers = (
                [None if r.cond is None else valued_explainer(r.cond, entity, crs) for r in rules] if explain else None
            )
            fn = t.resolver_of[key] = record_resolver(oc, rules, explainers, share)
        made[name] = fn
    if len(t.resolvers) > 4096:
        t.resolvers.clear()
    t.resolvers[(id(in_force), explain)] = (in_force, made)
    return made


def explaining_env(
    crs: CompiledRuleSet, entity: CompiledEntity, facts: dict[str, Any], on: dt.date
) -> tuple[Env, dict[int, Any]]:
    """An `Env` that decides and explains in one pass: every rule condition tried and every
    derived fact computed takes its value from its generated explainer, whose tree is kept in
    the returned dict under id() of the node (read by the rule traces and by the explanation
    of derived facts), so each node's value is computed once for both."""
    env = make_env(crs, entity, facts, on, explain=True)
    cache: dict[int, Any] = {}
    env.trees = cache
    kept = tables(entity, crs).explainers

    def valued(node: CNode, env: Env) -> Any:
        fn = kept.get(id(node)) or valued_explainer(node, entity, crs)
        value, cache[id(node)] = fn(env, cache)
        return value

    env.valued = valued
    env.explainers = kept
    return env, cache


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


def outcome_missing(
    oc: CompiledOutcome, result: OutcomeResult, env: Env, memo: dict[int, frozenset[str]]
) -> frozenset[str]:
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

# A decision is built as plain data in the JSON shape of `decision.Decision` (keys in its
# field order, every field present), so that the JSON path never builds a model and the
# model path validates the whole decision once, in Rust. Static parts (labels, sources)
# are shared between decisions: treat the data as read-only.


def _relevant_kids(node: CNode, env: Env) -> tuple[CNode, ...]:
    """The operands that made a node's value (`semantics.made_the_value`, as in the explanation)."""
    if node.kind in sem.DECISIVE:
        value = node.fn(env)
        if sem.prunes(node.kind, value):
            return tuple(k for k in node.kids if k.fn(env) is value)
    return node.kids


def _assumption(id_: str, kind: str, lab: Text | None, note: Text | None) -> dict[str, Any]:
    return {"id": id_, "kind": kind, "label": label_dict(lab, id_), "note": label_dict(note) if note else None}


def _shared_assumption(
    side: EntityTables, key: str, id_: str, kind: str, lab: Text | None, note: Text | None
) -> dict[str, Any]:
    """`_assumption`, made once per assumption and note (a parameter's note is its version's)
    and shared between decisions, as labels are: decision data is read-only. The note lives
    with the rule model, as the side table does, so its id() stays its own."""
    hit: dict[str, Any] | None = side.assumptions.get((key, id(note)))
    if hit is None:
        hit = side.assumptions[(key, id(note))] = share(_assumption(id_, kind, lab, note))
    return hit


def _assumptions_in(
    node: CNode | None,
    crs: CompiledRuleSet,
    env: Env,
    out: dict[str, dict[str, Any]],
    memo: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """Assumptions a decision rests on: marked derived facts and parameter versions on
    the part of the condition that made its value, and those of outcomes it read."""
    if node is None or not can_assume(node, env.entity, crs):
        return
    if node.kind == "derived":
        d = env.entity.derived[node.name]
        if d.spec.assumption and f"derived:{node.name}" not in out:
            out[f"derived:{node.name}"] = _assumption(node.name, "derived", d.spec.label, d.spec.note)
        _assumptions_in(d.node, crs, env, out, memo)
        return
    if node.kind == "param":
        spec = crs.model.parameters[node.name]
        v = parameter_version(spec, env.on)
        if v is not None and v.assumption and f"param:{node.name}" not in out:
            out[f"param:{node.name}"] = _assumption(node.name, "parameter", spec.label, v.note)
        return
    if node.kind == "outcome":
        for key, ref in _outcome_assumptions(node.name, crs, env, memo).items():
            if key not in out:
                out[key] = ref
        return
    if not node.kids:
        return
    for kid in _relevant_kids(node, env):
        _assumptions_in(kid, crs, env, out, memo)


def _rule_assumptions(
    rule: CompiledRule,
    crs: CompiledRuleSet,
    env: Env,
    out: dict[str, dict[str, Any]],
    memo: dict[str, dict[str, dict[str, Any]]],
) -> None:
    if rule.spec.assumption and f"rule:{rule.id}" not in out:
        out[f"rule:{rule.id}"] = _assumption(rule.id, "rule", rule.spec.label, rule.spec.note)
    if tables(env.entity, crs).may_assume[rule.id]:
        _assumptions_in(rule.cond, crs, env, out, memo)
        _assumptions_in(rule.compute, crs, env, out, memo)


_NO_ASSUMPTIONS: dict[str, dict[str, Any]] = SharedTree()  # an outcome resting on none


def _outcome_assumptions(
    name: str,
    crs: CompiledRuleSet,
    env: Env,
    memo: dict[str, dict[str, dict[str, Any]]],
    trees: dict[int, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The assumptions an outcome's value rests on (its deciding rule's), once per decision.
    With the explanation's `trees`, read from what the deciding rule's explainer found on the
    part of its condition that made the value (`explaining.assumptions_key`: the same nodes
    in the same order as `_assumptions_in`'s walk, which is the reference; tested) instead of
    walking the condition again. The result is read only (it may be shared)."""
    hit = memo.get(name)
    if hit is not None:
        return hit
    result = env.outcome(name)
    rule = result.rule
    if rule is None or result.value is UNKNOWN:
        memo[name] = _NO_ASSUMPTIONS
        return _NO_ASSUMPTIONS
    side = tables(env.entity, crs)
    if trees is None or rule.cond is None:
        memo[name] = {}  # an outcome met again while it is being collected adds nothing new
        out: dict[str, dict[str, Any]] = {}
        _rule_assumptions(rule, crs, env, out, memo)
        memo[name] = out
        return out
    marks = side.rule_marks.get(rule.id)
    if marks is None:
        marks = side.rule_marks[rule.id] = _rule_marks(side, rule)
    own, may = marks
    if not may:
        out = own or _NO_ASSUMPTIONS  # the rule's own mark alone: the same dict every time
        memo[name] = out
        return out
    memo[name] = _NO_ASSUMPTIONS  # an outcome met again while it is being collected adds nothing new
    out = dict(own) if own else {}
    found = trees.get(assumptions_key(rule.cond))
    if found:
        _add_found(found, crs, env, out, memo, trees, side)
    _assumptions_in(rule.compute, crs, env, out, memo)
    memo[name] = out
    return out


def _rule_marks(side: EntityTables, rule: CompiledRule) -> tuple[dict[str, dict[str, Any]] | None, bool]:
    """What a deciding rule adds whatever the record: its own mark's entry (shared), and
    whether what it reads may carry more (then its tree is walked)."""
    own = None
    if rule.spec.assumption:
        key = f"rule:{rule.id}"
        own = share({key: _shared_assumption(side, key, rule.id, "rule", rule.spec.label, rule.spec.note)})
    return own, side.may_assume[rule.id]


def _add_found(
    found: list[tuple[str, str, str]],
    crs: CompiledRuleSet,
    env: Env,
    out: dict[str, dict[str, Any]],
    memo: dict[str, dict[str, dict[str, Any]]],
    trees: dict[int, Any],
    side: EntityTables,
) -> None:
    """The entries of what an explainer found (kind, name, key), in its order; an outcome's
    are its own deciding rule's."""
    for kind, name, key in found:
        if kind == "outcome":
            for k, ref in _outcome_assumptions(name, crs, env, memo, trees).items():
                if k not in out:
                    out[k] = ref
        elif key not in out:
            if kind == "param":
                pspec = crs.model.parameters[name]
                v = parameter_version(pspec, env.on)
                out[key] = _shared_assumption(side, key, name, "parameter", pspec.label, v.note if v else None)
            else:
                spec = env.entity.derived[name].spec
                out[key] = _shared_assumption(side, key, name, "derived", spec.label, spec.note)


def rule_path(
    oc_name: str,
    result: OutcomeResult,
    env: Env,
    crs: CompiledRuleSet,
    seen: set[str] | None = None,
    trees: dict[int, Any] | None = None,
) -> list[str]:
    """`outcome/rule` steps: the deciding rule, then the deciding rules of the
    outcomes its condition read. With the explanation's `trees`, the outcomes read are those
    its explainer noted (`explaining.outcomes_key`), where it could, instead of walking the
    condition again with its closures (`_outcomes_read`, the reference; tested)."""
    if seen is not None:  # an outcome met again on the way adds nothing
        if oc_name in seen:
            return []
        seen.add(oc_name)
    rule = result.rule
    if rule is None:
        return [f"{oc_name}/(default)"] if result.by_default else [oc_name]
    side = tables(env.entity, crs)
    if not side.reads_outcomes[rule.id]:
        return [side.steps[rule.id]]
    if seen is None:
        seen = {oc_name}
    path = [side.steps[rule.id]]
    read = None
    if trees is not None and rule.cond is not None and rule.compute is None:
        read = trees.get(outcomes_key(rule.cond))
    for dep in _outcomes_read(rule, env) if read is None else read:
        path += rule_path(dep, env.outcome(dep), env, crs, seen, trees)
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
        # Follow only the parts that decided the result (`semantics.made_the_value`); the rule
        # path follows every operand of a junction that stayed unknown (under `known(...)`).
        if n.kind in sem.DECISIVE:
            v = n.fn(env)
            if v is not UNKNOWN and sem.prunes(n.kind, v):
                stack.extend(k for k in n.kids if k.fn(env) is v)
                continue
        stack.extend(n.kids)
    return out


_PLAIN = frozenset({bool, str, int})  # values that are their own JSON (`to_json_value`)


def status_of(value: Any, oc: CompiledOutcome, result: OutcomeResult) -> str:
    return sem.status(value, result.no_rule_in_force)


def _question(entity: CompiledEntity, fact: str) -> dict[str, Any]:
    spec = entity.facts[fact]
    # One object in every decision that asks it: read-only.
    question: dict[str, Any] = share(
        {"fact": fact, "label": label_dict(spec.label, fact), "question": label_dict(spec.question, fact)}
    )
    return question


def evaluate_entity(
    crs: CompiledRuleSet, entity: CompiledEntity, facts: dict[str, Any], on: dt.date, explain: bool = True
) -> dict[str, dict[str, Any]]:
    """Every outcome of one record as data in the JSON shape of `OutcomeDecision`."""
    if explain:
        env, cache = explaining_env(crs, entity, facts, on)
    else:
        env, cache = make_env(crs, entity, facts, on), {}
    memo: dict[int, frozenset[str]] = {}
    asm_memo: dict[str, dict[str, dict[str, Any]]] = {}
    side = tables(entity, crs)
    static = side.static
    reasons = side.reasons
    steps = side.steps
    reads_outcomes = side.reads_outcomes
    trees = cache if explain else None
    decisions: dict[str, dict[str, Any]] = {}
    for name in entity.outcome_order:
        oc = entity.outcomes[name]
        result = env.outcome(name)
        value = result.value
        missing = sorted(outcome_missing(oc, result, env, memo)) if value is UNKNOWN else []
        rule = result.rule
        assumptions = _outcome_assumptions(name, crs, env, asm_memo, trees)
        # Made by the explaining resolution as it tried the rules (`closures.record_resolver`).
        trace = result.trace if explain and result.trace is not None else []
        source = (
            rule.spec.source if rule else (oc.spec.default.source if result.by_default and oc.spec.default else None)
        )
        label = static.get(name)
        if label is None:
            label = static[name] = share(label_dict(oc.spec.label, name))
        o = {
            "value": None if value is UNKNOWN else value if value.__class__ in _PLAIN else to_json_value(value),
            "status": sem.status(value, result.no_rule_in_force),
            "label": label,
            "rule": rule.id if rule else None,
            # A rule that reads no outcome is its path alone (the usual case, without the call).
            "rule_path": [steps[rule.id]]
            if rule is not None and not reads_outcomes[rule.id]
            else rule_path(name, result, env, crs, None, trees),
            "source": source,
            "assumption": bool(assumptions),
            "assumptions": list(assumptions.values()),
            "missing": missing,
            # Tested first: a comprehension costs a function call on Python 3.11 even when empty.
            "questions": [
                static.get(("question", f)) or static.setdefault(("question", f), _question(entity, f)) for f in missing
            ]
            if missing
            else [],
            "reason": None,
            "trace": trace,
        }
        o["reason"] = reason_data(entity, name, o, reasons)
        decisions[name] = o
    return decisions

"""The rule language's meaning, read naively: a test-only reference every backend is checked
against (tests/test_conformance.py). It shares nothing with `eval/semantics` but the
operations of the strict operators (the nodes' `op`: Python comparison, the calendar kernels):
the truth tables are written out, outcome resolution is the sentence in docs/design.md §4, and
the explanation is an interpretive walk over the compiled tree (it was `evaluator.explain_node`,
the engine's first explanation, before the explainers were generated)."""

from __future__ import annotations

from typing import Any

from eligibility.compile.ir import CNode, CompiledOutcome, CompiledRuleSet, parameter_version
from eligibility.lang.values import NEVER, UNKNOWN, to_json_value

T, F, U = True, False, UNKNOWN

# Kleene's strong three-valued logic, as truth tables.
AND = {
    (T, T): T, (T, F): F, (T, U): U,
    (F, T): F, (F, F): F, (F, U): F,
    (U, T): U, (U, F): F, (U, U): U,
}  # fmt: skip
OR = {
    (T, T): T, (T, F): T, (T, U): T,
    (F, T): T, (F, F): F, (F, U): U,
    (U, T): T, (U, F): U, (U, U): U,
}  # fmt: skip
NOT = {T: F, F: T, U: U}


def value(node: CNode, env: Any, vals: dict[int, Any] | None = None) -> Any:
    """A node's value, bottom-up from its operands' values (each node once per walk)."""
    if vals is None:
        vals = {}
    key = id(node)
    if key in vals:
        return vals[key]
    kids = node.kids
    if not kids:
        v = node.fn(env)  # leaves: a fact, literal, parameter, the reference date, an outcome
    else:
        kv = [value(k, env, vals) for k in kids]
        kind = node.kind
        if kind == "and":
            v = kv[0]
            for x in kv[1:]:
                v = AND[(v, x)]
        elif kind == "or":
            v = kv[0]
            for x in kv[1:]:
                v = OR[(v, x)]
        elif kind == "not":
            v = NOT[kv[0]]
        elif kind == "known":
            v = kv[0] is not U
        elif any(x is U for x in kv):
            v = U
        elif kind == "list":
            v = tuple(kv)
        else:  # compare, arith, call, neg
            v = node.op(*kv)  # type: ignore[misc]
    vals[key] = v
    return v


def resolve(oc: CompiledOutcome, env: Any) -> tuple[Any, str | None, list[str]]:
    """(value, deciding rule id, open rule ids) of one outcome, as design §4 says it: the first
    rule (in precedence order) whose condition is true decides; earlier rules whose condition is
    unknown are open; an open rule that concludes differently — or a missing fallback — leaves the
    outcome unknown. No rule in force: no value (None)."""
    rules = env.rules_in_force.get(oc.name, [])
    if not rules:
        return None, None, []
    open_: list[tuple[str, Any]] = []
    for rule in rules:
        cond = T if rule.cond is None else value(rule.cond, env)
        if cond is F:
            continue
        concl = rule.value if rule.compute is None else value(rule.compute, env)
        if cond is T and concl is not U:
            reached, decider = concl, rule.id
            break
        open_.append((rule.id, concl))
    else:
        if oc.default is None:
            return (U if open_ else None), None, [r for r, _ in open_]
        reached, decider = oc.default, None
    for _, concl in open_:
        if concl is U or concl != reached or type(concl) is not type(reached):
            return U, None, [r for r, _ in open_]
    return reached, decider, []


_NODE_KEYS = ("kind", "text", "value", "known", "name", "label", "source", "assumption", "rule", "children")


def _label(t: Any, fallback: str) -> dict[str, str]:
    if t is None:
        return {"de": fallback, "en": fallback}
    return {"de": t.de, "en": t.en or t.de}


def explain_node(node: CNode, env: Any, crs: CompiledRuleSet, vals: dict[int, Any] | None = None) -> dict[str, Any]:
    """The explanation tree of a condition: each node's expression, value and what it read; of
    an "and"/"or" only the operands that made the result (for a false "and" the false ones, for
    a true "or" the true ones, for an unknown result the unknown ones, else all)."""
    if vals is None:
        vals = {}
    v = value(node, env, vals)
    ent = env.entity
    out: dict[str, Any] = dict.fromkeys(_NODE_KEYS)
    out.update(kind=node.kind, text=node.text, known=v is not U, assumption=False, name=node.name or None)
    out["value"] = None if v is NEVER else to_json_value(v)
    kind = node.kind
    if kind == "fact":
        out["label"] = _label(ent.facts[node.name].label, node.name)
    elif kind == "stichtag":
        out["label"] = {"de": "Stichtag", "en": "reference date"}
    elif kind == "param":
        out["label"] = _label(crs.model.parameters[node.name].label, node.name)
    elif kind == "derived":
        d = ent.derived[node.name]
        out.update(label=_label(d.spec.label, node.name), source=d.spec.source, assumption=bool(d.spec.assumption))
    elif kind == "outcome":
        out["label"] = _label(ent.outcomes[node.name].spec.label, node.name)
    if kind == "param":
        version = parameter_version(crs.model.parameters[node.name], env.on)
        out["source"] = version.source if version else None
        out["assumption"] = bool(version and version.assumption)
        out["children"] = []
    elif kind == "derived":
        out["children"] = [explain_node(ent.derived[node.name].node, env, crs, vals)]
    elif kind == "outcome":
        result = env.outcome(node.name)
        out["rule"] = result.rule.id if result.rule else None
        out["source"] = result.rule.spec.source if result.rule else None
        out["children"] = []
    else:
        # Literals (and lists of literals) are already in the node's text.
        kids = [
            k
            for k in node.kids
            if k.kind != "literal" and not (k.kind == "list" and all(g.kind == "literal" for g in k.kids))
        ]
        if kind in ("and", "or") and kids:
            if v is U:
                kids = [k for k in kids if value(k, env, vals) is U]
            elif (kind == "and" and v is F) or (kind == "or" and v is T):
                kids = [k for k in kids if value(k, env, vals) is v]
        out["children"] = [explain_node(k, env, crs, vals) for k in kids]
    return out

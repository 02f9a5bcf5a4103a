"""What evaluation derives from a compiled entity and keeps, beside the IR, never in it.

The compiled form (`compile/compiler`) is not written after compilation (issue 14: the
evaluator used to annotate nodes and rules with explainers, label blocks and scan results, so
the IR's meaning depended on which decisions had run). The evaluation stage keeps its own side
table per compiled entity instead: static analyses made once when the table is made (which
rules read outcomes, which may rest on an assumption), and the parts made on first use
(compiled explainers, labels and questions shared by every decision). The
table is held by the compiled rule set's `eval_tables`, so it goes with it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eligibility.compile.compiler import CompiledEntity, CompiledRuleSet
    from eligibility.compile.ir import CNode


@dataclasses.dataclass(eq=False)
class EntityTables:
    # Per rule id: whether its condition or computation reads an outcome, and whether anything
    # it reads can carry an assumption (the walks for rule paths and assumptions skip the rest).
    reads_outcomes: dict[str, bool]
    may_assume: dict[str, bool]
    # Per rule id: its step in a rule path ("outcome/rule").
    steps: dict[str, str]
    # Per id() of a compiled node (nodes live as long as their entity, which this table
    # outlives never): its compiled explainer, whether an assumption can be found under it.
    explainers: dict[int, Any] = dataclasses.field(default_factory=dict)
    can_assume: dict[int, bool] = dataclasses.field(default_factory=dict)
    # Decision parts that depend only on the rule set (outcome labels, questions), shared by
    # every decision: the decision data is read-only.
    static: dict[Any, Any] = dataclasses.field(default_factory=dict)
    # Per rule id: its own mark's entry and whether what it reads may carry more.
    rule_marks: dict[str, tuple[Any, bool]] = dataclasses.field(default_factory=dict)
    # Per assumption ("derived:x", "param:y", "rule:z") and id() of its note: its entry.
    assumptions: dict[tuple[str, int], Any] = dataclasses.field(default_factory=dict)
    # Per outcome, status, rule, source, assumption mark and missing facts: the reason's texts.
    reasons: dict[tuple[object, ...], Any] = dataclasses.field(default_factory=dict)
    # Per outcome and the rules in force for it (by their identities): its generated resolution
    # (`closures.record_resolver`). Keyed by what is in force, not by date: a rule set has a few
    # such combinations, while `rules_on` makes a new table for every reference date.
    resolver_of: dict[tuple[str, bool, tuple[int, ...]], Any] = dataclasses.field(default_factory=dict)
    # Both per whether the resolutions explain (`evaluator.explaining_env`) or only decide.
    # Per rules-in-force table (by id(), with the table itself so that a reused id is noticed):
    # the resolutions of its outcomes, looked up once per table instead of once per outcome.
    resolvers: dict[tuple[int, bool], tuple[Any, dict[str, Any]]] = dataclasses.field(default_factory=dict)


def tables(entity: CompiledEntity, crs: CompiledRuleSet) -> EntityTables:
    """The side table of `entity` (made with its static analyses on first use). It is kept in
    the container the compiled rule set carries for it, not in a module-level dict: the
    explainers in it refer to the entity, so a weak dict keyed by the entity would keep every
    reloaded rule set alive; held by the rule set, table and rule set form one cycle that the
    garbage collector frees together."""
    hit: EntityTables | None = crs.eval_tables.get(entity.name)
    if hit is None:
        hit = crs.eval_tables[entity.name] = _analyse(entity, crs)
    return hit


def _analyse(entity: CompiledEntity, crs: CompiledRuleSet) -> EntityTables:
    from eligibility.compile.compiler import reachable

    reads: dict[str, bool] = {}
    may: dict[str, bool] = {}
    steps: dict[str, str] = {}
    assumed_params = {name for name, p in crs.model.parameters.items() if any(v.assumption for v in p.versions)}
    for oc in entity.outcomes.values():
        for rule in oc.rules:
            nodes = list(reachable(entity, [rule.cond, rule.compute]))
            reads[rule.id] = any(n.kind == "outcome" for n in nodes)
            steps[rule.id] = f"{oc.name}/{rule.id}"
            # The rule's own mark is added without a walk (evaluator._rule_assumptions): only
            # what its condition and computation read sends the walk in (most marked rules
            # read nothing that carries an assumption itself).
            may[rule.id] = reads[rule.id] or any(
                (n.kind == "derived" and bool(entity.derived[n.name].spec.assumption))
                or (n.kind == "param" and n.name in assumed_params)
                for n in nodes
            )
    return EntityTables(reads, may, steps)


def can_assume(node: CNode, entity: CompiledEntity, crs: CompiledRuleSet) -> bool:
    """Whether anything under the node can carry an assumption (an assumed derived fact or
    parameter version, or an outcome): the walks for assumptions skip every other subtree."""
    kept = tables(entity, crs).can_assume
    hit = kept.get(id(node))
    if hit is None:
        if node.kind == "derived":
            d = entity.derived[node.name]
            hit = bool(d.spec.assumption) or can_assume(d.node, entity, crs)
        elif node.kind == "param":
            hit = any(v.assumption for v in crs.model.parameters[node.name].versions)
        else:
            hit = node.kind == "outcome" or any(can_assume(k, entity, crs) for k in node.kids)
        kept[id(node)] = hit
    return hit

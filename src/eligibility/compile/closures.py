"""The per-record backend: each expression node becomes a closure over `Env` (built once at
load time, never re-parsed per record), and each outcome is resolved by the generic
`semantics.resolve_outcome` over one record.

The closures translate `eval/semantics`: the junctions are built from its `DECISIVE` table, the
strict operators take their operation from its `COMPARE`/`ARITH`/`FUNCTIONS` tables and apply
`semantics.strict` in the two shapes the hot path needs (two operands, any number), `not` and
`known` are its functions. Nothing here decides what an operator means."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eligibility.compile.ir import CNode, CompiledOutcome, CompiledRule, Fn, OutcomeResult
from eligibility.eval import semantics as sem
from eligibility.eval.semantics import resolve_outcome, rule_applies, same_conclusion, settle
from eligibility.lang.syntax import Arith, BoolOp, Call, Compare, ListExpr, Literal, Name, Neg, Node, Not, children
from eligibility.lang.values import UNKNOWN, to_json_value

if TYPE_CHECKING:
    from eligibility.compile.ir import CompiledEntity
    from eligibility.compile.scope import Scope


_ABSENT = object()  # not yet computed (a derived fact's value may be None or UNKNOWN)


class Env:
    """The evaluation context of one record on one reference date. Derived facts and
    outcomes are computed at most once per record (memoised).

    `valued`, when given, computes a condition's (or derived fact's) value in the pass that
    also builds its explanation (the generated explainers of `eval/explaining`, which keep the
    tree aside): deciding with the explanation then computes each node once, not once by its
    closure and again for its tree."""

    __slots__ = (
        "facts",
        "on",
        "params",
        "entity",
        "derived_cache",
        "outcome_cache",
        "rules_in_force",
        "valued",
        "resolvers",
        "trees",
        "explainers",
    )

    def __init__(
        self,
        entity: CompiledEntity,
        facts: dict[str, Any],
        on: dt.date,
        params: dict[str, Any],
        rules_in_force: dict[str, list[CompiledRule]],
        resolvers: dict[str, Callable[[Env], OutcomeResult]] | None = None,
    ) -> None:
        self.entity = entity
        self.facts = facts
        self.on = on
        self.params = params
        self.derived_cache: dict[str, Any] = {}
        self.outcome_cache: dict[str, OutcomeResult] = {}
        self.rules_in_force = rules_in_force
        # Set by `evaluator.explaining_env`: conditions and derived facts then take their value
        # from the generated explainer that builds their tree (one pass for both).
        self.valued: Callable[[CNode, Env], Any] | None = None
        # Per outcome, its generated resolution for the rules in force (`record_resolver`);
        # without, the generic `evaluate_outcome`.
        self.resolvers = resolvers
        # With `valued`: the explanation trees built so far, by id() of their node.
        self.trees: dict[int, Any] | None = None
        # With `valued`: the generated explainers made so far, by id() of their node, which
        # `derived` calls itself (the same as `valued` does, without its frame); `valued` makes
        # one that is not made yet.
        self.explainers: dict[int, Callable[[Env, dict[int, Any]], tuple[Any, Any]]] | None = None

    # A lookup with a default, not try/except: every derived fact and outcome is first met
    # missing once per record, and a raised KeyError costs more than the lookup.
    def derived(self, name: str) -> Any:
        value = self.derived_cache.get(name, _ABSENT)
        if value is _ABSENT:
            node = self.entity.derived[name].node
            if self.valued is None:
                value = node.fn(self)
            else:
                made = self.explainers.get(id(node)) if self.explainers is not None else None
                if made is None:
                    value = self.valued(node, self)
                else:
                    value, self.trees[id(node)] = made(self, self.trees)  # type: ignore[index,arg-type]
            self.derived_cache[name] = value
        return value

    def outcome(self, name: str) -> OutcomeResult:
        result = self.outcome_cache.get(name)
        if result is None:
            resolvers = self.resolvers
            if resolvers is None:
                result = evaluate_outcome(self.entity.outcomes[name], self)
            else:
                result = resolvers[name](self)
            self.outcome_cache[name] = result
        return result


# ---------------------------------------------------------------- expressions


def _junction(kind: str, fns: tuple[Fn, ...]) -> Fn:
    # semantics.junction, evaluated lazily: operands after the deciding one are not computed.
    stop = sem.DECISIVE[kind]
    other = not stop
    if len(fns) == 2:  # the usual shape, without the loop (a third of the closures' time)
        first, second = fns

        def f2(env: Env) -> Any:
            a = first(env)
            if a is stop:
                return stop
            b = second(env)
            if b is stop:
                return stop
            return UNKNOWN if a is UNKNOWN or b is UNKNOWN else other

        return f2

    def f(env: Env) -> Any:
        unknown = False
        for fn in fns:
            v = fn(env)
            if v is stop:
                return stop
            if v is UNKNOWN:
                unknown = True
        return UNKNOWN if unknown else other

    return f


def _not(fn: Fn) -> Fn:
    negation = sem.negation

    def f(env: Env) -> Any:
        return negation(fn(env))

    return f


def _binary(op: Callable[[Any, Any], Any], lf: Fn, rf: Fn) -> Fn:
    # semantics.strict for two operands; the right one is not computed when the left is unknown.
    def f(env: Env) -> Any:
        a = lf(env)
        if a is UNKNOWN:
            return UNKNOWN
        b = rf(env)
        if b is UNKNOWN:
            return UNKNOWN
        return op(a, b)

    return f


def _call(fn: Callable[..., Any], arg_fns: tuple[Fn, ...]) -> Fn:
    # semantics.strict for any number of operands, computed left to right up to the first unknown.
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
    known = sem.known

    def f(env: Env) -> Any:
        return known(arg(env))

    return f


def _list(fns: tuple[Fn, ...]) -> Fn:
    # A list literal is strict too: it is unknown when an item is (every item is computed).
    strict = sem.strict

    def f(env: Env) -> Any:
        return strict(_tuple, [fn(env) for fn in fns])

    return f


def _tuple(*values: Any) -> tuple[Any, ...]:
    return values


def compile_expr(text: str, node: Node, scope: Scope) -> CNode:
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
        return CNode(node, src, _junction(node.op, fns), kids, node.op)
    if isinstance(node, Not):
        return CNode(node, src, _not(fns[0]), kids, "not")
    if isinstance(node, Neg):
        return CNode(node, src, _call(sem.negate, fns), kids, "neg", op=sem.negate)
    if isinstance(node, Compare):
        op = sem.COMPARE[node.op]
        return CNode(node, src, _binary(op, fns[0], fns[1]), kids, "compare", node.op, op=op)
    if isinstance(node, Arith):
        op = sem.ARITH[node.op]
        return CNode(node, src, _binary(op, fns[0], fns[1]), kids, "arith", node.op, op=op)
    if isinstance(node, Call) and node.func == "known":
        # A wrong number of operands is reported by the type check (E011), which runs later.
        known_fn = _known(fns[0]) if len(fns) == 1 else (lambda env: UNKNOWN)
        return CNode(node, src, known_fn, kids, "known", "known")
    if isinstance(node, Call):
        fn = sem.FUNCTIONS[node.func]
        return CNode(node, src, _call(fn, fns), kids, "call", node.func, op=fn)
    if isinstance(node, ListExpr):
        return CNode(node, src, _list(fns), kids, "list")
    raise AssertionError(node)  # pragma: no cover


def _outcome_value(env: Env, name: str) -> Any:
    # An outcome with no rule in force has no value: for other rules that is unknown.
    v = env.outcome(name).value
    return UNKNOWN if v is None else v


# ---------------------------------------------------------------- outcomes


_NEITHER = (False, False)


class _RecordDomain:
    """`semantics.Domain` for one record: a lane is a Python bool; rules are tried through
    their closures, and what was tried is kept for the explanation."""

    __slots__ = ("env", "default", "considered", "conclusions", "decider")
    any = bool  # a type, so not bound as a method: dom.any(x) is bool(x)

    def __init__(self, env: Env, default: Any) -> None:
        self.env = env
        self.default = default
        self.considered: list[tuple[CompiledRule, Any]] = []
        self.conclusions: dict[int, Any] = {}
        self.decider = -1

    def everywhere(self) -> bool:
        return True

    def nowhere(self) -> bool:
        return False

    def applies(self, index: int, rule: CompiledRule, pending: bool) -> tuple[bool, bool]:
        cond = rule.cond
        env = self.env
        c = True if cond is None else cond.fn(env) if env.valued is None else env.valued(cond, env)
        self.considered.append((rule, c))
        if c is False:
            return _NEITHER  # the conclusion of a rule that does not apply is not computed
        compute = rule.compute
        val = rule.value if compute is None else compute.fn(self.env)
        self.conclusions[index] = val
        a = rule_applies(c, val)
        return a is True, a is UNKNOWN

    def choose(self, index: int, lanes: bool) -> None:
        self.decider = index

    def concludes_otherwise(self, index: int, pending: bool) -> bool:
        reached = self.default if pending else self.conclusions[self.decider]
        return not same_conclusion(self.conclusions[index], reached)


def evaluate_outcome(oc: CompiledOutcome, env: Env) -> OutcomeResult:
    """One outcome of one record, by `semantics.resolve_outcome`."""
    rules = env.rules_in_force.get(oc.name, ())
    if not rules:
        return OutcomeResult(None, None, [], [], no_rule_in_force=True)
    dom = _RecordDomain(env, oc.default)
    _pending, opened, undecided = resolve_outcome(dom, rules, oc.default is not None)
    decider = rules[dom.decider] if dom.decider >= 0 else None
    reached = dom.conclusions[dom.decider] if decider is not None else None
    return _result(oc, undecided, [rules[i] for i, _ in opened], decider, reached, dom.considered)


def _result(
    oc: CompiledOutcome,
    undecided: bool,
    opened: list[CompiledRule],
    decider: CompiledRule | None,
    reached: Any,
    considered: list[tuple[CompiledRule, Any]],
) -> OutcomeResult:
    """What a record's resolution means as an `OutcomeResult` (the generic loop and the
    generated resolutions end here)."""
    if undecided:
        if not opened:  # no rule decided, none could, and there is no fallback
            return OutcomeResult(None, None, considered, [])
        return OutcomeResult(UNKNOWN, None, considered, opened)
    if decider is not None:
        return OutcomeResult(reached, decider, considered, [])
    return OutcomeResult(oc.default, None, considered, [], by_default=True)


class _Settling:
    """`semantics.settle`'s domain for the generated resolutions: a lane is a bool, and the
    open rules' conclusions are compared with the value reached."""

    __slots__ = ("conclusions", "reached")
    nowhere = staticmethod(lambda: False)

    def __init__(self, conclusions: list[Any], reached: Any) -> None:
        self.conclusions = conclusions
        self.reached = reached

    def concludes_otherwise(self, index: int, pending: bool) -> bool:
        return not same_conclusion(self.conclusions[index], self.reached)


_NOTHING_OPEN = _Settling([], None)


# The rule loop of `semantics.resolve_outcome` for one record, unrolled over the rules in force
# (design §31): a lane is one Python bool, so "pending", "fires" and "open" become branches, and
# the domain's calls (`applies`, `choose`, `concludes_otherwise` of `_RecordDomain` above)
# become the statements they stand for, with `semantics.rule_applies` and
# `semantics.same_conclusion` called as they are. Generated source holds only names made here
# and indices; rules, conditions and conclusions are passed in as objects. Explaining, each rule
# tried also gets its trace entry (`decision.RuleTrace`'s JSON shape) at once, as a copy of the
# rule's template: what it shows whatever the record (label, source, mark, a fixed conclusion)
# is made here, once.
_TRACED = """\
    trace.append(DC(P[{i}], condition=None if c is U else B(c){concludes}, explanation={tree}))
"""
_RULE = """\
    c = {cond}
    considered.append((R[{i}], c))
{traced}    if c is not False:
        x = {concl}
        a = RA(c, x)
        if a is True:
            return finish(R[{i}], x, considered, opened)
        if a is U:
            opened.append((R[{i}], x))
"""


def record_resolver(
    oc: CompiledOutcome,
    rules: list[CompiledRule],
    explainers: list[Any] | None = None,
    shared: Callable[[Any], Any] = lambda part: part,
) -> Callable[[Env], OutcomeResult]:
    """`evaluate_outcome(oc, env)` for the rules in force `rules`, as one generated function.
    With `explainers` (per rule, its condition's generated explainer, `eval.explaining`), for
    an `Env` that explains: each condition's value comes from its explainer, whose tree goes to
    `env.trees` (what `env.valued` does, without the lookup per rule tried); `shared` makes
    the parts of a trace entry that every decision holds read-only (`decision.shared.share`)."""
    if not rules:
        if explainers is not None:
            return lambda env: OutcomeResult(None, None, [], [], no_rule_in_force=True, trace=[])
        return lambda env: OutcomeResult(None, None, [], [], no_rule_in_force=True)
    default = oc.default
    has_default = default is not None

    def finish(
        rule: CompiledRule | None, reached: Any, considered: list[Any], opened: list[Any], trace: Any
    ) -> OutcomeResult:
        # After the loop, as `semantics.resolve_outcome` ends: `settle` says what stays unknown.
        pending = rule is None
        if pending:
            reached = default
        if opened:
            dom = _Settling([x for _r, x in opened], reached)
            undecided = settle(dom, pending, [(i, True) for i in range(len(opened))], has_default)  # type: ignore[arg-type]
        else:  # the usual case: nothing to compare, so no domain to make
            undecided = settle(_NOTHING_OPEN, pending, (), has_default)  # type: ignore[arg-type]
        result = _result(oc, undecided, [r for r, _ in opened], rule, reached, considered)
        result.trace = trace
        return result

    explaining = explainers is not None
    body = []
    for i, r in enumerate(rules):
        if r.cond is None:
            cond = "True"
        elif explaining:
            cond = f"E[{i}](env, T)"
        else:
            cond = f"R[{i}].cond.fn(env) if valued is None else valued(R[{i}].cond, env)"
        concl = f"R[{i}].value" if r.compute is None else f"R[{i}].compute.fn(env)"
        traced = ""
        if explaining:
            # A computed conclusion is shown for every rule tried, also one whose condition
            # does not hold (the trace shows what the rule would conclude).
            concludes = "" if r.compute is None else f", concludes=JV(R[{i}].compute.fn(env))"
            traced = _TRACED.format(i=i, concludes=concludes, tree="None" if r.cond is None else "t")
        chunk = _RULE.format(i=i, cond=cond, concl=concl, traced=traced)
        if explaining and r.cond is not None:
            chunk = chunk.replace(f"    c = {cond}\n", f"    c, t = {cond}\n    T[C[{i}]] = t\n")
        body.append(chunk)
    ends = "considered, opened, trace" if explaining else "considered, opened, None"
    source = (
        "def make(R, U, RA, finish, E, C, P, JV, B, DC):\n    def resolve(env):\n"
        "        considered = []\n        opened = []\n"
        + ("        trace = []\n" if explaining else "")
        + "        valued = env.valued\n        T = env.trees\n"
        + "".join("    " + line + "\n" for chunk in body for line in chunk.splitlines()).replace(
            "considered, opened)", ends + ")"
        )
        + f"        return finish(None, None, {ends})\n    return resolve\n"
    )
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile(source, f"<resolution of {oc.name}>", "exec"), namespace)  # noqa: S102 - see the comment above
    cond_ids = tuple(id(r.cond) for r in rules)
    made: Callable[[Env], OutcomeResult] = namespace["make"](
        tuple(rules),
        UNKNOWN,
        rule_applies,
        finish,
        tuple(explainers or ()),
        cond_ids,
        tuple(_trace_template(r, shared) for r in rules),
        to_json_value,
        bool,
        dict,
    )
    return made


def _trace_template(rule: CompiledRule, shared: Callable[[Any], Any]) -> dict[str, Any]:
    # A trace entry's parts that are the same whatever the record, in the entry's key order.
    return {
        "rule": rule.id,
        "label": shared(_label(rule)),
        "source": rule.spec.source,
        "condition": None,
        "concludes": shared(to_json_value(rule.value)) if rule.compute is None else None,
        "assumption": bool(rule.spec.assumption),
        "explanation": None,
    }


def _label(rule: CompiledRule) -> dict[str, str]:
    # A rule's label in a trace entry, one object for every decision (made read-only by the
    # caller's `shared`).
    lab = rule.spec.label
    return {"de": rule.id, "en": rule.id} if lab is None else {"de": lab.de, "en": lab.en or lab.de}

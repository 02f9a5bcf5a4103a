"""The expression language: parsing, static types, three-valued logic, calendar."""

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine
from eligibility.compile.compiler import Env
from eligibility.eval.evaluator import make_env
from eligibility.lang.syntax import ExpressionError, parse
from eligibility.lang.values import NEVER, UNKNOWN, add_months

MINI = """ruleset:
  name: mini
  version: "1"
  jurisdiction: Test
  title: {de: Mini}
  valid_from: 2000-01-01
entity: person
facts:
  a: {type: bool, label: {de: A}, question: {de: "A?"}}
  b: {type: bool, label: {de: B}, question: {de: "B?"}}
  c: {type: bool, label: {de: C}, question: {de: "C?"}}
  x: {type: int, label: {de: X}, question: {de: "X?"}}
  d: {type: date, event: true, label: {de: D}, question: {de: "D?"}}
derived:
  e:
    label: {de: E}
    expr: %s
outcomes:
  o:
    type: bool
    label: {de: O}
    default: {value: false, label: {de: nein}}
    rules:
      - {id: o.e, label: {de: e}, source: Test, when: "a or not a", then: true}
"""


def derived_value(tmp_path: Path, expr: str, facts: dict, on: dt.date = dt.date(2020, 1, 1)):
    import json

    folder = tmp_path / f"r{abs(hash(expr))}"
    if not folder.exists():
        folder.mkdir()
        (folder / "rules.yaml").write_text(MINI % json.dumps(expr), encoding="utf-8")
    engine = Engine.load(folder)
    ent = engine.entity()
    env: Env = make_env(engine.compiled, ent, facts, on)
    return env.derived("e")


T, F, U = True, False, UNKNOWN


def kleene_and(p, q):
    if p is F or q is F:
        return F
    if p is U or q is U:
        return U
    return T


def kleene_or(p, q):
    if p is T or q is T:
        return T
    if p is U or q is U:
        return U
    return F


def kleene_not(p):
    return U if p is U else (not p)


def facts_of(**values):
    return {k: v for k, v in values.items() if v is not UNKNOWN}


@pytest.mark.parametrize("p,q", list(itertools.product([T, F, U], repeat=2)))
def test_kleene_truth_tables(tmp_path, p, q):
    assert derived_value(tmp_path, "a and b", facts_of(a=p, b=q)) is kleene_and(p, q)
    assert derived_value(tmp_path, "a or b", facts_of(a=p, b=q)) is kleene_or(p, q)
    assert derived_value(tmp_path, "not a", facts_of(a=p)) is kleene_not(p)


# Random boolean formulas over a, b, c: the engine agrees with the Kleene reference,
# and a known result holds in every classical completion of the unknown facts.
formulas = st.recursive(
    st.sampled_from(["a", "b", "c", "true", "false"]),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda x: f"(not {x})", inner),
    ),
    max_leaves=8,
)
truth = st.sampled_from([T, F, U])


def reference(expr: str, env: dict):
    py = expr.replace("true", "T").replace("false", "F")
    import re

    tree = re.sub(r"\b(a|b|c)\b", lambda m: f"V['{m.group(1)}']", py)
    tree = tree.replace(" and ", " & ").replace(" or ", " | ").replace("not ", "~")

    class K:
        def __init__(self, v):
            self.v = v

        def __and__(self, o):
            return K(kleene_and(self.v, o.v))

        def __or__(self, o):
            return K(kleene_or(self.v, o.v))

        def __invert__(self):
            return K(kleene_not(self.v))

    V = {k: K(v) for k, v in env.items()}
    return eval(tree, {"V": V, "T": K(T), "F": K(F)}).v  # noqa: S307 - test oracle over a fixed alphabet


@settings(max_examples=150, deadline=None)
@given(formulas, truth, truth, truth)
def test_random_formulas_follow_kleene_and_are_sound(tmp_path_factory, expr, va, vb, vc):
    tmp = tmp_path_factory.mktemp("k")
    env = {"a": va, "b": vb, "c": vc}
    got = derived_value(tmp, expr, facts_of(**env))
    assert got is reference(expr, env)
    if got is not UNKNOWN:
        unknowns = [k for k, v in env.items() if v is U]
        for combo in itertools.product([T, F], repeat=len(unknowns)):
            full = dict(env, **dict(zip(unknowns, combo)))
            assert reference(expr, full) is got


def test_event_date_that_has_not_happened_compares_as_never(tmp_path):
    on = dt.date(2020, 5, 1)
    assert derived_value(tmp_path, "d <= stichtag", {"d": NEVER}, on) is False
    assert derived_value(tmp_path, "stichtag < add_months(d, 3)", {"d": NEVER}, on) is True
    assert derived_value(tmp_path, "d <= stichtag", {}, on) is UNKNOWN
    assert derived_value(tmp_path, "d <= stichtag", {"d": dt.date(2020, 5, 1)}, on) is True


@pytest.mark.parametrize(
    "start,months,end",
    [
        ("2016-03-15", 24, "2018-03-15"),
        ("2016-02-29", 24, "2018-02-28"),
        ("2016-02-29", 48, "2020-02-29"),
        ("2015-12-31", 24, "2017-12-31"),
        ("2022-08-31", 6, "2023-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2023-03-31", -1, "2023-02-28"),
    ],
)
def test_add_months_follows_bgb_188(start, months, end):
    assert add_months(dt.date.fromisoformat(start), months) == dt.date.fromisoformat(end)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)), st.integers(0, 600))
def test_add_months_properties(d, n):
    r = add_months(d, n)
    assert (r.year * 12 + r.month) - (d.year * 12 + d.month) == n
    assert r.day == d.day or (r.day < d.day and (r + dt.timedelta(days=1)).day == 1)


@pytest.mark.parametrize(
    "text,message",
    [
        ("a = b", "unexpected character '='"),
        ("a and", "unexpected the end of the expression"),
        ("__import__('os')", "unknown function '__import__'"),
        ("a.b", "unexpected character '.'"),
        ("x[0]", "unexpected '['"),
        ("a < b < c", "comparisons cannot be chained"),
        ("2017-02-29 > stichtag", "'2017-02-29' is not a real date"),
        ("", "empty expression"),
    ],
)
def test_parser_rejects_with_a_column(text, message):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert message in info.value.message
    assert 0 <= info.value.column <= len(text)


def _shape(node):
    """A parse tree without its positions, to compare a node with its own text parsed again."""
    import dataclasses

    out = [type(node).__name__]
    for f in dataclasses.fields(node):
        if f.name in ("start", "end"):
            continue
        v = getattr(node, f.name)
        if isinstance(v, tuple):
            out.append(tuple(_shape(x) for x in v))
        elif dataclasses.is_dataclass(v):
            out.append(_shape(v))
        else:
            out.append(v)
    return tuple(out)


def _nodes(node):
    import dataclasses

    yield node
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        for x in v if isinstance(v, tuple) else (v,):
            if dataclasses.is_dataclass(x):
                yield from _nodes(x)


_atoms = st.sampled_from(["a", "b", "1", "2024-01-01", '"x"', "stichtag", "add_months(d, 2)", "[1, 2]"])
_exprs = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.builds(
            lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["and", "or", "==", "<", "+", "*", "in"]), inner
        ),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"-{a}", inner),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(_exprs)
def test_every_node_s_text_is_itself_with_its_brackets(text):
    """A node's span (its ``text`` in the explanation, the column of its diagnostics) runs from
    its first token to its last: a composite whose first or last operand is in parentheses keeps
    them, so ``(a and b) or c`` is not cut to ``a and b) or c``."""
    try:
        root = parse(text)
    except ExpressionError:
        return  # chained comparisons and the like: not what this test is about
    for node in _nodes(root):
        part = text[node.start : node.end]
        assert part.count("(") == part.count(")"), part
        assert part.count("[") == part.count("]"), part
        assert _shape(parse(part)) == _shape(node), part


def test_a_parenthesised_operand_keeps_its_brackets_in_the_composite_s_text():
    for text, want in [
        ("(a and b) or c", "(a and b) or c"),
        ("c or (a and b)", "c or (a and b)"),
        ("not (a or b)", "not (a or b)"),
        ("(a + 1) * (b)", "(a + 1) * (b)"),
        ("-(a + 1) < b", "-(a + 1) < b"),
        ("((a)) == (b)", "((a)) == (b)"),
    ]:
        node = parse(text)
        assert text[node.start : node.end] == want
    # The brackets round the whole expression are not part of it.
    node = parse("(a and b)")
    assert "(a and b)"[node.start : node.end] == "a and b"


def test_parser_allows_only_whitelisted_functions():
    node = parse('add_months(d, 24) < stichtag and x in [1, 2] and not (a or b) and s not in ["x"]')
    assert node is not None
    for bad in ("open('f')", "eval('1')", "exec('1')", "getattr(a, 'b')", "lambda: 1"):
        with pytest.raises(ExpressionError):
            parse(bad)


# known(x): true where x is known, false where it is not, never unknown — the same on every
# evaluation path (closures, the reference walker, the generated explainer, the batch path).
known_formulas = st.recursive(
    st.sampled_from(["a", "b", "c", "known(a)", "known(b)", "known(d)", "d <= stichtag"]),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda x: f"(not {x})", inner),
        st.builds(lambda x: f"known({x})", inner),
    ),
    max_leaves=6,
)


def known_reference(expr: str, env: dict, on: dt.date):
    node = parse(expr)

    def ev(n):
        kind = type(n).__name__
        if kind == "Name":
            return env.get(n.name, U)
        if kind == "Call":
            return ev(n.args[0]) is not U
        if kind == "Literal":
            return n.value
        if kind == "Not":
            return kleene_not(ev(n.operand))
        if kind == "BoolOp":
            vals = [ev(o) for o in n.operands]
            out = vals[0]
            for v in vals[1:]:
                out = kleene_and(out, v) if n.op == "and" else kleene_or(out, v)
            return out
        if kind == "Compare":  # d <= stichtag
            d = env.get("d", U)
            return U if d is U else (False if d is NEVER else d <= on)
        raise AssertionError(kind)

    return ev(node)


@settings(max_examples=150, deadline=None)
@given(known_formulas, truth, truth, truth, st.sampled_from([U, NEVER, dt.date(2019, 1, 1), dt.date(2021, 1, 1)]))
def test_known_is_the_same_on_every_evaluation_path(tmp_path_factory, expr, va, vb, vc, vd):
    from reference_semantics import explain_node

    tmp = tmp_path_factory.mktemp("known")
    on = dt.date(2020, 1, 1)
    facts = facts_of(a=va, b=vb, c=vc, d=vd)
    want = known_reference(expr, {"a": va, "b": vb, "c": vc, "d": vd}, on)
    folder = tmp / "r"
    folder.mkdir()
    import json

    (folder / "rules.yaml").write_text(
        (MINI % json.dumps(expr)).replace('when: "a or not a"', "when: e"), encoding="utf-8"
    )
    engine = Engine.load(folder)
    ent = engine.entity()
    env = make_env(engine.compiled, ent, facts, on)
    assert env.derived("e") is want
    assert explain_node(ent.derived["e"].node, env, engine.compiled)["known"] is (want is not U)
    record = {k: (None if v is NEVER else v.isoformat() if isinstance(v, dt.date) else v) for k, v in facts.items()}
    d = engine.decide(record, on)
    o = d.outcomes["o"]
    assert o.value is (None if want is U else want)
    # the rule's explanation, generated from the same condition, shows the same value
    tried = next(t for t in o.trace if t.rule == "o.e")
    assert tried.condition is (None if want is U else want)
    row = next(iter(engine.decide_table([record], on).rows()))
    assert row["o"] is o.value and row["o_missing"] == o.missing

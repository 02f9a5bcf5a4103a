"""Static types of expressions, checked at load time against the facts schema, so a
misspelt enum value or a date compared with a number is an error before any record
is evaluated."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from eligibility.diagnostics import did_you_mean
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
)


@dataclasses.dataclass(frozen=True)
class Type:
    kind: str  # bool int decimal date enum text list any
    values: frozenset[str] | None = None  # enum
    item: Type | None = None  # list

    def describe(self) -> str:
        if self.kind == "list":
            return f"list of {self.item.describe() if self.item else 'anything'}"
        if self.kind == "enum":
            return "enum"
        return self.kind


BOOL = Type("bool")
INT = Type("int")
DECIMAL = Type("decimal")
DATE = Type("date")
TEXT = Type("text")
ANY = Type("any")

NUMERIC = {"int", "decimal"}


def type_of_spec(kind: str, values: list[str] | None = None, item_type: str | None = None) -> Type:
    if kind == "enum":
        return Type("enum", frozenset(values or ()))
    if kind == "list":
        return Type("list", item=Type(item_type or "any"))
    return Type(kind)


class TypeError_(ExpressionError):
    pass


Resolver = Callable[[str, int], Type]

_SIGNATURES: dict[str, tuple[tuple[str, ...], Type]] = {
    "add_months": (("date", "int"), DATE),
    "add_years": (("date", "int"), DATE),
    "add_days": (("date", "int"), DATE),
    "days_between": (("date", "date"), INT),
    "year": (("date",), INT),
}


def infer(node: Node, resolve: Resolver) -> Type:
    """The type of `node`; raises TypeError_ (an ExpressionError) with a column.
    `resolve(name, column)` returns a name's type or raises for an unknown name."""
    if isinstance(node, Literal):
        v = node.value
        if isinstance(v, bool):
            return BOOL
        if isinstance(v, int):
            return INT
        if isinstance(v, str):
            return TEXT
        import datetime as dt

        if isinstance(v, dt.date):
            return DATE
        return DECIMAL
    if isinstance(node, Name):
        return resolve(node.name, node.start)
    if isinstance(node, ListExpr):
        item: Type | None = None
        for it in node.items:
            t = infer(it, resolve)
            if item is None:
                item = t
            elif not _compatible(item, t):
                raise TypeError_(f"list mixes {item.describe()} and {t.describe()}", it.start)
        return Type("list", item=item or ANY)
    if isinstance(node, Not):
        _expect_bool(node.operand, resolve, "'not'")
        return BOOL
    if isinstance(node, BoolOp):
        for op in node.operands:
            _expect_bool(op, resolve, f"'{node.op}'")
        return BOOL
    if isinstance(node, Neg):
        t = infer(node.operand, resolve)
        if t.kind not in NUMERIC:
            raise TypeError_(f"'-' needs a number, not {t.describe()}", node.start)
        return t
    if isinstance(node, Arith):
        lt, rt = infer(node.left, resolve), infer(node.right, resolve)
        if lt.kind not in NUMERIC or rt.kind not in NUMERIC:
            bad = node.left if lt.kind not in NUMERIC else node.right
            hint = "use add_days, add_months or days_between for dates" if DATE in (lt, rt) else ""
            raise TypeError_(
                f"'{node.op}' needs numbers, not {(lt if bad is node.left else rt).describe()}", bad.start, hint
            )
        if node.op == "/" or "decimal" in (lt.kind, rt.kind):
            return DECIMAL
        return INT
    if isinstance(node, Compare):
        lt, rt = infer(node.left, resolve), infer(node.right, resolve)
        if node.op in ("in", "not in"):
            if rt.kind != "list":
                raise TypeError_(
                    f"'{node.op}' needs a list on the right, not {rt.describe()}",
                    node.right.start,
                    'write x in ["a", "b"]',
                )
            _check_pair(node.left, lt, node.right, rt.item or ANY, resolve)
            return BOOL
        if node.op in ("<", "<=", ">", ">="):
            ok = (lt.kind in NUMERIC and rt.kind in NUMERIC) or (lt.kind == rt.kind == "date")
            if not ok:
                raise TypeError_(
                    f"cannot order {lt.describe()} and {rt.describe()} with '{node.op}'",
                    node.start,
                    "only numbers and dates have an order",
                )
            return BOOL
        _check_pair(node.left, lt, node.right, rt, resolve)
        return BOOL
    if isinstance(node, Call) and node.func == "known":
        # Any operand: it asks only whether the value is known.
        if len(node.args) != 1:
            raise TypeError_(f"known takes 1 argument(s), not {len(node.args)}", node.start)
        infer(node.args[0], resolve)
        return BOOL
    if isinstance(node, Call):
        params, result = _SIGNATURES[node.func]
        if len(node.args) != len(params):
            raise TypeError_(f"{node.func} takes {len(params)} argument(s), not {len(node.args)}", node.start)
        for arg, want in zip(node.args, params):
            t = infer(arg, resolve)
            if not (t.kind == want or (want == "int" and t.kind == "int")):
                raise TypeError_(f"{node.func} needs {want} here, not {t.describe()}", arg.start)
        return result
    raise TypeError_("unsupported expression", node.start)  # pragma: no cover


def _expect_bool(node: Node, resolve: Resolver, where: str) -> None:
    t = infer(node, resolve)
    if t.kind != "bool":
        raise TypeError_(
            f"{where} needs a condition (true/false), not {t.describe()}",
            node.start,
            'compare the value, e.g. x == "..."',
        )


def _compatible(a: Type, b: Type) -> bool:
    if "any" in (a.kind, b.kind):
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    if {a.kind, b.kind} <= {"enum", "text"}:
        return True
    if a.kind == b.kind == "list":
        return _compatible(a.item or ANY, b.item or ANY)
    return a.kind == b.kind


def _check_pair(ln: Node, lt: Type, rn: Node, rt: Type, resolve: Resolver) -> None:
    if not _compatible(lt, rt):
        raise TypeError_(f"cannot compare {lt.describe()} with {rt.describe()}", rn.start)
    # An enum compared with string literals: every literal must be an allowed value.
    for enum_t, other in ((lt, rn), (rt, ln)):
        if enum_t.kind != "enum" or enum_t.values is None:
            continue
        literals: list[Literal] = []
        if isinstance(other, Literal) and isinstance(other.value, str):
            literals = [other]
        elif isinstance(other, ListExpr):
            literals = [i for i in other.items if isinstance(i, Literal) and isinstance(i.value, str)]
        for lit in literals:
            if lit.value not in enum_t.values:
                hint = did_you_mean(lit.value, enum_t.values) or "allowed: " + ", ".join(sorted(enum_t.values))
                raise EnumValueError(f"'{lit.value}' is not an allowed value", lit.start, hint)


class EnumValueError(TypeError_):
    pass

"""The rule language's expressions: tokenizer, parser and AST.

A small, closed grammar (no attribute access, no subscripts, no calls but the listed
functions), so a rule file can never run code. Positions are kept on every node for
diagnostics that point at the offending column.

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("=="|"!="|"<"|"<="|">"|">="|"in"|"not in") sum)?
    sum     := product (("+"|"-") product)*
    product := unary (("*"|"/"|"%") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | DATE | STRING | "true" | "false" | NAME | NAME "(" args ")"
             | "(" expr ")" | "[" [expr ("," expr)*] "]"
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

FUNCTIONS: dict[str, str] = {
    "add_months": "add_months(date, n): the same day n months later, or the month's last day (§ 188 Abs. 3 BGB)",
    "add_years": "add_years(date, n): add_months(date, 12 * n)",
    "add_days": "add_days(date, n): n days later (negative: earlier)",
    "days_between": "days_between(a, b): days from a to b (b - a)",
    "year": "year(date): the calendar year",
    "known": "known(x): true when x is known (an event date that has not happened is known), false when it is "
    "unknown; never unknown itself. For conditions that must hold only where a fact is known, e.g. "
    "known(zugang_bw_datum) and stichtag < zugang_bw_datum",
}


# Limits on one expression. The shipped rules nest a few levels deep, have a few dozen
# parts at most and numbers of a few digits; these bounds leave room for far larger rules while keeping
# parsing, checking and evaluating an expression within a few megabytes and far from
# Python's recursion limit (each nesting level costs the parser about 8 frames).
MAX_DEPTH = 32
MAX_NODES = 500
MAX_NUMBER_DIGITS = 15  # exact in an int64 and in a float: both evaluators compute alike
MAX_STRING_CHARS = 1000


class ExpressionError(Exception):
    def __init__(self, message: str, column: int, hint: str = "", code: str = "E009") -> None:
        super().__init__(message)
        self.message = message
        self.column = column  # 0-based offset into the expression text
        self.hint = hint
        self.code = code  # the diagnostic it is reported as: E009 syntax, E033-E035 limits


@dataclasses.dataclass(frozen=True)
class Node:
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Literal(Node):
    value: Any  # bool, int, Decimal, date, str


@dataclasses.dataclass(frozen=True)
class Name(Node):
    name: str


@dataclasses.dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclasses.dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclasses.dataclass(frozen=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    operands: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Compare(Node):
    op: str  # == != < <= > >= in "not in"
    left: Node
    right: Node


@dataclasses.dataclass(frozen=True)
class Arith(Node):
    op: str  # + - * / %
    left: Node
    right: Node


@dataclasses.dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d-]))
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_ÄÖÜäöüß][A-Za-z0-9_ÄÖÜäöüß]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            ch = text[pos]
            hint = (
                "use == to compare"
                if ch == "="
                else (
                    "use 'and', 'or', 'not'"
                    if ch in "&|!"
                    else "only names, numbers, dates, strings and operators are allowed"
                )
            )
            raise ExpressionError(f"unexpected character '{ch}'", pos, hint)
        kind = m.lastgroup or ""
        if kind == "number" and len(m.group()) - m.group().count(".") > MAX_NUMBER_DIGITS:
            raise ExpressionError(
                f"number with more than {MAX_NUMBER_DIGITS} digits",
                m.start(),
                f"numbers in rules have at most {MAX_NUMBER_DIGITS} digits",
                "E035",
            )
        if kind == "string" and len(m.group()) - 2 > MAX_STRING_CHARS:
            raise ExpressionError(
                f"text longer than {MAX_STRING_CHARS} characters",
                m.start(),
                "compare with an enum value or a short text; long texts belong in labels and notes",
                "E035",
            )
        if kind != "ws":
            tokens.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    if any(t.kind == "op" and t.text == "=" for t in tokens):  # pragma: no cover - regex never yields "="
        raise ExpressionError("use == to compare", 0)
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0

    def descend(self, at: Token) -> None:
        """One level deeper (parenthesis, list, call, 'not', unary minus): refused past
        MAX_DEPTH before the recursion that would overflow the stack."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression nested deeper than {MAX_DEPTH} levels",
                at.start,
                "split it into derived facts, or remove doubled parentheses and 'not not'",
                "E033",
            )

    def count(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(
                f"expression with more than {MAX_NODES} parts",
                node.start,
                'split it into derived facts, or compare with a list: x in ["a", "b"]',
                "E034",
            )
        return node

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def expect_op(self, text: str) -> Token:
        if not self.at("op", text):
            raise ExpressionError(f"expected '{text}' but found {self.describe(self.tok)}", self.tok.start)
        return self.take()

    @staticmethod
    def describe(t: Token) -> str:
        return "the end of the expression" if t.kind == "end" else f"'{t.text}'"

    def parse(self) -> Node:
        if self.at("end"):
            raise ExpressionError("empty expression", 0, 'write a condition such as: aufenthaltsstatus == "duldung"')
        node = self.parse_or()
        if not self.at("end"):
            t = self.tok
            hint = "combine conditions with 'and' or 'or'" if t.kind in ("name", "string", "number", "date") else ""
            raise ExpressionError(f"unexpected {self.describe(t)}", t.start, hint)
        return node

    def parse_or(self) -> Node:
        return self._boolop("or", self.parse_and)

    def parse_and(self) -> Node:
        return self._boolop("and", self.parse_not)

    def last_end(self) -> int:
        """Where the last consumed token ends. A composite's span runs from its first token to
        this one, not from its operands' spans: a parenthesised operand's span is its inside,
        so ``(a and b) or c`` built from the operands would read ``a and b) or c``."""
        return self.tokens[self.i - 1].end

    def _boolop(self, op: str, sub: Callable[[], Node]) -> Node:
        start = self.tok.start
        first = sub()
        items = [first]
        while self.at("name", op):
            self.take()
            items.append(sub())
        if len(items) == 1:
            return first
        return self.count(BoolOp(start, self.last_end(), op, tuple(items)))

    def parse_not(self) -> Node:
        if self.at("name", "not"):
            t = self.take()
            self.descend(t)
            operand = self.parse_not()
            self.depth -= 1
            return self.count(Not(t.start, self.last_end(), operand))
        return self.parse_compare()

    def parse_compare(self) -> Node:
        start = self.tok.start
        left = self.parse_sum()
        t = self.tok
        op = None
        if t.kind == "op" and t.text in ("==", "!=", "<", "<=", ">", ">="):
            op = t.text
            self.take()
        elif self.at("name", "in"):
            op = "in"
            self.take()
        elif self.at("name", "not") and self.tokens[self.i + 1].kind == "name" and self.tokens[self.i + 1].text == "in":
            op = "not in"
            self.take()
            self.take()
        if op is None:
            return left
        right = self.parse_sum()
        nxt = self.tok
        if nxt.kind == "op" and nxt.text in ("==", "!=", "<", "<=", ">", ">="):
            raise ExpressionError("comparisons cannot be chained", nxt.start, "write a < b and b < c")
        return self.count(Compare(start, self.last_end(), op, left, right))

    def parse_sum(self) -> Node:
        start = self.tok.start
        left = self.parse_product()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.take().text
            right = self.parse_product()
            left = self.count(Arith(start, self.last_end(), op, left, right))
        return left

    def parse_product(self) -> Node:
        start = self.tok.start
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "%"):
            op = self.take().text
            right = self.parse_unary()
            left = self.count(Arith(start, self.last_end(), op, left, right))
        return left

    def parse_unary(self) -> Node:
        if self.at("op", "-"):
            t = self.take()
            self.descend(t)
            operand = self.parse_unary()
            self.depth -= 1
            return self.count(Neg(t.start, self.last_end(), operand))
        return self.parse_atom()

    def parse_atom(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.take()
            value: Any = Decimal(t.text) if "." in t.text else int(t.text)
            return self.count(Literal(t.start, t.end, value))
        if t.kind == "date":
            self.take()
            try:
                return self.count(Literal(t.start, t.end, dt.date.fromisoformat(t.text)))
            except ValueError:
                raise ExpressionError(
                    f"'{t.text}' is not a real date",
                    t.start,
                    "dates are YYYY-MM-DD and must exist (2016-02-29, not 2017-02-29)",
                ) from None
        if t.kind == "string":
            self.take()
            body = t.text[1:-1]
            body = re.sub(r"\\(.)", r"\1", body)
            return self.count(Literal(t.start, t.end, body))
        if t.kind == "name":
            if t.text in ("true", "false"):
                self.take()
                return self.count(Literal(t.start, t.end, t.text == "true"))
            if t.text in ("and", "or", "in"):
                raise ExpressionError(f"'{t.text}' needs something before it", t.start)
            if t.text == "not":
                raise ExpressionError("'not' cannot stand here", t.start, "put the negated part in parentheses")
            self.take()
            if self.at("op", "("):
                if t.text not in FUNCTIONS:
                    from eligibility.diagnostics import did_you_mean

                    hint = did_you_mean(t.text, list(FUNCTIONS)) or "functions: " + ", ".join(sorted(FUNCTIONS))
                    raise ExpressionError(f"unknown function '{t.text}'", t.start, hint)
                self.descend(self.take())
                args: list[Node] = []
                if not self.at("op", ")"):
                    args.append(self.parse_or())
                    while self.at("op", ","):
                        self.take()
                        args.append(self.parse_or())
                end = self.expect_op(")")
                self.depth -= 1
                return self.count(Call(t.start, end.end, t.text, tuple(args)))
            return self.count(Name(t.start, t.end, t.text))
        if t.kind == "op" and t.text == "(":
            self.descend(self.take())
            inner = self.parse_or()
            self.expect_op(")")
            self.depth -= 1
            return inner
        if t.kind == "op" and t.text == "[":
            start = self.take()
            self.descend(start)
            items: list[Node] = []
            if not self.at("op", "]"):
                items.append(self.parse_or())
                while self.at("op", ","):
                    self.take()
                    items.append(self.parse_or())
            end = self.expect_op("]")
            self.depth -= 1
            return self.count(ListExpr(start.start, end.end, tuple(items)))
        raise ExpressionError(f"unexpected {self.describe(t)}", t.start)


def parse(text: str) -> Node:
    """Parse an expression; raises ExpressionError with a 0-based column."""
    return _Parser(text).parse()


# Record dates end at records.LATEST_DATE (31.12.9899), a century before the calendar does
# (31.12.9999): a fixed shift within that century can never leave the calendar, a larger one
# can, so it is refused when the rule set is loaded rather than failing on some record.
MAX_SHIFT_YEARS = 100
_MAX_SHIFT = {"add_days": 36_524, "add_months": 12 * MAX_SHIFT_YEARS, "add_years": MAX_SHIFT_YEARS}
_UNIT = {"add_days": "days", "add_months": "months", "add_years": "years"}


def fixed_shift_beyond_calendar(node: Node) -> ExpressionError | None:
    """The first add_days/add_months/add_years whose count is a literal (or a negated
    literal) larger than MAX_SHIFT_YEARS allow, as an E036 error; None if there is none."""
    stack = [node]
    while stack:
        n = stack.pop()
        stack.extend(children(n))
        if not (isinstance(n, Call) and n.func in _MAX_SHIFT and len(n.args) == 2):
            continue
        count, sign = n.args[1], 1
        while isinstance(count, Neg):
            count, sign = count.operand, -sign
        if (
            isinstance(count, Literal)
            and isinstance(count.value, int)
            and not isinstance(count.value, bool)
            and abs(count.value) > _MAX_SHIFT[n.func]
        ):
            return ExpressionError(
                f"{n.func}(…, {sign * count.value}) shifts a date by more than {MAX_SHIFT_YEARS} years; "
                "that can leave the calendar (01.01.0001 to 31.12.9999)",
                n.args[1].start,
                f"a fixed shift is at most {_MAX_SHIFT[n.func]} {_UNIT[n.func]}",
                "E036",
            )
    return None


def names(node: Node) -> set[str]:
    """Every name an expression reads."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            out.add(n.name)
        stack.extend(children(n))
    return out


def children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, (Not, Neg)):
        return (n.operand,)
    if isinstance(n, BoolOp):
        return n.operands
    if isinstance(n, (Compare, Arith)):
        return (n.left, n.right)
    if isinstance(n, Call):
        return n.args
    if isinstance(n, ListExpr):
        return n.items
    return ()

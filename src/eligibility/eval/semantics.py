"""The one written definition of what a rule means (issue 14, "one semantics").

Every backend translates this module and none restates it: the closures of
`compile/closures` call its operators, the explaining generator (`eval/explaining`) emits code
from its tables, the column-wise backend (`eval/columnar_*`) computes the same tables as masks
and resolves outcomes with the same `resolve_outcome`, and the durable-rules bridge reads the
values through the closures. `tests/reference_semantics.py` is a deliberately naive reading of
the same definition; `tests/test_conformance.py` runs every backend against it.

What lives here:
- the three truth values (True, False, `UNKNOWN`) and Kleene's `and`/`or`/`not` as one table
  (`DECISIVE`: the operand value that decides a junction by itself);
- strictness: every other operator is unknown when an operand is (`known(x)` is the one that
  looks at unknownness itself);
- the operator tables (`COMPARE`, `ARITH`, `FUNCTIONS`); calendar arithmetic itself lives only
  in `lang/values` and is called from here; "has not happened" is `NEVER` (`NEVER_ORDINAL` as
  a day number);
- the pruning rule of the explanation ("keep only the operands that made the value");
- outcome resolution as one generic function over a value domain (one record, or a column of
  records) and the status values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from eligibility.lang.values import NEVER, NEVER_ORDINAL, UNKNOWN, add_days, add_months, days_between

__all__ = [
    "ARITH",
    "COMPARE",
    "DECISIVE",
    "FUNCTIONS",
    "NEVER",
    "NEVER_ORDINAL",
    "UNKNOWN",
]

# ---------------------------------------------------------------- status values

YES = "yes"
NO = "no"
VALUE = "value"
UNKNOWN_STATUS = "unknown"
NOT_IN_FORCE = "not_in_force"
STATUSES = (YES, NO, VALUE, UNKNOWN_STATUS, NOT_IN_FORCE)


def status(value: Any, no_rule_in_force: bool) -> str:
    """The status of an outcome's value: not in force (no rule on that day), unknown (also
    "no rule decided and there is no fallback"), yes/no for a truth value, else a value."""
    if no_rule_in_force:
        return NOT_IN_FORCE
    if value is UNKNOWN or value is None:
        return UNKNOWN_STATUS
    if value is True:
        return YES
    if value is False:
        return NO
    return VALUE


# ---------------------------------------------------------------- three-valued logic

# Kleene's junctions, as one table: the operand value that decides a junction by itself.
# "and" is False as soon as one operand is False, True when all are True, else unknown; "or"
# dually. Every backend derives its form from this table (a loop, a generated expression, masks).
DECISIVE: dict[str, bool] = {"and": False, "or": True}


def junction(kind: str, values: Iterable[Any]) -> Any:
    """Kleene `and`/`or` over operand values (True/False/UNKNOWN)."""
    stop = DECISIVE[kind]
    unknown = False
    for v in values:
        if v is stop:
            return stop
        if v is UNKNOWN:
            unknown = True
    return UNKNOWN if unknown else not stop


def negation(value: Any) -> Any:
    """Kleene `not`: unknown stays unknown."""
    return value if value is UNKNOWN else not value


def known(value: Any) -> bool:
    """`known(x)`: the one operator that looks at unknownness itself; never unknown."""
    return value is not UNKNOWN


def strict(op: Callable[..., Any], values: Sequence[Any]) -> Any:
    """Every operator but the junctions, `not` and `known`: unknown when an operand is."""
    for v in values:
        if v is UNKNOWN:
            return UNKNOWN
    return op(*values)


def prunes(kind: str, value: Any) -> bool:
    """The pruning rule of the explanation (and of the missing facts and assumptions): a
    junction whose value is unknown, or decided by its deciding value (a false "and", a true
    "or"), keeps only the operands that made it — exactly those whose value *is* its value (the
    unknown ones, the deciding ones). Any other node keeps all its operands."""
    return kind in DECISIVE and (value is UNKNOWN or value is DECISIVE[kind])


def made_the_value(kind: str, value: Any, operand: Any) -> bool:
    """Whether an operand of a node with this value is kept by the pruning rule (`prunes`)."""
    return operand is value or not prunes(kind, value)


# ---------------------------------------------------------------- operator tables

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def _div(a: Any, b: Any) -> Any:
    # A share of nothing is not a number: unknown, not an error.
    if b == 0:
        return UNKNOWN
    return Decimal(a) / Decimal(b)


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        return UNKNOWN
    return Decimal(a) % Decimal(b) if isinstance(a, Decimal) or isinstance(b, Decimal) else a % b


ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
}


def negate(x: Any) -> Any:
    return -x


# The calendar functions of the language: the kernels of `lang/values`, lifted over "has not
# happened". A date shifted from an event that has not happened has not happened either; a
# period measured to or from one has no length (unknown); nor has its year.
def _add_months(d: Any, n: int) -> Any:
    return NEVER if d is NEVER else add_months(d, n)


def _add_years(d: Any, n: int) -> Any:
    return NEVER if d is NEVER else add_months(d, 12 * n)


def _add_days(d: Any, n: int) -> Any:
    return NEVER if d is NEVER else add_days(d, n)


def _days_between(a: Any, b: Any) -> Any:
    return UNKNOWN if a is NEVER or b is NEVER else days_between(a, b)


def _year(d: Any) -> Any:
    return UNKNOWN if d is NEVER else d.year


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add_months": _add_months,
    "add_years": _add_years,
    "add_days": _add_days,
    "days_between": _days_between,
    "year": _year,
}

# Which functions shift a date (the column backend computes them on day ordinals).
SHIFTS = frozenset({"add_months", "add_years", "add_days"})


def date_ordinal(day: dt.date | Any) -> int:
    """A date or NEVER as the day number backends compute with."""
    return NEVER_ORDINAL if day is NEVER else day.toordinal()


# ---------------------------------------------------------------- outcome resolution


class _Lanes(Protocol):
    def __and__(self, other: Any) -> Any: ...

    def __or__(self, other: Any) -> Any: ...

    def __xor__(self, other: Any) -> Any: ...


Lanes = TypeVar("Lanes", bound=_Lanes)  # a truth per lane: a bool for one record, a numpy bool array for a column


class Domain(Protocol[Lanes]):
    """What outcome resolution needs of a value domain. Lanes combine with `&`, `|` and `^`
    (Python bools and numpy bool arrays both do); the domain evaluates rules and compares
    conclusions in its own representation."""

    def everywhere(self) -> Lanes: ...  # every lane

    def nowhere(self) -> Lanes: ...  # no lane

    def any(self, lanes: Lanes) -> bool: ...

    def applies(self, index: int, rule: Any, pending: Lanes) -> tuple[Lanes, Lanes]:
        """(true, unknown) lanes of `rule_applies` for rule `index`, at least where pending."""
        ...

    def choose(self, index: int, lanes: Lanes) -> None:
        """Rule `index` decides these lanes."""
        ...

    def concludes_otherwise(self, index: int, pending: Lanes) -> Lanes:
        """Lanes where rule `index` concludes other than the value reached (see
        `same_conclusion`); `pending` lanes hold the default."""
        ...


def rule_applies(condition: Any, conclusion: Any) -> Any:
    """Whether a rule decides, three-valued: its condition, and-ed with whether its conclusion
    is known (a rule with a true condition but an unknown computed amount is open, not decided)."""
    if condition is False:
        return False
    return UNKNOWN if conclusion is UNKNOWN else condition


def same_conclusion(a: Any, b: Any) -> bool:
    """Two conclusions agree when both are known, equal and of one type (True is not 1)."""
    return a is not UNKNOWN and b is not UNKNOWN and a == b and type(a) is type(b)


def resolve_outcome(
    dom: Domain[Lanes], rules: Sequence[Any], has_default: bool
) -> tuple[Lanes, list[tuple[int, Lanes]], Lanes]:
    """Outcome resolution, once for every backend. Rules are tried in precedence order; the
    first whose application is true decides; rules before it whose application is unknown are
    open. With no deciding rule the default applies (or, without one, the value is unknown). An
    open rule that concludes other than the value reached leaves the outcome unknown; one that
    concludes the same still counts as open then (knowing its fact can settle the answer).

    Returns (pending, opened, undecided): the lanes no rule decided (they take the default where
    there is one), the open rules with their lanes, and the lanes whose value stays unknown. A
    plain tuple, as this runs for every outcome of every record. The caller handles "no rule in
    force" (no rules) before."""
    pending = dom.everywhere()
    opened: list[tuple[int, Lanes]] = []
    any_ = dom.any
    applies = dom.applies
    for i, rule in enumerate(rules):
        true, unknown = applies(i, rule, pending)
        open_ = unknown & pending
        if any_(open_):
            opened.append((i, open_))
        fires = true & pending
        if any_(fires):
            dom.choose(i, fires)
            pending = pending ^ fires  # fires lies within pending
            if not any_(pending):
                break  # every lane decided: later rules are not tried
    return pending, opened, settle(dom, pending, opened, has_default)


def settle(dom: Domain[Lanes], pending: Lanes, opened: Sequence[tuple[int, Lanes]], has_default: bool) -> Lanes:
    """The end of resolution: the lanes whose value stays unknown — those no rule decided when
    there is no default, and those where an open rule concludes other than the value reached.
    Also the tail of the generated per-record resolutions (`closures.record_resolver`)."""
    undecided = dom.nowhere() if has_default else pending
    if opened:
        otherwise = dom.concludes_otherwise
        for i, open_ in opened:
            undecided = undecided | (open_ & otherwise(i, pending))
    return undecided

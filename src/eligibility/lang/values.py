"""Runtime values of the rule language: the unknown marker, the "never happened" date
and exact calendar arithmetic (§§ 187, 188 BGB)."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any


class _Unknown:
    """The third truth value. A singleton so that identity checks are cheap."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # An unknown must never be silently used as a Python truth value.
        raise TypeError("UNKNOWN has no Python truth value")

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class _Never:
    """An event date that has not happened: it compares as later than every real date,
    so "event <= stichtag" is false and the event's periods never end."""

    _instance: _Never | None = None

    def __new__(cls) -> _Never:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEVER"

    def __reduce__(self) -> str:
        return "NEVER"

    def _cmp(self, other: object) -> int | None:
        """0 for NEVER itself, 1 for a date (NEVER lies after them all), None when not comparable."""
        if other is self:
            return 0
        if isinstance(other, dt.date):
            return 1
        return None

    def __lt__(self, other: object) -> bool:
        c = self._cmp(other)
        return NotImplemented if c is None else c < 0

    def __le__(self, other: object) -> bool:
        c = self._cmp(other)
        return NotImplemented if c is None else c <= 0

    def __gt__(self, other: object) -> bool:
        c = self._cmp(other)
        return NotImplemented if c is None else c > 0

    def __ge__(self, other: object) -> bool:
        c = self._cmp(other)
        return NotImplemented if c is None else c >= 0

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash("eligibility.NEVER")


NEVER: Any = _Never()


def is_unknown(value: object) -> bool:
    return value is UNKNOWN


def add_months(day: dt.date, months: int) -> dt.date:
    """The day with the same day number `months` months later; where that month is
    shorter, its last day (§ 188 Abs. 3 BGB). 29.02.2016 + 24 months = 28.02.2018."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        # As date + timedelta does: out of the calendar is an OverflowError on every path.
        raise OverflowError("date value out of range")
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def period_end(event: dt.date, months: int) -> dt.date:
    """Last day of a period of `months` months that starts with an event on `event`
    (§ 187 Abs. 1, § 188 Abs. 2 and 3 BGB). The legal consequence holds from the next day."""
    return add_months(event, months)


def format_value(value: object, lang: str = "de") -> str:
    """A value as a caseworker reads it (German dates TT.MM.JJJJ)."""
    if value is UNKNOWN:
        return "unbekannt" if lang == "de" else "unknown"
    if value is NEVER:
        return "nicht eingetreten" if lang == "de" else "has not happened"
    if value is True:
        return "ja" if lang == "de" else "yes"
    if value is False:
        return "nein" if lang == "de" else "no"
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()
    if isinstance(value, Decimal):
        # Amounts: whole numbers without decimals, others with two (cents);
        # German groups thousands with "." and writes the decimal comma.
        text = f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"
        return text.replace(",", "_").replace(".", ",").replace("_", ".") if lang == "de" else text
    if isinstance(value, (list, tuple, frozenset)):
        return ", ".join(format_value(v, lang) for v in value)
    return str(value)


def to_json_value(value: object) -> Any:
    """A runtime value as JSON: unknown is null, a date is ISO, a never-happened event
    is null too (the decision's explanation says which it was)."""
    t = type(value)
    if t is bool or t is str or t is int or value is None:  # the common case, first
        return value
    if value is UNKNOWN or value is NEVER:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Amounts keep their exactness; integral amounts print without ".00" noise.
        if value == value.to_integral():
            return int(value)
        return float(value)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(to_json_value(v) for v in value)
    return value

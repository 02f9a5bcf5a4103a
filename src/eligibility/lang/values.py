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


# ---------------------------------------------------------------- calendar kernels
#
# The only calendar arithmetic of the engine. Each kernel is written once over "numbers", so
# that the same lines run on Python ints (one record) and on numpy integer arrays (a column of
# day ordinals): the column-wise backend calls the `*_ordinals` forms below, which feed numpy
# arrays through the very same `_months_later`; there is no second month arithmetic.

# "Has not happened" as a day number, for backends that compute on ordinals: the day after
# the calendar's last, so it orders after every real date exactly as `NEVER` does.
NEVER_ORDINAL = dt.date.max.toordinal() + 1
MAX_ORDINAL = dt.date.max.toordinal()


def ordinal(day: Any) -> int:
    """A date or `NEVER` as its day number (`NEVER_ORDINAL` for the event that has not happened)."""
    return NEVER_ORDINAL if day is NEVER else int(day.toordinal())


def _months_later(
    year: Any, month0: Any, day: Any, months: Any, month_length: Any, minimum: Any
) -> tuple[Any, Any, Any]:
    """(year, month - 1, day) `months` months later: the same day number, or the last day of a
    shorter month (§ 188 Abs. 3 BGB). Generic over ints and integer arrays: `month_length`
    and `minimum` are the number domain's own."""
    index = year * 12 + month0 + months
    new_year = index // 12
    new_month0 = index % 12
    return new_year, new_month0, minimum(day, month_length(new_year, new_month0))


def _month_length(year: int, month0: int) -> int:
    return calendar.monthrange(year, month0 + 1)[1]


def add_months(day: dt.date, months: int) -> dt.date:
    """The day with the same day number `months` months later; where that month is
    shorter, its last day (§ 188 Abs. 3 BGB). 29.02.2016 + 24 months = 28.02.2018."""
    index = day.year * 12 + (day.month - 1) + months
    if not dt.MINYEAR <= index // 12 <= dt.MAXYEAR:
        # As date + timedelta does: out of the calendar is an OverflowError on every path.
        raise OverflowError("date value out of range")
    year, month0, dom = _months_later(day.year, day.month - 1, day.day, months, _month_length, min)
    return dt.date(year, month0 + 1, dom)


def add_days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


def days_between(start: dt.date, end: dt.date) -> int:
    return (end - start).days


# Counts larger than these leave the calendar from any date (and would wrap numpy's int64).
MAX_SHIFT = {"add_days": MAX_ORDINAL, "add_months": 12 * 10_000, "add_years": 10_000}


def shift_ordinals(func: str, days: Any, counts: Any) -> Any:
    """`add_days`/`add_months`/`add_years` over numpy arrays of day ordinals of real dates
    (the caller keeps `NEVER_ORDINAL` and unknown rows out): the vectorised form of
    `add_days`/`add_months` above, through the same `_months_later`. A result outside the
    calendar raises OverflowError, as the scalar kernels do."""
    import numpy as np  # the batch extra; the single-record path never gets here

    epoch = dt.date(1970, 1, 1).toordinal()
    counts = np.asarray(counts, dtype=np.int64)
    if np.any(np.abs(counts) > MAX_SHIFT[func]):
        raise OverflowError(f"{func}: date out of range")
    d64 = (np.asarray(days, dtype=np.int64) - epoch).astype("datetime64[D]")
    if func == "add_days":
        res = np.asarray(days, dtype=np.int64) + counts
    else:
        months = counts * (12 if func == "add_years" else 1)
        month_start = d64.astype("datetime64[M]")
        ym = month_start.astype(np.int64)  # months since 1970-01
        year, month0 = ym // 12 + 1970, ym % 12
        dom = (d64 - month_start.astype("datetime64[D]")).astype(np.int64) + 1

        def month_length(y: Any, m0: Any) -> Any:
            start = ((y - 1970) * 12 + m0).astype("datetime64[M]")
            return ((start + np.timedelta64(1, "M")).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(
                np.int64
            )

        y2, m2, d2 = _months_later(year, month0, dom, months, month_length, np.minimum)
        if np.any((y2 < dt.MINYEAR) | (y2 > dt.MAXYEAR)):
            raise OverflowError(f"{func}: date out of range")
        start = ((y2 - 1970) * 12 + m2).astype("datetime64[M]").astype("datetime64[D]")
        res = (start + (d2 - 1).astype("timedelta64[D]")).astype(np.int64) + epoch
    if np.any((res < 1) | (res > MAX_ORDINAL)):
        raise OverflowError(f"{func}: date out of range")
    return res


def year_of_ordinals(days: Any) -> Any:
    """The calendar year of each day ordinal in a numpy array (the vectorised `date.year`)."""
    import numpy as np

    epoch = dt.date(1970, 1, 1).toordinal()
    return (np.asarray(days, dtype=np.int64) - epoch).astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970


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


# ISO texts of the dates met: an explanation shows a record's dates and the dates computed from
# them in several nodes, and `date.isoformat` costs ten lookups here (bounded like the other memos).
_ISO: dict[dt.date, str] = {}


def iso_date(day: dt.date) -> str:
    """`day.isoformat()` of a plain date, remembered."""
    text = _ISO.get(day)
    if text is None:
        if len(_ISO) > 65_536:
            _ISO.clear()
        text = _ISO[day] = day.isoformat()
    return text


def to_json_value(value: object) -> Any:
    """A runtime value as JSON: unknown is null, a date is ISO, a never-happened event
    is null too (the decision's explanation says which it was)."""
    t = type(value)
    if t is bool or t is str or t is int or value is None:  # the common case, first
        return value
    if t is dt.date:
        return iso_date(value)  # type: ignore[arg-type]
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

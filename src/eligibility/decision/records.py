"""Turn an input record (JSON, YAML, a CSV row) into typed facts.

The one place that decides what "unknown" means: for event dates an explicit empty
value means the event has not happened; a missing key, or the word "unbekannt", means
unknown. For every other field empty and missing both mean unknown. Error messages
name the field, never its value: records are personal data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from eligibility.lang.values import NEVER, UNKNOWN
from eligibility.source import forms
from eligibility.source.model import FactSpec

UNKNOWN_WORDS = {"unbekannt", "unknown", "?", "k.a.", "n/a"}
# The characters str.strip() removes, as an RE2 class: Arrow's regex kernels test cells in
# C++ and must agree with Python's idea of "blank" exactly (tested in test_fastpath).
STRIP_CLASS = r"[\t\n\x0b\x0c\r\x1c-\x1f \x85\p{Z}]"
TRUE_WORDS = {"true", "ja", "j", "yes", "y", "1", "x", "wahr"}
FALSE_WORDS = {"false", "nein", "n", "no", "0", "falsch"}

# ASCII digits only: Python's \d would also read Arabic-Indic or fullwidth digits.
_GERMAN_DATE = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})$")
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
# TT.MM.JJ: 17 may be 1917 or 2017, and a roster holds both birth and intake dates: no
# century window is right for every field, so a two-digit year is refused, clearly.
_SHORT_YEAR = re.compile(r"^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{2}$")


@dataclasses.dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    de: str
    en: str


def parse_date(text: str) -> dt.date | None:
    """ISO `YYYY-MM-DD` or German `TT.MM.JJJJ`; None if neither or not a real day."""
    if not text.isascii():
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        # The common case, parsed in C; it also rejects days that do not exist.
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    m = _ISO_DATE.match(text)
    try:
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _GERMAN_DATE.match(text)
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


_NUMBER_PLAIN = re.compile(r"[+-]?[0-9]+")
_NUMBER_POINT = re.compile(r"[+-]?[0-9]+\.[0-9]+")
_NUMBER_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_NUMBER_GERMAN_GROUPS = re.compile(r"[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+(,[0-9]+)?")
_NUMBER_ENGLISH_GROUPS = re.compile(r"[+-]?[1-9][0-9]{0,2}(,[0-9]{3})+(\.[0-9]+)?")
_NUMBER_EN = {
    "Zahl erwartet": "number expected",
    "mehrdeutige Zahl (Tausenderpunkt oder Dezimalpunkt?) – bitte ohne Punkt oder mit Dezimalkomma": "ambiguous number (thousands or decimal point?) – write it without the point or with a decimal comma",
    "mehrdeutige Zahl (Dezimalkomma oder Tausenderkomma?) – bitte ohne Komma": "ambiguous number (decimal or thousands comma?) – write it without the comma",
    "Zahl mit Tausenderkomma und Dezimalpunkt – bitte deutsch (1.234,5) oder ohne Trennzeichen": "number with thousands comma and decimal point – write it the German way (1.234,5) or without separators",
}


def parse_number(text: str, integral: bool) -> Decimal | str:
    """A number as people write it: `1500`, `1.500` (German thousands), `0,5`, `1.234,5`,
    and `0.5` as programs write it. A form with two readings is refused, not guessed:
    `1.500` in a decimal field (1500 or 1,5?), `1,500` in a whole-number field (1,5 or
    1500?), `1,234.5`. Returns the number, or the German reason it is none."""
    t = "".join(text.split())  # spaces (also no-break and narrow ones) group digits
    t = t.replace("\u2212", "-")
    if not t.isascii():
        return "Zahl erwartet"
    if _NUMBER_PLAIN.fullmatch(t):
        return Decimal(t)
    if _NUMBER_GERMAN_GROUPS.fullmatch(t):
        if "," not in t and not integral and t.count(".") == 1:
            return "mehrdeutige Zahl (Tausenderpunkt oder Dezimalpunkt?) – bitte ohne Punkt oder mit Dezimalkomma"
        return Decimal(t.replace(".", "").replace(",", "."))
    if _NUMBER_POINT.fullmatch(t):
        return Decimal(t)
    if _NUMBER_COMMA.fullmatch(t):
        if integral and _NUMBER_ENGLISH_GROUPS.fullmatch(t):
            return "mehrdeutige Zahl (Dezimalkomma oder Tausenderkomma?) – bitte ohne Komma"
        return Decimal(t.replace(",", "."))
    if _NUMBER_ENGLISH_GROUPS.fullmatch(t):
        return "Zahl mit Tausenderkomma und Dezimalpunkt – bitte deutsch (1.234,5) oder ohne Trennzeichen"
    return "Zahl erwartet"


def _not_allowed(name: str, spec: FactSpec, text: str, table: Mapping[str, str], country: bool = False) -> FieldError:
    """A value no form matches: the field, its label and the closest allowed value. The
    value itself is not quoted: error texts reach terminals and logs, values are personal."""
    close = difflib.get_close_matches(forms.fold(text), sorted(table), n=1, cutoff=0.6)
    closest = ""
    if close:
        value = table[close[0]]
        label = spec.value_labels.get(value) if spec.value_labels else None
        closest = f"{value} ({label.de})" if label else value
    allowed = ", ".join(spec.values or ()) if spec.type == "enum" else ""
    de = f"{name}: {'kein bekanntes Land' if country else 'kein erlaubter Wert'} für „{spec.label.de}“"
    en = (
        f"{name}: {'not a known country' if country else 'not an allowed value'} for '{spec.label.en or spec.label.de}'"
    )
    if allowed:
        de += f" (erlaubt: {allowed})"
        en += f" (allowed: {allowed})"
    if closest:
        de += f"; am nächsten: {closest}"
        en += f"; closest: {closest}"
    return FieldError(name, "enum" if spec.type == "enum" else "pattern", de, en)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# Rules add periods of months and years to record dates; a date this late would leave the
# calendar (after 31.12.9999), so it is refused as a field error on every path alike.
LATEST_DATE = dt.date(9899, 12, 31)


class DateOutOfRange(ValueError):
    """A reference date after LATEST_DATE: periods computed from it would leave the calendar."""


def _in_calendar(name: str, day: dt.date) -> tuple[Any, FieldError | None]:
    if day > LATEST_DATE:
        return UNKNOWN, FieldError(
            name,
            "date_range",
            f"{name}: Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen",
            f"{name}: date after {LATEST_DATE.isoformat()}: it cannot be computed with",
        )
    return day, None


def convert_value(name: str, spec: FactSpec, value: Any) -> tuple[Any, FieldError | None]:
    """One field's raw value as a runtime value (UNKNOWN, NEVER or typed)."""
    if value.__class__ is str:
        # The commonest cells of a roster first, each as the branches below would take it: an
        # ISO date (not a word, not blank; strip() leaves a valid one as it is), and a free text
        # (an id, a name) with no form, format or pattern to check.
        kind = spec.type
        if kind == "date":
            if len(value) == 10 and value[4] == "-" == value[7] and value.isascii():
                try:
                    day = dt.date.fromisoformat(value)
                except ValueError:
                    pass
                else:
                    return (day, None) if day <= LATEST_DATE else _in_calendar(name, day)
        elif kind == "text" and spec.pattern is None and spec.forms is None and spec.format is None:
            text = value.strip()
            if not text:
                return (NEVER if spec.event else UNKNOWN), None
            return (UNKNOWN if text.lower() in UNKNOWN_WORDS else text), None
    if isinstance(value, str) and value.strip().lower() in UNKNOWN_WORDS:
        return UNKNOWN, None
    if _is_empty(value):
        return (NEVER if spec.event else UNKNOWN), None
    kind = spec.type
    if kind == "text":
        if isinstance(value, (dict, list)):
            return UNKNOWN, FieldError(name, "type", f"{name}: Text erwartet", f"{name}: text expected")
        text = str(value).strip()
        if spec.format == "iso3166_alpha3" or spec.forms:
            table = forms.index(spec)
            key = forms.fold(text)
            hit = table.get(key)
            if hit is None and spec.format == "iso3166_alpha3":
                hit = forms.countries().get(key)
                # A code written as a code stays what it is (XXA "stateless" and other
                # ICAO codes are not ISO 3166, and the rule set's pattern governs codes).
                if hit is None and not (spec.pattern and re.fullmatch(spec.pattern, text)):
                    return UNKNOWN, _not_allowed(name, spec, text, {**forms.countries(), **table}, country=True)
            text = hit if hit is not None else text
        if spec.pattern and not re.fullmatch(spec.pattern, text):
            return UNKNOWN, FieldError(
                name,
                "pattern",
                f"{name}: Wert hat nicht die erwartete Form",
                f"{name}: value does not have the expected form",
            )
        return text, None
    if kind == "enum":
        if not isinstance(value, str):
            return UNKNOWN, FieldError(
                name,
                "enum",
                f"{name}: Text erwartet ({', '.join(spec.values or ())})",
                f"{name}: text expected ({', '.join(spec.values or ())})",
            )
        text = value.strip()
        if spec.values and text in spec.values:
            return text, None
        table = forms.index(spec)
        hit = table.get(forms.fold(text))
        if hit is not None:
            return hit, None
        return UNKNOWN, _not_allowed(name, spec, text, table)
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True, None
        if text in FALSE_WORDS:
            return False, None
        return UNKNOWN, FieldError(name, "bool", f"{name}: ja oder nein erwartet", f"{name}: yes or no expected")
    if kind == "date":
        if isinstance(value, dt.datetime):
            return _in_calendar(name, value.date())
        if isinstance(value, dt.date):
            return _in_calendar(name, value)
        text = str(value).strip()
        d = parse_date(text)
        if d is None and _SHORT_YEAR.match(text):
            return UNKNOWN, FieldError(
                name,
                "date",
                f"{name}: zweistellige Jahreszahl ist mehrdeutig (erwartet TT.MM.JJJJ)",
                f"{name}: a two-digit year is ambiguous (expected DD.MM.YYYY)",
            )
        if d is None:
            return UNKNOWN, FieldError(
                name,
                "date",
                f"{name}: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)",
                f"{name}: not a valid date (expected YYYY-MM-DD or DD.MM.YYYY)",
            )
        return _in_calendar(name, d)
    if kind in ("int", "decimal"):
        if isinstance(value, bool):
            return UNKNOWN, FieldError(name, "number", f"{name}: Zahl erwartet", f"{name}: number expected")
        if isinstance(value, (int, Decimal)):
            num = Decimal(value)
        elif isinstance(value, float):
            num = Decimal(str(value))
        else:
            parsed = parse_number(str(value), kind == "int")
            if isinstance(parsed, str):
                return UNKNOWN, FieldError(name, "number", f"{name}: {parsed}", f"{name}: {_NUMBER_EN[parsed]}")
            num = parsed
        if not num.is_finite():
            return UNKNOWN, FieldError(name, "number", f"{name}: Zahl erwartet", f"{name}: number expected")
        if spec.minimum is not None and num < spec.minimum or spec.maximum is not None and num > spec.maximum:
            return UNKNOWN, FieldError(
                name, "range", f"{name}: Zahl außerhalb des erlaubten Bereichs", f"{name}: number out of range"
            )
        if kind == "int":
            if num != num.to_integral_value():
                return UNKNOWN, FieldError(
                    name, "number", f"{name}: ganze Zahl erwartet", f"{name}: whole number expected"
                )
            return int(num), None
        return num, None
    if kind == "list":
        items = value if isinstance(value, list) else [p for p in re.split(r"[;,]", str(value)) if p.strip()]
        return tuple(str(i).strip() for i in items), None
    return value, None  # pragma: no cover


def normalize(
    record: Mapping[str, Any], facts: Mapping[str, FactSpec], memo: dict[Any, Any] | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed facts of a record: only known values are present (absent = unknown).
    `memo` (owned by the caller, one per facts schema) remembers conversions of cells."""
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, spec in facts.items():
        if name not in record:
            continue
        raw = record[name]
        cls = type(raw)
        if memo is not None and cls in _MEMO_TYPES:
            # A text is keyed by itself, in its fact's own memo (most cells are texts); any
            # other value with its class, as 1 == True == 1.0.
            key: Any = raw if cls is str else (cls, raw)
            per_fact = memo.get(name)
            if per_fact is None:
                per_fact = memo[name] = {}
            hit = per_fact.get(key)
            if hit is None:
                hit = convert_value(name, spec, raw)
                if len(per_fact) < 20_000:
                    per_fact[key] = hit
            value, err = hit
        else:
            value, err = convert_value(name, spec, raw)
        if err is not None:
            errors.append(err)
            continue
        if value is not UNKNOWN:
            out[name] = value
    return out, errors


_MEMO_TYPES = frozenset((str, bool, int, type(None), dt.date))  # hashable, converted by value alone


def _converted(name: str, spec: FactSpec, per_fact: dict[Any, Any], raw: Any) -> tuple[Any, FieldError | None]:
    # `normalize`'s conversion of one cell through its fact's memo (the generated form's slow path).
    cls = type(raw)
    if cls not in _MEMO_TYPES:
        return convert_value(name, spec, raw)
    key: Any = raw if cls is str else (cls, raw)
    hit: tuple[Any, FieldError | None] | None = per_fact.get(key)
    if hit is None:
        hit = convert_value(name, spec, raw)
        if len(per_fact) < 20_000:
            per_fact[key] = hit
    return hit


# `normalize` unrolled over one facts schema (one block per fact, in schema order), for a record
# that is a dict: one lookup per fact instead of a test and a read, the fact's name, spec and
# memo bound as locals of their own, a memoised cell (a text by itself, any other value with its
# class, as in `normalize`) found in its memo inline. Generated source holds only names made here
# and indices; fact names, specs and memos are passed in as objects (rule files never become code).
_FACT = """\
    raw = get(n{i}, A)
    if raw is not A:
        c = raw.__class__
        hit = m{i}.get(raw) if c is T else m{i}.get((c, raw)) if c in MT else None
        if hit is None:
            hit = CV(n{i}, s{i}, m{i}, raw)
        if hit[1] is not None:
            errors.append(hit[1])
        elif hit[0] is not U:
            out[n{i}] = hit[0]
"""


def record_normalizer(
    facts: Mapping[str, FactSpec], memo: dict[Any, Any] | None = None
) -> Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[FieldError]]]:
    """`lambda record: normalize(record, facts, memo)` as one generated function (the same
    result, tested against `normalize`); `memo` is made here when not given."""
    memo = {} if memo is None else memo
    names = tuple(facts)
    bound: list[Any] = []
    for name in names:
        bound += [name, facts[name], memo.setdefault(name, {})]
    params = "".join(f", n{i}, s{i}, m{i}" for i in range(len(names)))
    body = "".join(_FACT.format(i=i) for i in range(len(names)))
    source = (
        f"def make(A, U, CV, D, T, MT, generic{params}):\n    def normalized(record):\n"
        "        if record.__class__ is not D:\n            return generic(record)\n"
        "        out = {}\n        errors = []\n        get = record.get\n"
        + "".join("    " + line + "\n" for line in body.splitlines())
        + "        return out, errors\n    return normalized\n"
    )
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile(source, "<normalizer>", "exec"), namespace)  # noqa: S102 - see the comment above
    made: Callable[[Mapping[str, Any]], tuple[dict[str, Any], list[FieldError]]] = namespace["make"](
        _ABSENT,
        UNKNOWN,
        _converted,
        dict,
        str,
        _MEMO_TYPES,
        lambda record: normalize(record, facts, memo),
        *bound,
    )
    return made


_ABSENT = object()  # a field the record does not have


def record_id(record: Mapping[str, Any], id_field: str | None) -> str | None:
    if not id_field:
        return None
    v = record.get(id_field)
    if _is_empty(v):
        return None
    return str(v).strip()

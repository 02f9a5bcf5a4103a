"""Turn an input record (JSON, YAML, a CSV row) into typed facts.

The one place that decides what "unknown" means: for event dates an explicit empty
value means the event has not happened; a missing key, or the word "unbekannt", means
unknown. For every other field empty and missing both mean unknown. Error messages
name the field, never its value: records are personal data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from .model import FactSpec
from .values import NEVER, UNKNOWN

UNKNOWN_WORDS = {"unbekannt", "unknown", "?", "k.a.", "n/a"}
# The characters str.strip() removes, as an RE2 class: Arrow's regex kernels test cells in
# C++ and must agree with Python's idea of "blank" exactly (tested in test_fastpath).
STRIP_CLASS = r"[\t\n\x0b\x0c\r\x1c-\x1f \x85\p{Z}]"
TRUE_WORDS = {"true", "ja", "j", "yes", "y", "1", "x", "wahr"}
FALSE_WORDS = {"false", "nein", "n", "no", "0", "falsch"}

_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclasses.dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    de: str
    en: str


def parse_date(text: str) -> dt.date | None:
    """ISO `YYYY-MM-DD` or German `TT.MM.JJJJ`; None if neither or not a real day."""
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


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def convert_value(name: str, spec: FactSpec, value: Any) -> tuple[Any, FieldError | None]:
    """One field's raw value as a runtime value (UNKNOWN, NEVER or typed)."""
    if isinstance(value, str) and value.strip().lower() in UNKNOWN_WORDS:
        return UNKNOWN, None
    if _is_empty(value):
        return (NEVER if spec.event else UNKNOWN), None
    kind = spec.type
    if kind == "text":
        if isinstance(value, (dict, list)):
            return UNKNOWN, FieldError(name, "type", f"{name}: Text erwartet", f"{name}: text expected")
        text = str(value).strip()
        if spec.pattern and not re.fullmatch(spec.pattern, text):
            return UNKNOWN, FieldError(name, "pattern", f"{name}: Wert hat nicht die erwartete Form",
                                       f"{name}: value does not have the expected form")
        return text, None
    if kind == "enum":
        if not isinstance(value, str):
            return UNKNOWN, FieldError(name, "enum", f"{name}: Text erwartet ({', '.join(spec.values or ())})",
                                       f"{name}: text expected ({', '.join(spec.values or ())})")
        text = value.strip()
        allowed = spec.values or []
        if text in allowed:
            return text, None
        lowered = {v.lower(): v for v in allowed}
        if text.lower() in lowered:
            return lowered[text.lower()], None
        for v, lab in (spec.value_labels or {}).items():
            if text.lower() in (lab.de.lower(), lab.en.lower()):
                return v, None
        return UNKNOWN, FieldError(name, "enum",
                                   f"{name}: kein erlaubter Wert (erlaubt: {', '.join(allowed)})",
                                   f"{name}: not an allowed value (allowed: {', '.join(allowed)})")
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
            return value.date(), None
        if isinstance(value, dt.date):
            return value, None
        d = parse_date(str(value).strip())
        if d is None:
            return UNKNOWN, FieldError(name, "date",
                                       f"{name}: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)",
                                       f"{name}: not a valid date (expected YYYY-MM-DD or DD.MM.YYYY)")
        return d, None
    if kind in ("int", "decimal"):
        if isinstance(value, bool):
            return UNKNOWN, FieldError(name, "number", f"{name}: Zahl erwartet", f"{name}: number expected")
        try:
            if isinstance(value, (int, Decimal)):
                num = Decimal(value)
            elif isinstance(value, float):
                num = Decimal(str(value))
            else:
                text = str(value).strip().replace(" ", "")
                if "," in text and "." in text:
                    text = text.replace(".", "")  # German thousands separator
                num = Decimal(text.replace(",", "."))
        except (InvalidOperation, ValueError):
            return UNKNOWN, FieldError(name, "number", f"{name}: Zahl erwartet", f"{name}: number expected")
        if not num.is_finite():
            return UNKNOWN, FieldError(name, "number", f"{name}: Zahl erwartet", f"{name}: number expected")
        if spec.minimum is not None and num < spec.minimum or spec.maximum is not None and num > spec.maximum:
            return UNKNOWN, FieldError(name, "range", f"{name}: Zahl außerhalb des erlaubten Bereichs",
                                       f"{name}: number out of range")
        if kind == "int":
            if num != num.to_integral_value():
                return UNKNOWN, FieldError(name, "number", f"{name}: ganze Zahl erwartet",
                                           f"{name}: whole number expected")
            return int(num), None
        return num, None
    if kind == "list":
        items = value if isinstance(value, list) else [p for p in re.split(r"[;,]", str(value)) if p.strip()]
        return tuple(str(i).strip() for i in items), None
    return value, None  # pragma: no cover


def normalize(record: Mapping[str, Any], facts: Mapping[str, FactSpec], memo: dict[Any, Any] | None = None
              ) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed facts of a record: only known values are present (absent = unknown).
    `memo` (owned by the caller, one per facts schema) remembers conversions of cells."""
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, spec in facts.items():
        if name not in record:
            continue
        raw = record[name]
        if memo is not None and type(raw) in _MEMO_TYPES:
            key = (name, type(raw), raw)
            hit = memo.get(key)
            if hit is None:
                hit = convert_value(name, spec, raw)
                if len(memo) < 200_000:
                    memo[key] = hit
            value, err = hit
        else:
            value, err = convert_value(name, spec, raw)
        if err is not None:
            errors.append(err)
            continue
        if value is not UNKNOWN:
            out[name] = value
    return out, errors


_MEMO_TYPES = (str, bool, int, type(None), dt.date)  # hashable, and converted by value alone


def record_id(record: Mapping[str, Any], id_field: str | None) -> str | None:
    if not id_field:
        return None
    v = record.get(id_field)
    if _is_empty(v):
        return None
    return str(v).strip()

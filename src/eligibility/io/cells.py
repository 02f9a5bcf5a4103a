"""Text cells made safe for spreadsheets: every writer (CSV and XLSX, `evaluate`,
`convert`, `upcoming`, the upload page, the report's tables) passes each text cell
whose value came from the input through `neutralise` before writing it.

The rule is OWASP's for CSV injection: a cell that a spreadsheet would read as a
formula or a DDE command begins with `=`, `+`, `-`, `@`, a tab or a carriage return.
Spreadsheets strip leading spaces (and some line feeds) before they look, so the
test is made after those, and the fullwidth forms (U+FF1D, U+FF0B, U+FF0D, U+FF20)
that some applications fold to ASCII count too. Such a cell gets one apostrophe in
front of its *unchanged* value: Excel and LibreOffice show an apostrophe-led cell as
text, and the original is the value without its first character (reversible; the
caseworker guide says so). A leading tab is kept, not stripped: stripping it would
turn "\\t=1+1" into the live "=1+1".

XLSX cannot hold most C0 control characters (XML 1.0 forbids them; a NUL makes the
file unreadable), so `xlsx_text` replaces each of them, except tab, line feed and
carriage return, with U+FFFD (the replacement character) — visible, never silent;
so are lone UTF-16 surrogates and the non-characters U+FFFE/U+FFFF.
CSV keeps them as they are: a CSV field can hold any character."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
PREFIX = "'"

# What a spreadsheet skips before it decides whether a cell is a formula: spaces
# (also no-break spaces) and line feeds. Tab and CR are triggers themselves.
_SKIPPED = " \u00a0\n"
# Also lone surrogates (a JSON "\\ud800" decodes to one): XML and UTF-8 cannot carry them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def re2_class(chars: Iterable[str]) -> str:
    """A character class of RE2 (Arrow's regular expressions) holding exactly these characters."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars)) + "]"


# `is_dangerous` as an RE2 pattern for Arrow's kernels (the CSV block writer), from the same
# two character sets: skipped characters, then a trigger (tests/test_csv_fields.py compares the
# fields it makes with `neutralise`).
DANGEROUS_RE2 = "^" + re2_class(_SKIPPED) + "*" + re2_class(TRIGGERS)


def is_dangerous(text: str) -> bool:
    """Whether a spreadsheet could read this text as a formula or command."""
    if not text:
        return False
    if text[0] in TRIGGERS:
        return True
    rest = text.lstrip(_SKIPPED)
    return bool(rest) and rest[0] in TRIGGERS


def neutralise(value: Any) -> Any:
    """The value to write for a cell from the input: text with a formula trigger gets an
    apostrophe in front; anything else (numbers, dates, safe text) is returned as is."""
    if isinstance(value, str) and is_dangerous(value):
        return PREFIX + value
    return value


def restore(text: str) -> str:
    """The input's value from a neutralised cell (the inverse of `neutralise`)."""
    if text.startswith(PREFIX) and is_dangerous(text[1:]):
        return text[1:]
    return text


def xlsx_text(text: str) -> str:
    """Text an XLSX file can hold: neutralised, and control characters that XML forbids
    replaced by U+FFFD."""
    return _CONTROL.sub("\ufffd", neutralise(text))

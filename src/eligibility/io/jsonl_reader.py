"""JSON lines rosters: one record per line; a line that is no JSON object (or holds a key
twice, or a lone UTF-16 surrogate) is an error row with the reason, and the run goes on."""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from eligibility.io.roster_rows import InputRow, RosterInfo
from eligibility.source.model import FactSpec


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json `object_pairs_hook`: a key given twice is an error, not last-wins (which of
    two Aufenthaltsstatus is meant cannot be guessed)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(k)
        out[k] = v
    return out


def _reraise(exc: BaseException) -> Any:
    raise exc


def _identity(value: Any) -> Any:
    return value


# A \uD800-\uDFFF escape: JSON can spell a lone surrogate, which no UTF-8 output (CSV,
# JSON, XLSX) can hold; a valid pair decodes to one character and passes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate(text: str, data: Any) -> bool:
    """Whether the parsed JSON `data` of `text` holds a lone surrogate (checked only when
    the text has such an escape, so ordinary lines cost one regex search)."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


SURROGATE_DE = "Zeile enthält ein ungültiges Zeichen (einzelnes UTF-16-Surrogat \\uD800–\\uDFFF)"
SURROGATE_EN = "row holds an invalid character (a lone UTF-16 surrogate \\uD800–\\uDFFF)"


def _json_row(number: int, parse: Callable[[], Any], text: str = "") -> InputRow:
    try:
        data = parse()
    except DuplicateKey as exc:
        key = exc.key if len(exc.key) <= 60 else exc.key[:60] + "…"
        return InputRow(number, None, f"Schlüssel „{key}“ kommt zweimal vor", f"key '{key}' occurs twice")
    except UnicodeDecodeError:
        return InputRow(
            number, None, "Zeichenkodierung defekt (erwartet UTF-8)", "broken character encoding (expected UTF-8)"
        )
    except RecursionError:
        return InputRow(number, None, "Zeile zu tief verschachtelt", "row is nested too deeply")
    except json.JSONDecodeError:
        return InputRow(number, None, "Zeile ist kein gültiges JSON", "row is not valid JSON")
    if not isinstance(data, dict):
        return InputRow(number, None, "Zeile ist kein JSON-Objekt", "row is not a JSON object")
    if text and lone_surrogate(text, data):
        return InputRow(number, None, SURROGATE_DE, SURROGATE_EN)
    return InputRow(number, data)


def _is_json_array(path: str | Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return head.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"["


def read_jsonl(path: str | Path, facts: Mapping[str, FactSpec]) -> tuple[RosterInfo, Iterator[InputRow]]:
    """JSON lines (one record a line, streamed), or a .json file holding an array of
    records (read whole: an array is one JSON text; each element is one row)."""
    info = RosterInfo("jsonl", "utf-8")
    info.columns = {n: n for n in facts}
    decoder = json.JSONDecoder(object_pairs_hook=no_duplicate_keys)

    def lines() -> Iterator[InputRow]:
        with open(path, "rb") as fh:
            number = 0
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                number += 1
                enc = "utf-8-sig" if number == 1 else "utf-8"
                try:
                    text = line.decode(enc)
                except UnicodeDecodeError:
                    # JSON is UTF-8 by definition (RFC 8259), and no spreadsheet writes JSON
                    # lines: bytes that are not UTF-8 are damage, not Windows-1252. The
                    # record gets an error row instead of a guess or replacement characters.
                    row = InputRow(
                        number,
                        None,
                        "Zeile ist nicht UTF-8-kodiert (JSON ist immer UTF-8)",
                        "line is not UTF-8 encoded (JSON is always UTF-8)",
                    )
                else:
                    row = _json_row(number, functools.partial(decoder.decode, text), text)
                row.line = line_no
                yield row

    def array() -> Iterator[InputRow]:
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            yield InputRow(
                1, None, "Zeichenkodierung defekt (erwartet UTF-8)", "broken character encoding (expected UTF-8)"
            )
            return
        pos = text.index("[") + 1
        number = 0
        ws = re.compile(r"[\s,]*")
        while True:
            pos = ws.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= len(text) or text[pos] == "]":
                if pos >= len(text):
                    yield InputRow(
                        number + 1,
                        None,
                        "JSON-Liste nicht geschlossen (fehlt „]“?)",
                        "JSON array not closed (missing ']'?)",
                    )
                return
            number += 1
            try:
                data, end = decoder.raw_decode(text, pos)
            except (json.JSONDecodeError, DuplicateKey, RecursionError) as exc:
                if not isinstance(exc, DuplicateKey):
                    # Past a syntax error the elements cannot be told apart: this one row says so.
                    yield InputRow(
                        number,
                        None,
                        "Element ist kein gültiges JSON – der Rest der Liste ist nicht lesbar",
                        "element is not valid JSON – the rest of the array cannot be read",
                    )
                    return
                yield _json_row(number, functools.partial(_reraise, exc))
                if isinstance(exc, DuplicateKey):
                    # the element itself is well-formed: skip it and go on
                    try:
                        _, end = json.JSONDecoder().raw_decode(text, pos)
                    except json.JSONDecodeError:
                        return
                    pos = end
                    continue
                return
            element, pos = text[pos:end], end
            yield _json_row(number, functools.partial(_identity, data), element)

    # JSON lines may start with a line "[1, 2]" (an error row): only a .json file is an array.
    is_array = Path(path).suffix.lower() == ".json" and _is_json_array(path)
    return info, (array() if is_array else lines())

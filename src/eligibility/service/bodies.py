"""Reading request bodies the way the API promises: NDJSON lines one by one (a line that
cannot be read is an answer line of its own, never the end of the stream), and JSON with a
key given twice or a lone surrogate refused instead of silently taken."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fastapi import Request


class Unprocessable(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


@dataclasses.dataclass(frozen=True)
class BadLine:
    """A batch record that could not be read as a JSON object, and why (German, English):
    it still gets its own line in the answer."""

    code: str
    de: str
    en: str

    @classmethod
    def duplicate(cls, key: str) -> BadLine:
        shown = key if len(key) <= 60 else key[:60] + "…"
        return cls("duplicate_key", f"Schlüssel „{shown}“ kommt zweimal vor", f"key '{shown}' occurs twice")


class Twice(dict[str, Any]):
    """A JSON object in which a key occurs twice (or that holds such an object): which of
    two values is meant cannot be guessed, so the record is refused, never last-wins."""

    key: str = ""


def tag_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dup: str | None = None
    for k, v in pairs:
        if dup is None and (k in out or isinstance(v, Twice)):
            dup = k if k in out else f"{k}.{v.key}"
        out[k] = v
    if dup is None:
        return out
    tagged = Twice(out)
    tagged.key = dup
    return tagged


def ndjson_record(line: bytes) -> Any:
    """One NDJSON line: the record, or the BadLine that says why it is none. JSON is UTF-8
    by definition: a line that is not is refused, not decided with replacement characters."""
    from eligibility.io.rosters import SURROGATE_DE, SURROGATE_EN, DuplicateKey, lone_surrogate, no_duplicate_keys

    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return BadLine("encoding", "Zeile ist nicht UTF-8-kodiert", "line is not UTF-8 encoded")
    try:
        data = json.loads(text, object_pairs_hook=no_duplicate_keys)
        if lone_surrogate(text, data):
            return BadLine("encoding", SURROGATE_DE, SURROGATE_EN)
        return data
    except DuplicateKey as exc:
        return BadLine.duplicate(exc.key)
    except RecursionError:
        return BadLine("nesting", "Zeile zu tief verschachtelt", "line is nested too deeply")
    except ValueError:
        return BadLine("json", "Zeile ist kein gültiges JSON", "line is not valid JSON")


async def reject_duplicate_keys(request: Request) -> None:
    """Route dependency: a JSON body with a key given twice is a 422 naming the key
    (pydantic alone would take the last value without notice), and so is one with a lone
    surrogate escape, which no UTF-8 answer can carry. The body is cached by Starlette, so
    this reads nothing twice from the network."""
    from eligibility.io.rosters import lone_surrogate

    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text, object_pairs_hook=tag_duplicates)
    except (ValueError, RecursionError):
        return  # not UTF-8, not JSON or too deep: the body validation answers that
    if isinstance(parsed, Twice):
        raise Unprocessable(parsed.key, f"key '{parsed.key}' occurs twice")
    if lone_surrogate(text, parsed):
        raise Unprocessable("record", "a string holds a lone UTF-16 surrogate (\\uD800-\\uDFFF)")

"""The log's hash chain, written once: what an entry's content is, and how it is chained.

An entry's `content_sha` covers every stored column but the chain columns, in a fixed order,
as the exact text stored (so verifying needs no JSON re-serialisation). Its `entry_sha` covers
its position, the previous entry's hash and `content_sha` only: an erasure empties the personal
columns, keeps `content_sha`, and the chain still verifies. `content_sha` reveals nothing of the
erased person, because the content it hashed includes the random decision id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64

# The columns an entry's content is made of, in hashing order. Extend at the end only: the
# order is part of every hash already written.
CONTENT_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "kind",
    "created_at",
    "record_id",
    "entity",
    "on_date",
    "source",
    "form",
    "ruleset_sha",
    "ruleset_name",
    "ruleset_version",
    "overlays",
    "user_name",
    "aktenzeichen",
    "facts",
    "decision",
    "outcomes",
    "note",
)

# What an erasure removes (everything that can point to a person).
PERSONAL_COLUMNS: tuple[str, ...] = (
    "record_id",
    "entity",
    "on_date",
    "overlays",
    "user_name",
    "aktenzeichen",
    "facts",
    "decision",
    "outcomes",
)


def content_sha(row: Mapping[str, Any]) -> str:
    """The hash of an entry's content columns, each framed by its length (None apart from "").
    Framing, not JSON: a decision with explanations is ~40 KB, and escaping it again for the
    hash cost as much as serialising it (measured)."""
    h = hashlib.sha256()
    for c in CONTENT_COLUMNS:
        v = row.get(c)
        if v is None:
            h.update(b"-")
        else:
            data = str(v).encode()
            h.update(b"%d:" % len(data))
            h.update(data)
    return h.hexdigest()


def entry_sha(seq: int, prev_sha: str, content: str) -> str:
    return hashlib.sha256(f"{seq}\n{prev_sha}\n{content}".encode()).hexdigest()


def ids_digest(decision_ids: Iterable[str]) -> str:
    """What an erasure entry records of the entries it emptied: how many and which (by their
    random ids, sorted), never whose."""
    return hashlib.sha256("\n".join(sorted(decision_ids)).encode()).hexdigest()


def dumps(value: Any) -> str:
    """JSON as the log stores it: compact and UTF-8, the bytes the HTTP API sends."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

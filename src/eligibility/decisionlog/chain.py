"""The log's hash chain, written once: what an entry's content is, and how it is chained.

An entry's `content_sha` covers every stored column but the chain columns, in a fixed order,
as the exact text stored (so verifying needs no JSON re-serialisation); its `public_sha` the
columns an erasure keeps. Its `entry_sha` covers its position, the previous entry's hash,
`public_sha` and `content_sha`: an erasure empties the personal columns, keeps `content_sha`,
and the chain still verifies — including every column the erased entry still shows.
`content_sha` cannot confirm a guess of the erased person's data: the content it hashed
includes a random salt, erased with the data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64

# How an entry's hashes are made. Every entry stores the format it was written in, so that a
# later change of the columns, their order or the framing below gets a new number and
# `log verify` keeps checking each old entry by the rule it was written by (a format from a
# newer release is reported, never guessed at). Format 1: the functions of this module as they
# are. A format 2 should also hash its own number into `entry_sha`.
FORMAT = 1
FORMATS = frozenset({1})

# The columns an entry's content is made of, in hashing order. Extend at the end only: the
# order is part of every hash already written.
CONTENT_COLUMNS: tuple[str, ...] = (
    "salt",
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

# What an erasure keeps: no person in it, and always re-hashable.
PUBLIC_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "kind",
    "created_at",
    "source",
    "form",
    "ruleset_sha",
    "ruleset_name",
    "ruleset_version",
)

# What an erasure removes (everything that can point to a person, and the salt).
PERSONAL_COLUMNS: tuple[str, ...] = (
    "salt",
    "record_id",
    "entity",
    "on_date",
    "overlays",
    "user_name",
    "aktenzeichen",
    "facts",
    "decision",
    "outcomes",
    "note",
)


def content_sha(row: Mapping[str, Any]) -> str:
    """The hash of an entry's content columns, each framed by its length (None apart from "").
    Framing, not JSON: a decision with explanations is ~40 KB, and escaping it again for the
    hash cost as much as serialising it (measured)."""
    return _framed(row, CONTENT_COLUMNS)


def public_sha(row: Mapping[str, Any]) -> str:
    return _framed(row, PUBLIC_COLUMNS)


def _framed(row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for c in columns:
        v = row.get(c)
        if v is None:
            h.update(b"-")
        else:
            data = str(v).encode()
            h.update(b"%d:" % len(data))
            h.update(data)
    return h.hexdigest()


def entry_sha(seq: int, prev_sha: str, public: str, content: str) -> str:
    return hashlib.sha256(f"{seq}\n{prev_sha}\n{public}\n{content}".encode()).hexdigest()


def ids_digest(decision_ids: Iterable[str]) -> str:
    """What an erasure entry records of the entries it emptied: how many and which (by their
    random ids, sorted), never whose."""
    return hashlib.sha256("\n".join(sorted(decision_ids)).encode()).hexdigest()


def dumps(value: Any) -> str:
    """JSON as the log stores it: compact and UTF-8, the bytes the HTTP API sends."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps_facts(value: Any) -> str:
    """The facts as given: a record may carry NaN or Infinity (Python's JSON reads them), and
    a fact the rules do not read must not keep its decision out of the log. json.loads reads
    them back as they were."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True, separators=(",", ":"))

"""`eligibility log verify`: the chain walked from its first entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from eligibility.decisionlog import chain
from eligibility.decisionlog.schema import entries


@dataclass(frozen=True)
class Problem:
    seq: int
    decision_id: str
    de: str
    en: str


@dataclass(frozen=True)
class Verification:
    entries: int
    decisions: int
    erased: int
    head_sha: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine) -> Verification:
    """Walk the chain from its first entry: every link, every hash, every erasure."""
    problems: list[Problem] = []
    prev = chain.GENESIS
    last_seq = 0
    n = decisions = erased = 0
    emptied: dict[int, list[str]] = {}
    erasures: dict[int, tuple[str, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(select(entries).order_by(entries.c.seq)):
            m = row._mapping
            n += 1
            seq, did = int(m["seq"]), str(m["decision_id"])

            def bad(de: str, en: str, seq: int = seq, did: str = did) -> None:
                problems.append(Problem(seq, did, de, en))

            if seq <= last_seq:
                bad("Reihenfolge der Einträge gestört", "entries out of order")
            if m["prev_sha"] != prev:
                bad(
                    "Verkettung unterbrochen: ein Eintrag davor wurde geändert, entfernt oder eingefügt",
                    "chain broken: an entry before this one was changed, removed or inserted",
                )
            if m["erased_by"] is None:
                if chain.content_sha(dict(m)) != m["content_sha"]:
                    bad("Inhalt des Eintrags wurde verändert", "the entry's content was changed")
            else:
                erased += 1
                emptied.setdefault(int(m["erased_by"]), []).append(did)
                if any(m[c] is not None for c in chain.PERSONAL_COLUMNS):
                    bad("gelöschter Eintrag enthält wieder Daten", "an erased entry holds data again")
            if m["entry_sha"] != chain.entry_sha(seq, m["prev_sha"], m["content_sha"]):
                bad("Prüfsumme des Eintrags stimmt nicht", "the entry's hash does not match")
            if m["kind"] == "decision":
                decisions += 1
            elif m["kind"] in ("erasure", "retention"):
                erasures[seq] = (did, json.loads(m["note"] or "{}"))
            else:
                bad("unbekannte Art von Eintrag", "unknown kind of entry")
            prev, last_seq = str(m["entry_sha"]), seq
    for seq in emptied:
        if seq not in erasures:
            problems.append(
                Problem(seq, "", "Löschung ohne Löschvermerk in der Kette", "an erasure without its chain entry")
            )
    for seq, (did, note) in erasures.items():
        ids = emptied.get(seq, [])
        if note.get("erased") != len(ids) or note.get("ids_sha256") != chain.ids_digest(ids):
            problems.append(
                Problem(
                    seq,
                    did,
                    "Löschvermerk passt nicht zu den geleerten Einträgen",
                    "the erasure entry does not match the entries emptied",
                )
            )
    return Verification(n, decisions, erased, prev, tuple(sorted(problems, key=lambda p: p.seq)))

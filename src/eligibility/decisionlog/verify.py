"""`eligibility log verify`: the chain walked from its first entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from eligibility.decisionlog import chain
from eligibility.decisionlog.schema import entries, rule_files, rulesets
from eligibility.source.loader import ruleset_digest


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
            m = dict(row._mapping)
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
            # The hashes by the only rules this release knows (format 1), for every entry: an
            # entry of an unknown format that passes them had its format number changed.
            hashed: list[tuple[str, str]] = []
            if m["public_sha"] != chain.public_sha(m):
                hashed.append(("Angaben des Eintrags wurden verändert", "the entry's public columns were changed"))
            if m["erased_by"] is None:
                if chain.content_sha(m) != m["content_sha"]:
                    hashed.append(("Inhalt des Eintrags wurde verändert", "the entry's content was changed"))
            else:
                erased += 1
                try:
                    emptied.setdefault(int(m["erased_by"]), []).append(did)
                except (TypeError, ValueError):
                    bad("Löschvermerk des Eintrags ist unlesbar", "the entry's erasure mark cannot be read")
                if any(m[c] is not None for c in chain.PERSONAL_COLUMNS):
                    bad("gelöschter Eintrag enthält wieder Daten", "an erased entry holds data again")
            if m["entry_sha"] != chain.entry_sha(seq, m["prev_sha"], m["public_sha"], m["content_sha"]):
                hashed.append(("Prüfsumme des Eintrags stimmt nicht", "the entry's hash does not match"))
            fmt = m["chain_format"]
            if fmt in chain.FORMATS:
                for de, en in hashed:
                    bad(de, en)
            elif not hashed:
                bad(
                    f"Kettenformat des Eintrags wurde verändert ({fmt} eingetragen, geschrieben im Format 1)",
                    f"the entry's chain format was changed ({fmt} stored, written in format 1)",
                )
            else:  # written by a newer release: its hashes follow rules this one does not know
                bad(
                    f"Eintrag im unbekannten Kettenformat {fmt}: "
                    "bitte mit der Programmversion prüfen, die ihn geschrieben hat",
                    f"entry in unknown chain format {fmt}: verify with the release that wrote it",
                )
            if m["kind"] == "decision":
                decisions += 1
            elif m["kind"] in ("erasure", "retention"):
                try:
                    note = json.loads(m["note"] or "{}")
                except ValueError:
                    note = None
                if not isinstance(note, dict):
                    bad("Löschvermerk ist unlesbar", "the erasure note cannot be read")
                    note = {}
                erasures[seq] = (did, note)
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
    problems.extend(_snapshot_problems(engine))
    return Verification(n, decisions, erased, prev, tuple(sorted(problems, key=lambda p: p.seq)))


def _snapshot_problems(engine: Engine) -> list[Problem]:
    """Every stored rule set must still hash to its key, every file to its own."""
    out: list[Problem] = []
    with engine.connect() as conn:
        blobs = {r[0]: bytes(r[1]) for r in conn.execute(select(rule_files.c.sha256, rule_files.c.content))}
        for sha, files in conn.execute(select(rulesets.c.sha256, rulesets.c.files)):
            where = f"Regelwerk {sha[:12]}"
            try:
                listing = [(str(n), str(b)) for n, b in json.loads(files)]
                raw = [(n, blobs[b]) for n, b in listing]
            except (ValueError, TypeError, KeyError):
                out.append(
                    Problem(
                        0,
                        sha,
                        f"{where}: Dateiliste unlesbar oder Datei fehlt",
                        f"rule set {sha[:12]}: file list unreadable or a file missing",
                    )
                )
                continue
            if (
                any(hashlib.sha256(data).hexdigest() != b for (_, b), (_, data) in zip(listing, raw, strict=True))
                or ruleset_digest(raw) != sha
            ):
                out.append(
                    Problem(
                        0,
                        sha,
                        f"{where}: gespeicherte Regeldateien wurden verändert",
                        f"rule set {sha[:12]}: its stored files were changed",
                    )
                )
    return out

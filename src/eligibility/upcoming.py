"""`eligibility upcoming`: the worklist of persons whose outcome changes within a window
(who leaves the GU duty, who enters the AUB circle, whose counselling ends), by date."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .engine import Engine
from .explain import environment, value_text
from .rosters import InputRow, RosterWriter, format_of

_WITHIN = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$")


def parse_within(text: str) -> int:
    """'90d', '12w', '6m', '1y' or a number of days."""
    m = _WITHIN.match(text.lower())
    if not m:
        raise ValueError("--within: erwartet z. B. 90d, 12w, 6m oder 1y")
    n, unit = int(m.group(1)), m.group(2) or "d"
    return n * {"d": 1, "w": 7, "m": 30, "y": 365}[unit]


@dataclasses.dataclass
class UpcomingChange:
    date: dt.date
    row: int
    record_id: str
    gemeinde: str
    outcome: str
    old: str
    new: str
    rule: str
    cause: str


def upcoming_changes(engine: Engine, rows: Iterable[InputRow], on: dt.date, days: int
                     ) -> tuple[list[UpcomingChange], int]:
    ent = engine.entity()
    end = on + dt.timedelta(days=days)
    out: list[UpcomingChange] = []
    skipped = 0
    for row in rows:
        if row.record is None:
            skipped += 1
            continue
        t = engine.timeline(row.record, on, end)
        for oid, ivs in t.outcomes.items():
            for prev, iv in zip(ivs, ivs[1:]):
                if (prev.value, prev.status) == (iv.value, iv.status):
                    continue
                out.append(UpcomingChange(
                    iv.start, row.number, t.record_id or "", str(row.record.get("gemeinde") or ""), oid,
                    _word(ent, oid, prev), _word(ent, oid, iv), iv.rule or "",
                    iv.cause.de if iv.cause else ""))
    out.sort(key=lambda c: (c.date, c.row, c.outcome))
    return out, skipped


def _word(ent: Any, oid: str, iv: Any) -> str:
    if iv.status == "unknown":
        return "noch offen"
    if iv.status == "not_in_force":
        return "nicht in Kraft"
    return value_text(ent, oid, iv.value, "de")


COLUMNS = ["datum", "zeile", "id", "gemeinde", "ergebnis", "bisher", "neu", "regel", "anlass"]


def write_upcoming(engine: Engine, changes: list[UpcomingChange], on: dt.date, days: int, out: str | None) -> str:
    labels = {oid: o.spec.label.de for oid, o in engine.entity().outcomes.items()}
    rows = [{"datum": c.date.strftime("%d.%m.%Y"), "zeile": c.row, "id": c.record_id, "gemeinde": c.gemeinde,
             "ergebnis": labels[c.outcome], "bisher": c.old, "neu": c.new, "regel": c.rule, "anlass": c.cause}
            for c in changes]
    if out is None:
        lines = [f"Änderungen vom {on:%d.%m.%Y} bis {on + dt.timedelta(days=days):%d.%m.%Y}:"]
        for r in rows:
            lines.append(f"  {r['datum']}  {r['id'] or 'Zeile ' + str(r['zeile']):14} {r['gemeinde'][:20]:20} "
                         f"{r['ergebnis'][:40]:40} {r['bisher']} → {r['neu']}  ({r['anlass']})")
        return "\n".join(lines) + "\n"
    target = Path(out)
    if target.suffix.lower() in (".html", ".htm"):
        target.write_text(environment().get_template("upcoming.html.j2").render(
            rows=rows, on=on, end=on + dt.timedelta(days=days), info=engine.info), encoding="utf-8")
        return ""
    writer = RosterWriter(target, format_of(target), COLUMNS)
    try:
        for r in rows:
            writer.write(r)
    finally:
        writer.close()
    return ""

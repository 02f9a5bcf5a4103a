"""`eligibility upcoming`: the worklist of persons whose outcome changes within a window
(who leaves the GU duty, who enters the AUB circle, whose counselling ends), by date.

One line per person and date, with every outcome that changes on that day. Every input
row is accounted for exactly once: it is looked at (and has as many lines as it has
change days in the window, possibly none), or it is an error row — unreadable, with a
bad field value (the same rows `evaluate` counts as errors), or not decidable — and then
gets one line of its own after the changes, with the reason."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eligibility.engine import Engine
from eligibility.io.rosters import InputRow, RosterWriter, format_of
from eligibility.text.render import environment, value_text

_WITHIN = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later; the month's last day if it is shorter
    (31.01. + 1 Monat = 28./29.02.)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_end(on: dt.date, text: str) -> dt.date:
    """The last day of '90d', '12w', '6m' (calendar months), '1y' (calendar years) or a
    number of days from `on`."""
    m = _WITHIN.match(text.lower())
    if not m:
        raise ValueError("--within: erwartet z. B. 90d, 12w, 6m oder 1y")
    n, unit = int(m.group(1)), m.group(2) or "d"
    try:
        if unit == "m":
            return add_months(on, n)
        if unit == "y":
            return add_months(on, 12 * n)
        return on + dt.timedelta(days=n * (7 if unit == "w" else 1))
    except (ValueError, OverflowError):
        raise ValueError("--within: der Zeitraum endet nach dem Jahr 9999") from None


def parse_within(text: str, on: dt.date | None = None) -> int:
    """The window in days (months and years as calendar months from `on`, default today)."""
    start = on or dt.date.today()
    return (window_end(start, text) - start).days


@dataclasses.dataclass(frozen=True)
class OutcomeChange:
    outcome: str
    old: str
    new: str
    rule: str
    cause: str


@dataclasses.dataclass(frozen=True)
class UpcomingChange:
    """A person's changes on one day (`date` None: an error row, `error` says why)."""

    date: dt.date | None
    row: int
    record_id: str
    gemeinde: str
    changes: tuple[OutcomeChange, ...]
    error: str = ""


@dataclasses.dataclass
class UpcomingResult:
    changes: list[UpcomingChange]  # change lines by date, then error lines in input order
    rows: int = 0
    errors: int = 0

    @property
    def change_lines(self) -> list[UpcomingChange]:
        return [c for c in self.changes if c.date is not None]


def upcoming_changes(engine: Engine, rows: Iterable[InputRow], on: dt.date, end: dt.date | int) -> UpcomingResult:
    """Every row's changes in (on, end]: rows that `evaluate` counts as errors are error lines."""
    from eligibility.apps.evaluate import table_decisions

    ent = engine.entity()
    last = on + dt.timedelta(days=end) if isinstance(end, int) else end
    lines: list[UpcomingChange] = []
    errors: list[UpcomingChange] = []
    result = UpcomingResult(lines)
    for row, decision in table_decisions(engine, iter(rows), on):
        result.rows += 1
        record = row.record or {}
        rid = str((decision.record_id if decision is not None else record.get(ent.id_field or "")) or "")
        gemeinde = str(record.get("gemeinde") or "").strip()
        if decision is None or decision.errors:
            reason = row.error if decision is None else "; ".join(e.message.de for e in decision.errors)
            errors.append(UpcomingChange(None, row.number, rid, gemeinde, (), reason or ""))
            continue
        try:
            t = engine.timeline(row.record or {}, on, last)
        except (ValueError, OverflowError):
            from eligibility.apps.result_rows import UNDECIDABLE

            errors.append(UpcomingChange(None, row.number, rid, gemeinde, (), UNDECIDABLE[0]))
            continue
        by_day: dict[dt.date, list[OutcomeChange]] = {}
        for oid in ent.outcome_order:
            ivs = t.outcomes.get(oid, [])
            for prev, iv in zip(ivs, ivs[1:]):
                if (prev.value, prev.status) == (iv.value, iv.status):
                    continue
                by_day.setdefault(iv.start, []).append(
                    OutcomeChange(
                        oid, _word(ent, oid, prev), _word(ent, oid, iv), iv.rule or "", iv.cause.de if iv.cause else ""
                    )
                )
        for day, changes in by_day.items():
            lines.append(UpcomingChange(day, row.number, rid, gemeinde, tuple(changes)))
    lines.sort(key=lambda c: (c.date, c.row))
    result.errors = len(errors)
    lines.extend(errors)
    return result


def _word(ent: Any, oid: str, iv: Any) -> str:
    if iv.status == "unknown":
        return "noch offen"
    if iv.status == "not_in_force":
        return "nicht in Kraft"
    return value_text(ent, oid, iv.value, "de")


COLUMNS = ["datum", "zeile", "id", "gemeinde", "aenderungen", "ergebnisse", "regeln", "anlass", "fehler"]
XLSX_COLUMNS = ["Datum", "Zeile", "ID", "Gemeinde", "Änderungen", "Ergebnisse (Codes)", "Regeln", "Anlass", "Fehler"]


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for x in items:
        if x and x not in out:
            out.append(x)
    return out


def write_upcoming(
    engine: Engine, result: UpcomingResult, on: dt.date, end: dt.date, out: str | None, row_offset: int = 1
) -> str:
    """The worklist as text (out None), HTML, XLSX, CSV or JSON lines. The outputs for
    people (text, HTML, XLSX) number rows as Excel shows them (`row_offset` 1: header =
    row 1; 0 for JSON lines input); CSV and JSON lines keep the data row number."""
    labels = {oid: o.spec.label.de for oid, o in engine.entity().outcomes.items()}
    # One line per change in every output's vocabulary: the writers pick columns by name.
    rows: list[dict[str, Any]] = []
    for c in result.changes:
        rows.append(
            {
                "date": c.date,
                "datum": c.date.strftime("%d.%m.%Y") if c.date else "",
                "zeile": c.row,
                "id": c.record_id,
                "gemeinde": c.gemeinde,
                "aenderungen": "; ".join(f"{labels[x.outcome]}: {x.old} → {x.new}" for x in c.changes),
                "ergebnisse": ", ".join(x.outcome for x in c.changes),
                "regeln": ", ".join(_unique(x.rule for x in c.changes)),
                "anlass": "; ".join(_unique(x.cause for x in c.changes)),
                "fehler": c.error,
                "items": [{"label": labels[x.outcome], "old": x.old, "new": x.new} for x in c.changes],
            }
        )
    if out is None:
        lines = [f"Änderungen vom {on:%d.%m.%Y} bis {end:%d.%m.%Y}:"]
        for r in rows:
            who = r["id"] or "Zeile " + str(r["zeile"] + row_offset)
            if r["date"] is None:
                lines.append(f"  {'Fehler':10}  {who:14} {r['gemeinde'][:20]:20} {r['fehler']}")
            else:
                lines.append(
                    f"  {r['datum']}  {who:14} {r['gemeinde'][:20]:20} {r['aenderungen']}"
                    + (f"  ({r['anlass']})" if r["anlass"] else "")
                )
        return "\n".join(lines) + "\n"
    target = Path(out)
    if target.suffix.lower() in (".html", ".htm"):
        target.write_text(
            environment()
            .get_template("upcoming.html.j2")
            .render(rows=rows, on=on, end=end, info=engine.info, errors=result.errors, row_offset=row_offset),
            encoding="utf-8",
        )
        return ""
    fmt = format_of(target)
    if fmt == "xlsx":
        # Real dates; "Zeile" as Excel shows the input row (header = row 1), as in evaluate.
        writer = RosterWriter(target, fmt, XLSX_COLUMNS)
        try:
            for r in rows:
                writer.write(
                    dict(
                        zip(
                            XLSX_COLUMNS,
                            [
                                r["date"],
                                r["zeile"] + row_offset,
                                r["id"],
                                r["gemeinde"],
                                r["aenderungen"],
                                r["ergebnisse"],
                                r["regeln"],
                                r["anlass"],
                                r["fehler"],
                            ],
                        )
                    )
                )
        finally:
            writer.close()
        return ""
    writer = RosterWriter(target, fmt, COLUMNS)
    try:
        for r in rows:
            writer.write({c: r[c] for c in COLUMNS})
    finally:
        writer.close()
    return ""


def summary_line(result: UpcomingResult, on: dt.date, end: dt.date, lang: str = "de") -> str:
    """What `eligibility upcoming` says on stderr: how many change days for how many persons."""
    changes = result.change_lines
    persons = len({c.row for c in changes})
    if lang == "en":
        return (
            f"{result.rows} rows read: {len(changes)} change days for {persons} persons from {on:%Y-%m-%d} to {end:%Y-%m-%d}"
            + (f"; {result.errors} rows with errors (listed as error rows)" if result.errors else "")
        )
    return (
        f"{result.rows} Zeilen gelesen: {len(changes)} Änderungstage bei {persons} Personen "
        f"vom {on:%d.%m.%Y} bis {end:%d.%m.%Y}"
        + (f"; {result.errors} fehlerhafte Zeilen (als Fehlerzeilen aufgeführt)" if result.errors else "")
    )

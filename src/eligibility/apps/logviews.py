"""The decision log as people read it: the list (`log list`), one stored decision
(`log show`) and the export (`log export`) with the roster results' German columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from eligibility.decision.model import Decision
from eligibility.decisionlog.chain import dumps
from eligibility.decisionlog.records import StoredDecision

LOG_COLUMNS = ["decision_id", "created_at", "source", "user", "aktenzeichen", "on"]
LOG_HEADERS = ["Entscheidungs-Nr.", "Zeitpunkt", "Quelle", "Bearbeiter/in", "Aktenzeichen", "Stichtag"]


def in_days(entries: Iterable[StoredDecision], start: str | None, end: str | None) -> Iterator[StoredDecision]:
    """Entries whose day of `created_at` (UTC) lies in [start, end] (both inclusive)."""
    for e in entries:
        day = e.created_at[:10]
        if (start is None or day >= start) and (end is None or day <= end):
            yield e


def when(created_at: str) -> str:
    """`2026-12-01T20:51:17.123456Z` → `2026-12-01 20:51:17 UTC`."""
    return created_at[:19].replace("T", " ") + " UTC"


def outcome_words(log: Any, e: StoredDecision, lang: str) -> str:
    """The entry's outcomes as words, labelled, with the labels of its own rule set."""
    from eligibility.text.render import value_text

    try:
        ent = log.engine_for(e.ruleset_sha).entity(e.entity)
    except Exception:  # noqa: BLE001 - a snapshot that cannot be loaded: the values as stored
        return ", ".join(f"{oid}: {o.get('value')}" for oid, o in e.outcomes.items())
    words = {
        "de": {True: "ja", False: "nein", None: "noch offen", "not_in_force": "nicht in Kraft"},
        "en": {True: "yes", False: "no", None: "unknown", "not_in_force": "not in force"},
    }[lang]
    parts = []
    for oid, o in e.outcomes.items():
        value, status = o.get("value"), o.get("status")
        label = ent.outcomes[oid].spec.label.get(lang) if oid in ent.outcomes else oid
        if status == "not_in_force":
            word = words["not_in_force"]
        elif value is None or isinstance(value, bool):
            word = words[value]
        elif oid in ent.outcomes:
            word = value_text(ent, oid, value, lang)
        else:
            word = str(value)
        parts.append(f"{label}: {word}")
    return "; ".join(parts)


def list_table(log: Any, entries: Iterable[StoredDecision], lang: str) -> str:
    """A plain text table, one line per entry, in the order given (newest first)."""
    head = (
        ["Entscheidungs-Nr.", "Zeitpunkt", "Person", "Stichtag", "Regelwerk", "Ergebnis"]
        if lang == "de"
        else ["Decision no.", "Time", "Person", "Reference day", "Rule set", "Outcome"]
    )
    rows = [
        [
            e.decision_id,
            when(e.created_at),
            e.record_id or "–",
            _day(e.on, lang),
            f"{e.ruleset_name} {e.ruleset_version}",
            outcome_words(log, e, lang),
        ]
        for e in entries
    ]
    if not rows:
        return ("Keine Entscheidungen gefunden." if lang == "de" else "No decisions found.") + "\n"
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _day(on: str | None, lang: str) -> str:
    if not on:
        return "–"
    d = dt.date.fromisoformat(on)
    return f"{d:%d.%m.%Y}" if lang == "de" else d.isoformat()


def show(log: Any, e: StoredDecision, fmt: str, lang: str) -> str:
    """One stored decision: `json` exactly as stored; `text`/`markdown` rendered with the
    engine of its own rule set, under a header with who, when and which rules."""
    if e.decision_text is None:
        raise ValueError("erased")
    if fmt == "json":
        return e.decision_text + "\n"
    engine = log.engine_for(e.ruleset_sha)
    decision = Decision.model_validate_json(e.decision_text)
    de = lang == "de"
    none = "–"
    fields = [
        ("Entscheidungs-Nr." if de else "Decision no.", e.decision_id),
        ("Zeitpunkt" if de else "Time", when(e.created_at)),
        ("Quelle" if de else "Source", e.source or none),
        ("Bearbeiter/in" if de else "Caseworker", e.user or none),
        ("Aktenzeichen" if de else "File number", e.aktenzeichen or none),
        ("Regelwerk" if de else "Rule set", f"{e.ruleset_name} {e.ruleset_version} (SHA-256 {e.ruleset_sha})"),
    ]
    if e.overlays:
        fields.append(("Overlays", ", ".join(e.overlays)))
    if fmt == "markdown":
        title = "## Protokolleintrag" if de else "## Log entry"
        head = title + "\n\n" + "\n".join(f"- **{k}:** {v}" for k, v in fields) + "\n\n"
    else:
        width = max(len(k) for k, _ in fields) + 1
        head = "\n".join(f"{(k + ':').ljust(width)} {v}" for k, v in fields) + "\n\n"
    body: str = engine.render(decision, "markdown" if fmt == "markdown" else "text", lang, detail=True)
    return head + body


def export(
    log: Any, entries: Iterable[StoredDecision], fmt: str, out: str | Path, entity: str | None
) -> tuple[int, int]:
    """Every entry into `out`: CSV and XLSX with the log's columns and the roster results'
    German columns of the latest rule set among the entries (an entry decided under an
    older rule set leaves the cells of outcomes it lacks empty); JSON lines with the stored
    decision itself. Returns (rows written, entries of another entity left out)."""
    from eligibility.apps.result_rows import columns_for, decision_row, german_headers
    from eligibility.io.rosters import RosterWriter

    chosen = list(entries)  # log order; the latest rule set is the last entry's
    if fmt == "jsonl":
        writer = RosterWriter(out, "jsonl", [])
        try:
            for e in chosen:
                writer.write({}, _document(e))
        finally:
            writer.close()
        return len(chosen), 0
    latest = log.engine_for(chosen[-1].ruleset_sha) if chosen else None
    if latest is None:
        from eligibility.engine import Engine

        latest = Engine.load()
    ent_name = latest.entity(entity or (chosen[-1].entity if chosen else None)).name
    kept = [e for e in chosen if (e.entity or latest.default_entity) == ent_name]
    cols = columns_for(latest, ent_name, "de")
    columns = cols[:2] + LOG_COLUMNS + cols[2:]
    headers = german_headers(latest, ent_name, cols)
    header = headers[:2] + LOG_HEADERS + headers[2:]
    writer = RosterWriter(out, fmt, columns, header=header)
    try:
        for n, e in enumerate(kept, start=1):
            decision = Decision.model_validate_json(e.decision_text or "")
            row = decision_row(
                n, decision, log.engine_for(e.ruleset_sha), "de", german_numbers=fmt == "csv", xlsx=fmt == "xlsx"
            )
            on = dt.date.fromisoformat(e.on) if e.on else None
            row.update(
                {
                    "decision_id": e.decision_id,
                    "created_at": e.created_at,
                    "source": e.source,
                    "user": e.user,
                    "aktenzeichen": e.aktenzeichen,
                    "on": on if fmt == "xlsx" or on is None else f"{on:%d.%m.%Y}",
                }
            )
            writer.write(row)
    finally:
        writer.close()
    return len(kept), len(chosen) - len(kept)


def _document(e: StoredDecision) -> dict[str, Any]:
    return {**e.summary(), "overlays": e.overlays, "form": e.form, "decision": e.decision}


def summary_line(e: StoredDecision) -> str:
    """`log list --format json`: one summary per line, as the HTTP API serialises."""
    return dumps(e.summary())

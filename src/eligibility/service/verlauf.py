"""The page's "Verlauf" (issue 17): a person's earlier logged decisions, and one of them shown
as an Aktenvermerk again, made from the stored decision with the rules it was made under."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from eligibility.decisionlog import StoredDecision
from eligibility.service import result_page as rp
from eligibility.service.logbook import Logbook

# At most this many earlier decisions are listed.
MAX_ROWS = 20


def _berlin() -> dt.tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Berlin")
    except Exception:  # noqa: BLE001 - no time zone data on this machine: UTC, said so below
        return dt.UTC


def local_time(created_at: str) -> str:
    """A log time (UTC) as the office reads it: TT.MM.JJJJ HH:MM, Europe/Berlin."""
    when = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(_berlin())
    return when.strftime("%d.%m.%Y %H:%M")


def local_day(created_at: str) -> dt.date:
    return dt.datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(_berlin()).date()


@dataclasses.dataclass(frozen=True)
class HistoryRow:
    decision_id: str
    when: str
    on: str
    aktenzeichen: str
    result: str
    ruleset: str


def result_words(engine: Any, entry: StoredDecision) -> str:
    """The stored outcomes in short German words ("Integrationsmanagement: ja · …"), labelled
    by the running rule set where it still knows the outcome."""
    ent = engine.entity(entry.entity) if entry.entity in engine.entities else None
    parts = []
    for oid, o in entry.outcomes.items():
        status, value = o.get("status") or "", o.get("value")
        if ent is not None and oid in ent.outcomes:
            label = ent.outcomes[oid].spec.label.de
            word = rp._word(ent, oid, status, value)
        else:
            label, word = oid, rp.VERDICT.get(status, str(value))
        parts.append(f"{label}: {word}")
    return " · ".join(parts)


def history(
    logbook: Logbook, engine: Any, record_id: str | None, entity: str, current: str | None
) -> list[HistoryRow] | None:
    """The earlier logged decisions of `record_id`, newest first (None: no log or no id)."""
    if logbook.log is None or not record_id:
        return None
    try:
        page = logbook.log.page(record_id=record_id, entity=entity, limit=MAX_ROWS + 1)
    except Exception as exc:  # noqa: BLE001 - the decision is stored; only its history cannot be shown
        logging.getLogger("eligibility.service.app").error("decision log not read: %s", type(exc).__name__)
        return None
    rows = []
    for e in page.items:
        if e.decision_id == current:
            continue
        on = dt.date.fromisoformat(e.on).strftime("%d.%m.%Y") if e.on else "—"
        rows.append(
            HistoryRow(
                e.decision_id,
                local_time(e.created_at),
                on,
                e.aktenzeichen or "—",
                result_words(engine, e),
                f"{e.ruleset_name or '?'} {e.ruleset_version or '?'}",
            )
        )
    return rows[:MAX_ROWS]


def stored_view(logbook: Logbook, running: Any, decision_id: str) -> dict[str, Any] | None:
    """What the Aktenvermerk template needs to show a stored decision again, or None."""
    from eligibility.decision.model import Decision

    assert logbook.log is not None
    entry = logbook.log.get(decision_id)
    if entry is None or entry.kind != "decision" or entry.decision is None or entry.ruleset_sha is None:
        return None
    engine = logbook.log.engine_for(entry.ruleset_sha)
    decision = Decision.model_validate(entry.decision)
    facts = entry.facts if isinstance(entry.facts, dict) else {}
    timeline = rp.timeline_for(engine, facts, decision.entity, decision.on)
    id_field = engine.entity(decision.entity).id_field
    return {
        "entity": decision.entity,
        "d": decision,
        "rows": rp.outcome_rows(engine, decision, timeline),
        "facts": [f for f in rp.fact_rows(engine, decision.entity, facts) if f.name != id_field],
        "note": {"aktenzeichen": entry.aktenzeichen or "", "dienststelle": "", "bearbeitung": entry.user or ""},
        "today": local_day(entry.created_at),
        "overlays": rp.overlay_names(engine),
        "entity_label": engine.entity(decision.entity).model.label.de,
        "stored": {
            "when": local_time(entry.created_at),
            "id": entry.decision_id,
            "differs": entry.ruleset_sha != running.info.sha256,
            "running": f"{running.info.name}, Version {running.info.version}",
        },
        "decision_id": entry.decision_id,
        "verlauf": history(logbook, running, entry.record_id, decision.entity, entry.decision_id),
    }

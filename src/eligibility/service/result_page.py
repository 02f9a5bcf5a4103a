"""What the result page and the Aktenvermerk show, as plain data for their templates:
per outcome the verdict, the reason and its citation, "seit" and "nächste Änderung" in
words, the checked facts with German values (unknown ones listed as such), the county
setting, and the timeline chart."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from eligibility.apps.timeline import Interval, Timeline, chart
from eligibility.decision.model import Decision, OutcomeDecision
from eligibility.decision.records import LATEST_DATE, normalize
from eligibility.lang.values import NEVER, format_value
from eligibility.source.forms import country_name
from eligibility.text.render import value_text

# "Nächste Änderung" looks this far ahead of the Stichtag.
HORIZON_DAYS = 3650
VERDICT = {"yes": "ja", "no": "nein", "unknown": "noch offen", "not_in_force": "nicht in Kraft"}
# Cause texts of the timeline that name a rule or outcome by its id (for programs); the
# page says the same with the rule's or outcome's label.
_RULE_CAUSE = re.compile(r"^Regel (\S+) tritt (in|außer) Kraft")
_OUTCOME_CAUSE = re.compile(r"^(\S+) (gilt ab hier|endet)$")


@dataclasses.dataclass(frozen=True)
class FactRow:
    name: str
    label: str
    value: str
    known: bool


@dataclasses.dataclass(frozen=True)
class OutcomeRow:
    id: str
    label: str
    status: str
    verdict: str
    reason: str
    citation: str | None
    since: str | None
    next_change: str | None
    questions: list[tuple[str, str]]
    assumptions: list[str]
    # For an open answer: the rules still undecided, by label, with their citation, so
    # that "noch offen" also says which provision waits for the missing fact.
    pending: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def overlay_names(engine: Any) -> list[str]:
    """The county settings (overlays) the service runs with, by their German names."""
    return [o.label.de if o.label else o.name for o in engine.compiled.model.overlays]


def fact_rows(engine: Any, entity: str, record: Mapping[str, Any]) -> list[FactRow]:
    """Every fact of the record type, in schema order, with its German value: dates as
    TT.MM.JJJJ, enum values by their label, "noch nicht geschehen" for an event that has
    not happened, and "unbekannt" for whatever was not answered."""
    ent = engine.entity(entity)
    facts, _ = normalize(record, ent.facts)
    rows = []
    for name, spec in ent.facts.items():
        if name not in facts:
            rows.append(FactRow(name, spec.label.de, "unbekannt", False))
            continue
        v = facts[name]
        if v is NEVER or (spec.event and v is None):
            text = "noch nicht geschehen"
        elif spec.type == "enum" and spec.value_labels and v in spec.value_labels:
            text = spec.value_labels[v].de
        elif spec.format == "iso3166_alpha3" and isinstance(v, str) and country_name(v):
            text = f"{country_name(v)} ({v})"
        else:
            text = format_value(v, "de")
        rows.append(FactRow(name, spec.label.de, text, True))
    return rows


def _rule_label(ent: Any, rule_id: str) -> str | None:
    for oc in ent.outcomes.values():
        for r in oc.rules:
            if r.id == rule_id:
                label: str = r.spec.label.de
                return label
    return None


def cause_words(ent: Any, cause: str) -> str:
    """A timeline cause as a person reads it: rules and outcomes by their labels."""
    m = _RULE_CAUSE.match(cause)
    if m:
        label = _rule_label(ent, m.group(1))
        if label:
            verb = "gilt ab diesem Tag" if m.group(2) == "in" else "gilt ab diesem Tag nicht mehr"
            return f"die Regelung „{label}“ {verb}{cause[m.end() :]}"
    m = _OUTCOME_CAUSE.match(cause)
    if m and m.group(1) in ent.outcomes:
        word = "beginnt" if m.group(2) == "gilt ab hier" else "endet"
        return f"„{ent.outcomes[m.group(1)].spec.label.de}“ {word}"
    return cause


def _word(ent: Any, oid: str, status: str, value: Any) -> str:
    if status in VERDICT:
        return VERDICT[status]
    return value_text(ent, oid, value, "de")


def _next_words(ent: Any, oid: str, nxt: Interval) -> str:
    word = _word(ent, oid, nxt.status, nxt.value)
    text = f"ab {nxt.start:%d.%m.%Y}: {word}"
    if nxt.status == "unknown" and nxt.missing:
        text += " (dann fehlt: " + ", ".join(ent.facts[f].label.de for f in nxt.missing if f in ent.facts) + ")"
    elif nxt.cause:
        text += " – Anlass: " + cause_words(ent, nxt.cause.de)
    return text


def outcome_rows(engine: Any, decision: Decision, timeline: Timeline | None) -> list[OutcomeRow]:
    ent = engine.entity(decision.entity)
    rows = []
    for oid, o in decision.outcomes.items():
        since = nxt = None
        if timeline is not None:
            day = timeline.since(oid, decision.on)
            if day is not None and o.status != "unknown":
                since = f"seit {day:%d.%m.%Y}"
            iv = timeline.next_change(oid, decision.on)
            nxt = _next_words(ent, oid, iv) if iv else None
        rows.append(
            OutcomeRow(
                id=oid,
                label=o.label.de,
                status=o.status,
                verdict=_word(ent, oid, o.status, o.value),
                reason=_reason(o),
                citation=o.source,
                since=since,
                next_change=nxt,
                questions=[(q.label.de, _question(q.question.de)) for q in o.questions],
                assumptions=[a.label.de + (f" – {a.note.de}" if a.note else "") for a in o.assumptions],
                pending=_pending(o),
            )
        )
    return rows


def _pending(o: OutcomeDecision) -> list[tuple[str, str]]:
    from eligibility.source.citations import localize

    if o.status != "unknown":
        return []
    return [(tr.label.de, localize(tr.source, "de") if tr.source else "") for tr in o.trace if tr.condition is None]


def _question(text: str) -> str:
    from eligibility.service.interview import question_text

    return question_text(text)


def _reason(o: OutcomeDecision) -> str:
    """The reason without the citation in brackets at its end: the page shows the
    citation in its own line, from the outcome's source."""
    text = o.reason.de
    if o.source:
        for tail in (f" ({o.source}) [Annahme]", f" ({o.source})"):
            if text.endswith(tail):
                return text[: -len(tail)] + (" [Annahme]" if tail.endswith("[Annahme]") else "")
    return text


def timeline_for(engine: Any, record: Mapping[str, Any], entity: str, on: dt.date) -> Timeline | None:
    """The record's timeline up to ten years after the Stichtag (never past the calendar's
    end), or None when the calendar ends too soon to compute one."""
    try:
        t: Timeline = engine.timeline(record, end=min(on + dt.timedelta(days=HORIZON_DAYS), LATEST_DATE), entity=entity)
    except (ValueError, OverflowError):
        return None
    return t


def timeline_chart(engine: Any, timeline: Timeline, on: dt.date) -> dict[str, Any]:
    return chart(engine, timeline, on)

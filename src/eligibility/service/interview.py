"""The caseworker's interview: which fact to ask next, and the answers so far.

Nothing is kept on the server between two steps. Every step's form carries all answers
given so far in hidden fields, and every step re-reads them exactly as the full form's
fields are read (the same `record_from_form`, then the engine's own field checks): a
tampered hidden field is just another answer, validated like the visible ones, and
nothing personal outlives the request.

What to ask comes from the engine itself: the record as answered so far is decided (an
unanswered fact is unknown, never false), and only facts some outcome still lists as
missing on the Stichtag are candidates, ordered by how many outcomes wait for them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from eligibility.decision.model import Decision
from eligibility.decision.records import LATEST_DATE, parse_date

# The three states of an event date, as the form's choice names them.
EVENT_DATE = "datum"
EVENT_NOT_YET = "nicht_eingetreten"
EVENT_UNKNOWN = "unbekannt"
EVENT_CHOICES = {EVENT_DATE: "am", EVENT_NOT_YET: "noch nicht geschehen", EVENT_UNKNOWN: "unbekannt"}
# A radio button's value for "Weiß ich nicht" (no fact has a value that looks like this).
DONT_KNOW = "__unbekannt"
# How many facts the first step asks besides the Stichtag.
START_FACTS = 2

# A date written as a date whose day does not exist (31.02.2018): the engine's message
# names the expected formats, which the caseworker did use; the page says what is wrong.
_DATE_SHAPE = re.compile(r"^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
IMPOSSIBLE_DATE = "Das ist kein gültiges Datum: diesen Tag gibt es im Kalender nicht. Bitte prüfen (TT.MM.JJJJ)."

# The schema's questions were written for rosters, where an empty cell of an event date
# means "has not happened". On the page an empty field means unknown and the three-way
# choice says "noch nicht geschehen"; the roster hint would contradict it.
_ROSTER_HINT = re.compile(r"\s*\((?:leer lassen|leave empty)[^)]*\)")


def question_text(text: str) -> str:
    """A schema question as the page shows it (without the roster's empty-cell hint)."""
    return _ROSTER_HINT.sub("", text).strip()


@dataclasses.dataclass(frozen=True)
class Answers:
    """What the caseworker has said so far: raw field values as typed (the same names as
    the full form: `<fact>` and for event dates `<fact>__art`), the facts answered with
    "Weiß ich nicht", the Stichtag as typed and the record type."""

    entity: str
    on_text: str
    values: Mapping[str, str]
    unknown: frozenset[str]

    def answered(self, fact: str) -> bool:
        if fact in self.unknown:
            return True
        if (self.values.get(fact) or "").strip():
            return True
        return self.values.get(f"{fact}__art") in (EVENT_NOT_YET, EVENT_DATE)

    def hidden(self) -> list[tuple[str, str]]:
        """The answers as hidden form fields, in a stable order."""
        out = [(k, v) for k, v in sorted(self.values.items()) if v]
        if self.unknown:
            out.append(("unbekannt", ",".join(sorted(self.unknown))))
        return out


def answers_from_form(engine: Any, form: Mapping[str, str]) -> Answers:
    """The answers a step's form carries (hidden fields and the questions just answered).
    Only names of the record type's facts are kept: anything else is ignored."""
    entity = form.get("art") or engine.default_entity
    if entity not in engine.entities:
        entity = engine.default_entity
    facts = engine.entity(entity).facts
    values: dict[str, str] = {}
    unknown = {f for f in (form.get("unbekannt") or "").split(",") if f in facts}
    for name, spec in facts.items():
        raw = (form.get(name) or "").strip()
        if raw == DONT_KNOW:
            unknown.add(name)
            continue
        if spec.event:
            kind = form.get(f"{name}__art") or ""
            if kind == EVENT_UNKNOWN and not raw:
                if name in asked(form):
                    unknown.add(name)  # "unbekannt" chosen for the question on this step
                continue
            if kind in EVENT_CHOICES:
                values[f"{name}__art"] = kind
        if raw:
            values[name] = raw
    # An answer given now replaces an earlier "Weiß ich nicht".
    unknown -= {n for n in facts if (values.get(n) or values.get(f"{n}__art") == EVENT_NOT_YET)}
    return Answers(entity, (form.get("stichtag") or "").strip(), values, frozenset(unknown))


def asked(form: Mapping[str, str]) -> list[str]:
    """The facts the submitted step showed as questions (hidden field `frage`)."""
    return [f for f in (form.get("frage") or "").split(",") if f]


def with_unknown(answers: Answers, fact: str) -> Answers:
    """The answers after "Weiß ich nicht" to `fact` (what was typed for it is dropped:
    the caseworker said it is not known)."""
    values = {k: v for k, v in answers.values.items() if k not in (fact, f"{fact}__art")}
    return dataclasses.replace(answers, values=values, unknown=answers.unknown | {fact})


def record_from_form(
    engine: Any, form: Mapping[str, str], entity: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form fields → record, and the problems per field (German, shown at the field).

    Event dates have three states: a date, "noch nicht geschehen" (an explicit empty
    value) and unknown (left out). A typed date is never dropped: with the choice still
    at "unbekannt" the date is what the caseworker meant; only a date together with "noch
    nicht geschehen" contradicts itself and is asked back. Other empty fields are unknown."""
    ent = engine.entity(entity)
    record: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, f in ent.facts.items():
        value = (form.get(name) or "").strip()
        if value == DONT_KNOW:
            continue
        if f.event:
            kind = form.get(f"{name}__art") or EVENT_UNKNOWN
            if kind == EVENT_NOT_YET:
                if value:
                    problems[name] = (
                        "Ein Datum ist eingetragen, aber „noch nicht geschehen“ gewählt: bitte das eine oder das andere"
                    )
                else:
                    record[name] = None
            elif value and _DATE_SHAPE.match(value) and parse_date(value) is None:
                problems[name] = IMPOSSIBLE_DATE
            elif value:
                record[name] = value
            elif kind == EVENT_DATE:
                problems[name] = "Bitte ein Datum eintragen (TT.MM.JJJJ) oder „unbekannt“ wählen"
            continue
        if value and f.type == "date" and _DATE_SHAPE.match(value) and parse_date(value) is None:
            problems[name] = IMPOSSIBLE_DATE
            continue
        if value:
            record[name] = value
    return record, problems


def stichtag(on_text: str) -> tuple[dt.date | None, str | None]:
    """The Stichtag as typed (empty: today), or the German message why it is none."""
    if not on_text:
        return dt.date.today(), None
    day = parse_date(on_text)
    if day is None:
        return None, "Kein gültiges Datum – bitte als TT.MM.JJJJ eingeben (z. B. 15.09.2018)"
    if day > LATEST_DATE:
        return None, f"Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen"
    return day, None


def field_problems(decision: Decision) -> dict[str, str]:
    """The engine's field errors, German, by field ("on" is the Stichtag)."""
    out: dict[str, str] = {}
    for e in decision.errors:
        key = "stichtag" if e.field == "on" else (e.field or "")
        text = e.message.de
        # Shown at the field, whose label is beside it: not the field's id in front.
        if e.field and text.startswith(f"{e.field}: "):
            text = text[len(e.field) + 2 :]
        out.setdefault(key, text[:1].upper() + text[1:])
    return out


def ranking(decision: Decision, skip: frozenset[str] | set[str] = frozenset()) -> list[tuple[str, int]]:
    """The facts some outcome still waits for on the Stichtag, with how many outcomes list
    each: most first; ties in the order of the facts schema (the order a file is read in)."""
    counts: dict[str, int] = {}
    for o in decision.outcomes.values():
        for fact in o.missing:
            if fact not in skip:
                counts[fact] = counts.get(fact, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def next_question(engine: Any, decision: Decision, answers: Answers) -> str | None:
    """The fact to ask next, or None when no answer could change an outcome any more
    (every outcome is decided, or everything it waits for was answered "Weiß ich nicht")."""
    order = {name: i for i, name in enumerate(engine.entity(answers.entity).facts)}
    skip = {f for f in order if answers.answered(f)}
    ranked = ranking(decision, frozenset(skip))
    if not ranked:
        return None
    ranked.sort(key=lambda kv: (-kv[1], order.get(kv[0], len(order))))
    return ranked[0][0]


_START_CACHE: dict[tuple[str, str], list[str]] = {}


def start_facts(engine: Any, entity: str | None = None) -> list[str]:
    """The facts the first step asks: those the most outcomes wait for when nothing is
    known, summed over one day (15.09.) of every year the rule set covers up to today, so
    the start does not depend on a Stichtag not yet typed (for persons: Aufenthaltsstatus
    and Unterbringung). Computed, not listed: a changed rule set changes the start too."""
    ent = engine.entity(entity)
    key = (engine.info.sha256, ent.name)
    if key not in _START_CACHE:
        first = engine.compiled.model.manifest.valid_from.year
        counts: dict[str, int] = {}
        for year in range(first, max(first, dt.date.today().year) + 1):
            decision = engine.decide({}, dt.date(year, 9, 15), entity=ent.name, explain=False)
            for fact, n in ranking(decision):
                counts[fact] = counts.get(fact, 0) + n
        order = {name: i for i, name in enumerate(ent.facts)}
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order))))
        _START_CACHE[key] = [fact for fact, _ in ranked[:START_FACTS]]
    return list(_START_CACHE[key])

"""A logged decision made again: the one definition of how a stored entry is re-decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eligibility.decisionlog import chain
from eligibility.decisionlog.records import StoredDecision
from eligibility.decisionlog.store import DecisionLog, LogError

FORMS = ("explained", "plain", "batch")


def strip_traces(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The batch form of a decision: outcomes without their trace (NDJSON lines stay small)."""
    outcomes = {k: {f: v for f, v in o.items() if f != "trace"} for k, o in doc["outcomes"].items()}
    return {**doc, "outcomes": outcomes}


def decision_doc(engine: Any, facts: Any, on: str | None, entity: str | None, form: str) -> dict[str, Any]:
    """The decision of `facts` on `on` in the given form, as the service logs it."""
    if form not in FORMS:
        raise ValueError(f"unknown form of a logged decision: {form!r}")
    doc = engine.decide_data(facts, on, entity=entity, explain=form == "explained")
    return strip_traces(doc) if form == "batch" else doc


@dataclass(frozen=True)
class Reproduction:
    entry: StoredDecision
    text: str  # the decision made again, as the log stores decisions

    @property
    def identical(self) -> bool:
        return self.text == self.entry.decision_text


def reproduce(log: DecisionLog, decision_id: str) -> Reproduction:
    """Decide a logged entry again from its stored facts and its stored rule set."""
    entry = log.get(decision_id)
    if entry is None or entry.kind != "decision":
        raise LogError(
            f"Entscheidung {decision_id} ist nicht im Protokoll", f"decision {decision_id} is not in the log"
        )
    if entry.erased_by is not None or entry.ruleset_sha is None or entry.form is None:
        raise LogError(f"Entscheidung {decision_id} wurde gelöscht", f"decision {decision_id} was erased")
    engine = log.engine_for(entry.ruleset_sha)
    doc = decision_doc(engine, entry.facts, entry.on, entry.entity, entry.form)
    return Reproduction(entry, chain.dumps(doc))

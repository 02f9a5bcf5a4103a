"""`GET /v1/decisions` and `GET /v1/decisions/{id}`: the decision log, found again (issue 17).

Guarded by the bearer token like every /v1 route. Record ids travel in the query string
here (a search has no body), but the access log writes the path only, never the query."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from eligibility.decisionlog import StoredDecision, chain
from eligibility.service.logbook import UNAVAILABLE, Logbook

log = logging.getLogger("eligibility.service.app")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
NO_LOG = "no decision log configured"


class RulesetRef(BaseModel):
    name: str | None
    version: str | None
    sha256: str | None


class DecisionSummary(BaseModel):
    decision_id: str
    record_id: str | None
    entity: str | None
    on: str | None
    created_at: str = Field(description="When it was logged (UTC, ISO 8601).")
    source: str | None = Field(description="api, batch, page, aktenvermerk or cli.")
    user: str | None
    aktenzeichen: str | None
    ruleset: RulesetRef
    outcomes: dict[str, Any] = Field(description="Each outcome's value.")


class DecisionList(BaseModel):
    items: list[DecisionSummary]
    next: str | None = Field(description="The next page (older decisions), or null.")


class StoredDecisionOut(DecisionSummary):
    form: str | None = Field(description="explained, plain or batch: how to make it again.")
    overlays: list[str]
    facts: Any = Field(description="The record as given.")
    decision: dict[str, Any] = Field(description="The decision exactly as it was answered (without decision_id).")


def _day(value: str | None, field: str) -> tuple[str | None, dict[str, str] | None]:
    if value is None or value == "":
        return None, None
    try:
        return dt.date.fromisoformat(value).isoformat(), None
    except ValueError:
        return None, {"field": field, "message": "expected a date YYYY-MM-DD"}


def stored_json(entry: StoredDecision) -> bytes:
    """The stored entry as JSON, the stored decision text embedded byte for byte."""
    head = chain.dumps_facts({**entry.summary(), "form": entry.form, "overlays": entry.overlays, "facts": entry.facts})
    return (head[:-1] + ',"decision":' + (entry.decision_text or "null") + "}").encode()


def register_decisions(app: FastAPI, logbook: Logbook, problem: Any, problem_model: Any) -> None:
    missing: dict[int | str, dict[str, Any]] = {404: {"model": problem_model}}

    @app.get(
        "/v1/decisions",
        tags=["decision log"],
        response_model=DecisionList,
        responses={**missing, 422: {"model": problem_model}},
    )
    async def decisions(
        record_id: str | None = None,
        start: str | None = Query(
            default=None, alias="from", description="First day (YYYY-MM-DD, UTC) the decision was logged on."
        ),
        end: str | None = Query(default=None, alias="to", description="Last day (YYYY-MM-DD, UTC, inclusive)."),
        entity: str | None = None,
        limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        before: int | None = Query(
            default=None, ge=1, le=2**62, description="The cursor of the previous page's `next`."
        ),
    ) -> Any:
        """Logged decisions, newest first, paged."""
        if logbook.log is None:
            return problem(404, "Not found", NO_LOG)
        day_from, bad_from = _day(start, "from")
        day_to, bad_to = _day(end, "to")
        errors = [e for e in (bad_from, bad_to) if e]
        if errors:
            return problem(422, "Invalid request", "see errors", errors)
        try:
            page = await asyncio.to_thread(
                logbook.log.page,
                record_id=record_id,
                start=day_from,
                end=day_to,
                limit=limit,
                before=before,
                entity=entity,
            )
        except Exception as exc:  # noqa: BLE001 - a database that cannot be read: like one that cannot be written
            log.error("decision log not read: %s", type(exc).__name__)
            return problem(503, UNAVAILABLE)
        nxt = None
        if page.next_before is not None:
            query = {"record_id": record_id, "from": day_from, "to": day_to, "entity": entity, "limit": limit}
            kept = {k: v for k, v in query.items() if v is not None}
            nxt = "/v1/decisions?" + urlencode({**kept, "before": page.next_before})
        body = {"items": [e.summary() for e in page.items], "next": nxt}
        return Response(chain.dumps(body).encode(), media_type="application/json")

    @app.get(
        "/v1/decisions/{decision_id}",
        tags=["decision log"],
        response_model=StoredDecisionOut,
        responses=missing,
    )
    async def stored_decision(decision_id: str) -> Any:
        """A logged decision: its summary, the facts as given and the decision as answered."""
        if logbook.log is None:
            return problem(404, "Not found", NO_LOG)
        try:
            entry = await asyncio.to_thread(logbook.log.get, decision_id)
        except Exception as exc:  # noqa: BLE001 - a database that cannot be read: like one that cannot be written
            log.error("decision log not read: %s", type(exc).__name__)
            return problem(503, UNAVAILABLE)
        if entry is None or entry.kind != "decision" or entry.erased_by is not None:
            return problem(404, "Not found", "no such decision in the log")
        return Response(stored_json(entry), media_type="application/json")

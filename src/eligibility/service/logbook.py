"""The service's side of the decision log (issue 17): what it stores for each answer, and the
retention sweep. Off unless `serve --log URL` is given: personal data is kept only on purpose.

A decision is handed out only once its entry is committed (`DecisionLog.record` waits for the
group commit), so every `decision_id` in an answer names a stored decision; when the log cannot
be written the answer is a 503, never an unlogged decision. Nothing personal is written to the
service's own log: failures are reported by their exception type."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from eligibility.decisionlog import DecisionLog, LogError, NewDecision, open_log
from eligibility.decisionlog.reproduce import decision_doc
from eligibility.decisionlog.store import redacted

log = logging.getLogger("eligibility.service.app")

# Retention is applied on start and then once a day.
RETENTION_SECONDS = 24 * 3600
UNAVAILABLE = "Decision log unavailable"


class LogUnavailable(Exception):
    """Writing the decision log failed: the decision is not handed out."""


class Logbook:
    """The open decision log of a service (or none), and how the service writes to it."""

    def __init__(self, url: str | None, keep_days: int | None = None) -> None:
        if keep_days is not None and keep_days < 1:
            raise LogError("--keep-days muss mindestens 1 sein", "--keep-days must be at least 1")
        self.keep_days = keep_days
        self.log: DecisionLog | None = None
        if url:
            try:
                self.log = open_log(url)
            except LogError:
                raise
            except Exception as exc:  # noqa: BLE001 - a path that cannot be created, a bad URL
                raise LogError(
                    f"Entscheidungsprotokoll {redacted(url)} lässt sich nicht öffnen: {type(exc).__name__}",
                    f"decision log {redacted(url)} cannot be opened: {type(exc).__name__}",
                ) from exc

    @property
    def on(self) -> bool:
        return self.log is not None

    def record(self, engine: Any, items: Sequence[NewDecision]) -> list[str]:
        """Store decisions; their ids once committed. Raises LogUnavailable."""
        assert self.log is not None
        try:
            return self.log.record(engine, items)
        except Exception as exc:  # noqa: BLE001 - any failure of the database: no unlogged decision
            log.error("decision log not written: %s", type(exc).__name__)
            raise LogUnavailable from exc

    def decide(
        self,
        engine: Any,
        facts: Any,
        on: Any,
        entity: str | None,
        form: str,
        source: str,
        user: str | None = None,
        aktenzeichen: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Decide `facts` in the logged form and store the decision: (doc, decision_id)."""
        doc = decision_doc(engine, facts, None if on is None else str(on), entity, form)
        ids = self.record(
            engine, [NewDecision(doc, facts, source, form=form, user=user or None, aktenzeichen=aktenzeichen or None)]
        )
        return doc, ids[0]

    def retention(self) -> None:
        if self.log is None or self.keep_days is None:
            return
        try:
            done = self.log.apply_retention(self.keep_days)
        except Exception as exc:  # noqa: BLE001 - retried tomorrow; the service goes on
            log.error("decision log retention failed: %s", type(exc).__name__)
            return
        if done.count:
            log.info("decision log retention: %d decisions older than %d days emptied", done.count, self.keep_days)

    async def retention_loop(self) -> None:
        """Retention now and then daily, in a thread: a sweep never holds up a request."""
        while True:
            await asyncio.to_thread(self.retention)
            await asyncio.sleep(RETENTION_SECONDS)

    def close(self) -> None:
        if self.log is not None:
            with contextlib.suppress(Exception):
                self.log.close()

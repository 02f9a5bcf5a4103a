"""`POST /v1/decide/batch`: one answer line per record, in order, and a summary line; with the
decision log on, each chunk of decided lines is stored before it is sent, so every decision
line carries its `decision_id`."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

from eligibility.decisionlog import NewDecision
from eligibility.decisionlog.reproduce import strip_traces
from eligibility.engine import Engine
from eligibility.service.bodies import BadLine
from eligibility.service.logbook import UNAVAILABLE, Logbook, LogUnavailable

log = logging.getLogger("eligibility.service.app")

# Decided lines stored per transaction of the decision log.
LOG_CHUNK = 500


BATCH_DESCRIPTION = (
    "One line per record, in input order, each with `index`: the decision, or for a record that is "
    "not a JSON object or cannot be decided a line with `index`, `record_id` and `problem` (an RFC 9457 "
    'problem object). The last line is `{"summary": {"records_in", "lines_out", "decisions", '
    '"problems", "with_field_errors"}}`: a response without it, or with records_in != lines_out, '
    "is incomplete."
)


def batch_line(engine: Engine, index: int, rec: Any, day: dt.date, entity: str | None) -> dict[str, Any]:
    """The answer line for one batch record: its decision, or its id and a problem."""
    if not isinstance(rec, dict):
        bad = (
            rec
            if isinstance(rec, BadLine)
            else BadLine("record", "Zeile ist kein JSON-Objekt", "line is not a JSON object")
        )
        return {
            "index": index,
            "record_id": None,
            "problem": {"type": "about:blank", "title": "Invalid record", "status": 422, "detail": bad.en},
            "errors": [{"field": None, "code": bad.code, "message": {"de": bad.de, "en": bad.en}}],
        }
    ent = engine.entity(entity)
    rid = rec.get(ent.id_field) if ent.id_field else None
    rid = None if rid is None else str(rid)
    try:
        doc = engine.decide_data(rec, day, entity=entity, explain=False)
    except (ValueError, OverflowError):
        # Date arithmetic beyond year 9999: this record gets its problem, the stream goes on.
        return {
            "index": index,
            "record_id": rid,
            "problem": {
                "type": "about:blank",
                "title": "Record cannot be decided",
                "status": 422,
                "detail": "a date lies too close to the end of the calendar (year 9999) or beyond",
            },
            "errors": [
                {
                    "field": None,
                    "code": "undecidable",
                    "message": {
                        "de": "Datensatz kann nicht entschieden werden: ein Datum liegt zu nahe am Ende des "
                        "Kalenders (Jahr 9999) oder außerhalb",
                        "en": "record cannot be decided: a date lies too close to the end of the calendar "
                        "(year 9999) or beyond",
                    },
                }
            ],
        }
    except Exception as exc:  # noqa: BLE001 - one record's failure must not cut the stream
        log.error("internal error in batch record %d: %s", index, type(exc).__name__)  # no record content
        return {
            "index": index,
            "record_id": rid,
            "problem": {"type": "about:blank", "title": "Internal error", "status": 500},
            "errors": [
                {
                    "field": None,
                    "code": "internal",
                    "message": {"de": "interner Fehler bei diesem Datensatz", "en": "internal error for this record"},
                }
            ],
        }
    return {"index": index, **strip_traces(doc)}


def _unavailable(index: int, rid: Any) -> dict[str, Any]:
    return {
        "index": index,
        "record_id": rid,
        "problem": {"type": "about:blank", "title": UNAVAILABLE, "status": 503},
        "errors": [
            {
                "field": None,
                "code": "decision_log",
                "message": {
                    "de": "Entscheidungsprotokoll nicht beschreibbar: keine Entscheidung ohne Protokoll",
                    "en": "decision log cannot be written: no decision without its entry",
                },
            }
        ],
    }


def batch_stream(
    engine: Engine,
    records: list[Any],
    day: dt.date,
    entity: str | None,
    logbook: Logbook,
    user: str | None,
) -> Iterator[bytes]:
    """Every record yields exactly one line, in order, and a last line sums up, so a client
    can tell a complete answer from a cut one. Once the log fails, the remaining records get
    a 503 problem line each: no decision leaves unlogged."""
    problems = field_errors = out = 0
    broken = False
    # Without a log a line is sent as soon as it is decided; with one, a chunk at a time.
    size = LOG_CHUNK if logbook.on else 1
    for start in range(0, len(records), size):
        lines = [
            batch_line(engine, i, rec, day, entity)
            for i, rec in enumerate(records[start : start + size], start=start + 1)
        ]
        if logbook.on:
            decided = [(n, line) for n, line in enumerate(lines) if "problem" not in line]
            if broken:
                ids = None
            else:
                items = [
                    NewDecision(
                        {k: v for k, v in line.items() if k != "index"},
                        records[start + n],
                        "batch",
                        form="batch",
                        user=user,
                    )
                    for n, line in decided
                ]
                try:
                    ids = logbook.record(engine, items)
                except LogUnavailable:
                    ids, broken = None, True
            for pos, (n, line) in enumerate(decided):
                lines[n] = (
                    _unavailable(line["index"], line.get("record_id"))
                    if ids is None
                    else {**line, "decision_id": ids[pos]}
                )
        for line in lines:
            if "problem" in line:
                problems += 1
            elif line.get("errors"):
                field_errors += 1
            out += 1
            yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
    yield (
        json.dumps(
            {
                "summary": {
                    "records_in": len(records),
                    "lines_out": out,
                    "decisions": out - problems,
                    "problems": problems,
                    "with_field_errors": field_errors,
                }
            }
        )
        + "\n"
    ).encode()

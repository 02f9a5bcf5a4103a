"""`eligibility serve`: the engine behind a small HTTP service (FastAPI on uvicorn).

JSON API under /v1 with the same decision JSON as the CLI and the Python API; errors as
RFC 9457 problem details; the rule set is loaded once and reloaded when its files change
(a new hash appears in responses), without dropping requests. The caseworker page at /
lives in `page.py`; authentication, limits and headers in `security.py`. Nothing personal is
logged: the access log carries method, path, status and duration only, and records travel in
request bodies, never in URLs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from eligibility import __version__
from eligibility.decision.model import Decision
from eligibility.decision.records import DateOutOfRange, normalize
from eligibility.engine import Engine
from eligibility.service.bodies import (
    BadLine,
    Twice,
    Unprocessable,
    ndjson_record,
    reject_duplicate_keys,
    tag_duplicates,
)
from eligibility.service.jobs import JobLimits, RosterPool, sweep
from eligibility.service.reload import EngineHolder
from eligibility.service.security import Guard, Limits, Sessions, check_token, exposure_error, token_from

log = logging.getLogger("eligibility.service.app")

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # bytes
MAX_BATCH = Limits.max_records


# ---------------------------------------------------------------- models


class DecideRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "record": {
                        "person_id": "P-1",
                        "aufenthaltsstatus": "fluechtling",
                        "aufenthaltstitel_datum": "2017-05-02",
                        "unterbringung": "anschluss",
                    },
                    "on": "2018-09-15",
                }
            ]
        },
    )

    record: dict[str, Any] = Field(description="The person record (fields of GET /v1/schema/person).")
    on: dt.date | None = Field(default=None, description="Reference date; default today.")
    entity: str | None = Field(default=None, description="Record type (default: person; e.g. stelle).")
    explain: bool = Field(default=True, description="Include the rule trace and explanation trees.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(max_length=MAX_BATCH)
    on: dt.date | None = None
    entity: str | None = None


class TimelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    record: dict[str, Any]
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    entity: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class OutcomeInfo(BaseModel):
    id: str
    label: dict[str, str]
    type: str
    values: list[str] | None = None
    sources: list[str]


class RulesInfo(BaseModel):
    name: str
    version: str
    sha256: str
    overlays: list[str]
    jurisdiction: str
    valid_from: dt.date
    entities: dict[str, list[OutcomeInfo]]
    engine_version: str


class ReloadDiagnostic(BaseModel):
    code: str
    severity: str
    file: str
    line: int
    column: int
    message: str


class ReloadFailureInfo(BaseModel):
    at: str = Field(description="When the refused reload was judged (UTC, ISO 8601).")
    diagnostics: list[ReloadDiagnostic]


class Health(BaseModel):
    status: Literal["ok"]
    ruleset: dict[str, str]
    reload_error: bool
    reload: ReloadFailureInfo | None = Field(
        default=None, description="Why the last reload was refused; the running rule set is the last good one."
    )


def problem(
    status: int, title: str, detail: str | None = None, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


# ---------------------------------------------------------------- app


def create_app(
    rules: str | Path | None = None,
    overlays: list[str] | None = None,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    reload_seconds: float | None = 2.0,
    *,
    limits: Limits | None = None,
    job_limits: JobLimits | None = None,
    log_client: bool = False,
    secure_cookie: bool | None = None,
) -> FastAPI:
    """The app. `token` (at least 16 characters) guards every route but `/healthz`: the API
    by bearer token, the page by a login. `limits` bound each request (its `max_body` wins
    over the older `max_body` argument); `job_limits` bound roster uploads."""
    check_token(token)
    limits = limits or Limits(max_body=max_body)
    max_body = limits.max_body
    holder = EngineHolder(rules, overlays or [], reload_seconds or 2.0)
    pool = RosterPool(job_limits)
    sessions = Sessions()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if reload_seconds:
            holder.start()
        # Workers started now, not when the first caseworker uploads a roster.
        warming = asyncio.create_task(_prestart(pool, holder.engine))
        try:
            yield
        finally:
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming  # its finally removes the warm-up folder
            # SIGTERM: uvicorn stops accepting, lets requests finish (bounded), then here:
            # end the roster workers and remove upload folders no request could remove.
            holder.stop()
            pool.close()
            sweep(app.state.uploads)

    app = FastAPI(
        title="eligibility",
        version=__version__,
        lifespan=lifespan,
        description="Decides whether a person belongs to the target groups of Baden-Württemberg's "
        "Pakt für Integration, and explains why. Decisions are the same JSON as "
        "`eligibility check --format json`.",
        responses={413: {"model": Problem}, 401: {"model": Problem}},
    )
    app.state.holder = holder
    app.state.pool = pool
    app.state.uploads = set()
    app.state.limits = limits
    app.add_middleware(
        Guard, token=token, sessions=sessions, limits=limits, log_client=log_client, secure_cookie=secure_cookie
    )

    def openapi_with_security() -> dict[str, Any]:
        # Declared whether or not this instance has a token: clients are written against
        # the description, and an office instance has one.
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token of ELIGIBILITY_TOKEN_FILE / ELIGIBILITY_TOKEN (when one is set).",
                }
            }
            doc["security"] = [{"bearer": []}]
            for path, item in doc.get("paths", {}).items():
                if not path.startswith("/v1/"):
                    for operation in item.values():
                        operation["security"] = []
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi_with_security  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(422, "Invalid request", "see errors", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crash(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)  # no record content in logs
        # The traceback can quote values of the record: only when asked for, never in the answer.
        log.debug("internal error", exc_info=exc)
        return problem(500, "Internal error")

    def engine_for(entity: str | None) -> Engine:
        engine = holder.engine
        if entity is not None and entity not in engine.entities:
            raise Unprocessable("entity", f"unknown record type '{entity}' (known: {', '.join(engine.entities)})")
        return engine

    @app.exception_handler(Unprocessable)
    async def unprocessable(_request: Request, exc: Unprocessable) -> JSONResponse:
        return problem(422, "Invalid record", exc.message, [{"field": exc.field, "message": exc.message}])

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        info = holder.engine.info
        return Health(
            status="ok",
            ruleset={"name": info.name, "version": info.version, "sha256": info.sha256},
            reload_error=holder.failure is not None,
            reload=None if holder.failure is None else ReloadFailureInfo(**holder.failure.as_json()),
        )

    @app.post(
        "/v1/decide",
        response_model=Decision,
        tags=["decisions"],
        responses={422: {"model": Problem}},
        dependencies=[Depends(reject_duplicate_keys)],
    )
    def decide(body: DecideRequest) -> Any:
        engine = engine_for(body.entity)
        # The decision as data (no model built): the same JSON, tested.
        try:
            d = engine.decide_data(body.record, body.on, entity=body.entity, explain=body.explain)
        except DateOutOfRange as exc:
            return problem(422, "Invalid request", str(exc), [{"field": "on", "message": str(exc)}])
        except (ValueError, OverflowError):
            # A reference date so late that periods from it end beyond year 9999.
            return problem(422, "Invalid request", TOO_LATE, [{"field": "on", "message": TOO_LATE}])
        if d["errors"]:
            errors = [
                {
                    "field": f"record.{e['field']}" if e["field"] and e["field"] != "on" else (e["field"] or "record"),
                    "code": e["code"],
                    "message": e["message"]["en"],
                }
                for e in d["errors"]
            ]
            return problem(422, "Invalid record", "; ".join(e["message"]["en"] for e in d["errors"]), errors)
        return JSONResponse(d)

    @app.post(
        "/v1/decide/batch",
        tags=["decisions"],
        responses={
            200: {"content": {"application/x-ndjson": {}}, "description": BATCH_DESCRIPTION},
            422: {"model": Problem},
        },
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": BatchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
                "required": True,
            }
        },
    )
    async def decide_batch(request: Request) -> Any:
        engine = holder.engine
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        raw = await request.body()
        if len(raw) > max_body:
            return problem(413, "Request body too large", f"at most {max_body} bytes")
        on: dt.date | None = None
        entity: str | None = None
        if ctype in ("application/x-ndjson", "application/jsonl"):
            on_text = request.query_params.get("on")
            try:
                on = dt.date.fromisoformat(on_text) if on_text else None
            except ValueError:
                return problem(422, "Invalid request", None, [{"field": "on", "message": "expected YYYY-MM-DD"}])
            entity = request.query_params.get("entity")
            lines = [line for line in raw.split(b"\n") if line.strip()]
            if len(lines) > limits.max_records:
                # Refused before the first line is answered: a client can tell it apart
                # from a cut stream, and nothing is half done.
                return problem(
                    413, "Too many records", f"at most {limits.max_records} records per batch; got {len(lines)}"
                )
            records: list[Any] = [ndjson_record(line) for line in lines]
        else:
            try:
                parsed = json.loads(raw, object_pairs_hook=tag_duplicates)
            except RecursionError:
                return problem(422, "Invalid request", None, [{"field": "body", "message": "JSON nested too deeply"}])
            except (ValueError, UnicodeDecodeError):
                parsed = None  # not JSON: pydantic names the error below
            if isinstance(parsed, Twice):
                return problem(
                    422, "Invalid request", None, [{"field": parsed.key, "message": "key occurs twice in the request"}]
                )
            twice: dict[int, str] = {}
            if isinstance(parsed, dict) and isinstance(parsed.get("records"), list):
                twice = {i: r.key for i, r in enumerate(parsed["records"]) if isinstance(r, Twice)}
            try:
                payload = BatchRequest.model_validate_json(raw)
            except Exception as exc:  # noqa: BLE001 - pydantic or JSON error
                errs: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
                return problem(
                    422,
                    "Invalid request",
                    None,
                    [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in errs]
                    or [{"field": "body", "message": "not valid JSON"}],
                )
            records, on, entity = list(payload.records), payload.on, payload.entity
            if len(records) > limits.max_records:
                return problem(
                    413, "Too many records", f"at most {limits.max_records} records per batch; got {len(records)}"
                )
            for i, key in twice.items():
                records[i] = BadLine.duplicate(key)
        if entity is not None and entity not in engine.entities:
            return problem(
                422, "Invalid record", f"unknown record type '{entity}'", [{"field": "entity", "message": "unknown"}]
            )
        day = on or dt.date.today()

        def stream() -> Iterator[bytes]:
            # Every record yields exactly one line, in order, and a last line sums up, so a
            # client can tell a complete answer from a cut one.
            problems = field_errors = out = 0
            for i, rec in enumerate(records, start=1):
                line = batch_line(engine, i, rec, day, entity)
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

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @app.post(
        "/v1/timeline",
        tags=["decisions"],
        responses={422: {"model": Problem}},
        dependencies=[Depends(reject_duplicate_keys)],
    )
    def timeline(body: TimelineRequest) -> Any:
        engine = engine_for(body.entity)
        # A field that cannot be read would count as unknown in every interval: refused as
        # in /v1/decide.
        _, field_errors = normalize(body.record, engine.entity(body.entity).facts)
        if field_errors:
            errors = [{"field": f"record.{e.field}", "code": e.code, "message": e.en} for e in field_errors]
            return problem(422, "Invalid record", "; ".join(e.en for e in field_errors), errors)
        try:
            t = engine.timeline(body.record, body.start, body.end, entity=body.entity)
        except OverflowError:
            return problem(422, "Invalid request", TOO_LATE, [{"field": "to", "message": TOO_LATE}])
        except ValueError as exc:
            return problem(422, "Invalid request", str(exc), [{"field": "to", "message": str(exc)}])
        return JSONResponse(json.loads(t.model_dump_json(by_alias=True)))

    @app.get("/v1/rules", response_model=RulesInfo, tags=["rules"])
    def rules_info() -> RulesInfo:
        engine = holder.engine
        m = engine.compiled.model
        entities = {}
        for ename in engine.entities:
            ent = engine.entity(ename)
            entities[ename] = [
                OutcomeInfo(
                    id=oid,
                    label={"de": oc.spec.label.de, "en": oc.spec.label.get("en")},
                    type=oc.spec.type,
                    values=oc.spec.values,
                    sources=sorted({r.spec.source for r in oc.rules if r.spec.source}),
                )
                for oid, oc in ((o, ent.outcomes[o]) for o in ent.outcome_order)
            ]
        return RulesInfo(
            name=m.manifest.name,
            version=m.manifest.version,
            sha256=m.sha256,
            overlays=engine.info.overlays,
            jurisdiction=m.manifest.jurisdiction,
            valid_from=m.manifest.valid_from,
            entities=entities,
            engine_version=__version__,
        )

    @app.get("/v1/schema/{entity}", tags=["rules"], responses={404: {"model": Problem}})
    def schema(entity: str) -> Any:
        engine = holder.engine
        if entity not in engine.entities:
            return problem(404, "Unknown record type", f"known: {', '.join(engine.entities)}")
        return JSONResponse(engine.facts_schema(entity), media_type="application/schema+json")

    from eligibility.service.openapi import stable_openapi
    from eligibility.service.page import register

    register(app, holder, token, sessions, pool)
    stable_openapi(app)
    return app


async def _prestart(pool: RosterPool, engine: Engine) -> None:
    try:
        await pool.ready(engine)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed warm-up is retried by the first job
        log.warning("roster workers not started: %s", type(exc).__name__)


TOO_LATE = "the date lies too close to the end of the calendar (year 9999) to be computed with"


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
    outcomes = {k: {f: v for f, v in o.items() if f != "trace"} for k, o in doc["outcomes"].items()}
    return {"index": index, **doc, "outcomes": outcomes}


def warn_if_exposed(host: str, token: str | None) -> str | None:
    """Kept for callers of the old API: the message why `host` without a token is refused."""
    return exposure_error(host, token, allow_unauthenticated=False)


def token_from_env(name: str = "ELIGIBILITY_TOKEN") -> str | None:
    """The configured token (`ELIGIBILITY_TOKEN_FILE` first, then the variable `name`)."""
    return token_from(name)

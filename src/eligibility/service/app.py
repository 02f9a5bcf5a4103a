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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from eligibility import __version__
from eligibility.decision.model import Decision
from eligibility.decision.records import DateOutOfRange, normalize
from eligibility.decisionlog import NewDecision
from eligibility.decisionlog.chain import dumps
from eligibility.engine import Engine
from eligibility.service.batch import BATCH_DESCRIPTION, batch_stream
from eligibility.service.bodies import (
    BadLine,
    Twice,
    Unprocessable,
    ndjson_record,
    reject_duplicate_keys,
    tag_duplicates,
)
from eligibility.service.jobs import JobLimits, RosterPool, sweep
from eligibility.service.logbook import UNAVAILABLE, Logbook, LogUnavailable
from eligibility.service.reload import EngineHolder
from eligibility.service.security import Guard, Limits, Sessions, check_token, exposure_error, token_from

log = logging.getLogger("eligibility.service.app")
_log = log  # inside create_app, `log` is the decision log's URL

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
    aktenzeichen: str | None = Field(
        default=None, max_length=200, description="File reference kept with the decision in the decision log."
    )


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
    log: str | None = None,
    keep_days: int | None = None,
) -> FastAPI:
    """The app. `token` (at least 16 characters) guards every route but `/healthz`: the API
    by bearer token, the page by a login. `limits` bound each request (its `max_body` wins
    over the older `max_body` argument); `job_limits` bound roster uploads. `log` is the URL of
    the decision log (off when None; raises `LogError` when it cannot be opened), `keep_days`
    its retention period."""
    check_token(token)
    logbook = Logbook(log, keep_days)
    # Requests to /v1 are authenticated by the bearer token, the log's "user" for them.
    api_user = "token" if token else None
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
        retention = asyncio.create_task(logbook.retention_loop()) if logbook.on else None
        try:
            yield
        finally:
            warming.cancel()
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            await asyncio.to_thread(logbook.close)
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
    app.state.logbook = logbook
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
            # An extension of the decision JSON, made by the service only (the engine's
            # Decision, and docs/decision.schema.json, never carry it).
            doc["components"]["schemas"]["Decision"]["properties"]["decision_id"] = {
                "type": "string",
                "title": "Decision Id",
                "description": "The entry of this decision in the decision log (only when the service keeps one: "
                "serve --log). GET /v1/decisions/{decision_id} returns it.",
            }
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
        _log.error("internal error: %s", type(exc).__name__)  # no record content in logs
        # The traceback can quote values of the record: only when asked for, never in the answer.
        _log.debug("internal error", exc_info=exc)
        return problem(500, "Internal error")

    def engine_for(entity: str | None) -> Engine:
        engine = holder.engine
        if entity is not None and entity not in engine.entities:
            raise Unprocessable("entity", f"unknown record type '{entity}' (known: {', '.join(engine.entities)})")
        return engine

    @app.exception_handler(LogUnavailable)
    async def unlogged(_request: Request, _exc: LogUnavailable) -> JSONResponse:
        return problem(503, UNAVAILABLE, "the decision could not be stored; it is not handed out unlogged")

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
        responses={422: {"model": Problem}, 503: {"model": Problem}},
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
        if logbook.on:
            # Stored before it is answered (LogUnavailable: a 503). `d` is exactly what
            # reproduce.decision_doc gives for this form: the same call.
            form = "explained" if body.explain else "plain"
            text = dumps(d)
            item = NewDecision(
                d, body.record, "api", form=form, user=api_user, aktenzeichen=body.aktenzeichen, text=text
            )
            # The stored bytes are the answer: the id joins them as the last key, which is what
            # JSONResponse({**d, "decision_id": ...}) would send (tested).
            did = logbook.record(engine, [item])[0]
            return Response(f'{text[:-1]},"decision_id":"{did}"}}'.encode(), media_type="application/json")
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

        return StreamingResponse(
            batch_stream(engine, records, day, entity, logbook, api_user), media_type="application/x-ndjson"
        )

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

    from eligibility.service.decisions_api import register_decisions
    from eligibility.service.openapi import stable_openapi
    from eligibility.service.page import register

    register_decisions(app, logbook, problem, Problem)
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


def warn_if_exposed(host: str, token: str | None) -> str | None:
    """Kept for callers of the old API: the message why `host` without a token is refused."""
    return exposure_error(host, token, allow_unauthenticated=False)


def token_from_env(name: str = "ELIGIBILITY_TOKEN") -> str | None:
    """The configured token (`ELIGIBILITY_TOKEN_FILE` first, then the variable `name`)."""
    return token_from(name)

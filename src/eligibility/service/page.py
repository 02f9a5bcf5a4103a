"""The caseworker page at `/`: a German form built from the facts schema, the answer
with reasons, sources and the questions to ask, a printable Aktenvermerk, and a roster
upload. Server-rendered (jinja2), works without JavaScript, loads nothing from outside."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from eligibility.decision.records import LATEST_DATE, parse_date
from eligibility.service.jobs import JobRefused, RosterJob, RosterPool, remove_tree
from eligibility.service.security import SESSION_COOKIE, Sessions, safe_next, set_cookie_header
from eligibility.text.render import environment, value_text

log = logging.getLogger("eligibility.service.page")

EVENT_CHOICES = {"unbekannt": "unbekannt", "nicht_eingetreten": "noch nicht eingetreten", "datum": "am"}


def _fields(engine: Any) -> list[dict[str, Any]]:
    ent = engine.entity()
    out = []
    for name, f in ent.facts.items():
        choices = None
        if f.type == "enum":
            choices = [
                (v, (f.value_labels[v].de if f.value_labels and v in f.value_labels else v)) for v in f.values or []
            ]
        out.append(
            {
                "name": name,
                "label": f.label.de,
                "help": f.question.de,
                "type": f.type,
                "event": f.event,
                "choices": choices,
                "id": f.id,
            }
        )
    return out


def record_from_form(engine: Any, form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Form fields → record. Event dates: 'noch nicht eingetreten' is an explicit empty
    value, 'unbekannt' leaves the field out; other empty fields are unknown."""
    ent = engine.entity()
    record: dict[str, Any] = {}
    problems: list[str] = []
    for name, f in ent.facts.items():
        value = (form.get(name) or "").strip()
        if f.event:
            kind = form.get(f"{name}__art", "unbekannt")
            if kind == "nicht_eingetreten":
                record[name] = None
            elif kind == "datum":
                if not value:
                    problems.append(f"{f.label.de}: bitte ein Datum eintragen oder „unbekannt“ wählen")
                else:
                    record[name] = value
            continue
        if value:
            record[name] = value
    return record, problems


def register(app: FastAPI, holder: Any, token: str | None, sessions: Sessions, pool: RosterPool) -> None:
    env = environment()
    uploads: set[Path] = app.state.uploads

    def csrf_for(request: Request) -> str:
        nonce = request.scope.get("state", {}).get("session")
        return sessions.csrf(nonce) if token and nonce else ""

    def csrf_ok(request: Request, form: Any) -> bool:
        if not token:
            return True
        given = form.get("csrf")
        return sessions.csrf_ok(
            request.scope.get("state", {}).get("session"), given if isinstance(given, str) else None
        )

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        engine = holder.engine
        html = env.get_template(name).render(info=engine.info, csrf=csrf_for(request), **ctx)
        return HTMLResponse(html, status_code=status)

    def form_again(request: Request, status: int, problems: list[str], values: dict[str, str], on: str) -> HTMLResponse:
        return page(
            request,
            "page_form.html.j2",
            status=status,
            fields=_fields(holder.engine),
            values=values,
            on=on or dt.date.today().strftime("%d.%m.%Y"),
            problems=problems,
            choices=EVENT_CHOICES,
        )

    def forbidden(request: Request) -> HTMLResponse:
        # A form without this session's CSRF token was sent from elsewhere (or is stale).
        return form_again(
            request,
            403,
            ["Das Formular ist abgelaufen oder kam nicht von dieser Seite; bitte erneut absenden."],
            {},
            "",
        )

    @app.get("/anmelden", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, weiter: str = "/") -> HTMLResponse:
        return page(request, "page_login.html.j2", weiter=safe_next(weiter), problems=[])

    @app.post("/anmelden", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        target = safe_next(str(form.get("weiter") or "/"))
        given = str(form.get("schluessel") or "").strip()
        if not token:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            log.warning("login refused")
            await asyncio.sleep(0.5)  # guessing over the network stays slow
            return page(request, "page_login.html.j2", status=401, weiter=target, problems=["Zugangsschlüssel falsch."])
        response = RedirectResponse(target, status_code=303)
        secure = bool(request.scope.get("state", {}).get("secure_cookie"))
        response.headers.append(
            "set-cookie", set_cookie_header(SESSION_COOKIE, sessions.issue(), sessions.max_age, secure)
        )
        return response

    @app.post("/abmelden", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        if not csrf_ok(request, form):
            return forbidden(request)
        response = RedirectResponse("/anmelden", status_code=303)
        secure = bool(request.scope.get("state", {}).get("secure_cookie"))
        response.headers.append("set-cookie", set_cookie_header(SESSION_COOKIE, "", 0, secure))
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def form_page(request: Request) -> HTMLResponse:
        return form_again(request, 200, [], {}, "")

    @app.post("/pruefen", response_class=HTMLResponse, include_in_schema=False)
    async def check_page(request: Request) -> HTMLResponse:
        engine = holder.engine
        raw = await request.form(max_files=0, max_fields=1000)
        if not csrf_ok(request, raw):
            return forbidden(request)
        form = {k: str(v) for k, v in raw.items() if k != "csrf"}
        record, problems = record_from_form(engine, form)
        on_text = (form.get("stichtag") or "").strip()
        day = parse_date(on_text) if on_text else dt.date.today()
        if day is None:
            problems.append("Stichtag: kein gültiges Datum (TT.MM.JJJJ)")
        elif day > LATEST_DATE:
            problems.append(f"Stichtag: Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen")
        if not problems:
            try:
                decision = engine.decide(record, day, explain=True)
                problems = [e.message.de for e in decision.errors]
            except (ValueError, OverflowError):
                # A Stichtag so late that periods from it end beyond the calendar.
                problems = [f"Stichtag: nach dem {LATEST_DATE:%d.%m.%Y} kann nicht gerechnet werden"]
        if problems:
            return form_again(request, 422, problems, form, on_text)
        assert day is not None  # an unreadable Stichtag is one of the problems answered above
        try:
            # "Nächste Änderung" looks ten years ahead, but never past the calendar's end.
            timeline = engine.timeline(record, end=min(day + dt.timedelta(days=3650), LATEST_DATE))
        except (ValueError, OverflowError):
            return form_again(
                request, 422, ["Stichtag liegt zu nahe am Ende des Kalenders (Jahr 9999)."], form, on_text
            )
        ent = engine.entity()
        rows = []
        for oid, o in decision.outcomes.items():
            since = timeline.since(oid, day)
            nxt = timeline.next_change(oid, day)
            rows.append(
                {
                    "id": oid,
                    "o": o,
                    "value": value_text(ent, oid, o.value, "de") if o.status == "value" else None,
                    "since": since,
                    "next": nxt,
                    "next_word": (
                        ("noch offen" if nxt.status == "unknown" else value_text(ent, oid, nxt.value, "de"))
                        if nxt
                        else None
                    ),
                }
            )
        return page(
            request,
            "page_result.html.j2",
            d=decision,
            rows=rows,
            record=record,
            labels={n: f.label.de for n, f in ent.facts.items()},
            today=dt.date.today(),
        )

    @app.post("/liste", include_in_schema=False)
    async def roster_page(request: Request) -> Response:
        from eligibility.io.rosters import format_of

        # The upload is spooled by the multipart parser (anonymous temporary files, gone
        # when closed); the body limit of the guard bounds it while it arrives.
        form = await request.form(max_files=1, max_fields=10)
        try:
            if not csrf_ok(request, form):
                return forbidden(request)
            upload = form.get("datei")
            on_text = str(form.get("stichtag") or "").strip()
            day = parse_date(on_text) if on_text else dt.date.today()
            what = "bericht" if str(form.get("ausgabe") or "ergebnis") == "bericht" else "ergebnis"
            if not isinstance(upload, UploadFile) or not upload.filename:
                return form_again(request, 422, ["Bitte eine Liste (.csv oder .xlsx) auswählen"], {}, on_text)
            if day is not None and day > LATEST_DATE:
                problem = f"Stichtag: Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen"
                return form_again(request, 422, [problem], {}, on_text)
            suffix = Path(upload.filename).suffix.lower()
            try:
                format_of(upload.filename)
            except ValueError:
                suffix = ""
            if suffix not in (".csv", ".xlsx", ".jsonl") or day is None:
                return form_again(
                    request, 422, ["Liste muss .csv, .xlsx oder .jsonl sein; Stichtag als TT.MM.JJJJ"], {}, on_text
                )
            tmp = Path(tempfile.mkdtemp(prefix="eligibility-upload-"))
            uploads.add(tmp)
            try:
                src = tmp / f"liste{suffix}"
                await asyncio.to_thread(_copy_upload, upload, src)
                job = RosterJob(str(src), day, what, Path(upload.filename).name)
                try:
                    kind, result = await pool.run(holder.engine, job)
                except JobRefused as exc:
                    return form_again(request, exc.status, [exc.message], {}, on_text)
            finally:
                # Personal data: gone on every path (success, error, disconnect, cancel).
                remove_tree(tmp)
                uploads.discard(tmp)
        finally:
            await form.close()
        if kind == "error":
            return form_again(request, 422, [result], {}, on_text)
        if kind == "html":
            return HTMLResponse(result)
        return Response(
            result,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": f'attachment; filename="ergebnis_{day:%Y-%m-%d}.xlsx"'},
        )


def _copy_upload(upload: UploadFile, dest: Path) -> None:
    upload.file.seek(0)
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)

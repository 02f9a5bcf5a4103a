"""The caseworker page at `/`: an interview that asks only what can still change an answer,
the full form ("alle Angaben auf einmal"), the result page, a printable Aktenvermerk, and a
roster upload. Server-rendered (jinja2), German, works without JavaScript (one step per
page; a small inline script, allowed by its hash in the CSP, only updates the page in
place), loads nothing from outside. The question logic lives in `interview.py`, what the
result shows in `result_page.py`."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from eligibility.decision.model import Decision
from eligibility.decision.records import LATEST_DATE, parse_date
from eligibility.service import interview as iv
from eligibility.service import result_page as rp
from eligibility.service import verlauf as vl
from eligibility.service.jobs import JobRefused, RosterJob, RosterPool, remove_tree
from eligibility.service.logbook import Logbook, LogUnavailable
from eligibility.service.security import MAX_USER, SESSION_COOKIE, Sessions, safe_next, set_cookie_header
from eligibility.text.render import environment

log = logging.getLogger("eligibility.service.page")

EVENT_CHOICES = iv.EVENT_CHOICES
# Kept for callers of the old module: the full form's reading of its fields.
record_from_form = iv.record_from_form
# The Aktenvermerk's own fields: typed on the page and printed. Never in the service's log;
# with the decision log on, Aktenzeichen and Bearbeiter/in are stored with the decision there
# (and only there), the Dienststelle nowhere.
NOTE_FIELDS = {"aktenzeichen": "Aktenzeichen", "dienststelle": "Dienststelle", "bearbeitung": "Bearbeiter/in"}
MAX_NOTE_FIELD = 200
# What the page says when the decision log cannot be written: no result without its entry.
LOG_DOWN = (
    "Das Entscheidungsprotokoll kann gerade nicht beschrieben werden. Das Ergebnis wird erst angezeigt, "
    "wenn es gespeichert ist: bitte später erneut versuchen oder die Verwaltung des Dienstes verständigen."
)


def _fields(engine: Any, entity: str | None = None) -> list[dict[str, Any]]:
    ent = engine.entity(entity)
    out = []
    for name, f in ent.facts.items():
        choices = None
        if f.type == "enum":
            choices = [
                (v, (f.value_labels[v].de if f.value_labels and v in f.value_labels else v)) for v in f.values or []
            ]
        elif f.type == "bool":
            choices = [("ja", "ja"), ("nein", "nein")]
        out.append(
            {
                "name": name,
                "label": f.label.de,
                "help": iv.question_text(f.question.de),
                "type": f.type,
                "event": f.event,
                "choices": choices,
                "id": f.id,
                "informational": f.informational,
            }
        )
    return out


def _entity_of(engine: Any, name: str | None) -> str:
    if name is not None and name in engine.entities:
        return name
    default: str = engine.default_entity
    return default


def register(app: FastAPI, holder: Any, token: str | None, sessions: Sessions, pool: RosterPool) -> None:
    env = environment()
    uploads: set[Path] = app.state.uploads
    logbook: Logbook = app.state.logbook

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
        entity = ctx.pop("entity", engine.default_entity)
        ctx.setdefault("overlays", rp.overlay_names(engine))
        if "entity_label" not in ctx:
            ctx["entity_label"] = engine.entity(entity).model.label.de
        for key in ("decision_id", "verlauf", "stored"):
            ctx.setdefault(key, None)
        html = env.get_template(name).render(
            info=engine.info,
            csrf=csrf_for(request),
            log_on=logbook.on,
            entity=entity,
            entities=[(e, engine.entity(e).model.label.de) for e in engine.entities],
            default_entity=engine.default_entity,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def form_again(
        request: Request,
        status: int,
        problems: list[str],
        values: Mapping[str, str],
        on: str,
        entity: str | None = None,
        at_field: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        engine = holder.engine
        ent = _entity_of(engine, entity)
        return page(
            request,
            "page_form.html.j2",
            status=status,
            entity=ent,
            fields=[f for f in _fields(engine, ent)],
            values=values,
            on=on or dt.date.today().strftime("%d.%m.%Y"),
            problems=problems,
            at_field=dict(at_field or {}),
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

    # ------------------------------------------------------------ the interview

    def step(
        request: Request,
        answers: iv.Answers,
        kind: str,
        shown: list[str],
        decision: Decision | None,
        at_field: Mapping[str, str],
        status: int = 200,
    ) -> HTMLResponse:
        engine = holder.engine
        fields = {f["name"]: f for f in _fields(engine, answers.entity)}
        rows = rp.outcome_rows(engine, decision, None) if decision is not None else []
        remaining = 0
        if decision is not None:
            skip = {f for f in fields if answers.answered(f)}
            remaining = len(iv.ranking(decision, frozenset(skip)))
        start = set(_start_shown(engine, answers.entity))
        hidden = [(k, v) for k, v in answers.hidden() if k not in shown and k.split("__")[0] not in shown]
        if kind == "frage":
            hidden.append(("stichtag", answers.on_text))
        return page(
            request,
            "page_interview.html.j2",
            status=status,
            entity=answers.entity,
            kind=kind,
            shown=[fields[f] for f in shown],
            values=answers.values,
            unknown=answers.unknown,
            hidden=hidden,
            on=answers.on_text,
            at_field=dict(at_field),
            rows=rows,
            remaining=remaining,
            # Questions asked after the first step (the start's facts are not counted).
            answered=sum(1 for f in fields if answers.answered(f) and f not in start),
            choices=EVENT_CHOICES,
            dont_know=iv.DONT_KNOW,
        )

    def start_step(request: Request, entity: str | None) -> HTMLResponse:
        engine = holder.engine
        ent = _entity_of(engine, entity)
        answers = iv.Answers(ent, dt.date.today().strftime("%d.%m.%Y"), {}, frozenset())
        return step(request, answers, "start", _start_shown(engine, ent), None, {})

    def _start_shown(engine: Any, entity: str) -> list[str]:
        id_field = engine.entity(entity).id_field
        return ([id_field] if id_field else []) + iv.start_facts(engine, entity)

    def user_of(request: Request) -> str | None:
        return Sessions.user_of(request.scope.get("state", {}).get("session"))

    async def logged(
        engine: Any,
        record: dict[str, Any],
        decision: Decision,
        source: str,
        user: str | None,
        aktenzeichen: str | None = None,
    ) -> tuple[str | None, list[Any] | None]:
        """Store the decision the page shows (in a thread: the commit is waited for) and read
        the person's Verlauf: (decision_id, Verlauf), both None without a log."""
        if not logbook.on:
            return None, None

        def store() -> tuple[str, list[Any] | None]:
            _, decision_id = logbook.decide(
                engine, record, decision.on.isoformat(), decision.entity, "explained", source, user, aktenzeichen
            )
            rows = vl.history(logbook, engine, decision.record_id, decision.entity, decision_id)
            return decision_id, rows

        return await asyncio.to_thread(store)

    def log_down(request: Request, answers: iv.Answers) -> HTMLResponse:
        return form_again(request, 503, [LOG_DOWN], answers.values, answers.on_text, answers.entity)

    async def result(
        request: Request,
        engine: Any,
        decision: Decision,
        record: dict[str, Any],
        answers: iv.Answers,
        back: str,
    ) -> HTMLResponse:
        # `engine` made `decision`: the logged decision and the page come from the same rules,
        # even when a reload lands in between.
        try:
            decision_id, verlauf = await logged(engine, record, decision, "page", user_of(request))
        except LogUnavailable:
            return log_down(request, answers)
        timeline = rp.timeline_for(engine, record, decision.entity, decision.on)
        return page(
            request,
            "page_result.html.j2",
            entity=decision.entity,
            d=decision,
            rows=rp.outcome_rows(engine, decision, timeline),
            facts=[
                f
                for f in rp.fact_rows(engine, decision.entity, record)
                if f.name != engine.entity(decision.entity).id_field
            ],
            chart=rp.timeline_chart(engine, timeline, decision.on) if timeline is not None else None,
            hidden=answers.hidden()
            + [("stichtag", answers.on_text or f"{decision.on:%d.%m.%Y}"), ("art", answers.entity)],
            back=back,
            note_fields=NOTE_FIELDS,
            open_questions=_open_questions(decision),
            decision_id=decision_id,
            verlauf=verlauf,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def start_page(request: Request, art: str | None = None) -> HTMLResponse:
        return start_step(request, art)

    @app.post("/interview", response_class=HTMLResponse, include_in_schema=False)
    async def interview_step(request: Request) -> HTMLResponse:
        engine = holder.engine
        raw = await request.form(max_files=0, max_fields=1000)
        if not csrf_ok(request, raw):
            return forbidden(request)
        form = {k: str(v) for k, v in raw.items() if k != "csrf"}
        answers = iv.answers_from_form(engine, form)
        shown = [f for f in iv.asked(form) if f in engine.entity(answers.entity).facts]
        kind = form.get("schritt") or "frage"
        action = form.get("aktion") or "weiter"
        id_field = engine.entity(answers.entity).id_field
        if action == "aendern":
            return step(request, answers, "aendern", _review_shown(engine, answers), None, {})
        if action == "neu":
            return start_step(request, answers.entity)
        at_field: dict[str, str] = {}
        if action == "weiss_nicht" and len(shown) == 1:
            answers = iv.with_unknown(answers, shown[0])
        elif action in ("weiter", "ergebnis"):
            for f in shown:
                if f == id_field or answers.answered(f):
                    continue
                if kind == "frage" and action == "weiter":
                    at_field[f] = "Bitte eine Antwort wählen oder eintragen – oder „Weiß ich nicht“."
                else:
                    # On the first step and when changing answers, an empty field is unknown.
                    answers = iv.with_unknown(answers, f)
        day, on_problem = iv.stichtag(answers.on_text)
        record, problems = iv.record_from_form(engine, answers.values, answers.entity)
        problems.update(at_field)
        if on_problem:
            problems["stichtag"] = on_problem
        decision = None
        if day is not None:
            try:
                decision = engine.decide(record, day, entity=answers.entity, explain=False)
            except (ValueError, OverflowError):
                problems["stichtag"] = f"Nach dem {LATEST_DATE:%d.%m.%Y} kann nicht gerechnet werden"
            else:
                for k, v in iv.field_problems(decision).items():
                    problems.setdefault(k, v)
        if problems:
            return step(request, answers, *_where(engine, answers, kind, shown, problems), decision, problems, 422)
        assert decision is not None  # a Stichtag that cannot be read is one of the problems above
        nxt = None if action == "ergebnis" else iv.next_question(engine, decision, answers)
        if nxt is None:
            decision = engine.decide(record, decision.on, entity=answers.entity, explain=True)
            return await result(request, engine, decision, record, answers, "/interview")
        return step(request, answers, "frage", [nxt], decision, {})

    def _review_shown(engine: Any, answers: iv.Answers) -> list[str]:
        start = _start_shown(engine, answers.entity)
        given = [f for f in engine.entity(answers.entity).facts if answers.answered(f) and f not in start]
        return start + given

    def _where(
        engine: Any, answers: iv.Answers, kind: str, shown: list[str], problems: Mapping[str, str]
    ) -> tuple[str, list[str]]:
        """Which step shows the problems: the one just sent, unless a problem concerns an
        answer of another step (the Stichtag, or a hidden field someone changed): then that
        question again, with its message at the field."""
        start = _start_shown(engine, answers.entity)
        if "stichtag" in problems or any(f in problems for f in start):
            return ("start", start) if kind != "aendern" else ("aendern", shown)
        if any(f in problems for f in shown):
            return kind, shown
        first = next(f for f in engine.entity(answers.entity).facts if f in problems)
        return "frage", [first]

    # ------------------------------------------------------------ the full form

    @app.get("/formular", response_class=HTMLResponse, include_in_schema=False)
    def form_page(request: Request, art: str | None = None) -> HTMLResponse:
        return form_again(request, 200, [], {}, "", art)

    @app.post("/formular", response_class=HTMLResponse, include_in_schema=False)
    async def form_with_values(request: Request) -> HTMLResponse:
        # "Angaben ändern" from a result of the full form: the same form, values kept.
        raw = await request.form(max_files=0, max_fields=1000)
        if not csrf_ok(request, raw):
            return forbidden(request)
        form = {k: str(v) for k, v in raw.items() if k != "csrf"}
        return form_again(
            request, 200, [], _full_form_values(holder.engine, form), form.get("stichtag", ""), form.get("art")
        )

    @app.post("/pruefen", response_class=HTMLResponse, include_in_schema=False)
    async def check_page(request: Request) -> HTMLResponse:
        engine = holder.engine
        raw = await request.form(max_files=0, max_fields=1000)
        if not csrf_ok(request, raw):
            return forbidden(request)
        form = {k: str(v) for k, v in raw.items() if k != "csrf"}
        entity = _entity_of(engine, form.get("art"))
        record, at_field = iv.record_from_form(engine, form, entity)
        on_text = (form.get("stichtag") or "").strip()
        day, on_problem = iv.stichtag(on_text)
        if on_problem:
            at_field["stichtag"] = on_problem
        if day is not None:
            try:
                decision = engine.decide(record, day, entity=entity, explain=True)
                for k, v in iv.field_problems(decision).items():
                    at_field.setdefault(k, v)
            except (ValueError, OverflowError):
                # A Stichtag so late that periods from it end beyond the calendar.
                at_field["stichtag"] = (
                    f"Nach dem {LATEST_DATE:%d.%m.%Y} kann nicht gerechnet werden – damit lässt sich nicht rechnen"
                )
        if at_field:
            labels = {f["name"]: f["label"] for f in _fields(engine, entity)} | {
                "stichtag": "Stichtag",
                "": "Datensatz",
            }
            problems = [f"{labels.get(k, k)}: {v}" for k, v in at_field.items()]
            return form_again(request, 422, problems, form, on_text, entity, at_field)
        answers = iv.Answers(entity, on_text, _full_form_values(engine, form), frozenset())
        return await result(request, engine, decision, record, answers, "/formular")

    def _full_form_values(engine: Any, form: Mapping[str, str]) -> dict[str, str]:
        entity = _entity_of(engine, form.get("art"))
        names = set(engine.entity(entity).facts)
        return {k: v for k, v in form.items() if v and k.split("__")[0] in names}

    # ------------------------------------------------------------ the Aktenvermerk

    @app.post("/aktenvermerk", response_class=HTMLResponse, include_in_schema=False)
    async def note_page(request: Request) -> HTMLResponse:
        engine = holder.engine
        raw = await request.form(max_files=0, max_fields=1000)
        if not csrf_ok(request, raw):
            return forbidden(request)
        form = {k: str(v) for k, v in raw.items() if k != "csrf"}
        answers = iv.answers_from_form(engine, form)
        record, problems = iv.record_from_form(engine, answers.values, answers.entity)
        day, on_problem = iv.stichtag(answers.on_text)
        if problems or day is None:
            return step(request, answers, "aendern", _review_shown(engine, answers), None, problems, 422)
        try:
            decision = engine.decide(record, day, entity=answers.entity, explain=True)
        except (ValueError, OverflowError):
            return step(
                request,
                answers,
                "start",
                _start_shown(engine, answers.entity),
                None,
                {"stichtag": on_problem or ""},
                422,
            )
        note = {k: (form.get(k) or "").strip()[:MAX_NOTE_FIELD] for k in NOTE_FIELDS}
        try:
            decision_id, verlauf = await logged(
                engine,
                record,
                decision,
                "aktenvermerk",
                user_of(request) or note["bearbeitung"],
                note["aktenzeichen"],
            )
        except LogUnavailable:
            return log_down(request, answers)
        timeline = rp.timeline_for(engine, record, decision.entity, decision.on)
        return page(
            request,
            "page_aktenvermerk.html.j2",
            entity=decision.entity,
            d=decision,
            rows=rp.outcome_rows(engine, decision, timeline),
            facts=[
                f
                for f in rp.fact_rows(engine, decision.entity, record)
                if f.name != engine.entity(decision.entity).id_field
            ],
            note=note,
            note_fields=NOTE_FIELDS,
            today=dt.date.today(),
            open_questions=_open_questions(decision),
            decision_id=decision_id,
            verlauf=verlauf,
        )

    # ------------------------------------------------------------ the Verlauf

    @app.get("/verlauf/{decision_id}", response_class=HTMLResponse, include_in_schema=False)
    async def stored_note(request: Request, decision_id: str) -> HTMLResponse:
        engine = holder.engine
        view = None
        if logbook.on:
            try:
                view = await asyncio.to_thread(vl.stored_view, logbook, engine, decision_id)
            except Exception as exc:  # noqa: BLE001 - a log or snapshot that cannot be read
                log.error("stored decision not shown: %s", type(exc).__name__)
                return form_again(request, 503, [LOG_DOWN.split(".")[0] + "."], {}, "")
        if view is None:
            problem = (
                "Diese Entscheidung ist nicht im Entscheidungsprotokoll."
                if logbook.on
                else "Kein Entscheidungsprotokoll eingerichtet."
            )
            return form_again(request, 404, [problem], {}, "")
        return page(
            request,
            "page_aktenvermerk.html.j2",
            note_fields=NOTE_FIELDS,
            open_questions=_open_questions(view["d"]),
            **view,
        )

    # ------------------------------------------------------------ login

    @app.get("/anmelden", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, weiter: str = "/") -> HTMLResponse:
        return page(request, "page_login.html.j2", weiter=safe_next(weiter), problems=[])

    @app.post("/anmelden", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        target = safe_next(str(form.get("weiter") or "/"))
        given = str(form.get("schluessel") or "").strip()
        # "Name oder Kürzel": who decides, for the decision log (kept in the signed session).
        user = " ".join(str(form.get("kuerzel") or "").split())[:MAX_USER] or None
        if not token:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            log.warning("login refused")
            await asyncio.sleep(0.5)  # guessing over the network stays slow
            return page(request, "page_login.html.j2", status=401, weiter=target, problems=["Zugangsschlüssel falsch."])
        response = RedirectResponse(target, status_code=303)
        secure = bool(request.scope.get("state", {}).get("secure_cookie"))
        response.headers.append(
            "set-cookie", set_cookie_header(SESSION_COOKIE, sessions.issue(user), sessions.max_age, secure)
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

    # ------------------------------------------------------------ rosters

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
                job = RosterJob(
                    str(src),
                    day,
                    what,
                    Path(upload.filename).name,
                    logbook.log.url if logbook.log else None,
                    user_of(request),
                )
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


def _open_questions(decision: Decision) -> list[tuple[str, str, list[str]]]:
    """What is still to find out: each question once, with the outcomes waiting for it."""
    out: dict[str, tuple[str, str, list[str]]] = {}
    for o in decision.outcomes.values():
        for q in o.questions:
            entry = out.setdefault(q.fact, (q.label.de, iv.question_text(q.question.de), []))
            entry[2].append(o.label.de)
    return list(out.values())


def _copy_upload(upload: UploadFile, dest: Path) -> None:
    upload.file.seek(0)
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)

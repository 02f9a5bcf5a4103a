"""The caseworker page at `/`: a German form built from the facts schema, the answer
with reasons, sources and the questions to ask, a printable Aktenvermerk, and a roster
upload. Server-rendered (jinja2), works without JavaScript, loads nothing from outside."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from eligibility.decision.records import LATEST_DATE, parse_date
from eligibility.text.render import environment, value_text

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


def register(app: FastAPI, holder: Any, max_body: int) -> None:
    env = environment()

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        engine = holder.engine
        html = env.get_template(name).render(info=engine.info, **ctx)
        return HTMLResponse(html, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def form_page() -> HTMLResponse:
        return page(
            "page_form.html.j2",
            fields=_fields(holder.engine),
            values={},
            on=dt.date.today().strftime("%d.%m.%Y"),
            problems=[],
            choices=EVENT_CHOICES,
        )

    @app.post("/pruefen", response_class=HTMLResponse, include_in_schema=False)
    async def check_page(request: Request) -> HTMLResponse:
        engine = holder.engine
        form = {k: str(v) for k, v in (await request.form()).items()}
        record, problems = record_from_form(engine, form)
        on_text = (form.get("stichtag") or "").strip()
        day = parse_date(on_text) if on_text else dt.date.today()
        if day is None:
            problems.append("Stichtag: kein gültiges Datum (TT.MM.JJJJ)")
        elif day > LATEST_DATE:
            problems.append(f"Stichtag: Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen")
        if not problems:
            decision = engine.decide(record, day, explain=True)
            problems = [e.message.de for e in decision.errors]
        if problems:
            return page(
                "page_form.html.j2",
                status=422,
                fields=_fields(engine),
                values=form,
                on=on_text or dt.date.today().strftime("%d.%m.%Y"),
                problems=problems,
                choices=EVENT_CHOICES,
            )
        assert day is not None  # an unreadable Stichtag is one of the problems answered above
        # "Nächste Änderung" looks ten years ahead, but never past the calendar's end.
        timeline = engine.timeline(record, end=min(day + dt.timedelta(days=3650), LATEST_DATE))
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
            "page_result.html.j2",
            d=decision,
            rows=rows,
            record=record,
            labels={n: f.label.de for n, f in ent.facts.items()},
            today=dt.date.today(),
        )

    @app.post("/liste", include_in_schema=False)
    async def roster_page(request: Request) -> Response:
        from eligibility.apps.evaluate import evaluate_roster, table_decisions
        from eligibility.apps.report import collect, render_report
        from eligibility.io.rosters import format_of, read_roster

        engine = holder.engine
        form = await request.form()
        upload = form.get("datei")
        on_text = str(form.get("stichtag") or "").strip()
        day = parse_date(on_text) if on_text else dt.date.today()
        what = str(form.get("ausgabe") or "ergebnis")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return page(
                "page_form.html.j2",
                status=422,
                fields=_fields(engine),
                values={},
                on=on_text,
                problems=["Bitte eine Liste (.csv oder .xlsx) auswählen"],
                choices=EVENT_CHOICES,
            )
        if day is not None and day > LATEST_DATE:
            return page(
                "page_form.html.j2",
                status=422,
                fields=_fields(engine),
                values={},
                on=on_text,
                problems=[f"Stichtag: Datum nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen"],
                choices=EVENT_CHOICES,
            )
        suffix = Path(upload.filename).suffix.lower()
        try:
            format_of(upload.filename)
        except ValueError:
            suffix = ""
        if suffix not in (".csv", ".xlsx", ".jsonl") or day is None:
            return page(
                "page_form.html.j2",
                status=422,
                fields=_fields(engine),
                values={},
                on=on_text,
                problems=["Liste muss .csv, .xlsx oder .jsonl sein; Stichtag als TT.MM.JJJJ"],
                choices=EVENT_CHOICES,
            )
        tmp = Path(tempfile.mkdtemp(prefix="eligibility-upload-"))
        src = tmp / f"liste{suffix}"
        src.write_bytes(await upload.read())

        def cleanup() -> None:
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()

        try:
            if what == "bericht":
                info, rows = read_roster(src, engine.entity().facts)
                html = render_report(
                    engine,
                    collect(
                        engine,
                        table_decisions(engine, rows, day),
                        day,
                        info.ignored,
                        row_offset=0 if info.format == "jsonl" else 1,
                    ),
                )
                cleanup()
                return HTMLResponse(html)
            out = tmp / "ergebnis.xlsx"
            evaluate_roster(engine, src, day, out, source_name=Path(upload.filename).name)
        except ValueError as exc:
            # A file that cannot be read (a broken workbook shows while it is streamed).
            cleanup()
            return page(
                "page_form.html.j2",
                status=422,
                fields=_fields(engine),
                values={},
                on=on_text,
                problems=[str(exc)],
                choices=EVENT_CHOICES,
            )
        return FileResponse(
            out,
            filename=f"ergebnis_{day:%Y-%m-%d}.xlsx",
            background=BackgroundTask(cleanup),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )

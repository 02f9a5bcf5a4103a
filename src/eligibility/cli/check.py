"""One record: `check` decides and explains it, `timeline` shows how its outcomes change."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from eligibility.cli.errors import EXIT_BAD_INPUT, date_option, fail, load_engine
from eligibility.cli.inputs import read_record_file
from eligibility.cli.options import overlay_option, rules_option


@click.command()
@click.argument("person", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag JJJJ-MM-TT oder TT.MM.JJJJ (Standard: heute).")
@rules_option
@overlay_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person; z. B. stelle).")
@click.option("--brief", is_flag=True, help="Nur Ergebnis und Begründung, ohne Bedingungsbaum.")
def check(
    person: str,
    on: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    fmt: str,
    lang: str,
    entity: str | None,
    brief: bool,
) -> None:
    """Entscheidet einen Datensatz (YAML oder JSON; - liest ihn von der Standardeingabe) zum Stichtag und erklärt die Entscheidung."""
    engine = load_engine(rules, overlays)
    record, meta = read_record_file(person)
    when = on if on is not None else meta.get("on")
    day = date_option(when)
    try:
        decision = engine.decide(record, day, entity=entity or meta.get("entity"), explain=True)
    except OverflowError:
        # Date arithmetic whose count or date comes from the record left the calendar.
        from eligibility.apps.result_rows import UNDECIDABLE

        fail(UNDECIDABLE[0] if lang == "de" else UNDECIDABLE[1])
    except ValueError as exc:
        fail(str(exc))
    if fmt == "json":
        click.echo(decision.to_json())
    else:
        timeline = None
        if not decision.errors:
            from eligibility.decision.records import LATEST_DATE

            # "Nächste Änderung" looks ten years ahead, but never past the calendar's end.
            end = min(day + dt.timedelta(days=3650), LATEST_DATE)
            timeline = engine.timeline(record, entity=entity or meta.get("entity"), end=end)
        click.echo(
            engine.render(
                decision, "markdown" if fmt == "markdown" else "text", lang, detail=not brief, timeline=timeline
            ),
            nl=False,
        )
    if decision.errors:
        for e in decision.errors:
            click.echo(f"Fehler: {getattr(e.message, lang)}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@click.command()
@click.argument("person", type=click.Path())
@click.option("--from", "start", default=None, help="Erster Tag (Standard: Beginn des Regelwerks).")
@click.option("--to", "end", default=None, help="Letzter Tag (Standard: ein Jahr nach der letzten Änderung).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(), default=None, help="In eine Datei schreiben.")
@rules_option
@overlay_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
def timeline(
    person: str,
    start: str | None,
    end: str | None,
    fmt: str,
    out: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    entity: str | None,
) -> None:
    """Seit wann und bis wann: die Zeiträume, in denen jedes Ergebnis gleich bleibt, mit Regel und Anlass."""
    from eligibility.apps import timeline as tl
    from eligibility.decision.records import normalize

    engine = load_engine(rules, overlays)
    record, meta = read_record_file(person)
    first = date_option(start, "--from") if start else None
    last = date_option(end, "--to") if end else None
    if first is not None and last is not None and last < first:
        fail("--to liegt vor --from")
    try:
        ent = engine.entity(entity or meta.get("entity"))
    except (KeyError, ValueError):
        fail(f"--entity: unbekannte Art des Datensatzes (bekannt: {', '.join(engine.entities)})")
    # A field that cannot be read (a date after 9899, 31.02.) would silently count as
    # unknown in every interval: refused as in `check`, before anything is computed.
    _, field_errors = normalize(record, ent.facts)
    if field_errors:
        for e in field_errors:
            click.echo(f"Fehler: {e.de}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        t = engine.timeline(record, first, last, entity=ent.name)
    except ValueError as exc:
        fail(str(exc))
    if fmt == "json":
        text = t.model_dump_json(indent=2, by_alias=True)
    elif fmt == "html":
        text = tl.render_html(engine, t)
    else:
        text = tl.render_text(engine, t)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"geschrieben: {out}", err=True)
    else:
        click.echo(text, nl=False)

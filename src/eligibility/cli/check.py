"""One record: `check` decides and explains it, `timeline` shows how its outcomes change."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from eligibility.cli.errors import EXIT_BAD_INPUT, date_option, error_text, fail, load_engine, stored_rules_failed
from eligibility.cli.i18n import argument, command, current, option, say
from eligibility.cli.inputs import read_record_file
from eligibility.cli.options import entity_option, lang_option, on_option, overlay_option, rules_option
from eligibility.engine import Engine

rules_hash_option = option(
    "--rules-hash",
    "rules_hash",
    default=None,
    metavar="SHA",
    help=(
        "Mit dem im Entscheidungsprotokoll gespeicherten Regelwerk dieses SHA-256 (oder eines eindeutigen Anfangs) "
        "entscheiden, absichtlich ein altes; statt --rules.",
        "Decide with the rule set of this SHA-256 (or a unique prefix) as stored in the decision log, an old one on "
        "purpose; instead of --rules.",
    ),
)
log_option = option(
    "--log",
    "log_url",
    default=None,
    metavar="URL",
    help=(
        "Entscheidungsprotokoll für --rules-hash (Standard: ELIGIBILITY_LOG).",
        "Decision log for --rules-hash (default: ELIGIBILITY_LOG).",
    ),
)


def _engine(rules: str | None, overlays: tuple[str, ...], rules_hash: str | None, log_url: str | None) -> Engine:
    """The rule set to decide with: a folder (--rules), or a stored snapshot (--rules-hash)."""
    if rules_hash is None:
        return load_engine(rules, overlays)
    if rules is not None or overlays:
        fail(
            "--rules-hash schließt --rules und --overlay aus (das gespeicherte Regelwerk enthält seine Overlays)",
            "--rules-hash excludes --rules and --overlay (the stored rule set includes its overlays)",
        )
    from eligibility.decisionlog import LogError
    from eligibility.diagnostics import RuleSetError

    try:
        return Engine.load(rules_hash=rules_hash, log=log_url)
    except LogError as exc:
        fail(exc.de, exc.en)
    except RuleSetError as exc:
        stored_rules_failed(exc)


@command(
    help_en="Decides one record (YAML or JSON; - reads it from standard input) on the reference day and explains "
    "the decision."
)
@argument(
    "person",
    type=click.Path(allow_dash=True),
    help=(
        "Datensatz als YAML- oder JSON-Datei, oder eine Falldatei mit record:; - liest von der Standardeingabe.",
        "Record as a YAML or JSON file, or a case file with record:; - reads standard input.",
    ),
)
@on_option("heute, oder on: der Falldatei", "today, or the case file's on:")
@rules_option
@overlay_option
@rules_hash_option
@log_option
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help=(
        "text zum Lesen; markdown für Akten und Wikis; json für Programme (Felder und Ids bleiben gleich).",
        "text to read; markdown for files and wikis; json for programs (fields and ids stay the same).",
    ),
)
@lang_option
@entity_option
@option(
    "--brief",
    is_flag=True,
    help=("Nur Ergebnis und Begründung, ohne Bedingungsbaum.", "Only the result and its reason, without the tree."),
)
@option(
    "--details",
    is_flag=True,
    help=(
        "Dazu „Technische Angaben“: Kennungen, Regelpfade und Ausdrücke, für Regelautorinnen und -autoren.",
        "Add “Technical details”: ids, rule paths and expressions, for rule editors.",
    ),
)
def check(
    person: str,
    on: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    rules_hash: str | None,
    log_url: str | None,
    fmt: str,
    entity: str | None,
    brief: bool,
    details: bool,
) -> None:
    """Entscheidet einen Datensatz (YAML oder JSON; - liest ihn von der Standardeingabe) zum Stichtag und erklärt die Entscheidung."""
    lang = current()
    engine = _engine(rules, overlays, rules_hash, log_url)
    record, meta = read_record_file(person)
    when = on if on is not None else meta.get("on")
    day = date_option(when)
    try:
        decision = engine.decide(record, day, entity=entity or meta.get("entity"), explain=True)
    except OverflowError:
        # Date arithmetic whose count or date comes from the record left the calendar.
        from eligibility.apps.result_rows import UNDECIDABLE

        fail(*UNDECIDABLE)
    except ValueError as exc:
        fail(error_text(exc))
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
                decision,
                "markdown" if fmt == "markdown" else "text",
                lang,
                detail=not brief,
                timeline=timeline,
                technical=details,
            ),
            nl=False,
        )
    if decision.errors:
        for e in decision.errors:
            click.echo(say("Fehler: ", "Error: ") + getattr(e.message, lang), err=True)
        sys.exit(EXIT_BAD_INPUT)


@command(help_en="From when, until when: the periods in which each outcome stays the same, with rule and cause.")
@argument(
    "person",
    type=click.Path(),
    help=(
        "Datensatz als YAML- oder JSON-Datei (oder eine Falldatei).",
        "Record as a YAML or JSON file (or a case file).",
    ),
)
@option(
    "--from",
    "start",
    default=None,
    help=("Erster Tag (Standard: Beginn des Regelwerks).", "First day (default: the start of the rule set)."),
)
@option(
    "--to",
    "end",
    default=None,
    help=(
        "Letzter Tag (Standard: ein Jahr nach der letzten Änderung).",
        "Last day (default: one year after the last change).",
    ),
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help=(
        "text zum Lesen; json für Programme; html als Diagramm.",
        "text to read; json for programs; html as a chart.",
    ),
)
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=("In eine Datei schreiben (Standard: auf das Terminal).", "Write to a file (default: the terminal)."),
)
@option(
    "--on",
    "on",
    default=None,
    help=(
        "Stichtag, im Diagramm (html) als Linie markiert (Standard: keiner).",
        "Reference day, marked as a line in the chart (html) (default: none).",
    ),
)
@rules_option
@overlay_option
@rules_hash_option
@log_option
@entity_option
@lang_option
def timeline(
    person: str,
    start: str | None,
    end: str | None,
    fmt: str,
    out: str | None,
    on: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    rules_hash: str | None,
    log_url: str | None,
    entity: str | None,
) -> None:
    """Seit wann und bis wann: die Zeiträume, in denen jedes Ergebnis gleich bleibt, mit Regel und Anlass."""
    from eligibility.apps import timeline as tl
    from eligibility.decision.records import normalize

    lang = current()
    engine = _engine(rules, overlays, rules_hash, log_url)
    record, meta = read_record_file(person)
    first = date_option(start, "--from") if start else None
    last = date_option(end, "--to") if end else None
    marked = date_option(on) if on else None
    if first is not None and last is not None and last < first:
        fail("--to liegt vor --from", "--to is before --from")
    try:
        ent = engine.entity(entity or meta.get("entity"))
    except (KeyError, ValueError):
        known = ", ".join(engine.entities)
        fail(
            f"--entity: unbekannte Art des Datensatzes (bekannt: {known})",
            f"--entity: unknown kind of record (known: {known})",
        )
    # A field that cannot be read (a date after 9899, 31.02.) would silently count as
    # unknown in every interval: refused as in `check`, before anything is computed.
    _, field_errors = normalize(record, ent.facts)
    if field_errors:
        for e in field_errors:
            click.echo(say("Fehler: ", "Error: ") + getattr(e, lang), err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        t = engine.timeline(record, first, last, entity=ent.name)
    except ValueError as exc:
        fail(error_text(exc))
    if fmt == "json":
        text = t.model_dump_json(indent=2, by_alias=True)
    elif fmt == "html":
        text = tl.render_html(engine, t, on=marked)
    else:
        text = tl.render_text(engine, t, lang)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(say(f"geschrieben: {out}", f"written: {out}"), err=True)
    else:
        click.echo(text, nl=False)

"""The rule set itself: `validate`, `test` (cases and coverage), `impact` of a change,
`applied` on a day, `schema` and `docs`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eligibility.cli.errors import date_option, error_text, fail, load_engine, rule_set_failed
from eligibility.cli.i18n import argument, command, current, option, say
from eligibility.cli.inputs import check_columns
from eligibility.cli.options import (
    entity_option,
    lang_option,
    on_option,
    overlay_option,
    rules_option,
    with_input_options,
)
from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine

_rules_dir_argument = argument(
    "rules_dir",
    required=False,
    type=click.Path(),
    help=("Regelwerk-Ordner (Standard: das mitgelieferte rules/).", "Rule set folder (default: the shipped rules/)."),
)


@command(help_en="Checks a rule set as a compiler does: errors and warnings with file, line and hint.")
@_rules_dir_argument
@overlay_option
@option(
    "--samples",
    type=click.IntRange(100),
    default=6000,
    show_default=True,
    help=(
        "Eingabekombinationen je Ergebnis für die Suche nach toten und widersprüchlichen Regeln.",
        "Input combinations per outcome in the search for dead and conflicting rules.",
    ),
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help=(
        "text für Menschen; json für Skripte; sarif (2.1.0) für Anmerkungen in CI und Editoren.",
        "text for people; json for scripts; sarif (2.1.0) for annotations in CI and editors.",
    ),
)
@lang_option
def validate(rules_dir: str | None, overlays: tuple[str, ...], samples: int, fmt: str) -> None:
    """Prüft ein Regelwerk wie ein Compiler: Fehler und Warnungen mit Datei, Zeile und Hinweis."""
    from eligibility.apps.validate import summary_line, validate_tree
    from eligibility.apps.validate import validate as _validate
    from eligibility.engine import default_rules_dir

    lang = current()
    engine: Engine | None
    if overlays:
        try:
            loaded = Engine.load(rules_dir, overlays=overlays)
        except RuleSetError as exc:
            engine = None
            diags = exc.diagnostics
        else:
            engine = loaded
            diags = _validate(loaded, samples=samples).diagnostics
    else:
        # Without --overlay: the rule set and every overlay in its overlays/ folder.
        engine, report = validate_tree(rules_dir or default_rules_dir(), samples=samples)
        diags = report.diagnostics
    errors = [d for d in diags if d.severity == "error"]
    if fmt != "text":
        from eligibility import __version__
        from eligibility.io.diagnostics_out import to_json, to_sarif

        info = (
            {"name": engine.info.name, "version": engine.info.version, "sha256": engine.info.sha256} if engine else None
        )
        # Codes, places and the shape stay; message and hint follow --lang.
        shown = [d.localized(lang) for d in diags]
        click.echo(to_json(shown, info) if fmt == "json" else to_sarif(shown, __version__))
        if errors:
            sys.exit(1)
        return
    for d in diags:
        click.echo(d.format(lang))
    click.echo(summary_line(diags, engine, lang))
    if errors:
        sys.exit(1)


@command("test", help_en="Runs case files (default: cases/) and shows which legal sources they cover.")
@argument(
    "paths",
    nargs=-1,
    type=click.Path(),
    help=(
        "Falldateien oder Ordner mit Falldateien (Standard: cases/).",
        "Case files or folders of them (default: cases/).",
    ),
)
@rules_option
@option(
    "--coverage/--no-coverage",
    "show_coverage",
    default=True,
    show_default=True,
    help=("Abdeckung nach Rechtsquelle und Regel ausgeben.", "Print the coverage by legal source and rule."),
)
@option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    help=(
        "Fehlschlag, wenn weniger Prozent der Regeln mit ja und nein geprüft sind.",
        "Fail when a smaller percentage of the rules is tested with yes and with no.",
    ),
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help=("text zum Lesen; json für Skripte und CI.", "text to read; json for scripts and CI."),
)
@lang_option
def test_cmd(
    paths: tuple[str, ...], rules: str | None, show_coverage: bool, min_coverage: float | None, fmt: str
) -> None:
    """Führt Falldateien aus (Standard: cases/) und zeigt, welche Rechtsquellen sie abdecken."""
    from eligibility.apps.cases import CaseRun, coverage, run_cases

    targets = paths or ("cases",)
    for t in targets:
        if not Path(t).exists():
            fail(f"nicht gefunden: {t}", f"not found: {t}")
    try:
        results, cache = run_cases(targets, rules)
    except RuleSetError as exc:
        rule_set_failed(exc, decided=False)
    if not results:
        fail("keine Falldateien gefunden", "no case files found")
    run = CaseRun(results, *coverage(results, cache))
    click.echo(run.json() if fmt == "json" else run.text(show_coverage, current()))
    if run.failed:
        sys.exit(1)
    pct = run.percent
    if min_coverage is not None and pct < min_coverage:
        click.echo(
            say(
                f"Abdeckung {pct:.1f} % liegt unter {min_coverage:.1f} %",
                f"coverage {pct:.1f} % is below {min_coverage:.1f} %",
            ),
            err=True,
        )
        sys.exit(1)


@command(help_en="Whom a change of the rules affects: per person the old and new value and the rule that changes it.")
@option(
    "--old",
    "old",
    required=True,
    help=(
        "Bisheriges Regelwerk: Ordner oder git-Revision von rules/.",
        "Current rule set: a folder or a git revision of rules/.",
    ),
)
@option(
    "--new",
    "new",
    required=True,
    help=(
        "Neues Regelwerk: Ordner oder git-Revision von rules/.",
        "New rule set: a folder or a git revision of rules/.",
    ),
)
@argument(
    "input_file",
    metavar="ROSTER",
    type=click.Path(allow_dash=True),
    help=(
        "Personenliste (.csv, .xlsx, .jsonl …; - liest von der Standardeingabe).",
        "Roster (.csv, .xlsx, .jsonl …; - reads standard input).",
    ),
)
@on_option()
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=("Zusätzlich als .csv, .html oder .txt.", "Also as .csv, .html or .txt."),
)
@overlay_option
@entity_option
@lang_option
@with_input_options
def impact(
    old: str,
    new: str,
    input_file: str,
    on: str | None,
    out: str | None,
    overlays: tuple[str, ...],
    entity: str | None,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Wen eine Regeländerung betrifft: je Person alter und neuer Wert und die Regel, die es ändert."""
    from eligibility.apps import impact as imp
    from eligibility.io.rosters import read_roster

    day = date_option(on)
    try:
        old_engine, old_name = imp.load_side(old, overlays)
        new_engine, new_name = imp.load_side(new, overlays)
    except RuleSetError as exc:
        rule_set_failed(exc, decided=False)
    except ValueError as exc:
        fail(error_text(exc))
    if not Path(input_file).is_file():
        fail(f"Datei nicht gefunden: {input_file}", f"file not found: {input_file}")
    check_columns(new_engine, entity, input_file, in_format, encoding, delimiter, sheet)
    try:
        _, rows = read_roster(input_file, new_engine.entity(entity).facts, in_format, encoding, delimiter, sheet)
        result = imp.impact(old_engine, new_engine, rows, day, old_name, new_name, entity)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{input_file}: {error_text(exc)}")
    text = imp.render_text(result)
    click.echo(text, nl=False)
    if out:
        imp.write_impact(result, text, out)
        click.echo(say(f"geschrieben: {out}", f"written: {out}"), err=True)


@command(help_en="Which rules and parameter versions are in force on a day.")
@on_option()
@rules_option
@overlay_option
@lang_option
def applied(on: str | None, rules: str | None, overlays: tuple[str, ...]) -> None:
    """Welche Regeln und Parameterfassungen an einem Tag in Kraft sind."""
    from eligibility.apps.impact import applied as _applied

    engine = load_engine(rules, overlays)
    click.echo(_applied(engine, date_option(on)), nl=False)


@command(help_en="Prints the fact schema of a record as JSON Schema.")
@rules_option
@entity_option
@option(
    "--rule-file",
    "rule_file",
    is_flag=True,
    help=(
        "Statt des Faktenschemas: das JSON Schema der Regeldateien selbst (für YAML-Editoren).",
        "Instead of the fact schema: the JSON Schema of the rule files themselves (for YAML editors).",
    ),
)
@lang_option
def schema(rules: str | None, entity: str | None, rule_file: bool) -> None:
    """Gibt das Faktenschema eines Datensatzes als JSON Schema aus."""
    if rule_file:
        from eligibility.source.model import rule_file_schema

        click.echo(json.dumps(rule_file_schema(), indent=2, ensure_ascii=False))
        return
    engine = load_engine(rules, ())
    try:
        click.echo(json.dumps(engine.facts_schema(entity), indent=2, ensure_ascii=False))
    except ValueError as exc:
        fail(error_text(exc))


@command(help_en="Writes the rule set as readable documentation (Markdown or HTML).")
@_rules_dir_argument
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=("Zieldatei (Standard: Ausgabe auf dem Terminal).", "Target file (default: the terminal)."),
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
    help=(
        "markdown für Repositorien und Wikis; html als eigenständige Seite.",
        "markdown for repositories and wikis; html as a standalone page.",
    ),
)
@option(
    "--check",
    is_flag=True,
    help=(
        "Nur prüfen, ob --out aktuell ist (Exit 1, wenn nicht).",
        "Only check that --out is up to date (exit 1 if not).",
    ),
)
@lang_option
def docs(rules_dir: str | None, out: str | None, fmt: str, check: bool) -> None:
    """Schreibt das Regelwerk als lesbare Dokumentation (Markdown oder HTML)."""
    from eligibility.apps.docs import render_docs

    engine = load_engine(rules_dir, ())
    text = render_docs(engine, fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if check:
        written = target.read_text(encoding="utf-8") if target.is_file() else ""
        if written != text:
            again = f"eligibility docs --out {out}" + (" --format html" if fmt == "html" else "")
            click.echo(say(f"{out} ist nicht aktuell: {again}", f"{out} is not up to date: {again}"), err=True)
            sys.exit(1)
        click.echo(say(f"{out} ist aktuell.", f"{out} is up to date."))
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(say(f"{out} geschrieben.", f"{out} written."))

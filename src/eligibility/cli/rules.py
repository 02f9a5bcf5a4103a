"""The rule set itself: `validate`, `test` (cases and coverage), `impact` of a change,
`applied` on a day, `schema` and `docs`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from eligibility.cli.errors import EXIT_BAD_INPUT, date_option, error_text, fail, load_engine
from eligibility.cli.inputs import check_columns
from eligibility.cli.options import overlay_option, rules_option, with_input_options
from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine


@click.command()
@click.argument("rules_dir", required=False, type=click.Path())
@overlay_option
@click.option(
    "--samples",
    type=click.IntRange(100),
    default=6000,
    show_default=True,
    help="Eingabekombinationen je Ergebnis für die Suche nach toten und widersprüchlichen Regeln.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="text für Menschen; json für Skripte; sarif (2.1.0) für Anmerkungen in CI und Editoren.",
)
def validate(rules_dir: str | None, overlays: tuple[str, ...], samples: int, fmt: str) -> None:
    """Prüft ein Regelwerk wie ein Compiler: Fehler und Warnungen mit Datei, Zeile und Hinweis."""
    from eligibility.apps.validate import validate as _validate
    from eligibility.apps.validate import validate_tree
    from eligibility.engine import default_rules_dir

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
        click.echo(to_json(diags, info) if fmt == "json" else to_sarif(diags, __version__))
        if errors:
            sys.exit(1)
        return
    for d in diags:
        click.echo(d.format())
    ok = f" – {engine.info.name} {engine.info.version} ist in Ordnung" if engine and not diags else ""
    click.echo(f"{len(errors)} Fehler, {len(diags) - len(errors)} Warnungen{ok}")
    if errors:
        sys.exit(1)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@rules_option
@click.option(
    "--coverage/--no-coverage",
    "show_coverage",
    default=True,
    show_default=True,
    help="Abdeckung nach Rechtsquelle und Regel ausgeben.",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    help="Fehlschlag, wenn weniger Prozent der Regeln mit ja und nein geprüft sind.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def test_cmd(
    paths: tuple[str, ...], rules: str | None, show_coverage: bool, min_coverage: float | None, fmt: str
) -> None:
    """Führt Falldateien aus (Standard: cases/) und zeigt, welche Rechtsquellen sie abdecken."""
    from eligibility.apps.cases import coverage, run_cases
    from eligibility.diagnostics import RuleSetError as _RSE

    targets = paths or ("cases",)
    for t in targets:
        if not Path(t).exists():
            fail(f"nicht gefunden: {t}")
    try:
        results, cache = run_cases(targets, rules)
    except _RSE as exc:
        click.echo(exc.format(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    if not results:
        fail("keine Falldateien gefunden")
    rule_cov, source_cov = coverage(results, cache)
    failed = [r for r in results if not r.passed]
    covered = sum(1 for r in rule_cov if r.complete)
    pct = 100.0 * covered / len(rule_cov) if rule_cov else 100.0
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "passed": len(results) - len(failed),
                    "failed": len(failed),
                    "failures": [{"case": r.path, "messages": r.failures} for r in failed],
                    "coverage": {
                        "rules_complete_percent": round(pct, 1),
                        "rules": [dataclasses_asdict(r) for r in rule_cov],
                        "sources": [
                            {"citation": s.citation, "complete": s.complete, "rules": [r.rule for r in s.rules]}
                            for s in source_cov
                        ],
                    },
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for r in failed:
            click.echo(f"FEHLER {r.path}")
            for msg in r.failures:
                click.echo(f"  - {msg}")
        if show_coverage:
            click.echo("\nAbdeckung nach Rechtsquelle (ja/nein: Fälle mit erfüllter / nicht erfüllter Bedingung):")
            for s in source_cov:
                mark = "✓" if s.complete else "✗"
                click.echo(f"  {mark} {s.citation}")
                for rc in s.rules:
                    gap = "" if rc.complete else ("  ← kein Fall mit ja" if not rc.yes else "  ← kein Fall mit nein")
                    if rc.unconditional:
                        gap += "  (ohne Bedingung)"
                    click.echo(f"      {rc.rule:32} ja {rc.yes:3}  nein {rc.no:3}{gap}")
            click.echo(f"\nRegeln mit ja und nein geprüft: {covered}/{len(rule_cov)} ({pct:.1f} %)")
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)
    if min_coverage is not None and pct < min_coverage:
        click.echo(f"Abdeckung {pct:.1f} % liegt unter {min_coverage:.1f} %", err=True)
        sys.exit(1)


def dataclasses_asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)


@click.command()
@click.option("--old", "old", required=True, help="Bisheriges Regelwerk: Ordner oder git-Revision von rules/.")
@click.option("--new", "new", required=True, help="Neues Regelwerk: Ordner oder git-Revision von rules/.")
@click.argument("input_file", metavar="ROSTER", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@click.option("--out", "out", type=click.Path(), default=None, help="Zusätzlich als .csv, .html oder .txt.")
@overlay_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
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
    from eligibility.text.render import environment

    day = date_option(on)
    try:
        old_engine, old_name = imp.load_side(old, overlays)
        new_engine, new_name = imp.load_side(new, overlays)
    except RuleSetError as exc:
        click.echo(exc.format(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ValueError as exc:
        fail(str(exc))
    if not Path(input_file).is_file():
        fail(f"Datei nicht gefunden: {input_file}")
    check_columns(new_engine, entity, input_file, in_format, encoding, delimiter, sheet)
    try:
        _, rows = read_roster(input_file, new_engine.entity(entity).facts, in_format, encoding, delimiter, sheet)
        result = imp.impact(old_engine, new_engine, rows, day, old_name, new_name, entity)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{input_file}: {error_text(exc)}")
    text = imp.render_text(result)
    click.echo(text, nl=False)
    if out:
        target = Path(out)
        if target.suffix.lower() == ".csv":
            import csv as _csv

            rows_out = imp.flip_rows(result)
            with target.open("w", encoding="utf-8-sig", newline="") as fh:
                w = _csv.DictWriter(
                    fh,
                    fieldnames=["zeile", "id", "gemeinde", "ergebnis", "alt", "neu", "ursache", "art", "quelle"],
                    delimiter=";",
                )
                w.writeheader()
                from eligibility.io.cells import neutralise

                # Ids and names are the roster's text: no live formula in a spreadsheet.
                w.writerows({k: neutralise(v) for k, v in r.items()} for r in rows_out)
        elif target.suffix.lower() in (".html", ".htm"):
            target.write_text(
                environment().get_template("impact.html.j2").render(r=result, rows=imp.flip_rows(result)),
                encoding="utf-8",
            )
        else:
            target.write_text(text, encoding="utf-8")
        click.echo(f"geschrieben: {out}", err=True)


@click.command()
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@rules_option
@overlay_option
def applied(on: str | None, rules: str | None, overlays: tuple[str, ...]) -> None:
    """Welche Regeln und Parameterfassungen an einem Tag in Kraft sind."""
    from eligibility.apps.impact import applied as _applied

    engine = load_engine(rules, overlays)
    click.echo(_applied(engine, date_option(on)), nl=False)


@click.command()
@rules_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
@click.option(
    "--rule-file",
    "rule_file",
    is_flag=True,
    help="Statt des Faktenschemas: das JSON Schema der Regeldateien selbst (für YAML-Editoren).",
)
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
        fail(str(exc))


@click.command()
@click.argument("rules_dir", required=False, type=click.Path())
@click.option("--out", "out", type=click.Path(), default=None, help="Zieldatei (Standard: Ausgabe auf dem Terminal).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown", show_default=True)
@click.option("--check", is_flag=True, help="Nur prüfen, ob --out aktuell ist (Exit 1, wenn nicht).")
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
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            click.echo(
                f"{out} ist nicht aktuell: eligibility docs --out {out}" + (" --format html" if fmt == "html" else ""),
                err=True,
            )
            sys.exit(1)
        click.echo(f"{out} ist aktuell.")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"{out} geschrieben.")

"""The `eligibility` command line. Exit codes: 0 decided, 1 test failures or rule set
errors found by a check, 2 bad input (with a clear message, never a traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from .diagnostics import RuleSetError
from .engine import Engine, coerce_date

EXIT_BAD_INPUT = 2


def _fail(message: str) -> NoReturn:
    click.echo(f"Fehler: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def load_engine(rules: str | None, overlays: tuple[str, ...]) -> Engine:
    try:
        return Engine.load(rules, overlays=overlays)
    except RuleSetError as exc:
        click.echo(exc.format(), err=True)
        click.echo(f"{len(exc.diagnostics)} Fehler im Regelwerk – nichts entschieden.", err=True)
        sys.exit(EXIT_BAD_INPUT)


def read_record_file(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A person file (YAML or JSON): the record itself, or a case file with `record:`.
    Returns the record and the file's other keys (a case's `on`, `entity`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        _fail(f"Datei nicht gefunden: {path}")
    except UnicodeDecodeError:
        _fail(f"{path}: Datei ist nicht UTF-8-kodiert")
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        _fail(f"{path}:{exc.lineno}:{exc.colno}: kein gültiges JSON ({exc.msg})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        _fail(f"{path}{where}: kein gültiges YAML ({getattr(exc, 'problem', '') or exc})")
    if not isinstance(data, dict):
        _fail(f"{path}: erwartet ein Objekt mit Feldern (z. B. aufenthaltsstatus: ...)")
    from .cases import unfold_on_key

    data = unfold_on_key(data)
    if isinstance(data.get("record"), dict):
        return data["record"], {k: v for k, v in data.items() if k != "record"}
    return data, {}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eligibility")
def main() -> None:
    """Entscheidet, ob eine Person zu einer gesetzlich bestimmten Zielgruppe gehört, und erklärt warum."""


_rules_option = click.option("--rules", "rules", type=click.Path(), default=None,
                             help="Regelwerk-Ordner (Standard: das mitgelieferte rules/).")
_overlay_option = click.option("--overlay", "overlays", multiple=True, type=click.Path(),
                               help="Kreis-Overlay, z. B. rules/overlays/goeppingen.yaml (mehrfach möglich).")


@main.command()
@click.argument("person", type=click.Path())
@click.option("--on", "on", default=None, help="Stichtag JJJJ-MM-TT oder TT.MM.JJJJ (Standard: heute).")
@_rules_option
@_overlay_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person; z. B. stelle).")
@click.option("--brief", is_flag=True, help="Nur Ergebnis und Begründung, ohne Bedingungsbaum.")
def check(person: str, on: str | None, rules: str | None, overlays: tuple[str, ...], fmt: str, lang: str,
          entity: str | None, brief: bool) -> None:
    """Entscheidet einen Datensatz (YAML oder JSON) zum Stichtag und erklärt die Entscheidung."""
    engine = load_engine(rules, overlays)
    record, meta = read_record_file(person)
    when = on if on is not None else meta.get("on")
    try:
        day = coerce_date(when)
    except ValueError:
        _fail("--on: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)")
    try:
        decision = engine.decide(record, day, entity=entity or meta.get("entity"), explain=True)
    except ValueError as exc:
        _fail(str(exc))
    if fmt == "json":
        click.echo(decision.to_json())
    else:
        click.echo(engine.render(decision, "markdown" if fmt == "markdown" else "text", lang, detail=not brief), nl=False)
    if decision.errors:
        for e in decision.errors:
            click.echo(f"Fehler: {getattr(e.message, lang)}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@_rules_option
@click.option("--coverage/--no-coverage", "show_coverage", default=True, show_default=True,
              help="Abdeckung nach Rechtsquelle und Regel ausgeben.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None,
              help="Fehlschlag, wenn weniger Prozent der Regeln mit ja und nein geprüft sind.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def test_cmd(paths: tuple[str, ...], rules: str | None, show_coverage: bool, min_coverage: float | None,
             fmt: str) -> None:
    """Führt Falldateien aus (Standard: cases/) und zeigt, welche Rechtsquellen sie abdecken."""
    from .cases import coverage, run_cases
    from .diagnostics import RuleSetError as _RSE

    targets = paths or ("cases",)
    for t in targets:
        if not Path(t).exists():
            _fail(f"nicht gefunden: {t}")
    try:
        results, cache = run_cases(targets, rules)
    except _RSE as exc:
        click.echo(exc.format(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    if not results:
        _fail("keine Falldateien gefunden")
    rule_cov, source_cov = coverage(results, cache)
    failed = [r for r in results if not r.passed]
    covered = sum(1 for r in rule_cov if r.complete)
    pct = 100.0 * covered / len(rule_cov) if rule_cov else 100.0
    if fmt == "json":
        click.echo(json.dumps({
            "passed": len(results) - len(failed), "failed": len(failed),
            "failures": [{"case": r.path, "messages": r.failures} for r in failed],
            "coverage": {"rules_complete_percent": round(pct, 1),
                         "rules": [dataclasses_asdict(r) for r in rule_cov],
                         "sources": [{"citation": s.citation, "complete": s.complete,
                                      "rules": [r.rule for r in s.rules]} for s in source_cov]},
        }, indent=2, ensure_ascii=False))
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
                for r in s.rules:
                    gap = "" if r.complete else ("  ← kein Fall mit ja" if not r.yes else "  ← kein Fall mit nein")
                    if r.unconditional:
                        gap += "  (ohne Bedingung)"
                    click.echo(f"      {r.rule:32} ja {r.yes:3}  nein {r.no:3}{gap}")
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


@main.command()
@_rules_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
def schema(rules: str | None, entity: str | None) -> None:
    """Gibt das Faktenschema eines Datensatzes als JSON Schema aus."""
    engine = load_engine(rules, ())
    try:
        click.echo(json.dumps(engine.facts_schema(entity), indent=2, ensure_ascii=False))
    except ValueError as exc:
        _fail(str(exc))


@main.command()
@click.argument("rules_dir", required=False, type=click.Path())
@click.option("--out", "out", type=click.Path(), default=None, help="Zieldatei (Standard: Ausgabe auf dem Terminal).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown", show_default=True)
@click.option("--check", is_flag=True, help="Nur prüfen, ob --out aktuell ist (Exit 1, wenn nicht).")
def docs(rules_dir: str | None, out: str | None, fmt: str, check: bool) -> None:
    """Schreibt das Regelwerk als lesbare Dokumentation (Markdown oder HTML)."""
    from .ruledocs import render_docs

    engine = load_engine(rules_dir, ())
    text = render_docs(engine, fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            click.echo(f"{out} ist nicht aktuell: eligibility docs --out {out}" + (" --format html" if fmt == "html" else ""),
                       err=True)
            sys.exit(1)
        click.echo(f"{out} ist aktuell.")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"{out} geschrieben.")


if __name__ == "__main__":  # pragma: no cover
    main()

"""The `eligibility` command line. Exit codes: 0 decided, 1 test failures or rule set
errors found by a check, 2 bad input (with a clear message, never a traceback)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine, coerce_date

EXIT_BAD_INPUT = 2


def _fail(message: str) -> NoReturn:
    click.echo(f"Fehler: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _bilingual(exc: Exception) -> str:
    """An error's German text, and its English one where it carries one (a refused
    spreadsheet): the message reaches users of both languages before --lang is read."""
    en = getattr(exc, "en", None)
    return f"{exc} / {en}" if isinstance(en, str) and en != str(exc) else str(exc)


def load_engine(rules: str | None, overlays: tuple[str, ...]) -> Engine:
    try:
        return Engine.load(rules, overlays=overlays)
    except RuleSetError as exc:
        click.echo(exc.format(), err=True)
        click.echo(f"{len(exc.diagnostics)} Fehler im Regelwerk – nichts entschieden.", err=True)
        sys.exit(EXIT_BAD_INPUT)


class _RecordLoader(yaml.SafeLoader):
    """YAML for one person record: safe, a key given twice is an error (not last-wins:
    which of two Aufenthaltsstatus is meant cannot be guessed, as in JSON), and no
    anchors or aliases (a record never needs them; expanded they can cost gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "Anker und Aliase (*name) sind in Datensätzen nicht erlaubt",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if twice:
                raise yaml.constructor.ConstructorError(
                    None, None, f"Schlüssel „{key}“ kommt zweimal vor", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_record_file(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A person file (YAML or JSON): the record itself, or a case file with `record:`.
    Returns the record and the file's other keys (a case's `on`, `entity`)."""
    p = Path(path)
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8-sig")
            # JSON or YAML: a JSON object starts with "{" (YAML would read it too, but
            # silently take the last of two equal keys).
            p = Path("stdin.json" if text.lstrip().startswith("{") else "stdin.yaml")
        else:
            text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        _fail(f"Datei nicht gefunden: {path}")
    except UnicodeDecodeError:
        _fail(f"{path}: Datei ist nicht UTF-8-kodiert")
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}")
    try:
        if p.suffix.lower() == ".json":
            from eligibility.io.rosters import DuplicateKey, no_duplicate_keys

            try:
                data = json.loads(text, object_pairs_hook=no_duplicate_keys)
            except DuplicateKey as exc:
                _fail(f"{path}: Schlüssel „{exc.key}“ kommt zweimal vor")
        else:
            data = yaml.load(text, Loader=_RecordLoader)  # noqa: S506 - a SafeLoader, stricter
    except RecursionError:
        _fail(f"{path}: Datensatz zu tief verschachtelt")
    except json.JSONDecodeError as exc:
        _fail(f"{path}:{exc.lineno}:{exc.colno}: kein gültiges JSON ({exc.msg})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        _fail(f"{path}{where}: kein gültiges YAML ({getattr(exc, 'problem', '') or exc})")
    if not isinstance(data, dict):
        _fail(f"{path}: erwartet ein Objekt mit Feldern (z. B. aufenthaltsstatus: ...)")
    try:
        # A lone surrogate ("\\ud800" in JSON) reads, but no output can be written with it.
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        _fail(f"{path}: ein Text enthält ein ungültiges Zeichen (einzelnes UTF-16-Surrogat)")
    except RecursionError:
        _fail(f"{path}: Datensatz zu tief verschachtelt")
    from eligibility.apps.cases import unfold_on_key

    data = unfold_on_key(data)
    if isinstance(data.get("record"), dict):
        return data["record"], {k: v for k, v in data.items() if k != "record"}
    return data, {}


# Which extra brings a module that is optional for the single-record path.
_EXTRAS = {"numpy": "batch", "pyarrow": "batch", "fastapi": "serve", "uvicorn": "serve", "multipart": "serve"}


class _Group(click.Group):
    """Turns a missing optional dependency into the command to install it, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecursionError:
            # A rule set whose derived facts form a chain hundreds deep (each expression is within
            # its limits, E033/E034) recurses past Python's stack while it is checked or explained.
            _fail(
                "zu tief verschachtelt: eine Kette abgeleiteter Angaben im Regelwerk (oder der Datensatz) ist zu lang "
                "/ nested too deeply: a chain of derived facts in the rule set (or the record) is too long"
            )
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in _EXTRAS:
                raise
            extra = _EXTRAS[top]
            _fail(
                f"dieser Befehl braucht das Zusatzpaket „{extra}“ ({top} fehlt): pip install 'eligibility[{extra}]' "
                f"(im Projektordner: .venv/bin/pip install -e '.[{extra}]')"
            )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eligibility")
def main() -> None:
    """Entscheidet, ob eine Person zu einer gesetzlich bestimmten Zielgruppe gehört, und erklärt warum."""


_rules_option = click.option(
    "--rules", "rules", type=click.Path(), default=None, help="Regelwerk-Ordner (Standard: das mitgelieferte rules/)."
)
_overlay_option = click.option(
    "--overlay",
    "overlays",
    multiple=True,
    type=click.Path(),
    help="Kreis-Overlay, z. B. rules/overlays/goeppingen.yaml (mehrfach möglich).",
)


@main.command()
@click.argument("person", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag JJJJ-MM-TT oder TT.MM.JJJJ (Standard: heute).")
@_rules_option
@_overlay_option
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
    day = _date_option(when)
    try:
        decision = engine.decide(record, day, entity=entity or meta.get("entity"), explain=True)
    except OverflowError:
        # Date arithmetic whose count or date comes from the record left the calendar.
        from eligibility.apps.result_rows import UNDECIDABLE

        _fail(UNDECIDABLE[0] if lang == "de" else UNDECIDABLE[1])
    except ValueError as exc:
        _fail(str(exc))
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


@main.command()
@click.argument("rules_dir", required=False, type=click.Path())
@_overlay_option
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


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@_rules_option
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


_input_options = [
    click.option(
        "--in-format",
        type=click.Choice(["csv", "xlsx", "jsonl"]),
        default=None,
        help="Format der Eingabe (Standard: nach Dateiendung).",
    ),
    click.option("--encoding", default=None, help="Zeichenkodierung der CSV-Datei (Standard: erkannt; z. B. cp1252)."),
    click.option("--delimiter", default=None, help="Trennzeichen der CSV-Datei (Standard: erkannt)."),
    click.option(
        "--sheet",
        default=None,
        help="Tabellenblatt der Tabellendatei (Standard: das Blatt, dessen Kopfzeile die meisten Felder hat).",
    ),
]


_column_options = [
    click.option(
        "--missing-column",
        "missing_columns",
        multiple=True,
        metavar="FELD",
        help="Diese Spalte fehlt absichtlich: die Angabe ist für jede Zeile unbekannt (mehrfach möglich).",
    ),
    click.option(
        "--allow-missing",
        is_flag=True,
        help="Jede fehlende Spalte ist gewollt (sonst bricht das Programm ab, wenn die Regeln sie lesen).",
    ),
]


def _with_input_options(f: Any) -> Any:
    """The reading options; the column options are kept in the click context (read by
    `_check_columns`), so the commands' signatures stay as they are."""
    import functools

    @functools.wraps(f)
    def wrapper(*args: Any, missing_columns: tuple[str, ...] = (), allow_missing: bool = False, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        ctx.meta["eligibility.missing_columns"] = tuple(missing_columns)
        ctx.meta["eligibility.allow_missing"] = allow_missing
        if kwargs.get("input_file") == "-":
            ctx.meta["eligibility.stdin"] = True
            kwargs["input_file"] = _stdin_roster("-", kwargs.get("in_format"))
        return f(*args, **kwargs)

    g: Any = wrapper
    for opt in reversed(_input_options + _column_options):
        g = opt(g)
    return g


def _stdin_roster(path: str, in_format: str | None) -> str:
    """`-` as a roster: standard input copied to a temporary file (the spreadsheet reader
    needs a file; CSV and JSON are read twice: header, then rows), its format from
    --in-format or sniffed from the first bytes. Other paths come back unchanged."""
    if path != "-":
        return path
    import atexit
    import contextlib
    import os
    import tempfile

    data = sys.stdin.buffer.read()
    fmt = in_format
    if fmt is None:
        head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
        if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            fmt = "xlsx"
        elif head[:1] in (b"{", b"["):
            fmt = "jsonl"
        elif head:
            fmt = "csv"
        else:
            _fail("Standardeingabe ist leer")
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "xlsx": ".xlsx"}[str(fmt)]
    if fmt == "jsonl" and data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()[:1] == b"[":
        suffix = ".json"  # an array of records
    if fmt == "xlsx" and data[:4] != b"PK\x03\x04":
        suffix = ".xls"
    fd, name = tempfile.mkstemp(prefix="eligibility-stdin-", suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)

    def remove_copy() -> None:
        with contextlib.suppress(FileNotFoundError):  # already gone: nothing to clean up
            os.remove(name)

    atexit.register(remove_copy)
    return name


def _check_columns(
    engine: Engine,
    entity: str | None,
    path: str,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    rules_read: bool = True,
    outcomes: tuple[str, ...] | None = None,
) -> None:
    """Stop (exit 2) before anything is decided when a column the rules read is absent
    after matching, unless the user said it is missing on purpose; say for every
    unrecognised column which field it probably means. Headers are no personal data."""
    from eligibility.diagnostics import did_you_mean
    from eligibility.io.headers import missing_columns, missing_message
    from eligibility.io.rosters import format_of, roster_info

    ctx = click.get_current_context()
    on_purpose = ctx.meta.get("eligibility.missing_columns", ())
    allow = ctx.meta.get("eligibility.allow_missing", False)
    try:
        ent = engine.entity(entity)
        for name in on_purpose:
            if name not in ent.facts:
                hint = did_you_mean(name, list(ent.facts)).replace("did you mean", "meinten Sie")
                _fail(f"--missing-column {name}: kein Feld des Faktenschemas" + (f" ({hint})" if hint else ""))
        if format_of(path, in_format) == "jsonl":
            return  # records, not columns: a missing key is an unknown fact of that record
        info = roster_info(path, ent.facts, in_format, encoding, delimiter, sheet)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{path}: {_bilingual(exc)}")
    for header, fact in info.suggestions.items():
        click.echo(
            f"Hinweis: Spalte „{header}“ nicht erkannt – gemeint ist vielleicht „{fact}“ ({ent.facts[fact].label.de})",
            err=True,
        )
    if not rules_read:
        return
    missing = missing_columns(ent, info.columns.values(), info.ignored, () if allow else on_purpose, outcomes)
    if missing and not allow:
        _fail(f"{path}: " + missing_message(missing))
    for name in sorted(set(on_purpose) | ({m.fact for m in missing} if allow else set())):
        if name not in info.columns.values():
            click.echo(f"Hinweis: Spalte „{name}“ fehlt absichtlich – für jede Zeile unbekannt", err=True)


def _roster_rows(
    engine: Engine,
    path: str,
    on: Any,
    entity: str | None,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    outcomes: tuple[str, ...] | None = None,
) -> Any:
    from eligibility.apps.evaluate import table_decisions
    from eligibility.io.rosters import read_roster

    if not Path(path).is_file():
        _fail(f"Datei nicht gefunden: {path}")
    if not click.get_current_context().meta.get("eligibility.columns_checked"):
        _check_columns(engine, entity, path, in_format, encoding, delimiter, sheet, outcomes=outcomes)
        click.get_current_context().meta["eligibility.columns_checked"] = True
    try:
        info, rows = read_roster(path, engine.entity(entity).facts, in_format, encoding, delimiter, sheet)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{path}: {_bilingual(exc)}")
    return info, _unreadable_fails(path, table_decisions(engine, rows, on, entity))


def _unreadable_fails(path: str, pairs: Iterator[Any]) -> Iterator[Any]:
    """An .xlsx is streamed, so a broken sheet shows while its rows are read, not when it is
    opened: the same German error and exit code then."""
    from eligibility.io.archive_check import ArchiveRefused
    from eligibility.io.xlsx_reader import XlsxError

    try:
        yield from pairs
    except (XlsxError, ArchiveRefused) as exc:
        _fail(f"{path}: {_bilingual(exc)}")


def _report_recoded(info: Any, lang: str = "de") -> None:
    """Lines of a UTF-8 file that were read as Windows-1252: said, never silent."""
    rows = list(getattr(info, "recoded", None) or ())
    if not rows:
        return
    shown = ", ".join(str(n) for n in rows[:10]) + (" …" if len(rows) > 10 else "")
    if lang == "de":
        click.echo(
            f"Hinweis: {len(rows)} Zeile{'n' if len(rows) != 1 else ''} nicht UTF-8, als Windows-1252 gelesen "
            f"(Zeile {shown})",
            err=True,
        )
    else:
        click.echo(f"Note: {len(rows)} rows not UTF-8, read as Windows-1252 (row {shown})", err=True)


def _date_option(value: Any, option: str = "--on") -> Any:
    from eligibility.decision.records import LATEST_DATE, DateOutOfRange

    try:
        return coerce_date(value)
    except DateOutOfRange:
        what = "Stichtag" if option == "--on" else "Datum"
        _fail(f"{option}: {what} nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen")
    except ValueError:
        _fail(f"{option}: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)")


@main.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@click.option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="Ergebnisdatei .csv, .xlsx oder .jsonl (Standard: INPUT_ergebnis mit gleicher Endung).",
)
@_rules_option
@_overlay_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--errors-ok", is_flag=True, help="Exit 0 auch bei fehlerhaften Zeilen.")
@click.option(
    "--keep",
    "keep",
    multiple=True,
    help="Eingabespalte, die in die XLSX-Ergebnisdatei übernommen wird (mehrfach; 'all' für alle; "
    "Standard: ID, Gemeinde, Kreis).",
)
@click.option(
    "--columns",
    "columns",
    type=click.Choice(["de", "codes"]),
    default=None,
    help="Spaltenköpfe: de = deutsche Bezeichnungen (Standard bei .xlsx), codes = Feld- und "
    "Ergebnisnamen für Programme (Standard bei .csv).",
)
@_with_input_options
def evaluate(
    input_file: str,
    on: str | None,
    out: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    entity: str | None,
    lang: str,
    errors_ok: bool,
    keep: tuple[str, ...],
    columns: str | None,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Wertet eine ganze Liste aus (CSV aus Excel, XLSX, JSON Lines): eine Ergebniszeile je Eingabezeile."""
    from eligibility.apps.evaluate import evaluate_roster, terminal_progress
    from eligibility.io.rosters import format_of

    engine = load_engine(rules, overlays)
    day = _date_option(on)
    if not Path(input_file).is_file():
        _fail(f"Datei nicht gefunden: {input_file}")
    src = Path(input_file)
    if out is None and click.get_current_context().meta.get("eligibility.stdin"):
        _fail("--out fehlt: die Liste kommt von der Standardeingabe, wohin soll das Ergebnis?")
    target = out or str(src.with_name(f"{src.stem}_ergebnis{src.suffix}"))
    try:
        format_of(target)
        format_of(src, in_format)
        ent = engine.entity(entity)
        from eligibility.io.xlsx_result import parse_keep

        parse_keep(list(keep), ent.facts, ent.id_field)
    except ValueError as exc:
        _fail(str(exc))
    _check_columns(engine, entity, input_file, in_format, encoding, delimiter, sheet)
    progress = terminal_progress(src)
    try:
        summary = evaluate_roster(
            engine,
            src,
            day,
            target,
            entity=entity,
            lang=lang,
            in_format=in_format,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
            progress=progress,
            keep=keep,
            columns=columns,
        )
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{input_file}: {_bilingual(exc)}")
    if progress is not None:
        click.echo("", err=True)
    click.echo(summary.text(lang), err=True)
    _report_recoded(summary.info, lang)
    click.echo(f"Ergebnis: {target}" if lang == "de" else f"Result: {target}", err=True)
    if summary.errors and not errors_ok:
        sys.exit(1)


@main.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@click.option("--out", "out", type=click.Path(), default="bericht.html", show_default=True)
@_rules_option
@_overlay_option
@_with_input_options
def report(
    input_file: str,
    on: str | None,
    out: str,
    rules: str | None,
    overlays: tuple[str, ...],
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Bericht je Gemeinde und gesamt als HTML-Seite: Zielgruppen, Prioritäten, offene Fragen, Fehler."""
    from eligibility.apps.report import collect, render_report

    engine = load_engine(rules, overlays)
    day = _date_option(on)
    info, pairs = _roster_rows(engine, input_file, day, None, in_format, encoding, delimiter, sheet)
    data = collect(engine, pairs, day, info.ignored, row_offset=0 if info.format == "jsonl" else 1)
    Path(out).write_text(render_report(engine, data), encoding="utf-8")
    click.echo(
        f"{data.rows} Zeilen gelesen: {data.total.persons} Personen gezählt, {data.total.errors} mit Fehlern; "
        f"Bericht: {out}",
        err=True,
    )


@main.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option(
    "--year",
    type=int,
    default=None,
    help="Jahr der Erhebung nach § 29d FAG (2017, 2018; 2019 als markierte Erweiterung).",
)
@click.option(
    "--landesweit-anzahl",
    "--statewide-count",
    "statewide_count",
    type=str,
    default=None,
    metavar="N",
    help="Landesweite Zahl der gezählten Personen: Betrag je Person = Budget ÷ N.",
)
@click.option("--statewide", is_flag=True, help="Die Liste umfasst das ganze Land: N = Zahl dieser Liste.")
@click.option("--per-head", type=str, default=None, metavar="EUR", help="Betrag je Person in EUR.")
@click.option(
    "--budget", type=str, default=None, metavar="EUR", help="Landesmittel in EUR (Standard: aus dem Regelwerk)."
)
@click.option(
    "--im-budget",
    "im_budget",
    is_flag=True,
    help="Dazu das IM-Budget 2018–2019 je Gemeinde (Zählung vom 15.09.2017) und die Stellen, die es finanziert.",
)
@click.option("--out", "out", type=click.Path(), default=None, help="Tabelle zusätzlich als .csv, .xlsx oder .json.")
@_rules_option
@_overlay_option
@_with_input_options
def allocation(
    input_file: str,
    year: int | None,
    statewide_count: str | None,
    statewide: bool,
    per_head: str | None,
    budget: str | None,
    im_budget: bool,
    out: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Zählung nach § 29d FAG je Gemeinde zum 15.09. und Anteil am Budget; IM-Budget je Gemeinde.

    Geldbeträge nur mit einer landesweiten Angabe (--landesweit-anzahl, --per-head oder --statewide):
    eine Kreisliste ist nur ein Teil des Landes."""
    from eligibility.apps import allocation as alloc
    from eligibility.apps import allocation_output as alloc_out

    if year is None and not im_budget:
        _fail("--year fehlt (Jahr der Erhebung nach § 29d FAG), oder --im-budget für das IM-Budget allein")
    out_format = Path(out).suffix.lower() if out else None
    if out_format not in (None, ".csv", ".xlsx", ".json"):
        _fail("--out: erwartet eine Datei .csv, .xlsx oder .json")
    engine = load_engine(rules, overlays)
    try:
        b = alloc.parse_amount(budget, "--budget") if budget else None
        ph = alloc.parse_amount(per_head, "--per-head") if per_head else None
        n = alloc.parse_count(statewide_count, "--landesweit-anzahl") if statewide_count else None
        if ph is not None and (n is not None or statewide):
            raise alloc.AllocationError(
                "--per-head und eine landesweite Zahl (--landesweit-anzahl/--statewide) "
                "schließen sich aus: bitte nur eine Angabe machen"
            )
        stichtag = alloc.stichtag_of(engine, year)[0] if year is not None else None
        result = None
        if year is not None:
            # The count reads only what deciding § 29d reads: other missing columns do not stop it.
            _, pairs = _roster_rows(
                engine, input_file, stichtag, None, in_format, encoding, delimiter, sheet, outcomes=("lastenausgleich",)
            )
            result = alloc.lastenausgleich(engine, pairs, year, b, ph, n, statewide)
        table = None
        if im_budget:
            _, pairs17 = _roster_rows(
                engine,
                input_file,
                alloc.IM_COUNT_DAY,
                None,
                in_format,
                encoding,
                delimiter,
                sheet,
                outcomes=("lastenausgleich",),
            )
            table = alloc.im_budgets(engine, pairs17)
    except alloc.AllocationError as exc:
        _fail(str(exc))
    parts = ([alloc_out.allocation_text(result)] if result is not None else []) + (
        [alloc_out.im_text(table, notes=result is None or result.stichtag != alloc.IM_COUNT_DAY)]
        if table is not None
        else []
    )
    click.echo("\n\n".join(parts))
    if not im_budget:
        click.echo("Das IM-Budget 2018–2019 je Gemeinde und die Stellen, die es finanziert: mit --im-budget.", err=True)
    if out:
        try:
            if out_format == ".xlsx":
                alloc_out.write_xlsx(result, table, out)
            elif out_format == ".json":
                Path(out).write_text(alloc_out.json_text(result, table), encoding="utf-8", newline="\n")
            else:
                Path(out).write_text(alloc_out.csv_text(result, table), encoding="utf-8-sig", newline="")
        except OSError as exc:
            _fail(f"{out}: nicht schreibbar ({exc.strerror})")
        click.echo(f"Tabelle: {out}", err=True)


def _eur(x: Any) -> str:
    from decimal import Decimal

    from eligibility.lang.values import format_value

    return format_value(Decimal(str(x)), "de") + " €"


@main.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option("--out", "out", type=click.Path(), required=True, help=".csv, .xlsx oder .jsonl")
@click.option(
    "--style",
    type=click.Choice(["excel", "plain"]),
    default="excel",
    show_default=True,
    help="excel: deutsche Spaltennamen, Semikolon, TT.MM.JJJJ; plain: Feldnamen, Komma, ISO-Daten.",
)
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
@_rules_option
@_with_input_options
def convert(
    input_file: str,
    out: str,
    style: str,
    entity: str | None,
    rules: str | None,
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Wandelt eine Liste in ein anderes Format (z. B. Excel-CSV nach XLSX) mit den Spalten des Faktenschemas."""
    from eligibility.io.rosters import convert as _convert

    engine = load_engine(rules, ())
    if not Path(input_file).is_file():
        _fail(f"Datei nicht gefunden: {input_file}")
    _check_columns(engine, entity, input_file, in_format, encoding, delimiter, sheet, rules_read=False)
    try:
        written, failed = _convert(
            input_file, out, engine.entity(entity).facts, style, in_format, encoding, delimiter, sheet
        )
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{input_file}: {_bilingual(exc)}")
    click.echo(f"{written} Zeilen geschrieben: {out}", err=True)
    for row in failed:
        click.echo(f"Zeile {row.number}: {row.error}", err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.option("--old", "old", required=True, help="Bisheriges Regelwerk: Ordner oder git-Revision von rules/.")
@click.option("--new", "new", required=True, help="Neues Regelwerk: Ordner oder git-Revision von rules/.")
@click.argument("input_file", metavar="ROSTER", type=click.Path(allow_dash=True))
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@click.option("--out", "out", type=click.Path(), default=None, help="Zusätzlich als .csv, .html oder .txt.")
@_overlay_option
@click.option("--entity", default=None, help="Art des Datensatzes (Standard: person).")
@_with_input_options
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

    day = _date_option(on)
    try:
        old_engine, old_name = imp.load_side(old, overlays)
        new_engine, new_name = imp.load_side(new, overlays)
    except RuleSetError as exc:
        click.echo(exc.format(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ValueError as exc:
        _fail(str(exc))
    if not Path(input_file).is_file():
        _fail(f"Datei nicht gefunden: {input_file}")
    _check_columns(new_engine, entity, input_file, in_format, encoding, delimiter, sheet)
    try:
        _, rows = read_roster(input_file, new_engine.entity(entity).facts, in_format, encoding, delimiter, sheet)
        result = imp.impact(old_engine, new_engine, rows, day, old_name, new_name, entity)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{input_file}: {_bilingual(exc)}")
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


@main.command()
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@_rules_option
@_overlay_option
def applied(on: str | None, rules: str | None, overlays: tuple[str, ...]) -> None:
    """Welche Regeln und Parameterfassungen an einem Tag in Kraft sind."""
    from eligibility.apps.impact import applied as _applied

    engine = load_engine(rules, overlays)
    click.echo(_applied(engine, _date_option(on)), nl=False)


@main.command()
@click.argument("person", type=click.Path())
@click.option("--from", "start", default=None, help="Erster Tag (Standard: Beginn des Regelwerks).")
@click.option("--to", "end", default=None, help="Letzter Tag (Standard: ein Jahr nach der letzten Änderung).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(), default=None, help="In eine Datei schreiben.")
@_rules_option
@_overlay_option
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
    first = _date_option(start, "--from") if start else None
    last = _date_option(end, "--to") if end else None
    if first is not None and last is not None and last < first:
        _fail("--to liegt vor --from")
    try:
        ent = engine.entity(entity or meta.get("entity"))
    except (KeyError, ValueError):
        _fail(f"--entity: unbekannte Art des Datensatzes (bekannt: {', '.join(engine.entities)})")
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
        _fail(str(exc))
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


@main.command()
@click.argument("input_file", metavar="ROSTER", type=click.Path(allow_dash=True))
@click.option(
    "--within",
    default="90d",
    show_default=True,
    help="Zeitraum ab dem Stichtag: 90d (Tage), 12w (Wochen), 6m (Kalendermonate), 1y.",
)
@click.option("--on", "on", default=None, help="Stichtag (Standard: heute).")
@click.option("--out", "out", type=click.Path(), default=None, help=".csv, .xlsx, .html (Standard: Text).")
@_rules_option
@_overlay_option
@_with_input_options
def upcoming(
    input_file: str,
    within: str,
    on: str | None,
    out: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    in_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> None:
    """Arbeitsliste: wessen Ergebnis sich im Zeitraum ändert (GU-Pflicht endet, AUB-Kreis, Beratungsende), nach Datum."""
    from eligibility.apps.upcoming import upcoming_changes, window_end, write_upcoming
    from eligibility.io.rosters import read_roster

    engine = load_engine(rules, overlays)
    day = _date_option(on)
    try:
        end = window_end(day, within)
    except ValueError as exc:
        _fail(str(exc))
    if not Path(input_file).is_file():
        _fail(f"Datei nicht gefunden: {input_file}")
    _check_columns(engine, None, input_file, in_format, encoding, delimiter, sheet)
    try:
        info, rows = read_roster(input_file, engine.entity().facts, in_format, encoding, delimiter, sheet)
        result = upcoming_changes(engine, rows, day, end)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        _fail(f"{input_file}: {_bilingual(exc)}")
    text = write_upcoming(engine, result, day, end, out, row_offset=0 if info.format == "jsonl" else 1)
    if text:
        click.echo(text, nl=False)
    changes = result.change_lines
    click.echo(
        f"{result.rows} Zeilen gelesen: {len(changes)} Änderungstage bei "
        f"{len({c.row for c in changes})} Personen vom {day:%d.%m.%Y} bis {end:%d.%m.%Y}"
        + (f"; {result.errors} fehlerhafte Zeilen (als Fehlerzeilen aufgeführt)" if result.errors else ""),
        err=True,
    )


@main.command()
@_rules_option
@_overlay_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse (Standard: nur dieser Rechner).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--token-env",
    default="ELIGIBILITY_TOKEN",
    show_default=True,
    help="Umgebungsvariable mit dem Bearer-Token für /v1 (leer: kein Token).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Größte Anfrage in Bytes (darüber 413).",
)
@click.option(
    "--reload-seconds",
    type=float,
    default=2.0,
    show_default=True,
    help="Wie oft die Regeldateien auf Änderungen geprüft werden (0: nie).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Ohne Zugangsschlüssel auf einer anderen Adresse als 127.0.0.1 lauschen (nur wenn davor eine Anmeldung liegt).",
)
@click.option(
    "--max-records", type=click.IntRange(1), default=100_000, show_default=True, help="Größter Stapel (Datensätze)."
)
@click.option(
    "--body-seconds",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help="So lange darf das Hochladen einer Anfrage dauern (darüber 408).",
)
@click.option(
    "--header-seconds",
    type=click.FloatRange(0.5),
    default=10.0,
    show_default=True,
    help="So lange darf eine Verbindung für Anfragezeile und Kopfzeilen brauchen (sonst getrennt).",
)
@click.option(
    "--job-seconds",
    type=click.FloatRange(1),
    default=120.0,
    show_default=True,
    help="Zeitbudget für die Auswertung einer hochgeladenen Liste.",
)
@click.option(
    "--job-memory-mb",
    type=click.IntRange(64),
    default=2048,
    show_default=True,
    help="Speicherbudget des Prozesses, der eine Liste auswertet (MB).",
)
@click.option(
    "--secure-cookie/--no-secure-cookie",
    default=None,
    help="Anmelde-Cookie nur über https senden (Standard: wenn die Anfrage über https kam).",
)
@click.option("--log-client", is_flag=True, help="Die Adresse des Aufrufers ins Zugriffsprotokoll schreiben.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="debug: auch vollständige Tracebacks (können Werte enthalten).",
)
def serve(
    rules: str | None,
    overlays: tuple[str, ...],
    host: str,
    port: int,
    token_env: str,
    max_body: int,
    reload_seconds: float,
    allow_unauthenticated: bool,
    max_records: int,
    body_seconds: float,
    header_seconds: float,
    job_seconds: float,
    job_memory_mb: int,
    secure_cookie: bool | None,
    log_client: bool,
    log_level: str,
) -> None:
    """Startet den HTTP-Dienst: JSON-API unter /v1 und die Seite für Sachbearbeitung unter /.

    Zugangsschlüssel aus der Datei in ELIGIBILITY_TOKEN_FILE oder aus ELIGIBILITY_TOKEN."""
    try:
        import uvicorn

        from eligibility.service.app import create_app
        from eligibility.service.jobs import JobLimits
        from eligibility.service.security import (
            Limits,
            ServiceConfigError,
            check_token,
            exposure_error,
            is_loopback,
            token_from,
        )
        from eligibility.service.server import uvicorn_config
    except ImportError:
        _fail(
            "der HTTP-Dienst braucht FastAPI und uvicorn: im Projektordner .venv/bin/pip install -e '.[serve]' "
            "(bash scripts/test installiert sie mit)"
        )
    try:
        token = token_from(token_env or None)
        check_token(token)
    except ServiceConfigError as exc:
        _fail(str(exc))
    refusal = exposure_error(host, token, allow_unauthenticated)
    if refusal:
        _fail(refusal)
    if not token and not is_loopback(host):
        click.echo(f"WARNUNG: ohne Zugangsschlüssel auf {host} (--allow-unauthenticated).", err=True)
    limits = Limits(
        max_body=max_body,
        body_seconds=body_seconds,
        idle_seconds=min(body_seconds, Limits.idle_seconds),
        header_seconds=header_seconds,
        max_records=max_records,
    )
    jobs = JobLimits(seconds=job_seconds, memory_bytes=job_memory_mb * 1024 * 1024)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(
            rules,
            list(overlays),
            token=token,
            reload_seconds=reload_seconds or None,
            limits=limits,
            job_limits=jobs,
            log_client=log_client,
            secure_cookie=secure_cookie,
        )
    except RuleSetError as exc:
        click.echo(exc.format(), err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(
        f"eligibility: http://{host}:{port}/ (API: /v1, OpenAPI: /openapi.json"
        + (", Anmeldung mit Zugangsschlüssel)" if token else ")"),
        err=True,
    )
    uvicorn.Server(uvicorn_config(app, host, port, limits, log_level=log_level)).run()


@main.command("generate-roster")
@click.option("--rows", type=click.IntRange(1), required=True, help="Anzahl Personen.")
@click.option("--out", "out", type=click.Path(), required=True, help=".csv, .xlsx oder .jsonl")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--style",
    type=click.Choice(["excel", "plain"]),
    default="excel",
    show_default=True,
    help="excel: deutsches Excel-CSV; plain: Programm-CSV (Komma, ISO-Daten).",
)
@click.option(
    "--dirty-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Anteil absichtlich fehlerhafter Zeilen.",
)
@click.option("--broken-encoding", type=click.IntRange(0), default=0, help="Zeilen in falscher Zeichenkodierung.")
@click.option(
    "--reference", default="2018-09-15", show_default=True, help="Datum, bis zu dem Ereignisse erfunden werden."
)
def generate_roster(
    rows: int, out: str, seed: int, style: str, dirty_rate: float, broken_encoding: int, reference: str
) -> None:
    """Erzeugt eine synthetische Personenliste eines erfundenen Landkreises (Beispiele, Tests, Messungen)."""
    from eligibility.apps.synth import write_roster

    n = write_roster(out, rows, seed, _date_option(reference), dirty_rate, style, broken_encoding)
    click.echo(f"{n} Zeilen geschrieben: {out}", err=True)


@main.command()
@_rules_option
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
        _fail(str(exc))


@main.command()
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


if __name__ == "__main__":  # pragma: no cover
    main()

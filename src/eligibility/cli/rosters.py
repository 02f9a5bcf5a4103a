"""Whole lists: `evaluate`, `report`, `allocation`, `convert`, `upcoming` and the synthetic
`generate-roster`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eligibility.cli.errors import date_option, error_text, fail, load_engine
from eligibility.cli.i18n import argument, command, current, option, say
from eligibility.cli.inputs import check_columns, report_recoded, roster_rows
from eligibility.cli.options import (
    entity_option,
    lang_option,
    on_option,
    overlay_option,
    rules_option,
    with_input_options,
)


@command(help_en="Evaluates a whole roster (CSV from Excel, XLSX, JSON Lines): one result row per input row.")
@argument(
    "input_file",
    metavar="INPUT",
    type=click.Path(allow_dash=True),
    help=(
        "Personenliste: .csv, .xlsx, .xls, .ods, .json, .jsonl; - liest von der Standardeingabe.",
        "Roster: .csv, .xlsx, .xls, .ods, .json, .jsonl; - reads standard input.",
    ),
)
@on_option()
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=(
        "Ergebnisdatei .csv, .xlsx oder .jsonl (Standard: INPUT_ergebnis mit gleicher Endung).",
        "Result file .csv, .xlsx or .jsonl (default: INPUT_ergebnis with the same extension).",
    ),
)
@rules_option
@overlay_option
@entity_option
@lang_option
@option(
    "--errors-ok", is_flag=True, help=("Exit 0 auch bei fehlerhaften Zeilen.", "Exit 0 also when rows have errors.")
)
@option(
    "--keep",
    "keep",
    multiple=True,
    help=(
        "Eingabespalte, die in die XLSX-Ergebnisdatei übernommen wird (mehrfach; 'all' für alle; Standard: ID, Gemeinde, Kreis).",
        "Input column copied into the XLSX result file (may be given more than once; 'all' for all; default: id, Gemeinde, Kreis).",
    ),
)
@option(
    "--columns",
    "columns",
    type=click.Choice(["de", "codes"]),
    default=None,
    help=(
        "Spaltenköpfe: de = deutsche Bezeichnungen (Standard bei .xlsx), codes = Feld- und Ergebnisnamen für Programme (Standard bei .csv).",
        "Column headers: de = German labels (default for .xlsx), codes = field and outcome names for programs (default for .csv).",
    ),
)
@with_input_options
def evaluate(
    input_file: str,
    on: str | None,
    out: str | None,
    rules: str | None,
    overlays: tuple[str, ...],
    entity: str | None,
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

    lang = current()

    engine = load_engine(rules, overlays)
    day = date_option(on)
    if not Path(input_file).is_file():
        fail(f"Datei nicht gefunden: {input_file}", f"file not found: {input_file}")
    src = Path(input_file)
    if out is None and click.get_current_context().meta.get("eligibility.stdin"):
        fail(
            "--out fehlt: die Liste kommt von der Standardeingabe, wohin soll das Ergebnis?",
            "--out is missing: the roster comes from standard input, where should the result go?",
        )
    target = out or str(src.with_name(f"{src.stem}_ergebnis{src.suffix}"))
    try:
        format_of(target)
        format_of(src, in_format)
        ent = engine.entity(entity)
        from eligibility.io.xlsx_result import parse_keep

        parse_keep(list(keep), ent.facts, ent.id_field)
    except ValueError as exc:
        fail(error_text(exc))
    check_columns(engine, entity, input_file, in_format, encoding, delimiter, sheet)
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
        fail(f"{input_file}: {error_text(exc)}")
    if progress is not None:
        click.echo("", err=True)
    click.echo(summary.text(lang), err=True)
    report_recoded(summary.info)
    click.echo(say(f"Ergebnis: {target}", f"Result: {target}"), err=True)
    if summary.errors and not errors_ok:
        sys.exit(1)


@command(help_en="Report per Gemeinde and in total as an HTML page: target groups, priorities, open questions, errors.")
@argument(
    "input_file",
    metavar="INPUT",
    type=click.Path(allow_dash=True),
    help=("Personenliste (wie bei evaluate).", "Roster (as for evaluate)."),
)
@on_option()
@option(
    "--out",
    "out",
    type=click.Path(),
    default="bericht.html",
    show_default=True,
    help=("HTML-Datei des Berichts.", "HTML file of the report."),
)
@rules_option
@overlay_option
@with_input_options
@lang_option
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
    from eligibility.apps.report import collect, render_report, summary_line

    engine = load_engine(rules, overlays)
    day = date_option(on)
    info, pairs = roster_rows(engine, input_file, day, None, in_format, encoding, delimiter, sheet)
    data = collect(engine, pairs, day, info.ignored, row_offset=0 if info.format == "jsonl" else 1)
    Path(out).write_text(render_report(engine, data), encoding="utf-8")
    click.echo(summary_line(data, out, current()), err=True)


@command(
    help_en="Count under § 29d FAG per Gemeinde on 15.09. and the share of the budget; IM budget per Gemeinde.\n\nAmounts only with a state-wide figure (--landesweit-anzahl, --per-head or --statewide):\na county roster is only a part of the state."
)
@argument(
    "input_file",
    metavar="INPUT",
    type=click.Path(allow_dash=True),
    help=("Personenliste (wie bei evaluate).", "Roster (as for evaluate)."),
)
@option(
    "--year",
    type=int,
    default=None,
    help=(
        "Jahr der Erhebung nach § 29d FAG (2017, 2018; 2019 als markierte Erweiterung).",
        "Year of the count under § 29d FAG (2017, 2018; 2019 as a marked extension).",
    ),
)
@option(
    "--landesweit-anzahl",
    "--statewide-count",
    "statewide_count",
    type=str,
    default=None,
    metavar="N",
    help=(
        "Landesweite Zahl der gezählten Personen: Betrag je Person = Budget ÷ N.",
        "State-wide number of persons counted: amount per person = budget ÷ N.",
    ),
)
@option(
    "--statewide",
    is_flag=True,
    help=(
        "Die Liste umfasst das ganze Land: N = Zahl dieser Liste.",
        "The roster covers the whole state: N = the count of this roster.",
    ),
)
@option(
    "--per-head", type=str, default=None, metavar="EUR", help=("Betrag je Person in EUR.", "Amount per person in EUR.")
)
@option(
    "--budget",
    type=str,
    default=None,
    metavar="EUR",
    help=("Landesmittel in EUR (Standard: aus dem Regelwerk).", "State funds in EUR (default: from the rule set)."),
)
@option(
    "--im-budget",
    "im_budget",
    is_flag=True,
    help=(
        "Dazu das IM-Budget 2018–2019 je Gemeinde (Zählung vom 15.09.2017) und die Stellen, die es finanziert.",
        "Also the IM budget 2018–2019 per Gemeinde (count of 15.09.2017) and the posts it funds.",
    ),
)
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=("Tabelle zusätzlich als .csv, .xlsx oder .json.", "The table also as .csv, .xlsx or .json."),
)
@rules_option
@overlay_option
@with_input_options
@lang_option
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
        fail(
            "--year fehlt (Jahr der Erhebung nach § 29d FAG), oder --im-budget für das IM-Budget allein",
            "--year is missing (year of the count under § 29d FAG), or --im-budget for the IM budget alone",
        )
    out_format = Path(out).suffix.lower() if out else None
    if out_format not in (None, ".csv", ".xlsx", ".json"):
        fail("--out: erwartet eine Datei .csv, .xlsx oder .json", "--out: expected a .csv, .xlsx or .json file")
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
            _, pairs = roster_rows(
                engine, input_file, stichtag, None, in_format, encoding, delimiter, sheet, outcomes=("lastenausgleich",)
            )
            result = alloc.lastenausgleich(engine, pairs, year, b, ph, n, statewide)
        table = None
        if im_budget:
            _, pairs17 = roster_rows(
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
        fail(error_text(exc))
    parts = ([alloc_out.allocation_text(result)] if result is not None else []) + (
        [alloc_out.im_text(table, notes=result is None or result.stichtag != alloc.IM_COUNT_DAY)]
        if table is not None
        else []
    )
    click.echo("\n\n".join(parts))
    if not im_budget:
        click.echo(
            say(
                "Das IM-Budget 2018–2019 je Gemeinde und die Stellen, die es finanziert: mit --im-budget.",
                "The IM budget 2018–2019 per Gemeinde and the posts it funds: with --im-budget.",
            ),
            err=True,
        )
    if out:
        try:
            if out_format == ".xlsx":
                alloc_out.write_xlsx(result, table, out)
            elif out_format == ".json":
                Path(out).write_text(alloc_out.json_text(result, table), encoding="utf-8", newline="\n")
            else:
                Path(out).write_text(alloc_out.csv_text(result, table), encoding="utf-8-sig", newline="")
        except OSError as exc:
            fail(f"{out}: nicht schreibbar ({exc.strerror})", f"{out}: cannot be written ({exc.strerror})")
        click.echo(say(f"Tabelle: {out}", f"Table: {out}"), err=True)


@command(help_en="Converts a roster into another format (e.g. Excel CSV into XLSX) with the fact schema's columns.")
@argument(
    "input_file",
    metavar="INPUT",
    type=click.Path(allow_dash=True),
    help=("Liste, die umgewandelt wird (wie bei evaluate).", "Roster to convert (as for evaluate)."),
)
@option(
    "--out",
    "out",
    type=click.Path(),
    required=True,
    help=(".csv, .xlsx oder .jsonl", "Target file .csv, .xlsx or .jsonl."),
)
@option(
    "--style",
    type=click.Choice(["excel", "plain"]),
    default="excel",
    show_default=True,
    help=(
        "excel: deutsche Spaltennamen, Semikolon, TT.MM.JJJJ; plain: Feldnamen, Komma, ISO-Daten.",
        "excel: German column names, semicolon, DD.MM.YYYY; plain: field names, comma, ISO dates.",
    ),
)
@entity_option
@rules_option
@with_input_options
@lang_option
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
        fail(f"Datei nicht gefunden: {input_file}", f"file not found: {input_file}")
    check_columns(engine, entity, input_file, in_format, encoding, delimiter, sheet, rules_read=False)
    try:
        written, failed = _convert(
            input_file, out, engine.entity(entity).facts, style, in_format, encoding, delimiter, sheet
        )
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{input_file}: {error_text(exc)}")
    click.echo(say(f"{written} Zeilen geschrieben: {out}", f"{written} rows written: {out}"), err=True)
    for row in failed:
        click.echo(say(f"Zeile {row.number}: {row.error}", f"Row {row.number}: {row.error}"), err=True)
    if failed:
        sys.exit(1)


@command(
    help_en="Worklist: whose outcome changes within the window (end of the duty to live in a GU, AUB, end of counselling), by date."
)
@argument(
    "input_file",
    metavar="ROSTER",
    type=click.Path(allow_dash=True),
    help=("Personenliste (wie bei evaluate).", "Roster (as for evaluate)."),
)
@option(
    "--within",
    default="90d",
    show_default=True,
    help=(
        "Zeitraum ab dem Stichtag: 90d (Tage), 12w (Wochen), 6m (Kalendermonate), 1y.",
        "Window from the reference day: 90d (days), 12w (weeks), 6m (calendar months), 1y.",
    ),
)
@on_option()
@option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help=(".csv, .xlsx, .html (Standard: Text).", ".csv, .xlsx, .html (default: text on the terminal)."),
)
@rules_option
@overlay_option
@with_input_options
@lang_option
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
    from eligibility.apps.upcoming import summary_line, upcoming_changes, window_end, write_upcoming
    from eligibility.io.rosters import read_roster

    engine = load_engine(rules, overlays)
    day = date_option(on)
    try:
        end = window_end(day, within)
    except ValueError as exc:
        fail(error_text(exc))
    if not Path(input_file).is_file():
        fail(f"Datei nicht gefunden: {input_file}", f"file not found: {input_file}")
    check_columns(engine, None, input_file, in_format, encoding, delimiter, sheet)
    try:
        info, rows = read_roster(input_file, engine.entity().facts, in_format, encoding, delimiter, sheet)
        result = upcoming_changes(engine, rows, day, end)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{input_file}: {error_text(exc)}")
    text = write_upcoming(engine, result, day, end, out, row_offset=0 if info.format == "jsonl" else 1)
    if text:
        click.echo(text, nl=False)
    click.echo(summary_line(result, day, end, current()), err=True)


@command(
    "generate-roster", help_en="Generates a synthetic roster of an invented county (examples, tests, measurements)."
)
@option("--rows", type=click.IntRange(1), required=True, help=("Anzahl Personen.", "Number of persons."))
@option(
    "--out",
    "out",
    type=click.Path(),
    required=True,
    help=(".csv, .xlsx oder .jsonl", "Target file .csv, .xlsx or .jsonl."),
)
@option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help=("Startwert des Zufalls: gleicher Wert, gleiche Liste.", "Random seed: the same seed gives the same roster."),
)
@option(
    "--style",
    type=click.Choice(["excel", "plain"]),
    default="excel",
    show_default=True,
    help=(
        "excel: deutsches Excel-CSV; plain: Programm-CSV (Komma, ISO-Daten).",
        "excel: German Excel CSV; plain: CSV for programs (comma, ISO dates).",
    ),
)
@option(
    "--dirty-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help=("Anteil absichtlich fehlerhafter Zeilen.", "Share of rows with errors on purpose."),
)
@option(
    "--broken-encoding",
    type=click.IntRange(0),
    default=0,
    help=("Zeilen in falscher Zeichenkodierung.", "Rows in a wrong character encoding."),
)
@option(
    "--reference",
    default="2018-09-15",
    show_default=True,
    help=("Datum, bis zu dem Ereignisse erfunden werden.", "Date up to which events are invented."),
)
@lang_option
def generate_roster(
    rows: int, out: str, seed: int, style: str, dirty_rate: float, broken_encoding: int, reference: str
) -> None:
    """Erzeugt eine synthetische Personenliste eines erfundenen Landkreises (Beispiele, Tests, Messungen)."""
    from eligibility.apps.synth import write_roster

    n = write_roster(out, rows, seed, date_option(reference), dirty_rate, style, broken_encoding)
    click.echo(say(f"{n} Zeilen geschrieben: {out}", f"{n} rows written: {out}"), err=True)

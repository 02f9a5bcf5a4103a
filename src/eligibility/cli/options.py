"""Options that several commands share; each with its help in German and English."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from eligibility.cli import i18n
from eligibility.cli.i18n import option
from eligibility.cli.inputs import stdin_roster


def _activate(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    # --lang was read before parsing already; here it only wins over the environment for a
    # command run without Group.main (CliRunner on the command itself reads it too).
    if value:
        i18n.activate(value)
    return i18n.current()


lang_option = option(
    "--lang",
    type=click.Choice(list(i18n.LANGS)),
    default=None,
    is_eager=True,
    expose_value=False,
    callback=_activate,
    help=(
        "Sprache der Ausgabe und der Meldungen: de oder en (Standard: ELIGIBILITY_LANG, sonst die Spracheinstellung "
        "LC_ALL/LC_MESSAGES/LANG, sonst de).",
        "Language of output and messages: de or en (default: ELIGIBILITY_LANG, else the locale "
        "LC_ALL/LC_MESSAGES/LANG, else de).",
    ),
)

rules_option = option(
    "--rules",
    "rules",
    type=click.Path(),
    default=None,
    help=(
        "Regelwerk-Ordner (Standard: das mitgelieferte rules/).",
        "Rule set folder (default: the shipped rules/).",
    ),
)
overlay_option = option(
    "--overlay",
    "overlays",
    multiple=True,
    type=click.Path(),
    help=(
        "Kreis-Overlay, z. B. rules/overlays/goeppingen.yaml (mehrfach möglich).",
        "County overlay, e.g. rules/overlays/goeppingen.yaml (may be given more than once).",
    ),
)
entity_option = option(
    "--entity",
    default=None,
    help=(
        "Art des Datensatzes (Standard: person; z. B. stelle).",
        "Kind of record (default: person; e.g. stelle).",
    ),
)


def on_option(default_de: str = "heute", default_en: str = "today") -> Callable[[Any], Any]:
    return option(
        "--on",
        "on",
        default=None,
        help=(
            f"Stichtag JJJJ-MM-TT oder TT.MM.JJJJ (Standard: {default_de}).",
            f"Reference day YYYY-MM-DD or DD.MM.YYYY (default: {default_en}).",
        ),
    )


_input_options = [
    option(
        "--in-format",
        type=click.Choice(["csv", "xlsx", "jsonl"]),
        default=None,
        help=("Format der Eingabe (Standard: nach Dateiendung).", "Format of the input (default: by file extension)."),
    ),
    option(
        "--encoding",
        default=None,
        help=(
            "Zeichenkodierung der CSV-Datei (Standard: erkannt; z. B. cp1252).",
            "Character encoding of the CSV file (default: detected; e.g. cp1252).",
        ),
    ),
    option(
        "--delimiter",
        default=None,
        help=("Trennzeichen der CSV-Datei (Standard: erkannt).", "Delimiter of the CSV file (default: detected)."),
    ),
    option(
        "--sheet",
        default=None,
        help=(
            "Tabellenblatt der Tabellendatei (Standard: das Blatt, dessen Kopfzeile die meisten Felder hat).",
            "Sheet of the spreadsheet (default: the sheet whose header row has the most fields).",
        ),
    ),
]


_column_options = [
    option(
        "--missing-column",
        "missing_columns",
        multiple=True,
        metavar="FELD",
        help=(
            "Diese Spalte fehlt absichtlich: die Angabe ist für jede Zeile unbekannt (mehrfach möglich).",
            "This column is missing on purpose: the fact is unknown for every row (may be given more than once).",
        ),
    ),
    option(
        "--allow-missing",
        is_flag=True,
        help=(
            "Jede fehlende Spalte ist gewollt (sonst bricht das Programm ab, wenn die Regeln sie lesen).",
            "Every missing column is intended (otherwise the program stops when the rules read it).",
        ),
    ),
]


def with_input_options(f: Any) -> Any:
    """The reading options; the column options are kept in the click context (read by
    `check_columns`), so the commands' signatures stay as they are."""

    @functools.wraps(f)
    def wrapper(*args: Any, missing_columns: tuple[str, ...] = (), allow_missing: bool = False, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        ctx.meta["eligibility.missing_columns"] = tuple(missing_columns)
        ctx.meta["eligibility.allow_missing"] = allow_missing
        if kwargs.get("input_file") == "-":
            ctx.meta["eligibility.stdin"] = True
            kwargs["input_file"] = stdin_roster("-", kwargs.get("in_format"))
        return f(*args, **kwargs)

    g: Any = wrapper
    for opt in reversed(_input_options + _column_options):
        g = opt(g)
    return g

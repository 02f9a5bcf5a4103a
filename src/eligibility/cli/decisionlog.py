"""`eligibility log`: the decision log from the command line — list, show, export, verify,
reproduce, recheck against an amendment, erase. The views and the recheck live in
`apps/logviews.py` and `apps/recheck.py`; this module parses, opens the log and reports."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from eligibility.cli.errors import Group, date_option, error_text, fail, load_engine, stored_rules_failed
from eligibility.cli.i18n import Command, argument, current, option, say
from eligibility.cli.options import entity_option, lang_option, overlay_option

EXIT_PROBLEM = 1

log_option = option(
    "--log",
    "log_url",
    default=None,
    metavar="URL",
    help=(
        "Entscheidungsprotokoll: sqlite:///pfad/datei.db oder postgresql://… (Standard: ELIGIBILITY_LOG).",
        "Decision log: sqlite:///path/file.db or postgresql://… (default: ELIGIBILITY_LOG).",
    ),
)
record_id_option = option(
    "--record-id",
    "record_id",
    default=None,
    help=("Nur die Entscheidungen dieser Person (Datensatz-Id).", "Only the decisions of this person (record id)."),
)
from_option = option(
    "--from",
    "start",
    default=None,
    help=(
        "Erster Tag der Protokollierung (JJJJ-MM-TT oder TT.MM.JJJJ, UTC).",
        "First day the decisions were logged (YYYY-MM-DD or DD.MM.YYYY, UTC).",
    ),
)
to_option = option(
    "--to",
    "end",
    default=None,
    help=("Letzter Tag der Protokollierung (einschließlich).", "Last day the decisions were logged (inclusive)."),
)


@contextlib.contextmanager
def opened(url: str | None) -> Iterator[Any]:
    """The log, or exit 2 with the reason in this invocation's language."""
    from eligibility.decisionlog import LogError, open_log
    from eligibility.diagnostics import RuleSetError

    try:
        # Every log command reads or edits a log that exists: a mistyped path is an error,
        # not a new empty log that then "verifies".
        log = open_log(url, create=False)
    except LogError as exc:
        fail(exc.de, exc.en)
    try:
        yield log
    except LogError as exc:
        fail(exc.de, exc.en)
    except RuleSetError as exc:
        # A stored rule set that no longer loads (its files were changed in the database).
        stored_rules_failed(exc)
    finally:
        log.close()


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _days(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    first = date_option(start, "--from").isoformat() if start else None
    last = date_option(end, "--to").isoformat() if end else None
    if first and last and last < first:
        fail("--to liegt vor --from", "--to is before --from")
    return first, last


def _sub(help_en: str, name: str | None = None) -> Callable[[Any], Any]:
    return log_group.command(name, cls=Command, help_en=help_en)


@click.group(
    "log",
    cls=Group,
    help_en="The decision log: find, show, export, verify, reproduce, re-check and erase logged decisions.",
)
@lang_option
def log_group() -> None:
    """Das Entscheidungsprotokoll: protokollierte Entscheidungen finden, zeigen, exportieren, prüfen, nachvollziehen, nachprüfen und löschen."""


@_sub("Lists logged decisions, newest first.", "list")
@log_option
@record_id_option
@from_option
@to_option
@option(
    "--limit",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help=("Höchstens so viele Entscheidungen.", "At most this many decisions."),
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help=(
        "text als Tabelle; json als eine Zusammenfassung je Zeile (JSON Lines).",
        "text as a table; json as one summary per line (JSON lines).",
    ),
)
@lang_option
def list_cmd(
    log_url: str | None, record_id: str | None, start: str | None, end: str | None, limit: int, fmt: str
) -> None:
    """Listet protokollierte Entscheidungen, die neueste zuerst."""
    from eligibility.apps import logviews

    first, last = _days(start, end)
    with opened(log_url) as log:
        items = log.page(record_id=record_id, start=first, end=last, limit=limit).items
        if fmt == "json":
            for e in items:
                click.echo(logviews.summary_line(e))
        else:
            click.echo(logviews.list_table(log, items, current()), nl=False)


@_sub("Shows one logged decision: as stored (json), or rendered with its own rule set.")
@argument("decision_id", help=("Entscheidungs-Nr. (decision_id).", "Decision number (decision_id)."))
@log_option
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help=(
        "text zum Lesen; markdown für Akten; json genau wie gespeichert.",
        "text to read; markdown for files; json exactly as stored.",
    ),
)
@lang_option
def show(decision_id: str, log_url: str | None, fmt: str) -> None:
    """Zeigt eine protokollierte Entscheidung: wie gespeichert (json) oder mit ihrem eigenen Regelwerk dargestellt."""
    from eligibility.apps import logviews

    with opened(log_url) as log:
        entry = log.get(decision_id)
        if entry is None or entry.kind != "decision":
            fail(f"Entscheidung {decision_id} ist nicht im Protokoll", f"decision {decision_id} is not in the log")
        if entry.decision_text is None:
            fail(f"Entscheidung {decision_id} wurde gelöscht", f"decision {decision_id} was erased")
        click.echo(logviews.show(log, entry, fmt, current()), nl=False)


@_sub("Exports logged decisions with the roster results' German columns (CSV, XLSX) or as JSON lines.")
@log_option
@option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "jsonl"]),
    default=None,
    help=("Format der Datei (Standard: nach Dateiendung).", "Format of the file (default: by file extension)."),
)
@option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    required=True,
    help=("Zieldatei .csv, .xlsx oder .jsonl.", "Target file .csv, .xlsx or .jsonl."),
)
@record_id_option
@from_option
@to_option
@entity_option
@lang_option
def export(
    log_url: str | None,
    fmt: str | None,
    out: str,
    record_id: str | None,
    start: str | None,
    end: str | None,
    entity: str | None,
) -> None:
    """Exportiert protokollierte Entscheidungen mit den deutschen Spalten der Listenergebnisse (CSV, XLSX) oder als JSON Lines."""
    from eligibility.apps import logviews
    from eligibility.io.rosters import format_of

    first, last = _days(start, end)
    try:
        kind = format_of(out, fmt)
    except ValueError as exc:
        fail(error_text(exc))
    if kind not in ("csv", "xlsx", "jsonl"):
        fail(f"--out: unbekanntes Format '{kind}'", f"--out: unknown format '{kind}'")
    with opened(log_url) as log:
        entries = logviews.in_days(log.iter_all(record_id), first, last)
        try:
            written, other = logviews.export(log, entries, kind, out, entity)
        except (KeyError, ValueError) as exc:
            fail(error_text(exc))
        except OSError as exc:
            fail(f"{out}: {exc.strerror}", f"{out}: {exc.strerror}")
    click.echo(say(f"{written} Entscheidungen geschrieben: {out}", f"{written} decisions written: {out}"), err=True)
    if other:
        click.echo(
            say(
                f"{other} Entscheidungen einer anderen Art des Datensatzes nicht exportiert (--entity wählt sie)",
                f"{other} decisions of another kind of record not exported (--entity chooses them)",
            ),
            err=True,
        )


@_sub("Walks the hash chain: exit 0 when intact, 1 when an entry was changed, removed or inserted.")
@log_option
@lang_option
def verify(log_url: str | None) -> None:
    """Prüft die Hash-Kette: Exit 0, wenn sie unversehrt ist, 1, wenn ein Eintrag geändert, entfernt oder eingefügt wurde."""
    lang = current()
    with opened(log_url) as log:
        v = log.verify()
    click.echo(
        say(
            f"{_n(v.entries, 'Eintrag', 'Einträge')}: {_n(v.decisions, 'Entscheidung', 'Entscheidungen')}, "
            f"{v.erased} gelöscht",
            f"{_n(v.entries, 'entry', 'entries')}: {_n(v.decisions, 'decision', 'decisions')}, {v.erased} erased",
        )
    )
    click.echo(say(f"Kopf der Kette: {v.head_sha}", f"Head of the chain: {v.head_sha}"))
    for p in v.problems:
        # Problems of stored rule sets have no place in the chain (seq 0): their text names them.
        where = say(f"Eintrag {p.seq}: ", f"entry {p.seq}: ") if p.seq else ""
        click.echo(where + (p.en if lang == "en" else p.de))
    if v.ok:
        click.echo(say("Kette unversehrt.", "Chain intact."))
        return
    click.echo(say(f"{len(v.problems)} Probleme gefunden.", f"{len(v.problems)} problems found."), err=True)
    sys.exit(EXIT_PROBLEM)


@_sub("Decides a logged decision again from its stored facts and stored rule set; exit 1 unless byte-identical.")
@argument("decision_id", help=("Entscheidungs-Nr. (decision_id).", "Decision number (decision_id)."))
@log_option
@lang_option
def reproduce(decision_id: str, log_url: str | None) -> None:
    """Entscheidet eine protokollierte Entscheidung aus den gespeicherten Angaben und dem gespeicherten Regelwerk neu; Exit 1, wenn nicht Byte für Byte gleich."""
    from eligibility.decisionlog.reproduce import reproduce as _reproduce

    with opened(log_url) as log:
        r = _reproduce(log, decision_id)
    click.echo(r.text)
    if not r.identical:
        click.echo(
            say(
                f"Entscheidung {decision_id} neu entschieden ist NICHT gleich der protokollierten",
                f"decision {decision_id} decided again is NOT identical to the logged one",
            ),
            err=True,
        )
        sys.exit(EXIT_PROBLEM)
    click.echo(
        say(f"Byte für Byte gleich der protokollierten Entscheidung {decision_id}", f"byte-identical to {decision_id}"),
        err=True,
    )


@_sub("Whose recorded answers an amendment changes: the latest decision of every person under NEW rules.")
@log_option
@option(
    "--rules",
    "rules",
    type=click.Path(),
    required=True,
    help=("Das neue Regelwerk (Ordner).", "The new rule set (folder)."),
)
@overlay_option
@option(
    "--on",
    "on",
    type=click.Choice(["original", "today"]),
    default="original",
    show_default=True,
    help=(
        "original: am Stichtag jeder Entscheidung, vorher = Wert im Protokoll; today: heute, vorher = das alte "
        "Regelwerk heute.",
        "original: on each decision's reference day, old = the logged value; today: today, old = the old rule "
        "set today.",
    ),
)
@option(
    "--report",
    "report",
    type=click.Path(dir_okay=False),
    default=None,
    help=(
        "Bericht in eine Datei: .html, .md oder Text (Standard: nur auf das Terminal).",
        "Report into a file: .html, .md or text (default: the terminal only).",
    ),
)
@option(
    "--worklist",
    "worklist",
    type=click.Path(dir_okay=False),
    default=None,
    help=(
        "Arbeitsliste .csv oder .xlsx: je geändertes Ergebnis eine Zeile, mit Regel und Rechtsgrundlage.",
        "Worklist .csv or .xlsx: one row per changed outcome, with rule and legal basis.",
    ),
)
@entity_option
@lang_option
def recheck(
    log_url: str | None,
    rules: str,
    overlays: tuple[str, ...],
    on: str,
    report: str | None,
    worklist: str | None,
    entity: str | None,
) -> None:
    """Wen eine Änderung im Live-Bestand trifft: die letzte Entscheidung jeder Person mit dem neuen Regelwerk."""
    from eligibility.apps import recheck as rc

    new = load_engine(rules, overlays)
    if worklist and not worklist.lower().endswith((".csv", ".xlsx")):
        fail("--worklist: .csv oder .xlsx", "--worklist: .csv or .xlsx")
    with opened(log_url) as log:
        try:
            result = rc.recheck(log, new, str(rules), on, entity)
        except ValueError as exc:
            fail(error_text(exc))
    click.echo(rc.render_report(result), nl=False)
    try:
        if report:
            rc.write_report(result, report)
            click.echo(say(f"geschrieben: {report}", f"written: {report}"), err=True)
        if worklist:
            rc.write_worklist(result, worklist)
            click.echo(say(f"geschrieben: {worklist}", f"written: {worklist}"), err=True)
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror}", f"{exc.filename}: {exc.strerror}")


@_sub("Erases every decision of a person (GDPR Art. 17); the chain records the erasure without the data.")
@log_option
@option("--record-id", "record_id", required=True, help=("Datensatz-Id der Person.", "Record id of the person."))
@option("--yes", is_flag=True, help=("Ohne Rückfrage löschen.", "Erase without asking."))
@lang_option
def erase(log_url: str | None, record_id: str, yes: bool) -> None:
    """Löscht jede Entscheidung einer Person nach der DSGVO (Recht auf Löschung); die Kette vermerkt die Löschung ohne die Daten."""
    if not yes and not click.confirm(
        say(
            "Alle Entscheidungen dieser Person unwiderruflich löschen?",
            "Erase every decision of this person irrevocably?",
        )
    ):
        click.echo(say("Nichts gelöscht.", "Nothing erased."), err=True)
        sys.exit(EXIT_PROBLEM)
    with opened(log_url) as log:
        erasure = log.erase(record_id)
    click.echo(
        say(
            f"{_n(erasure.count, 'Eintrag', 'Einträge')} geleert"
            + (f" (Löschvermerk: Eintrag {erasure.seq})" if erasure.count else ""),
            f"{_n(erasure.count, 'entry', 'entries')} emptied"
            + (f" (erasure entry {erasure.seq})" if erasure.count else ""),
        )
    )
    if not erasure.compacted:
        # The rows are emptied, but a reader kept SQLite from truncating its WAL in time.
        click.echo(
            say(
                "Warnung: Eine andere Verbindung liest gerade; Reste der gelöschten Einträge bleiben bis zum "
                "nächsten Checkpoint in der WAL-Datei. Bitte die Löschung wiederholen, wenn niemand liest.",
                "Warning: another connection is reading; remains of the erased entries stay in the WAL file until "
                "the next checkpoint. Repeat the erasure when nobody is reading.",
            ),
            err=True,
        )
        sys.exit(EXIT_PROBLEM)

"""Reading what a command is given: one person record (YAML or JSON, or stdin), a roster
from stdin, and the checks of a roster's columns before anything is decided."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from eligibility.cli.errors import error_text, fail
from eligibility.cli.i18n import current, say
from eligibility.engine import Engine


class _RecordLoader(yaml.SafeLoader):
    """YAML for one person record: safe, a key given twice is an error (not last-wins:
    which of two Aufenthaltsstatus is meant cannot be guessed, as in JSON), and no
    anchors or aliases (a record never needs them; expanded they can cost gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                say(
                    "Anker und Aliase (*name) sind in Datensätzen nicht erlaubt",
                    "anchors and aliases (*name) are not allowed in records",
                ),
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
                    None,
                    None,
                    say(f"Schlüssel „{key}“ kommt zweimal vor", f"key '{key}' is given twice"),
                    key_node.start_mark,
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
        fail(f"Datei nicht gefunden: {path}", f"file not found: {path}")
    except UnicodeDecodeError:
        fail(f"{path}: Datei ist nicht UTF-8-kodiert", f"{path}: file is not UTF-8 encoded")
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")
    try:
        if p.suffix.lower() == ".json":
            from eligibility.io.rosters import DuplicateKey, no_duplicate_keys

            try:
                data = json.loads(text, object_pairs_hook=no_duplicate_keys)
            except DuplicateKey as exc:
                fail(f"{path}: Schlüssel „{exc.key}“ kommt zweimal vor", f"{path}: key '{exc.key}' is given twice")
        else:
            data = yaml.load(text, Loader=_RecordLoader)  # noqa: S506 - a SafeLoader, stricter
    except RecursionError:
        fail(f"{path}: Datensatz zu tief verschachtelt", f"{path}: record nested too deeply")
    except json.JSONDecodeError as exc:
        fail(
            f"{path}:{exc.lineno}:{exc.colno}: kein gültiges JSON ({exc.msg})",
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})",
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", "") or exc
        fail(f"{path}{where}: kein gültiges YAML ({problem})", f"{path}{where}: not valid YAML ({problem})")
    if not isinstance(data, dict):
        fail(
            f"{path}: erwartet ein Objekt mit Feldern (z. B. aufenthaltsstatus: ...)",
            f"{path}: expected an object with fields (e.g. aufenthaltsstatus: ...)",
        )
    try:
        # A lone surrogate ("\\ud800" in JSON) reads, but no output can be written with it.
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        fail(
            f"{path}: ein Text enthält ein ungültiges Zeichen (einzelnes UTF-16-Surrogat)",
            f"{path}: a text holds an invalid character (a lone UTF-16 surrogate)",
        )
    except RecursionError:
        fail(f"{path}: Datensatz zu tief verschachtelt", f"{path}: record nested too deeply")
    from eligibility.apps.cases import unfold_on_key

    data = unfold_on_key(data)
    if isinstance(data.get("record"), dict):
        return data["record"], {k: v for k, v in data.items() if k != "record"}
    return data, {}


def stdin_roster(path: str, in_format: str | None) -> str:
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
            fail("Standardeingabe ist leer", "standard input is empty")
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


def check_columns(
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
                hint = did_you_mean(name, list(ent.facts), current())
                fail(
                    f"--missing-column {name}: kein Feld des Faktenschemas" + (f" ({hint})" if hint else ""),
                    f"--missing-column {name}: not a field of the fact schema" + (f" ({hint})" if hint else ""),
                )
        if format_of(path, in_format) == "jsonl":
            return  # records, not columns: a missing key is an unknown fact of that record
        info = roster_info(path, ent.facts, in_format, encoding, delimiter, sheet)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{path}: {error_text(exc)}")
    for header, fact in info.suggestions.items():
        label = ent.facts[fact].label
        click.echo(
            say(
                f"Hinweis: Spalte „{header}“ nicht erkannt – gemeint ist vielleicht „{fact}“ ({label.de})",
                f"Note: column '{header}' not recognised – perhaps '{fact}' is meant ({label.en or label.de})",
            ),
            err=True,
        )
    if not rules_read:
        return
    missing = missing_columns(ent, info.columns.values(), info.ignored, () if allow else on_purpose, outcomes)
    if missing and not allow:
        fail(f"{path}: " + missing_message(missing, "de"), f"{path}: " + missing_message(missing, "en"))
    for name in sorted(set(on_purpose) | ({m.fact for m in missing} if allow else set())):
        if name not in info.columns.values():
            click.echo(
                say(
                    f"Hinweis: Spalte „{name}“ fehlt absichtlich – für jede Zeile unbekannt",
                    f"Note: column '{name}' is missing on purpose – unknown for every row",
                ),
                err=True,
            )


def roster_rows(
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
        fail(f"Datei nicht gefunden: {path}", f"file not found: {path}")
    if not click.get_current_context().meta.get("eligibility.columns_checked"):
        check_columns(engine, entity, path, in_format, encoding, delimiter, sheet, outcomes=outcomes)
        click.get_current_context().meta["eligibility.columns_checked"] = True
    try:
        info, rows = read_roster(path, engine.entity(entity).facts, in_format, encoding, delimiter, sheet)
    except (ValueError, KeyError, OSError, LookupError) as exc:
        fail(f"{path}: {error_text(exc)}")
    return info, _unreadable_fails(path, table_decisions(engine, rows, on, entity))


def _unreadable_fails(path: str, pairs: Iterator[Any]) -> Iterator[Any]:
    """An .xlsx is streamed, so a broken sheet shows while its rows are read, not when it is
    opened: the same German error and exit code then."""
    from eligibility.io.archive_check import ArchiveRefused
    from eligibility.io.xlsx_reader import XlsxError

    try:
        yield from pairs
    except (XlsxError, ArchiveRefused) as exc:
        fail(f"{path}: {error_text(exc)}")


def report_recoded(info: Any) -> None:
    """Lines of a UTF-8 file that were read as Windows-1252: said, never silent."""
    rows = list(getattr(info, "recoded", None) or ())
    if not rows:
        return
    shown = ", ".join(str(n) for n in rows[:10]) + (" …" if len(rows) > 10 else "")
    if current() == "de":
        click.echo(
            f"Hinweis: {len(rows)} Zeile{'n' if len(rows) != 1 else ''} nicht UTF-8, als Windows-1252 gelesen "
            f"(Zeile {shown})",
            err=True,
        )
    else:
        click.echo(f"Note: {len(rows)} rows not UTF-8, read as Windows-1252 (row {shown})", err=True)

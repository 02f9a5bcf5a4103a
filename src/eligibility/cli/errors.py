"""Shared error handling of the command line: the one way a command stops on bad input
(exit 2, a message, never a traceback), and the group that turns a recursion limit or a
missing optional package into such a message."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine, coerce_date

EXIT_BAD_INPUT = 2


def fail(message: str) -> NoReturn:
    click.echo(f"Fehler: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def error_text(exc: Exception) -> str:
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


_EXTRAS = {"numpy": "batch", "pyarrow": "batch", "fastapi": "serve", "uvicorn": "serve", "multipart": "serve"}


class Group(click.Group):
    """Turns a missing optional dependency into the command to install it, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecursionError:
            # A rule set whose derived facts form a chain hundreds deep (each expression is within
            # its limits, E033/E034) recurses past Python's stack while it is checked or explained.
            fail(
                "zu tief verschachtelt: eine Kette abgeleiteter Angaben im Regelwerk (oder der Datensatz) ist zu lang "
                "/ nested too deeply: a chain of derived facts in the rule set (or the record) is too long"
            )
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in _EXTRAS:
                raise
            extra = _EXTRAS[top]
            fail(
                f"dieser Befehl braucht das Zusatzpaket „{extra}“ ({top} fehlt): pip install 'eligibility[{extra}]' "
                f"(im Projektordner: .venv/bin/pip install -e '.[{extra}]')"
            )


def date_option(value: Any, option: str = "--on") -> Any:
    from eligibility.decision.records import LATEST_DATE, DateOutOfRange

    try:
        return coerce_date(value)
    except DateOutOfRange:
        what = "Stichtag" if option == "--on" else "Datum"
        fail(f"{option}: {what} nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen")
    except ValueError:
        fail(f"{option}: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)")

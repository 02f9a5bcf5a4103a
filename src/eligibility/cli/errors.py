"""Shared error handling of the command line: the one way a command stops on bad input
(exit 2, a message, never a traceback), and the group that turns a recursion limit or a
missing optional package into such a message."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from eligibility.cli.i18n import BilingualCommand, current, say
from eligibility.diagnostics import RuleSetError
from eligibility.engine import Engine, coerce_date

EXIT_BAD_INPUT = 2


def fail(de: str, en: str | None = None) -> NoReturn:
    """Stop on bad input: the message in the language of this invocation (exit 2)."""
    message = say(de, en) if en is not None else de
    click.echo(say(f"Fehler: {message}", f"Error: {message}"), err=True)
    sys.exit(EXIT_BAD_INPUT)


def error_text(exc: Exception) -> str:
    """An error's text in the language of this invocation: German is the exception's own
    text; an English one where it carries it (`exc.en`, e.g. a refused spreadsheet)."""
    en = getattr(exc, "en", None)
    return say(str(exc), en) if isinstance(en, str) and en else str(exc)


def rule_set_failed(exc: RuleSetError, decided: bool = True) -> NoReturn:
    """A rule set that does not load: every diagnostic, in this invocation's language (exit 2)."""
    lang = current()
    click.echo(exc.format(lang), err=True)
    if decided:
        n = len(exc.diagnostics)
        click.echo(
            say(
                f"{n} Fehler im Regelwerk – nichts entschieden.",
                f"{n} error{'s' if n != 1 else ''} in the rule set – nothing decided.",
            ),
            err=True,
        )
    sys.exit(EXIT_BAD_INPUT)


def stored_rules_failed(exc: RuleSetError) -> NoReturn:
    """A rule set from the decision log that no longer loads (its stored files were changed)."""
    why = "; ".join(d.message for d in exc.diagnostics)
    fail(f"Gespeichertes Regelwerk lässt sich nicht laden: {why}", f"stored rule set cannot be loaded: {why}")


def load_engine(rules: str | None, overlays: tuple[str, ...]) -> Engine:
    try:
        return Engine.load(rules, overlays=overlays)
    except RuleSetError as exc:
        rule_set_failed(exc)


# Which extra brings a module that is optional for the single-record path.
_EXTRAS = {"numpy": "batch", "pyarrow": "batch"}


class Group(BilingualCommand, click.Group):
    """The command line's group: chooses the language before Click parses, and turns a
    missing optional dependency or a recursion limit into a message, not a traceback."""

    def __init__(self, *args: Any, help_en: str | None = None, **kwargs: Any) -> None:
        self._help_en = help_en
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecursionError:
            # A rule set whose derived facts form a chain hundreds deep (each expression is within
            # its limits, E033/E034) recurses past Python's stack while it is checked or explained.
            fail(
                "zu tief verschachtelt: eine Kette abgeleiteter Angaben im Regelwerk (oder der Datensatz) ist zu lang",
                "nested too deeply: a chain of derived facts in the rule set (or the record) is too long",
            )
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in _EXTRAS:
                raise
            extra = _EXTRAS[top]
            fail(
                f"dieser Befehl braucht das Zusatzpaket „{extra}“ ({top} fehlt): pip install 'eligibility[{extra}]' "
                f"(im Projektordner: .venv/bin/pip install -e '.[{extra}]')",
                f"this command needs the extra '{extra}' ({top} is missing): pip install 'eligibility[{extra}]' "
                f"(in the project folder: .venv/bin/pip install -e '.[{extra}]')",
            )


def date_option(value: Any, option: str = "--on") -> Any:
    from eligibility.decision.records import LATEST_DATE, DateOutOfRange

    try:
        return coerce_date(value)
    except DateOutOfRange:
        what = "Stichtag" if option == "--on" else "Datum"
        fail(
            f"{option}: {what} nach dem {LATEST_DATE:%d.%m.%Y} – damit lässt sich nicht rechnen",
            f"{option}: {'reference day' if option == '--on' else 'date'} after {LATEST_DATE:%Y-%m-%d} – "
            "the calendar cannot compute with it",
        )
    except ValueError:
        fail(
            f"{option}: kein gültiges Datum (erwartet JJJJ-MM-TT oder TT.MM.JJJJ)",
            f"{option}: not a valid date (expected YYYY-MM-DD or DD.MM.YYYY)",
        )

"""One language at a time: which one (``--lang``, else the environment), Click's own
strings in German, and commands, options and arguments whose help exists in both.

Click wraps its usage, help and error strings in gettext's ``_()``, imported into each of
its modules. Shipping a compiled catalogue and binding gettext's global domain would change
the language of every other library in the process; instead the names ``_`` and
``ngettext`` of Click's modules are pointed at a lookup in ``CLICK_DE`` that follows the
language of this invocation. A string Click adds in a later version stays English until it
is added here; tests/test_cli.py checks every string Click marks for translation is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

LANGS = ("de", "en")

# The language of this invocation. A command line runs one invocation per process; tests
# run many in one process, and each starts by choosing again (Group.main, Command.main).
_current = "de"


def current() -> str:
    return _current


def activate(lang: str) -> None:
    global _current
    _current = lang if lang in LANGS else "de"


def say(de: str, en: str) -> str:
    """The text in the language of this invocation."""
    return en if _current == "en" else de


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """ELIGIBILITY_LANG (de or en); else the locale (LC_ALL, LC_MESSAGES, LANG, the first set
    one, as POSIX orders them) when it is English; else German, the language of the rules."""
    env = os.environ if environ is None else environ
    chosen = env.get("ELIGIBILITY_LANG", "").strip().lower()[:2]
    if chosen in LANGS:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "en" if value.lower().startswith("en") else "de"
    return "de"


def from_arguments(args: list[str]) -> str | None:
    """``--lang X`` anywhere before ``--``: read before Click parses, so that its own errors
    (an unknown option, a missing argument) already speak the chosen language."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(args) and args[i + 1] in LANGS:
            return args[i + 1]
        if arg.startswith("--lang=") and arg[7:] in LANGS:
            return arg[7:]
    return None


# Every string Click (8.1 to 8.5) marks for translation and that a user of this command line
# can see. Click's placeholders ({name!r}, %(prog)s) are kept as they are.
CLICK_DE: dict[str, str] = {
    # usage and help
    "Usage:": "Aufruf:",
    "Options": "Optionen",
    "Commands": "Befehle",
    "Positional arguments": "Argumente",
    "Show this message and exit.": "Diese Hilfe anzeigen und beenden.",
    "Show the version and exit.": "Die Version anzeigen und beenden.",
    "%(prog)s, version %(version)s": "%(prog)s, Version %(version)s",
    "default: {default}": "Standard: {default}",
    "env var: {var}": "Umgebungsvariable: {var}",
    "required": "erforderlich",
    "(dynamic)": "(dynamisch)",
    "deprecated": "veraltet",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": (
        "Veraltet: der Befehl {name!r} wird nicht mehr gepflegt.{extra_message}"
    ),
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": (
        "Veraltet: {param_type} {name!r} wird nicht mehr gepflegt.{extra_message}"
    ),
    "Do you want to continue?": "Fortfahren?",
    "Confirm the action without prompting.": "Ohne Rückfrage bestätigen.",
    # errors
    "Error: {message}": "Fehler: {message}",
    "Try '{command} {option}' for help.": "Hilfe: '{command} {option}'.",
    "Aborted!": "Abgebrochen!",
    "Missing command.": "Befehl fehlt.",
    "No such command {name!r}.": "Unbekannter Befehl {name!r}.",
    "No such option {name!r}.": "Unbekannte Option {name!r}.",
    "No such option: {name}": "Unbekannte Option: {name}",
    "Did you mean {possibility}?": "Meinten Sie {possibility}?",
    "(Did you mean one of: {possibilities}?)": "(Meinten Sie eine davon: {possibilities}?)",
    "Missing argument": "Argument fehlt",
    "Missing option": "Option fehlt",
    "Missing parameter": "Angabe fehlt",
    "Missing parameter: {param_name}": "Angabe fehlt: {param_name}",
    "Missing {param_type}": "{param_type} fehlt",
    "unknown error": "unbekannter Fehler",
    "Invalid value for {param_hint}: {message}": "Ungültiger Wert für {param_hint}: {message}",
    "Invalid value: {message}": "Ungültiger Wert: {message}",
    "Could not open file {filename!r}: {message}": "Datei {filename!r} lässt sich nicht öffnen: {message}",
    "Got unexpected extra argument ({args})": "Unerwartetes zusätzliches Argument ({args})",
    "Got unexpected extra arguments ({args})": "Unerwartete zusätzliche Argumente ({args})",
    "Value must be an iterable.": "Der Wert muss eine Folge sein.",
    "Takes {nargs} values but 1 was given.": "Erwartet {nargs} Werte, angegeben ist 1.",
    "Takes {nargs} values but {len} were given.": "Erwartet {nargs} Werte, angegeben sind {len}.",
    "Option {name!r} does not take a value.": "Option {name!r} nimmt keinen Wert.",
    "Option {name!r} requires an argument.": "Option {name!r} braucht einen Wert.",
    "Option {name!r} requires {nargs} arguments.": "Option {name!r} braucht {nargs} Werte.",
    "Argument {name!r} takes {nargs} values.": "Argument {name!r} nimmt {nargs} Werte.",
    "Invalid start character for option ({option})": "Ungültiges erstes Zeichen einer Option ({option})",
    # types
    "Choose from:\n\t{choices}": "Zur Wahl:\n\t{choices}",
    "{value!r} is not {choice}.": "{value!r} ist nicht {choice}.",
    "{value!r} is not one of {choices}.": "{value!r} ist keiner der Werte {choices}.",
    "{value!r} does not match the format {format}.": "{value!r} entspricht nicht dem Format {format}.",
    "{value!r} does not match the formats {formats}.": "{value!r} entspricht keinem der Formate {formats}.",
    "{value} is not in the range {range}.": "{value} liegt nicht im Bereich {range}.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} ist kein Wahrheitswert. Erkannt werden: {states}"
    ),
    "{value!r} is not a valid {number_type}.": "{value!r} ist keine gültige Zahl ({number_type}).",
    "{value!r} is not a valid UUID.": "{value!r} ist keine gültige UUID.",
    "{len_type} values are required, but {len_value} was given.": (
        "{len_type} Werte sind nötig, angegeben ist {len_value}."
    ),
    "{len_type} values are required, but {len_value} were given.": (
        "{len_type} Werte sind nötig, angegeben sind {len_value}."
    ),
    "file": "Datei",
    "directory": "Ordner",
    "path": "Pfad",
    "{name} {filename!r} is a file.": "{name} {filename!r} ist eine Datei.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} ist ein Ordner.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} ist nicht lesbar.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} ist nicht schreibbar.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} ist nicht ausführbar.",
    "{name} {filename!r} does not exist.": "{name} {filename!r} existiert nicht.",
    "Choice({choices})": "Auswahl({choices})",
    # prompts and terminal
    "Press any key to continue...": "Eine Taste drücken, um fortzufahren …",
    "Repeat for confirmation": "Zur Bestätigung wiederholen",
    "Error: The two entered values do not match.": "Fehler: Die beiden Eingaben stimmen nicht überein.",
    "Error: invalid input": "Fehler: ungültige Eingabe",
    "{editor}: Editing failed": "{editor}: Bearbeiten fehlgeschlagen",
    "{editor}: Editing failed: {e}": "{editor}: Bearbeiten fehlgeschlagen: {e}",
    "Unknown color {colour!r}": "Unbekannte Farbe {colour!r}",
    "Unknown standard stream '{name}'": "Unbekannter Standardkanal '{name}'",
    "Windows error: {error}": "Windows-Fehler: {error}",
    "Couldn't detect Bash version, shell completion is not supported.": (
        "Die Bash-Version ist nicht erkennbar; Vervollständigung wird nicht unterstützt."
    ),
    "Shell completion is not supported for Bash versions older than 4.4.": (
        "Vervollständigung braucht Bash 4.4 oder neuer."
    ),
}

# Click's messages a developer sees when a command is declared wrongly (never a user): left
# in English on purpose, so that they stay searchable.
CLICK_DEVELOPER_ONLY = frozenset(
    {
        "Could not determine name for option with declarations {decls!r}",
        "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? "
        "Did you mean to pass '--{name}'?",
        "Arguments take exactly one parameter declaration, got {length}: {decls}.",
        "Name '{name}' defined twice",
        "Boolean option {decl!r} cannot use the same flag for true/false.",
    }
)

_CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click._parser",
    "click.types",
    "click.termui",
    "click._termui_impl",
    "click.utils",
    "click.shell_completion",
)


def gettext(message: str) -> str:
    return CLICK_DE.get(message, message) if _current == "de" else message


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def install_click_translation() -> None:
    """Point each loaded Click module's ``_`` and ``ngettext`` at this catalogue (idempotent).

    Only modules already imported: importing the terminal and completion helpers here would
    add termios, tty and shlex to every start; they are loaded (and patched on the next
    invocation) only where a command uses them, and their strings are about an editor or a
    shell that failed."""
    for name in _CLICK_MODULES:
        module: Any = sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext


# ---------------------------------------------------------------- bilingual commands and options

Help = tuple[str, str]  # (German, English)

# Click names a value by its type when no metavar is given; these read German too.
_METAVAR_DE = {"TEXT": "TEXT", "INTEGER": "GANZZAHL", "FLOAT": "ZAHL", "PATH": "PFAD", "FILENAME": "DATEI"}


class _Bilingual:
    """A help text in both languages; Click reads ``help`` whenever it formats, so the
    property answers in the language of this invocation."""

    _help_pair: Help | None = None

    @property
    def help(self) -> str | None:
        return say(*self._help_pair) if self._help_pair else None

    @help.setter
    def help(self, value: str | None) -> None:
        # Click assigns the German text it was given (or the docstring); the pair stays.
        if self._help_pair is None and value:
            self._help_pair = (value, value)


class Option(_Bilingual, click.Option):
    def __init__(self, *decls: Any, help: Help | None = None, **attrs: Any) -> None:
        self._help_pair = help
        super().__init__(*decls, **attrs)

    def make_metavar(self, *args: Any, **kwargs: Any) -> str:
        return _german_metavar(super().make_metavar(*args, **kwargs))


class Argument(_Bilingual, click.Argument):
    def __init__(self, *decls: Any, help: Help | None = None, **attrs: Any) -> None:
        self._help_pair = help
        super().__init__(*decls, **attrs)

    def make_metavar(self, *args: Any, **kwargs: Any) -> str:
        return _german_metavar(super().make_metavar(*args, **kwargs))


def _german_metavar(metavar: str) -> str:
    if current() != "de":
        return metavar
    return " ".join(_METAVAR_DE.get(word, word) for word in metavar.split(" "))


_USAGE_DE = {"[OPTIONS]": "[OPTIONEN]", "COMMAND [ARGS]...": "BEFEHL [ARGUMENTE]..."}


class BilingualCommand:
    """A command whose help (the docstring, German) has an English twin, and which chooses
    its language before Click parses (as the group, or run on its own in a test)."""

    _help_de: str | None = None
    _help_en: str | None = None

    @property
    def help(self) -> str | None:
        return self._help_en if _current == "en" and self._help_en else self._help_de

    @help.setter
    def help(self, value: str | None) -> None:
        self._help_de = value

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        return super().main(choose_language(args), *rest, **kwargs)  # type: ignore[misc]

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # Click builds the help option once per command and keeps its text: renew it.
        option: click.Option | None = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = gettext("Show this message and exit.")
        return option

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        # Click writes these metavars into the usage line without gettext.
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        if _current != "de":
            return pieces
        return [_USAGE_DE.get(p, p) for p in pieces]


class Command(BilingualCommand, click.Command):
    def __init__(self, *args: Any, help_en: str | None = None, **kwargs: Any) -> None:
        self._help_en = help_en
        super().__init__(*args, **kwargs)


def choose_language(args: Sequence[str] | None) -> list[str]:
    """Set the language from ``--lang`` in the arguments, else from the environment, and
    translate Click's strings; returns the arguments Click is to parse."""
    given = list(sys.argv[1:] if args is None else args)
    install_click_translation()
    activate(from_arguments(given) or from_environment())
    return given


def option(*decls: str, help: Help, **attrs: Any) -> Callable[[Any], Any]:
    return click.option(*decls, cls=Option, help=help, **attrs)


def argument(name: str, *, help: Help, **attrs: Any) -> Callable[[Any], Any]:
    return click.argument(name, cls=Argument, help=help, **attrs)


def command(name: str | None = None, *, help_en: str) -> Callable[[Any], Command]:
    return click.command(name, cls=Command, help_en=help_en)

"""Diagnostics: one catalogue of named codes, each with a severity and a title in English
and German, and the `file:line:col: CODE severity: message` form that editors and CI read.

A diagnostic's message and hint are written in English where the problem is found (the
message id, as in gettext); `format("de")` and `text("de")` give the German form from
eligibility.diagnostics_de. German is the default, as everywhere in the command line."""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
from collections.abc import Iterable
from pathlib import Path

ERROR = "error"
WARNING = "warning"

# The catalogue. docs/diagnostics.md documents each code; tests/rules_bad/ has a
# broken file for each. Codes are stable: tools may filter on them.
CATALOGUE: dict[str, tuple[str, str]] = {
    "E001": (ERROR, "YAML syntax error"),
    "E002": (ERROR, "YAML tag not allowed (rule files never construct objects)"),
    "E003": (ERROR, "duplicate key in a mapping"),
    "E004": (ERROR, "unknown key"),
    "E005": (ERROR, "missing required key"),
    "E006": (ERROR, "wrong type of value"),
    "E007": (ERROR, "date that does not exist or is badly written"),
    "E008": (ERROR, "duplicate id"),
    "E009": (ERROR, "expression syntax error"),
    "E010": (ERROR, "unknown name in an expression (fact, derived fact, parameter or outcome)"),
    "E011": (ERROR, "type mismatch in an expression"),
    "E012": (ERROR, "value not among the allowed values of an enum"),
    "E013": (ERROR, "rule without a source"),
    "E014": (ERROR, "assumption without a note"),
    "E015": (ERROR, "two versions of a parameter valid on the same day"),
    "E016": (ERROR, "cycle between derived facts or outcomes"),
    "E017": (ERROR, "precedence refers to an unknown rule or forms a cycle"),
    "E018": (ERROR, "validity period ends before it starts"),
    "E019": (ERROR, "rule reads a parameter on a day on which the parameter has no value"),
    "E020": (ERROR, "manifest missing or given twice"),
    "E021": (ERROR, "rule's conclusion does not fit the outcome's type"),
    "E022": (ERROR, "overlay refers to something the rule set does not have"),
    "E023": (ERROR, "rule can never fire: no input makes its condition true while it is in force"),
    "E024": (ERROR, "rule can never decide: a higher-precedence rule always decides first"),
    "E025": (
        ERROR,
        "two rules conclude different values for the same outcome on some input, with no precedence between them",
    ),
    "E026": (ERROR, "source id that the source register does not have"),
    "E027": (ERROR, "free-text source in a rule set that has a source register"),
    "E028": (ERROR, "one written form of a value claimed by two values of a fact"),
    # Limits: a hostile or broken rule file is refused before it can exhaust the machine.
    "E029": (ERROR, "rule file larger than the limit (2 MB, or 50 000 values)"),
    "E030": (ERROR, "not a regular file (directory, pipe or device named like a rule file)"),
    "E031": (ERROR, "YAML aliases that expand to more values than the limit (50 000), or too many aliases"),
    "E032": (ERROR, "YAML nesting deeper than the limit (64 levels)"),
    "E033": (ERROR, "expression nested deeper than the limit (parentheses, 'not', unary minus, calls, lists)"),
    "E034": (ERROR, "expression with more parts than the limit"),
    "E035": (ERROR, "number or text literal longer than the limit"),
    "E036": (ERROR, "date arithmetic by a fixed count of more than 100 years (it can leave the calendar)"),
    # Refused service reloads (service/reload.py); the running rule set stays.
    "E060": (ERROR, "rule file is not a regular file (FIFO, device, socket)"),
    "E061": (ERROR, "rule file cannot be read"),
    "E062": (ERROR, "rule file is empty (reload refused)"),
    "E063": (ERROR, "outcome of the running rule set is missing from the new files (reload refused)"),
    "E064": (ERROR, "rule of the running rule set is missing from the new files (reload refused)"),
    "E065": (ERROR, "rule set could not be loaded (an internal failure such as too deep recursion)"),
    "W101": (WARNING, "a day inside a parameter's history on which no version is valid"),
    "W104": (WARNING, "fact, parameter or derived fact that no rule reads"),
    "W105": (WARNING, "a day inside the rule set's (or outcome's) range on which no rule of an outcome is in force"),
    "W106": (WARNING, "outcome that rests only on county practice, press or the rule set's own assumptions"),
}

# German titles of the catalogue (docs/diagnostics.md shows both).
TITLES_DE: dict[str, str] = {
    "E001": "YAML-Syntaxfehler",
    "E002": "YAML-Tag nicht erlaubt (Regeldateien erzeugen nie Objekte)",
    "E003": "doppelter Schlüssel in einer Zuordnung",
    "E004": "unbekannter Schlüssel",
    "E005": "Pflichtschlüssel fehlt",
    "E006": "Wert vom falschen Typ",
    "E007": "Datum, das es nicht gibt oder das falsch geschrieben ist",
    "E008": "doppelte Id",
    "E009": "Syntaxfehler in einem Ausdruck",
    "E010": "unbekannter Name in einem Ausdruck (Angabe, abgeleitete Angabe, Parameter oder Ergebnis)",
    "E011": "Typfehler in einem Ausdruck",
    "E012": "Wert, der nicht zu den erlaubten Werten einer Aufzählung gehört",
    "E013": "Regel ohne Quelle",
    "E014": "Annahme ohne Erläuterung",
    "E015": "zwei Fassungen eines Parameters gelten am selben Tag",
    "E016": "Kreis zwischen abgeleiteten Angaben oder Ergebnissen",
    "E017": "Vorrang verweist auf eine unbekannte Regel oder bildet einen Kreis",
    "E018": "Geltungszeitraum endet, bevor er beginnt",
    "E019": "Regel liest einen Parameter an einem Tag, an dem er keinen Wert hat",
    "E020": "Manifest fehlt oder ist doppelt",
    "E021": "Schluss der Regel passt nicht zum Typ des Ergebnisses",
    "E022": "Overlay verweist auf etwas, das das Regelwerk nicht hat",
    "E023": "Regel greift nie: keine Eingabe macht ihre Bedingung wahr, solange sie in Kraft ist",
    "E024": "Regel entscheidet nie: eine vorrangige Regel entscheidet immer zuerst",
    "E025": "zwei Regeln schließen für dasselbe Ergebnis bei einer Eingabe auf verschiedene Werte, ohne Vorrang",
    "E026": "Quellen-Id, die das Quellenverzeichnis nicht hat",
    "E027": "Quelle als freier Text in einem Regelwerk mit Quellenverzeichnis",
    "E028": "eine Schreibweise wird von zwei Werten einer Angabe beansprucht",
    "E029": "Regeldatei größer als die Grenze (2 MB oder 50 000 Werte)",
    "E030": "keine gewöhnliche Datei (Ordner, Pipe oder Gerät mit dem Namen einer Regeldatei)",
    "E031": "YAML-Aliase, die mehr Werte als die Grenze (50 000) ergeben, oder zu viele Aliase",
    "E032": "YAML tiefer verschachtelt als die Grenze (64 Ebenen)",
    "E033": "Ausdruck tiefer verschachtelt als die Grenze (Klammern, 'not', Minus, Aufrufe, Listen)",
    "E034": "Ausdruck mit mehr Teilen als die Grenze",
    "E035": "Zahl oder Text im Ausdruck länger als die Grenze",
    "E036": "Datumsrechnung um eine feste Zahl von mehr als 100 Jahren (sie kann den Kalender verlassen)",
    "E060": "Regeldatei ist keine gewöhnliche Datei (FIFO, Gerät, Socket)",
    "E061": "Regeldatei nicht lesbar",
    "E062": "Regeldatei ist leer (Neuladen abgelehnt)",
    "E063": "Ergebnis des laufenden Regelwerks fehlt in den neuen Dateien (Neuladen abgelehnt)",
    "E064": "Regel des laufenden Regelwerks fehlt in den neuen Dateien (Neuladen abgelehnt)",
    "E065": "Regelwerk ließ sich nicht laden (ein interner Fehler wie zu tiefe Rekursion)",
    "W101": "ein Tag in der Geschichte eines Parameters, an dem keine Fassung gilt",
    "W104": "Angabe, Parameter oder abgeleitete Angabe, die keine Regel liest",
    "W105": "ein Tag im Zeitraum des Regelwerks (oder Ergebnisses), an dem keine Regel des Ergebnisses in Kraft ist",
    "W106": "Ergebnis, das sich nur auf Kreispraxis, Presse oder eigene Annahmen des Regelwerks stützt",
}

_SEVERITY = {"de": {ERROR: "Fehler", WARNING: "Warnung"}, "en": {ERROR: ERROR, WARNING: WARNING}}
_HINT = {"de": "Hinweis", "en": "hint"}


def title(code: str, lang: str = "de") -> str:
    """The catalogue's title of a code, in German or English."""
    return TITLES_DE[code] if lang == "de" else CATALOGUE[code][1]


# Codes only a service reload reports (they compare with the running rule set or guard the
# reload thread); tests/security/test_reload.py provokes each, not tests/rules_bad/.
RELOAD_CODES = frozenset({"E060", "E061", "E062", "E063", "E064", "E065"})


_SHOWN_LINE = 160  # characters of the offending line shown at most


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    file: str = ""
    line: int = 0
    column: int = 0
    hint: str = ""
    source_line: str = ""

    @property
    def severity(self) -> str:
        return CATALOGUE[self.code][0]

    def text(self, lang: str = "de") -> str:
        """The message in German (the default) or English."""
        if lang != "de":
            return self.message
        from eligibility.diagnostics_de import german

        return german(self.message)

    def hint_text(self, lang: str = "de") -> str:
        if lang != "de" or not self.hint:
            return self.hint
        from eligibility.diagnostics_de import german

        return german(self.hint, "hint")

    def localized(self, lang: str) -> Diagnostic:
        """The same diagnostic with message and hint in `lang` (for JSON and SARIF output)."""
        return dataclasses.replace(self, message=self.text(lang), hint=self.hint_text(lang))

    def format(self, lang: str = "de") -> str:
        where = self.file or ("<Regeln>" if lang == "de" else "<rules>")
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        severity = _SEVERITY.get(lang, _SEVERITY["en"])[self.severity]
        out = f"{where}: {self.code} {severity}: {self.text(lang)}"
        if self.source_line:
            src, col = self.source_line.rstrip(), self.column
            if len(src) > _SHOWN_LINE:
                # A hostile file may hold one line of megabytes: show a window around the column.
                start = max(0, min(col - 1 - _SHOWN_LINE // 2, len(src) - _SHOWN_LINE)) if col else 0
                src = ("…" if start else "") + src[start : start + _SHOWN_LINE] + "…"
                col = col - start + (1 if start else 0) if col else 0
            out += f"\n    {src}"
            if col:
                out += "\n    " + " " * (col - 1) + "^"
        if self.hint:
            out += f"\n  {_HINT.get(lang, 'hint')}: {self.hint_text(lang)}"
        return out

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.code, self.message)


class RuleSetError(Exception):
    """A rule set that cannot be loaded. Carries every diagnostic found, never a traceback."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(self.format())

    def format(self, lang: str = "de") -> str:
        return "\n".join(d.format(lang) for d in self.diagnostics)


def read_source_line(path: str | Path, line: int) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISREG(st.st_mode):
        return ""  # a pipe or device has no lines to quote, and reading it could block
    lines = _lines(str(path), st.st_mtime_ns, st.st_size)
    return lines[line - 1] if 0 < line <= len(lines) else ""


@functools.lru_cache(maxsize=16)
def _lines(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """A file's lines, read once per version of the file: a file with thousands of
    diagnostics would otherwise be read once per diagnostic (quadratic in its size)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(size + 1)
    except OSError:
        return ()
    return tuple(raw.decode("utf-8", errors="replace").splitlines())


def did_you_mean(word: str, options: Iterable[str], lang: str = "en") -> str:
    """The closest of `options`, as a hint. English by default: a diagnostic's hint is its
    English message id (translated when it is shown); the CLI asks for German directly."""
    import difflib

    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    if not close:
        return ""
    return f"meinten Sie „{close[0]}“?" if lang == "de" else f"did you mean '{close[0]}'?"

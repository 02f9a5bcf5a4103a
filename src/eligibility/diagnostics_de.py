"""German texts of the rule diagnostics.

The English message of a diagnostic is its message id, as in gettext: the sites that find a
problem (source/, lang/, compile/, apps/validate.py, service/reload.py) write it once, in
English, and this catalogue gives its German form. A template's ``{name}`` matches any text;
the German template reuses the names. Three kinds of names are translated themselves:
``{what}``/``{detail}`` (a nested message, such as the expression error after "rule 'x':"),
``{*_type}`` (a type of the rule language) and ``{hint}`` (a nested hint). A message
without a German template stays English: tests/test_rules_bad.py fails for every code of
the catalogue whose German text is not German.
"""

from __future__ import annotations

import functools
import re

# (English template, German template). The first template that matches the whole text wins:
# specific ones first.
MESSAGES: tuple[tuple[str, str], ...] = (
    # ---- nested prefixes: "<what>: <detail>"
    (
        "rule '{id}': the condition must be true/false, not {a_type}",
        "Regel „{id}“: die Bedingung muss wahr/falsch sein, nicht {a_type}",
    ),
    ("rule '{id}': 'when: false' never applies", "Regel „{id}“: „when: false“ gilt nie"),
    ("rule '{id}': {detail}", "Regel „{id}“: {detail}"),
    ("derived fact '{name}': {detail}", "abgeleitete Angabe „{name}“: {detail}"),
    (
        "parameter '{name}': versions valid from {a} and from {b} are both valid on {c}",
        "Parameter „{name}“: die Fassungen ab {a} und ab {b} gelten beide am {c}",
    ),
    (
        "fact '{name}': '{form}' is a form of both '{a}' and '{b}'",
        "Angabe „{name}“: „{form}“ ist eine Schreibweise von „{a}“ und von „{b}“",
    ),
    # ---- YAML and files (source/safe_yaml.py)
    ("YAML syntax error: {detail}", "YAML-Syntaxfehler: {detail}"),
    # PyYAML's own problems, after "YAML syntax error: "
    ("expected <block end>, but found '{token}'", "erwartet: Ende des Blocks, gefunden: „{token}“"),
    ("expected '<document start>', but found '{token}'", "erwartet: Beginn des Dokuments, gefunden: „{token}“"),
    ("mapping values are not allowed here", "hier ist kein „schlüssel: wert“ erlaubt"),
    ("found character '{ch}' that cannot start any token", "das Zeichen „{ch}“ kann hier nichts beginnen"),
    ("could not find expected ':'", "das erwartete „:“ fehlt"),
    ("found unexpected end of stream", "unerwartetes Dateiende"),
    ("found undefined alias '{name}'", "unbekannter Alias „{name}“"),
    ("YAML tag '{tag}' is not allowed in rule files", "YAML-Tag „{tag}“ ist in Regeldateien nicht erlaubt"),
    ("mapping keys must be plain scalars", "Schlüssel müssen einfache Werte sein"),
    ("duplicate key '{key}' (first at line {line})", "Schlüssel „{key}“ kommt zweimal vor (zuerst in Zeile {line})"),
    ("'{value}' is not a real date", "„{value}“ ist kein Datum, das es gibt"),
    ("cannot read value '{value}'", "Wert „{value}“ ist nicht lesbar"),
    ("cannot read file: {reason}", "Datei nicht lesbar: {reason}"),
    ("file is not UTF-8", "Datei ist nicht UTF-8-kodiert"),
    (
        "this is a directory, not a regular file; only regular files are read as rule files",
        "das ist ein Ordner, keine gewöhnliche Datei; als Regeldateien werden nur gewöhnliche Dateien gelesen",
    ),
    (
        "this is a pipe (FIFO), not a regular file; only regular files are read as rule files",
        "das ist eine Pipe (FIFO), keine gewöhnliche Datei; als Regeldateien werden nur gewöhnliche Dateien gelesen",
    ),
    (
        "this is a device, not a regular file; only regular files are read as rule files",
        "das ist ein Gerät, keine gewöhnliche Datei; als Regeldateien werden nur gewöhnliche Dateien gelesen",
    ),
    (
        "this is not a regular file, not a regular file; only regular files are read as rule files",
        "das ist keine gewöhnliche Datei; als Regeldateien werden nur gewöhnliche Dateien gelesen",
    ),
    (
        "file is larger than {mb} MB ({size} bytes; at most {limit} are read)",
        "Datei ist größer als {mb} MB ({size} Bytes; gelesen werden höchstens {limit})",
    ),
    ("file with more than {n} values", "Datei mit mehr als {n} Werten"),
    ("aliases expand to more than {n} values", "Aliase ergeben ausgeschrieben mehr als {n} Werte"),
    ("more than {n} aliases in one file", "mehr als {n} Aliase in einer Datei"),
    (
        "nesting deeper than {n} levels (with what alias '*{anchor}' stands for)",
        "tiefer als {n} Ebenen verschachtelt (mit dem, wofür der Alias „*{anchor}“ steht)",
    ),
    ("nesting deeper than {n} levels", "tiefer als {n} Ebenen verschachtelt"),
    # ---- the rule-file schema (source/loader.py, source/citations.py)
    ("unknown key '{key}'", "unbekannter Schlüssel „{key}“"),
    ("missing required key '{key}'", "Pflichtschlüssel „{key}“ fehlt"),
    ("'{key}' is not a valid date", "„{key}“ ist kein gültiges Datum"),
    ("'{key}' must be one of {values_list}", "„{key}“ muss einer dieser Werte sein: {values_list}"),
    (
        "'{key}' must be text, but YAML read a yes/no value",
        "„{key}“ muss Text sein, YAML hat aber einen Ja/Nein-Wert gelesen",
    ),
    ("rule set directory '{root}' does not exist", "Regelwerk-Ordner „{root}“ existiert nicht"),
    ("a rule file must be a mapping of sections", "eine Regeldatei muss aus Abschnitten (Schlüssel: Wert) bestehen"),
    ("a second 'ruleset:' manifest", "ein zweites Manifest „ruleset:“"),
    ("no 'ruleset:' manifest found", "kein Manifest „ruleset:“ gefunden"),
    ("the rule set ends ({end}) before it starts ({start})", "das Regelwerk endet ({end}), bevor es beginnt ({start})"),
    ("parameter '{name}' is defined twice", "Parameter „{name}“ ist zweimal definiert"),
    ("fact '{name}' is defined twice", "Angabe „{name}“ ist zweimal definiert"),
    ("derived '{name}' is defined twice", "abgeleitete Angabe „{name}“ ist zweimal definiert"),
    ("outcome '{name}' is defined twice", "Ergebnis „{name}“ ist zweimal definiert"),
    ("source '{name}' is defined twice", "Quelle „{name}“ ist zweimal definiert"),
    ("rule id '{id}' is used twice", "Regel-Id „{id}“ kommt zweimal vor"),
    (
        "overlay sets parameter '{name}', which the rule set does not have",
        "Overlay setzt den Parameter „{name}“, den das Regelwerk nicht hat",
    ),
    ("source id '{id}' is not in the source register", "Quellen-Id „{id}“ steht nicht im Quellenverzeichnis"),
    ("source id '{id}' is not in the register", "Quellen-Id „{id}“ steht nicht im Verzeichnis"),
    (
        "the source '{text}' is free text, but this rule set has a source register",
        "die Quelle „{text}“ ist freier Text, dieses Regelwerk hat aber ein Quellenverzeichnis",
    ),
    ("a source is {id: ..., at: ...} or a list of them", "eine Quelle ist {id: ..., at: ...} oder eine Liste davon"),
    # pydantic's own messages after "'key': "
    ("{key}: Input should be a valid integer{rest}", "{key}: erwartet eine ganze Zahl{rest}"),
    ("{key}: Input should be a valid number{rest}", "{key}: erwartet eine Zahl{rest}"),
    ("{key}: Input should be a valid string", "{key}: erwartet Text"),
    ("{key}: Input should be a valid boolean{rest}", "{key}: erwartet true oder false{rest}"),
    ("{key}: Input should be a valid list", "{key}: erwartet eine Liste"),
    ("{key}: Input should be a valid dictionary{rest}", "{key}: erwartet Schlüssel und Werte{rest}"),
    ("{key}: Input should be a valid date{rest}", "{key}: erwartet ein Datum{rest}"),
    ("{key}: Field required", "{key}: Pflichtfeld fehlt"),
    # ---- compiling (compile/compiler.py)
    ("unknown name '{name}'", "unbekannter Name „{name}“"),
    ("cycle between derived facts: {chain}", "Kreis zwischen abgeleiteten Angaben: {chain}"),
    ("cycle between outcomes: {chain}", "Kreis zwischen Ergebnissen: {chain}"),
    ("precedence cycle between rules {ids}", "Kreis im Vorrang zwischen den Regeln {ids}"),
    (
        "rule '{id}' overrides '{target}', which is not a rule of outcome '{outcome}'",
        "Regel „{id}“ geht „{target}“ vor, das keine Regel des Ergebnisses „{outcome}“ ist",
    ),
    (
        "version {n} of parameter '{name}' ends before it starts",
        "Fassung {n} des Parameters „{name}“ endet, bevor sie beginnt",
    ),
    (
        "parameter '{name}' version {n} is an assumption without a note",
        "Fassung {n} des Parameters „{name}“ ist eine Annahme ohne Erläuterung",
    ),
    (
        "value of parameter '{name}' version {n} is not of type {a_type}",
        "der Wert der Fassung {n} des Parameters „{name}“ hat nicht den Typ {a_type}",
    ),
    ("default_entity '{name}' has no facts or outcomes", "default_entity „{name}“ hat weder Angaben noch Ergebnisse"),
    ("name '{name}' is used for a {a_word} and a {b_word}", "der Name „{name}“ steht für {a_word} und für {b_word}"),
    (
        "derived fact '{name}' is an assumption without a note",
        "abgeleitete Angabe „{name}“ ist eine Annahme ohne Erläuterung",
    ),
    ("rule '{id}' has no source", "Regel „{id}“ hat keine Quelle"),
    ("rule '{id}' is an assumption without a note", "Regel „{id}“ ist eine Annahme ohne Erläuterung"),
    ("rule '{id}' ends before it starts", "Regel „{id}“ endet, bevor sie beginnt"),
    (
        "rule '{id}' computes {a_type}, but outcome '{outcome}' is {b_type}",
        "Regel „{id}“ berechnet {a_type}, das Ergebnis „{outcome}“ ist aber {b_type}",
    ),
    (
        "rule '{id}' concludes '{value}', which does not fit outcome '{outcome}' ({allowed})",
        "Regel „{id}“ schließt auf „{value}“, das nicht zum Ergebnis „{outcome}“ passt ({allowed})",
    ),
    (
        "default of outcome '{outcome}' does not fit its type",
        "der Standardwert des Ergebnisses „{outcome}“ passt nicht zu seinem Typ",
    ),
    # ---- expressions (lang/syntax.py, lang/types.py)
    ("unexpected character '{ch}'", "unerwartetes Zeichen „{ch}“"),
    ("unexpected the end of the expression", "unerwartetes Ende des Ausdrucks"),
    ("unexpected '{token}'", "unerwartetes „{token}“"),
    ("expected '{a}' but found the end of the expression", "erwartet „{a}“, gefunden: Ende des Ausdrucks"),
    ("expected '{a}' but found '{b}'", "erwartet „{a}“, gefunden: „{b}“"),
    ("empty expression", "leerer Ausdruck"),
    ("use == to compare", "zum Vergleichen == schreiben"),
    ("comparisons cannot be chained", "Vergleiche lassen sich nicht aneinanderreihen"),
    ("'not' cannot stand here", "„not“ kann hier nicht stehen"),
    ("'{op}' needs something before it", "vor „{op}“ fehlt etwas"),
    ("unknown function '{name}'", "unbekannte Funktion „{name}“"),
    ("number with more than {n} digits", "Zahl mit mehr als {n} Ziffern"),
    ("text longer than {n} characters", "Text länger als {n} Zeichen"),
    ("expression nested deeper than {n} levels", "Ausdruck tiefer als {n} Ebenen verschachtelt"),
    ("expression with more than {n} parts", "Ausdruck mit mehr als {n} Teilen"),
    (
        "{fn}(…, {count}) shifts a date by more than {n} years; that can leave the calendar (01.01.0001 to 31.12.9999)",
        "{fn}(…, {count}) verschiebt ein Datum um mehr als {n} Jahre; das kann den Kalender verlassen (01.01.0001 bis 31.12.9999)",
    ),
    ("list mixes {a_type} and {b_type}", "Liste mischt {a_type} und {b_type}"),
    ("'-' needs a number, not {a_type}", "„-“ braucht eine Zahl, nicht {a_type}"),
    ("'{op}' needs numbers, not {a_type}", "„{op}“ braucht Zahlen, nicht {a_type}"),
    ("'{op}' needs a list on the right, not {a_type}", "„{op}“ braucht rechts eine Liste, nicht {a_type}"),
    ("cannot order {a_type} and {b_type} with '{op}'", "{a_type} und {b_type} lassen sich nicht mit „{op}“ ordnen"),
    ("cannot compare {a_type} with {b_type}", "{a_type} lässt sich nicht mit {b_type} vergleichen"),
    ("known takes 1 argument(s), not {n}", "known nimmt 1 Argument, nicht {n}"),
    ("{fn} takes {n} argument(s), not {m}", "{fn} nimmt {n} Argument(e), nicht {m}"),
    ("{fn} needs {a_type} here, not {b_type}", "{fn} braucht hier {a_type}, nicht {b_type}"),
    (
        "{where} needs a condition (true/false), not {a_type}",
        "{where} braucht eine Bedingung (wahr/falsch), nicht {a_type}",
    ),
    ("'{value}' is not an allowed value", "„{value}“ ist kein erlaubter Wert"),
    # ---- checks of a loaded rule set (apps/validate.py)
    ("parameter '{name}' has no value from {a} to {b}", "Parameter „{name}“ hat vom {a} bis zum {b} keinen Wert"),
    (
        "rule '{id}' is in force on {day}, but parameter '{name}' has no value then",
        "Regel „{id}“ ist am {day} in Kraft, der Parameter „{name}“ hat dann aber keinen Wert",
    ),
    (
        "outcome '{outcome}' has no rule in force from {a} to {b}",
        "für das Ergebnis „{outcome}“ ist vom {a} bis zum {b} keine Regel in Kraft",
    ),
    (
        "outcome '{outcome}' has no rule in force from {a}",
        "für das Ergebnis „{outcome}“ ist ab dem {a} keine Regel in Kraft",
    ),
    (
        "outcome '{outcome}' rests only on sources of these kinds: {kinds_list}",
        "das Ergebnis „{outcome}“ stützt sich nur auf Quellen dieser Arten: {kinds_list}",
    ),
    ("no rule reads fact '{name}'", "keine Regel liest die Angabe „{name}“"),
    ("no rule reads derived fact '{name}'", "keine Regel liest die abgeleitete Angabe „{name}“"),
    ("no rule reads parameter '{name}'", "keine Regel liest den Parameter „{name}“"),
    (
        "rule '{id}' can never fire: no combination of the boundary values of its facts makes its condition true while it is in force",
        "Regel „{id}“ greift nie: keine Kombination der Grenzwerte ihrer Angaben macht ihre Bedingung wahr, solange sie in Kraft ist",
    ),
    (
        "rule '{id}' never decides: whenever it applies, {by} decides first",
        "Regel „{id}“ entscheidet nie: wann immer sie greift, entscheidet zuerst {by}",
    ),
    (
        "rule '{id}' never decides: whenever it applies, {by} decide first",
        "Regel „{id}“ entscheidet nie: wann immer sie greift, entscheiden zuerst {by}",
    ),
    (
        "rules '{a}' and '{b}' of outcome '{outcome}' conclude different values on {day} for {inputs}, and neither overrides the other",
        "die Regeln „{a}“ und „{b}“ des Ergebnisses „{outcome}“ schließen am {day} für {inputs} auf verschiedene Werte, und keine geht der anderen vor",
    ),
    # ---- refused reloads (service/reload.py)
    (
        "rule file is not a regular file (a FIFO, device or socket); it is not read",
        "Regeldatei ist keine gewöhnliche Datei (FIFO, Gerät oder Socket); sie wird nicht gelesen",
    ),
    ("rule file cannot be read: {reason}", "Regeldatei nicht lesbar: {reason}"),
    ("rule file is empty (only blank lines or comments)", "Regeldatei ist leer (nur Leerzeilen oder Kommentare)"),
    (
        "outcome '{outcome}' ({entity}) of the running rule set is missing from the new files",
        "das Ergebnis „{outcome}“ ({entity}) des laufenden Regelwerks fehlt in den neuen Dateien",
    ),
    (
        "rule '{id}' of outcome '{outcome}' ({entity}) is in the running rule set but missing from the new files",
        "die Regel „{id}“ des Ergebnisses „{outcome}“ ({entity}) steht im laufenden Regelwerk, fehlt aber in den neuen Dateien",
    ),
    ("rule set could not be loaded: {reason}", "Regelwerk ließ sich nicht laden: {reason}"),
)

HINTS: tuple[tuple[str, str], ...] = (
    ("did you mean '{name}'?", "meinten Sie „{name}“?"),
    ("allowed here: {keys}", "erlaubt sind hier: {keys}"),
    ("allowed: {values}", "erlaubt: {values}"),
    ("functions: {names}", "Funktionen: {names}"),
    ("add '{key}:' here", "hier „{key}:“ ergänzen"),
    ("first in {file}", "zuerst in {file}"),
    ("end the earlier version with 'valid_to: {day}'", "die frühere Fassung mit „valid_to: {day}“ enden lassen"),
    (
        "let version {n} run to {day}, or add a version",
        "Fassung {n} bis zum {day} laufen lassen oder eine Fassung ergänzen",
    ),
    (
        "add 'overrides: [{id}]' to the exception, or make the conditions exclusive",
        "der Ausnahme „overrides: [{id}]“ geben oder die Bedingungen einander ausschließen lassen",
    ),
    ("a fixed shift is at most {n} {unit}", "eine feste Verschiebung ist höchstens {n} {unit}"),
    ("numbers in rules have at most {n} digits", "Zahlen in Regeln haben höchstens {n} Ziffern"),
    ("save the file as UTF-8", "die Datei als UTF-8 speichern"),
    (
        "check indentation and quoting; values with ':' or '#' need quotes",
        "Einrückung und Anführungszeichen prüfen; Werte mit „:“ oder „#“ brauchen Anführungszeichen",
    ),
    (
        "rule files are data: remove the tag and write the value as plain YAML",
        "Regeldateien sind Daten: den Tag entfernen und den Wert als einfaches YAML schreiben",
    ),
    ("remove or rename one of them", "einen der beiden entfernen oder umbenennen"),
    (
        "write dates as YYYY-MM-DD and check the day exists (e.g. 2016-02-29 but not 2017-02-29)",
        "Daten als JJJJ-MM-TT schreiben und prüfen, ob es den Tag gibt (z. B. 2016-02-29, aber nicht 2017-02-29)",
    ),
    (
        "write dates as YYYY-MM-DD, and check the day exists",
        "Daten als JJJJ-MM-TT schreiben und prüfen, ob es den Tag gibt",
    ),
    (
        "dates are YYYY-MM-DD and must exist (2016-02-29, not 2017-02-29)",
        "Daten sind JJJJ-MM-TT und müssen existieren (2016-02-29, nicht 2017-02-29)",
    ),
    (
        "a rule file is a regular text file; split a large one into several files",
        "eine Regeldatei ist eine gewöhnliche Textdatei; eine große auf mehrere Dateien aufteilen",
    ),
    (
        "remove it from the rule set folder, or pass the path of a regular .yaml file",
        "aus dem Regelwerk-Ordner entfernen oder den Pfad einer gewöhnlichen .yaml-Datei angeben",
    ),
    (
        "aliases (*name) are meant for a few repeated notes; write the values out",
        "Aliase (*name) sind für wenige wiederholte Notizen gedacht; die Werte ausschreiben",
    ),
    (
        "rule files need about a dozen levels; flatten the structure",
        "Regeldateien brauchen etwa ein Dutzend Ebenen; die Struktur abflachen",
    ),
    ("write true or false", "true oder false schreiben"),
    ("write a number", "eine Zahl schreiben"),
    (
        "write text (quote it if it starts with a special character)",
        "Text schreiben (in Anführungszeichen, wenn er mit einem Sonderzeichen beginnt)",
    ),
    ("write a list: one '- item' per line", "eine Liste schreiben: ein „- Eintrag“ je Zeile"),
    ("write a mapping: 'key: value' lines", "Schlüssel und Werte schreiben: Zeilen „schlüssel: wert“"),
    (
        "forms match in any case and with or without umlauts and spaces; give each form to one value",
        "Schreibweisen gelten unabhängig von Groß- und Kleinschreibung, Umlauten und Leerzeichen; jede Schreibweise nur einem Wert geben",
    ),
    (
        "add the document to the register (sources.yaml) first",
        "das Dokument zuerst ins Quellenverzeichnis (sources.yaml) aufnehmen",
    ),
    (
        'cite a document of the register by its id: source: {id: ..., at: "§ ..."}',
        'ein Dokument des Verzeichnisses mit seiner Id zitieren: source: {id: ..., at: "§ ..."}',
    ),
    ("'at' is the pinpoint as text, e.g. \"§ 9 Abs. 1\"", '„at“ ist die Fundstelle als Text, z. B. "§ 9 Abs. 1"'),
    (
        'YAML reads no, yes, on, off as true/false: put the text in quotes ("no")',
        'YAML liest no, yes, on, off als true/false: den Text in Anführungszeichen setzen ("no")',
    ),
    ("pass the folder that holds ruleset.yaml", "den Ordner angeben, der ruleset.yaml enthält"),
    ("start with 'entity:', 'parameters:' or 'ruleset:'", "mit „entity:“, „parameters:“ oder „ruleset:“ beginnen"),
    ("a rule set has exactly one manifest", "ein Regelwerk hat genau ein Manifest"),
    (
        "add a ruleset.yaml with name, version, jurisdiction, title and valid_from",
        "eine ruleset.yaml mit name, version, jurisdiction, title und valid_from anlegen",
    ),
    ("check valid_from and valid_to of the manifest", "valid_from und valid_to des Manifests prüfen"),
    (
        "facts, derived facts, outcomes and parameters are declared in the rule files",
        "Angaben, abgeleitete Angaben, Ergebnisse und Parameter werden in den Regeldateien deklariert",
    ),
    ("a derived fact cannot depend on itself", "eine abgeleitete Angabe kann nicht von sich selbst abhängen"),
    ("an outcome cannot depend on itself", "ein Ergebnis kann nicht von sich selbst abhängen"),
    (
        "an exception cannot also be overridden by the rule it overrides",
        "eine Ausnahme kann nicht zugleich der Regel nachgehen, der sie vorgeht",
    ),
    (
        "add 'note: {de: ..., en: ...}' saying what is assumed and why",
        "„note: {de: ..., en: ...}“ ergänzen: was angenommen wird und warum",
    ),
    (
        "add 'source:' with law and paragraph, VwV number or Erlass and date",
        "„source:“ mit Gesetz und Paragraf, VwV-Nummer oder Erlass und Datum ergänzen",
    ),
    ("delete the rule or give it a condition", "die Regel löschen oder ihr eine Bedingung geben"),
    ("give it a distinct name", "einen eigenen Namen vergeben"),
    ("use 'and', 'or', 'not'", "„and“, „or“, „not“ verwenden"),
    (
        "only names, numbers, dates, strings and operators are allowed",
        "erlaubt sind nur Namen, Zahlen, Daten, Texte und Operatoren",
    ),
    ("combine conditions with 'and' or 'or'", "Bedingungen mit „and“ oder „or“ verbinden"),
    (
        'write a condition such as: aufenthaltsstatus == "duldung"',
        'eine Bedingung schreiben, z. B.: aufenthaltsstatus == "duldung"',
    ),
    ("write a < b and b < c", "a < b and b < c schreiben"),
    ("put the negated part in parentheses", "den verneinten Teil in Klammern setzen"),
    ("use == to compare", "zum Vergleichen == schreiben"),
    (
        "compare with an enum value or a short text; long texts belong in labels and notes",
        "mit einem Aufzählungswert oder kurzen Text vergleichen; lange Texte gehören in Bezeichnungen und Notizen",
    ),
    (
        "split it into derived facts, or remove doubled parentheses and 'not not'",
        "in abgeleitete Angaben aufteilen oder doppelte Klammern und „not not“ entfernen",
    ),
    (
        'split it into derived facts, or compare with a list: x in ["a", "b"]',
        'in abgeleitete Angaben aufteilen oder mit einer Liste vergleichen: x in ["a", "b"]',
    ),
    ('compare the value, e.g. x == "..."', 'den Wert vergleichen, z. B. x == "..."'),
    (
        "use add_days, add_months or days_between for dates",
        "für Daten add_days, add_months oder days_between verwenden",
    ),
    ("only numbers and dates have an order", "nur Zahlen und Daten haben eine Reihenfolge"),
    (
        "check the condition against its validity period and the enum values",
        "die Bedingung mit ihrem Geltungszeitraum und den Aufzählungswerten abgleichen",
    ),
    (
        "remove the rule, narrow the earlier one, or make this one an exception ('overrides')",
        "die Regel entfernen, die frühere enger fassen oder diese zur Ausnahme machen („overrides“)",
    ),
    (
        "limit the rule with valid_from/valid_to, or add a parameter version",
        "die Regel mit valid_from/valid_to begrenzen oder eine Fassung des Parameters ergänzen",
    ),
    (
        "cite the law, regulation or official publication it follows, or keep the warning as a reminder that it is practice",
        "das Gesetz, die Vorschrift oder die amtliche Veröffentlichung zitieren, der es folgt, oder die Warnung als Erinnerung stehen lassen, dass es Praxis ist",
    ),
    (
        "remove it, or mark it 'informational: true' if tools use it",
        "entfernen oder mit „informational: true“ kennzeichnen, wenn Werkzeuge es nutzen",
    ),
    (
        "remove it, or mark it 'informational: true' if reports use it",
        "entfernen oder mit „informational: true“ kennzeichnen, wenn Berichte es nutzen",
    ),
    (
        "declare the outcome's own valid_from/valid_to, or add a rule for that period",
        "dem Ergebnis eigene valid_from/valid_to geben oder eine Regel für diesen Zeitraum ergänzen",
    ),
    ("rule files must be ordinary files", "Regeldateien müssen gewöhnliche Dateien sein"),
    (
        "restart the service to remove an outcome on purpose",
        "den Dienst neu starten, um ein Ergebnis absichtlich zu entfernen",
    ),
    (
        "restart the service to remove a rule on purpose",
        "den Dienst neu starten, um eine Regel absichtlich zu entfernen",
    ),
    ("finish writing the file", "die Datei fertig schreiben"),
)

# Words that fill a template's slots: types of the rule language, kinds of names, units.
WORDS: dict[str, str] = {
    "bool": "wahr/falsch",
    "int": "ganze Zahl",
    "decimal": "Dezimalzahl",
    "date": "Datum",
    "enum": "Aufzählungswert",
    "text": "Text",
    "any": "beliebiger Wert",
    "anything": "beliebige Werte",
    "fact": "eine Angabe",
    "derived fact": "eine abgeleitete Angabe",
    "outcome": "ein Ergebnis",
    "parameter": "einen Parameter",
    "built-in": "einen eingebauten Namen",
    "months": "Monate",
    "years": "Jahre",
    "days": "Tage",
    "'not'": "„not“",
    "'and'": "„and“",
    "'or'": "„or“",
}


@functools.lru_cache(maxsize=1)
def _compiled(kind: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    table = MESSAGES if kind == "message" else HINTS
    out = []
    for english, german in table:
        # Literal braces in a message ({id: ..., at: ...}) are not slots: only {name} is.
        parts = re.split(r"\{(\w+)\}", english)
        pattern, seen = "", set()
        for i, part in enumerate(parts):
            if i % 2 == 0:
                pattern += re.escape(part)
            elif part in seen:
                pattern += f"(?P={part})"
            else:
                seen.add(part)
                pattern += f"(?P<{part}>.+?)"
        out.append((re.compile(pattern, re.DOTALL), german))
    return tuple(out)


def _word(text: str) -> str:
    if text.startswith("list of "):
        return "Liste von " + _word(text[len("list of ") :])
    return WORDS.get(text, text)


def _listed(text: str) -> str:
    """A list of values or source kinds: its words in German, joined with "oder"."""
    from eligibility.source.citations import KIND_LABELS

    kinds = {en: de for de, en in KIND_LABELS.values()}
    items = [kinds.get(item, item) for item in text.replace(" or ", ", ").split(", ")]
    return ", ".join(items[:-1]) + " oder " + items[-1] if " or " in text else ", ".join(items)


def _fill(german: str, values: dict[str, str]) -> str:
    def slot(m: re.Match[str]) -> str:
        name = m.group(1)
        return values[name] if name in values else m.group(0)

    return re.sub(r"\{(\w+)\}", slot, german)


def german(text: str, kind: str = "message") -> str:
    """The German text of an English diagnostic message (kind "message") or hint ("hint");
    the English text itself when the catalogue has no template for it."""
    if not text:
        return text
    for pattern, template in _compiled(kind):
        m = pattern.fullmatch(text)
        if m is None:
            continue
        values = {}
        for name, value in m.groupdict().items():
            if name in ("what", "detail"):
                value = german(value)
            elif name == "hint":
                value = german(value, "hint")
            elif name.endswith(("_type", "_word")) or name in ("where", "unit"):
                value = _word(value)
            elif name.endswith("_list"):
                value = _listed(value)
            values[name] = value
        return _fill(template, values)
    return text

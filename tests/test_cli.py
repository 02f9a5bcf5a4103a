"""The command line as a caseworker and a CI job use it."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from eligibility.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "anerkannter_fluechtling.yaml"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_check_prints_a_german_explanation_with_rule_and_source():
    r = run("check", EXAMPLE, "--on", "2018-09-15")
    assert r.exit_code == 0, r.output
    assert "Zielgruppe Integrationsmanagement: JA" in r.output
    assert "weil: Ein Aufenthaltstitel ist erteilt (§ 9 Abs. 1 Nr. 3 FlüAG [Gesetz])" in r.output
    # Rule paths are technical details (Engine.render(..., technical=True)), not the caseworker's text.
    assert "Regelpfad" not in r.output and "im.anschlussunterbringung" not in r.output
    assert "Stichtag 15.09.2018" in r.output


def test_check_json_parses_and_carries_the_rule_set_hash():
    r = run("check", EXAMPLE, "--on", "15.09.2018", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["ruleset"]["name"] == "pakt-fuer-integration-bw"
    assert len(data["ruleset"]["sha256"]) == 64
    assert data["outcomes"]["integrationsmanagement"]["value"] is True
    assert data["outcomes"]["prioritaet"]["value"] == "hoch"
    assert set(data["outcomes"]) == {
        "anschlussunterbringung",
        "aub_berechtigt_in_gu",
        "integrationsmanagement",
        "lastenausgleich",
        "prioritaet",
    }


def test_check_markdown_and_english():
    r = run("check", EXAMPLE, "--on", "2018-09-15", "--format", "markdown", "--lang", "en")
    assert r.exit_code == 0
    assert "## Target group of Integrationsmanagement: YES" in r.output


def test_check_unknown_shows_the_question_to_ask(tmp_path):
    person = tmp_path / "p.json"
    person.write_text(
        json.dumps({"person_id": "X1", "aufenthaltsstatus": "fluechtling", "aufenthaltstitel_datum": "2017-01-01"}),
        encoding="utf-8",
    )
    r = run("check", person, "--on", "2018-01-01")
    assert r.exit_code == 0
    assert "Zielgruppe Integrationsmanagement: NOCH OFFEN" in r.output
    assert "fehlt: Unterbringung" in r.output
    # Each question once, in the section at the end, with the outcomes it affects.
    assert "Was noch zu klären ist:" in r.output
    assert r.output.count("- Wo wohnt die Person am Stichtag") == 1


def test_check_reads_a_case_file_and_its_date():
    case = ROOT / "cases" / "flueag_p09_abs1_nr4_24_monate" / "tag_nach_fristende.yaml"
    r = run("check", case, "--brief")
    assert r.exit_code == 0
    assert "Stichtag 16.03.2018" in r.output
    assert "Anschlussunterbringung (Kreis der AUB): JA" in r.output


def test_bad_rule_file_gives_file_line_and_hint_and_exit_2(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "tests" / "rules_bad" / "E002_python_tag", rules)
    r = run("check", EXAMPLE, "--rules", rules)
    assert r.exit_code == 2
    assert "outcome.yaml:14:15: E002 Fehler: YAML-Tag" in r.output and "Hinweis:" in r.output
    assert "Traceback" not in r.output
    r = run("check", EXAMPLE, "--rules", rules, "--lang", "en")
    assert r.exit_code == 2
    assert "outcome.yaml:14:15: E002 error: YAML tag" in r.output and "hint:" in r.output
    assert "1 error in the rule set – nothing decided." in r.output


@pytest.mark.parametrize("bad", ["E004_unknown_key_typo", "E011_type_mismatch", "E010_unknown_fact"])
def test_typo_type_error_unknown_fact_exit_2(tmp_path, bad):
    r = run("check", EXAMPLE, "--rules", ROOT / "tests" / "rules_bad" / bad)
    assert r.exit_code == 2
    assert bad.split("_")[0] in r.output
    assert ".yaml:" in r.output


def test_bad_person_file_exit_2_without_personal_data(tmp_path):
    person = tmp_path / "p.yaml"
    person.write_text("person_id: X9\naufenthaltsstatus: dulding\naufnahme_uab_datum: 31.02.2016\n", encoding="utf-8")
    r = run("check", person, "--on", "2018-01-01")
    assert r.exit_code == 2
    assert "aufenthaltsstatus: kein erlaubter Wert" in r.output
    assert "aufnahme_uab_datum: kein gültiges Datum" in r.output
    assert "dulding" not in r.output and "31.02.2016" not in r.output


@pytest.mark.parametrize(
    "content,message",
    [
        ("[1, 2]", "erwartet ein Objekt"),
        ("a: [unclosed", "kein gültiges YAML"),
    ],
)
def test_unreadable_person_file_exit_2(tmp_path, content, message):
    person = tmp_path / "p.yaml"
    person.write_text(content, encoding="utf-8")
    r = run("check", person)
    assert r.exit_code == 2
    assert message in r.output


def test_missing_file_and_bad_date_exit_2(tmp_path):
    assert run("check", tmp_path / "nope.yaml").exit_code == 2
    r = run("check", EXAMPLE, "--on", "31.02.2018")
    assert r.exit_code == 2 and "kein gültiges Datum" in r.output


def test_schema_command_prints_json_schema():
    r = run("schema")
    data = json.loads(r.output)
    assert data["properties"]["aufenthaltstitel_datum"]["x-event-date"] is True
    assert "gestattung" in data["properties"]["aufenthaltsstatus"]["enum"]


def test_docs_check_passes_when_current_and_fails_when_stale(tmp_path):
    r = run("docs", "--out", ROOT / "docs" / "rules.md", "--check")
    assert r.exit_code == 0 and "ist aktuell" in r.output
    stale = tmp_path / "rules.md"
    stale.write_text("veraltet\n", encoding="utf-8")
    r = run("docs", "--out", stale, "--check")
    assert r.exit_code == 1 and "ist nicht aktuell" in r.output
    html = tmp_path / "rules.html"
    assert run("docs", "--out", html, "--format", "html").exit_code == 0
    assert "<h1>" in html.read_text(encoding="utf-8")


def test_evaluate_encoding_and_delimiter_overrides(tmp_path):
    src = tmp_path / "liste.txt.csv"
    src.write_bytes(
        "person_id|aufenthaltsstatus|unterbringung|gemeinde\nX1|duldung|anschluss|Mühlhausen\n".encode("cp1252")
    )
    out = tmp_path / "erg.csv"
    r = run(
        "evaluate",
        src,
        "--on",
        "2019-01-01",
        "--out",
        out,
        "--delimiter",
        "|",
        "--encoding",
        "cp1252",
        "--allow-missing",
    )  # a four-column list: the other columns are missing on purpose
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8-sig")
    assert "X1" in text and "niedrig" in text
    r = run("evaluate", src, "--on", "2019-01-01", "--out", out, "--encoding", "keine-kodierung")
    assert r.exit_code == 2 and "Traceback" not in r.output


# ---------------------------------------------------------------- one language at a time


def _commands() -> list[tuple[str, object]]:
    return [("eligibility", main), *sorted(main.commands.items())]


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_command_option_and_argument_has_help_in_both_languages(lang: str) -> None:
    import click

    from eligibility.cli import i18n

    i18n.activate(lang)
    try:
        for name, cmd in _commands():
            assert isinstance(cmd, click.Command)
            assert (cmd.help or "").strip(), f"{name}: no help ({lang})"
            for p in cmd.params:
                text = getattr(p, "help", None)
                assert text and text.strip(), f"{name} {p.name}: no help ({lang})"
    finally:
        i18n.activate("de")
    # and the two languages differ: a missing English text would show the German one
    for name, cmd in _commands():
        for p in [cmd, *cmd.params]:
            pair = getattr(p, "_help_pair", None) or (getattr(p, "_help_de", None), getattr(p, "_help_en", None))
            assert pair[0] and pair[1] and pair[0] != pair[1], f"{name} {getattr(p, 'name', '')}: {pair}"


def test_help_speaks_one_language_including_clicks_own_strings() -> None:
    de = run("evaluate", "--help")
    assert de.exit_code == 0
    assert de.output.startswith("Aufruf: main evaluate [OPTIONEN] INPUT")
    assert "Optionen:" in de.output and "Argumente:" in de.output and "Diese Hilfe anzeigen und beenden." in de.output
    assert "Ergebnisdatei .csv, .xlsx oder .jsonl" in de.output and "--lang" in de.output
    assert "Usage:" not in de.output and "Options:" not in de.output and "Result file" not in de.output
    en = run("evaluate", "--help", "--lang", "en")
    assert en.output.startswith("Usage: main evaluate [OPTIONS] INPUT")
    assert "Options:" in en.output and "Show this message and exit." in en.output and "Result file .csv" in en.output
    assert "Aufruf" not in en.output and "Ergebnisdatei" not in en.output and "Standard:" not in en.output
    top = run("--lang", "en", "--help")
    assert "Commands:" in top.output and "Evaluates a whole roster" in top.output
    assert "Befehle:" in run("--help").output


@pytest.mark.parametrize(
    ("args", "de", "en"),
    [
        (["check", "--bogus"], "Unbekannte Option '--bogus'.", "No such option '--bogus'."),
        (["check"], "Argument fehlt 'PERSON'.", "Missing argument 'PERSON'."),
        (
            ["check", str(EXAMPLE), "--format", "pdf"],
            "Ungültiger Wert für '--format': 'pdf' ist keiner der Werte 'text', 'json', 'markdown'.",
            "Invalid value for '--format': 'pdf' is not one of 'text', 'json', 'markdown'.",
        ),
        (
            ["validate", "--samples", "5"],
            "Ungültiger Wert für '--samples': 5 liegt nicht im Bereich x>=100.",
            "Invalid value for '--samples': 5 is not in the range x>=100.",
        ),
        (["nonsense"], "Unbekannter Befehl 'nonsense'.", "No such command 'nonsense'."),
        (["generate-roster", "--out", "x.csv"], "Option fehlt '--rows'.", "Missing option '--rows'."),
    ],
)
def test_clicks_errors_in_both_languages(args: list[str], de: str, en: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    assert de in r.output and "Fehler:" in r.output and "Hilfe: '" in r.output, r.output
    assert "Error" not in r.output and "Usage" not in r.output
    # --lang anywhere on the line, even after the mistake, chooses before Click parses.
    r = run(*args, "--lang", "en")
    assert en in r.output and "Error:" in r.output and "for help." in r.output, r.output
    assert "Fehler" not in r.output and "Aufruf" not in r.output


def test_our_own_errors_follow_lang(tmp_path: Path) -> None:
    r = run("check", tmp_path / "fehlt.yaml")
    assert r.exit_code == 2 and f"Fehler: Datei nicht gefunden: {tmp_path / 'fehlt.yaml'}" in r.output
    r = run("--lang", "en", "check", tmp_path / "fehlt.yaml")
    assert r.exit_code == 2 and f"Error: file not found: {tmp_path / 'fehlt.yaml'}" in r.output
    r = run("check", EXAMPLE, "--on", "31.02.2018", "--lang", "en")
    assert "Error: --on: not a valid date (expected YYYY-MM-DD or DD.MM.YYYY)" in r.output


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({}, "de"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "C.UTF-8"}, "de"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_ALL": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}, "de"),
        ({"LC_MESSAGES": "en_US.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"ELIGIBILITY_LANG": "en", "LANG": "de_DE.UTF-8"}, "en"),
        ({"ELIGIBILITY_LANG": "de", "LC_ALL": "en_US.UTF-8"}, "de"),
    ],
)
def test_the_environment_chooses_the_language(env: dict[str, str], lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from eligibility.cli.i18n import from_environment

    for name in ("ELIGIBILITY_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert from_environment() == lang
    r = run("check", "--bogus")
    assert ("No such option" in r.output) == (lang == "en"), r.output
    # --lang wins over the environment
    other = "de" if lang == "en" else "en"
    r = run("check", "--bogus", "--lang", other)
    assert ("No such option" in r.output) == (other == "en"), r.output


def test_every_string_click_translates_has_a_german_text() -> None:
    """Click marks its user-facing strings with gettext's _() and ngettext(); a Click
    upgrade that adds one fails here until it has a German text (or is declared a
    developer-only message)."""
    import ast

    import click

    from eligibility.cli.i18n import CLICK_DE, CLICK_DEVELOPER_ONLY

    found = set()
    for path in Path(click.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext"):
                found |= {a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    assert found, "Click's strings were not found"
    missing = sorted(found - set(CLICK_DE) - CLICK_DEVELOPER_ONLY - {"d"})  # "d": a keyboard key in edit()
    assert not missing, missing
    for english, german in CLICK_DE.items():
        placeholders = sorted(set(__import__("re").findall(r"\{\w+(?:!r)?\}|%\(\w+\)s", english)))
        assert placeholders == sorted(set(__import__("re").findall(r"\{\w+(?:!r)?\}|%\(\w+\)s", german))), english


def test_version_follows_lang() -> None:
    assert run("--version").output.startswith("eligibility, Version ")
    assert run("--lang", "en", "--version").output.startswith("eligibility, version ")


def test_check_does_not_import_the_service() -> None:
    """FastAPI and uvicorn are ordinary dependencies now; deciding one record still never
    imports them (python -X importtime lists every module imported)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "eligibility", "check", str(EXAMPLE), "--on", "2018-09-15"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "eligibility" in modules
    assert not modules & {"fastapi", "starlette", "uvicorn", "multipart", "python_multipart"}


def test_check_details_adds_the_technical_part_only_when_asked():
    from pathlib import Path

    from click.testing import CliRunner

    from eligibility.cli.main import main

    example = str(Path(__file__).resolve().parents[1] / "examples" / "asylsuchend_aufnahme_fehlt.yaml")
    plain = CliRunner().invoke(main, ["check", example, "--on", "2018-09-15"])
    assert plain.exit_code == 0
    assert "Technische Angaben" not in plain.output and "aufnahme_uab_datum" not in plain.output
    detailed = CliRunner().invoke(main, ["check", example, "--on", "2018-09-15", "--details"])
    assert detailed.exit_code == 0 and detailed.output.startswith(plain.output.rstrip("\n"))
    assert "Technische Angaben" in detailed.output
    assert "Regelpfad: integrationsmanagement/(default)" in detailed.output
    english = CliRunner().invoke(main, ["check", example, "--on", "2018-09-15", "--details", "--lang", "en"])
    assert "Technical details" in english.output

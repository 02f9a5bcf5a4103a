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
    assert "outcome.yaml:14:15: E002 error" in r.output
    assert "hint:" in r.output
    assert "Traceback" not in r.output


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

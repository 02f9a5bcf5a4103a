"""Broken rule sets, each with the exact diagnostics it must produce, in German
(expected.txt, the default language) and in English (expected.en.txt), checked in beside
it like Catala's bad/ tests. Set UPDATE_EXPECTED=1 to rewrite them after a deliberate
change of wording, then review the diff."""

import os
from pathlib import Path

import pytest

from eligibility import Engine, RuleSetError
from eligibility.apps.validate import validate

BAD = Path(__file__).parent / "rules_bad"
DIRS = sorted(d for d in BAD.iterdir() if d.is_dir())


def diagnostics(d: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """What loading reports; for a rule set that loads, what `validate` reports."""
    monkeypatch.chdir(d)
    overlays = (
        sorted(str(p.relative_to(d)) for p in (d / "overlays").glob("*.yaml")) if (d / "overlays").is_dir() else []
    )
    try:
        engine = Engine.load(".", overlays=overlays)
    except RuleSetError as exc:
        return exc.diagnostics
    return validate(engine).diagnostics


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_bad_rule_set_gives_exact_diagnostics(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = diagnostics(d, monkeypatch)
    code = d.name.split("_")[0]
    assert [x.code for x in found] == [code], "\n".join(x.format() for x in found)
    diag = found[0]
    if code != "E020":
        assert diag.file and diag.line > 0, "every diagnostic names file and line"
    if code not in ("E020", "E030"):  # E030: a directory or pipe has no line to quote
        assert diag.source_line.strip(), "and quotes the offending line"
    for lang, name in (("de", "expected.txt"), ("en", "expected.en.txt")):
        expected_file = d / name
        got = "\n".join(x.format(lang) for x in found) + "\n"
        if os.environ.get("UPDATE_EXPECTED"):
            expected_file.write_text(got, encoding="utf-8")
        assert got == expected_file.read_text(encoding="utf-8"), lang
    # The German text is German: the catalogue translated message and hint, none fell back
    # to the English message id.
    assert diag.text("de") != diag.message, f"no German template for: {diag.message}"
    if diag.hint:
        assert diag.hint_text("de") != diag.hint, f"no German template for the hint: {diag.hint}"
    assert diag.format().split(": ", 2)[1].endswith(("Fehler", "Warnung"))


def test_every_code_of_the_catalogue_has_a_bad_rule_set() -> None:
    from eligibility.diagnostics import CATALOGUE, RELOAD_CODES

    # Reload-only codes need a running rule set to compare with: tests/security/test_reload.py.
    covered = {d.name.split("_")[0] for d in DIRS} | RELOAD_CODES
    assert set(CATALOGUE) == covered, sorted(set(CATALOGUE) ^ covered)


def test_every_code_is_documented() -> None:
    from eligibility.diagnostics import CATALOGUE

    text = (Path(__file__).resolve().parents[1] / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    for code in CATALOGUE:
        assert f"## {code}" in text, code


def test_every_code_has_a_german_title() -> None:
    from eligibility.diagnostics import CATALOGUE, TITLES_DE, title

    assert set(TITLES_DE) == set(CATALOGUE)
    for code in CATALOGUE:
        assert title(code, "de") != title(code, "en"), code


def test_diagnostics_follow_lang_in_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    """`validate` prints the German text by default and the English one with --lang en;
    JSON keeps its codes and shape, its messages follow --lang too."""
    import json

    from click.testing import CliRunner

    from eligibility.cli.main import main

    monkeypatch.delenv("ELIGIBILITY_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    folder = str(BAD / "E013_rule_without_source")
    runner = CliRunner()
    de = runner.invoke(main, ["validate", folder])
    en = runner.invoke(main, ["validate", folder, "--lang", "en"])
    assert "E013 Fehler: Regel „ziel.a“ hat keine Quelle" in de.output and "Hinweis:" in de.output
    assert "E013 error: rule 'ziel.a' has no source" in en.output and "hint:" in en.output
    assert de.output.splitlines()[-1].startswith("1 Fehler") and en.output.splitlines()[-1].startswith("1 error,")
    doc_de = json.loads(runner.invoke(main, ["validate", folder, "--format", "json"]).output)
    doc_en = json.loads(runner.invoke(main, ["--lang", "en", "validate", folder, "--format", "json"]).output)
    assert [d["code"] for d in doc_de["diagnostics"]] == [d["code"] for d in doc_en["diagnostics"]] == ["E013"]
    assert doc_de["diagnostics"][0]["message"] == "Regel „ziel.a“ hat keine Quelle"
    assert doc_en["diagnostics"][0]["message"] == "rule 'ziel.a' has no source"

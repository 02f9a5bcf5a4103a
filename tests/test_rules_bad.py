"""Broken rule sets, each with the exact diagnostics it must produce (checked in as
expected.txt beside it, like Catala's bad/ tests). Set UPDATE_EXPECTED=1 to rewrite
them after a deliberate change of wording, then review the diff."""

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
    expected_file = d / "expected.txt"
    got = "\n".join(x.format() for x in found) + "\n"
    if os.environ.get("UPDATE_EXPECTED"):
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


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

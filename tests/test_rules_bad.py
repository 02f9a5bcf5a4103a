"""Broken rule sets, each with the exact diagnostics it must produce (checked in as
expected.txt beside it, like Catala's bad/ tests). Set UPDATE_EXPECTED=1 to rewrite
them after a deliberate change of wording, then review the diff."""

import os
from pathlib import Path

import pytest

from eligibility import Engine, RuleSetError

BAD = Path(__file__).parent / "rules_bad"
DIRS = sorted(d for d in BAD.iterdir() if d.is_dir())


def load_errors(d: Path, monkeypatch: pytest.MonkeyPatch) -> RuleSetError:
    monkeypatch.chdir(d)
    overlays = sorted(str(p.relative_to(d)) for p in (d / "overlays").glob("*.yaml")) if (d / "overlays").is_dir() else []
    with pytest.raises(RuleSetError) as info:
        Engine.load(".", overlays=overlays)
    return info.value


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_bad_rule_set_gives_exact_diagnostics(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = load_errors(d, monkeypatch)
    code = d.name.split("_")[0]
    assert [x.code for x in err.diagnostics] == [code], err.format()
    diag = err.diagnostics[0]
    if code != "E020":
        assert diag.file and diag.line > 0, "every diagnostic names file and line"
        assert diag.source_line.strip(), "and quotes the offending line"
    expected_file = d / "expected.txt"
    got = err.format() + "\n"
    if os.environ.get("UPDATE_EXPECTED"):
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


def test_every_error_code_of_the_loader_has_a_bad_rule_set() -> None:
    from eligibility.diagnostics import CATALOGUE

    covered = {d.name.split("_")[0] for d in DIRS}
    # E019 and the W1xx codes belong to `eligibility validate` (the static checks).
    loader_codes = {c for c in CATALOGUE if c.startswith("E") and c != "E019"}
    assert loader_codes <= covered, sorted(loader_codes - covered)

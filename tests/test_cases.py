"""The public case suite: every case file in cases/ must pass."""

from pathlib import Path

import pytest

from eligibility.apps.cases import EngineCache, find_cases, run_case

ROOT = Path(__file__).resolve().parents[1]
CASES = find_cases([ROOT / "cases"])
ENGINES = EngineCache(ROOT / "rules")


def test_suite_is_large_enough() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize("path", CASES, ids=[p.relative_to(ROOT / "cases").as_posix() for p in CASES])
def test_case(path: Path) -> None:
    result = run_case(path, ENGINES)
    assert result.passed, "\n".join(result.failures)

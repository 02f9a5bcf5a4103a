"""`eligibility test`: failures read as expected-vs-got with the rule path; coverage by
legal source lists every source the shipped rule set cites."""

import json
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.cases import citations
from eligibility.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_changed_expectation_fails_with_expected_got_and_rule_path(tmp_path):
    src = ROOT / "cases" / "flueag_p09_abs1_nr4_24_monate" / "tag_nach_fristende.yaml"
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data = {("on" if k is True else k): v for k, v in data.items()}
    data["expect"]["anschlussunterbringung"] = False
    case = tmp_path / "geaendert.yaml"
    case.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = run("test", case, "--no-coverage")
    assert r.exit_code == 1
    assert "anschlussunterbringung: expected nein (false), got ja (true)" in r.output
    assert "rule path: anschlussunterbringung/aub.frist_24_monate" in r.output
    assert "reason:    24 Monate seit der Aufnahme" in r.output
    assert r.output.rstrip().endswith("0 passed, 1 failed")


def test_missing_expectation_and_unknown_without_missing_are_reported(tmp_path):
    case = tmp_path / "unvollstaendig.yaml"
    case.write_text(
        "title: t\nreason: r\non: 2018-01-01\nrecord: {}\nexpect:\n  anschlussunterbringung:\n", encoding="utf-8"
    )
    r = run("test", case, "--no-coverage")
    assert r.exit_code == 1
    assert "integrationsmanagement: no expectation" in r.output
    assert "expected unknown, but the case does not say which facts are missing" in r.output


def test_shipped_cases_pass_with_full_coverage():
    r = run("test", ROOT / "cases", "--min-coverage", "100")
    assert r.exit_code == 0, r.output[-3000:]
    assert "Regeln mit ja und nein geprüft: 53/53 (100.0 %)" in r.output


def test_coverage_report_lists_every_cited_source():
    r = run("test", ROOT / "cases", "--format", "json")
    data = json.loads(r.output)
    listed = {s["citation"] for s in data["coverage"]["sources"]}
    engine = Engine.load()
    cited = set()
    for ename in engine.entities:
        for oid in engine.outcomes(ename):
            for rule in engine.entity(ename).outcomes[oid].rules:
                cited.update(citations(rule.spec.source or ""))
    assert cited and cited == listed
    assert all(s["complete"] for s in data["coverage"]["sources"])


def test_min_coverage_fails_below_threshold(tmp_path):
    one = tmp_path / "cases"
    one.mkdir()
    shutil.copy(ROOT / "cases" / "flueag_p09_abs1_nr4_24_monate" / "tag_nach_fristende.yaml", one)
    r = run("test", one, "--min-coverage", "90")
    assert r.exit_code == 1
    assert "liegt unter 90.0 %" in r.output


def test_citations_split_only_at_top_level():
    assert citations("§ 9 Abs. 1 Nr. 4 FlüAG; §§ 187 Abs. 1, 188 Abs. 2 BGB") == [
        "§ 9 Abs. 1 Nr. 4 FlüAG",
        "§§ 187 Abs. 1, 188 Abs. 2 BGB",
    ]
    assert citations("Praxis 2019 (Tuttlingen; rund 1.003 €)") == ["Praxis 2019 (Tuttlingen; rund 1.003 €)"]

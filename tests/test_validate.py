"""`eligibility validate` on the shipped rule set and on broken copies of it."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.validate import validate
from eligibility.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_shipped_rule_set_is_clean():
    report = validate(Engine.load())
    assert report.diagnostics == [], "\n".join(d.format() for d in report.diagnostics)
    r = run("validate")
    assert r.exit_code == 0 and "0 Fehler, 0 Warnungen" in r.output


@pytest.fixture
def rules(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_removing_a_source_fails_with_e013(rules):
    edit(rules / "person" / "anschlussunterbringung.yaml", '        source: {id: flueag, at: "§ 9 Abs. 1 Nr. 3"}\n', "")
    r = run("validate", rules, "--lang", "en")  # asserts the English message ids
    assert r.exit_code == 1
    assert (
        "anschlussunterbringung.yaml:" in r.output and "E013 error: rule 'aub.titel_erteilt' has no source" in r.output
    )


def test_overlapping_versions_fail_with_e015(rules):
    edit(
        rules / "parameters.yaml",
        "        valid_to: 2021-02-28\n        value: [SYR, ERI]\n",
        "        valid_to: 2021-03-31\n        value: [SYR, ERI]\n",
    )
    r = run("validate", rules, "--lang", "en")  # asserts the English message ids
    assert r.exit_code == 1
    assert "E015 error: parameter 'bleibeperspektive_laender'" in r.output
    assert "hint: end the earlier version with 'valid_to: 2021-02-28'" in r.output


def test_adding_a_shadowed_rule_fails_with_e024(rules):
    edit(
        rules / "person" / "integrationsmanagement.yaml",
        "      - id: im.ukraine\n",
        """      - id: im.doppelt_eingebuergert
        label: {de: "Eingebürgert und in der AUB", en: "naturalised in AUB"}
        source: {id: flueag, at: "§ 1 Abs. 2"}
        valid_from: 2017-01-01
        when: aufenthaltsstatus == "eingebuergert" and unterbringung == "anschluss"
        then: false

      - id: im.ukraine
""",
    )
    r = run("validate", rules, "--lang", "en")  # asserts the English message ids
    assert r.exit_code == 1
    assert "E024 error: rule 'im.doppelt_eingebuergert' never decides: whenever it applies," in r.output
    assert "im.eingebuergert" in r.output.split("E024")[1].split("\n")[0]


def test_a_conflicting_rule_fails_with_e025(rules):
    edit(
        rules / "person" / "prioritaet.yaml",
        "      - id: prio.duldung\n",
        """      - id: prio.syrien
        label: {de: "Syrien", en: "Syria"}
        source: {id: annahme}
        when: herkunftsland == "SYR"
        then: hoch

      - id: prio.duldung
""",
    )
    r = run("validate", rules, "--lang", "en")  # asserts the English message ids
    assert r.exit_code == 1
    conflicts = [line for line in r.output.splitlines() if "E025 error" in line]
    assert conflicts and all("prio.syrien" in line for line in conflicts)


def test_warnings_only_exit_0(rules):
    edit(
        rules / "person" / "facts.yaml",
        "    aliases: [Kreis, Landkreis, Stadtkreis]\n    informational: true\n",
        "    aliases: [Kreis, Landkreis, Stadtkreis]\n",
    )
    r = run("validate", rules, "--lang", "en")  # asserts the English message ids
    assert r.exit_code == 0
    assert "W104 warning: no rule reads fact 'kreis'" in r.output and "0 errors, 1 warning" in r.output


def test_validate_json_and_sarif_name_file_line_and_code():
    import json

    bad = ROOT / "tests" / "rules_bad" / "E026_unknown_source_id"
    r = run("validate", bad, "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert doc["errors"] == 1 and doc["diagnostics"][0]["code"] == "E026"
    assert doc["diagnostics"][0]["line"] == 13 and doc["diagnostics"][0]["file"].endswith("outcome.yaml")
    r = run("validate", bad, "--format", "sarif")
    sarif = json.loads(r.output)
    assert sarif["version"] == "2.1.0"
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "E026" and result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("outcome.yaml") and loc["region"] == {
        "startLine": 13,
        "startColumn": 17,
    }
    assert sarif["runs"][0]["tool"]["driver"]["rules"][0]["id"] == "E026"
    r = run("validate", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["diagnostics"] == []


def test_the_rule_file_schema_is_current_and_accepts_the_shipped_rules():
    import datetime as dt
    import json

    import jsonschema
    import yaml

    from eligibility.source.model import rule_file_schema

    committed = json.loads((ROOT / "docs" / "rule-file.schema.json").read_text(encoding="utf-8"))
    assert committed == rule_file_schema(), "run: eligibility schema --rule-file > docs/rule-file.schema.json"
    validator = jsonschema.Draft202012Validator(committed)

    def plain(x):
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x.isoformat() if isinstance(x, dt.date) else x

    for path in sorted((ROOT / "rules").rglob("*.yaml")):
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema="), path
        errors = list(validator.iter_errors(plain(yaml.safe_load(path.read_text(encoding="utf-8")))))
        assert not errors, (path, errors[0].message)
    typo = {"entity": "person", "outcomes": {"x": {"type": "bool", "label": {"de": "x"}, "rulez": []}}}
    assert list(validator.iter_errors(typo))

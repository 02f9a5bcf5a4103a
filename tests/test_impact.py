"""`eligibility impact` and `applied`: the Ukraine Erlass of 11.03.2022 as an amendment."""

import csv
import datetime as dt
import importlib.util
import io
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.impact import impact, load_side
from eligibility.apps.synth import write_roster
from eligibility.cli.main import main
from eligibility.io.rosters import read_roster

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "amendments" / "ukraine_2022"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_vorher_is_rules_without_the_erlass(tmp_path):
    spec = importlib.util.spec_from_file_location("make_vorher", EXAMPLE / "make_vorher.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.build(tmp_path / "vorher")
    for built in sorted((tmp_path / "vorher").rglob("*.yaml")):
        rel = built.relative_to(tmp_path / "vorher")
        committed = EXAMPLE / "vorher" / rel
        assert committed.read_text(encoding="utf-8") == built.read_text(encoding="utf-8"), (
            f"{rel}: run python examples/amendments/ukraine_2022/make_vorher.py"
        )


@pytest.fixture(scope="module")
def roster_2022(tmp_path_factory):
    path = tmp_path_factory.mktemp("r") / "roster_2022.csv"
    write_roster(path, 1200, seed=3, reference=dt.date(2022, 6, 1), dirty_rate=0.01)
    return path


def test_every_changed_person_is_attributed_to_the_erlass_and_nothing_else(roster_2022):
    old, new = Engine.load(EXAMPLE / "vorher"), Engine.load()
    _, rows = read_roster(roster_2022, new.entity().facts)
    result = impact(old, new, rows, dt.date(2022, 6, 1), "vorher", "rules")
    assert result.flips, "the roster has Ukrainians in GU, so the Erlass must change something"
    assert {f.cause.id for f in result.flips if f.cause} == {"im.ukraine"}
    assert all(f.cause is not None for f in result.flips)
    assert {f.outcome for f in result.flips} == {"integrationsmanagement"}
    assert all(f.old is False and f.new in (True, None) for f in result.flips)
    # Every person who became eligible holds § 24 and does not live in AUB; a person whose
    # status is not recorded becomes "unknown" (could be § 24), never "yes".
    _, rows = read_roster(roster_2022, new.entity().facts)
    records = {r.number: r.record for r in rows}
    for f in result.flips:
        rec = records[f.row]
        if f.new is True:
            assert rec["aufenthaltsstatus"] == "schutz_24" and rec["unterbringung"] not in ("anschluss", "privat")
        else:
            assert rec["aufenthaltsstatus"].strip() in ("", "dulding")


def test_before_the_erlass_nothing_changes(roster_2022):
    old, new = Engine.load(EXAMPLE / "vorher"), Engine.load()
    _, rows = read_roster(roster_2022, new.entity().facts)
    assert impact(old, new, rows, dt.date(2022, 3, 10), "vorher", "rules").flips == []


def test_impact_cli_text_csv_html(tmp_path, roster_2022):
    out_csv, out_html = tmp_path / "i.csv", tmp_path / "i.html"
    r = run(
        "impact",
        "--old",
        EXAMPLE / "vorher",
        "--new",
        ROOT / "rules",
        roster_2022,
        "--on",
        "2022-06-01",
        "--out",
        out_csv,
    )
    assert r.exit_code == 0, r.output
    assert "added    rule      im.ukraine" in r.output and "integrationsmanagement: nein → ja:" in r.output
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows and {row["ursache"] for row in rows} == {"im.ukraine"}
    assert all("11.03.2022" in row["quelle"] for row in rows)
    r = run(
        "impact",
        "--old",
        EXAMPLE / "vorher",
        "--new",
        ROOT / "rules",
        roster_2022,
        "--on",
        "2022-06-01",
        "--out",
        out_html,
    )
    assert r.exit_code == 0 and '<table id="flips">' in out_html.read_text(encoding="utf-8")


def test_impact_accepts_a_git_revision(tmp_path):
    inside = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if inside.returncode != 0:
        pytest.skip("not a git checkout")
    engine, name = load_side("HEAD")
    assert name == "HEAD:rules" and engine.info.name == "pakt-fuer-integration-bw"


def test_impact_rejects_what_is_neither(tmp_path):
    r = run(
        "impact",
        "--old",
        "kein-ordner-und-keine-revision",
        "--new",
        ROOT / "rules",
        ROOT / "examples" / "roster_landkreis_beispiel.csv",
    )
    assert r.exit_code == 2 and "weder ein Regelwerk-Ordner noch eine git-Revision" in r.output


def test_applied_lists_rules_and_parameter_versions_in_force():
    r = run("applied", "--on", "2022-03-11")
    assert r.exit_code == 0
    assert "im.ukraine" in r.output and "bleibeperspektive_laender" in r.output and "SYR, ERI, SOM, AFG" in r.output
    r = run("applied", "--on", "2022-03-10")
    assert "im.ukraine" not in r.output


def _impact_one_by_one(old, new, rows, on):
    """The reference: every row decided under both rule sets."""
    out = []
    for row in rows:
        if row.record is None:
            continue
        a, b = old.decide(row.record, on, explain=False), new.decide(row.record, on, explain=False)
        for oid, o in b.outcomes.items():
            x = a.outcomes.get(oid)
            if x is None or x.value != o.value or type(x.value) is not type(o.value):
                out.append((row.number, oid, None if x is None else x.value, o.value))
    return out


@pytest.mark.parametrize("on", [dt.date(2022, 6, 1), dt.date(2019, 6, 1)])
def test_screened_impact_finds_exactly_the_rows_deciding_each_one_finds(roster_2022, on):
    # The batch path screens the roster; only rows that may flip are decided one by one.
    old, new = Engine.load(EXAMPLE / "vorher"), Engine.load(overlays=[ROOT / "rules/overlays/goeppingen.yaml"])
    facts = new.entity().facts
    result = impact(old, new, read_roster(roster_2022, facts)[1], on, "vorher", "goeppingen")
    got = [(f.row, f.outcome, f.old, f.new) for f in result.flips]
    assert got == _impact_one_by_one(old, new, read_roster(roster_2022, facts)[1], on)
    assert result.rows == sum(1 for _ in read_roster(roster_2022, facts)[1])

"""The shipped Baden-Württemberg rule set: its public API contract, its examples, its
generated documentation, and which persons each amendment date flips."""

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from eligibility import Engine
from eligibility.apps.docs import render_docs
from eligibility.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Engine.load()
GOEPPINGEN = Engine.load(overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])
OUTCOMES = ["anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich", "prioritaet"]


def test_engine_load_without_argument_loads_the_shipped_rules():
    assert ENGINE.info.name == "pakt-fuer-integration-bw"
    assert ENGINE.outcomes() == OUTCOMES
    # Extended, never renamed: the outcomes of session 1 keep their ids and order.
    assert ENGINE.outcomes("stelle") == [
        "im_budget",
        "foerdersatz",
        "stellenanteil_zulaessig",
        "antragsberechtigt",
        "jahresfoerderung",
        "erste_rate",
        "foerderzeitraum",
        "finanzierbare_vzae",
        "foerderung_zeitraum",
        "verlaengerung_monate",
    ]


def test_python_api_contract_values_and_missing():
    d = ENGINE.decide(
        {"aufenthaltsstatus": "fluechtling", "aufenthaltstitel_datum": "2017-01-01"}, on=dt.date(2018, 1, 1)
    )
    assert d.outcomes["anschlussunterbringung"].value is True
    assert d.outcomes["integrationsmanagement"].value is None
    assert d.outcomes["integrationsmanagement"].missing == ["unterbringung"]
    assert d.outcomes["prioritaet"].value == "hoch"
    d2 = ENGINE.decide({"aufenthaltsstatus": "eingebuergert"}, on="2018-01-01")
    assert d2.outcomes["integrationsmanagement"].value is False
    assert d2.outcomes["prioritaet"].value is False


def test_check_json_is_the_same_structure_as_the_api(tmp_path):
    record = {"person_id": "API-1", "aufenthaltsstatus": "duldung", "unterbringung": "anschluss"}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(record), encoding="utf-8")
    r = CliRunner().invoke(main, ["check", str(f), "--on", "2019-03-01", "--format", "json"])
    assert json.loads(r.output) == json.loads(ENGINE.decide(record, "2019-03-01").to_json())


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_each_shipped_example_gives_outcome_reason_and_questions(path):
    r = CliRunner().invoke(main, ["check", str(path)])
    assert r.exit_code == 0, r.output
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    engine_out = CliRunner().invoke(main, ["check", str(path), "--format", "json"])
    decision = json.loads(engine_out.output)
    for oid, o in decision["outcomes"].items():
        assert o["reason"]["de"], oid
        if o["status"] in ("yes", "no", "value"):
            assert o["source"], oid  # every decided outcome names its legal source
            assert f"({o['source']})" in r.output
        if o["status"] == "unknown":
            assert o["questions"], oid
            for q in o["questions"]:
                assert q["question"]["de"] in r.output
    assert "record" in data


def test_generated_rule_docs_are_current():
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert render_docs(ENGINE) == committed, "run: eligibility docs --out docs/rules.md"


def test_rule_docs_list_every_rule_parameter_and_assumption():
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for ename in ENGINE.entities:
        for oid in ENGINE.outcomes(ename):
            for rule in ENGINE.entity(ename).outcomes[oid].rules:
                assert f"`{rule.id}`" in text
                if rule.spec.source:
                    assert rule.spec.source in text
    for name in ENGINE.compiled.model.parameters:
        assert f"`{name}`" in text
    assert "Annahme" in text and "overlays/goeppingen.yaml" in text


# ---------------------------------------------------------------- amendments


def person(**kw):
    base = {
        "aufenthaltsstatus": "gestattung",
        "aufenthaltstitel_datum": None,
        "aufnahme_uab_datum": "2014-06-01",
        "zugang_bw_datum": "2014-05-20",
        "asylentscheidung_unanfechtbar_datum": None,
        "gu_pflicht_ende_datum": None,
        "unterbringung": "vorlaeufig",
        "herkunftsland": "TUR",
        "familiennachzug": False,
        "geboren_nach_zugang": False,
        "beratung_beginn_datum": None,
        "beratung_verlaengerung_begruendet": False,
    }
    base.update(kw)
    return base


AUB = dict(
    aufenthaltsstatus="fluechtling",
    aufenthaltstitel_datum="2015-06-01",
    unterbringung="anschluss",
    herkunftsland="SYR",
    zugang_bw_datum="2015-03-01",
)
POPULATION = {
    "ukr_gu": person(
        aufenthaltsstatus="schutz_24",
        aufnahme_uab_datum="2022-03-01",
        zugang_bw_datum="2022-02-28",
        herkunftsland="UKR",
    ),
    "ukr_aub": person(
        aufenthaltsstatus="schutz_24",
        aufnahme_uab_datum="2022-03-01",
        zugang_bw_datum="2022-02-28",
        unterbringung="anschluss",
        herkunftsland="UKR",
    ),
    "aub_beratung_2019": person(**AUB, beratung_beginn_datum="2019-01-15"),
    "aub_beratung_2021": person(**AUB, beratung_beginn_datum="2021-01-01"),
    "aub_verlaengert_2019": person(**AUB, beratung_beginn_datum="2019-01-15", beratung_verlaengerung_begruendet=True),
    "aub_verlaengert_2020": person(**AUB, beratung_beginn_datum="2020-01-15", beratung_verlaengerung_begruendet=True),
    "aub_ohne_beratung": person(**AUB),
    "gestattung_afg": person(herkunftsland="AFG"),
    "gestattung_irq": person(herkunftsland="IRQ"),
    "gestattung_som": person(herkunftsland="SOM"),
    "gestattung_syr": person(herkunftsland="SYR"),
    "gestattung_tur": person(),
    "duldung_aub": person(aufenthaltsstatus="duldung", unterbringung="anschluss", zugang_bw_datum="2016-06-01"),
    "eingebuergert": person(aufenthaltsstatus="eingebuergert", unterbringung="anschluss"),
}

# date -> the (person, outcome) pairs that change between the day before and the day.
EXPECTED_FLIPS = {
    dt.date(2015, 11, 1): {("gestattung_irq", "prioritaet"), ("gestattung_syr", "prioritaet")},
    dt.date(2016, 8, 1): {("gestattung_som", "prioritaet")},
    dt.date(2017, 1, 1): {
        (p, "integrationsmanagement")
        for p in (
            "aub_beratung_2019",
            "aub_beratung_2021",
            "aub_verlaengert_2019",
            "aub_verlaengert_2020",
            "aub_ohne_beratung",
            "duldung_aub",
        )
    }
    | {
        (p, "lastenausgleich")
        for p in (
            "aub_beratung_2019",
            "aub_beratung_2021",
            "aub_verlaengert_2019",
            "aub_verlaengert_2020",
            "aub_ohne_beratung",
        )
    },
    dt.date(2019, 8, 1): {("gestattung_irq", "prioritaet"), ("gestattung_som", "prioritaet")},
    dt.date(2020, 1, 1): {
        (p, "lastenausgleich")
        for p in (
            "aub_beratung_2019",
            "aub_beratung_2021",
            "aub_verlaengert_2019",
            "aub_verlaengert_2020",
            "aub_ohne_beratung",
        )
    },
    dt.date(2021, 3, 1): {("gestattung_som", "prioritaet")},
    dt.date(2022, 1, 13): {("gestattung_afg", "prioritaet")},
    dt.date(2022, 3, 11): {("ukr_gu", "integrationsmanagement")},
    dt.date(2023, 6, 6): {
        ("aub_beratung_2019", "integrationsmanagement"),
        ("aub_verlaengert_2019", "integrationsmanagement"),
    },
}


def flips(engine, day):
    out = set()
    for pid, rec in POPULATION.items():
        if dt.date.fromisoformat(rec["aufnahme_uab_datum"]) > day:
            continue  # not yet arrived
        before = engine.decide(rec, day - dt.timedelta(days=1), explain=False)
        after = engine.decide(rec, day, explain=False)
        for oid in OUTCOMES:
            if before.outcomes[oid].value != after.outcomes[oid].value:
                out.add((pid, oid))
    return out


@pytest.mark.parametrize("day", sorted(EXPECTED_FLIPS), ids=str)
def test_each_amendment_flips_exactly_the_persons_it_concerns(day):
    assert flips(ENGINE, day) == EXPECTED_FLIPS[day]


def test_goeppingen_option_flips_only_persons_in_gu_entitled_to_aub_on_01_10_2018():
    gu = {"gp_gu": person(), "gp_gu_vu_laeuft": person(aufnahme_uab_datum="2017-06-01"), "gp_aub": person(**AUB)}
    day = dt.date(2018, 10, 1)
    changed = {
        pid
        for pid, rec in gu.items()
        if GOEPPINGEN.decide(rec, day - dt.timedelta(days=1)).outcomes["integrationsmanagement"].value
        != GOEPPINGEN.decide(rec, day).outcomes["integrationsmanagement"].value
    }
    assert changed == {"gp_gu"}
    assert not ENGINE.decide(gu["gp_gu"], day).outcomes["integrationsmanagement"].value


def test_funding_period_amendment_of_28_08_2019_changes_only_the_period():
    post = {
        "antragsteller_art": "gemeinde",
        "personen_stichtag_2017": 166,
        "stelleninhaber_qualifikation": "hochschule",
        "vzae": 1,
    }
    before = ENGINE.decide(post, "2019-08-27", entity="stelle")
    after = ENGINE.decide(post, "2019-08-28", entity="stelle")
    changed = {o for o in before.outcomes if before.outcomes[o].value != after.outcomes[o].value}
    assert changed == {"foerderzeitraum"}
    assert (before.outcomes["foerderzeitraum"].value, after.outcomes["foerderzeitraum"].value) == (24, 36)


def test_decision_json_schema_in_docs_is_current():
    from eligibility.decision.model import Decision

    committed = json.loads((ROOT / "docs" / "decision.schema.json").read_text(encoding="utf-8"))
    assert committed == Decision.model_json_schema(), "regenerate docs/decision.schema.json (see docs/developer.md)"

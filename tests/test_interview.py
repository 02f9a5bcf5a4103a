"""The interview without a browser: which facts are asked, in which order, and what the
answers do (FastAPI TestClient against the real app and rule set)."""

import base64
import hashlib
import logging
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eligibility import Engine  # noqa: E402
from eligibility.service import interview as iv  # noqa: E402
from eligibility.service.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIENT = TestClient(create_app(reload_seconds=None))
ENGINE = Engine.load()
START = {"art": "person", "schritt": "start", "frage": "person_id,aufenthaltsstatus,unterbringung", "aktion": "weiter"}


def hidden(html):
    form = html.split('id="interview-form"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def walk(start, answers, client=CLIENT):
    """Answer every question (missing ones with "Weiß ich nicht"); the facts asked and the
    last response."""
    r = client.post("/interview", data=start)
    asked = []
    while r.status_code == 200 and 'name="schritt" value="frage"' in r.text:
        data = hidden(r.text)
        fact = data["frage"]
        asked.append(fact)
        answer = answers.get(fact)
        if answer is None:
            data["aktion"] = "weiss_nicht"
        else:
            data["aktion"] = "weiter"
            if isinstance(answer, tuple):
                data[f"{fact}__art"], data[fact] = answer
            else:
                data[fact] = answer
        r = client.post("/interview", data=data)
    return asked, r


def verdicts(html):
    return dict(
        re.findall(
            r'id="outcome-([a-z_0-9]+)"[^>]*>\s*<div class="verdict"[^>]*>[^<]*<span class="value">([^<]*)<', html
        )
    )


def test_the_start_asks_the_facts_most_outcomes_wait_for():
    assert iv.start_facts(ENGINE) == ["aufenthaltsstatus", "unterbringung"]
    assert iv.start_facts(ENGINE, "stelle") == ["vzae", "personen_stichtag_2017"]
    page = CLIENT.get("/")
    assert page.status_code == 200
    assert 'name="aufenthaltsstatus"' in page.text and 'name="unterbringung"' in page.text
    assert 'name="aufenthaltstitel_datum' not in page.text  # one step at a time
    assert 'name="vzae"' in CLIENT.get("/?art=stelle").text


def test_questions_come_from_the_missing_facts_most_outcomes_first():
    record = {"aufenthaltsstatus": "gestattung", "unterbringung": "vorlaeufig"}
    d = ENGINE.decide(record, "2018-09-15", explain=False)
    ranked = dict(iv.ranking(d))
    # The four dates of § 9 FlüAG hold up two outcomes each, the country of origin one.
    assert ranked == {
        "aufenthaltstitel_datum": 2,
        "aufnahme_uab_datum": 2,
        "asylentscheidung_unanfechtbar_datum": 2,
        "gu_pflicht_ende_datum": 2,
        "herkunftsland": 1,
    }
    answers = iv.Answers("person", "15.09.2018", {k: v for k, v in record.items()}, frozenset())
    assert iv.next_question(ENGINE, d, answers) == "aufenthaltstitel_datum"  # ties: schema order
    asked, r = walk(dict(START, stichtag="15.09.2018", **record), {})
    assert asked == [
        "aufenthaltstitel_datum",
        "aufnahme_uab_datum",
        "asylentscheidung_unanfechtbar_datum",
        "gu_pflicht_ende_datum",
        "herkunftsland",
    ]
    # Every answer "Weiß ich nicht": the interview still ends, with what is open.
    assert r.status_code == 200 and 'id="vermerk"' in r.text
    assert verdicts(r.text)["anschlussunterbringung"] == "noch offen"
    assert "Noch zu klären" in r.text and "Wurde ein Aufenthaltstitel erteilt, und wenn ja, an welchem Tag?" in r.text
    assert "leer lassen" not in r.text
    # An open answer also says which provision waits for the missing facts, with its source.
    assert "Offen ist die Regel „" in r.text and "– Rechtsgrundlage: § 9 Abs. 1 Nr. 4 FlüAG" in r.text


def test_an_answer_that_settles_an_outcome_stops_its_questions():
    asked, r = walk(
        dict(START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="anschluss"),
        {"zugang_bw_datum": "03.11.2015"},
    )
    assert asked == ["zugang_bw_datum"]
    assert verdicts(r.text) == {
        "anschlussunterbringung": "ja",
        "aub_berechtigt_in_gu": "nein",
        "integrationsmanagement": "ja",
        "lastenausgleich": "ja",
        "prioritaet": "hoch",
    }
    # Intake outside the window: then Familiennachzug and birth after intake are asked.
    asked, r = walk(
        dict(START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="anschluss"),
        {"zugang_bw_datum": "01.06.2016", "familiennachzug": "nein", "geboren_nach_zugang": "nein"},
    )
    assert asked == ["zugang_bw_datum", "familiennachzug", "geboren_nach_zugang"]
    assert verdicts(r.text)["lastenausgleich"] == "nein"


def test_the_interim_result_is_on_every_question():
    r = CLIENT.post(
        "/interview",
        data=dict(START, stichtag="15.09.2018", aufenthaltsstatus="gestattung", unterbringung="vorlaeufig"),
    )
    assert 'id="zwischenergebnis"' in r.text
    interim = r.text.split('id="zwischenergebnis"', 1)[1]
    assert "Zielgruppe Integrationsmanagement" in interim and "noch offen" in interim and "nein" in interim


def test_an_empty_answer_is_asked_again_and_weiss_ich_nicht_is_an_answer():
    r = CLIENT.post(
        "/interview",
        data=dict(START, stichtag="15.09.2018", aufenthaltsstatus="gestattung", unterbringung="vorlaeufig"),
    )
    data = hidden(r.text)
    r = CLIENT.post("/interview", data=dict(data, aktion="weiter"))
    assert r.status_code == 422 and 'id="err_aufenthaltstitel_datum"' in r.text and "Weiß ich nicht" in r.text
    r = CLIENT.post("/interview", data=dict(data, aktion="weiss_nicht"))
    assert r.status_code == 200 and hidden(r.text)["unbekannt"] == "aufenthaltstitel_datum"
    assert hidden(r.text)["frage"] == "aufnahme_uab_datum"


def test_event_dates_have_three_states_and_a_typed_date_is_kept():
    base = dict(START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="vorlaeufig")
    step = hidden(CLIENT.post("/interview", data=base).text)
    assert step["frage"] == "aufenthaltstitel_datum"
    for kind, date, verdict in (
        ("datum", "02.05.2017", "ja"),
        ("", "02.05.2017", "ja"),
        ("nicht_eingetreten", "", None),
    ):
        data = dict(step, aktion="weiter", aufenthaltstitel_datum=date)
        if kind:
            data["aufenthaltstitel_datum__art"] = kind
        r = CLIENT.post("/interview", data=data)
        assert r.status_code == 200, kind
        if verdict:
            asked, r = walk(hidden(r.text) | {"aktion": "ergebnis"}, {}) if "schritt" in r.text else ([], r)
            assert "02.05.2017" in r.text
    # A date and "noch nicht geschehen" at once: asked back, both kept.
    r = CLIENT.post(
        "/interview",
        data=dict(
            step, aktion="weiter", aufenthaltstitel_datum="02.05.2017", aufenthaltstitel_datum__art="nicht_eingetreten"
        ),
    )
    assert r.status_code == 422 and "noch nicht geschehen" in r.text and 'value="02.05.2017"' in r.text


def test_an_impossible_date_is_a_message_at_its_field_with_all_values_kept():
    base = dict(
        START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="vorlaeufig", person_id="AZ-7"
    )
    step = hidden(CLIENT.post("/interview", data=base).text)
    r = CLIENT.post(
        "/interview",
        data=dict(step, aktion="weiter", aufenthaltstitel_datum="31.02.2018", aufenthaltstitel_datum__art="datum"),
    )
    assert r.status_code == 422
    field = r.text.split('id="q_aufenthaltstitel_datum"', 1)[1].split("</fieldset>", 1)[0]
    assert 'id="err_aufenthaltstitel_datum"' in field and "gültig" in field and 'value="31.02.2018"' in field
    kept = hidden(r.text)
    assert kept["person_id"] == "AZ-7" and kept["aufenthaltsstatus"] == "fluechtling"
    # An impossible Stichtag: the first step again, with the message there.
    r = CLIENT.post("/interview", data=dict(base, stichtag="31.02.2018"))
    assert r.status_code == 422 and 'id="err_stichtag"' in r.text and 'value="31.02.2018"' in r.text
    assert 'value="fluechtling" checked' in r.text


def test_a_changed_hidden_answer_is_validated_like_a_typed_one():
    base = dict(START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="vorlaeufig")
    step = hidden(CLIENT.post("/interview", data=base).text)
    r = CLIENT.post("/interview", data=dict(step, aufenthaltsstatus="Quatsch", aktion="weiss_nicht"))
    assert r.status_code == 422 and 'id="err_aufenthaltsstatus"' in r.text and 'name="schritt" value="start"' in r.text


def test_angaben_aendern_returns_to_the_interview_with_the_answers():
    asked, r = walk(
        dict(START, stichtag="15.09.2018", aufenthaltsstatus="fluechtling", unterbringung="anschluss"),
        {"zugang_bw_datum": "03.11.2015"},
    )
    back = r.text.split('id="aendern-form"', 1)[1].split("</form>", 1)[0]
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', back))
    assert data["aktion"] == "aendern"
    r = CLIENT.post("/interview", data=data)
    assert 'name="schritt" value="aendern"' in r.text
    assert 'value="fluechtling" checked' in r.text and 'value="03.11.2015"' in r.text and 'value="15.09.2018"' in r.text
    # Change the housing: the interview goes on where the change needs new answers.
    data = hidden(r.text) | {
        "aufenthaltsstatus": "fluechtling",
        "unterbringung": "vorlaeufig",
        "zugang_bw_datum": "03.11.2015",
        "stichtag": "15.09.2018",
        "aktion": "weiter",
    }
    r = CLIENT.post("/interview", data=data)
    assert r.status_code == 200 and hidden(r.text)["frage"] == "aufenthaltstitel_datum"


def test_post_applications_get_the_same_interview():
    asked, r = walk(
        {
            "art": "stelle",
            "schritt": "start",
            "frage": "antrag_id,vzae,personen_stichtag_2017",
            "aktion": "weiter",
            "stichtag": "01.03.2018",
            "vzae": "1,0",
            "personen_stichtag_2017": "166",
        },
        {"antragsteller_art": "gemeinde", "stelleninhaber_qualifikation": "hochschule"},
    )
    assert asked == ["stelleninhaber_qualifikation", "antragsteller_art"]
    v = verdicts(r.text)
    assert v["antragsberechtigt"] == "ja" and v["im_budget"] == "132.149,28 €"


def test_the_county_setting_is_on_every_result():
    client = TestClient(
        create_app(overlays=[str(ROOT / "rules" / "overlays" / "goeppingen.yaml")], reload_seconds=None)
    )
    asked, r = walk(
        dict(START, stichtag="15.10.2018", aufenthaltsstatus="fluechtling", unterbringung="anschluss"), {}, client
    )
    assert "Landkreis Göppingen" in r.text.split('id="kreis-einstellung"', 1)[1][:200]
    r = CLIENT.post("/pruefen", data={"stichtag": "15.09.2018", "aufenthaltsstatus": "fluechtling"})
    assert "keine (Regeln des Landes" in r.text


def test_full_form_keeps_a_typed_date_and_names_the_field_of_a_contradiction():
    data = {"stichtag": "15.09.2018", "aufenthaltsstatus": "fluechtling", "unterbringung": "vorlaeufig"}
    r = CLIENT.post(
        "/pruefen", data=dict(data, aufenthaltstitel_datum="02.05.2017", aufenthaltstitel_datum__art="unbekannt")
    )
    assert r.status_code == 200 and verdicts(r.text)["anschlussunterbringung"] == "ja"
    assert "Es fehlt: Datum der Erteilung" not in r.text
    r = CLIENT.post(
        "/pruefen",
        data=dict(data, aufenthaltstitel_datum="02.05.2017", aufenthaltstitel_datum__art="nicht_eingetreten"),
    )
    assert r.status_code == 422 and 'id="err_aufenthaltstitel_datum"' in r.text and 'value="02.05.2017"' in r.text


def test_aktenvermerk_fields_are_printed_but_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    data = {"art": "person", "stichtag": "15.09.2018", "aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"}
    note = {"aktenzeichen": "AZ-Geheim-4711", "dienststelle": "Amt Geheimstadt", "bearbeitung": "Erika Geheim"}
    r = CLIENT.post("/aktenvermerk", data=data | note)
    assert r.status_code == 200
    for value in note.values():
        assert value in r.text and value not in caplog.text
    assert ENGINE.info.sha256 in r.text and "Unterschrift" in r.text and 'id="drucken"' in r.text
    assert "@page { size: A4" in r.text


def test_inline_scripts_are_allowed_by_their_hash_only():
    r = CLIENT.post(
        "/interview",
        data=dict(START, stichtag="15.09.2018", aufenthaltsstatus="gestattung", unterbringung="vorlaeufig"),
    )
    body = re.search(r"<script>(.*?)</script>", r.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    csp = r.headers["content-security-policy"]
    assert f"'sha256-{digest}'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1]


def test_checked_facts_name_the_country_of_origin_in_german():
    from eligibility.service.result_page import fact_rows

    rows = {
        r.name: r.value
        for r in fact_rows(ENGINE, "person", {"herkunftsland": "SYR", "aufenthaltsstatus": "gestattung"})
    }
    assert rows["herkunftsland"] == "Syrien (SYR)"
    assert rows["aufenthaltsstatus"] == "Aufenthaltsgestattung (§ 55 AsylG)"

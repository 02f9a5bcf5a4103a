"""The caseworker page in headless Chromium, walked as a caseworker would: the interview
with and without JavaScript, the result page, the Aktenvermerk (also as an A4 PDF), and
the full form. Screenshots of every step go to the test artefacts
($ELIGIBILITY_ARTIFACTS, default test-artifacts/, git-ignored)."""

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
import uvicorn  # noqa: E402
from browser import launch  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from eligibility.service.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("ELIGIBILITY_ARTIFACTS") or ROOT / "test-artifacts")


def _serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def server():
    yield from _serve(create_app(reload_seconds=None))


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory):
    # The service with a decision log (issue 17): results and Aktenvermerke are stored.
    yield from _serve(create_app(reload_seconds=None, log=f"sqlite:///{tmp_path_factory.mktemp('log')}/log.db"))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def watch(page, problems):
    # A form answered 422 (a field to correct) is logged by Chromium as a failed load: the
    # page is meant to say so, so that one is not a problem.
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "status of 422" not in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append("external: " + r.url) if "127.0.0.1" not in r.url else None)


class Walk:
    """One interview in one browser context; records the questions asked and saves a
    screenshot of every step."""

    def __init__(self, browser, server, name, js):
        self.context = browser.new_context(java_script_enabled=js, viewport={"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.problems = []
        watch(self.page, self.problems)
        self.server = server
        self.name = f"{name}_{'js' if js else 'ohne_js'}"
        self.js = js
        self.asked = []
        self.shots = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, what):
        self.shots += 1
        path = ARTIFACTS / f"{self.name}_{self.shots:02d}_{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def start(self, on, facts, entity=None, record_id=None):
        self.page.goto(self.server + ("/" if entity is None else f"/?art={entity}"))
        self.shot("start")
        self.page.fill("#stichtag", on)
        if record_id:
            self.page.locator("input[name=person_id], input[name=antrag_id]").fill(record_id)
        for name, value in facts.items():
            self.answer_field(name, value)
        self.submit("#weiter")

    def answer_field(self, name, value):
        page = self.page
        if isinstance(value, tuple):  # an event date: (state, date)
            page.check(f"#f_{name}__art_{value[0]}")
            if value[1]:
                page.fill(f"#f_{name}", value[1])
        elif page.locator(f"[id='f_{name}_{value}']").count():
            page.check(f"[id='f_{name}_{value}']")
        else:
            page.fill(f"#f_{name}", value)

    def current(self):
        if self.page.locator("#interview-form input[name=schritt][value=frage]").count() == 0:
            return None
        return self.page.locator("#interview-form input[name=frage]").get_attribute("value")

    def submit(self, button):
        before = self.page.locator("h1").inner_text()
        if not self.js:
            # A plain form POST. Waited for explicitly: whether click itself waits for the
            # navigation it starts is not something to lean on (a CI run on a newer
            # Chromium read the old page and found no question).
            with self.page.expect_navigation(wait_until="load"):
                self.page.click(button)
            return
        self.page.click(button)
        # In place: the main part is replaced when the answer arrives.
        expect(self.page.locator("h1")).not_to_have_text(before)

    def run(self, answers):
        """Answer every question the interview asks; a question without an answer in
        `answers` is answered with "Weiß ich nicht"."""
        while (fact := self.current()) is not None:
            assert fact not in self.asked, f"{fact} asked twice"
            self.asked.append(fact)
            self.shot(f"frage_{fact}")
            # The interim result is visible on every question.
            assert self.page.locator("#zwischenergebnis li").count() >= 1
            if fact in answers:
                self.answer_field(fact, answers[fact])
                self.submit("#weiter")
            else:
                self.submit("#weiss-nicht")
        self.page.wait_for_selector("#vermerk")
        self.shot("ergebnis")
        return self.page

    def verdict(self, outcome):
        return self.page.locator(f"#outcome-{outcome} .value").inner_text()

    def note(self, aktenzeichen="AZ 2026/0815", dienststelle="Landratsamt Beispiel, Integrationsmanagement"):
        page = self.page
        page.fill("#aktenzeichen", aktenzeichen)
        page.fill("#dienststelle", dienststelle)
        page.fill("#bearbeitung", "M. Muster")
        page.click("#vermerk-erstellen")
        page.wait_for_selector("#v-aktenzeichen")
        assert page.locator("#v-aktenzeichen").inner_text() == aktenzeichen
        assert page.locator("#v-dienststelle").inner_text() == dienststelle
        assert page.locator("#v-bearbeitung").inner_text() == "M. Muster"
        assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", page.locator("#v-datum").inner_text())
        assert len(page.locator("#sha256").inner_text()) == 64
        assert "Version" in page.locator("#v-regelwerk").inner_text()
        assert "Unterschrift" in page.locator(".signature").inner_text()
        # The print button needs JavaScript; without it the page says Strg+P.
        assert page.locator("#drucken").is_visible() == self.js
        assert "Strg+P" in page.inner_text("main")
        self.shot("aktenvermerk")
        return page

    def close(self):
        assert self.problems == []
        self.context.close()


BOTH = pytest.mark.parametrize("js", [True, False], ids=["js", "ohne_js"])


@BOTH
def test_recognised_refugee_in_aub(server, browser, js):
    w = Walk(browser, server, "fluechtling_aub", js)
    w.start("15.09.2018", {"aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"}, record_id="AZ-2018-0042")
    page = w.run({"zugang_bw_datum": "03.11.2015"})
    # Living in AUB decides the AUB outcomes: the title date, the intake and the country
    # of origin cannot change any answer and are not asked.
    assert w.asked == ["zugang_bw_datum"]
    assert w.verdict("anschlussunterbringung") == "ja"
    assert w.verdict("integrationsmanagement") == "ja"
    assert w.verdict("lastenausgleich") == "ja"
    assert w.verdict("prioritaet") == "hoch"
    im = page.locator("#outcome-integrationsmanagement")
    assert "§§ 17, 18 FlüAG" in im.locator(".citation").inner_text()
    assert "seit 01.01.2017" in im.inner_text()
    assert "Nächste Änderung: ab 06.06.2023: noch offen (dann fehlt: Beginn der Beratung" in im.inner_text()
    assert "im.beratung" not in page.inner_text("main")  # rules by their labels, not ids
    facts = page.locator("#angaben").inner_text()
    assert "Flüchtlingseigenschaft (§ 25 Abs. 2 AufenthG, § 3 AsylG)" in facts and "fluechtling" not in facts
    assert "03.11.2015" in facts and "unbekannt" in facts  # unknown facts are listed as such
    assert page.locator("svg[role=img] text", has_text="Stichtag 15.09.2018").count() == 1
    # The timeline's labels are whole (the old chart cut "…Integrationslastenausgleic").
    assert page.locator("svg[role=img] text", has_text="Zählt für den Integrationslastenausgleich (§ 29d FAG)").count()
    # "Angaben ändern" goes back into the interview with every answer kept.
    page.click("#angaben-aendern")
    page.wait_for_selector("#interview-form input[name=schritt][value=aendern]", state="attached")
    assert page.locator("#f_aufenthaltsstatus_fluechtling").is_checked()
    assert page.locator("#f_zugang_bw_datum").input_value() == "03.11.2015"
    w.shot("angaben_aendern")
    w.submit("#weiter")
    page.wait_for_selector("#vermerk")
    pdf = w.note().pdf(format="A4")
    assert pdf[:5] == b"%PDF-"
    (ARTIFACTS / f"{w.name}_aktenvermerk.pdf").write_bytes(pdf)
    # One A4 page (595 x 842 pt) or more, nothing else.
    sizes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf))
    assert sizes and all(abs(float(a) - 595) < 2 and abs(float(b) - 842) < 2 for a, b in sizes)
    w.page.emulate_media(media="print")
    assert not w.page.locator("header").is_visible() and not w.page.locator("nav").is_visible()
    w.close()


@BOTH
def test_asylum_seeker_whose_intake_date_nobody_knows(server, browser, js):
    w = Walk(browser, server, "asyl_aufnahme_unbekannt", js)
    w.start("15.09.2018", {"aufenthaltsstatus": "gestattung", "unterbringung": "vorlaeufig"})
    not_yet = ("nicht_eingetreten", "")
    page = w.run(
        {
            "aufenthaltstitel_datum": not_yet,
            "asylentscheidung_unanfechtbar_datum": not_yet,
            "gu_pflicht_ende_datum": not_yet,
            "herkunftsland": "AFG",
        }
    )
    assert "aufnahme_uab_datum" in w.asked  # answered "Weiß ich nicht"
    assert "zugang_bw_datum" not in w.asked and "familiennachzug" not in w.asked  # settled by the housing
    assert w.verdict("anschlussunterbringung") == "noch offen"
    assert w.verdict("integrationsmanagement") == "nein"
    offen = page.locator("#offen").inner_text()
    assert "An welchem Tag wurde die Person vom Stadt- oder Landkreis" in offen
    assert "noch offen seit" not in page.inner_text("main")
    facts = page.locator("#angaben").inner_text()
    assert "Aufnahme durch die untere Aufnahmebehörde (Beginn der vorläufigen Unterbringung)\tunbekannt" in facts
    assert "noch nicht geschehen" in facts
    w.note()
    assert "An welchem Tag wurde die Person" in page.inner_text("main")
    w.close()


@BOTH
def test_ukrainian_with_temporary_protection_in_2022(server, browser, js):
    w = Walk(browser, server, "ukraine_24", js)
    w.start("01.06.2022", {"aufenthaltsstatus": "schutz_24", "unterbringung": "vorlaeufig"})
    w.run({"aufnahme_uab_datum": "15.04.2022"})
    assert w.asked == ["aufnahme_uab_datum"]
    # From 11.03.2022 every person with § 24 is in the target group, wherever housed.
    assert w.verdict("integrationsmanagement") == "ja"
    assert w.verdict("anschlussunterbringung") == "nein"  # six months from 15.04.2022 not over
    nxt = w.page.locator("#outcome-anschlussunterbringung .next").inner_text()
    assert "ab 16.10.2022: ja" in nxt
    w.note()
    w.close()


@BOTH
def test_person_in_the_erstaufnahme(server, browser, js):
    w = Walk(browser, server, "erstaufnahme", js)
    w.start("15.09.2018", {"aufenthaltsstatus": "gestattung", "unterbringung": "erstaufnahme"})
    w.run({"herkunftsland": "SYR"})
    # Not yet taken in by a Kreis: no question about intake, title or decision dates.
    assert w.asked == ["herkunftsland"]
    for outcome in ("anschlussunterbringung", "aub_berechtigt_in_gu", "integrationsmanagement", "lastenausgleich"):
        assert w.verdict(outcome) == "nein", outcome
    assert w.verdict("prioritaet") == "hoch"
    w.note()
    w.close()


@BOTH
def test_an_impossible_date_is_a_message_at_the_field_and_keeps_the_values(server, browser, js):
    w = Walk(browser, server, "datum_unmoeglich", js)
    w.start("15.09.2018", {"aufenthaltsstatus": "fluechtling", "unterbringung": "vorlaeufig"}, record_id="AZ-7")
    page = w.page
    assert w.current() == "aufenthaltstitel_datum"
    w.answer_field("aufenthaltstitel_datum", ("datum", "31.02.2018"))
    page.click("#weiter")
    page.wait_for_selector("#err_aufenthaltstitel_datum")
    w.shot("datum_falsch")
    message = page.locator("#err_aufenthaltstitel_datum").inner_text()
    assert "Datum" in message and "gültig" in message
    # The message sits in the question's fieldset, the typed value is kept, the field is
    # tied to the message, and the earlier answers travel on.
    assert page.locator("#q_aufenthaltstitel_datum #err_aufenthaltstitel_datum").count() == 1
    assert page.locator("#f_aufenthaltstitel_datum").input_value() == "31.02.2018"
    assert page.locator("#f_aufenthaltstitel_datum").get_attribute("aria-describedby") == "err_aufenthaltstitel_datum"
    assert page.locator("input[type=hidden][name=aufenthaltsstatus]").get_attribute("value") == "fluechtling"
    w.answer_field("aufenthaltstitel_datum", ("datum", "02.05.2017"))
    w.submit("#weiter")
    w.run({})
    assert w.verdict("anschlussunterbringung") == "ja"
    assert "02.05.2017" in page.locator("#angaben").inner_text()
    w.close()


@BOTH
def test_post_application(server, browser, js):
    w = Walk(browser, server, "stelle", js)
    w.start("01.03.2018", {"vzae": "1,0", "personen_stichtag_2017": "166"}, entity="stelle", record_id="ANTRAG-1")
    page = w.run({"antragsteller_art": "gemeinde", "stelleninhaber_qualifikation": "hochschule"})
    assert sorted(w.asked) == ["antragsteller_art", "stelleninhaber_qualifikation"]
    assert "antragsteller" not in w.asked  # the applicant's name changes no outcome
    assert w.verdict("antragsberechtigt") == "ja"
    assert w.verdict("im_budget") == "132.149,28 €"  # German number format
    assert "Förderantrag" in page.locator("#vermerk").inner_text()
    w.note()
    w.close()


def test_full_form_keeps_a_typed_date_with_the_choice_at_unbekannt(server, browser):
    # Issue 16: 02.05.2017 typed with the dropdown left at "unbekannt" was dropped, and the
    # Aktenvermerk said "Es fehlt: Datum der Erteilung des Aufenthaltstitels".
    w = Walk(browser, server, "formular", False)
    page = w.page
    page.goto(server + "/formular")
    assert "leer lassen" not in page.inner_text("main")
    page.fill("#stichtag", "15.09.2018")
    page.select_option("#f_aufenthaltsstatus", "fluechtling")
    page.fill("#f_aufenthaltstitel_datum", "02.05.2017")
    page.select_option("#f_unterbringung", "vorlaeufig")
    w.shot("formular")
    page.click("#pruefen")
    page.wait_for_selector("#vermerk")
    w.shot("ergebnis")
    assert w.verdict("anschlussunterbringung") == "ja"
    assert "02.05.2017" in page.locator("#angaben").inner_text()
    page.click("#angaben-aendern")
    page.wait_for_selector("#person-form")
    assert page.locator("#f_aufenthaltstitel_datum").input_value() == "02.05.2017"
    assert page.locator("#f_aufenthaltstitel_datum__art").input_value() == "datum"
    w.close()


def test_tab_order_of_an_interview_step(server, browser):
    w = Walk(browser, server, "tab", True)
    w.start("15.09.2018", {"aufenthaltsstatus": "gestattung", "unterbringung": "vorlaeufig"})
    page = w.page
    assert w.current() == "aufenthaltstitel_datum"
    page.locator("#f_aufenthaltstitel_datum__art_datum").focus()
    order = ["f_aufenthaltstitel_datum__art_datum"]
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    # Radio group, then the date field, then the buttons in reading order. (A radio group
    # is one tab stop: arrow keys move within it.)
    assert order[:5] == [
        "f_aufenthaltstitel_datum__art_datum",
        "f_aufenthaltstitel_datum",
        "weiter",
        "weiss-nicht",
        "ergebnis-jetzt",
    ]
    w.close()


def verlauf_walk(browser, server, name, js=True):
    """Two decisions of one person, the second as an Aktenvermerk: its Verlauf lists the first."""
    w = Walk(browser, server, name, js)
    w.start("15.09.2018", {"aufenthaltsstatus": "fluechtling", "unterbringung": "anschluss"}, record_id="AZ-2018-0042")
    w.run({"zugang_bw_datum": "03.11.2015"})
    first = w.page.locator("#entscheidungs-nr").inner_text()
    w.note()
    return w, first


def test_the_verlauf_lists_earlier_decisions_and_shows_one_again(logged_server, browser):
    w, first = verlauf_walk(browser, logged_server, "verlauf")
    page = w.page
    rows = page.locator("#verlauf tbody tr")
    assert rows.count() >= 1 and "15.09.2018" in rows.first.inner_text()
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", rows.first.inner_text())
    assert "Zielgruppe Integrationsmanagement: ja" in rows.first.inner_text()
    page.locator("#verlauf").screenshot(path=str(ARTIFACTS / "verlauf.png"))
    page.click(f"a[href='/verlauf/{first}']")
    page.wait_for_selector("#gespeichert")
    assert f"Entscheidungs-Nr. {first}" in page.locator("#gespeichert").inner_text()
    assert page.locator("#outcome-integrationsmanagement .value").inner_text() == "ja"
    w.shot("gespeichert")
    w.close()

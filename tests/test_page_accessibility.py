"""Accessibility of the caseworker pages, checked by axe-core in Chromium (through
axe-playwright-python): the interview's first step and a question, a question with a
message at its field, the result page, the Aktenvermerk and the full form. Every rule axe
runs for WCAG 2.x A and AA must pass: labels, contrast, landmarks, names of controls."""

import pytest

pytest.importorskip("axe_playwright_python")
from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from test_service_browser import Walk, browser, logged_server, server, verlauf_walk  # noqa: E402, F401 - the fixtures

AXE = Axe()
OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def violations(page):
    result = AXE.run(page, options=OPTIONS)
    return [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in result.response["violations"]]


@pytest.fixture()
def walk(browser, server):  # noqa: F811 - the fixtures imported above
    w = Walk(browser, server, "axe", True)
    yield w
    w.context.close()


def test_interview_result_and_aktenvermerk_have_no_axe_violations(walk):
    page = walk.page
    page.goto(walk.server + "/")
    assert violations(page) == []
    walk.page.fill("#stichtag", "15.09.2018")
    walk.answer_field("aufenthaltsstatus", "gestattung")
    walk.answer_field("unterbringung", "vorlaeufig")
    walk.submit("#weiter")
    assert walk.current() == "aufenthaltstitel_datum"
    assert violations(page) == []
    walk.answer_field("aufenthaltstitel_datum", ("datum", "31.02.2018"))
    page.click("#weiter")
    page.wait_for_selector("#err_aufenthaltstitel_datum")
    assert violations(page) == []
    walk.page.fill("#f_aufenthaltstitel_datum", "")
    walk.page.check("#f_aufenthaltstitel_datum__art_unbekannt")
    walk.submit("#ergebnis-jetzt")
    page.wait_for_selector("#vermerk")
    assert violations(page) == []
    walk.note()
    assert violations(page) == []


def test_axe_does_find_what_these_tests_rule_out(walk):
    # The check itself works here: an unlabelled field and grey-on-white text are found.
    walk.page.set_content(
        '<html lang="de"><title>t</title><main><input type="text"><p style="color:#bbb">blass</p></main></html>'
    )
    found = {v[0] for v in violations(walk.page)}
    assert {"label", "color-contrast"} <= found


def test_full_form_and_post_application_have_no_axe_violations(walk):
    page = walk.page
    page.goto(walk.server + "/formular")
    assert violations(page) == []
    page.goto(walk.server + "/?art=stelle")
    assert violations(page) == []


def test_verlauf_and_a_stored_decision_have_no_axe_violations(browser, logged_server):  # noqa: F811
    w, first = verlauf_walk(browser, logged_server, "axe_verlauf")
    assert w.page.locator("#verlauf tbody tr").count() >= 1
    assert violations(w.page) == []
    w.page.goto(f"{logged_server}/verlauf/{first}")
    w.page.wait_for_selector("#gespeichert")
    assert violations(w.page) == []
    w.context.close()

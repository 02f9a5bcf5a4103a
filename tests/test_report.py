"""The roster report: counts that add up, and a page that opens in a real browser."""

import datetime as dt
from pathlib import Path

import pytest

from eligibility import Engine
from eligibility.batch import evaluated_rows
from eligibility.report import collect, render_report
from eligibility.rosters import read_roster

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE = ROOT / "examples" / "roster_landkreis_beispiel.csv"
ENGINE = Engine.load()
ON = dt.date(2018, 9, 15)


@pytest.fixture(scope="module")
def report_data():
    _, rows = read_roster(EXAMPLE, ENGINE.entity().facts)
    return collect(ENGINE, evaluated_rows(ENGINE, rows, ON), ON)


def test_counts_add_up(report_data):
    d = report_data
    assert d.rows == 1500
    assert d.total.persons + d.total.errors == d.rows
    assert sum(t.persons for t in d.gemeinden.values()) == d.total.persons
    for oid in ("integrationsmanagement", "lastenausgleich"):
        assert sum(t.yes[oid] for t in d.gemeinden.values()) == d.total.yes[oid]
    assert sum(d.total.priority.values()) == d.total.persons
    assert len([g for g in d.gemeinden if not g.startswith("(")]) == 30
    assert d.kreis == "Landkreis Beispiel"


def test_html_escapes_input_text(tmp_path):
    src = tmp_path / "evil.jsonl"
    src.write_text('{"person_id": "X", "gemeinde": "<script>alert(1)</script>", "aufenthaltsstatus": "duldung"}\n',
                   encoding="utf-8")
    _, rows = read_roster(src, ENGINE.entity().facts)
    html = render_report(ENGINE, collect(ENGINE, evaluated_rows(ENGINE, rows, ON), ON))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_report_opens_in_headless_chromium_without_console_errors(tmp_path, report_data):
    from playwright.sync_api import sync_playwright

    from browser import launch

    page_file = tmp_path / "bericht.html"
    page_file.write_text(render_report(ENGINE, report_data), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: problems.append("network: " + r.url) if not r.url.startswith("file:") else None)
        page.goto(page_file.as_uri())
        assert page.title().startswith("Zielgruppenbericht Landkreis Beispiel")
        assert page.locator("#gemeinden tbody tr").count() == len(report_data.gemeinden)
        assert page.locator("#total-persons").inner_text() == str(report_data.total.persons)
        assert page.locator("svg.chart").count() == 3
        assert page.locator("#worklist tbody tr").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "bericht.png"), full_page=True)
        page.emulate_media(media="print")
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "none"
        browser.close()
    assert problems == []

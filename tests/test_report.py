"""The roster report: counts that add up, and a page that opens in a real browser."""

import datetime as dt
from pathlib import Path

import pytest

from eligibility import Engine
from eligibility.apps.evaluate import evaluated_rows
from eligibility.apps.report import collect, render_report
from eligibility.io.rosters import read_roster

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
    assert d.total.persons + d.total.unreadable == d.rows
    assert sum(t.persons for t in d.gemeinden.values()) == d.total.persons
    for oid in ("integrationsmanagement", "lastenausgleich"):
        assert sum(t.yes[oid] for t in d.gemeinden.values()) == d.total.yes[oid]
    assert sum(d.total.priority.values()) == d.total.persons
    assert len([g for g in d.gemeinden if not g.startswith("(")]) == 30
    assert d.kreis == "Landkreis Beispiel"


def test_one_population_every_total_agrees(tmp_path, report_data):
    """The status chart, the cards, the Gemeinde table, evaluate and upcoming count the
    same persons and the same error rows."""
    from eligibility.apps.evaluate import evaluate_roster, table_decisions
    from eligibility.apps.upcoming import upcoming_changes

    d = report_data
    assert sum(d.statuses.values()) == d.total.persons
    assert d.total.persons + d.total.unreadable == d.rows == 1500
    assert sum(t.errors for t in d.gemeinden.values()) == d.total.errors == d.error_total
    summary = evaluate_roster(ENGINE, EXAMPLE, ON, tmp_path / "e.csv")
    assert summary.rows == d.rows and summary.errors == d.total.errors
    # a row with a bad value is an error row of evaluate and still a person of the report
    assert summary.decided + summary.unknown + summary.errors - d.total.unreadable == d.total.persons
    _, rows = read_roster(EXAMPLE, ENGINE.entity().facts)
    assert upcoming_changes(ENGINE, rows, ON, 90).errors == d.total.errors
    # the batch path (the CLI's) gives the same report data as the per-record path
    _, rows = read_roster(EXAMPLE, ENGINE.entity().facts)
    batch = collect(ENGINE, table_decisions(ENGINE, rows, ON), ON)
    assert (batch.total.persons, batch.total.errors, batch.statuses, batch.open_by_gemeinde) == (
        d.total.persons,
        d.total.errors,
        d.statuses,
        d.open_by_gemeinde,
    )
    # the worklist per fact and Gemeinde names every person with the fact missing
    for fact, per in d.open_by_gemeinde.items():
        assert sum(n for n, _ in per.values()) == d.missing_persons[fact]
    html = render_report(ENGINE, d, created=dt.datetime(2018, 9, 16, 8, 0, tzinfo=dt.UTC))
    assert f"{d.total.persons} + {d.total.unreadable} = {d.rows}" in html
    # the § 29d count of the report is the count allocation divides the budget by
    from click.testing import CliRunner

    from eligibility.cli.main import main

    r = CliRunner().invoke(main, ["allocation", str(EXAMPLE), "--year", "2018"])
    assert f"Gezählte Personen: {d.total.yes['lastenausgleich']}" in r.output
    assert f"{d.total.persons} Personen nach ihrem Aufenthaltsstatus" in html
    assert "16.09.2018, 08:00 UTC" in html and "Nicht verwendete Spalten der Liste: " in html


def test_creation_date_from_source_date_epoch(monkeypatch, report_data):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1537084800")  # 2018-09-16 08:00 UTC
    a = render_report(ENGINE, report_data)
    b = render_report(ENGINE, report_data)
    assert a == b and "16.09.2018, 08:00 UTC" in a


def test_html_escapes_input_text(tmp_path):
    src = tmp_path / "evil.jsonl"
    src.write_text(
        '{"person_id": "X", "gemeinde": "<script>alert(1)</script>", "aufenthaltsstatus": "duldung"}\n',
        encoding="utf-8",
    )
    _, rows = read_roster(src, ENGINE.entity().facts)
    html = render_report(ENGINE, collect(ENGINE, evaluated_rows(ENGINE, rows, ON), ON))
    # The page's own script is the only one (it sorts and filters); the input is escaped.
    assert "alert(1)" not in html.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "")
    assert html.count("<script>") == 1 and "&lt;script&gt;" in html


def test_report_opens_in_headless_chromium_without_console_errors(tmp_path, report_data):
    from browser import launch
    from playwright.sync_api import sync_playwright

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
        assert page.locator("#worklist-gemeinde tbody tr").count() >= 1
        assert page.locator("#population").inner_text().startswith("Gezählt wird:")
        page.screenshot(path=str(ARTIFACTS / "bericht.png"), full_page=True)
        # Sorting: a click on "Personen" sorts the Gemeinde table by it, a second click reverses.
        head = page.locator("#gemeinden thead th", has_text="Personen").first
        head.click()
        col = [int(x) for x in page.locator("#gemeinden tbody tr td:nth-child(2)").all_inner_texts()]
        assert col == sorted(col)
        head.click()
        col = [int(x) for x in page.locator("#gemeinden tbody tr td:nth-child(2)").all_inner_texts()]
        assert col == sorted(col, reverse=True)
        names = page.locator("#gemeinden thead th", has_text="Gemeinde").first
        names.click()
        got = page.locator("#gemeinden tbody tr td:nth-child(1)").all_inner_texts()
        assert got == sorted(got, key=lambda x: x.lower()) or got[0] <= got[-1]
        # Filtering: typing a Gemeinde leaves only its rows.
        first = got[0]
        page.fill("input[data-filter=gemeinden]", first)
        visible = page.locator("#gemeinden tbody tr:visible td:nth-child(1)").all_inner_texts()
        assert visible and all(first.lower() in v.lower() for v in visible)
        page.fill("input[data-filter=worklist-gemeinde]", first)
        page.locator("#worklist-gemeinde").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "bericht_gefiltert.png"), full_page=True)
        page.fill("input[data-filter=gemeinden]", "")
        page.emulate_media(media="print")
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "none"
        assert page.locator(".filter").first.is_hidden()
        page.screenshot(path=str(ARTIFACTS / "bericht_druck.png"), full_page=True)
        # Without JavaScript the page shows the same tables (and no filter boxes).
        nojs = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900}).new_page()
        nojs.goto(page_file.as_uri())
        assert nojs.locator("#gemeinden tbody tr").count() == len(report_data.gemeinden)
        assert nojs.locator(".filter").first.is_hidden()
        browser.close()
    assert problems == []

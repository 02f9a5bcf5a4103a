"""The caseworker page in headless Chromium: fill the form as a caseworker would."""

import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import uvicorn  # noqa: E402
from browser import launch  # noqa: E402

from eligibility.service.app import create_app  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(create_app(reload_seconds=None), host="127.0.0.1", port=port, log_level="warning")
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
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def watch(page, problems):
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append("external: " + r.url) if "127.0.0.1" not in r.url else None)


def test_recognised_refugee(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    problems: list[str] = []
    watch(page, problems)
    page.goto(server + "/")
    page.fill("#stichtag", "15.09.2018")
    page.fill("#f_person_id", "AZ-2018-0042")
    page.select_option("#f_aufenthaltsstatus", "fluechtling")
    page.select_option("#f_aufenthaltstitel_datum__art", "datum")
    page.fill("#f_aufenthaltstitel_datum", "02.05.2017")
    page.select_option("#f_unterbringung", "anschluss")
    page.fill("#f_zugang_bw_datum", "01.06.2015")
    page.click("#pruefen")
    page.wait_for_selector("#vermerk")
    im = page.locator("#outcome-integrationsmanagement")
    assert im.locator(".value").inner_text() == "ja"
    assert "§§ 17, 18 FlüAG" in im.inner_text()
    assert "seit 01.01.2017" in im.inner_text()
    assert (
        page.locator("#outcome-anschlussunterbringung .reason")
        .inner_text()
        .startswith("Ein Aufenthaltstitel ist erteilt")
    )
    assert len(page.locator("#sha256").inner_text()) == 64
    page.screenshot(path=str(ARTIFACTS / "seite_fluechtling.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("header").is_visible()  # the Aktenvermerk prints without navigation
    assert problems == []


def test_asylum_seeker_with_missing_intake_date(server, browser):
    page = browser.new_page()
    problems: list[str] = []
    watch(page, problems)
    page.goto(server + "/")
    page.fill("#stichtag", "15.09.2018")
    page.select_option("#f_aufenthaltsstatus", "gestattung")
    for event in ("aufenthaltstitel_datum", "asylentscheidung_unanfechtbar_datum", "gu_pflicht_ende_datum"):
        page.select_option(f"#f_{event}__art", "nicht_eingetreten")
    page.select_option("#f_unterbringung", "vorlaeufig")
    page.fill("#f_herkunftsland", "AFG")
    page.click("#pruefen")
    page.wait_for_selector("#vermerk")
    aub = page.locator("#outcome-anschlussunterbringung")
    assert aub.locator(".value").inner_text() == "noch offen"
    assert "Aufnahme durch die untere Aufnahmebehörde" in aub.locator(".questions").inner_text()
    assert "An welchem Tag wurde die Person vom Stadt- oder Landkreis" in aub.inner_text()
    assert page.locator("#outcome-integrationsmanagement .value").inner_text() == "nein"
    page.screenshot(path=str(ARTIFACTS / "seite_aufnahme_fehlt.png"), full_page=True)
    assert problems == []

"""Issue 15, HTTP hygiene on the real service: security headers on every HTML page (a CSP
that allows no inline code but the page's own hashed blocks), no caching of personal
answers, and an access log with method, path, status and duration only."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN, login

ROOT = Path(__file__).resolve().parents[2]
PERSON = {
    "stichtag": "15.09.2018",
    "aufenthaltsstatus": "fluechtling",
    "aufenthaltstitel_datum__art": "datum",
    "aufenthaltstitel_datum": "02.05.2017",
    "unterbringung": "anschluss",
    "gemeinde": "Geheimstadt",
}


def check_html_headers(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "base-uri 'none'" in csp
    assert "unsafe-inline" not in csp.split("style-src-attr")[0]  # no inline code, only hashes
    assert "unsafe-eval" not in csp
    for kind, attrs, body in re.findall(r"<(script|style)\b([^>]*)>(.*?)</\1>", r.text, re.S):
        if "src=" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, f"inline {kind} not allowed by its hash"
    return csp


def test_every_html_page_carries_the_security_headers(server):
    check_html_headers(httpx.get(server.url + "/anmelden"))
    check_html_headers(httpx.post(server.url + "/pruefen", data=PERSON))  # the refusal page too
    client, csrf = login(server)
    try:
        check_html_headers(client.get("/"))
        result = client.post("/pruefen", data=dict(PERSON, csrf=csrf))
        assert "Aktenvermerk" in result.text
        check_html_headers(result)
        roster = (ROOT / "examples" / "roster_landkreis_beispiel.csv").read_bytes()
        report = client.post(
            "/liste",
            data={"stichtag": "15.09.2018", "ausgabe": "bericht", "csrf": csrf},
            files={"datei": ("liste.csv", roster, "text/csv")},
            timeout=120,
        )
        assert "<script" in report.text  # the report's own script: allowed by its hash only
        assert "'sha256-" in check_html_headers(report).split("script-src")[1]
        check_html_headers(client.get("/docs"))
    finally:
        client.close()


def test_api_answers_are_not_cached_or_sniffed(server):
    r = httpx.post(
        server.url + "/v1/decide",
        json={"record": {"person_id": "H-1"}, "on": "2018-09-15", "explain": False},
        headers=server.auth(),
    )
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert "server" not in r.headers  # no version banner
    r = httpx.post(server.url + "/v1/decide", content=b"{nope", headers=server.auth())
    assert r.status_code == 422 and "Traceback" not in r.text


def test_access_log_has_method_path_status_duration_and_nothing_else(server):
    httpx.post(
        server.url + "/v1/decide/batch?on=2018-09-15&entity=person",
        content=b'{"person_id": "LOG-1", "gemeinde": "Geheimstadt"}\n',
        headers={"content-type": "application/x-ndjson", **server.auth()},
    )
    httpx.get(server.url + "/v1/rules", headers={"authorization": "Bearer falsch"})
    log = server.log()
    access = [line for line in log.splitlines() if "eligibility.access" in line]
    assert any(re.search(r"POST /v1/decide/batch 200 \d+\.\dms$", line) for line in access), access[-5:]
    assert any(re.search(r"GET /v1/rules 401 \d+\.\dms$", line) for line in access)
    assert not any("?" in line for line in access)  # no query strings
    requests_part = [line for line in log.splitlines() if "http://127.0.0.1:" not in line]  # not the banner
    assert not any("127.0.0.1" in line for line in requests_part)  # no client address (uvicorn's log is off)
    assert "HTTP/1.1" not in log
    for secret in ("Geheimstadt", "LOG-1", TOKEN):
        assert secret not in log


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright")
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from browser import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def test_the_page_works_under_its_csp_in_chromium(server, browser):
    # Login, form and answer in a real browser: no CSP violation, and the hashed stylesheet
    # applies (the header keeps its colour).
    page = browser.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/")
    assert page.url.endswith("/anmelden?weiter=/")
    page.fill("#schluessel", TOKEN)
    page.click("#anmelden")
    # Issue 16: "/" is the interview; its inline script (which sends each step in the
    # background) must run under the CSP too.
    page.wait_for_selector("#interview-form")
    background = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(43, 108, 176)"
    page.fill("#stichtag", "15.09.2018")
    page.check("#f_aufenthaltsstatus_fluechtling")
    page.check("#f_unterbringung_anschluss")
    page.click("#weiter")
    page.wait_for_selector("#zwischenergebnis")
    page.click("#ergebnis-jetzt")
    page.wait_for_selector("#vermerk")
    assert "Aktenvermerk" in page.content()
    page.goto(server.url + "/formular")
    page.fill("#stichtag", "15.09.2018")
    page.select_option("#f_aufenthaltsstatus", "fluechtling")
    page.select_option("#f_unterbringung", "anschluss")
    page.click("#pruefen")
    page.wait_for_selector("#vermerk")
    page.click("#abmelden")
    page.wait_for_load_state()
    assert "/anmelden" in page.url
    assert violations == []
    page.close()


def test_an_internal_error_is_a_problem_and_its_traceback_does_not_reach_the_server_log():
    # Starlette answers with the app's handler and re-raises for the server, which printed the
    # whole traceback at the default level (it can quote values of a record). The guard keeps it.
    import asyncio
    import concurrent.futures

    from eligibility.service.security import Guard, Limits, Sessions

    async def crashing(scope, receive, send):
        raise RuntimeError("geheim: Mustermann")

    async def answered_then_crashing(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})
        raise RuntimeError("geheim: Mustermann")

    for app in (crashing, answered_then_crashing):
        guard = Guard(app, token=None, sessions=Sessions(), limits=Limits())
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message, sent=sent):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "query_string": b""}
        # A loop of its own (another test may have left one running): the guard raises nothing,
        # so uvicorn has nothing to log.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, guard(scope, receive, send)).result()
        assert sent[0]["status"] == 500
        assert b"Mustermann" not in b"".join(m.get("body", b"") for m in sent)

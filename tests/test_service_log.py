"""The service with its decision log (issue 17): every decision of /v1/decide, the batch and the
page is stored before it is answered, found again, reproduced byte for byte (also after the
rules changed and the service reloaded), shown as the page's Verlauf, and refused with a 503
when the log cannot be written."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eligibility.decisionlog import open_log  # noqa: E402
from eligibility.decisionlog.chain import dumps
from eligibility.decisionlog.reproduce import reproduce  # noqa: E402
from eligibility.service.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFUGEE = {
    "person_id": "LOG-1",
    "aufenthaltsstatus": "fluechtling",
    "aufenthaltstitel_datum": "2017-05-02",
    "unterbringung": "anschluss",
    "zugang_bw_datum": "2015-06-01",
}
FORM = {
    "stichtag": "15.09.2018",
    "person_id": "LOG-P",
    "aufenthaltsstatus": "fluechtling",
    "aufenthaltstitel_datum__art": "datum",
    "aufenthaltstitel_datum": "02.05.2017",
    "unterbringung": "anschluss",
}
TOKEN = "t" * 24


def _ids(text: str) -> list[str]:
    return re.findall(r'id="entscheidungs-nr">([0-9a-f-]{36})<', text)


def test_decide_logs_one_entry_and_it_is_found_and_reproduced(log_url: str) -> None:
    app = create_app(reload_seconds=None, log=log_url)
    with TestClient(app) as client:
        r = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15", "aktenzeichen": "AZ 7/18"})
        assert r.status_code == 200
        did = r.json()["decision_id"]
        today = dt.datetime.now(dt.UTC).date().isoformat()
        found = client.get("/v1/decisions", params={"record_id": "LOG-1", "from": today, "to": today}).json()
        assert [i["decision_id"] for i in found["items"]] == [did] and found["next"] is None
        item = found["items"][0]
        assert item["source"] == "api" and item["aktenzeichen"] == "AZ 7/18" and item["user"] is None
        assert item["on"] == "2018-09-15" and item["outcomes"]["integrationsmanagement"] is True
        assert client.get("/v1/decisions", params={"record_id": "LOG-1", "to": "2000-01-01"}).json()["items"] == []
        stored = client.get(f"/v1/decisions/{did}")
        assert stored.status_code == 200 and stored.json()["facts"] == REFUGEE
        # The stored decision is embedded as stored: the answer without its decision_id.
        answered = r.text.replace(f',"decision_id":"{did}"', "")
        assert stored.text.endswith(',"decision":' + answered + "}")
        rep = reproduce(app.state.logbook.log, did)
        assert rep.identical and rep.text == answered
        # The answer is the stored bytes with the id as the last key: what JSON of the dict gives.
        assert r.content == dumps({**json.loads(answered), "decision_id": did}).encode()
        assert r.headers["content-type"] == "application/json"
        assert client.get("/v1/decisions/nope").status_code == 404


def test_paging_newest_first(log_url: str) -> None:
    with TestClient(create_app(reload_seconds=None, log=log_url)) as client:
        ids = [
            client.post("/v1/decide", json={"record": dict(REFUGEE, person_id=f"PG-{i}"), "explain": False}).json()[
                "decision_id"
            ]
            for i in range(5)
        ]
        seen: list[str] = []
        url: str | None = "/v1/decisions?limit=2"
        pages = 0
        while url:
            body = client.get(url).json()
            seen += [i["decision_id"] for i in body["items"]]
            url, pages = body["next"], pages + 1
        assert seen == ids[::-1] and pages == 3
        assert client.get("/v1/decisions", params={"limit": 501}).status_code == 422
        bad = client.get("/v1/decisions", params={"from": "15.09.2018"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"


def test_batch_logs_every_decided_line_and_no_problem_line(log_url: str) -> None:
    app = create_app(reload_seconds=None, log=log_url)
    lines = [json.dumps(dict(REFUGEE, person_id=f"B-{i}")) for i in range(7)]
    lines.insert(3, "not json")
    lines.insert(5, "[1, 2]")
    with TestClient(app) as client:
        r = client.post(
            "/v1/decide/batch?on=2018-09-15",
            content="\n".join(lines).encode(),
            headers={"content-type": "application/x-ndjson"},
        )
        out = [json.loads(x) for x in r.text.splitlines()]
        summary = out.pop()["summary"]
        assert summary["records_in"] == summary["lines_out"] == 9 and summary["problems"] == 2
        decided = [x for x in out if "problem" not in x]
        assert len(decided) == 7 and all("decision_id" in x for x in decided)
        assert not any("decision_id" in x for x in out if "problem" in x)
        log = app.state.logbook.log
        entries = list(log.iter_all())
        assert len(entries) == 7 and {e.source for e in entries} == {"batch"}
        for line in decided:
            rep = reproduce(log, line["decision_id"])
            doc = {k: v for k, v in line.items() if k not in ("index", "decision_id")}
            assert rep.identical and json.loads(rep.text) == doc


def test_reproduce_after_the_rules_changed_and_the_service_reloaded(log_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    app = create_app(rules, reload_seconds=None, log=log_url)
    with TestClient(app) as client:
        before = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()
        batch = client.post("/v1/decide/batch", json={"records": [REFUGEE], "on": "2018-09-15"}).text
        page = client.post("/aktenvermerk", data=FORM)
        batch_id = json.loads(batch.splitlines()[0])["decision_id"]
        (page_id,) = _ids(page.text)
        # Edit a label and the version: another hash.
        path = rules / "ruleset.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('version: "2026.1"', 'version: "2026.7"'), encoding="utf-8")
        for f in sorted(rules.rglob("*.yaml")):
            t = f.read_text(encoding="utf-8")
            if "Zielgruppe Integrationsmanagement" in t:
                f.write_text(t.replace("Zielgruppe Integrationsmanagement", "IM-Zielgruppe", 1), encoding="utf-8")
                break
        assert app.state.holder.check_reload() is False and app.state.holder.check_reload() is True
        after = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()
        assert after["ruleset"]["sha256"] != before["ruleset"]["sha256"]
        assert after["ruleset"]["version"] == "2026.7"
        log = app.state.logbook.log
        for did in (before["decision_id"], batch_id, page_id, after["decision_id"]):
            assert reproduce(log, did).identical, did
        # The old decision shown again: with its own rules, and saying they differ.
        view = client.get(f"/verlauf/{before['decision_id']}")
        assert view.status_code == 200 and "Gespeicherte Entscheidung vom" in view.text
        assert "Das Regelwerk weicht vom laufenden ab" in view.text and "Version 2026.1" in view.text
        assert "Zielgruppe Integrationsmanagement" in view.text


def test_page_result_and_aktenvermerk_are_logged_with_source_aktenzeichen_and_user(log_url: str) -> None:
    app = create_app(reload_seconds=None, log=log_url)
    with TestClient(app) as client:
        result = client.post("/pruefen", data=FORM)
        assert result.status_code == 200
        (result_id,) = _ids(result.text)
        assert "Aktenzeichen und Bearbeiter/in werden mit der Entscheidung im Entscheidungsprotokoll" in result.text
        note = client.post("/aktenvermerk", data=dict(FORM, aktenzeichen="AZ 12/3", bearbeitung="Frau Muster"))
        (note_id,) = _ids(note.text)
        log = app.state.logbook.log
        r, n = log.get(result_id), log.get(note_id)
        assert (r.source, r.user, r.aktenzeichen, r.record_id) == ("page", None, None, "LOG-P")
        assert (n.source, n.user, n.aktenzeichen) == ("aktenvermerk", "Frau Muster", "AZ 12/3")
        assert reproduce(log, result_id).identical and reproduce(log, note_id).identical
        # The Verlauf of the Aktenvermerk lists the earlier result, linked.
        assert 'id="verlauf"' in note.text and f'href="/verlauf/{result_id}"' in note.text
        assert f'href="/verlauf/{note_id}"' not in note.text
        shown = client.get(f"/verlauf/{result_id}")
        assert shown.status_code == 200 and f"Entscheidungs-Nr. {result_id}" in shown.text
        assert "Das Regelwerk ist dasselbe wie das laufende" in shown.text
        assert client.get("/verlauf/00000000-0000-0000-0000-000000000000").status_code == 404


def test_the_login_name_is_the_user_of_page_decisions_and_the_token_of_api_ones(log_url: str) -> None:
    app = create_app(reload_seconds=None, log=log_url, token=TOKEN)
    with TestClient(app) as client:
        login = client.get("/anmelden")
        assert 'name="kuerzel"' in login.text
        client.post("/anmelden", data={"schluessel": TOKEN, "kuerzel": "  MM  ", "weiter": "/"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/formular").text).group(1)  # type: ignore[union-attr]
        page = client.post("/aktenvermerk", data=dict(FORM, csrf=csrf, bearbeitung="Frau Muster"))
        (page_id,) = _ids(page.text)
        api = client.post("/v1/decide", json={"record": REFUGEE}, headers={"authorization": f"Bearer {TOKEN}"}).json()
        log = app.state.logbook.log
        assert log.get(page_id).user == "MM" and log.get(api["decision_id"]).user == "token"
        assert client.get("/v1/decisions").status_code == 401  # guarded like every /v1 route
        assert client.get("/v1/decisions", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    plain = TestClient(create_app(reload_seconds=None, token=TOKEN))
    assert 'name="kuerzel"' not in plain.get("/anmelden").text  # asked only when a log keeps it


def test_without_a_log_answers_carry_no_decision_id_and_are_unchanged(log_url: str) -> None:
    plain = TestClient(create_app(reload_seconds=None))
    with TestClient(create_app(reload_seconds=None, log=log_url)) as logged:
        for body in (
            {"record": REFUGEE, "on": "2018-09-15"},
            {"record": REFUGEE, "on": "2018-09-15", "explain": False},
        ):
            a, b = plain.post("/v1/decide", json=body), logged.post("/v1/decide", json=body)
            assert "decision_id" not in a.json()
            assert b.text.replace(f',"decision_id":"{b.json()["decision_id"]}"', "") == a.text
        batch = {"records": [REFUGEE, dict(REFUGEE, person_id="X2")], "on": "2018-09-15"}
        a_lines = plain.post("/v1/decide/batch", json=batch).text.splitlines()
        b_lines = logged.post("/v1/decide/batch", json=batch).text.splitlines()
        for x, y in zip(a_lines, b_lines, strict=True):
            did = json.loads(y).get("decision_id")
            assert (y.replace(f', "decision_id": "{did}"', "") if did else y) == x
    page = plain.post("/pruefen", data=FORM).text
    assert "Entscheidungs-Nr." not in page and 'id="verlauf"' not in page
    assert "der Dienst speichert und protokolliert sie nicht" in page
    assert plain.get("/v1/decisions").status_code == 404
    assert plain.get("/v1/decisions/x").json()["detail"] == "no decision log configured"
    assert plain.get("/verlauf/x").status_code == 404


def _break(url: str) -> None:
    from sqlalchemy import create_engine, text

    from eligibility.decisionlog.store import normalized

    eng = create_engine(normalized(url))
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE decision_log"))
    eng.dispose()


def test_a_log_that_cannot_be_written_is_a_503_never_an_unlogged_decision(log_url: str, caplog) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(reload_seconds=None, log=log_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/decide", json={"record": REFUGEE}).status_code == 200
        _break(log_url)
        r = client.post("/v1/decide", json={"record": REFUGEE})
        assert r.status_code == 503 and r.json()["title"] == "Decision log unavailable"
        assert "outcomes" not in r.text
        lines = [json.loads(x) for x in client.post("/v1/decide/batch", json={"records": [REFUGEE]}).text.splitlines()]
        assert lines[0]["problem"]["status"] == 503 and "outcomes" not in lines[0]
        assert lines[1]["summary"]["problems"] == 1
        page = client.post("/pruefen", data=FORM)
        assert page.status_code == 503 and "Entscheidungsprotokoll kann gerade nicht beschrieben werden" in page.text
    assert "decision log not written" in caplog.text


def test_no_personal_value_in_the_service_log(log_url: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = dict(REFUGEE, person_id="GEHEIM-ID-77", gemeinde="Geheimstadt")
    with TestClient(create_app(reload_seconds=None, log=log_url)) as client:
        did = client.post("/v1/decide", json={"record": secret, "aktenzeichen": "AZ-GEHEIM"}).json()["decision_id"]
        client.post("/v1/decide/batch", json={"records": [secret]})
        client.post("/aktenvermerk", data=dict(FORM, person_id="GEHEIM-ID-77", bearbeitung="Frau Geheim"))
        client.get("/v1/decisions", params={"record_id": "GEHEIM-ID-77"})
        client.get(f"/v1/decisions/{did}")
    # The service's own lines (the test client, httpx, logs the URLs it asks for).
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "GET /v1/decisions" in text
    for value in ("Geheimstadt", "GEHEIM-ID-77", "AZ-GEHEIM", "Frau Geheim"):
        assert value not in text


def test_retention_runs_on_start_and_the_log_is_closed_on_shutdown(log_url: str) -> None:
    from eligibility import Engine
    from eligibility.decisionlog import NewDecision
    from eligibility.decisionlog.reproduce import decision_doc
    from eligibility.decisionlog.store import DecisionLog

    engine = Engine.load()
    old = DecisionLog(log_url, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    doc = decision_doc(engine, REFUGEE, "2018-09-15", None, "plain")
    (old_id,) = old.record(engine, [NewDecision(doc, REFUGEE, "api", form="plain")])
    old.close()
    app = create_app(reload_seconds=None, log=log_url, keep_days=30)
    with TestClient(app) as client:
        fresh = client.post("/v1/decide", json={"record": REFUGEE}).json()["decision_id"]
        for _ in range(100):  # the sweep runs in a thread beside the first requests
            if client.get(f"/v1/decisions/{old_id}").status_code == 404:
                break
            time.sleep(0.05)
        assert client.get(f"/v1/decisions/{old_id}").status_code == 404
        assert client.get(f"/v1/decisions/{fresh}").status_code == 200
    with open_log(log_url) as log:
        assert log.verify().ok and log.verify().erased == 1


def test_serve_stops_at_start_when_the_log_cannot_be_opened(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from eligibility.cli.main import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for lang, words in (("de", "lässt sich nicht öffnen"), ("en", "cannot be opened")):
        r = CliRunner().invoke(
            main, ["--lang", lang, "serve", "--port", "18998", "--log", f"sqlite:///{blocker}/log.db"]
        )
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["serve", "--port", "18998", "--log", "postgresql://u:geheim@127.0.0.1:1/db"])
    assert r.exit_code == 2 and "geheim" not in r.output and "***" in r.output


def test_a_roster_uploaded_on_the_page_logs_every_decided_row(log_url: str, tmp_path: Path) -> None:
    rows = ["person_id;aufenthaltsstatus;unterbringung;aufenthaltstitel_datum"]
    rows += [f"R-{i};fluechtling;anschluss;02.05.2017" for i in range(7)]
    rows += ["R-bad;fluechtling;anschluss;31.02.2017"]  # decided with that field unknown: still a decision
    data = ("\n".join(rows) + "\n").encode("utf-8")
    app = create_app(reload_seconds=None, log=log_url)
    with TestClient(app) as client:
        for what in ("ergebnis", "bericht"):
            r = client.post(
                "/liste",
                data={"stichtag": "15.09.2018", "ausgabe": what},
                files={"datei": ("liste.csv", data, "text/csv")},
            )
            assert r.status_code == 200, r.text[:300]
        log = app.state.logbook.log
        entries = list(log.iter_all())
        assert len(entries) == 2 * 8
        assert {e.source for e in entries} == {"roster"} and {e.form for e in entries} == {"batch"}
        assert sorted({e.record_id for e in entries}) == sorted([f"R-{i}" for i in range(7)] + ["R-bad"])
        assert all(e.on == "2018-09-15" for e in entries)
        assert all(reproduce(log, e.decision_id).identical for e in entries[:3] + entries[-3:])
        assert log.verify().ok


def test_no_roster_result_without_its_log_entries(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    app = create_app(reload_seconds=None, log=f"sqlite:///{db}")
    with TestClient(app) as client:
        # The worker opens the log itself: a log that is gone refuses the result.
        app.state.logbook.log.close()
        db.unlink()
        r = client.post(
            "/liste",
            data={"stichtag": "15.09.2018", "ausgabe": "ergebnis"},
            files={"datei": ("liste.csv", b"person_id;aufenthaltsstatus\nR-1;fluechtling\n", "text/csv")},
        )
        assert r.status_code == 422 and "Entscheidungsprotokoll" in r.text
        assert r.headers["content-type"].startswith("text/html")

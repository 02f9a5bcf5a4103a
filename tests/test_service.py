"""The HTTP service: API contract, problem details, limits, token, hot reload, OpenAPI."""

import json
import logging
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eligibility import Engine  # noqa: E402
from eligibility.service.app import create_app, warn_if_exposed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = create_app(reload_seconds=None)
CLIENT = TestClient(APP)
REFUGEE = {
    "person_id": "API-7",
    "aufenthaltsstatus": "fluechtling",
    "aufenthaltstitel_datum": "2017-05-02",
    "unterbringung": "anschluss",
    "zugang_bw_datum": "2015-06-01",
}


def test_decide_returns_the_same_structure_as_the_python_api():
    r = CLIENT.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"})
    assert r.status_code == 200
    assert r.json() == json.loads(Engine.load().decide(REFUGEE, "2018-09-15").to_json())
    assert r.json()["outcomes"]["integrationsmanagement"]["value"] is True
    assert len(r.json()["ruleset"]["sha256"]) == 64


def test_invalid_record_is_a_422_problem_naming_the_field_not_the_value():
    r = CLIENT.post(
        "/v1/decide", json={"record": {"person_id": "X", "aufnahme_uab_datum": "31.02.2016"}, "on": "2018-01-01"}
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 422 and body["errors"][0]["field"] == "record.aufnahme_uab_datum"
    assert "31.02.2016" not in r.text


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"on": "2018-01-01"}, "record"),
        ({"record": {}, "on": "1.1.2018x"}, "on"),
        ({"record": [], "on": "2018-01-01"}, "record"),
        ({"record": {}, "entity": "nope"}, "entity"),
    ],
)
def test_malformed_requests_are_422_problems(payload, field):
    r = CLIENT.post("/v1/decide", json=payload)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith(field) for e in r.json()["errors"])


def test_not_json_is_a_problem_not_a_trace():
    r = CLIENT.post("/v1/decide", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "Traceback" not in r.text


def test_body_above_the_limit_is_413():
    small = TestClient(create_app(max_body=2048, reload_seconds=None))
    r = small.post("/v1/decide", json={"record": {"x": "a" * 5000}})
    assert r.status_code == 413 and r.json()["title"] == "Request body too large"


def test_batch_json_and_ndjson_stream_one_line_per_record_in_order():
    records = [dict(REFUGEE, person_id=f"B{i}") for i in range(50)]
    r = CLIENT.post("/v1/decide/batch", json={"records": records, "on": "2018-09-15"})
    lines = [json.loads(line) for line in r.text.splitlines()]
    # The stream ends with a summary line (added with issue 13).
    assert lines.pop() == {
        "summary": {"records_in": 50, "lines_out": 50, "decisions": 50, "problems": 0, "with_field_errors": 0}
    }
    assert [x["record_id"] for x in lines] == [f"B{i}" for i in range(50)]
    assert [x["index"] for x in lines] == list(range(1, 51))
    body = "\n".join(json.dumps(x) for x in records[:3]) + "\n{broken\n\n[1]\n"
    r = CLIENT.post(
        "/v1/decide/batch?on=2018-09-15", content=body.encode(), headers={"content-type": "application/x-ndjson"}
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 6 and lines[3]["errors"] and lines[4]["errors"]
    assert lines[3]["problem"]["status"] == 422 and lines[5]["summary"]["problems"] == 2


@pytest.mark.parametrize("ndjson", [False, True])
def test_batch_answers_an_undecidable_record_and_goes_on(ndjson, monkeypatch):
    # An intake on 9999-12-31 cannot be computed with: a field error, and the record is decided.
    # A record the engine still fails on (here forced) gets its problem line; the stream goes on.
    late = {"aufenthaltsstatus": "fluechtling", "aufnahme_uab_datum": "9999-12-31"}
    records = [
        dict(REFUGEE, person_id="U1"),
        dict(late, person_id="U2"),
        dict(REFUGEE, person_id="U3"),
        dict(REFUGEE, person_id="U4"),
    ]
    from eligibility.engine import Engine

    real = Engine.decide_data

    def failing(self, record, *args, **kwargs):
        if record.get("person_id") == "U4":
            raise OverflowError("date value out of range")
        return real(self, record, *args, **kwargs)

    monkeypatch.setattr(Engine, "decide_data", failing)
    if ndjson:
        r = CLIENT.post(
            "/v1/decide/batch?on=2018-09-15",
            content="\n".join(json.dumps(x) for x in records).encode(),
            headers={"content-type": "application/x-ndjson"},
        )
    else:
        r = CLIENT.post("/v1/decide/batch", json={"records": records, "on": "2018-09-15"})
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 5
    assert [x["index"] for x in lines[:4]] == [1, 2, 3, 4]
    assert [x["record_id"] for x in lines[:4]] == ["U1", "U2", "U3", "U4"]
    assert lines[1]["errors"][0]["code"] == "date_range" and "outcomes" in lines[1]
    assert lines[3]["problem"]["status"] == 422 and lines[3]["problem"]["title"] == "Record cannot be decided"
    assert "outcomes" in lines[0] and "outcomes" in lines[2]
    assert lines[4] == {
        "summary": {"records_in": 4, "lines_out": 4, "decisions": 3, "problems": 1, "with_field_errors": 1}
    }


def test_timeline_rules_schema_health():
    r = CLIENT.post(
        "/v1/timeline",
        json={
            "record": dict(
                REFUGEE,
                unterbringung="vorlaeufig",
                aufnahme_uab_datum="2016-03-15",
                aufenthaltstitel_datum=None,
                aufenthaltsstatus="gestattung",
                gu_pflicht_ende_datum=None,
                asylentscheidung_unanfechtbar_datum=None,
            ),
            "from": "2018-01-01",
            "to": "2018-12-31",
        },
    )
    assert r.status_code == 200
    assert r.json()["outcomes"]["anschlussunterbringung"][1]["from"] == "2018-03-16"
    rules = CLIENT.get("/v1/rules").json()
    assert rules["name"] == "pakt-fuer-integration-bw"
    assert [o["id"] for o in rules["entities"]["person"]][0] == "anschlussunterbringung"
    schema = CLIENT.get("/v1/schema/person").json()
    assert schema["properties"]["aufenthaltstitel_datum"]["x-event-date"] is True
    assert CLIENT.get("/v1/schema/nope").status_code == 404
    assert CLIENT.get("/healthz").json()["status"] == "ok"


TOKEN = "geheim-geheim-geheim-42"


def test_bearer_token_when_configured():
    guarded = TestClient(create_app(token=TOKEN, reload_seconds=None))
    assert guarded.post("/v1/decide", json={"record": REFUGEE}).status_code == 401
    assert (
        guarded.post("/v1/decide", json={"record": REFUGEE}, headers={"authorization": "Bearer x"}).status_code == 401
    )
    for scheme in ("Bearer", "bearer", "BEARER"):
        ok = guarded.post("/v1/decide", json={"record": REFUGEE}, headers={"authorization": f"{scheme} {TOKEN}"})
        assert ok.status_code == 200
    assert guarded.get("/healthz").status_code == 200


def test_issue_15_every_personal_route_needs_the_login_when_a_token_is_set():
    # Before issue 15 only /v1 was guarded: the page decided and uploaded for anyone.
    guarded = TestClient(create_app(token=TOKEN, reload_seconds=None), follow_redirects=False)
    for path in ("/", "/docs", "/openapi.json"):
        r = guarded.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/anmelden"), path
    assert guarded.post("/pruefen", data={"stichtag": "15.09.2018"}).status_code == 401
    assert guarded.post("/liste", files={"datei": ("l.csv", b"person_id\nA\n")}).status_code == 401
    # The API description for a tool: with the bearer token.
    assert guarded.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/healthz").json()["status"] == "ok"


def test_login_sets_a_strict_session_cookie_and_forms_need_its_csrf_token():
    import re

    guarded = TestClient(create_app(token=TOKEN, reload_seconds=None), follow_redirects=False)
    page = guarded.get("/anmelden?weiter=/")
    assert page.status_code == 200 and 'name="schluessel"' in page.text
    wrong = guarded.post("/anmelden", data={"schluessel": "falsch", "weiter": "/"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    # An open redirect is not offered: a foreign target becomes /.
    r = guarded.post("/anmelden", data={"schluessel": TOKEN, "weiter": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie  # plain http on loopback; behind https (or --secure-cookie) it is set
    form = guarded.get("/")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    data = {
        "stichtag": "15.09.2018",
        "aufenthaltsstatus": "fluechtling",
        "aufenthaltstitel_datum__art": "datum",
        "aufenthaltstitel_datum": "02.05.2017",
        "unterbringung": "anschluss",
    }
    assert guarded.post("/pruefen", data=data).status_code == 403  # no CSRF token
    assert guarded.post("/pruefen", data=dict(data, csrf=csrf + "x")).status_code == 403
    ok = guarded.post("/pruefen", data=dict(data, csrf=csrf))
    assert ok.status_code == 200 and "Aktenvermerk" in ok.text
    roster = (ROOT / "examples" / "roster_landkreis_beispiel.csv").read_bytes()
    files = {"datei": ("liste.csv", roster, "text/csv")}
    assert guarded.post("/liste", data={"stichtag": "15.09.2018"}, files=files).status_code == 403
    r = guarded.post("/liste", data={"stichtag": "15.09.2018", "csrf": csrf}, files=files)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    # A forged cookie is no session; logout ends the real one.
    forged = TestClient(APP_WITH(TOKEN), follow_redirects=False)
    forged.cookies.set("eligibility_sitzung", "9999999999.abc.def")
    assert forged.get("/").status_code == 303
    out = guarded.post("/abmelden", data={"csrf": csrf})
    assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]


def APP_WITH(token):
    return create_app(token=token, reload_seconds=None)


def test_short_tokens_and_unreadable_token_files_refuse_to_start(tmp_path, monkeypatch):
    from eligibility.service.security import ServiceConfigError, token_from

    with pytest.raises(ServiceConfigError, match="zu kurz"):
        create_app(token="x", reload_seconds=None)
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n", encoding="utf-8")
    monkeypatch.setenv("ELIGIBILITY_TOKEN_FILE", str(path))
    monkeypatch.delenv("ELIGIBILITY_TOKEN", raising=False)
    assert token_from("ELIGIBILITY_TOKEN") == TOKEN
    monkeypatch.setenv("ELIGIBILITY_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ServiceConfigError, match="keine lesbare Datei"):
        token_from("ELIGIBILITY_TOKEN")


def test_binding_beyond_loopback_without_token_is_refused():
    from eligibility.service.security import exposure_error, is_loopback

    assert warn_if_exposed("127.0.0.1", None) is None
    assert warn_if_exposed("0.0.0.0", "t") is None
    assert "ohne Zugangsschlüssel" in warn_if_exposed("0.0.0.0", None)
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST")] == [True] * 6
    assert [is_loopback(h) for h in ("127.evil.example", "0.0.0.0", "10.0.0.1", "::", "localhost.evil")] == [False] * 5
    assert "--allow-unauthenticated" in exposure_error("127.evil.example", None, False)
    assert exposure_error("0.0.0.0", None, True) is None


def test_openapi_declares_the_bearer_scheme():
    doc = CLIENT.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_hot_reload_brings_a_new_hash_and_keeps_serving(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    app = create_app(rules, reload_seconds=None)
    client = TestClient(app)
    before = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()["ruleset"]["sha256"]
    path = rules / "ruleset.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2026.2"'), encoding="utf-8"
    )
    # A change is read once the files hold still: the first poll only notes it (issue 15).
    assert app.state.holder.check_reload() is False
    assert app.state.holder.check_reload() is True
    after = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()["ruleset"]
    assert after["sha256"] != before and after["version"] == "2026.2"
    # A broken edit keeps the last good rules and reports it in /healthz.
    path.write_text("ruleset: [broken", encoding="utf-8")
    assert app.state.holder.check_reload() is False
    assert app.state.holder.check_reload() is False
    assert client.post("/v1/decide", json={"record": REFUGEE}).status_code == 200
    assert client.get("/healthz").json()["reload_error"] is True


def test_logs_carry_no_personal_fields(caplog):
    caplog.set_level(logging.DEBUG)
    CLIENT.post("/v1/decide", json={"record": dict(REFUGEE, gemeinde="Geheimstadt"), "on": "2018-09-15"})
    CLIENT.post("/v1/decide", json={"record": {"aufnahme_uab_datum": "32.13.2016", "gemeinde": "Geheimstadt"}})
    assert "Geheimstadt" not in caplog.text and "32.13.2016" not in caplog.text


def test_openapi_is_generated_and_checked_in():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == CLIENT.get("/openapi.json").json(), "regenerate docs/openapi.json (see docs/service.md)"


def test_caseworker_page_without_javascript():
    # Issue 16: "/" is the interview, the full form lives at /formular ("alle Angaben auf
    # einmal"). Both work without JavaScript (plain form POSTs); the interview carries one
    # inline script for updating in place, allowed by its hash, and nothing from outside.
    page = CLIENT.get("/")
    assert page.status_code == 200 and '<form method="post" action="/interview"' in page.text
    page = CLIENT.get("/formular")
    assert page.status_code == 200 and '<form method="post" action="/pruefen"' in page.text
    assert "<script" not in page.text and "http://" not in page.text.replace("http://www.w3.org", "")
    r = CLIENT.post(
        "/pruefen",
        data={
            "stichtag": "15.09.2018",
            "aufenthaltsstatus": "fluechtling",
            "aufenthaltstitel_datum__art": "datum",
            "aufenthaltstitel_datum": "02.05.2017",
            "unterbringung": "anschluss",
        },
    )
    assert r.status_code == 200 and "Aktenvermerk" in r.text and Engine.load().info.sha256 in r.text
    r = CLIENT.post("/pruefen", data={"stichtag": "15.09.2018", "aufnahme_uab_datum": "31.02.2016"})
    assert r.status_code == 422 and "kein gültiges Datum" in r.text


def test_roster_upload_returns_the_evaluated_file_and_the_report():
    roster = (ROOT / "examples" / "roster_landkreis_beispiel.csv").read_bytes()
    r = CLIENT.post(
        "/liste",
        data={"stichtag": "15.09.2018", "ausgabe": "ergebnis"},
        files={"datei": ("liste.csv", roster, "text/csv")},
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = CLIENT.post(
        "/liste",
        data={"stichtag": "15.09.2018", "ausgabe": "bericht"},
        files={"datei": ("liste.csv", roster, "text/csv")},
    )
    assert r.status_code == 200 and "Zielgruppenbericht Landkreis Beispiel" in r.text


def test_the_reload_thread_picks_up_a_change_without_dropping_requests(tmp_path):
    import time

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    app = create_app(rules, reload_seconds=0.05)
    with TestClient(app) as client:  # runs the lifespan, which starts the watcher thread
        first = client.get("/healthz").json()["ruleset"]["sha256"]
        path = rules / "ruleset.yaml"
        path.write_text(
            path.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2026.9"'), encoding="utf-8"
        )
        seen = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15", "explain": False})
            assert r.status_code == 200  # every request is answered while the rules change
            seen.add(r.json()["ruleset"]["version"])
            if "2026.9" in seen:
                break
        assert "2026.9" in seen and client.get("/healthz").json()["ruleset"]["sha256"] != first


def test_a_crash_answers_a_problem_without_traceback_and_logs_it_only_at_debug(monkeypatch, caplog):
    from eligibility.engine import Engine

    def broken(self, *args, **kwargs):
        raise RuntimeError("Geheimstadt")  # a message that quotes a value of the record

    monkeypatch.setattr(Engine, "decide_data", broken)
    client = TestClient(create_app(reload_seconds=None), raise_server_exceptions=False)
    caplog.set_level(logging.INFO)
    r = client.post("/v1/decide", json={"record": REFUGEE})
    assert r.status_code == 500 and r.json()["title"] == "Internal error"
    assert "Traceback" not in r.text and "Geheimstadt" not in r.text
    assert "internal error: RuntimeError" in caplog.text and "Geheimstadt" not in caplog.text
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    client.post("/v1/decide", json={"record": REFUGEE})
    assert "Traceback" in caplog.text  # --log-level debug: the whole story, for the operator only


def test_a_stichtag_at_the_end_of_the_calendar_is_a_form_problem_not_a_500():
    # Issue 15: /pruefen with Stichtag 31.12.9999 answered 500.
    client = TestClient(create_app(reload_seconds=None), raise_server_exceptions=False)
    for day in ("31.12.9999", "01.01.9990"):
        r = client.post("/pruefen", data={"stichtag": day, "aufenthaltsstatus": "fluechtling"})
        assert r.status_code == 422 and "damit lässt sich nicht rechnen" in r.text, day
    r = client.post("/v1/decide", json={"record": REFUGEE, "on": "9999-12-31"})
    assert r.status_code < 500 and r.headers["content-type"] == "application/problem+json"

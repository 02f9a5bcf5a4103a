"""`eligibility log …` and `check --rules-hash` (issue 17): the decision log from the
command line, against a log filled through `DecisionLog.record` as the service fills it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import create_engine, delete, update

from eligibility.apps.synth import records as synth_records
from eligibility.cli.main import main
from eligibility.decisionlog import NewDecision, open_log
from eligibility.decisionlog.reproduce import decision_doc
from eligibility.decisionlog.schema import entries
from eligibility.decisionlog.store import normalized
from eligibility.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
VORHER = ROOT / "examples" / "amendments" / "ukraine_2022" / "vorher"
IM = "Zielgruppe Integrationsmanagement"
FORMULA = '=HYPERLINK("http://x.example","klick")'


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def _plain(rec):
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in rec.items()}


def _example(name):
    doc = yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))
    return _plain(doc["record"]), str(doc.get("on", doc.get(True)))  # YAML 1.1 reads on: as true


def fill(url, engine, items, source="cli", form="explained", user=None, aktenzeichen=None):
    """Log decisions as the service does: the document comes from `decision_doc`."""
    with open_log(url) as log:
        return log.record(
            engine,
            [
                NewDecision(
                    decision=decision_doc(engine, facts, on, None, form),
                    facts=facts,
                    source=source,
                    form=form,
                    user=user,
                    aktenzeichen=aktenzeichen,
                )
                for facts, on in items
            ],
        )


@pytest.fixture(scope="module")
def engine():
    return Engine.load()


@pytest.fixture
def filled(log_url, engine):
    examples = [_example(n) for n in ("ukraine_in_gu.yaml", "geduldet_in_gu.yaml", "anerkannter_fluechtling.yaml")]
    ids = fill(log_url, engine, examples, source="page", user="frau.muster", aktenzeichen="AZ-17/1")
    synth = [(_plain(r), "2022-06-01") for r in synth_records(5, seed=7, reference=dt.date(2022, 6, 1))]
    synth[0][0]["person_id"] = FORMULA
    ids += fill(log_url, engine, synth, source="batch", form="batch")
    return log_url, ids


# ---------------------------------------------------------------- the log option


def test_without_a_log_the_commands_say_so_and_exit_2(monkeypatch):
    monkeypatch.delenv("ELIGIBILITY_LOG", raising=False)
    for args in (["log", "list"], ["log", "verify"], ["log", "show", "x"]):
        r = run(*args)
        assert r.exit_code == 2, r.output
        assert "Kein Entscheidungsprotokoll angegeben" in r.output and "Traceback" not in r.output
    r = run("log", "verify", "--lang", "en")
    assert r.exit_code == 2 and "no decision log given" in r.output


def test_the_environment_names_the_log(filled, monkeypatch):
    url, ids = filled
    monkeypatch.setenv("ELIGIBILITY_LOG", url)
    r = run("log", "list")
    assert r.exit_code == 0, r.output
    assert ids[0] in r.output


def test_every_log_command_has_help_in_both_languages():
    import click

    from eligibility.cli import i18n
    from eligibility.cli.decisionlog import log_group

    for lang in ("de", "en"):
        i18n.activate(lang)
        try:
            for name, cmd in [("log", log_group), *log_group.commands.items()]:
                assert (cmd.help or "").strip(), name
                for p in cmd.params:
                    assert isinstance(p, click.Parameter)
                    assert (getattr(p, "help", None) or "").strip(), f"{name} {p.name}"
        finally:
            i18n.activate("de")
    for name, cmd in [("log", log_group), *log_group.commands.items()]:
        for p in [cmd, *cmd.params]:
            pair = getattr(p, "_help_pair", None) or (getattr(p, "_help_de", None), getattr(p, "_help_en", None))
            assert pair[0] and pair[1] and pair[0] != pair[1], f"{name} {getattr(p, 'name', '')}"
    de = run("log", "export", "--help")
    assert de.exit_code == 0 and "Aufruf:" in de.output and "Optionen:" in de.output
    en = run("log", "export", "--help", "--lang", "en")
    assert "Usage:" in en.output and "Aufruf" not in en.output


# ---------------------------------------------------------------- list and show


def test_list_newest_first_with_words_and_filters(filled):
    url, ids = filled
    r = run("log", "list", "--log", url)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:2] == ["Entscheidungs-Nr.", "Zeitpunkt"]
    assert len(lines) == 1 + len(ids)
    assert lines[1].startswith(ids[-1]) and lines[-1].startswith(ids[0])  # newest first
    assert "BEISPIEL-003" in r.output and "01.06.2022" in r.output
    assert ": ja" in r.output and ": nein" in r.output
    r = run("log", "list", "--log", url, "--record-id", "BEISPIEL-003")
    assert r.exit_code == 0 and len(r.output.splitlines()) == 2 and ids[0] in r.output
    r = run("log", "list", "--log", url, "--limit", "2", "--format", "json")
    docs = [json.loads(line) for line in r.output.splitlines()]
    assert [d["decision_id"] for d in docs] == ids[-1:-3:-1]
    assert set(docs[0]) >= {"record_id", "on", "created_at", "ruleset", "outcomes"}
    today = dt.datetime.now(dt.UTC).date()
    r = run("log", "list", "--log", url, "--to", (today - dt.timedelta(days=2)).isoformat())
    assert "Keine Entscheidungen gefunden" in r.output
    r = run("log", "list", "--log", url, "--from", "31.02.2022")
    assert r.exit_code == 2 and "--from" in r.output


def test_show_json_is_the_stored_text_and_text_renders_it(filled, engine):
    url, ids = filled
    with open_log(url) as log:
        stored = log.get(ids[0])
    r = run("log", "show", ids[0], "--log", url, "--format", "json")
    assert r.exit_code == 0
    assert r.output == stored.decision_text + "\n"
    r = run("log", "show", ids[0], "--log", url)
    assert r.exit_code == 0, r.output
    assert "Aktenzeichen:" in r.output and "AZ-17/1" in r.output and "frau.muster" in r.output
    assert engine.info.sha256 in r.output
    assert IM in r.output
    md = run("log", "show", ids[0], "--log", url, "--format", "markdown")
    assert md.output.startswith("## Protokolleintrag") and "**Aktenzeichen:** AZ-17/1" in md.output
    r = run("log", "show", "keine-solche", "--log", url)
    assert r.exit_code == 2 and "nicht im Protokoll" in r.output


# ---------------------------------------------------------------- export


def _csv_rows(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))


def test_export_csv_xlsx_jsonl_one_row_per_entry_with_german_columns(filled, tmp_path, engine):
    url, ids = filled
    out = tmp_path / "e.csv"
    r = run("log", "export", "--log", url, "-o", out)
    assert r.exit_code == 0, r.output
    rows = _csv_rows(out)
    head = rows[0]
    for col in (
        "Entscheidungs-Nr.",
        "Zeitpunkt",
        "Quelle",
        "Bearbeiter/in",
        "Aktenzeichen",
        "Stichtag",
        "Regelwerk SHA-256",
        IM,
        f"{IM}: Begründung",
    ):
        assert col in head, col
    assert len(rows) == 1 + len(ids)
    assert [row[head.index("Entscheidungs-Nr.")] for row in rows[1:]] == ids  # log order
    first = dict(zip(head, rows[1]))
    assert first["Bearbeiter/in"] == "frau.muster" and first["Stichtag"] == "01.06.2022"
    assert first["Regelwerk SHA-256"] == engine.info.sha256
    # the formula-like id is neutralised as in the roster outputs
    ids_col = [row[1] for row in rows[1:]]
    assert "'" + FORMULA in ids_col and FORMULA not in ids_col
    again = tmp_path / "f.csv"
    run("log", "export", "--log", url, "-o", again)
    assert again.read_bytes() == out.read_bytes()

    xlsx = tmp_path / "e.xlsx"
    r = run("log", "export", "--log", url, "-o", xlsx)
    assert r.exit_code == 0, r.output
    ws = openpyxl.load_workbook(xlsx).active
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == head and len(values) == 1 + len(ids)
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert any(isinstance(c.value, str) and FORMULA in c.value for c in cells)
    again = tmp_path / "f.xlsx"
    run("log", "export", "--log", url, "-o", again)
    assert again.read_bytes() == xlsx.read_bytes()

    jl = tmp_path / "e.jsonl"
    r = run("log", "export", "--log", url, "--format", "jsonl", "-o", jl, "--record-id", "BEISPIEL-003")
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in jl.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1 and lines[0]["decision_id"] == ids[0]
    with open_log(url) as log:
        assert lines[0]["decision"] == log.get(ids[0]).decision


def test_export_under_two_rule_sets_uses_the_latest_columns(log_url, engine, tmp_path):
    old = Engine.load(VORHER)
    rec, on = _example("ukraine_in_gu.yaml")
    ids = fill(log_url, old, [(rec, on)]) + fill(log_url, engine, [(rec, on)])
    out = tmp_path / "e.csv"
    assert run("log", "export", "--log", log_url, "-o", out).exit_code == 0
    rows = _csv_rows(out)
    head = rows[0]
    sha = head.index("Regelwerk SHA-256")
    assert [r[sha] for r in rows[1:]] == [old.info.sha256, engine.info.sha256]
    assert [r[head.index("Entscheidungs-Nr.")] for r in rows[1:]] == ids
    im = head.index(IM)
    assert [r[im] for r in rows[1:]] == ["nein", "ja"]  # the Erlass of 11.03.2022


# ---------------------------------------------------------------- verify, reproduce


def _db(url):
    return create_engine(normalized(url))


def test_verify_ok_then_an_edited_row_and_a_deleted_row(filled):
    url, ids = filled
    r = run("log", "verify", "--log", url)
    assert r.exit_code == 0, r.output
    assert "Kopf der Kette: " in r.output and f"{len(ids)} Einträge" in r.output
    db = _db(url)
    with db.begin() as conn:
        conn.execute(update(entries).where(entries.c.seq == 3).values(decision='{"outcomes":{}}'))
    r = run("log", "verify", "--log", url)
    assert r.exit_code == 1 and "Eintrag 3" in r.output
    r = run("log", "verify", "--log", url, "--lang", "en")
    assert r.exit_code == 1 and "entry 3" in r.output and "Head of the chain" in r.output
    db.dispose()


def test_verify_detects_a_deleted_middle_row(filled):
    url, _ = filled
    db = _db(url)
    with db.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq == 4))
    db.dispose()
    r = run("log", "verify", "--log", url)
    assert r.exit_code == 1, r.output


def test_reproduce_after_the_rules_folder_changed(log_url, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    engine = Engine.load(rules)
    rec, on = _example("ukraine_in_gu.yaml")
    (did,) = fill(log_url, engine, [(rec, on)])
    im = rules / "person" / "integrationsmanagement.yaml"
    text = im.read_text(encoding="utf-8")
    assert "Ukraine" in text
    im.write_text(text.replace("Ukraine", "UKRAINE-GEÄNDERT"), encoding="utf-8")
    assert Engine.load(rules).info.sha256 != engine.info.sha256
    r = CliRunner().invoke(main, ["log", "reproduce", did, "--log", log_url])
    assert r.exit_code == 0, r.output
    with open_log(log_url) as log:
        assert r.stdout == log.get(did).decision_text + "\n"
    assert "UKRAINE-GEÄNDERT" not in r.stdout
    # check --rules-hash decides with the stored (old) rules, not the edited folder
    case = tmp_path / "p.json"
    case.write_text(json.dumps(rec), encoding="utf-8")
    r = run("check", case, "--on", on, "--rules-hash", engine.info.sha256[:16], "--log", log_url, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["ruleset"]["sha256"] == engine.info.sha256
    assert "UKRAINE-GEÄNDERT" not in r.output
    r = run("timeline", case, "--rules-hash", engine.info.sha256, "--log", log_url, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ruleset"]["sha256"] == engine.info.sha256
    r = run("check", case, "--rules-hash", "abc", "--rules", rules, "--log", log_url)
    assert r.exit_code == 2 and "schließt --rules" in r.output
    r = run("check", case, "--rules-hash", "0" * 12, "--log", log_url)
    assert r.exit_code == 2 and "nicht (eindeutig) gespeichert" in r.output


def test_reproduce_of_an_altered_decision_exits_1(filled):
    url, ids = filled
    db = _db(url)
    with open_log(url) as log:
        text = log.get(ids[0]).decision_text
    with db.begin() as conn:
        conn.execute(
            update(entries).where(entries.c.decision_id == ids[0]).values(decision=text.replace("true", "false", 1))
        )
    db.dispose()
    r = run("log", "reproduce", ids[0], "--log", url)
    assert r.exit_code == 1 and "NICHT gleich" in r.output


# ---------------------------------------------------------------- recheck


def test_recheck_on_the_ukraine_amendment(log_url, tmp_path):
    old = Engine.load(VORHER)
    day = dt.date(2022, 6, 1)
    recs = [_plain(r) for r in synth_records(400, seed=3, reference=day)]
    ukr = [r for r in recs if r["aufenthaltsstatus"] == "schutz_24" and r["unterbringung"] == "vorlaeufig"]
    assert len(ukr) >= 3
    fill(log_url, old, [(r, day.isoformat()) for r in recs[:200]], source="batch", form="batch")
    fill(log_url, old, [(r, day.isoformat()) for r in recs[200:]])
    # an earlier decision of a person is not re-checked, only the latest
    fill(log_url, old, [(recs[0], "2019-01-01")])
    # a record whose date cannot be read is one person, counted with its reason
    bad = {**recs[5], "person_id": "KAPUTT-1", "zugang_bw_datum": "31.02.2022"}
    fill(log_url, old, [(bad, day.isoformat())])
    report, work = tmp_path / "r.html", tmp_path / "w.csv"
    r = run("log", "recheck", "--log", log_url, "--rules", ROOT / "rules", "--report", report, "--worklist", work)
    assert r.exit_code == 0, r.output
    assert "ursprünglicher Stichtag" in r.output and "401 Personen" in r.output and "1 mit Fehlern" in r.output
    rows = _csv_rows(work)
    assert rows[0] == [
        "Person",
        "Entscheidungs-Nr.",
        "Stichtag",
        "Ergebnis",
        "vorher",
        "nachher",
        "Regel",
        "Rechtsgrundlage",
        "Hinweis",
    ]
    assert [row[0] for row in rows if row[3] == "Fehler"] == ["KAPUTT-1"]
    assert "zugang_bw_datum" in rows[-1][8]
    flips = [row for row in rows[1:] if row[3] != "Fehler"]
    assert flips, "Ukrainians in GU flip"
    new = Engine.load()
    label = next(
        rr.spec.label.de for rr in new.entity().outcomes["integrationsmanagement"].rules if rr.id == "im.ukraine"
    )
    assert {f[6] for f in flips} == {label}
    assert all(f[3] == IM and f[4] == "nein" for f in flips)
    by_id = {r["person_id"]: r for r in recs}
    for f in flips:
        assert by_id[f[0]]["aufenthaltsstatus"] in ("schutz_24", "", None) or by_id[f[0]]["herkunftsland"] == "UKR"
    assert {u["person_id"] for u in ukr} <= {f[0] for f in flips if f[5] == "ja"}
    assert "Je Ursache:\n  im.ukraine: " in r.output
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # the API's function gives every person exactly once, and "today" compares like with like
    from eligibility.apps.recheck import recheck

    with open_log(log_url) as log:
        res = recheck(log, new, "rules", "today", today=dt.date(2023, 1, 10))
    assert res.persons == 401 and res.mode == "today" and len(res.errors) == 1
    assert {f.flip.cause.id for f in res.flips if f.flip.cause} <= {"im.ukraine"}
    assert all(f.flip.cause is not None for f in res.flips)
    x = tmp_path / "w.xlsx"
    r = run("log", "recheck", "--log", log_url, "--rules", ROOT / "rules", "--on", "today", "--worklist", x)
    assert r.exit_code == 0 and "heute" in r.output
    ws = openpyxl.load_workbook(x).active
    assert next(ws.iter_rows(values_only=True))[0] == "Person"


def test_recheck_with_the_same_rules_flips_nothing(filled):
    url, ids = filled
    r = run("log", "recheck", "--log", url, "--rules", ROOT / "rules")
    assert r.exit_code == 0, r.output
    assert f"{len(ids)} Personen: 0 mit geändertem Ergebnis" in r.output


# ---------------------------------------------------------------- erase


def test_erase_leaves_no_trace_of_the_person(filled, tmp_path):
    url, _ = filled
    r = run("log", "erase", "--log", url, "--record-id", "BEISPIEL-003", input="n\n")
    assert r.exit_code == 1 and "Nichts gelöscht" in r.output
    r = run("log", "erase", "--log", url, "--record-id", "BEISPIEL-003", "--yes")
    assert r.exit_code == 0, r.output
    assert "1 Eintrag geleert" in r.output and "schutz_24" not in r.output
    r = run("log", "list", "--log", url, "--record-id", "BEISPIEL-003")
    assert "Keine Entscheidungen gefunden" in r.output
    r = run("log", "verify", "--log", url)
    assert r.exit_code == 0 and "1 gelöscht" in r.output, r.output
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        for f in [path, *path.parent.glob(path.name + "-*")]:
            assert b"BEISPIEL-003" not in f.read_bytes(), f


def test_a_mistyped_log_path_is_an_error_not_a_new_log(tmp_path):
    missing = tmp_path / "tippfehler.db"
    r = run("log", "verify", "--log", f"sqlite:///{missing}")
    assert r.exit_code == 2 and "gibt es nicht" in r.output and not missing.exists()
    r = run("--lang", "en", "log", "list", "--log", "garbage")
    assert r.exit_code == 2 and "not a database URL" in r.output
    r = run(
        "check", str(ROOT / "examples" / "geduldet_in_gu.yaml"), "--rules-hash", "", "--log", f"sqlite:///{missing}"
    )
    assert r.exit_code == 2 and not missing.exists()


def test_a_stored_rule_set_whose_files_were_changed_is_a_clear_error(filled):
    from eligibility.decisionlog.schema import rule_files

    url, ids = filled
    eng = create_engine(normalized(url))
    with eng.begin() as conn:
        conn.execute(update(rule_files).values(content=b"ruleset: {}\n"))
    eng.dispose()
    r = run("log", "reproduce", ids[0], "--log", url)
    assert r.exit_code == 2 and "Gespeichertes Regelwerk lässt sich nicht laden" in r.output
    assert "Traceback" not in r.output
    r = run("log", "verify", "--log", url)
    assert r.exit_code == 1 and "Regeldateien wurden verändert" in r.output

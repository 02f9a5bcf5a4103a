"""The decision log's store: chain, snapshots, erasure, retention and migrations, against
SQLite and a real PostgreSQL server (the `log_url` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, inspect, select, update

from eligibility.decisionlog import DecisionLog, LogError, NewDecision
from eligibility.decisionlog.reproduce import decision_doc, reproduce
from eligibility.decisionlog.schema import entries, metadata
from eligibility.decisionlog.store import normalized
from eligibility.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
ON = "2018-09-15"


def person(pid: str, **more: str) -> dict[str, str]:
    rec = {
        "person_id": pid,
        "aufenthaltsstatus": "fluechtling",
        "aufenthaltstitel_datum": "2017-05-02",
        "unterbringung": "anschluss",
    }
    rec.update(more)
    return rec


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def log_one(log: DecisionLog, engine: Engine, rec: dict[str, str], form: str = "explained", **kw: str) -> str:
    doc = decision_doc(engine, rec, ON, None, form)
    return log.record(engine, [NewDecision(doc, rec, "api", form=form, **kw)])[0]


def raw_url(log_url: str) -> str:
    return normalized(log_url)


def test_decisions_are_stored_found_and_chained(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        first = log_one(log, engine, person("P-1"), aktenzeichen="AZ 1/26", user="mk")
        ids = log.record(
            engine,
            [
                NewDecision(
                    decision_doc(engine, person(f"P-{i}"), ON, None, "batch"), person(f"P-{i}"), "batch", form="batch"
                )
                for i in range(2, 7)
            ],
        )
        assert len(set(ids + [first])) == 6
        got = log.get(first)
        assert got is not None
        assert (got.record_id, got.on, got.aktenzeichen, got.user, got.source) == ("P-1", ON, "AZ 1/26", "mk", "api")
        assert got.ruleset_sha == engine.info.sha256
        assert got.facts == person("P-1")
        assert got.decision == engine.decide_data(person("P-1"), ON)
        assert got.outcomes["integrationsmanagement"]["value"] is not None
        page = log.page(limit=4)
        assert [e.record_id for e in page.items] == ["P-6", "P-5", "P-4", "P-3"]
        rest = log.page(limit=4, before=page.next_before)
        assert [e.record_id for e in rest.items] == ["P-2", "P-1"] and rest.next_before is None
        assert [e.record_id for e in log.page(record_id="P-3").items] == ["P-3"]
        v = log.verify()
        assert v.ok and (v.entries, v.decisions, v.erased) == (6, 6, 0)


def test_the_latest_decision_per_person(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        log_one(log, engine, person("A"))
        log_one(log, engine, person("B"))
        newest = log_one(log, engine, person("A", unterbringung="vorlaeufig"))
        latest = {e.record_id: e.decision_id for e in log.latest()}
        assert latest["A"] == newest and set(latest) == {"A", "B"}


def test_every_stored_form_reproduces_byte_for_byte(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        for form in ("explained", "plain", "batch"):
            did = log_one(log, engine, person(f"F-{form}"), form=form)
            r = reproduce(log, did)
            assert r.identical, form
            assert r.text == log.get(did).decision_text  # type: ignore[union-attr]


def test_reproduce_uses_the_stored_rules_after_the_rules_changed(log_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    old = Engine.load(rules)
    with DecisionLog(log_url) as log:
        did = log_one(log, old, person("R-1"))
        stored = log.get(did)
        assert stored is not None
        # An amendment lands: a label and a period change in the directory the service reads.
        text = (rules / "person" / "integrationsmanagement.yaml").read_text(encoding="utf-8")
        (rules / "person" / "integrationsmanagement.yaml").write_text(
            text.replace("24 Monate", "36 Monate").replace("label:", "label: ", 1), encoding="utf-8"
        )
        new = Engine.load(rules)
        assert new.info.sha256 != old.info.sha256
        r = reproduce(log, did)
        assert r.identical
        # Engine.load from the snapshot decides as the old rules did, on purpose.
        again = Engine.load(rules_hash=old.info.sha256[:12], log=log_url)
        assert again.info.sha256 == old.info.sha256
        assert again.decide_data(person("R-1"), ON) == stored.decision
    with pytest.raises(LogError):
        Engine.load(rules_hash="ffffffffffff", log=log_url)


def test_snapshots_are_content_addressed(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        for i in range(3):
            log_one(log, engine, person(f"S-{i}"))
        with_overlay = Engine.load(overlays=[ROOT / "rules" / "overlays" / "goeppingen.yaml"])
        log_one(log, with_overlay, person("S-ov"))
        shas = [s for s, *_ in log.snapshots()]
        assert sorted(shas) == sorted({engine.info.sha256, with_overlay.info.sha256})
        snap = log.snapshot(with_overlay.info.sha256)
        assert snap is not None and snap.files == with_overlay.compiled.model.raw_files
        assert log.engine_for(with_overlay.info.sha256).info.overlays == with_overlay.info.overlays
        # The files both rule sets share are stored once.
        eng = create_engine(raw_url(log_url))
        with eng.connect() as conn:
            n_files = conn.exec_driver_sql("SELECT count(*) FROM rule_files").scalar()
        eng.dispose()
        assert n_files == len(engine.compiled.model.raw_files) + 1


def test_verify_detects_an_edited_a_removed_and_an_inserted_entry(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        ids = [log_one(log, engine, person(f"V-{i}")) for i in range(5)]
        assert log.verify().ok
        eng = create_engine(raw_url(log_url))
        with eng.begin() as conn:
            stored = conn.execute(select(entries.c.decision).where(entries.c.decision_id == ids[2])).scalar_one()
            conn.execute(
                update(entries)
                .where(entries.c.decision_id == ids[2])
                .values(decision=stored.replace('"value":true', '"value":false', 1))
            )
        v = log.verify()
        assert not v.ok and [p.decision_id for p in v.problems] == [ids[2]]
        assert "verändert" in v.problems[0].de and "changed" in v.problems[0].en
        with eng.begin() as conn:
            conn.execute(update(entries).where(entries.c.decision_id == ids[2]).values(decision=stored))
        assert log.verify().ok
        with eng.begin() as conn:
            conn.execute(delete(entries).where(entries.c.decision_id == ids[1]))
        v = log.verify()
        assert not v.ok and v.problems[0].decision_id == ids[2] and "Verkettung" in v.problems[0].de
        eng.dispose()


def test_erasure_leaves_no_trace_of_the_person(log_url: str, engine: Engine) -> None:
    secret = "PERSON-4711-ERASE"
    with DecisionLog(log_url) as log:
        keep = log_one(log, engine, person("K-1"))
        for _ in range(3):
            log_one(log, engine, person(secret), aktenzeichen="AZ-ERASE-9", user="bearbeiterin")
        log_one(log, engine, person("K-2"))
        gone = log.erase(secret)
        assert gone.count == 3
        assert log.page(record_id=secret).items == ()
        assert log.erase(secret).count == 0
        v = log.verify()
        assert v.ok and v.erased == 3 and v.entries == 6
        assert reproduce(log, keep).identical
        eng = create_engine(raw_url(log_url))
        with eng.connect() as conn:
            rows = conn.execute(select(entries)).all()
        eng.dispose()
        assert not any(secret in str(tuple(r)) or "AZ-ERASE-9" in str(tuple(r)) for r in rows)
        erasure = [r for r in rows if r._mapping["kind"] == "erasure"]
        assert len(erasure) == 1 and '"erased":3' in erasure[0]._mapping["note"]
    if log_url.startswith("sqlite"):
        db = Path(log_url.removeprefix("sqlite:///"))
        for f in db.parent.iterdir():
            if f.name.startswith(db.name):
                data = f.read_bytes()
                assert secret.encode() not in data and b"AZ-ERASE-9" not in data, f.name


def test_verify_detects_data_put_back_into_an_erased_entry(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        did = log_one(log, engine, person("E-1"))
        log.erase("E-1")
        eng = create_engine(raw_url(log_url))
        with eng.begin() as conn:
            conn.execute(update(entries).where(entries.c.decision_id == did).values(record_id="E-1"))
        eng.dispose()
        v = log.verify()
        assert not v.ok and "wieder Daten" in v.problems[0].de


def test_retention_empties_what_is_older_than_the_period(log_url: str, engine: Engine) -> None:
    clock = Clock()
    with DecisionLog(log_url, clock=clock) as log:
        old = log_one(log, engine, person("T-old"))
        clock.now += dt.timedelta(days=40)
        young = log_one(log, engine, person("T-young"))
        clock.now += dt.timedelta(days=1)
        done = log.apply_retention(30)
        assert done.count == 1
        assert log.get(old).erased_by == done.seq  # type: ignore[union-attr]
        assert log.get(young).erased_by is None  # type: ignore[union-attr]
        assert log.apply_retention(30).count == 0
        assert log.verify().ok
        with pytest.raises(ValueError):
            log.apply_retention(0)


def test_concurrent_writers_share_commits_and_keep_one_chain(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        got: list[str] = []
        lock = threading.Lock()

        def work(k: int) -> None:
            for i in range(10):
                did = log_one(log, engine, person(f"C-{k}-{i}"))
                with lock:
                    got.append(did)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(got)) == 80
        v = log.verify()
        assert v.ok and v.decisions == 80
    # A second process's view (a new log object on the same database) continues the chain.
    with DecisionLog(log_url) as again:
        log_one(again, engine, person("C-next"))
        assert again.verify().ok


def test_the_migration_creates_exactly_the_declared_schema(log_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    DecisionLog(log_url).close()
    eng = create_engine(raw_url(log_url))
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    eng.dispose()
    assert diff == []
    assert {"decision_log", "ruleset_snapshots", "rule_files", "alembic_version"} <= tables
    DecisionLog(log_url).close()  # opening again migrates nothing and keeps the data


def test_the_sqlite_file_is_for_its_owner_only(tmp_path: Path, engine: Engine) -> None:
    db = tmp_path / "sub" / "log.db"
    with DecisionLog(f"sqlite:///{db}") as log:
        log_one(log, engine, person("O-1"))
    assert db.stat().st_mode & 0o777 == 0o600


def test_unsupported_and_unreachable_logs_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(LogError) as exc:
        DecisionLog("mysql://x@localhost/db")
    assert "sqlite" in exc.value.de
    with pytest.raises(LogError) as exc:
        DecisionLog("postgresql://nobody:geheim@127.0.0.1:1/none")
    assert "geheim" not in exc.value.de and "geheim" not in exc.value.en
    assert normalized("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_a_failed_write_stores_the_snapshot_again_with_the_next_decision(
    log_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eligibility.decisionlog import chain

    real = chain.public_sha
    calls = {"n": 0}

    def failing_once(row: dict) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full")
        return real(row)

    with DecisionLog(log_url) as log:
        monkeypatch.setattr(chain, "public_sha", failing_once)
        with pytest.raises(LogError):
            log_one(log, engine, person("W-1"))
        did = log_one(log, engine, person("W-2"))
        monkeypatch.setattr(chain, "public_sha", real)
        assert reproduce(log, did).identical
        assert [s for s, *_ in log.snapshots()] == [engine.info.sha256]
        assert log.verify().ok


def test_facts_with_nan_are_logged_and_reproduced(log_url: str, engine: Engine) -> None:
    rec = {**person("N-1"), "notiz": float("nan"), "zahl": float("inf")}
    with DecisionLog(log_url) as log:
        did = log_one(log, engine, rec)
        got = log.get(did)
        assert got is not None and got.facts["zahl"] == float("inf")
        assert reproduce(log, did).identical


def test_verify_detects_edits_of_what_an_erased_entry_still_shows(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        did = log_one(log, engine, person("X-1"))
        log_one(log, engine, person("X-2"))
        log.erase("X-1")
        assert log.verify().ok
        eng = create_engine(raw_url(log_url))
        for column, value in (("created_at", "2020-01-01T00:00:00.000000Z"), ("source", "page")):
            with eng.begin() as conn:
                old = conn.execute(select(entries.c[column]).where(entries.c.decision_id == did)).scalar_one()
                conn.execute(update(entries).where(entries.c.decision_id == did).values({column: value}))
            v = log.verify()
            assert not v.ok and v.problems[0].decision_id == did, column
            with eng.begin() as conn:
                conn.execute(update(entries).where(entries.c.decision_id == did).values({column: old}))
        with eng.begin() as conn:
            conn.execute(update(entries).where(entries.c.decision_id == did).values(note='{"record_id":"X-1"}'))
        assert "wieder Daten" in log.verify().problems[0].de
        with eng.begin() as conn:
            conn.execute(update(entries).where(entries.c.decision_id == did).values(note=None))
            conn.execute(update(entries).where(entries.c.kind == "erasure").values(note="kein json"))
        assert not log.verify().ok  # reported, not raised
        eng.dispose()


def test_verify_checks_the_stored_rule_files(log_url: str, engine: Engine) -> None:
    from eligibility.decisionlog.schema import rule_files

    with DecisionLog(log_url) as log:
        log_one(log, engine, person("Y-1"))
        assert log.verify().ok
        eng = create_engine(raw_url(log_url))
        with eng.begin() as conn:
            blob = conn.execute(select(rule_files.c.sha256).limit(1)).scalar_one()
            conn.execute(update(rule_files).where(rule_files.c.sha256 == blob).values(content=b"ruleset: {}\n"))
        eng.dispose()
        v = log.verify()
        assert not v.ok and "Regeldateien wurden verändert" in v.problems[0].de


def test_commands_that_read_a_log_never_create_one(tmp_path: Path) -> None:
    with pytest.raises(LogError) as exc:
        DecisionLog(f"sqlite:///{tmp_path}/typo.db", create=False)
    assert "gibt es nicht" in exc.value.de
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(LogError):
        DecisionLog("sqlite://")  # in memory: lost on exit
    with pytest.raises(LogError):
        DecisionLog("garbage")
    with pytest.raises(LogError) as exc:
        DecisionLog("postgresql://u:s3cret@host:abc/db")
    assert "s3cret" not in exc.value.de + exc.value.en


def test_a_rules_hash_prefix_must_be_long_enough(log_url: str, engine: Engine) -> None:
    with DecisionLog(log_url) as log:
        log_one(log, engine, person("H-1"))
        assert log.find_snapshot("") is None and log.find_snapshot("670d") is None
        assert log.find_snapshot(engine.info.sha256[:8]) == engine.info.sha256


def test_a_file_readable_by_others_is_narrowed_to_its_owner(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    db.touch(mode=0o644)
    DecisionLog(f"sqlite:///{db}").close()
    assert db.stat().st_mode & 0o777 == 0o600


def test_each_entry_records_its_chain_format_and_verify_refuses_an_unknown_one(log_url: str, engine: Engine) -> None:
    from eligibility.decisionlog import chain

    with DecisionLog(log_url) as log:
        ids = [log_one(log, engine, person(f"F-{i}")) for i in range(3)]
        eng = create_engine(raw_url(log_url))
        with eng.begin() as conn:
            formats = conn.execute(select(entries.c.chain_format).order_by(entries.c.seq)).scalars().all()
            assert formats == [chain.FORMAT] * 3
            conn.execute(update(entries).where(entries.c.decision_id == ids[1]).values(chain_format=99))
        v = log.verify()  # the entry still verifies by format 1: its number was changed
        assert [p.decision_id for p in v.problems] == [ids[1]]
        assert "Kettenformat des Eintrags wurde verändert" in v.problems[0].de
        assert "chain format was changed" in v.problems[0].en
        with eng.begin() as conn:  # as a newer release's entry would look: other hashes
            conn.execute(update(entries).where(entries.c.decision_id == ids[1]).values(content_sha="f" * 64))
        v = log.verify()
        assert [p.decision_id for p in v.problems] == [ids[1]]
        assert "unbekannten Kettenformat 99" in v.problems[0].de and "chain format 99" in v.problems[0].en
        with eng.begin() as conn:  # the link to it is still checked whatever its format
            conn.execute(update(entries).where(entries.c.decision_id == ids[2]).values(prev_sha="0" * 64))
        v = log.verify()
        assert [p.decision_id for p in v.problems][:2] == [ids[1], ids[2]]
        assert any("Verkettung" in p.de for p in v.problems if p.decision_id == ids[2])
        eng.dispose()


def test_a_log_from_before_the_chain_format_is_upgraded_and_still_verifies(log_url: str, engine: Engine) -> None:
    """Entries written at revision 0001 (no format column) were made by format 1's rules."""
    from alembic import command
    from alembic.config import Config

    with DecisionLog(log_url) as log:
        for i in range(3):
            log_one(log, engine, person(f"U-{i}"))
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "src/eligibility/decisionlog/migrations"))
    eng = create_engine(raw_url(log_url))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with eng.connect() as conn:
        assert "chain_format" not in {c["name"] for c in inspect(conn).get_columns("decision_log")}
    eng.dispose()
    with DecisionLog(log_url) as log:  # opening migrates to the head again
        v = log.verify()
        assert v.ok and v.decisions == 3
        log_one(log, engine, person("U-after"))
        assert log.verify().ok

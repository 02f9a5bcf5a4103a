"""Hot reload is all or nothing (issue 15): files edited under traffic give either the old or
the new rule set, never a mix; an emptied, half-written, FIFO or otherwise broken rule set is
refused, the last good one keeps serving and /healthz names the failure."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eligibility import Engine  # noqa: E402
from eligibility.service.app import create_app  # noqa: E402
from eligibility.service.reload import EngineHolder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REFUGEE = {
    "person_id": "R-1",
    "aufenthaltsstatus": "fluechtling",
    "aufenthaltstitel_datum": "2017-05-02",
    "unterbringung": "anschluss",
    "zugang_bw_datum": "2015-06-01",
}
PRIO = Path("person") / "prioritaet.yaml"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    dest = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", dest, ignore=shutil.ignore_patterns("overlays"))
    return dest


def _settle(holder: EngineHolder) -> bool:
    """Two polls: the first notes a change, the second (files unchanged) judges it."""
    first = holder.check_reload()
    return holder.check_reload() or first


def _codes(client: TestClient) -> set[str]:
    body = client.get("/healthz").json()
    assert body["reload_error"] is True
    return {d["code"] for d in body["reload"]["diagnostics"]}


def test_a_change_is_read_only_when_the_files_hold_still(rules: Path) -> None:
    holder = EngineHolder(rules, [], poll_seconds=60)
    old = holder.engine
    path = rules / "ruleset.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2026.7"'), "utf-8")
    assert holder.check_reload() is False and holder.engine is old  # seen once: not yet read
    path.write_text(path.read_text(encoding="utf-8").replace('"2026.7"', '"2026.8"'), "utf-8")
    assert holder.check_reload() is False and holder.engine is old  # changed again: wait again
    assert holder.check_reload() is True
    assert holder.engine.info.version == "2026.8" and holder.failure is None


def test_an_emptied_rule_file_is_refused_and_healthz_says_why(rules: Path) -> None:
    app = create_app(rules, reload_seconds=None)
    client = TestClient(app)
    before = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()
    (rules / PRIO).write_text("", encoding="utf-8")
    assert _settle(app.state.holder) is False
    after = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"}).json()
    assert after["ruleset"]["sha256"] == before["ruleset"]["sha256"]
    assert set(after["outcomes"]) == set(before["outcomes"])  # still 5 outcomes, prioritaet included
    health = client.get("/healthz").json()
    assert health["reload_error"] is True
    (diag,) = health["reload"]["diagnostics"]
    assert diag["code"] == "E062" and diag["file"].endswith("prioritaet.yaml")


def test_a_file_that_lost_its_outcome_or_rules_is_refused(rules: Path) -> None:
    app = create_app(rules, reload_seconds=None)
    client = TestClient(app)
    path = rules / PRIO
    text = path.read_text(encoding="utf-8")
    # Only a comment left, but not empty to the eye of a size check: the outcome disappears.
    path.write_text("# wird überarbeitet\nentity: person\n", encoding="utf-8")
    assert _settle(app.state.holder) is False
    assert "E063" in _codes(client)
    # The last rule cut off: a smaller but loadable set, which `validate` alone accepts.
    cut = text[: text.rindex("\n      - id:")] + "\n"
    path.write_text(cut, encoding="utf-8")
    Engine.load(rules)  # loads fine on its own
    assert _settle(app.state.holder) is False
    assert _codes(client) == {"E064"}
    # Restoring the file is a good reload (same hash as before: nothing to swap) and clears the error.
    path.write_text(text, encoding="utf-8")
    _settle(app.state.holder)
    assert client.get("/healthz").json()["reload_error"] is False


def test_a_syntax_error_is_refused_with_file_and_line(rules: Path) -> None:
    app = create_app(rules, reload_seconds=None)
    client = TestClient(app)
    (rules / "ruleset.yaml").write_text("ruleset: [broken\n", encoding="utf-8")
    assert _settle(app.state.holder) is False
    diags = client.get("/healthz").json()["reload"]["diagnostics"]
    assert diags and all(d["file"] and d["code"].startswith("E") for d in diags)
    assert any(d["line"] > 0 for d in diags)
    assert client.post("/v1/decide", json={"record": REFUGEE}).status_code == 200


def test_a_recursion_error_counts_as_a_failed_reload(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(rules, reload_seconds=None)
    holder = app.state.holder
    old = holder.engine
    import eligibility.service.reload as reload_mod

    def deep(*_a: object, **_k: object) -> Engine:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reload_mod.Engine, "load", deep)
    path = rules / "ruleset.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert _settle(holder) is False and holder.engine is old
    assert _codes(TestClient(app)) == {"E065"}


def test_a_fifo_named_yaml_does_not_hang_the_reload(rules: Path) -> None:
    holder = EngineHolder(rules, [], poll_seconds=60)
    os.mkfifo(rules / "person" / "zz_pipe.yaml")
    done: list[bool] = []
    worker = threading.Thread(target=lambda: done.append(_settle(holder)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "reload blocked on a FIFO"
    assert done == [False]
    assert holder.failure is not None and [d.code for d in holder.failure.diagnostics] == ["E060"]
    # Start-up refuses it too instead of hanging.
    with pytest.raises(Exception, match="E060"):
        EngineHolder(rules, [], poll_seconds=60)


def test_a_dangling_link_named_yaml_is_refused(rules: Path) -> None:
    holder = EngineHolder(rules, [], poll_seconds=60)
    (rules / "person" / "zz_link.yaml").symlink_to(rules / "does-not-exist.yaml")
    assert _settle(holder) is False
    assert holder.failure is not None and [d.code for d in holder.failure.diagnostics] == ["E061"]


def test_every_reload_code_is_provoked_here() -> None:
    from eligibility.diagnostics import RELOAD_CODES

    text = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{code}"' in text for code in RELOAD_CODES)


def test_edits_under_traffic_give_the_old_or_the_new_hash_never_a_third(rules: Path) -> None:
    """One thread hammers /v1/decide while the reload thread polls every 50 ms and another
    thread writes half a file, leaves it so for several polls, then writes the whole file."""
    path = rules / PRIO
    original = path.read_text(encoding="utf-8")
    final = "# Stand: neu\n" + original
    expected_new = rules.parent / "expected"
    shutil.copytree(rules, expected_new)
    (expected_new / PRIO).write_text(final, encoding="utf-8")
    old_hash = Engine.load(rules).info.sha256
    new_hash = Engine.load(expected_new).info.sha256
    assert old_hash != new_hash

    app = create_app(rules, reload_seconds=0.05)
    seen: list[str] = []
    statuses: list[int] = []
    half_refused: list[bool] = []
    stop = threading.Event()
    with TestClient(app) as client:

        def hammer() -> None:
            deadline = time.monotonic() + 120  # bounded even if the writer fails
            while not stop.is_set() and time.monotonic() < deadline and len(seen) < 20_000:
                r = client.post("/v1/decide", json={"record": REFUGEE, "on": "2018-09-15"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    body = r.json()
                    seen.append(body["ruleset"]["sha256"])
                    assert "prioritaet" in body["outcomes"]

        def write() -> None:
            with path.open("w", encoding="utf-8") as f:
                f.write(final[: len(final) // 2])
                f.flush()
                os.fsync(f.fileno())
                # Hold the half file long enough for the debounce and a full validation.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and app.state.holder.failure is None:
                    time.sleep(0.05)
                half_refused.append(app.state.holder.failure is not None)
                f.write(final[len(final) // 2 :])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and app.state.holder.engine.info.sha256 != new_hash:
                time.sleep(0.05)
            time.sleep(0.3)  # some traffic on the new rules
            stop.set()

        hammer_thread = threading.Thread(target=hammer)
        writer = threading.Thread(target=write)
        hammer_thread.start()
        time.sleep(0.2)
        writer.start()
        writer.join(timeout=150)
        stop.set()
        hammer_thread.join(timeout=150)
        health = client.get("/healthz").json()

    assert half_refused == [True], "the half-written file was not refused"
    assert set(statuses) == {200}
    assert set(seen) <= {old_hash, new_hash}
    assert seen[0] == old_hash and seen[-1] == new_hash
    # Once the new hash appears the old one never comes back: one swap, not a flicker.
    first_new = seen.index(new_hash)
    assert set(seen[first_new:]) == {new_hash}
    assert health["reload_error"] is False and health["ruleset"]["sha256"] == new_hash

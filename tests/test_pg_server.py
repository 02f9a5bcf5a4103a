"""The test suite's own PostgreSQL server (tests/pg_server.py) and its fixtures are real.

The decision log's tests trust `log_url` and `pg_url` to hand them a working, empty,
loopback-only database; these tests hold them to that, and hold `running_server` to leaving
nothing behind.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from pg_server import NOT_FOUND, PgServer, PgStartError, PgUnavailable, find_bindir, running_server


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def test_log_url_takes_a_table_rows_and_a_query(log_url: str) -> None:
    engine = _engine(log_url)
    try:
        meta = sa.MetaData()
        table = sa.Table(
            "probe",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("text", sa.Text, nullable=False),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "text": "Müller"}, {"id": 2, "text": "Ünal"}])
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.id, table.c.text).order_by(table.c.id)).all()
        assert [tuple(r) for r in rows] == [(1, "Müller"), (2, "Ünal")]
        expected = "sqlite" if log_url.startswith("sqlite") else "postgresql"
        assert engine.dialect.name == expected
    finally:
        engine.dispose()


# Run twice: a database shared between tests would show the first run's table to the second.
@pytest.mark.parametrize("run", [1, 2])
def test_every_log_url_starts_empty(log_url: str, run: int) -> None:
    engine = _engine(log_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE leftover (n INTEGER)"))
            conn.execute(sa.text("INSERT INTO leftover VALUES (:n)"), {"n": run})
    finally:
        engine.dispose()


def test_pg_url_is_postgresql_over_psycopg_on_loopback_only(pg_url: str, pg_server: PgServer) -> None:
    engine = _engine(pg_url)
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == "127.0.0.1"
            assert conn.execute(sa.text("SELECT host(inet_server_addr())")).scalar_one() == "127.0.0.1"
            assert int(conn.execute(sa.text("SHOW port")).scalar_one()) == pg_server.port
            # The unix socket lives in the server's own directory, never beside a system cluster's.
            assert conn.execute(sa.text("SHOW unix_socket_directories")).scalar_one() == str(pg_server.root)
            # Durable writes stay on: the decision log's benchmark measures a real commit.
            assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "on"
            assert conn.execute(sa.text("SHOW server_encoding")).scalar_one() == "UTF8"
    finally:
        engine.dispose()


def test_pg_url_databases_are_dropped_afterwards(pg_server: PgServer) -> None:
    url = pg_server.create_database("t_dropped_probe")
    pg_server.drop_database("t_dropped_probe")
    engine = _engine(url)
    try:
        with pytest.raises(sa.exc.OperationalError, match="does not exist"), engine.connect():
            pass
    finally:
        engine.dispose()


def _accepts_tcp(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_server_is_gone_after_its_block_also_when_the_block_fails(pg_server: PgServer) -> None:
    # pg_server proves the binaries exist (else this is skipped); this one is a second server.
    class Boom(Exception):
        pass

    with pytest.raises(Boom), running_server(pg_server.bindir) as server:
        assert server.port != pg_server.port
        assert _accepts_tcp(server.port)
        pid = int((server.root / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        raise Boom
    assert not server.root.exists()
    assert not _accepts_tcp(server.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_cannot_start_says_why_with_its_log(pg_server: PgServer) -> None:
    # A postgres that exits at once: the error carries its exit status and its own words.
    # In tempfile's directory, not tmp_path: as root the server runs as 'postgres', which
    # cannot enter pytest's owner-only base directory.
    with tempfile.TemporaryDirectory(prefix="eligibility-fakepg-") as where:
        bindir = Path(where)
        bindir.chmod(0o755)
        for name in ("initdb", "pg_ctl"):
            # initdb resolves its own link and takes the real postgres beside it: only the start fails.
            (bindir / name).symlink_to(pg_server.bindir / name)
        fake = bindir / "postgres"
        fake.write_text("#!/bin/sh\necho 'FATAL:  no room at the inn' >&2\nexit 3\n")
        fake.chmod(0o755)
        with pytest.raises(PgStartError, match=r"(?s)exited with 3.*no room at the inn"), running_server(bindir):
            pass


def test_a_server_that_never_answers_is_given_up_on_in_time(pg_server: PgServer) -> None:
    # A postgres that neither listens nor exits: the wait is bounded and the process ended.
    with tempfile.TemporaryDirectory(prefix="eligibility-fakepg-") as where:
        bindir = Path(where)
        bindir.chmod(0o755)
        for name in ("initdb", "pg_ctl"):
            (bindir / name).symlink_to(pg_server.bindir / name)
        fake = bindir / "postgres"
        fake.write_text(f"#!/bin/sh\necho $$ > {where}/pid\nexec sleep 60\n")
        fake.chmod(0o755)
        (bindir / "pid").touch(0o666)
        (bindir / "pid").chmod(0o666)
        started = time.monotonic()
        with (
            pytest.raises(PgStartError, match="did not accept connections within 1 s"),
            running_server(bindir, timeout=1),
        ):
            pass
        assert time.monotonic() - started < 15
        with pytest.raises(ProcessLookupError):
            os.kill(int((bindir / "pid").read_text()), 0)


def test_binaries_come_from_eligibility_pg_bin_first(pg_server: PgServer, tmp_path: Path) -> None:
    assert find_bindir({"ELIGIBILITY_PG_BIN": str(pg_server.bindir), "PATH": ""}, tmp_path) == pg_server.bindir
    with pytest.raises(ValueError, match="ELIGIBILITY_PG_BIN"):
        find_bindir({"ELIGIBILITY_PG_BIN": str(tmp_path), "PATH": ""}, tmp_path)


def test_the_newest_debian_version_wins(tmp_path: Path) -> None:
    for version in ("9.6", "15", "16"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "postgres"):
            (bindir / name).write_text("#!/bin/sh\n")
            (bindir / name).chmod(0o755)
    (tmp_path / "17" / "bin").mkdir(parents=True)  # clients only: not a server
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_bindir({"PATH": str(empty)}, tmp_path) == tmp_path / "16" / "bin"


def test_no_binaries_is_a_skip_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(PgUnavailable) as caught:
        find_bindir({"PATH": str(tmp_path)}, tmp_path / "nothing")
    assert str(caught.value) == NOT_FOUND
    assert "postgresql package" in NOT_FOUND and "ELIGIBILITY_PG_BIN" in NOT_FOUND


def test_root_without_a_postgres_user_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_user(name: str) -> NoReturn:
        raise KeyError(name)

    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("pwd.getpwnam", no_such_user)
    with pytest.raises(PgUnavailable, match="refuses to run as root.*'postgres' user"):
        running_server(Path("/nonexistent")).__enter__()

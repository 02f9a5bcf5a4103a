"""A throw-away PostgreSQL server for the test suite.

The decision log is tested against a real server, not a mock: ``running_server()`` runs
``initdb`` into a fresh temporary directory, starts ``postgres`` on a free port of 127.0.0.1
(its socket in that directory, so it never meets a system cluster), waits until it accepts
connections and stops it and removes the directory on the way out, also when the body
raises. Binaries come from ``$ELIGIBILITY_PG_BIN``, ``pg_config --bindir``, the newest
``/usr/lib/postgresql/*/bin`` (Debian's layout) or ``PATH``. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
NOT_FOUND = "PostgreSQL not found: install Debian's postgresql package or set ELIGIBILITY_PG_BIN"


class PgUnavailable(Exception):
    """No server can be run here (no binaries, or root without a ``postgres`` user): a skip, not a failure."""


class PgStartError(RuntimeError):
    """The binaries exist but the server did not come up: a failure, with the server's own words."""


@dataclass(frozen=True)
class PgServer:
    """A running server: where it listens and who may connect (trust authentication)."""

    bindir: Path
    root: Path
    port: int
    user: str = SUPERUSER
    host: str = HOST

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of one database on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, name: str) -> str:
        """Creates an empty database and returns its URL."""
        _check_identifier(name)
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE (PostgreSQL 13+) ends sessions a test left open (an undisposed engine's pool),
        # which would otherwise make the drop fail and hide the test's own result.
        _check_identifier(name)
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import psycopg  # the test extra's driver; imported late so finding binaries needs no driver

        # CREATE/DROP DATABASE cannot run inside a transaction.
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement.encode())


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: "9.6" < "15" < "16", which a string sort gets wrong.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (-1,)


def find_bindir(env: Mapping[str, str] | None = None, debian_root: Path = DEBIAN_ROOT) -> Path:
    """The directory holding initdb, pg_ctl and postgres.

    Raises ``PgUnavailable`` when there is none, and ``ValueError`` when ``ELIGIBILITY_PG_BIN``
    names a directory without them (a setting that is wrong should say so, not skip).
    """
    env = os.environ if env is None else env
    chosen = env.get("ELIGIBILITY_PG_BIN")
    if chosen:
        if _has_server(Path(chosen)):
            return Path(chosen)
        raise ValueError(f"ELIGIBILITY_PG_BIN={chosen} does not hold {', '.join(SERVER_BINARIES)}")
    path = env.get("PATH", "")
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        # libpq-dev's pg_config answers /usr/bin, which has the clients but no server: checked.
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip() and _has_server(Path(out.stdout.strip())):
            return Path(out.stdout.strip())
    debian = sorted((p for p in debian_root.glob("*/bin") if _has_server(p)), key=_version_key)
    if debian:
        return debian[-1]
    postgres = shutil.which("postgres", path=path)
    if postgres and _has_server(Path(postgres).parent):
        return Path(postgres).parent
    raise PgUnavailable(NOT_FOUND)


def _run_as() -> tuple[list[str], int | None, int | None]:
    """The command prefix that drops root to the postgres user, and that user's uid and gid."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as "
            "(Debian's postgresql package creates it; or run the tests as another user)"
        ) from None
    # setpriv execs in place, so the child we wait for is postgres itself; runuser forks.
    setpriv = shutil.which("setpriv")
    if setpriv:
        prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    else:
        runuser = shutil.which("runuser")
        if not runuser:
            raise PgUnavailable("running as root, but neither setpriv nor runuser is there to become 'postgres'")
        prefix = [runuser, "-u", "postgres", "--"]
    return prefix, user.pw_uid, user.pw_gid


def _free_port() -> int:
    # The port is free now; another process may take it before postgres binds it, hence the
    # retry in running_server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    # PG* variables of the caller (PGDATA, PGPORT, PGHOST…) must not redirect our server or
    # pg_ctl; English messages keep the log readable whatever the machine's locale.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log empty)"


def _accepts(server: PgServer) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.conninfo(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        return int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Process:
    proc: subprocess.Popen[bytes]
    datadir: Path


def _stop(prefix: Sequence[str], bindir: Path, running: _Process, env: Mapping[str, str]) -> None:
    """pg_ctl stop -m fast; if that fails or does not end the server in time, SIGKILL."""
    stopped = False
    if running.proc.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            done = subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "stop", "-D", str(running.datadir), "-m", "fast", "-w", "-t", "20"],
                capture_output=True,
                env=env,
                cwd=running.datadir.parent,
                timeout=30,
                check=False,
            )
            stopped = done.returncode == 0
    try:
        # After a clean stop the wrapper (runuser) may take a moment to follow; after a
        # failed one (a server that never wrote its pid file) there is nothing to wait for.
        running.proc.wait(timeout=10 if stopped else 0.5)
    except subprocess.TimeoutExpired:
        pid = _postmaster_pid(running.datadir)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        running.proc.kill()
        running.proc.wait(timeout=10)


def _start(
    prefix: Sequence[str], bindir: Path, root: Path, env: Mapping[str, str], log: IO[bytes], timeout: float
) -> tuple[PgServer, _Process]:
    datadir = root / "data"
    for attempt in range(3):
        server = PgServer(bindir=bindir, root=root, port=_free_port())
        proc = subprocess.Popen(
            [
                *prefix,
                str(bindir / "postgres"),
                "-D",
                str(datadir),
                "-p",
                str(server.port),
                "-c",
                f"listen_addresses={HOST}",
                "-c",
                f"unix_socket_directories={root}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
        )
        running = _Process(proc, datadir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _accepts(server):
                return server, running
            time.sleep(0.1)
        exited = proc.poll()
        _stop(prefix, bindir, running, env)
        log.flush()
        lost_port = exited is not None and "could not bind" in _tail(root / "server.log", 10)
        if not lost_port or attempt == 2:
            why = (
                f"exited with {exited}" if exited is not None else f"did not accept connections within {timeout:.0f} s"
            )
            raise PgStartError(f"PostgreSQL ({bindir}) {why}; server log:\n{_tail(root / 'server.log')}")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_server(bindir: Path | None = None, timeout: float = START_TIMEOUT) -> Iterator[PgServer]:
    """A fresh server for the duration of the ``with`` block; gone afterwards, data and all."""
    bindir = find_bindir() if bindir is None else bindir
    prefix, uid, gid = _run_as()
    env = _child_env()
    # tempfile's directory, not pytest's tmp_path: pytest makes its base owner-only (root's),
    # where the postgres user could not reach its own data.
    root = Path(tempfile.mkdtemp(prefix="eligibility-pg-"))
    running: _Process | None = None
    try:
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
        init = subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                # Skips only initdb's own final fsync of a directory that is thrown away after the
                # run; the server itself keeps fsync on (the benchmark measures a real one).
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            check=False,
        )
        if init.returncode != 0:
            raise PgStartError(f"initdb ({bindir}) failed with {init.returncode}:\n{init.stdout}{init.stderr}")
        with open(root / "server.log", "ab") as log:
            server, running = _start(prefix, bindir, root, env, log, timeout)
            yield server
    finally:
        if running is not None:
            _stop(prefix, bindir, running, env)
        shutil.rmtree(root, ignore_errors=True)

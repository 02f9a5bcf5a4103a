"""Session-wide settings of the test suite."""

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PgServer, PgUnavailable, running_server

# The command line follows the machine's locale (an English LANG switches it to English);
# the suite pins German, the default, so that it asserts the same texts on every machine.
# Tests of the language choice set and clear these variables themselves.
os.environ["ELIGIBILITY_LANG"] = "de"


# A real PostgreSQL server for the tests of the decision log (issue 17): one per session,
# a fresh database per test. Without PostgreSQL on the machine those tests are skipped,
# with the reason; the SQLite half of `log_url` runs everywhere.
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session, stopped and removed at its end."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_server())
        except PgUnavailable as why:
            pytest.skip(str(why))
        yield server


def _fresh_database(server: PgServer) -> Iterator[str]:
    name = f"t_{next(_database_numbers)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL server."""
    yield from _fresh_database(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for a decision log: SQLite, and PostgreSQL where it exists."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
    else:
        # Looked up only here, so the SQLite runs neither start nor wait for a server.
        yield from _fresh_database(request.getfixturevalue("pg_server"))

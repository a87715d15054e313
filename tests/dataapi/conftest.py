"""Fixtures for the Data API emulator's contract tests.

The emulator runs in front of a scratch database on the plugin's PostgreSQL
server and is reached only through a real boto3 ``rds-data`` client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL

from alex_db.testing.dataapi import DataAPIEmulator, EmulatorConfig
from alex_db.testing.postgres import PostgresServer, scratch_database
from tests.dataapi.support import Api, unique

SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE marker (db text);
INSERT INTO marker VALUES ('main');
"""


def libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def dataapi_url(alex_db_server: PostgresServer) -> Iterator[URL]:
    with scratch_database(alex_db_server.url, prefix="dataapi") as url:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield url


@pytest.fixture(scope="session")
def other_database(alex_db_server: PostgresServer) -> Iterator[str]:
    """A second database on the same server, for the ``database`` member."""
    with scratch_database(alex_db_server.url, prefix="dataapi_other") as url:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (db text); INSERT INTO marker VALUES ('other')")
        assert url.database is not None
        yield url.database


@pytest.fixture(scope="session")
def shared_emulator(dataapi_url: URL) -> Iterator[DataAPIEmulator]:
    with DataAPIEmulator(dataapi_url) as emulator:
        yield emulator


@pytest.fixture
def emulator(shared_emulator: DataAPIEmulator) -> Iterator[DataAPIEmulator]:
    """The default (v2, service limits) emulator, with clean faults and counters."""
    shared_emulator.reset_faults()
    shared_emulator.reset_counts()
    yield shared_emulator
    shared_emulator.reset_faults()


@pytest.fixture(scope="session")
def shared_api(shared_emulator: DataAPIEmulator) -> Api:
    return Api(shared_emulator)


@pytest.fixture
def api(emulator: DataAPIEmulator, shared_api: Api) -> Api:
    return shared_api


@pytest.fixture
def start_emulator(dataapi_url: URL) -> Iterator[Callable[..., DataAPIEmulator]]:
    """Start an emulator of one's own: ``start_emulator(EmulatorConfig(...), resource_arn=...)``."""
    running: list[DataAPIEmulator] = []

    def start(config: EmulatorConfig | None = None, **kwargs: Any) -> DataAPIEmulator:
        emulator = DataAPIEmulator(dataapi_url, config=config, **kwargs).start()
        running.append(emulator)
        return emulator

    yield start
    for emulator in running:
        emulator.stop()


@pytest.fixture
def pg(dataapi_url: URL) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the scratch database, to check what the emulator did."""
    with psycopg.connect(libpq(dataapi_url), autocommit=True) as conn:
        yield conn


@pytest.fixture
def table(pg: psycopg.Connection[Any]) -> Iterator[str]:
    """A fresh table with one column of each type the tests bind into."""
    name = unique("items")
    pg.execute(
        f"""
        CREATE TABLE {name} (
            id serial PRIMARY KEY,
            label text NOT NULL DEFAULT '',
            uid uuid,
            doc jsonb,
            day date,
            at timestamp,
            at_tz timestamptz,
            amount numeric(12, 2),
            feeling mood,
            qty integer,
            ratio double precision,
            flag boolean,
            data bytea
        )
        """
    )
    yield name
    pg.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def in_thread() -> Iterator[Callable[..., AbstractContextManager[list[Any]]]]:
    """Run a callable on a real thread; the block gets a list that receives its outcome."""
    import threading

    threads: list[threading.Thread] = []

    @contextmanager
    def run(fn: Callable[[], Any]) -> Iterator[list[Any]]:
        outcome: list[Any] = []

        def target() -> None:
            try:
                outcome.append(fn())
            except Exception as exc:
                outcome.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        threads.append(thread)
        yield outcome
        thread.join(timeout=30)
        assert not thread.is_alive()

    yield run
    for thread in threads:
        thread.join(timeout=30)

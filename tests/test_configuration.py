"""Configuration never guesses: which database the settings select, table-driven; what
is refused, and how; the connect timeout against a host that never answers; a missing
database named by the variable that chose it."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db import ConfigurationError, Database, DatabaseConnectionError
from alex_db.config import Settings
from alex_db.engine import make_engine, normalise_url
from alex_db.testing.plugin import Backend
from alex_db.testing.postgres import PostgresServer, scratch_database

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:alex"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alex"
URL_TEXT = "postgresql://u@localhost/x"
VARIABLES = (
    "DATABASE_URL",
    "AURORA_CLUSTER_ARN",
    "AURORA_SECRET_ARN",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
    "AWS_EXECUTION_ENV",
    "ALEX_DB_REQUIRE_CONFIGURATION",
)
LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "alex-planner"}

# (environment, the backend chosen, or the text of the ConfigurationError)
CASES: list[tuple[dict[str, str], str]] = [
    ({}, "embedded"),
    ({"DATABASE_URL": URL_TEXT}, "postgres"),
    ({"AURORA_CLUSTER_ARN": CLUSTER, "AURORA_SECRET_ARN": SECRET}, "dataapi"),
    ({"DATABASE_URL": URL_TEXT, "AURORA_CLUSTER_ARN": CLUSTER}, "postgres"),
    ({"AURORA_CLUSTER_ARN": CLUSTER}, "error: AURORA_CLUSTER_ARN is set but AURORA_SECRET_ARN"),
    ({"AURORA_SECRET_ARN": SECRET}, "error: AURORA_SECRET_ARN is set but AURORA_CLUSTER_ARN"),
    (LAMBDA, "error: no database is configured and inside AWS Lambda"),
    ({"LAMBDA_TASK_ROOT": "/var/task"}, "error: inside AWS Lambda"),
    ({"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"}, "error: inside AWS Lambda"),
    ({"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}, "embedded"),
    ({"ALEX_DB_REQUIRE_CONFIGURATION": "true"}, "error: ALEX_DB_REQUIRE_CONFIGURATION is set"),
    ({"ALEX_DB_REQUIRE_CONFIGURATION": "false"}, "embedded"),
    ({**LAMBDA, "AURORA_CLUSTER_ARN": CLUSTER, "AURORA_SECRET_ARN": SECRET}, "dataapi"),
    ({**LAMBDA, "DATABASE_URL": URL_TEXT}, "postgres"),
    ({**LAMBDA, "AURORA_CLUSTER_ARN": CLUSTER}, "error: AURORA_SECRET_ARN is not"),
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("environment", "expected"), CASES, ids=[c[1] for c in CASES])
def test_which_database_the_settings_select(
    clean_env: pytest.MonkeyPatch, environment: dict[str, str], expected: str
) -> None:
    for name, value in environment.items():
        clean_env.setenv(name, value)
    if expected.startswith("error: "):
        with pytest.raises(ConfigurationError, match=expected.removeprefix("error: ")):
            Settings().backend()
        with pytest.raises(ConfigurationError):
            Database().engine  # noqa: B018 - the first use is where it fails
    else:
        assert Settings().backend() == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/x", "must start with postgresql:// (got mysql://)"),
        ("sqlite:///x.db", "(got sqlite://)"),
        ("postgresql+asyncpg://u@h/x", "(got postgresql+asyncpg://)"),
        ("not a url", "does not parse"),
    ],
)
def test_only_postgresql_urls_are_accepted(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        normalise_url(url)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Database.from_url(url)


def test_postgres_urls_are_normalised() -> None:
    assert normalise_url("postgres://u@h/x").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg2://u@h/x").drivername == "postgresql+psycopg"


@pytest.fixture
def silent_host() -> Iterator[int]:
    """A local port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_a_host_that_never_answers_is_an_error_after_the_timeout(
    clean_env: pytest.MonkeyPatch, silent_host: int
) -> None:
    clean_env.setenv("ALEX_DB_CONNECT_TIMEOUT_S", "2")
    db = Database.from_url(f"postgresql://u@127.0.0.1:{silent_host}/x")
    started = time.monotonic()
    with pytest.raises(DatabaseConnectionError, match="could not be made"):
        db.users.find_by_clerk_id("anyone")
    elapsed = time.monotonic() - started
    db.dispose()
    assert 1.5 < elapsed < 30  # the timeout, not a hang (loose: a busy machine is slow)


def test_the_connect_timeout_is_a_setting(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings().connect_timeout_s == 10
    clean_env.setenv("ALEX_DB_CONNECT_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="greater than 0"):
        Settings()


def test_a_missing_database_is_named_with_the_variable_that_chose_it(
    alex_db_backend: Backend,
) -> None:
    if alex_db_backend.name == "postgres":
        url = alex_db_backend.url.set(database="alex_db_no_such_database")
        db = Database.from_url(url)
        variable = "DATABASE_URL"
    else:
        settings = alex_db_backend.settings.model_copy(
            update={"aurora_database": "alex_db_no_such_database"}
        )
        from alex_db.dataapi import data_api_url, make_data_api_engine

        engine = make_data_api_engine(
            data_api_url(settings), settings, client=alex_db_backend.emulator.client()
        )
        db = Database.from_engine(engine, settings)
        variable = "AURORA_DATABASE"
    try:
        with pytest.raises(ConfigurationError) as raised:
            db.users.find_by_clerk_id("anyone")
        assert 'database "alex_db_no_such_database" does not exist' in str(raised.value)
        assert variable in str(raised.value)
    finally:
        db.engine.dispose()
        assert isinstance(alex_db_backend.url, URL)


@pytest.fixture
def auckland_database(alex_db_server: PostgresServer) -> Iterator[URL]:
    """A scratch database whose own TimeZone is not UTC (nor 'Etc/UTC')."""
    with scratch_database(alex_db_server.url, prefix="alex_tz") as url:
        admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(
                    text(f"ALTER DATABASE \"{url.database}\" SET TimeZone = 'Pacific/Auckland'")
                )
        finally:
            admin.dispose()
        yield url


def test_sessions_run_in_utc_whatever_the_database_says(auckland_database: URL) -> None:
    """As on the Data API: timestamps are UTC datetimes, CURRENT_DATE the UTC date."""
    engine = make_engine(auckland_database)
    try:
        with engine.connect() as conn:
            zone, stamp, utc_today = conn.execute(
                text(
                    "SELECT current_setting('TimeZone'), now(), CURRENT_DATE = (now() AT TIME ZONE 'UTC')::date"
                )
            ).one()
    finally:
        engine.dispose()
    assert zone == "UTC"
    assert stamp.tzinfo is dt.UTC
    assert utc_today is True


@pytest.mark.parametrize(
    ("given", "zone", "search_path"),
    [
        ("-c search_path=alex_custom", "UTC", "alex_custom"),
        # The caller's own TimeZone comes later, and wins.
        ("-c TimeZone=Europe/Paris", "Europe/Paris", '"$user", public'),
    ],
)
def test_the_utc_session_keeps_the_options_the_url_gives(
    auckland_database: URL, given: str, zone: str, search_path: str
) -> None:
    engine = make_engine(auckland_database.update_query_dict({"options": given}))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT current_setting('TimeZone'), current_setting('search_path')")
            ).one()
    finally:
        engine.dispose()
    assert tuple(found) == (zone, search_path)

"""The Database facade itself: lazy engine, the unit of work, round trips, dropped connections."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Engine, event, select, text

from alex_db import (
    ConfigurationError,
    Database,
    DatabaseConnectionError,
    InvalidIdError,
    NotFoundError,
)
from alex_db.config import Settings
from alex_db.models import User
from alex_db.schemas import AccountCreate, UserCreate


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_importing_and_constructing_connect_to_nothing() -> None:
    """No engine at import, none at construction: a bogus URL fails only when used."""
    code = (
        "import alex_db, sys\n"
        "db = alex_db.Database.from_url('postgresql://nobody@203.0.113.1:1/none')\n"
        "assert db._engine is None\n"
        "print(db.users is db.users)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_database_reads_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, alex_db_url: URL
) -> None:
    monkeypatch.setenv("DATABASE_URL", alex_db_url.render_as_string(hide_password=False))
    monkeypatch.setenv("ALEX_DB_MAX_PAYLOAD_BYTES", "1234")
    db = Database()
    try:
        assert db.max_payload_bytes == 1234
        assert db.url.database == alex_db_url.database
        assert db.users.find_by_clerk_id("nobody") is None
    finally:
        db.dispose()


def test_database_url_wins_over_aurora_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/x")
    monkeypatch.setenv("AURORA_CLUSTER_ARN", "arn:aws:rds:us-east-1:123456789012:cluster:alex")
    monkeypatch.setenv(
        "AURORA_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"
    )
    assert Settings().backend() == "postgres"
    monkeypatch.delenv("DATABASE_URL")
    assert Settings().backend() == "dataapi"
    monkeypatch.delenv("AURORA_SECRET_ARN")
    with pytest.raises(ConfigurationError, match="AURORA_SECRET_ARN is not"):
        Settings().backend()  # half an Aurora configuration never falls back


def test_a_transaction_commits_on_success(committed_db: Database) -> None:
    with committed_db.transaction():
        committed_db.users.create_user(UserCreate(clerk_user_id="u_commit"))
    assert committed_db.users.find_by_clerk_id("u_commit") is not None


def test_a_transaction_rolls_back_on_any_exception(committed_db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), committed_db.transaction():
        committed_db.users.create_user(UserCreate(clerk_user_id="u_rollback"))
        committed_db.accounts.create_account("u_rollback", AccountCreate(account_name="401k"))
        raise RuntimeError("boom")
    assert committed_db.users.find_by_clerk_id("u_rollback") is None


def test_a_failed_call_in_a_transaction_rolls_back_the_earlier_calls(
    committed_db: Database,
) -> None:
    with pytest.raises(NotFoundError), committed_db.transaction():
        committed_db.users.create_user(UserCreate(clerk_user_id="u_multi"))
        committed_db.accounts.delete("00000000-0000-0000-0000-000000000000")
    assert committed_db.users.find_by_clerk_id("u_multi") is None


def test_a_transaction_always_closes_its_session(committed_db: Database) -> None:
    with committed_db.transaction() as tx:
        tx.session.execute(select(1))
    assert not tx.session.in_transaction()
    pool = committed_db.engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_single_read_is_a_single_statement(committed_db: Database) -> None:
    """Reads run in autocommit: no BEGIN/COMMIT round trips around one SELECT."""
    committed_db.users.create_user(UserCreate(clerk_user_id="u_read"))
    engine = committed_db.engine
    with statements(engine) as seen:
        assert committed_db.users.find_by_clerk_id("u_read") is not None
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT")


def test_a_single_statement_write_is_one_round_trip_and_durable(committed_db: Database) -> None:
    """One statement is atomic on its own: it runs in autocommit, with no BEGIN/COMMIT."""
    engine = committed_db.engine
    commits: list[str] = []
    event.listen(engine, "commit", lambda conn: commits.append("commit"))
    with statements(engine) as seen:
        committed_db.users.create_user(UserCreate(clerk_user_id="u_write"))
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("INSERT")
    assert commits == []
    with engine.connect() as other:
        found = other.execute(select(User.clerk_user_id).where(User.clerk_user_id == "u_write"))
        assert found.scalar_one() == "u_write"


def test_a_multi_statement_write_is_one_transaction(committed_db: Database) -> None:
    engine = committed_db.engine
    commits: list[str] = []
    event.listen(engine, "commit", lambda conn: commits.append("commit"))
    with statements(engine) as seen:
        committed_db.instruments.update_prices({})  # nothing to do: no statement at all
    assert seen == []
    with committed_db.transaction():
        committed_db.users.create_user(UserCreate(clerk_user_id="u_a"))
        committed_db.users.create_user(UserCreate(clerk_user_id="u_b"))
    assert commits == ["commit"]


def test_invalid_uuid_is_a_typed_error_before_any_sql(committed_db: Database) -> None:
    with statements(committed_db.engine) as seen:
        for call in (
            lambda: committed_db.accounts.find_by_id("not-a-uuid"),
            lambda: committed_db.positions.find_by_account("123"),
            lambda: committed_db.jobs.start("'; DROP TABLE jobs; --"),
            lambda: committed_db.portfolio.for_job(""),
        ):
            with pytest.raises(InvalidIdError, match="must be a UUID"):
                call()
    assert seen == []


def test_a_connection_dropped_mid_transaction_rolls_back_and_the_next_call_works(
    committed_db: Database,
) -> None:
    committed_db.users.create_user(UserCreate(clerk_user_id="u_before"))
    with (
        pytest.raises(DatabaseConnectionError, match="rolled back"),
        committed_db.transaction() as tx,
    ):
        committed_db.users.create_user(UserCreate(clerk_user_id="u_lost"))
        pid = tx.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with committed_db.engine.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(CAST(:pid AS integer))"), {"pid": pid})
        committed_db.users.create_user(UserCreate(clerk_user_id="u_lost_2"))
    # Nothing of the dropped transaction survived, and the facade recovered.
    assert committed_db.users.find_by_clerk_id("u_lost") is None
    assert committed_db.users.find_by_clerk_id("u_before") is not None
    committed_db.users.create_user(UserCreate(clerk_user_id="u_after"))
    with committed_db.engine.connect() as conn:
        ids = set(conn.execute(select(User.clerk_user_id)).scalars())
    assert ids == {"u_before", "u_after"}


def test_settings_read_only_their_own_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HOME, ECHO_SQL and the like are not alex_db's settings: only the documented
    names (ALEX_DB_HOME, ...) are read."""
    for name in ("ALEX_DB_HOME", "DATABASE_URL", "AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MAX_PAYLOAD_BYTES", "7")
    settings = Settings()
    assert settings.home != tmp_path
    assert settings.home.name == "alex-db"
    assert settings.max_payload_bytes == 200 * 1024
    monkeypatch.setenv("ALEX_DB_HOME", str(tmp_path / "data"))
    assert Settings().home == tmp_path / "data"


def test_the_reference_instruments_fixture(alex_db_instruments: list[Any], db: Database) -> None:
    assert len(alex_db_instruments) == 22
    spy = db.instruments.find_by_symbol("SPY")
    assert spy is not None
    assert spy.is_classified

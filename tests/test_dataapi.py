"""The Aurora Data API backend beyond parity: call budgets, migrations, resume safety,
large results and writes, limits and clear errors.

Everything goes through a real boto3 client to the project's emulator in front of a
real PostgreSQL; calls are counted with botocore's event hooks on that client.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import (
    ARRAY,
    JSON,
    URL,
    Column,
    Date,
    Engine,
    Float,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Time,
    bindparam,
    create_engine,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from alex_db import (
    AlexDBError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    Database,
    DatabaseConnectionError,
    DatabaseOperationError,
    DatabaseResumingError,
    RequestTooLargeError,
    migrations,
)
from alex_db.config import Settings
from alex_db.dataapi import data_api_url, driver, make_data_api_engine
from alex_db.errors import translate_error
from alex_db.models import AgentLog, Position, PriceHistory, User
from alex_db.schemas import (
    AccountCreate,
    AgentLogCreate,
    JobCreate,
    PriceHistoryCreate,
    UserCreate,
)
from alex_db.testing.calls import DataAPICalls, count_data_api_calls
from alex_db.testing.dataapi import DataAPIEmulator, EmulatorConfig
from alex_db.testing.postgres import PostgresServer, scratch_database
from tests.conftest import ALL_TABLES
from tests.factories import instrument_create, scripts_with_revision

MIB = 1024 * 1024


@dataclass
class Aurora:
    """An emulator in front of a migrated scratch database, and ways to reach it."""

    emulator: DataAPIEmulator
    url: URL  # the scratch database, directly (for checks behind the Data API's back)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "AURORA_CLUSTER_ARN": self.emulator.resource_arn,
            "AURORA_SECRET_ARN": self.emulator.secret_arn,
            "AURORA_DATABASE": self.url.database,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_RDS_DATA": self.emulator.endpoint_url,
        }
        values.update(overrides)
        return Settings(**values)

    def engine(self, client: Any = None, settings: Settings | None = None, **kwargs: Any) -> Engine:
        settings = settings or self.settings()
        kwargs.setdefault("connect_args", {"initial_backoff_s": 0.01})
        return make_data_api_engine(
            data_api_url(settings), settings, client=client or self.emulator.client(), **kwargs
        )

    def database(self, client: Any = None, **settings: Any) -> Database:
        chosen = self.settings(**settings)
        return Database.from_engine(self.engine(client, chosen), chosen)

    def count(self, sql: str) -> int:
        direct = create_engine(self.url)
        try:
            with direct.connect() as conn:
                return int(conn.execute(text(sql)).scalar_one())
        finally:
            direct.dispose()


@pytest.fixture(scope="module")
def aurora_database(alex_db_server: PostgresServer) -> Iterator[URL]:
    with scratch_database(alex_db_server.url, prefix="alex_aurora") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            migrations.upgrade(conn)
        engine.dispose()
        yield url


CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:alex-test"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alex-test-AbCdEf"


@pytest.fixture(scope="module")
def emulator(aurora_database: URL) -> Iterator[DataAPIEmulator]:
    # Started with one ARN pair, like a real cluster: any other pair is refused.
    with DataAPIEmulator(aurora_database, resource_arn=CLUSTER_ARN, secret_arn=SECRET_ARN) as emu:
        yield emu


@pytest.fixture
def aurora(emulator: DataAPIEmulator, aurora_database: URL) -> Iterator[Aurora]:
    emulator.reset_faults()
    yield Aurora(emulator, aurora_database)
    emulator.reset_faults()
    direct = create_engine(aurora_database)
    with direct.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} CASCADE"))
    direct.dispose()


@pytest.fixture
def client(aurora: Aurora) -> Any:
    return aurora.emulator.client()


@pytest.fixture
def db(aurora: Aurora, client: Any) -> Iterator[Database]:
    database = aurora.database(client)
    with database.engine.connect():
        pass  # the engine's one bootstrap call, out of the way of the counts
    yield database
    database.dispose()


def ops(calls: DataAPICalls) -> list[str]:
    short = {
        "ExecuteStatement": "Execute",
        "BatchExecuteStatement": "Batch",
        "BeginTransaction": "Begin",
        "CommitTransaction": "Commit",
        "RollbackTransaction": "Rollback",
    }
    return [short[o] for o in calls.operations]


# --- round trips --------------------------------------------------------------------------


def test_a_new_engines_first_connection_costs_one_bootstrap_call(
    aurora: Aurora, client: Any
) -> None:
    engine = aurora.engine(client)
    try:
        with count_data_api_calls(client) as calls, engine.connect():
            pass
        assert ops(calls) == ["Execute"]  # version, schema and settings in one statement
        assert "transactionId" not in calls.requests[0]
        with count_data_api_calls(client) as again, engine.connect():
            pass
        assert again.total == 0
    finally:
        engine.dispose()


def test_read_only_calls_cost_one_call_each(db: Database, client: Any) -> None:
    db.users.create_user(UserCreate(clerk_user_id="reader"))
    db.instruments.upsert_many([instrument_create("SPY")])
    account = db.accounts.create_account("reader", AccountCreate(account_name="401k"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="reader", job_type="risk_assessment"))
    reads = [
        lambda: db.users.find_by_clerk_id("reader"),
        lambda: db.instruments.find_by_symbol("SPY"),
        lambda: db.instruments.search("sp"),
        lambda: db.accounts.find_by_id(account.id),
        lambda: db.accounts.find_by_user("reader"),
        lambda: db.positions.find_by_account(account.id),
        lambda: db.jobs.find_by_id(job.id),
        lambda: db.agent_logs.find_by_job(job.id),
        lambda: db.price_history.latest_price("SPY"),
    ]
    for read in reads:
        with count_data_api_calls(client) as calls:
            read()
        assert ops(calls) == ["Execute"]
        assert "transactionId" not in calls.requests[0]


def test_a_single_statement_write_costs_one_call(db: Database, client: Any) -> None:
    """A write that is one statement goes without a transaction: atomic on its own."""
    db.instruments.upsert_many([instrument_create("SPY")])
    with count_data_api_calls(client) as calls:
        db.users.create_user(UserCreate(clerk_user_id="writer"))
    assert ops(calls) == ["Execute"]
    assert "transactionId" not in calls.requests[0]
    account = db.accounts.create_account("writer", AccountCreate(account_name="401k"))
    with count_data_api_calls(client) as calls:
        db.positions.add_position(account.id, "SPY", Decimal("1.5"))
    assert ops(calls) == ["Execute"]
    job = db.jobs.create_job(JobCreate(clerk_user_id="writer", job_type="risk_assessment"))
    with count_data_api_calls(client) as lifecycle:
        db.jobs.start(job.id)
        db.jobs.update_report(job.id, {"r": 1})
        db.jobs.update_charts(job.id, {"c": 1})
        db.jobs.update_retirement(job.id, {"p": 1})
        db.jobs.update_summary(job.id, {"s": 1})
        db.jobs.complete(job.id)
    assert ops(lifecycle) == ["Execute"] * 6


def test_a_multi_statement_write_costs_begin_its_statements_and_commit(
    db: Database, client: Any
) -> None:
    with count_data_api_calls(client) as calls:
        db.instruments.upsert_many(instrument_create(f"M{i:03d}") for i in range(300))
    statements = ops(calls).count("Execute")
    assert statements >= 2  # the rows need more than one statement under the SQL limit
    assert ops(calls) == ["Begin"] + ["Execute"] * statements + ["Commit"]
    with count_data_api_calls(client) as calls, db.transaction():
        db.users.create_user(UserCreate(clerk_user_id="a"))
        db.users.create_user(UserCreate(clerk_user_id="b"))
    assert ops(calls) == ["Begin", "Execute", "Execute", "Commit"]


@pytest.mark.parametrize("positions", [1, 10, 100])
def test_portfolio_load_costs_at_most_two_calls(db: Database, client: Any, positions: int) -> None:
    db.users.create_user(UserCreate(clerk_user_id="owner"))
    symbols = [f"P{i:03d}" for i in range(positions)]
    db.instruments.upsert_many(instrument_create(s) for s in symbols)
    accounts = [
        db.accounts.create_account("owner", AccountCreate(account_name=f"a{i}")) for i in range(3)
    ]
    with db.transaction():
        for i, symbol in enumerate(symbols):
            db.positions.add_position(accounts[i % 3].id, symbol, Decimal("2"))
    with count_data_api_calls(client) as calls:
        portfolio = db.portfolio.load("owner")
    assert sum(len(a.positions) for a in portfolio.accounts) == positions
    assert ops(calls) == ["Execute", "Execute"]


def test_record_prices_batches_within_the_request_and_sql_limits(db: Database, client: Any) -> None:
    db.instruments.upsert_many(instrument_create(f"S{i}") for i in range(10))
    start = dt.date(2000, 1, 1)
    rows = [
        PriceHistoryCreate(
            symbol=f"S{i % 10}",
            date=start + dt.timedelta(days=i // 10),
            close_price=Decimal(f"{i}.{i % 10000:04d}"),
            volume=i,
        )
        for i in range(10_000)
    ]
    with count_data_api_calls(client) as calls:
        assert db.price_history.record_prices(rows) == 10_000
    batches = [
        r
        for op, r in zip(calls.operations, calls.requests, strict=True)
        if op == "BatchExecuteStatement"
    ]
    per_call = len(batches[0]["parameterSets"])
    assert ops(calls) == ["Begin", "Execute"] + ["Batch"] * math.ceil(10_000 / per_call) + [
        "Commit"
    ]
    assert sum(len(b["parameterSets"]) for b in batches) == 10_000
    assert max(calls.request_bytes) < 4 * MIB
    assert all(len(r["sql"]) < 65_536 for r in calls.requests if "sql" in r)
    assert aurora_count(db, PriceHistory) == 10_000
    first = db.price_history.series("S0", start, start)[0]
    assert first.close_price == Decimal("0.0000")
    last = db.price_history.latest_price("S9")
    assert last is not None
    assert last.close_price == Decimal("9999.9999")


def aurora_count(db: Database, model: type[Any]) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_orm_bulk_inserts_never_exceed_the_sql_limit(db: Database, client: Any) -> None:
    db.users.create_user(UserCreate(clerk_user_id="bulk"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="bulk", job_type="risk_assessment"))
    with count_data_api_calls(client) as calls, db.transaction() as tx:
        tx.session.add_all(
            AgentLogCreate(job_id=job.id, agent_name=f"agent {i}").to_orm() for i in range(1000)
        )
        tx.session.flush()
    assert all(len(r.get("sql", "")) < 65_536 for r in calls.requests)
    assert aurora_count(db, AgentLog) == 1000


def test_upsert_many_splits_statements_under_the_sql_limit(db: Database, client: Any) -> None:
    with count_data_api_calls(client) as calls:
        assert (
            db.instruments.upsert_many(instrument_create(f"X{i:04d}") for i in range(2000)) == 2000
        )
    statements = [r["sql"] for r in calls.requests if "sql" in r]
    assert len(statements) > 1
    assert max(len(sql) for sql in statements) < 65_536


# --- large results ------------------------------------------------------------------------


def test_find_all_pages_by_key_past_the_1_mib_response_limit(db: Database, client: Any) -> None:
    long_name = "An instrument with a long name " * 7
    db.instruments.upsert_many(instrument_create(f"I{i:04d}", name=long_name) for i in range(2500))
    with count_data_api_calls(client) as calls:
        found = db.instruments.find_all()
    assert [i.symbol for i in found] == [f"I{i:04d}" for i in range(2500)]
    assert calls.total >= 3  # more than one page was needed
    # find_by_type reads as many rows (it failed with "The result exceeds the size limit").
    with count_data_api_calls(client) as calls:
        etfs = db.instruments.find_by_type("etf")
    assert [i.symbol for i in etfs] == [f"I{i:04d}" for i in range(2500)]
    assert calls.total >= 3


def test_positions_past_the_1_mib_response_limit_are_read_in_pages(
    db: Database, client: Any
) -> None:
    """2,400 positions of long-named instruments: a portfolio's rows (and one account's
    with their instruments) are more than one Data API response may carry (both failed
    with "The result exceeds the size limit 1 MB")."""
    long_name = "An instrument with a long name " * 7
    symbols = [f"P{i:04d}" for i in range(2400)]
    db.instruments.upsert_many(instrument_create(s, name=long_name) for s in symbols)
    db.users.create_user(UserCreate(clerk_user_id="whale"))
    accounts = [db.accounts.create_account("whale", AccountCreate(account_name=n)) for n in "ab"]
    with db.transaction() as tx:
        tx.session.execute(
            insert(Position),
            [
                {"account_id": accounts[i % 2].id, "symbol": s, "quantity": Decimal(i + 1)}
                for i, s in enumerate(symbols)
            ],
        )
    with count_data_api_calls(client) as calls:
        portfolio = db.portfolio.load("whale")
    held = {p.symbol: p.quantity for a in portfolio.accounts for p in a.positions}
    assert held == {s: Decimal(i + 1) for i, s in enumerate(symbols)}
    assert calls.total > 2  # the positions took more than one page
    price = Decimal("450.1234")
    assert portfolio.total_value == sum((q * price for q in held.values()), Decimal(0))
    with count_data_api_calls(client) as calls:
        in_a = db.positions.find_by_account(accounts[0].id)
    assert [p.symbol for p in in_a] == symbols[::2]
    assert calls.total > 1


def test_a_search_with_a_large_limit_pages_in_its_own_order(db: Database, client: Any) -> None:
    """The exact symbol, then symbol prefixes, then the rest, past the 1 MiB response
    limit: pages follow (rank, symbol) (it failed with "The result exceeds the size
    limit 1 MB")."""
    long_name = "An instrument with a long name " * 7
    prefixed = [f"AB{i:04d}" for i in range(1, 1200)]
    containing = [f"XAB{i:04d}" for i in range(1, 1300)]
    db.instruments.upsert_many(
        instrument_create(s, name=long_name) for s in ["AB", *prefixed, *containing]
    )
    with count_data_api_calls(client) as calls:
        found = db.instruments.search("ab", limit=2400)
    assert [i.symbol for i in found] == ["AB", *prefixed, *containing][:2400]
    assert calls.total >= 3


def test_series_pages_by_key(db: Database, client: Any) -> None:
    db.instruments.upsert_many([instrument_create("SPY")])
    start = dt.date(1990, 1, 1)
    db.price_history.record_prices(
        PriceHistoryCreate(symbol="SPY", date=start + dt.timedelta(days=d), close_price=Decimal(d))
        for d in range(8000)
    )
    with count_data_api_calls(client) as calls:
        series = db.price_history.series("SPY", start, start + dt.timedelta(days=7999))
    assert [p.close_price for p in series] == [Decimal(d) for d in range(8000)]
    assert calls.total == math.ceil(8000 / 3000)


def test_job_history_with_large_payloads_halves_its_pages(aurora: Aurora, client: Any) -> None:
    db = aurora.database(client)
    db.users.create_user(UserCreate(clerk_user_id="heavy"))
    big = {"data": "x" * (190 * 1024)}
    ids = []
    for _ in range(6):
        job = db.jobs.create_job(JobCreate(clerk_user_id="heavy", job_type="portfolio_analysis"))
        for update in (db.jobs.update_report, db.jobs.update_charts, db.jobs.update_retirement):
            update(job.id, big)
        ids.append(job.id)
    history = db.jobs.find_by_user("heavy", limit=20)
    assert {j.id for j in history} == set(ids)
    assert all(j.charts_payload == big for j in history)
    db.dispose()


def test_a_job_over_1_mib_is_read_back_in_parts(aurora: Aurora, client: Any) -> None:
    db = aurora.database(client, ALEX_DB_MAX_PAYLOAD_BYTES=400 * 1024)
    db.users.create_user(UserCreate(clerk_user_id="huge"))
    job = db.jobs.create_job(JobCreate(clerk_user_id="huge", job_type="portfolio_analysis"))
    big = {"data": "y" * (390 * 1024)}
    db.jobs.update_report(job.id, big)
    db.jobs.update_charts(job.id, big)
    # The third payload makes the row larger than one response: the write is done,
    # and the job it returns is read back one payload column at a time.
    with count_data_api_calls(client) as calls:
        written = db.jobs.update_retirement(job.id, big)
    assert calls.total == 1 + 1 + 5  # the UPDATE, the other columns, one call per payload
    assert written.report_payload == written.charts_payload == written.retirement_payload == big
    found = db.jobs.find_by_id(job.id)
    assert found == written
    # Paging goes down to one row, and that row too is read in parts.
    other = db.jobs.create_job(JobCreate(clerk_user_id="huge", job_type="risk_assessment"))
    assert db.jobs.find_by_user("huge") == [db.jobs.find_by_id(other.id), written]
    db.dispose()


# --- limits ---------------------------------------------------------------------------------


def test_a_statement_over_the_sql_limit_is_refused_before_sending(
    db: Database, client: Any
) -> None:
    with (
        count_data_api_calls(client) as calls,
        pytest.raises(DBAPIError, match="65,536"),
        db.transaction() as tx,
    ):
        tx.session.add(User(clerk_user_id="kept-out"))
        tx.session.flush()
        tx.session.execute(text("SELECT '" + "x" * 70_000 + "'"))
    # the oversized statement never left; the INSERT before it was rolled back
    assert all(len(r.get("sql", "")) <= 65_536 for r in calls.requests)
    assert ops(calls)[-3:] == ["Begin", "Execute", "Rollback"]
    assert db.users.find_by_clerk_id("kept-out") is None


def test_a_request_over_the_4_mib_limit_is_a_typed_error_and_nothing_ran(
    db: Database, client: Any
) -> None:
    """The service refuses it unread (413): not a lost connection to retry forever."""
    with (
        pytest.raises(DBAPIError) as raised,
        db.transaction() as tx,
    ):
        tx.session.add(User(clerk_user_id="kept-out"))
        tx.session.flush()
        tx.session.execute(text("SELECT length(:big)"), {"big": "x" * (5 * 1024 * 1024)})
    assert isinstance(raised.value.orig, driver.RequestTooLargeError)
    assert isinstance(translate_error(raised.value), RequestTooLargeError)
    assert db.users.find_by_clerk_id("kept-out") is None


# --- migrations over the Data API ----------------------------------------------------------


@pytest.fixture
def empty_aurora(alex_db_server: PostgresServer) -> Iterator[Aurora]:
    with (
        scratch_database(alex_db_server.url, prefix="alex_aurora_mig") as url,
        DataAPIEmulator(url, config=EmulatorConfig(statement_timeout=1.0)) as emu,
    ):
        yield Aurora(emu, url)


def tables_of(aurora: Aurora) -> int:
    return aurora.count(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    )


def test_upgrade_downgrade_and_check_through_the_data_api(empty_aurora: Aurora) -> None:
    client = empty_aurora.emulator.client()
    engine = empty_aurora.engine(client)
    try:
        with count_data_api_calls(client) as calls, engine.begin() as conn:
            migrations.upgrade(conn)
        # one transaction, one statement per call (the emulator refuses several)
        assert ops(calls).count("Begin") == 1
        assert ops(calls)[-1] == "Commit"
        assert tables_of(empty_aurora) == 7
        with engine.connect() as conn:
            migrations.check(conn)
        with engine.begin() as conn:
            migrations.downgrade(conn, "base")
        assert tables_of(empty_aurora) == 0
        with engine.begin() as conn:
            migrations.upgrade(conn)
            migrations.check(conn)
    finally:
        engine.dispose()


SLOW_REVISION = '''
"""a slow DDL step"""
from alembic import op

revision = "5100000000aa"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE slow_ddl AS SELECT g AS n FROM generate_series(1, 10) g, pg_sleep(1.5)")
    op.execute("CREATE INDEX ix_slow_ddl_n ON slow_ddl (n)")


def downgrade() -> None:
    op.execute("DROP TABLE slow_ddl")
'''


def test_long_ddl_outlives_the_statement_timeout(
    empty_aurora: Aurora, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator cancels statements after 1 s here; DDL gets continueAfterTimeout, and
    the next call waits while the transaction is still running it."""
    engine = empty_aurora.engine()
    try:
        with engine.begin() as conn:
            config = migrations.alembic_config(conn)
            config.set_main_option(
                "script_location", str(scripts_with_revision(tmp_path, SLOW_REVISION))
            )
            with caplog.at_level(logging.WARNING, logger="alex_db.dataapi"):
                command.upgrade(config, "head")
        assert "continues on the server" in caplog.text
        assert empty_aurora.count("SELECT count(*) FROM slow_ddl") == 10
        assert (
            empty_aurora.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_slow_ddl_n'")
            == 1
        )
    finally:
        engine.dispose()


def test_a_slow_data_statement_is_cancelled_and_nothing_is_written(empty_aurora: Aurora) -> None:
    """DML gets no continueAfterTimeout: at the statement timeout (1 s here, 45 s on
    AWS) it is cancelled, and the transaction's earlier writes go with it."""
    direct = create_engine(empty_aurora.url)
    with direct.begin() as conn:
        migrations.upgrade(conn)
    direct.dispose()
    db = Database.from_engine(empty_aurora.engine(), empty_aurora.settings())
    try:
        with pytest.raises(DBAPIError, match="StatementTimeoutException"), db.transaction() as tx:
            db.users.create_user(UserCreate(clerk_user_id="slow"))
            tx.session.execute(text("SELECT pg_sleep(2)"))
        assert empty_aurora.count("SELECT count(*) FROM users") == 0
    finally:
        db.dispose()


# --- resume safety -----------------------------------------------------------------------


def test_resume_during_a_read_is_retried(
    db: Database, client: Any, aurora: Aurora, caplog: pytest.LogCaptureFixture
) -> None:
    db.users.create_user(UserCreate(clerk_user_id="sleepy"))
    aurora.emulator.fail_next(3)
    with (
        caplog.at_level(logging.WARNING, logger="alex_db.dataapi"),
        count_data_api_calls(client) as calls,
    ):
        assert db.users.find_by_clerk_id("sleepy") is not None
    assert ops(calls) == ["Execute"] * 4
    assert caplog.text.count("Aurora is resuming") == 3


def test_resume_before_a_write_is_retried_and_the_write_happens_once(
    db: Database, client: Any, aurora: Aurora
) -> None:
    aurora.emulator.fail_next(2)
    with count_data_api_calls(client) as calls:
        db.users.create_user(UserCreate(clerk_user_id="woken"))
    # an Execute outside a transaction provably did not run when refused: retried
    assert ops(calls) == ["Execute", "Execute", "Execute"]
    assert aurora.count("SELECT count(*) FROM users WHERE clerk_user_id = 'woken'") == 1
    aurora.emulator.fail_next(2)
    with count_data_api_calls(client) as calls, db.transaction():
        db.users.create_user(UserCreate(clerk_user_id="woken-2"))
    assert ops(calls) == ["Begin", "Begin", "Begin", "Execute", "Commit"]
    assert aurora.count("SELECT count(*) FROM users WHERE clerk_user_id = 'woken-2'") == 1


def test_resume_during_a_migration_is_retried(
    empty_aurora: Aurora, caplog: pytest.LogCaptureFixture
) -> None:
    client = empty_aurora.emulator.client()
    engine = empty_aurora.engine(client)
    try:
        empty_aurora.emulator.fail_next(2)
        with caplog.at_level(logging.WARNING, logger="alex_db.dataapi"), engine.begin() as conn:
            migrations.upgrade(conn)
        assert caplog.text.count("Aurora is resuming") == 2
        assert tables_of(empty_aurora) == 7
    finally:
        engine.dispose()


def test_resume_inside_a_transaction_is_not_retried_and_nothing_is_written(
    db: Database, client: Any, aurora: Aurora
) -> None:
    with (
        count_data_api_calls(client) as calls,
        pytest.raises(DatabaseResumingError, match="nothing was written"),
        db.transaction(),
    ):
        db.users.create_user(UserCreate(clerk_user_id="first"))
        aurora.emulator.fail_next(1)
        db.users.create_user(UserCreate(clerk_user_id="second"))
    assert ops(calls) == ["Begin", "Execute", "Execute", "Rollback"]
    assert aurora.count("SELECT count(*) FROM users") == 0


def test_resume_retries_stop_at_the_deadline(aurora: Aurora, client: Any) -> None:
    db = aurora.database(client, ALEX_DB_RESUME_DEADLINE_S=0.3)
    aurora.emulator.fail_next(1000)
    started = time.monotonic()
    with pytest.raises(DatabaseResumingError):
        db.users.find_by_clerk_id("anyone")
    assert time.monotonic() - started < 5
    aurora.emulator.reset_faults()
    db.dispose()


def test_a_failed_commit_is_never_re_sent(db: Database, client: Any, aurora: Aurora) -> None:
    with (
        count_data_api_calls(client) as calls,
        pytest.raises(CommitOutcomeUnknownError, match="may or may not"),
        db.transaction(),
    ):
        db.users.create_user(UserCreate(clerk_user_id="unsure"))
        aurora.emulator.fail_next(1, code="InternalServerErrorException")
    assert ops(calls).count("Commit") == 1
    assert aurora.count("SELECT count(*) FROM users") == 0
    assert aurora.emulator.open_transactions == 0  # released, not left to expire


def test_a_transaction_idle_past_expiry_is_rolled_back_and_the_next_call_works(
    alex_db_server: PostgresServer, aurora_database: URL
) -> None:
    with DataAPIEmulator(
        aurora_database, config=EmulatorConfig(transaction_idle_timeout=0.5)
    ) as emu:
        aurora = Aurora(emu, aurora_database)
        db = aurora.database()
        try:
            with pytest.raises(DatabaseConnectionError, match="not found"), db.transaction():
                db.users.create_user(UserCreate(clerk_user_id="idle"))
                time.sleep(1.2)
                db.users.create_user(UserCreate(clerk_user_id="idle-2"))
            assert aurora.count("SELECT count(*) FROM users WHERE clerk_user_id LIKE 'idle%'") == 0
            db.users.create_user(UserCreate(clerk_user_id="after-idle"))
            assert db.users.find_by_clerk_id("after-idle") is not None
        finally:
            db.dispose()
            direct = create_engine(aurora_database)
            with direct.begin() as conn:
                conn.execute(text("DELETE FROM users"))
            direct.dispose()


# --- clear errors -----------------------------------------------------------------------------


def test_a_wrong_cluster_arn_says_what_to_fix(aurora: Aurora) -> None:
    db = aurora.database(
        AURORA_CLUSTER_ARN="arn:aws:rds:us-east-1:123456789012:cluster:not-this-one"
    )
    with pytest.raises(
        ConfigurationError, match=r"HttpEndpointNotEnabledException.*AURORA_CLUSTER_ARN"
    ):
        db.users.find_by_clerk_id("x")
    db.dispose()


def test_a_wrong_secret_arn_says_what_to_fix(aurora: Aurora) -> None:
    db = aurora.database(
        AURORA_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:nope"
    )
    with pytest.raises(ConfigurationError, match=r"SecretsErrorException.*AURORA_SECRET_ARN"):
        db.users.create_user(UserCreate(clerk_user_id="x"))
    assert aurora.count("SELECT count(*) FROM users") == 0
    db.dispose()


@pytest.mark.parametrize(
    ("cluster", "secret", "message"),
    [
        ("my-cluster", None, "AURORA_CLUSTER_ARN 'my-cluster' is not a cluster ARN"),
        (
            None,
            "arn:aws:s3:::bucket",
            "AURORA_SECRET_ARN 'arn:aws:s3:::bucket' is not a Secrets Manager ARN",
        ),
    ],
)
def test_malformed_arns_fail_before_any_call(
    aurora: Aurora, cluster: str | None, secret: str | None, message: str
) -> None:
    overrides = {}
    if cluster:
        overrides["AURORA_CLUSTER_ARN"] = cluster
    if secret:
        overrides["AURORA_SECRET_ARN"] = secret
    with pytest.raises(ConfigurationError, match=message):
        aurora.database(**overrides)


def test_a_disabled_http_endpoint_says_what_to_fix(db: Database, aurora: Aurora) -> None:
    """Mid-session the call was refused (it did not run): a typed operation error that
    keeps what to fix. At first contact it is a configuration error."""
    aurora.emulator.http_endpoint_enabled = False
    try:
        with pytest.raises(DatabaseOperationError, match="enable the Data API") as info:
            db.users.create_user(UserCreate(clerk_user_id="x"))
        assert not isinstance(info.value, ConfigurationError | DatabaseConnectionError)
        fresh = aurora.database()
        with pytest.raises(ConfigurationError, match="enable the Data API"):
            fresh.users.find_by_clerk_id("x")
        fresh.dispose()
    finally:
        aurora.emulator.http_endpoint_enabled = True
    assert aurora.count("SELECT count(*) FROM users") == 0


def test_an_invalid_secret_says_what_to_fix(db: Database, aurora: Aurora) -> None:
    aurora.emulator.secret_valid = False
    try:
        with pytest.raises(DatabaseOperationError, match="InvalidSecretException"):
            db.users.find_by_clerk_id("x")
        fresh = aurora.database()
        with pytest.raises(ConfigurationError, match="InvalidSecretException"):
            fresh.users.find_by_clerk_id("x")
        fresh.dispose()
    finally:
        aurora.emulator.secret_valid = True


def test_a_type_the_data_api_cannot_return_says_to_cast_it(db: Database) -> None:
    with db.transaction() as tx, pytest.raises(DBAPIError, match="cast to text"):
        tx.session.execute(text("SELECT interval '1 day'"))
    with db.transaction() as tx:
        assert (
            tx.session.execute(text("SELECT CAST(interval '1 day' AS text)")).scalar_one()
            == "1 day"
        )


def test_an_unreachable_endpoint_says_what_to_check(aurora: Aurora) -> None:
    settings = aurora.settings(AWS_ENDPOINT_URL_RDS_DATA="http://127.0.0.1:9")
    db = Database.from_url(data_api_url(settings), settings)
    with pytest.raises(ConfigurationError, match="AWS_ENDPOINT_URL_RDS_DATA"):
        db.users.find_by_clerk_id("x")


def test_driver_errors_carry_sqlstate_and_constraint(db: Database) -> None:
    db.users.create_user(UserCreate(clerk_user_id="dup"))
    with pytest.raises(DBAPIError) as info, db.transaction() as tx:
        tx.session.execute(text("INSERT INTO users (clerk_user_id) VALUES ('dup')"))
    orig = info.value.orig
    assert isinstance(orig, driver.IntegrityError)
    assert (orig.sqlstate, orig.constraint_name) == ("23505", "pk_users")  # type: ignore[attr-defined]


def test_values_round_trip_exactly_through_the_data_api(db: Database) -> None:
    """Spot checks at the extremes (the whole facade suite also runs on both backends)."""
    db.instruments.upsert_many([instrument_create("MAX", current_price=Decimal("99999999.9999"))])
    user = db.users.create_user(
        UserCreate(clerk_user_id="edge", target_retirement_income=Decimal("9999999999.99"))
    )
    assert user.target_retirement_income == Decimal("9999999999.99")
    account = db.accounts.create_account(
        "edge", AccountCreate(account_name="a", cash_balance=Decimal("-0.01"))
    )
    assert isinstance(account.id, uuid.UUID)
    position = db.positions.add_position(account.id, "MAX", Decimal("123456789012.12345678"))
    assert position.quantity == Decimal("123456789012.12345678")
    found = db.instruments.find_by_symbol("MAX")
    assert found is not None
    assert found.current_price == Decimal("99999999.9999")
    payload = {"n": 9007199254740993, "f": 0.1, "u": "ü", "nested": [None, True, {"x": []}]}
    job = db.jobs.create_job(
        JobCreate(clerk_user_id="edge", job_type="risk_assessment", request_payload=payload)
    )
    stored = db.jobs.find_by_id(job.id)
    assert stored is not None
    assert stored.request_payload == payload
    assert stored.created_at.tzinfo is not None


def test_the_alembic_command_migrates_through_the_data_api(empty_aurora: Aurora) -> None:
    """`alembic upgrade head` / `check` with only the Aurora variables set: how CI applies
    migrations to a cluster it has no network path to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "AURORA_"))}
    env.update(
        AURORA_CLUSTER_ARN=empty_aurora.emulator.resource_arn,
        AURORA_SECRET_ARN=empty_aurora.emulator.secret_arn,
        AURORA_DATABASE=str(empty_aurora.url.database),
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_RDS_DATA=empty_aurora.emulator.endpoint_url,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    repo = Path(__file__).resolve().parent.parent
    empty_aurora.emulator.reset_counts()
    for args in (["upgrade", "head"], ["check"]):
        result = subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert tables_of(empty_aurora) == 7
    assert empty_aurora.emulator.call_counts.get("ExecuteStatement", 0) > 0


# --- honest outcomes when a call or its answer is lost ---------------------------------------


def job_count(aurora: Aurora) -> int:
    return aurora.count("SELECT count(*) FROM jobs")


@pytest.fixture
def job_owner(db: Database) -> str:
    return db.users.create_user(UserCreate(clerk_user_id="lost_owner")).clerk_user_id


def test_a_commit_whose_answer_is_lost_is_unknown_and_was_committed(
    db: Database, aurora: Aurora, job_owner: str
) -> None:
    with pytest.raises(CommitOutcomeUnknownError, match="may or may not"), db.transaction():
        db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="risk_assessment"))
        aurora.emulator.drop_next("CommitTransaction", "after")
    assert job_count(aurora) == 1
    assert aurora.emulator.open_transactions == 0


def test_a_commit_lost_before_it_ran_is_unknown_and_the_transaction_is_released(
    db: Database, aurora: Aurora, job_owner: str
) -> None:
    with pytest.raises(CommitOutcomeUnknownError), db.transaction():
        db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="risk_assessment"))
        aurora.emulator.drop_next("CommitTransaction", "before")
    assert job_count(aurora) == 0
    assert aurora.emulator.open_transactions == 0  # the rollback released it: no locks left
    db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="risk_assessment"))


@pytest.mark.parametrize("code", ["NotFoundException", "BadRequestException"])
def test_a_commit_answered_with_an_error_is_released_and_not_a_configuration_error(
    db: Database, aurora: Aurora, job_owner: str, code: str
) -> None:
    with pytest.raises(AlexDBError) as info, db.transaction():
        db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="risk_assessment"))
        aurora.emulator.fail_next(1, code=code)
    assert not isinstance(info.value, ConfigurationError)
    assert job_count(aurora) == 0
    assert aurora.emulator.open_transactions == 0


@pytest.mark.parametrize(("when", "stored"), [("before", 0), ("after", 1)])
def test_an_autocommit_write_whose_answer_is_lost_is_unknown(
    db: Database, aurora: Aurora, job_owner: str, when: str, stored: int
) -> None:
    aurora.emulator.drop_next("ExecuteStatement", when)
    with pytest.raises(CommitOutcomeUnknownError):
        db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="risk_assessment"))
    assert job_count(aurora) == stored


def test_a_read_whose_answer_is_lost_is_a_connection_error_not_configuration(
    db: Database, aurora: Aurora, job_owner: str
) -> None:
    aurora.emulator.drop_next("ExecuteStatement", "after")
    with pytest.raises(DatabaseConnectionError) as info:
        db.users.find_by_clerk_id(job_owner)
    assert not isinstance(info.value, CommitOutcomeUnknownError | ConfigurationError)
    assert db.users.find_by_clerk_id(job_owner) is not None


# --- what SQLAlchemy's dialect suite found (dialect_suite/; each fix has its own test) ----

_probe_metadata = MetaData()
PROBE = Table(
    "alex_dialect_probe",
    _probe_metadata,
    Column("id", Integer, primary_key=True),
    Column("blob", LargeBinary),
    Column("day", Date),
    Column("at", Time),
    Column("at_tz", Time(timezone=True)),
    Column("span", Interval),
    Column("doc", JSON),
    Column("numbers", ARRAY(Integer)),
    Column("words", ARRAY(Text)),
    Column("ratio", Float),
)


@pytest.fixture
def probe(aurora: Aurora, client: Any) -> Iterator[Engine]:
    engine = aurora.engine(client)
    _probe_metadata.create_all(engine)
    yield engine
    _probe_metadata.drop_all(engine)
    engine.dispose()


def stored(engine: Engine, column: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(column)).scalar_one()


def test_binary_values_round_trip(probe: Engine) -> None:
    """The driver had no DB-API ``Binary`` constructor: every LargeBinary write failed."""
    data = bytes(range(256))
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "blob": data})
    assert stored(probe, PROBE.c.blob) == data


def test_empty_in_on_an_integer_column_is_valid_sql(probe: Engine) -> None:
    """The Integer cast wrapped SQLAlchemy's empty-set placeholder: a syntax error."""
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), [{"id": 1}, {"id": 2}])
    with probe.connect() as conn:
        ids = PROBE.c.id
        assert conn.execute(select(ids).where(ids.in_([]))).all() == []
        assert conn.execute(select(ids).where(ids.not_in([])).order_by(ids)).scalars().all() == [
            1,
            2,
        ]
        assert conn.execute(select(ids).where(ids.in_([2, 3]))).scalars().all() == [2]
        # Integer arguments still reach functions that take integer, not bigint.
        days = func.make_interval(0, 0, 0, 2, type_=Interval)
        assert conn.execute(select(days)).scalar_one() == dt.timedelta(2)


def test_a_null_date_parameter_has_a_type(probe: Engine) -> None:
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "day": None})
    with probe.connect() as conn:
        day = bindparam("day", None, type_=Date)
        assert conn.execute(select(PROBE.c.id).where(PROBE.c.day.is_distinct_from(day))).all() == []
        assert conn.execute(select(literal(None, Date))).scalar_one() is None


def test_time_keeps_microseconds_and_its_offset(probe: Engine) -> None:
    plain = dt.time(9, 30, 15, 123456)
    zoned = dt.time(9, 30, 15, 654321, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "at": plain, "at_tz": zoned})
    assert stored(probe, PROBE.c.at) == plain
    assert stored(probe, PROBE.c.at_tz) == zoned  # selected as text: TIMETZ cannot be a result


def test_intervals_are_sent_and_read_back_as_timedeltas(probe: Engine) -> None:
    span = dt.timedelta(days=-3, seconds=4_000, microseconds=17)
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "span": span})
    assert stored(probe, PROBE.c.span) == span
    moment = dt.datetime(2026, 3, 1, 12, 0)
    with probe.connect() as conn:
        assert conn.execute(
            select(literal(moment) - literal(dt.timedelta(days=1)))
        ).scalar_one() == (dt.datetime(2026, 2, 28, 12, 0))
        assert conn.execute(select(literal(span))).scalar_one() == span


def test_json_paths_and_indexes_are_typed(probe: Engine) -> None:
    """Path parameters went out as varchar: "operator does not exist: json #>> varchar"."""
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "doc": {"a": [10, {"b": "deep"}], "k": "v"}})
    with probe.connect() as conn:
        doc = PROBE.c.doc
        assert conn.execute(select(doc[("a", 1, "b")].as_string())).scalar_one() == "deep"
        assert conn.execute(select(doc["a"][0].as_integer())).scalar_one() == 10
        assert conn.execute(select(doc["k"].as_string())).scalar_one() == "v"


@pytest.mark.parametrize("name", ["1param", "42numbers", "more/slashes", "q?marks", "réve", "a b"])
def test_bind_parameter_names_the_data_api_cannot_carry_are_escaped(
    probe: Engine, name: str
) -> None:
    with probe.connect() as conn:
        assert conn.execute(select(bindparam(name, 7, type_=Integer))).scalar_one() == 7


def test_every_isolation_level_and_only_a_non_default_one_costs_a_call(
    aurora: Aurora, client: Any
) -> None:
    for level, extra in [("SERIALIZABLE", 1), ("REPEATABLE READ", 1), ("READ COMMITTED", 0)]:
        engine = aurora.engine(client, isolation_level=level)
        with engine.connect():
            pass  # bootstrap
        with count_data_api_calls(client) as calls, engine.begin() as conn:
            shown = conn.execute(text("SHOW transaction_isolation")).scalar_one()
        assert shown == level.lower()
        assert ops(calls) == ["Begin", *["Execute"] * extra, "Execute", "Commit"]
        engine.dispose()
    # An AUTOCOMMIT engine stays one after a connection used another level.
    engine = aurora.engine(client, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="SERIALIZABLE")
        assert conn.get_isolation_level() == "SERIALIZABLE"
    with count_data_api_calls(client) as calls, engine.connect() as conn:
        assert conn.get_isolation_level() == "AUTOCOMMIT"
        conn.execute(text("SELECT 1"))
    assert ops(calls) == ["Execute"]
    engine.dispose()


def test_arrays_are_sent_as_literals_of_the_columns_type(probe: Engine) -> None:
    words = ["plain", 'with "quotes"', "back\\slash", "comma, {braces}", "", None]
    with probe.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 1, "numbers": [3, None, -1], "words": words})
    assert stored(probe, PROBE.c.numbers) == [3, None, -1]
    assert stored(probe, PROBE.c.words) == words


def test_infinite_and_nan_floats_round_trip(probe: Engine) -> None:
    with probe.begin() as conn:
        conn.execute(
            PROBE.insert(),
            [
                {"id": 1, "ratio": math.inf},
                {"id": 2, "ratio": -math.inf},
                {"id": 3, "ratio": math.nan},
            ],
        )
    with probe.connect() as conn:
        values = conn.execute(select(PROBE.c.ratio).order_by(PROBE.c.id)).scalars().all()
    assert values[:2] == [math.inf, -math.inf]
    assert math.isnan(values[2])


@pytest.mark.parametrize(
    "sent",
    [
        "2026-12-02 09:39:16.5",
        "2026-12-02T09:39:16.500",
        "2026-12-02T09:39:16.500000Z",
        "2026-12-02 09:39:16.5+00",
        "2026-12-02T11:39:16.500+02:00",
    ],
)
def test_timestamps_are_decoded_in_every_common_form(sent: str) -> None:
    """Another Data API implementation sends ISO-8601 with T and Z: every read failed."""
    expected = dt.datetime(2026, 12, 2, 9, 39, 16, 500000, tzinfo=dt.UTC)
    assert driver.decode_field({"stringValue": sent}, "timestamptz") == expected
    if "+" not in sent and "Z" not in sent:
        assert driver.decode_field({"stringValue": sent}, "timestamp") == expected.replace(
            tzinfo=None
        )


def test_a_value_that_cannot_be_decoded_is_a_typed_error_naming_the_column() -> None:
    records = [[{"longValue": 1}, {"stringValue": "yesterday"}]]
    with pytest.raises(
        driver.DataAPIDataError, match=r"column 'created_at' \(timestamptz\) value 'yesterday'"
    ):
        driver._decode_records(records, ["int8", "timestamptz"], [("id",), ("created_at",)])


def test_create_engine_works_from_a_url_alone(
    aurora: Aurora, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy's test plugin, Alembic and other tools make engines from a URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_RDS_DATA", aurora.emulator.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    url = URL.create(
        "postgresql+alexdataapi",
        database=aurora.url.database,
        query={"resource_arn": CLUSTER_ARN, "secret_arn": SECRET_ARN, "region": "us-east-1"},
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT current_database()")).scalar_one() == aurora.url.database
            )
    finally:
        engine.dispose()
    with pytest.raises(ConfigurationError, match="unknown Data API URL parameter"):
        create_engine(url.update_query_dict({"sslmode": "require"})).connect()

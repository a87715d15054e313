"""The database holds its invariants even for writers that bypass the schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alex_db import models
from alex_db.errors import integrity_details
from tests.factories import make_account, make_instrument, make_job, make_position, make_user

CASES: list[tuple[str, str, str]] = [
    # (table, INSERT statement, parameters, constraint that must reject it)
    (
        "users",
        "INSERT INTO users (clerk_user_id, years_until_retirement) VALUES ('u', 101)",
        "ck_users_years_until_retirement_range",
    ),
    (
        "users",
        "INSERT INTO users (clerk_user_id, target_retirement_income) VALUES ('u', -0.01)",
        "ck_users_target_retirement_income_non_negative",
    ),
    (
        "users",
        "INSERT INTO users (clerk_user_id, region_targets) VALUES ('u', '[1, 2]')",
        "ck_users_region_targets_object",
    ),
    (
        "instruments",
        "INSERT INTO instruments (symbol, name, current_price) VALUES ('X', 'x', -1)",
        "ck_instruments_current_price_non_negative",
    ),
    (
        "instruments",
        "INSERT INTO instruments (symbol, name, instrument_type) VALUES ('X', 'x', 'crypto')",
        "ck_instruments_instrument_type_allowed",
    ),
    (
        "instruments",
        "INSERT INTO instruments (symbol, name) VALUES ('spy', 'lower case')",
        "ck_instruments_symbol_format",
    ),
    (
        "instruments",
        "INSERT INTO instruments (symbol, name) VALUES ('SPY', 'dup')",
        "pk_instruments",
    ),
    (
        "accounts",
        "INSERT INTO accounts (clerk_user_id, account_name, cash_interest) VALUES (:u, 'a', 1.5)",
        "ck_accounts_cash_interest_range",
    ),
    (
        "accounts",
        "INSERT INTO accounts (clerk_user_id, account_name) VALUES ('nobody', 'a')",
        "fk_accounts_clerk_user_id_users",
    ),
    (
        "accounts",
        "INSERT INTO accounts (clerk_user_id, account_name) VALUES (:u, '  ')",
        "ck_accounts_account_name_not_blank",
    ),
    (
        "positions",
        "INSERT INTO positions (account_id, symbol, quantity) VALUES (:a, 'SPY', 0)",
        "ck_positions_quantity_positive",
    ),
    (
        "positions",
        "INSERT INTO positions (account_id, symbol, quantity) VALUES (:a, 'SPY', -3)",
        "ck_positions_quantity_positive",
    ),
    (
        "positions",
        "INSERT INTO positions (account_id, symbol, quantity) VALUES (:a, 'NOPE', 1)",
        "fk_positions_symbol_instruments",
    ),
    (
        "positions",
        "INSERT INTO positions (account_id, symbol, quantity) VALUES (:a, 'SPY', 1)",
        "uq_positions_account_id_symbol",
    ),
    (
        "price_history",
        "INSERT INTO price_history (symbol, date, close_price) VALUES ('SPY', '2024-01-02', -1)",
        "ck_price_history_close_price_non_negative",
    ),
    (
        "price_history",
        "INSERT INTO price_history (symbol, date, close_price, volume) VALUES ('SPY', '2024-01-02', 1, -1)",
        "ck_price_history_volume_non_negative",
    ),
    (
        "price_history",
        "INSERT INTO price_history (symbol, date, close_price) VALUES ('ZZZ', '2024-01-02', 1)",
        "fk_price_history_symbol_instruments",
    ),
    (
        "jobs",
        "INSERT INTO jobs (clerk_user_id, job_type) VALUES (:u, 'astrology')",
        "ck_jobs_job_type_allowed",
    ),
    (
        "jobs",
        "INSERT INTO jobs (clerk_user_id, job_type, status) VALUES (:u, 'risk_assessment', 'done')",
        "ck_jobs_status_allowed",
    ),
    (
        "jobs",
        "INSERT INTO jobs (clerk_user_id, job_type, completed_at) VALUES (:u, 'risk_assessment', now())",
        "ck_jobs_completed_at_only_when_finished",
    ),
    (
        "agent_logs",
        "INSERT INTO agent_logs (job_id, agent_name, output_tokens) VALUES (:j, 'x', -1)",
        "ck_agent_logs_output_tokens_non_negative",
    ),
    (
        "agent_logs",
        "INSERT INTO agent_logs (job_id, agent_name) VALUES (gen_random_uuid(), 'x')",
        "fk_agent_logs_job_id_jobs",
    ),
]


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    user = make_user(session, clerk_user_id="u")
    spy = make_instrument(session, symbol="SPY")
    account = make_account(session, user=user)
    make_position(session, account=account, instrument=spy)
    job = make_job(session, user=user)
    session.commit()  # a savepoint release: the per-test transaction still rolls it all back
    return {"u": user.clerk_user_id, "a": account.id, "j": job.id}


def count(conn: Connection, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.mark.parametrize(("table", "sql", "constraint"), CASES, ids=[c[2] for c in CASES])
def test_constraint_rejects_and_nothing_is_written(
    session: Session, world: dict[str, Any], table: str, sql: str, constraint: str
) -> None:
    conn = session.connection()
    before = count(conn, table)
    statement = text(sql)
    params = {k: v for k, v in world.items() if f":{k}" in sql}
    with pytest.raises(IntegrityError) as info, session.begin_nested():
        session.execute(statement, params)
    assert integrity_details(info.value).constraint == constraint
    assert count(session.connection(), table) == before


def test_required_columns_are_not_null(session: Session) -> None:
    with pytest.raises(IntegrityError, match="not-null"), session.begin_nested():
        session.execute(text("INSERT INTO instruments (symbol, name) VALUES ('X', NULL)"))


def test_deleting_a_user_cascades_to_everything_they_own(
    session: Session, world: dict[str, Any]
) -> None:
    session.execute(
        text("INSERT INTO agent_logs (job_id, agent_name) VALUES (:j, 'planner')"), world
    )
    session.execute(text("DELETE FROM users WHERE clerk_user_id = :u"), world)
    for table in ("accounts", "positions", "jobs", "agent_logs"):
        assert count(session.connection(), table) == 0, table
    assert count(session.connection(), "instruments") == 1  # reference data stays


def test_an_instrument_in_use_cannot_be_deleted(session: Session, world: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as info, session.begin_nested():
        session.execute(text("DELETE FROM instruments WHERE symbol = 'SPY'"))
    assert integrity_details(info.value).constraint == "fk_positions_symbol_instruments"


@pytest.mark.parametrize("table", ["users", "instruments", "accounts", "positions", "jobs"])
def test_raw_sql_updates_keep_updated_at_current(
    session: Session, world: dict[str, Any], table: str
) -> None:
    long_ago = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    conn = session.connection()
    # Back-date the rows with the trigger off, then update them the way another service would.
    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER trg_{table}_updated_at"))
    conn.execute(text(f"UPDATE {table} SET updated_at = :t"), {"t": long_ago})
    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER trg_{table}_updated_at"))
    conn.execute(text(f"UPDATE {table} SET created_at = created_at"))
    stamps = conn.execute(text(f"SELECT updated_at FROM {table}")).scalars().all()
    now = conn.execute(select(func.now())).scalar_one()
    assert stamps
    assert all(s == now for s in stamps)


def test_every_updated_at_table_has_its_trigger() -> None:
    assert set(models.TABLES_WITH_UPDATED_AT) == {
        "users",
        "instruments",
        "accounts",
        "positions",
        "jobs",
    }

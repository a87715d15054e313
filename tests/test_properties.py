"""Property tests: whatever the schemas accept goes Create -> database -> Read exactly, on
both backends. Decimals keep every digit, aware timestamps every microsecond, payload
keys and strings every character. The only differences allowed are jsonb's own (key
order, no negative zero; see the README on payloads); numbers are compared by their JSON text, so a
``True`` that came back as ``1`` or a ``1.0`` as ``1`` would fail."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from alex_db import Database
from alex_db.models import Job
from alex_db.schemas import (
    AccountCreate,
    AgentLogCreate,
    JobCreate,
    PriceHistoryCreate,
    UserCreate,
)
from tests.factories import instrument_create

# Function-scoped fixtures are fine here: every example writes rows under keys of its
# own inside the test's transaction, which is rolled back at the end.
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_serial = itertools.count()

# Any Unicode text PostgreSQL can hold: no lone surrogates, no NUL (both are refused).
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30)
# Floats whose shortest text keeps its form in numeric (below 2**53 no exponent is
# lost); integers far beyond 64 bits (jsonb numbers are numeric).
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)
PAYLOADS = st.dictionaries(TEXT, JSON, max_size=6)
MONEY = st.decimals(
    min_value=Decimal("-9999999999.99"), max_value=Decimal("9999999999.99"), places=2
)
PRICE = st.decimals(min_value=Decimal(0), max_value=Decimal("99999999.9999"), places=4)
QUANTITY = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("999999999999.99999999"), places=8
)
AWARE = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=45)),
            dt.timezone(-dt.timedelta(hours=9)),
        ]
    ),
)


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def stored(value: Any) -> Any:
    """What jsonb keeps of a payload: its numbers are numeric, which has no negative zero
    (-0.0 is stored as 0.0, on both backends). Everything else is kept as sent."""
    if isinstance(value, float) and value == 0:
        return 0.0
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stored(v) for v in value]
    return value


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


@PROPERTY
@given(
    display_name=TEXT.map(str.strip).filter(bool) | st.none(),
    years=st.integers(0, 100) | st.none(),
    income=MONEY.filter(lambda d: d >= 0) | st.none(),
    equity=st.floats(0, 100),
    cash=MONEY,
    quantity=QUANTITY,
    price=PRICE,
)
def test_users_accounts_positions_and_instruments_round_trip(
    db: Database,
    display_name: str | None,
    years: int | None,
    income: Decimal | None,
    equity: float,
    cash: Decimal,
    quantity: Decimal,
    price: Decimal,
) -> None:
    user = UserCreate(
        clerk_user_id=unique("prop_user_"),
        display_name=display_name,
        years_until_retirement=years,
        target_retirement_income=income,
        asset_class_targets={"equity": equity, "fixed_income": 100 - equity},
    )
    db.users.create_user(user)
    read = db.users.find_by_clerk_id(user.clerk_user_id)
    assert read is not None
    for name, value in user.model_dump().items():
        assert getattr(read, name) == value, name
    assert str(read.target_retirement_income) == str(income)

    symbol = unique("P")
    db.instruments.create_instrument(instrument_create(symbol, current_price=price))
    instrument = db.instruments.find_by_symbol(symbol)
    assert instrument is not None
    assert str(instrument.current_price) == str(price)

    account = db.accounts.create_account(
        user.clerk_user_id, AccountCreate(account_name="acct", cash_balance=cash)
    )
    assert str(db.accounts.find_by_id(account.id).cash_balance) == str(cash)  # type: ignore[union-attr]
    position = db.positions.add_position(account.id, symbol, quantity)
    found = db.positions.find_by_id(position.id)
    assert found is not None
    assert str(found.quantity) == str(quantity)


@PROPERTY
@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)),
    close=PRICE,
    volume=st.integers(0, 2**63 - 1) | st.none(),
)
def test_prices_round_trip(db: Database, day: dt.date, close: Decimal, volume: int | None) -> None:
    symbol = unique("H")
    db.instruments.create_instrument(instrument_create(symbol))
    db.price_history.record_prices(
        [PriceHistoryCreate(symbol=symbol, date=day, close_price=close, volume=volume)]
    )
    (read,) = db.price_history.series(symbol, day, day)
    assert (read.date, str(read.close_price), read.volume) == (day, str(close), volume)


@PROPERTY
@given(request=PAYLOADS, report=PAYLOADS, started=AWARE, tokens=st.integers(0, 2**31 - 1))
def test_jobs_payloads_timestamps_and_logs_round_trip(
    db: Database, request: dict[str, Any], report: dict[str, Any], started: dt.datetime, tokens: int
) -> None:
    user = db.users.create_user(UserCreate(clerk_user_id=unique("prop_job_")))
    job = db.jobs.create_job(
        JobCreate(
            clerk_user_id=user.clerk_user_id, job_type="portfolio_analysis", request_payload=request
        )
    )
    db.jobs.update_report(job.id, report)
    with db.transaction() as tx:  # a service's own write of an aware timestamp
        tx.session.execute(update(Job).where(Job.id == job.id).values(started_at=started))
    read = db.jobs.find_by_id(job.id)
    assert read is not None
    assert as_json(read.request_payload) == as_json(stored(request))
    assert as_json(read.report_payload) == as_json(stored(report))
    assert read.started_at == started
    assert read.started_at is not None
    assert read.started_at.utcoffset() is not None
    assert read.started_at.microsecond == started.astimezone(dt.UTC).microsecond

    log = db.agent_logs.record(
        AgentLogCreate(job_id=job.id, agent_name="reporter", input_tokens=tokens)
    )
    (logged,) = db.agent_logs.find_by_job(job.id)
    assert (logged.id, logged.input_tokens) == (log.id, tokens)

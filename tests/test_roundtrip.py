"""Create schema -> ORM -> database -> ORM -> Read schema gives back exactly what went in."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alex_db import models, schemas
from tests.factories import make_account, make_instrument, make_job, make_user

M = TypeVar("M", bound=models.Base)

NESTED_JSON: dict[str, Any] = {
    "text": 'naïve café – 日本語 "quoted" \\ back',
    "int": 9007199254740993,  # beyond a double's exact range
    "float": 0.1,
    "negative": -12.5e-7,
    "null": None,
    "bool": [True, False],
    "nested": {"list": [1, [2, {"three": 3}]], "empty": {}},
}


def reload(session: Session, model: type[M], key: object) -> M:
    """Forget every object, then load this one from the database."""
    session.flush()
    session.expunge_all()
    obj = session.get(model, key)
    assert obj is not None
    return obj


def assert_round_trip(sent: BaseModel, read: BaseModel) -> None:
    # An id the caller did not choose is the database's to fill in.
    generated = {"id"} if getattr(sent, "id", None) is None else set()
    for name, value in sent.model_dump(exclude=generated).items():
        got = getattr(read, name)
        assert got == value, f"{name}: sent {value!r}, read back {got!r}"
        if isinstance(value, Decimal):
            assert str(got) == str(value), f"{name}: {value} came back as {got}"


def test_user(session: Session) -> None:
    sent = schemas.UserCreate(
        clerk_user_id="user_2abcXYZ",
        display_name="Zoë O'Brien",
        years_until_retirement=27,
        target_retirement_income=Decimal("9999999999.99"),
        asset_class_targets={"equity": 62.5, "fixed_income": 30, "cash": 7.5},
        region_targets={"north_america": 55.55, "europe": 44.45},
    )
    session.add(sent.to_orm())
    read = schemas.UserRead.model_validate(reload(session, models.User, sent.clerk_user_id))
    assert_round_trip(sent, read)
    assert read.created_at.tzinfo is not None
    assert read.updated_at >= read.created_at


def test_user_defaults_come_from_the_database(session: Session) -> None:
    session.add(models.User(clerk_user_id="defaults"))
    read = schemas.UserRead.model_validate(reload(session, models.User, "defaults"))
    assert read.asset_class_targets == {"equity": 70, "fixed_income": 30}
    assert read.region_targets == {"north_america": 50, "international": 50}


def test_instrument(session: Session) -> None:
    sent = schemas.InstrumentCreate(
        symbol="BRK.B",
        name="Berkshire Hathaway Inc. Class B",
        instrument_type="stock",
        current_price=Decimal("99999999.9999"),
        allocation_regions={"north_america": 100},
        allocation_sectors={"financials": 70.25, "industrials": 29.75},
        allocation_asset_class={"equity": 100},
    )
    session.add(sent.to_orm())
    read = schemas.InstrumentRead.model_validate(reload(session, models.Instrument, "BRK.B"))
    assert_round_trip(sent, read)


def test_account(session: Session) -> None:
    user = make_user(session)
    sent = schemas.AccountCreate(
        account_name="Roth IRA",
        account_purpose='Tax-free growth; "long" horizon',
        cash_balance=Decimal("-1234567890.01"),
        cash_interest=Decimal("0.0425"),
    )
    account = sent.to_orm(user.clerk_user_id)
    session.add(account)
    session.flush()
    read = schemas.AccountRead.model_validate(reload(session, models.Account, account.id))
    assert_round_trip(sent, read)
    assert isinstance(read.id, uuid.UUID)
    assert read.clerk_user_id == user.clerk_user_id


def test_position(session: Session) -> None:
    user = make_user(session)
    account = make_account(session, user=user)
    make_instrument(session, symbol="QQQ")
    sent = schemas.PositionCreate(
        account_id=account.id,
        symbol="qqq",
        quantity=Decimal("123456789012.12345678"),
        as_of_date=dt.date(2024, 2, 29),
    )
    position = sent.to_orm()
    session.add(position)
    session.flush()
    read = schemas.PositionRead.model_validate(reload(session, models.Position, position.id))
    assert_round_trip(sent, read)


def test_position_as_of_date_defaults_to_today(session: Session) -> None:
    user = make_user(session)
    account = make_account(session, user=user)
    make_instrument(session, symbol="QQQ")
    position = schemas.PositionCreate(
        account_id=account.id, symbol="QQQ", quantity=Decimal(1)
    ).to_orm()
    session.add(position)
    session.flush()
    read = schemas.PositionRead.model_validate(reload(session, models.Position, position.id))
    assert read.as_of_date == session.scalar(select(func.current_date()))


def test_price_history(session: Session) -> None:
    make_instrument(session, symbol="TLT")
    sent = schemas.PriceHistoryCreate(
        symbol="TLT", date=dt.date(1999, 12, 31), close_price=Decimal("0.0001"), volume=2**63 - 1
    )
    session.add(models.PriceHistory(**sent.model_dump()))
    read = schemas.PriceHistoryRead.model_validate(
        reload(session, models.PriceHistory, ("TLT", dt.date(1999, 12, 31)))
    )
    assert_round_trip(sent, read)


def test_job_with_payloads_and_timestamps(session: Session) -> None:
    user = make_user(session)
    sent = schemas.JobCreate(
        clerk_user_id=user.clerk_user_id,
        job_type="retirement_projection",
        request_payload=NESTED_JSON,
    )
    job = sent.to_orm()
    # A zone far from UTC, with microseconds: both must survive.
    started = dt.datetime(
        2024, 3, 10, 1, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-9, minutes=-30))
    )
    job.started_at = started
    job.status = "running"
    job.report_payload = {"markdown": "# Report\n\n*bold*"}
    session.add(job)
    session.flush()
    read = schemas.JobRead.model_validate(reload(session, models.Job, job.id))
    assert_round_trip(sent, read)
    assert read.started_at == started
    assert read.started_at.utcoffset() is not None
    assert read.report_payload == {"markdown": "# Report\n\n*bold*"}
    assert read.status == "running"


def test_agent_log(session: Session) -> None:
    job = make_job(session, user=make_user(session))
    sent = schemas.AgentLogCreate(
        job_id=job.id,
        agent_name="reporter",
        langfuse_trace_id="trace-" + "f" * 200,
        input_tokens=2**31 - 1,
        output_tokens=0,
        execution_time_ms=1234,
    )
    log = sent.to_orm()
    session.add(log)
    session.flush()
    read = schemas.AgentLogRead.model_validate(reload(session, models.AgentLog, log.id))
    assert_round_trip(sent, read)


def test_orm_reads_back_the_trigger_set_updated_at(session: Session) -> None:
    """updated_at is set by the database trigger; the ORM fetches it with RETURNING."""
    user = make_user(session, updated_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert user.updated_at == dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    user.display_name = "renamed"
    session.flush()
    # No lazy load needed: the value arrived with the UPDATE (attributes are loaded).
    assert user.updated_at > dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

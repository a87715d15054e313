"""Bad input the drivers or Python would trip over (a lone surrogate, a datetime
where a date belongs) is a typed input error with nothing written, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from alex_db import Database, InvalidInputError
from alex_db.schemas import JobCreate, UserCreate


def test_a_lone_surrogate_is_an_input_error(db: Database) -> None:
    with pytest.raises(ValidationError, match="unicode"):
        UserCreate(clerk_user_id="bad\ud800")  # the schemas refuse it themselves
    with pytest.raises(InvalidInputError, match="surrogate"):
        db.users.find_by_clerk_id("bad\ud800")
    db.users.create_user(UserCreate(clerk_user_id="ok"))
    with pytest.raises(InvalidInputError, match="surrogate"):
        db.jobs.create_job(
            JobCreate(
                clerk_user_id="ok", job_type="portfolio_analysis", request_payload={"a": "\ud800"}
            )
        )
    with pytest.raises(InvalidInputError, match="surrogate"):
        db.instruments.search("x\ud800")
    with db.transaction():  # an input error before sending leaves a block usable
        with pytest.raises(InvalidInputError, match="surrogate"):
            db.users.find_by_clerk_id("\udfff")
        db.users.create_user(UserCreate(clerk_user_id="in_block"))
    assert db.users.find_by_clerk_id("in_block") is not None
    assert db.jobs.find_by_user("ok") == []
    assert db.users.find_by_clerk_id("ok") is not None


def test_price_queries_take_dates_not_datetimes(db: Database) -> None:
    """series(aware, naive) used to escape as a TypeError from the comparison."""
    aware = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    naive = dt.datetime(2026, 1, 2)
    with pytest.raises(InvalidInputError, match="start must be a date"):
        db.price_history.series("SPY", aware, naive)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="end must be a date"):
        db.price_history.series("SPY", dt.date(2026, 1, 1), "2026-01-02")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="as_of must be a date"):
        db.price_history.latest_price("SPY", naive)
    assert db.price_history.series("SPY", dt.date(2026, 1, 1), dt.date(2026, 1, 2)) == []

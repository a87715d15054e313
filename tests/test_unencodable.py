"""Text that is not valid Unicode (a lone surrogate) is a typed input error with
nothing written, the same on both backends."""

from __future__ import annotations

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

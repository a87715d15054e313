"""Input is stored as given or refused, never silently rewritten: payload keys keep
their whitespace, and symbols are checked before they are upper-cased. Both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from alex_db import Database, InvalidInputError
from alex_db.models import Instrument, Position
from alex_db.schemas import AccountCreate, InstrumentCreate, JobCreate, JobUpdate, UserCreate
from tests.factories import instrument_create

TRICKY_KEYS = {"total ": 1, "total": 2, " lead": "  padded value  ", "nested": {" k ": " v "}}


@pytest.fixture
def job_owner(db: Database) -> str:
    db.users.create_user(UserCreate(clerk_user_id="payload_owner"))
    return "payload_owner"


def test_a_request_payload_keeps_its_keys_and_strings(db: Database, job_owner: str) -> None:
    job = db.jobs.create_job(
        JobCreate(
            clerk_user_id=job_owner, job_type="portfolio_analysis", request_payload=TRICKY_KEYS
        )
    )
    assert job.request_payload == TRICKY_KEYS
    assert db.jobs.find_by_id(job.id).request_payload == TRICKY_KEYS  # type: ignore[union-attr]


def test_job_update_payloads_keep_their_keys(db: Database, job_owner: str) -> None:
    job = db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="portfolio_analysis"))
    updated = db.jobs.update(
        job.id, JobUpdate(report_payload=TRICKY_KEYS, summary_payload=TRICKY_KEYS)
    )
    assert updated.report_payload == TRICKY_KEYS
    assert updated.summary_payload == TRICKY_KEYS
    assert db.jobs.update_charts(job.id, TRICKY_KEYS).charts_payload == TRICKY_KEYS


@pytest.mark.parametrize("symbol", ["ſpy", "ß", "SPY\n", "\tSPY", "SP Y", "ＳＰＹ", "spy\u200b"])
def test_a_symbol_is_checked_before_it_is_upper_cased(db: Database, symbol: str) -> None:
    with pytest.raises(ValidationError, match="ASCII letters"):
        InstrumentCreate(symbol=symbol, name="x")
    db.instruments.create_instrument(instrument_create("SPY"))
    account = db.accounts.create_account(
        db.users.create_user(UserCreate(clerk_user_id="holder")).clerk_user_id,
        AccountCreate(account_name="a"),
    )
    with pytest.raises(InvalidInputError, match="symbol"):
        db.positions.add_position(account.id, symbol, Decimal(1))
    with pytest.raises(InvalidInputError, match="symbol"):
        db.instruments.find_by_symbol(symbol)
    with pytest.raises(InvalidInputError):
        db.instruments.update_prices({symbol: Decimal(1)})
    with db.transaction() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Position)) == 0
        assert list(tx.session.scalars(select(Instrument.symbol))) == ["SPY"]
        assert tx.session.get(Instrument, "SPY").current_price == Decimal("450.1234")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("given", "stored"), [(" spy ", "SPY"), ("brk.b", "BRK.B"), ("^gspc", "^GSPC")]
)
def test_ordinary_symbols_are_still_upper_cased(given: str, stored: str) -> None:
    assert InstrumentCreate(symbol=given, name="x").symbol == stored


def test_jsonb_normalises_only_number_notation_and_key_order(db: Database, job_owner: str) -> None:
    """What the README promises: the only differences are jsonb's own."""
    job = db.jobs.create_job(JobCreate(clerk_user_id=job_owner, job_type="portfolio_analysis"))
    written = db.jobs.update_report(job.id, {"b": 1e16, "a": 0.5, "s": " x "})
    assert written.report_payload == {"a": 0.5, "b": 10000000000000000, "s": " x "}
    assert isinstance(written.report_payload["b"], int)  # type: ignore[index]

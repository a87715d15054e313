"""After a fault, the facade says only what is known. A TCP proxy between psycopg and
PostgreSQL cuts the connection just before or just after the server runs a COMMIT or
an autocommit write: "nothing was written" only when that is certain, otherwise
CommitOutcomeUnknownError, and the table is checked for what really happened.
(Direct PostgreSQL only: the proxy sits on its wire protocol. The Data API's
equivalents are the emulator's fault switches, in tests/test_dataapi.py.)"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, func, select, text

from alex_db import CommitOutcomeUnknownError, Database, DatabaseConnectionError
from alex_db.models import Instrument, Job, PriceHistory
from alex_db.price_files import PriceFile
from alex_db.schemas import JobCreate, UserCreate
from tests.conftest import ALL_TABLES
from tests.factories import instrument_create
from tests.faults import COMMIT, FaultProxy

OWNER = "fault_owner"


@pytest.fixture
def proxy(alex_db_url: URL) -> Iterator[FaultProxy]:
    fault = FaultProxy(alex_db_url)
    yield fault
    fault.close()
    engine = create_engine(alex_db_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} CASCADE"))
    engine.dispose()


@pytest.fixture
def db(proxy: FaultProxy, alex_db_url: URL) -> Iterator[Database]:
    database = Database.from_url(proxy.url(alex_db_url))
    database.users.create_user(UserCreate(clerk_user_id=OWNER))
    yield database
    database.dispose()


def jobs_in_table(alex_db_url: URL) -> int:
    engine = create_engine(alex_db_url)  # directly, not through the proxy
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Job)) or 0)
    finally:
        engine.dispose()


def job() -> JobCreate:
    return JobCreate(clerk_user_id=OWNER, job_type="portfolio_analysis")


def test_a_commit_whose_answer_is_lost_is_unknown_and_was_committed(
    db: Database, proxy: FaultProxy, alex_db_url: URL
) -> None:
    proxy.arm(COMMIT, "after")
    with pytest.raises(CommitOutcomeUnknownError, match="may or may not"), db.transaction():
        db.jobs.create_job(job())
        db.jobs.create_job(job())
    assert proxy.fired == 1
    assert jobs_in_table(alex_db_url) == 2  # it did commit: the error did not say otherwise


def test_a_connection_lost_before_the_commit_wrote_nothing_and_says_so(
    db: Database, proxy: FaultProxy, alex_db_url: URL
) -> None:
    """Lost under a statement of the block, before COMMIT was ever sent: the server
    rolls the transaction back, and the error can say nothing was written."""
    db.jobs.create_job(job())
    proxy.arm(b"INSERT INTO jobs", "before")
    with (
        pytest.raises(DatabaseConnectionError, match="nothing was written") as info,
        db.transaction(),
    ):
        db.users.find_by_clerk_id(OWNER)
        db.jobs.create_job(job())
    assert not isinstance(info.value, CommitOutcomeUnknownError)
    assert jobs_in_table(alex_db_url) == 1  # only the one before the block


def test_a_commit_lost_in_transit_is_still_reported_as_unknown(
    db: Database, proxy: FaultProxy, alex_db_url: URL
) -> None:
    """The COMMIT left the client and never reached the server: the client cannot tell
    that from a lost answer, so it claims nothing (and indeed nothing was written)."""
    proxy.arm(COMMIT, "before")
    with pytest.raises(CommitOutcomeUnknownError), db.transaction():
        db.jobs.create_job(job())
    assert jobs_in_table(alex_db_url) == 0


@pytest.mark.parametrize("mode", ["before", "after"])
def test_an_autocommit_write_whose_answer_is_lost_is_unknown(
    db: Database, proxy: FaultProxy, alex_db_url: URL, mode: str
) -> None:
    """One statement in autocommit: once it may have been sent, only the table knows."""
    proxy.arm(b"INSERT INTO jobs", mode)  # type: ignore[arg-type]
    with pytest.raises(CommitOutcomeUnknownError):
        db.jobs.create_job(job())
    assert jobs_in_table(alex_db_url) == (1 if mode == "after" else 0)


def test_a_multi_statement_call_whose_commit_answer_is_lost_is_unknown(
    db: Database, proxy: FaultProxy, alex_db_url: URL
) -> None:
    db.instruments.create_instrument(instrument_create("FLT"))
    proxy.arm(COMMIT, "after")
    with pytest.raises(CommitOutcomeUnknownError):
        db.instruments.update_prices({"FLT": Decimal("12.5")})
    engine = create_engine(alex_db_url)
    with engine.connect() as conn:
        price = conn.scalar(select(Instrument.current_price).where(Instrument.symbol == "FLT"))
    engine.dispose()
    assert price == Decimal("12.5")


def test_retrying_with_a_caller_chosen_id_after_a_lost_answer_leaves_one_job(
    db: Database, proxy: FaultProxy, alex_db_url: URL
) -> None:
    request = job().model_copy(update={"id": uuid.uuid4()})
    proxy.arm(b"INSERT INTO jobs", "after")
    with pytest.raises(CommitOutcomeUnknownError):
        db.jobs.create_job(request)
    again = db.jobs.create_job(request)  # the README's recipe
    assert again.id == request.id
    assert jobs_in_table(alex_db_url) == 1


def test_a_read_on_a_dropped_connection_is_a_connection_error(
    db: Database, proxy: FaultProxy
) -> None:
    proxy.arm(b"FROM users", "after")
    with pytest.raises(DatabaseConnectionError) as info:
        db.users.find_by_clerk_id(OWNER)
    assert not isinstance(info.value, CommitOutcomeUnknownError)
    assert db.users.find_by_clerk_id(OWNER) is not None  # the pool recovers


def test_a_connection_lost_in_the_middle_of_a_price_load_wrote_nothing(
    db: Database, proxy: FaultProxy, alex_db_url: URL, tmp_path: Path
) -> None:
    """Cut while the rows stream straight into price_history (COPY): a typed
    connection error that can say nothing was written, and nothing was."""
    db.instruments.create_instrument(instrument_create("SPY"))
    start = dt.date(2020, 1, 1)
    path = tmp_path / "prices.csv"
    lines = [f"SPY,{start + dt.timedelta(days=i)},10.5,7" for i in range(3000)]
    path.write_text("symbol,date,close_price,volume\n" + "\n".join(lines) + "\n")
    proxy.arm(b"SPY\t2024-01-01", "before")  # a row in the middle of the COPY data
    with pytest.raises(DatabaseConnectionError, match="nothing was written") as info:
        db.price_history.load_file(PriceFile(path))
    assert not isinstance(info.value, CommitOutcomeUnknownError)
    assert proxy.fired == 1
    engine = create_engine(alex_db_url)  # directly, not through the proxy
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PriceHistory)) == 0
    engine.dispose()

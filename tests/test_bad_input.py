"""Bad input the drivers or Python would trip over (a lone surrogate, a datetime
where a date belongs) is a typed input error with nothing written, on both backends."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from alex_db import Database, InvalidInputError
from alex_db.errors import (
    InvalidIdError,
    InvalidValueError,
    PayloadTooLargeError,
    TransactionAbortedError,
)
from alex_db.repositories.base import MAX_LIMIT
from alex_db.repositories.jobs import json_depth
from alex_db.schemas import (
    MAX_ERROR_MESSAGE_CHARS,
    MAX_JSON_DEPTH,
    AccountCreate,
    InstrumentUpdate,
    JobCreate,
    JobUpdate,
    UserCreate,
    UserUpdate,
)
from tests.conftest import ALL_TABLES
from tests.factories import instrument_create


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


# --- every public method, bad arguments, both backends ----------------------------------
# Each case must raise an InvalidInputError (a subclass where the case names one), name the
# argument in its message, and leave all seven tables exactly as they were.

BIG = "x" * (10 * 1024 * 1024)  # 10 MB: beyond every column, and beyond a Data API request


def _deep(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth):
        payload = {"k": payload}
    return payload


@dataclass(frozen=True)
class Seed:
    user: str
    account: uuid.UUID
    job: uuid.UUID


class Seeded(str):
    """Stands for one of the seeded rows' keys in a case's arguments."""


USER, ACCOUNT, JOB = Seeded("user"), Seeded("account"), Seeded("job")


def bad(
    method: str,
    *args: object,
    named: str,
    error: type[Exception] = InvalidInputError,
    **kwargs: object,
) -> Any:
    """A case: ``db.<method>(*args, **kwargs)`` must raise ``error`` naming ``named``."""
    shown = ", ".join(
        [*(_short(a) for a in args), *(f"{k}={_short(v)}" for k, v in kwargs.items())]
    )
    return pytest.param(method, args, kwargs, error, named, id=f"{method}({shown})")


def _short(value: object) -> str:
    if value is BIG:
        return "10MB"
    if isinstance(value, dict) and json_depth(value, 3) > 3:
        return "deep"
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


INSTRUMENT_CHANGE = InstrumentUpdate(name="n")
USER_CHANGE = UserUpdate(display_name="x")
NEW_ACCOUNT = AccountCreate(account_name="a")
DAY, NEXT_DAY = dt.date(2026, 1, 1), dt.date(2026, 1, 2)

BAD_CALLS = [
    # users
    bad("users.find_by_clerk_id", 5, named="clerk_user_id"),
    bad("users.find_by_clerk_id", None, named="clerk_user_id"),
    bad("users.find_by_clerk_id", BIG, named="clerk_user_id"),
    bad("users.find_by_clerk_id", "u" * 256, named="at most 255"),
    bad("users.find_by_clerk_id", "\ud800", named="clerk_user_id"),
    bad("users.update", 7, USER_CHANGE, named="clerk_user_id"),
    bad("users.update", BIG, USER_CHANGE, named="clerk_user_id"),
    bad("users.update", USER, {"display_name": "x"}, named="changes"),
    bad("users.create_user", {"clerk_user_id": "n"}, named="user"),
    bad("users.delete", BIG, named="clerk_user_id"),
    bad("users.delete", ["u"], named="clerk_user_id"),
    bad("users.find_by_clerk_id", "nul\x00", named="clerk_user_id"),
    # accounts
    bad("accounts.create_account", 5, NEW_ACCOUNT, named="clerk_user_id"),
    bad("accounts.create_account", BIG, NEW_ACCOUNT, named="clerk_user_id"),
    bad("accounts.create_account", USER, {"account_name": "a"}, named="account"),
    bad("accounts.find_by_user", BIG, named="clerk_user_id"),
    bad("accounts.find_by_id", 12, named="account id", error=InvalidIdError),
    bad("accounts.delete", BIG, named="account id", error=InvalidIdError),
    bad("accounts.update", ACCOUNT, {"account_name": "b"}, named="changes"),
    # instruments
    bad("instruments.find_by_symbol", 5, named="symbol"),
    bad("instruments.find_by_symbol", BIG, named="symbol"),
    bad("instruments.find_by_symbol", "ſpy", named="symbol"),
    bad("instruments.delete", "ß", named="symbol"),
    bad("instruments.update", "SPY\n", INSTRUMENT_CHANGE, named="symbol"),
    bad("instruments.update", "SPY", {"name": "n"}, named="changes"),
    bad("instruments.find_by_type", BIG, named="instrument type"),
    bad("instruments.search", BIG, named="text"),
    bad("instruments.search", 5, named="text"),
    bad("instruments.search", "s", limit=2**63, named="limit"),
    bad("instruments.search", "s", limit="5", named="limit"),
    bad("instruments.search", "s", limit=0, named="limit"),
    bad("instruments.update_prices", [("SPY", 1)], named="prices"),
    bad("instruments.update_prices", {"SPY": float("nan")}, named="prices"),
    bad("instruments.update_prices", {"SPY": Decimal("1e20")}, named="prices"),
    bad("instruments.update_prices", {"ß": 1}, named="prices"),
    bad("instruments.upsert_many", [{"symbol": "X"}], named="instruments"),
    bad("instruments.create_instrument", {"symbol": "X"}, named="instrument"),
    # positions
    bad("positions.add_position", ACCOUNT, BIG, 1, named="symbol"),
    bad("positions.add_position", ACCOUNT, "SPY", 2**70, named="quantity"),
    bad("positions.add_position", "nope", "SPY", 1, named="account id", error=InvalidIdError),
    bad("positions.find_by_account", 5, named="account id", error=InvalidIdError),
    # price history
    bad("price_history.latest_price", 5, named="symbol"),
    bad("price_history.series", BIG, DAY, NEXT_DAY, named="symbol"),
    bad("price_history.series", "SPY", NEXT_DAY, DAY, named="after end"),
    bad("price_history.record_prices", [{"symbol": "SPY"}], named="rows"),
    # jobs
    bad("jobs.find_by_user", BIG, named="clerk_user_id"),
    bad("jobs.find_by_user", 5, named="clerk_user_id"),
    bad("jobs.find_by_user", USER, limit=2**63, named="limit"),
    bad("jobs.find_by_user", USER, limit="3", named="limit"),
    bad("jobs.find_by_user", USER, limit=True, named="limit"),
    bad("jobs.find_by_user", USER, status=BIG, named="status"),
    bad("jobs.fail", JOB, BIG, named="error_message"),
    bad("jobs.fail", JOB, 5, named="error_message"),
    bad("jobs.update", JOB, {"error_message": "x"}, named="changes"),
    bad("jobs.update_report", JOB, _deep(10_000), named="report_payload"),
    bad("jobs.update_charts", JOB, _deep(MAX_JSON_DEPTH + 1), named="charts_payload"),
    bad("jobs.update_retirement", JOB, {"a": [_deep(MAX_JSON_DEPTH)]}, named="retirement"),
    bad("jobs.update_report", JOB, [1], named="report_payload"),
    bad("jobs.update_summary", JOB, {BIG: 1}, named="summary_payload", error=PayloadTooLargeError),
    bad("jobs.update_status", JOB, BIG, named="status"),
    bad("jobs.update_report", JOB, {"a": ["\x00"]}, named="report_payload"),
    bad("jobs.update_charts", JOB, {"\\\x00": 1}, named="charts_payload"),
    bad("jobs.create_job", {"clerk_user_id": USER}, named="job"),
    bad("jobs.start", "nope", named="job id", error=InvalidIdError),
    # portfolio
    bad("portfolio.load", BIG, named="clerk_user_id"),
    bad("portfolio.load", 5, named="clerk_user_id"),
    bad("portfolio.for_job", "nope", named="job id", error=InvalidIdError),
    # agent logs
    bad("agent_logs.record", {"job_id": JOB}, named="log"),
    bad("agent_logs.find_by_job", 3.5, named="job id", error=InvalidIdError),
]


def test_the_schemas_hold_the_same_limits() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        UserCreate(clerk_user_id="u", display_name="a\x00b")
    assert JobUpdate(report_payload={"k": "\\u0000"}).report_payload == {"k": "\\u0000"}
    with pytest.raises(ValidationError, match="16384"):
        JobUpdate(error_message=BIG)
    JobUpdate(error_message="x" * MAX_ERROR_MESSAGE_CHARS)


def _fingerprint(db: Database) -> dict[str, str]:
    """count and md5 of every row's text, per table."""
    with db.transaction() as tx:
        return {
            name: tx.session.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                    f"ORDER BY t::text)), '') FROM {name} AS t"
                )
            ).scalar_one()
            for name in ALL_TABLES
        }


@pytest.fixture
def seeded(db: Database) -> Seed:
    user = db.users.create_user(UserCreate(clerk_user_id="seeded"))
    db.instruments.create_instrument(instrument_create("SPY"))
    account = db.accounts.create_account(user.clerk_user_id, AccountCreate(account_name="a"))
    db.positions.add_position(account.id, "SPY", 3)
    job = db.jobs.create_job(
        JobCreate(clerk_user_id=user.clerk_user_id, job_type="portfolio_analysis")
    )
    db.jobs.start(job.id)
    return Seed(user.clerk_user_id, account.id, job.id)


@pytest.mark.parametrize(("method", "args", "kwargs", "error", "named"), BAD_CALLS)
def test_bad_arguments_are_typed_errors_with_nothing_written(
    db: Database,
    seeded: Seed,
    method: str,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    error: type[Exception],
    named: str,
) -> None:
    repository, name = method.split(".")
    call = getattr(getattr(db, repository), name)

    def resolve(value: object) -> object:
        return getattr(seeded, value) if isinstance(value, Seeded) else value

    before = _fingerprint(db)
    with pytest.raises(error) as raised:
        call(*map(resolve, args), **{k: resolve(v) for k, v in kwargs.items()})
    assert isinstance(raised.value, InvalidInputError)
    assert named in str(raised.value)
    assert _fingerprint(db) == before


def test_the_limits_themselves_are_accepted(db: Database, seeded: Seed) -> None:
    """Each limit above is inclusive, and what is accepted reads back exactly."""
    longest = "u" * 255
    db.users.create_user(UserCreate(clerk_user_id=longest))
    assert db.users.find_by_clerk_id(longest) is not None
    deepest = _deep(MAX_JSON_DEPTH - 1)  # the top object is depth 1
    assert db.jobs.update_report(seeded.job, deepest).report_payload == deepest
    message = "e" * MAX_ERROR_MESSAGE_CHARS
    assert db.jobs.fail(seeded.job, message).error_message == message
    assert len(db.jobs.find_by_user(seeded.user, limit=MAX_LIMIT)) == 1
    assert db.instruments.search("SPY", limit=MAX_LIMIT)[0].symbol == "SPY"


def test_a_value_the_database_refuses_is_an_input_error_that_spoils_the_block(
    db: Database, seeded: Seed
) -> None:
    """A schema built without validation gets past the facade; the database's refusal
    (numeric overflow, SQLSTATE 22003) is still typed as bad input, and it spoils the
    block: PostgreSQL aborted the transaction."""
    unchecked = InstrumentUpdate.model_construct(current_price=Decimal("1e20"))
    with pytest.raises(TransactionAbortedError), db.transaction():
        with pytest.raises(InvalidValueError) as raised:
            db.instruments.update("SPY", unchecked)
        assert raised.value.sqlstate == "22003"
        db.users.create_user(UserCreate(clerk_user_id="after_the_refusal"))
    assert db.users.find_by_clerk_id("after_the_refusal") is None
    spy = db.instruments.find_by_symbol("SPY")
    assert spy is not None
    assert spy.current_price == Decimal("450.1234")


def test_integers_beyond_int64_reach_the_database_on_both_backends(db: Database) -> None:
    """The Data API's longValue is 64-bit; the driver sends larger integers as numeric,
    as psycopg does, so both backends give the same answers and the same errors."""
    huge = 2**70
    with db.transaction() as tx:
        assert tx.session.execute(text("SELECT CAST(:v AS numeric)"), {"v": huge}).scalar() == huge
        assert (
            tx.session.execute(text("SELECT CAST(:v AS numeric)"), {"v": -huge}).scalar() == -huge
        )
        assert tx.session.execute(text("SELECT :v + 1"), {"v": 2**63 - 2}).scalar() == 2**63 - 1
        with pytest.raises(sa_exc.DataError, match="out of range"), db.transaction() as inner:
            inner.session.execute(text("SELECT CAST(:v AS bigint)"), {"v": 2**63})
        assert tx.session.execute(text("SELECT 1")).scalar() == 1  # the savepoint took it


def test_text_that_only_looks_like_a_nul_is_stored(db: Database, seeded: Seed) -> None:
    looks_like = {"backslash u0000": "\\u0000", "\\u0000": 1}
    assert db.jobs.update_report(seeded.job, looks_like).report_payload == looks_like

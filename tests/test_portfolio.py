"""portfolio.load / for_job: one typed Portfolio from at most two SQL statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, event

from alex_db import Database, InvalidIdError, NotFoundError
from alex_db.repositories.portfolio import percentages
from alex_db.schemas import AccountCreate, InstrumentCreate, JobCreate, UserCreate
from tests.factories import instrument_create


@contextmanager
def counted(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(sql)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


@pytest.fixture
def household(db: Database) -> str:
    """A user with two accounts: cash, a priced classified ETF, a bond fund, an
    unpriced stock and an unclassified fund."""
    db.users.create_user(UserCreate(clerk_user_id="hh", display_name="Household"))
    db.instruments.upsert_many(
        [
            instrument_create(
                "SPY",
                current_price=Decimal("500.0000"),
                allocation_regions={"north_america": 100},
                allocation_sectors={"technology": 60, "financials": 40},
                allocation_asset_class={"equity": 100},
            ),
            instrument_create(
                "BND",
                instrument_type="bond_fund",
                current_price=Decimal("70.0000"),
                allocation_regions={"north_america": 80, "international": 20},
                allocation_sectors={"treasury": 50, "corporate": 50},
                allocation_asset_class={"fixed_income": 100},
            ),
            instrument_create("PRIV", instrument_type="stock", current_price=None),
            InstrumentCreate(symbol="NEWF", name="New Fund", current_price=Decimal("10")),
        ]
    )
    ira = db.accounts.create_account(
        "hh", AccountCreate(account_name="Roth IRA", cash_balance=Decimal("1000.00"))
    )
    k401 = db.accounts.create_account(
        "hh", AccountCreate(account_name="401k", cash_balance=Decimal("0.50"))
    )
    db.positions.add_position(k401.id, "SPY", Decimal("10"))  # 5000.00
    db.positions.add_position(k401.id, "BND", Decimal("100"))  # 7000.00
    db.positions.add_position(ira.id, "PRIV", Decimal("3"))  # unpriced
    db.positions.add_position(ira.id, "NEWF", Decimal("2.5"))  # 25.00, unclassified
    return "hh"


def test_values_totals_and_order(db: Database, household: str) -> None:
    portfolio = db.portfolio.load(household)
    assert portfolio.user.display_name == "Household"
    assert [a.account_name for a in portfolio.accounts] == ["401k", "Roth IRA"]
    k401, ira = portfolio.accounts
    assert [p.symbol for p in k401.positions] == ["BND", "SPY"]
    assert k401.positions[1].value == Decimal("5000")
    assert k401.positions_value == Decimal("12000")
    assert k401.total_value == Decimal("12000.50")
    assert [p.value for p in ira.positions] == [Decimal("25"), None]
    assert ira.total_value == Decimal("1025.00")
    assert portfolio.total_value == Decimal("13025.50")
    assert portfolio.unpriced_positions == ["PRIV"]
    assert portfolio.instruments_missing_allocations == ["NEWF"]


def test_allocations_are_value_weighted_and_sum_to_100(db: Database, household: str) -> None:
    portfolio = db.portfolio.load(household)
    # asset classes: SPY 5000 equity, BND 7000 fixed income, cash 1000.50; NEWF unclassified
    total = Decimal("13000.50")
    assert portfolio.allocation_asset_class == {
        "fixed_income": Decimal("53.84"),
        "equity": Decimal("38.46"),
        "cash": Decimal("7.70"),
    }
    assert abs(portfolio.allocation_asset_class["equity"] - 5000 * 100 / total) < Decimal("0.01")
    # regions cover priced positions only: north_america 5000 + 5600, international 1400
    assert portfolio.allocation_regions == {
        "north_america": Decimal("88.33"),
        "international": Decimal("11.67"),
    }
    assert portfolio.allocation_sectors == {
        "corporate": Decimal("29.17"),  # a tie on the remainder goes alphabetically
        "treasury": Decimal("29.16"),
        "technology": Decimal("25.00"),
        "financials": Decimal("16.67"),
    }
    for allocation in (
        portfolio.allocation_asset_class,
        portfolio.allocation_regions,
        portfolio.allocation_sectors,
    ):
        assert sum(allocation.values()) == Decimal("100.00")


def test_an_allocation_off_100_is_normalised_and_shared_holdings_add_up(db: Database) -> None:
    """An allocation may sum to 100 within the allowed rounding: it splits by its own sum.
    An instrument held in two accounts counts with both holdings' value."""
    db.users.create_user(UserCreate(clerk_user_id="split"))
    db.instruments.upsert_many(
        [
            instrument_create(
                "ODD",
                current_price=Decimal("10.0000"),
                allocation_regions={"north_america": 66.6, "europe": 33.35},  # 99.95
                allocation_asset_class={"equity": 100},
            ),
            instrument_create(
                "EVEN",
                current_price=Decimal("10.0000"),
                allocation_regions={"europe": 100},
                allocation_asset_class={"equity": 100},
            ),
        ]
    )
    first = db.accounts.create_account("split", AccountCreate(account_name="a"))
    second = db.accounts.create_account("split", AccountCreate(account_name="b"))
    db.positions.add_position(first.id, "ODD", Decimal("60"))  # 600.00
    db.positions.add_position(second.id, "ODD", Decimal("40"))  # 400.00
    db.positions.add_position(second.id, "EVEN", Decimal("100"))  # 1000.00
    portfolio = db.portfolio.load("split")
    # ODD's 1000.00 splits 66.6 : 33.35 of 99.95; EVEN's 1000.00 is all Europe.
    north_america = Decimal(1000) * Decimal("66.6") / Decimal("99.95")
    assert portfolio.allocation_regions == {
        "europe": Decimal("66.68"),
        "north_america": Decimal("33.32"),
    }
    assert abs(portfolio.allocation_regions["north_america"] - north_america / 20) < Decimal("0.01")
    assert portfolio.allocation_asset_class == {"equity": Decimal("100.00")}


def test_for_job_loads_the_jobs_user(db: Database, household: str) -> None:
    job = db.jobs.create_job(JobCreate(clerk_user_id=household, job_type="portfolio_analysis"))
    assert db.portfolio.for_job(job.id) == db.portfolio.load(household)


def test_unknown_user_and_job_are_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="user ghost not found"):
        db.portfolio.load("ghost")
    ghost = uuid.uuid4()
    with pytest.raises(NotFoundError, match=f"job {ghost} not found"):
        db.portfolio.for_job(ghost)
    with pytest.raises(InvalidIdError):
        db.portfolio.for_job("42")


def test_a_user_with_nothing_has_an_empty_portfolio(db: Database) -> None:
    db.users.create_user(UserCreate(clerk_user_id="empty"))
    portfolio = db.portfolio.load("empty")
    assert portfolio.accounts == []
    assert portfolio.total_value == 0
    assert portfolio.allocation_asset_class == {}
    assert portfolio.allocation_regions == {}


def test_no_digit_is_lost_at_full_precision(db: Database) -> None:
    """quantity (20,8) x price (12,4) has 32 significant digits, more than Decimal's
    default context keeps."""
    db.users.create_user(UserCreate(clerk_user_id="big"))
    db.instruments.create_instrument(
        instrument_create("BIG", current_price=Decimal("99999999.9999"))
    )
    account = db.accounts.create_account(
        "big", AccountCreate(account_name="a", cash_balance=Decimal("9999999999.99"))
    )
    db.positions.add_position(account.id, "BIG", Decimal("999999999999.99999999"))
    portfolio = db.portfolio.load("big")
    # Worked out by hand: (10^12 - 10^-8) x (10^8 - 10^-4)
    exact = Decimal("99999999999899999999.000000000001")
    assert Decimal("999999999999.99999999") * Decimal("99999999.9999") != exact  # default context
    value = portfolio.accounts[0].positions[0].value
    assert value is not None
    assert value.as_tuple() == exact.as_tuple()
    assert portfolio.total_value == Decimal("100000000009899999998.990000000001")


def build(db: Database, user: str, accounts: int, positions_each: int) -> None:
    db.users.create_user(UserCreate(clerk_user_id=user))
    symbols = [f"{user[:1].upper()}{i:03d}" for i in range(positions_each)]
    db.instruments.upsert_many(instrument_create(s) for s in symbols)
    for a in range(accounts):
        account = db.accounts.create_account(user, AccountCreate(account_name=f"acct {a}"))
        for symbol in symbols:
            db.positions.add_position(account.id, symbol, Decimal("1.5"))


def test_statement_count_does_not_grow_with_the_portfolio(
    db: Database, alex_db_connection: Connection
) -> None:
    build(db, "small", accounts=1, positions_each=1)
    build(db, "large", accounts=5, positions_each=40)
    with counted(alex_db_connection) as small:
        one = db.portfolio.load("small")
    with counted(alex_db_connection) as large:
        many = db.portfolio.load("large")
    assert sum(len(a.positions) for a in one.accounts) == 1
    assert sum(len(a.positions) for a in many.accounts) == 200
    assert len(small) == len(large) <= 2
    job = db.jobs.create_job(JobCreate(clerk_user_id="large", job_type="portfolio_analysis"))
    with counted(alex_db_connection) as via_job:
        db.portfolio.for_job(job.id)
    assert len(via_job) <= 2


def test_percentages_round_to_exactly_100() -> None:
    thirds = percentages({"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)})
    assert thirds == {"a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}
    assert percentages({"a": Decimal(0)}) == {}
    assert percentages({"a": Decimal(5), "neg": Decimal(-1)}) == {"a": Decimal("100.00")}

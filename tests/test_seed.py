"""The reference instruments and the demo user: validated data, idempotent loads.

Idempotency is checked across separate transactions on a committed scratch
database: inside one transaction ``now()`` never moves, so an unchanged
``updated_at`` would prove nothing there.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from alex_db import Database, InvalidInputError, InvalidReferenceError, migrations
from alex_db.seed import (
    PRICE_HISTORY_DAYS,
    PRICE_HISTORY_END,
    TEST_ACCOUNTS,
    TEST_POSITIONS,
    TEST_USER_ID,
    create_test_data,
    load_instruments,
    sample_price_history,
    seed,
)
from alex_db.testing.postgres import PostgresServer, scratch_database

REFERENCE = {
    "SPY": "SPDR S&P 500 ETF Trust",
    "QQQ": "Invesco QQQ Trust",
    "IWM": "iShares Russell 2000 ETF",
    "VEA": "Vanguard FTSE Developed Markets ETF",
    "VWO": "Vanguard FTSE Emerging Markets ETF",
    "EFA": "iShares MSCI EAFE ETF",
    "AGG": "iShares Core U.S. Aggregate Bond ETF",
    "BND": "Vanguard Total Bond Market ETF",
    "TLT": "iShares 20+ Year Treasury Bond ETF",
    "HYG": "iShares iBoxx High Yield Corporate Bond ETF",
    "XLK": "Technology Select Sector SPDR Fund",
    "XLV": "Health Care Select Sector SPDR Fund",
    "XLF": "Financial Select Sector SPDR Fund",
    "XLE": "Energy Select Sector SPDR Fund",
    "VNQ": "Vanguard Real Estate ETF",
    "GLD": "SPDR Gold Shares",
    "SLV": "iShares Silver Trust",
    "AOR": "iShares Core Growth Allocation ETF",
    "AOA": "iShares Core Aggressive Allocation ETF",
    "VUG": "Vanguard Growth ETF",
    "VTV": "Vanguard Value ETF",
    "VIG": "Vanguard Dividend Appreciation ETF",
}
BOND_FUNDS = {"AGG", "BND", "TLT", "HYG"}
BOND_SECTORS = {"treasury", "corporate", "mortgage", "government_related"}


@pytest.fixture
def scratch_db(alex_db_server: PostgresServer) -> Iterator[Database]:
    """A Database on a fresh, migrated database of its own whose writes commit."""
    with scratch_database(alex_db_server.url, prefix="alex_seed") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            migrations.upgrade(conn)
        engine.dispose()
        db = Database.from_url(url)
        try:
            yield db
        finally:
            db.dispose()


def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def count(db: Database, table: str) -> int:
    return int(rows(db, f"SELECT count(*) FROM {table}")[0][0])


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row's version: updated_at where the table has it, and xmin (the writing
    transaction) everywhere, so a rewrite of identical values is noticed too."""
    return {
        "users": rows(db, "SELECT clerk_user_id, updated_at, xmin::text FROM users ORDER BY 1"),
        "instruments": rows(
            db, "SELECT symbol, updated_at, xmin::text FROM instruments ORDER BY 1"
        ),
        "accounts": rows(db, "SELECT id, updated_at, xmin::text FROM accounts ORDER BY 1"),
        "positions": rows(db, "SELECT id, updated_at, xmin::text FROM positions ORDER BY 1"),
        "price_history": rows(
            db, "SELECT symbol, date, xmin::text FROM price_history ORDER BY 1, 2"
        ),
    }


# --- the reference file -----------------------------------------------------------------


def test_reference_file_holds_the_22_etfs_with_their_names_and_types() -> None:
    instruments = load_instruments()
    assert {i.symbol: i.name for i in instruments} == REFERENCE
    for instrument in instruments:
        expected = "bond_fund" if instrument.symbol in BOND_FUNDS else "etf"
        assert instrument.instrument_type == expected, instrument.symbol


def test_every_reference_instrument_is_priced_and_fully_classified() -> None:
    for instrument in load_instruments():
        assert instrument.current_price is not None
        assert instrument.current_price > 0
        exponent = instrument.current_price.as_tuple().exponent
        assert isinstance(exponent, int)
        assert exponent >= -4
        for allocation in (
            instrument.allocation_regions,
            instrument.allocation_sectors,
            instrument.allocation_asset_class,
        ):
            assert allocation, instrument.symbol
            assert sum(allocation.values()) == pytest.approx(100), instrument.symbol


def test_reference_allocations_fit_what_each_fund_is() -> None:
    by_symbol = {i.symbol: i for i in load_instruments()}
    for symbol in BOND_FUNDS:
        assert by_symbol[symbol].allocation_asset_class == {"fixed_income": 100}
        assert set(by_symbol[symbol].allocation_sectors) <= BOND_SECTORS
    for symbol in ("GLD", "SLV"):
        assert by_symbol[symbol].allocation_asset_class == {"commodities": 100}
        assert by_symbol[symbol].allocation_sectors == {"commodities": 100}
    assert by_symbol["VNQ"].allocation_asset_class == {"real_estate": 100}
    assert by_symbol["VNQ"].allocation_sectors == {"real_estate": 100}
    for symbol in ("AOR", "AOA"):
        classes = by_symbol[symbol].allocation_asset_class
        assert set(classes) == {"equity", "fixed_income"}
        assert classes["equity"] > classes["fixed_income"]
    assert by_symbol["XLE"].allocation_sectors == {"energy": 100}
    assert by_symbol["VWO"].allocation_regions["asia"] > 50


def test_the_data_file_is_package_data() -> None:
    packaged = resources.files("alex_db.seed").joinpath("instruments.json")
    assert packaged.is_file()
    assert len(json.loads(packaged.read_text(encoding="utf-8"))["instruments"]) == 22


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _reference_entries() -> list[dict[str, Any]]:
    text_ = resources.files("alex_db.seed").joinpath("instruments.json").read_text("utf-8")
    entries: list[dict[str, Any]] = json.loads(text_)["instruments"]
    return entries


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"allocation_regions": {"north_america": 90}}, "sum to 100"),
        ({"allocation_regions": {"mars": 100}}, "allocation_regions.mars"),
        ({"allocation_sectors": {"technology": 120}}, "allocation_sectors.technology"),
        ({"instrument_type": "crypto"}, "instrument_type"),
        ({"current_price": "1.23456"}, "current_price"),
        ({"current_price": "-1"}, "current_price"),
        ({"name": ""}, "name"),
        ({"ticker": "SPY"}, "ticker"),
    ],
)
def test_a_bad_entry_is_an_error_naming_its_symbol(
    tmp_path: Path, change: dict[str, Any], complaint: str
) -> None:
    entries = _reference_entries()
    spy = next(e for e in entries if e["symbol"] == "SPY")
    spy.update(change)
    with pytest.raises(InvalidInputError) as caught:
        load_instruments(_write(tmp_path, {"instruments": entries}))
    message = str(caught.value)
    assert "instrument SPY (entry 1 of" in message
    assert complaint in message


def test_a_duplicate_symbol_is_an_error(tmp_path: Path) -> None:
    entries = _reference_entries()
    entries.append(dict(entries[3]))
    with pytest.raises(InvalidInputError, match=r"VEA.*appears twice"):
        load_instruments(_write(tmp_path, {"instruments": entries}))


def test_an_entry_without_a_symbol_is_named_by_position(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\(no symbol\) \(entry 1 of"):
        load_instruments(_write(tmp_path, {"instruments": [{"name": "Nameless"}]}))


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('["SPY"]', '"instruments" list'),
        ('{"instruments": {"SPY": {}}}', '"instruments" list'),
    ],
)
def test_a_malformed_file_is_an_error(tmp_path: Path, content: str, complaint: str) -> None:
    path = tmp_path / "instruments.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=complaint):
        load_instruments(path)


# --- seed ---------------------------------------------------------------------------


def test_seed_twice_changes_nothing_the_second_time(scratch_db: Database) -> None:
    assert seed(scratch_db) == 22
    before = snapshot(scratch_db)
    assert seed(scratch_db) == 0
    assert snapshot(scratch_db) == before
    assert count(scratch_db, "instruments") == 22
    stored = {i.symbol: i for i in scratch_db.instruments.find_all()}
    for instrument in load_instruments():
        assert stored[instrument.symbol].current_price == instrument.current_price
        assert stored[instrument.symbol].allocation_sectors == instrument.allocation_sectors


def test_seed_restores_a_changed_row_and_touches_only_that_one(scratch_db: Database) -> None:
    seed(scratch_db)
    with scratch_db.engine.begin() as conn:
        conn.execute(text("UPDATE instruments SET current_price = 1 WHERE symbol = 'SPY'"))
    before = {r[0]: r[1:] for r in snapshot(scratch_db)["instruments"]}
    assert seed(scratch_db) == 1
    after = {r[0]: r[1:] for r in snapshot(scratch_db)["instruments"]}
    assert after.pop("SPY") != before.pop("SPY")
    assert after == before
    spy = scratch_db.instruments.find_by_symbol("SPY")
    assert spy is not None
    assert spy.current_price == Decimal("682.0600")


def test_seed_leaves_instruments_outside_the_file_alone(scratch_db: Database) -> None:
    with scratch_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO instruments (symbol, name) VALUES ('ABCD', 'Other fund')"))
    assert seed(scratch_db) == 22
    assert count(scratch_db, "instruments") == 23
    other = scratch_db.instruments.find_by_symbol("ABCD")
    assert other is not None
    assert other.name == "Other fund"


def test_seed_in_a_callers_transaction_rolls_back_with_it(scratch_db: Database) -> None:
    with pytest.raises(RuntimeError, match="caller failed"), scratch_db.transaction():
        assert seed(scratch_db) == 22
        raise RuntimeError("caller failed")
    assert count(scratch_db, "instruments") == 0


# --- the test user ------------------------------------------------------------------


def test_create_test_data_builds_the_user_accounts_positions_and_prices(
    scratch_db: Database,
) -> None:
    seed(scratch_db)
    result = create_test_data(scratch_db)
    assert result.created == 1 + 3 + 5
    assert result.prices == 5 * PRICE_HISTORY_DAYS

    user = scratch_db.users.find_by_clerk_id(TEST_USER_ID)
    assert user is not None
    assert user.display_name == "Test User"
    assert user.years_until_retirement == 25
    assert user.target_retirement_income == Decimal("90000.00")

    accounts = {a.account_name: a for a in scratch_db.accounts.find_by_user(TEST_USER_ID)}
    assert set(accounts) == {"401k", "Roth IRA", "Taxable"}
    assert accounts["Taxable"].cash_balance == Decimal("15000.00")
    assert [a.account_name for a in result.accounts] == ["401k", "Roth IRA", "Taxable"]
    held = {p.symbol: p.quantity for p in scratch_db.positions.find_by_account(accounts["401k"].id)}
    assert held == {"SPY": 100, "QQQ": 50, "BND": 200, "VEA": 150, "GLD": 25}
    for name in ("Roth IRA", "Taxable"):
        assert scratch_db.positions.find_by_account(accounts[name].id) == []

    prices = {i.symbol: i.current_price for i in load_instruments()}
    for symbol in TEST_POSITIONS:
        series = scratch_db.price_history.series(
            symbol, PRICE_HISTORY_END - dt.timedelta(days=60), PRICE_HISTORY_END
        )
        assert len(series) == PRICE_HISTORY_DAYS
        assert all(p.date.weekday() < 5 for p in series)
        assert series[-1].date == PRICE_HISTORY_END
        assert series[-1].close_price == prices[symbol]  # the history ends at today's price


def test_create_test_data_twice_changes_nothing(scratch_db: Database) -> None:
    seed(scratch_db)
    create_test_data(scratch_db)
    before = snapshot(scratch_db)
    again = create_test_data(scratch_db)
    assert again.created == 0
    assert snapshot(scratch_db) == before
    assert [count(scratch_db, t) for t in ("users", "accounts", "positions")] == [1, 3, 5]
    assert count(scratch_db, "price_history") == 150


def test_create_test_data_adds_back_only_what_is_missing(scratch_db: Database) -> None:
    seed(scratch_db)
    first = create_test_data(scratch_db)
    roth = next(a for a in first.accounts if a.account_name == "Roth IRA")
    scratch_db.accounts.delete(roth.id)
    with scratch_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM positions WHERE symbol = 'GLD'"))
        conn.execute(text("DELETE FROM price_history WHERE symbol = 'QQQ'"))
    before = snapshot(scratch_db)

    again = create_test_data(scratch_db)

    assert again.created == 2  # the Roth IRA and the GLD position
    after = snapshot(scratch_db)
    assert after["users"] == before["users"]
    assert set(before["accounts"]) < set(after["accounts"])
    assert set(before["positions"]) < set(after["positions"])
    assert set(before["price_history"]) < set(after["price_history"])
    assert count(scratch_db, "price_history") == 150


def test_create_test_data_without_the_instruments_writes_nothing(scratch_db: Database) -> None:
    with pytest.raises(InvalidReferenceError, match="instrument symbol"):
        create_test_data(scratch_db)
    assert [count(scratch_db, t) for t in ("users", "accounts", "positions")] == [0, 0, 0]


def test_the_sample_prices_are_fixed_data() -> None:
    history = sample_price_history()
    assert history == sample_price_history()
    assert len(history) == len(TEST_POSITIONS) * PRICE_HISTORY_DAYS
    # Pinned digits: a clock or a random generator in the computation would change them.
    first_spy = history[0]
    assert (first_spy.symbol, first_spy.date) == ("SPY", dt.date(2025, 9, 22))
    assert first_spy.close_price == Decimal("681.5069")
    assert first_spy.volume == 2_602_943
    by_symbol: dict[str, list[Decimal]] = {}
    for row in history:
        by_symbol.setdefault(row.symbol, []).append(row.close_price)
    for closes in by_symbol.values():
        for previous, current in itertools.pairwise(closes):
            assert abs(current / previous - 1) <= Decimal("0.0121")


def test_the_test_portfolio_values_match_the_seed_prices(scratch_db: Database) -> None:
    seed(scratch_db)
    create_test_data(scratch_db)
    portfolio = scratch_db.portfolio.load(TEST_USER_ID)
    prices = {i.symbol: i.current_price for i in load_instruments()}
    cash = {a.account_name: a.cash_balance for a in TEST_ACCOUNTS}
    positions_value = sum(
        (quantity * (prices[symbol] or 0) for symbol, quantity in TEST_POSITIONS.items()),
        Decimal(0),
    )
    by_name = {a.account_name: a for a in portfolio.accounts}
    assert by_name["401k"].total_value == positions_value + cash["401k"]
    assert portfolio.total_value == positions_value + sum(cash.values(), Decimal(0))
    assert portfolio.unpriced_positions == []
    assert portfolio.instruments_missing_allocations == []

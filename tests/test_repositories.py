"""The repositories' vocabulary: users, instruments, accounts, positions, prices, agent logs.

Every failure path checks its typed error *and* that nothing was written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from alex_db import (
    AlexDBError,
    AlreadyExistsError,
    Database,
    InUseError,
    InvalidIdError,
    InvalidInputError,
    InvalidReferenceError,
    NotFoundError,
)
from alex_db.models import Account, AgentLog, Base, Instrument, Position, PriceHistory, User
from alex_db.schemas import (
    AccountCreate,
    AccountRead,
    AccountUpdate,
    AgentLogCreate,
    InstrumentCreate,
    InstrumentUpdate,
    JobCreate,
    PositionUpdate,
    PriceHistoryCreate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from tests.factories import instrument_create


def rows(db: Database, model: type[Base]) -> int:
    with db.transaction() as tx:
        return tx.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def user(db: Database) -> UserRead:
    return db.users.create_user(UserCreate(clerk_user_id="user_1", display_name="Ada"))


@pytest.fixture
def account(db: Database, user: UserRead) -> AccountRead:
    db.instruments.upsert_many([instrument_create("SPY"), instrument_create("QQQ")])
    return db.accounts.create_account(user.clerk_user_id, AccountCreate(account_name="401k"))


# --- users ------------------------------------------------------------------------------


def test_user_lifecycle(db: Database) -> None:
    created = db.users.create_user(UserCreate(clerk_user_id="u", years_until_retirement=30))
    assert db.users.find_by_clerk_id("u") == created
    updated = db.users.update("u", UserUpdate(display_name="Grace"))
    assert updated.display_name == "Grace"
    assert updated.years_until_retirement == 30  # untouched: only set fields apply
    cleared = db.users.update("u", UserUpdate(years_until_retirement=None))
    assert cleared.years_until_retirement is None
    assert cleared.display_name == "Grace"
    db.users.delete("u")
    assert db.users.find_by_clerk_id("u") is None


def test_duplicate_user_is_already_exists_and_writes_nothing(db: Database, user: UserRead) -> None:
    with pytest.raises(AlreadyExistsError, match="user user_1 already exists"):
        db.users.create_user(UserCreate(clerk_user_id="user_1", display_name="Impostor"))
    assert db.users.find_by_clerk_id("user_1") == user
    assert rows(db, User) == 1


def test_unknown_user_update_and_delete_are_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="user ghost not found"):
        db.users.update("ghost", UserUpdate(display_name="x"))
    with pytest.raises(NotFoundError):
        db.users.update("ghost", UserUpdate())
    with pytest.raises(NotFoundError):
        db.users.delete("ghost")
    assert rows(db, User) == 0


def test_all_errors_share_one_base() -> None:
    for error in (
        AlreadyExistsError,
        NotFoundError,
        InvalidReferenceError,
        InvalidIdError,
        InUseError,
    ):
        assert issubclass(error, AlexDBError)


# --- instruments ------------------------------------------------------------------------


def test_create_and_find_instrument(db: Database) -> None:
    created = db.instruments.create_instrument(instrument_create("VTI"))
    assert db.instruments.find_by_symbol(" vti ") == created
    assert db.instruments.find_by_symbol("NOPE") is None
    with pytest.raises(AlreadyExistsError):
        db.instruments.create_instrument(instrument_create("VTI", name="Other"))
    assert db.instruments.find_by_symbol("VTI") == created


def test_find_all_is_ordered_and_unlimited(db: Database) -> None:
    symbols = [f"S{i:04d}" for i in range(1500)]
    db.instruments.upsert_many(instrument_create(s) for s in reversed(symbols))
    found = db.instruments.find_all()
    assert [i.symbol for i in found] == symbols


def test_find_by_type(db: Database) -> None:
    db.instruments.upsert_many(
        [instrument_create("BND", instrument_type="bond_fund"), instrument_create("SPY")]
    )
    assert [i.symbol for i in db.instruments.find_by_type("bond_fund")] == ["BND"]
    assert db.instruments.find_by_type("reit") == []
    with pytest.raises(InvalidInputError, match="instrument type"):
        db.instruments.find_by_type("crypto")


def test_upsert_many_inserts_updates_and_skips_unchanged(db: Database) -> None:
    assert db.instruments.upsert_many([instrument_create("A"), instrument_create("B")]) == 2
    before = {i.symbol: i for i in db.instruments.find_all()}
    assert db.instruments.upsert_many([instrument_create("A"), instrument_create("B")]) == 0
    changed = instrument_create("B", current_price=Decimal("1.5"))
    assert (
        db.instruments.upsert_many([instrument_create("A"), changed, instrument_create("C")]) == 2
    )
    after = {i.symbol: i for i in db.instruments.find_all()}
    assert after["A"] == before["A"]  # untouched, updated_at included
    assert after["B"].current_price == Decimal("1.5000")
    assert set(after) == {"A", "B", "C"}


def test_search_is_case_insensitive_and_ranks_symbols_first(db: Database) -> None:
    db.instruments.upsert_many(
        [
            instrument_create("SPY", name="SPDR S&P 500 ETF Trust"),
            instrument_create("SPYG", name="SPDR Portfolio S&P 500 Growth"),
            instrument_create("XSP", name="Mini index"),
            instrument_create("VOO", name="Vanguard S&P 500 (not spy)"),
        ]
    )
    assert [i.symbol for i in db.instruments.search("spy")] == ["SPY", "SPYG", "VOO"]
    assert [i.symbol for i in db.instruments.search("s&p 500")] == ["SPY", "SPYG", "VOO"]
    assert [i.symbol for i in db.instruments.search("sp", limit=2)] == ["SPY", "SPYG"]
    assert db.instruments.search("   ") == []


@pytest.mark.parametrize(
    "text",
    [
        "%",
        "_",
        "%%",
        "S_Y",
        "100%",
        "\\",
        "'",
        "' OR '1'='1",
        "'; DROP TABLE instruments; --",
        '"x"',
    ],
)
def test_search_treats_wildcards_quotes_and_sql_literally(db: Database, text: str) -> None:
    db.instruments.upsert_many(
        [
            instrument_create("SPY", name="Plain"),
            instrument_create("ODD", name="100% _odd_ 'name' \\"),
        ]
    )
    found = {i.symbol for i in db.instruments.search(text)}
    expected = {
        i.symbol
        for i in db.instruments.find_all()
        if text.lower() in f"{i.symbol} {i.name}".lower()
    }
    assert found == expected
    assert rows(db, Instrument) == 2


def test_update_instrument_applies_only_set_fields(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    updated = db.instruments.update("spy", InstrumentUpdate(allocation_regions={"global": 100}))
    assert updated.allocation_regions == {"global": 100}
    assert updated.current_price == Decimal("450.1234")
    with pytest.raises(NotFoundError):
        db.instruments.update("NOPE", InstrumentUpdate(name="x"))


def test_update_prices_in_one_statement_for_many_symbols(db: Database) -> None:
    symbols = [f"P{i:04d}" for i in range(3000)]
    db.instruments.upsert_many(instrument_create(s) for s in symbols)
    prices = {s: Decimal(f"{i}.{i % 10000:04d}") for i, s in enumerate(symbols)}
    assert db.instruments.update_prices(prices) == 3000
    stored = {i.symbol: i.current_price for i in db.instruments.find_all()}
    assert stored == prices


def test_update_prices_with_an_unknown_symbol_writes_nothing(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    with pytest.raises(InvalidReferenceError, match=r"\['GHOST', 'ZZZ'\]"):
        db.instruments.update_prices({"SPY": Decimal("1"), "ghost": Decimal("2"), "ZZZ": 3})
    found = db.instruments.find_by_symbol("SPY")
    assert found is not None
    assert found.current_price == Decimal("450.1234")


@pytest.mark.parametrize(
    "prices", [{"SPY": "-1"}, {"SPY": "1.00001"}, {"SPY": "abc"}, {"": "1"}, {"SPY": "1e10"}]
)
def test_update_prices_rejects_bad_prices(db: Database, prices: dict[str, str]) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    with pytest.raises(InvalidInputError, match="invalid prices"):
        db.instruments.update_prices(prices)


def test_delete_instrument_in_use_is_refused(db: Database, account: AccountRead) -> None:
    db.positions.add_position(account.id, "SPY", 1)
    with pytest.raises(InUseError, match="instrument SPY is still referenced by positions"):
        db.instruments.delete("SPY")
    assert db.instruments.find_by_symbol("SPY") is not None
    db.instruments.delete("QQQ")
    assert db.instruments.find_by_symbol("QQQ") is None


# --- accounts ---------------------------------------------------------------------------


def test_account_lifecycle(db: Database, user: UserRead) -> None:
    created = db.accounts.create_account(
        user.clerk_user_id, AccountCreate(account_name="Taxable", cash_balance=Decimal("10.05"))
    )
    assert db.accounts.find_by_id(created.id) == created
    assert db.accounts.find_by_id(str(created.id)) == created
    assert db.accounts.find_by_id(uuid.uuid4()) is None
    other = db.accounts.create_account(user.clerk_user_id, AccountCreate(account_name="401k"))
    assert [a.account_name for a in db.accounts.find_by_user(user.clerk_user_id)] == [
        "401k",
        "Taxable",
    ]
    assert db.accounts.find_by_user("nobody") == []
    updated = db.accounts.update(created.id, AccountUpdate(cash_interest=Decimal("0.05")))
    assert updated.cash_balance == Decimal("10.05")
    assert updated.cash_interest == Decimal("0.0500")
    db.accounts.delete(other.id)
    assert db.accounts.find_by_id(other.id) is None
    with pytest.raises(NotFoundError):
        db.accounts.delete(other.id)


def test_account_for_unknown_user_is_invalid_reference(db: Database) -> None:
    with pytest.raises(InvalidReferenceError, match="unknown user: ghost"):
        db.accounts.create_account("ghost", AccountCreate(account_name="401k"))
    assert rows(db, Account) == 0


# --- positions --------------------------------------------------------------------------


def test_add_position_inserts_then_replaces(db: Database, account: AccountRead) -> None:
    first = db.positions.add_position(account.id, "spy", Decimal("10.5"))
    second = db.positions.add_position(
        str(account.id), "SPY", "3.12345678", as_of_date=dt.date(2024, 1, 2)
    )
    assert second.id == first.id
    assert second.quantity == Decimal("3.12345678")
    assert second.as_of_date == dt.date(2024, 1, 2)
    assert rows(db, Position) == 1


def test_find_by_account_carries_the_instrument(db: Database, account: AccountRead) -> None:
    db.positions.add_position(account.id, "QQQ", 2)
    db.positions.add_position(account.id, "SPY", 1)
    found = db.positions.find_by_account(account.id)
    assert [p.symbol for p in found] == ["QQQ", "SPY"]
    assert found[1].instrument_name == "SPY Test Fund"
    assert found[1].instrument_type == "etf"
    assert found[1].current_price == Decimal("450.1234")
    assert db.positions.find_by_account(uuid.uuid4()) == []


def test_position_update_and_delete(db: Database, account: AccountRead) -> None:
    position = db.positions.add_position(account.id, "SPY", 1)
    assert db.positions.find_by_id(position.id) == position
    updated = db.positions.update(position.id, PositionUpdate(quantity=Decimal("7")))
    assert updated.quantity == Decimal("7")
    db.positions.delete(position.id)
    assert db.positions.find_by_id(position.id) is None
    with pytest.raises(NotFoundError):
        db.positions.update(position.id, PositionUpdate(quantity=Decimal("1")))


@pytest.mark.parametrize(
    ("symbol", "quantity", "error", "message"),
    [
        ("NOPE", 1, InvalidReferenceError, "unknown instrument symbol: NOPE"),
        ("SPY", 0, InvalidInputError, "greater than 0"),
        ("SPY", -1, InvalidInputError, "greater than 0"),
        ("SPY", "1.000000001", InvalidInputError, "8 decimal places"),
        ("SPY", "lots", InvalidInputError, "valid decimal"),
        ("X" * 21, 1, InvalidInputError, "at most 20 characters"),
    ],
)
def test_bad_positions_write_nothing(
    db: Database,
    account: AccountRead,
    symbol: str,
    quantity: object,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        db.positions.add_position(account.id, symbol, quantity)  # type: ignore[arg-type]
    assert rows(db, Position) == 0


def test_position_in_unknown_account_is_invalid_reference(
    db: Database, account: AccountRead
) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(InvalidReferenceError, match=f"unknown account: {ghost}"):
        db.positions.add_position(ghost, "SPY", 1)
    with pytest.raises(InvalidIdError):
        db.positions.add_position("not-a-uuid", "SPY", 1)
    assert rows(db, Position) == 0


# --- price history ----------------------------------------------------------------------


def prices(
    symbol: str, days: int, start: dt.date = dt.date(2024, 1, 1)
) -> list[PriceHistoryCreate]:
    return [
        PriceHistoryCreate(
            symbol=symbol,
            date=start + dt.timedelta(days=d),
            close_price=Decimal(f"{100 + d}.{d:04d}"),
            volume=1000 + d,
        )
        for d in range(days)
    ]


def test_record_prices_is_an_idempotent_upsert(db: Database) -> None:
    db.instruments.upsert_many([instrument_create("SPY"), instrument_create("QQQ")])
    assert db.price_history.record_prices(prices("SPY", 300) + prices("QQQ", 10)) == 310
    assert db.price_history.record_prices(prices("SPY", 300)) == 300
    assert rows(db, PriceHistory) == 310
    revised = PriceHistoryCreate(symbol="SPY", date=dt.date(2024, 1, 1), close_price=Decimal("1"))
    db.price_history.record_prices([revised])
    first = db.price_history.series("SPY", dt.date(2024, 1, 1), dt.date(2024, 1, 1))
    assert first[0].close_price == Decimal("1.0000")
    assert first[0].volume is None
    assert db.price_history.record_prices([]) == 0


def test_record_prices_last_row_for_a_day_wins(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    day = dt.date(2024, 5, 1)
    rows_in = [
        PriceHistoryCreate(symbol="SPY", date=day, close_price=Decimal("1")),
        PriceHistoryCreate(symbol="SPY", date=day, close_price=Decimal("2")),
    ]
    assert db.price_history.record_prices(rows_in) == 1
    latest = db.price_history.latest_price("SPY")
    assert latest is not None
    assert latest.close_price == Decimal("2.0000")


def test_record_prices_with_unknown_symbols_writes_nothing(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    with pytest.raises(InvalidReferenceError, match=r"\['GHOST', 'ZZZ'\]"):
        db.price_history.record_prices(prices("SPY", 50) + prices("GHOST", 2) + prices("ZZZ", 1))
    assert rows(db, PriceHistory) == 0


def test_record_prices_rejects_rows_that_are_not_validated_schemas(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="PriceHistoryCreate"):
        db.price_history.record_prices([{"symbol": "SPY"}])  # type: ignore[list-item]


def test_a_bulk_load_merges_every_batch_and_can_keep_volumes(db: Database) -> None:
    db.instruments.upsert_many([instrument_create("SPY"), instrument_create("QQQ")])
    db.price_history.record_prices(prices("SPY", 2))  # volumes 1000, 1001 stored
    with db.price_history.load(update_volume=False, batch_rows=3) as load:
        for line, row in enumerate(prices("SPY", 5) + prices("QQQ", 4), start=2):
            load.add(line, row.model_copy(update={"volume": None}))
        outcome = load.finish()
    assert (outcome.merged, outcome.rows, outcome.symbols) == (True, 9, 2)
    assert (outcome.unknown, outcome.repeated) == ([], [])
    assert rows(db, PriceHistory) == 9
    series = db.price_history.series("SPY", dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    assert [p.volume for p in series] == [1000, 1001, None]


def test_a_bulk_load_reports_unknown_symbols_and_repeated_days_by_line(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    staged = [
        *prices("SPY", 3),  # lines 1-3
        *prices("GHOST", 2),  # lines 4-5
        *prices("SPY", 1),  # line 6: the day of line 1 again
        *prices("ZZZ", 1),  # line 7
    ]
    with db.price_history.load(batch_rows=2) as load:
        for line, row in enumerate(staged, start=1):
            load.add(line, row)
        outcome = load.finish(limit=1)
    assert not outcome.merged
    assert outcome.unknown == [("GHOST", 4)]
    assert outcome.unknown_count == 2
    assert outcome.repeated == [("SPY", dt.date(2024, 1, 1), [1, 6])]
    assert outcome.repeated_count == 1
    assert rows(db, PriceHistory) == 0


def test_a_bulk_load_finds_a_repeated_day_in_the_merge_and_writes_nothing(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    with db.price_history.load() as load:
        for line, row in enumerate([*prices("SPY", 4), *prices("SPY", 2)], start=10):
            load.add(line, row)
        outcome = load.finish()
    assert not outcome.merged
    assert outcome.repeated == [
        ("SPY", dt.date(2024, 1, 1), [10, 14]),
        ("SPY", dt.date(2024, 1, 2), [11, 15]),
    ]
    assert rows(db, PriceHistory) == 0
    # The transaction is still usable after the refused merge.
    assert db.price_history.record_prices(prices("SPY", 1)) == 1


def test_a_bulk_load_told_not_to_merge_checks_and_writes_nothing(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    with db.price_history.load() as load:
        for line, row in enumerate(prices("SPY", 3), start=2):
            load.add(line, row)
        outcome = load.finish(merge=False)
    assert (outcome.merged, outcome.rows, outcome.unknown, outcome.repeated) == (False, 3, [], [])
    assert rows(db, PriceHistory) == 0


def test_a_bulk_load_refuses_bad_arguments(db: Database) -> None:
    with pytest.raises(InvalidInputError, match="batch_rows"), db.price_history.load(batch_rows=0):
        pass
    with (
        db.price_history.load() as load,
        pytest.raises(InvalidInputError, match="PriceHistoryCreate"),
    ):
        load.add(1, {"symbol": "SPY"})  # type: ignore[arg-type]


def test_latest_price_and_series(db: Database) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    db.price_history.record_prices(prices("SPY", 10))
    latest = db.price_history.latest_price("SPY")
    assert latest is not None
    assert latest.date == dt.date(2024, 1, 10)
    as_of = db.price_history.latest_price("spy", as_of=dt.date(2024, 1, 3))
    assert as_of is not None
    assert as_of.close_price == Decimal("102.0002")
    assert db.price_history.latest_price("SPY", as_of=dt.date(2023, 1, 1)) is None
    assert db.price_history.latest_price("NOPE") is None
    series = db.price_history.series("SPY", dt.date(2024, 1, 3), dt.date(2024, 1, 5))
    assert [p.date.day for p in series] == [3, 4, 5]
    with pytest.raises(InvalidInputError, match="after end"):
        db.price_history.series("SPY", dt.date(2024, 2, 1), dt.date(2024, 1, 1))


# --- agent logs -------------------------------------------------------------------------


def test_agent_logs(db: Database, user: UserRead) -> None:
    job = db.jobs.create_job(
        JobCreate(clerk_user_id=user.clerk_user_id, job_type="portfolio_analysis")
    )
    first = db.agent_logs.record(
        AgentLogCreate(job_id=job.id, agent_name="planner", input_tokens=10, output_tokens=5)
    )
    assert db.agent_logs.find_by_job(job.id) == [first]
    assert db.agent_logs.find_by_job(uuid.uuid4()) == []
    ghost = uuid.uuid4()
    with pytest.raises(InvalidReferenceError, match=f"unknown job: {ghost}"):
        db.agent_logs.record(AgentLogCreate(job_id=ghost, agent_name="planner"))
    assert rows(db, AgentLog) == 1


def test_instrument_create_schema_feeds_upsert(db: Database) -> None:
    bare = InstrumentCreate(symbol="NEWCO", name="New Company")
    db.instruments.upsert_many([bare])
    found = db.instruments.find_by_symbol("NEWCO")
    assert found is not None
    assert not found.is_classified

"""The demo and test user: ``test_user_001`` with three accounts, five holdings and a
month of prices.

Everything here is fixed data or computed from fixed data (no clock, no random
numbers), so two machines, or two runs, produce the same rows. Creating it is
idempotent: what exists is left alone and only what is missing is added.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from alex_db.schemas import AccountCreate, AccountRead, PriceHistoryCreate, UserCreate, UserRead
from alex_db.seed.instruments import load_instruments

if TYPE_CHECKING:
    from alex_db.database import Database

TEST_USER_ID = "test_user_001"
TEST_USER = UserCreate(
    clerk_user_id=TEST_USER_ID,
    display_name="Test User",
    years_until_retirement=25,
    target_retirement_income=Decimal("90000.00"),
    asset_class_targets={"equity": 70, "fixed_income": 30},
    region_targets={"north_america": 60, "international": 40},
)
TEST_ACCOUNTS = (
    AccountCreate(
        account_name="401k",
        account_purpose="Employer retirement plan",
        cash_balance=Decimal("1250.00"),
        cash_interest=Decimal("0.0100"),
    ),
    AccountCreate(
        account_name="Roth IRA",
        account_purpose="Tax-free retirement savings",
    ),
    AccountCreate(
        account_name="Taxable",
        account_purpose="Brokerage account for medium-term goals",
        cash_balance=Decimal("15000.00"),
        cash_interest=Decimal("0.0425"),
    ),
)
POSITIONS_ACCOUNT = "401k"
TEST_POSITIONS: dict[str, Decimal] = {
    "SPY": Decimal(100),
    "QQQ": Decimal(50),
    "BND": Decimal(200),
    "VEA": Decimal(150),
    "GLD": Decimal(25),
}

# A fixed window (not "the last 30 days") so that a run next month adds nothing new.
# 2025-09-22 .. 2025-10-31 are 30 weekdays without a NYSE holiday.
PRICE_HISTORY_END = dt.date(2025, 10, 31)
PRICE_HISTORY_DAYS = 30
_TICK = Decimal("0.0001")


@dataclass(frozen=True)
class SampleData:
    """What :func:`create_test_data` left in the database."""

    user: UserRead
    accounts: list[AccountRead]
    created: int  # users, accounts and positions this call inserted (0 on a rerun)
    prices: int  # price rows recorded (identical rows are not rewritten)


def trading_days(end: dt.date, count: int) -> list[dt.date]:
    """The ``count`` weekdays up to and including ``end``, oldest first."""
    days: list[dt.date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]


def price_series(symbol: str, last_close: Decimal, days: list[dt.date]) -> list[PriceHistoryCreate]:
    """A plausible daily series ending exactly at ``last_close``.

    Daily moves of at most ±1.2% come from integer arithmetic on the symbol's
    CRC-32 (not ``hash()``, which changes between processes), walked backwards
    from the last close, so every platform computes the same digits.
    """
    key = zlib.crc32(symbol.encode("ascii"))
    closes = [last_close.quantize(_TICK)]
    for i in range(len(days) - 1, 0, -1):
        move_bp = (key + i * 7919) % 241 - 120
        previous = closes[-1] * Decimal(10_000) / Decimal(10_000 + move_bp)
        closes.append(previous.quantize(_TICK, rounding=ROUND_HALF_EVEN))
    closes.reverse()
    base_volume = 2_000_000 + key % 8_000_000
    return [
        PriceHistoryCreate(
            symbol=symbol,
            date=day,
            close_price=close,
            volume=base_volume + ((key >> 8) + i * 104_729) % (base_volume // 2),
        )
        for i, (day, close) in enumerate(zip(days, closes, strict=True))
    ]


def sample_price_history() -> list[PriceHistoryCreate]:
    """30 trading days for each held symbol, ending at its seed price."""
    prices = {i.symbol: i.current_price for i in load_instruments()}
    days = trading_days(PRICE_HISTORY_END, PRICE_HISTORY_DAYS)
    rows: list[PriceHistoryCreate] = []
    for symbol in TEST_POSITIONS:
        last = prices.get(symbol)
        if last is None:  # pragma: no cover - the seed file prices every instrument
            raise ValueError(f"the seed file has no price for {symbol}")
        rows.extend(price_series(symbol, last, days))
    return rows


def create_test_data(db: Database) -> SampleData:
    """Make sure ``test_user_001``, their accounts, positions and prices exist.

    Needs the reference instruments (call :func:`alex_db.seed.seed` first; without
    them the positions raise ``InvalidReferenceError`` and nothing is written).
    One transaction. Rows that already exist are left as they are, so a second
    run changes nothing.
    """
    with db.transaction():
        created = 0
        user = db.users.find_by_clerk_id(TEST_USER_ID)
        if user is None:
            user = db.users.create_user(TEST_USER)
            created += 1

        accounts = {a.account_name: a for a in db.accounts.find_by_user(TEST_USER_ID)}
        for spec in TEST_ACCOUNTS:
            if spec.account_name not in accounts:
                accounts[spec.account_name] = db.accounts.create_account(TEST_USER_ID, spec)
                created += 1

        holder = accounts[POSITIONS_ACCOUNT]
        held = {p.symbol for p in db.positions.find_by_account(holder.id)}
        for symbol, quantity in TEST_POSITIONS.items():
            # add_position replaces an existing quantity; only add what is missing.
            if symbol not in held:
                db.positions.add_position(holder.id, symbol, quantity, as_of_date=PRICE_HISTORY_END)
                created += 1

        prices = db.price_history.record_prices(sample_price_history())
        ordered = sorted(accounts.values(), key=lambda a: (a.account_name, str(a.id)))
    return SampleData(user=user, accounts=ordered, created=created, prices=prices)

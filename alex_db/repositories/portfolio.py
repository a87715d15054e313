"""The portfolio as the agents read it: one typed object from two SQL statements.

Statement 1 loads the user with their accounts; statement 2 loads every position
of those accounts with its instrument. The rest (values, totals, allocations) is
computed here with exact decimal arithmetic, whatever the number of accounts
and positions.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from sqlalchemy import Row, Select, Text, bindparam, cast, func, select

from alex_db.errors import NotFoundError
from alex_db.models import Account, Instrument, Job, Position, User
from alex_db.repositories.base import Repository, parse_uuid, table_of, user_key
from alex_db.schemas import (
    InstrumentRead,
    Portfolio,
    PortfolioAccount,
    PortfolioPosition,
    UserRead,
)

USERS = table_of(User)
ACCOUNTS = table_of(Account)
POSITIONS = table_of(Position)
INSTRUMENTS = table_of(Instrument)
JOBS = table_of(Job)

# Statement 1 selects the owner with their accounts (one row per account, or one row
# with NULL account columns): the account columns are labelled "account_<name>".
_ACCOUNT_LABELS = {c.name: f"account_{c.name}" for c in ACCOUNTS.c}
_OWNER_COLUMNS = [*USERS.c, *(c.label(_ACCOUNT_LABELS[c.name]) for c in ACCOUNTS.c)]
# Statement 2 selects every position of the owner (the columns the portfolio shows)
# followed by its instrument's columns.
# The three allocations travel as one JSON array, as text: one document per row,
# decoded here with json.loads (measured: decoding 3,000 jsonb values in the driver
# took longer than fetching everything else in the statement).
_POSITION_COLUMNS = ("id", "account_id", "symbol", "quantity", "as_of_date")
_ALLOCATIONS = ("allocation_regions", "allocation_sectors", "allocation_asset_class")
_INSTRUMENT_NAMES = tuple(c.name for c in INSTRUMENTS.c if c.name not in _ALLOCATIONS)
_FIRST_INSTRUMENT_COLUMN = len(_POSITION_COLUMNS)
_POSITIONS: Select[Any] = (
    select(
        *(POSITIONS.c[name] for name in _POSITION_COLUMNS),
        *(INSTRUMENTS.c[name].label(f"instrument_{name}") for name in _INSTRUMENT_NAMES),
        cast(func.jsonb_build_array(*(INSTRUMENTS.c[name] for name in _ALLOCATIONS)), Text).label(
            "instrument_allocations"
        ),
    )
    .join(ACCOUNTS, ACCOUNTS.c.id == POSITIONS.c.account_id)
    .join(INSTRUMENTS, INSTRUMENTS.c.symbol == POSITIONS.c.symbol)
    .where(ACCOUNTS.c.clerk_user_id == bindparam("owner"))
    .order_by(POSITIONS.c.account_id, POSITIONS.c.symbol)
)

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# quantity (20 digits) x price (12 digits) needs 32 significant digits; the default
# context keeps 28. Work with room to spare so no digit is ever rounded away.
PRECISION = 64


def percentages(weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Shares of the positive weights in percent, to 0.01, summing to exactly 100.00
    (largest-remainder rounding), largest first. Empty when nothing is positive."""
    positive = {k: v for k, v in weights.items() if v > 0}
    total = sum(positive.values(), Decimal(0))
    if not positive:
        return {}
    with localcontext(prec=PRECISION):
        exact = {k: v * HUNDRED / total for k, v in positive.items()}
        shares = {k: share.quantize(CENT, rounding=ROUND_DOWN) for k, share in exact.items()}
        missing = int((HUNDRED - sum(shares.values(), Decimal(0))) / CENT)
        by_remainder = sorted(exact, key=lambda k: (shares[k] - exact[k], k))
        for k in by_remainder[:missing]:
            shares[k] += CENT
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))


# An allocation as the database holds it, its percentages as exact decimals.
Allocation = dict[str, Decimal]


def _spread(weights: defaultdict[str, Decimal], value: Decimal, allocation: Allocation) -> None:
    """Add ``value`` split by ``allocation``, normalised by its own sum (which may be
    off 100 by the allowed rounding); nothing when there is nothing to split by."""
    total = sum(allocation.values(), Decimal(0))
    if total <= 0:
        return
    scale = value.scaleb(-2) if total == HUNDRED else value / total  # usually exact
    for key, part in allocation.items():
        weights[key] += scale * part


# One decoder for every row: json.loads(..., parse_float=Decimal) builds a new one per
# call, which cost as much as the decoding itself.
_ALLOCATION_DECODER = json.JSONDecoder(parse_float=Decimal)


def _instrument(columns: Sequence[Any]) -> tuple[InstrumentRead, tuple[Allocation, ...]]:
    """The instrument of a statement-2 row (its columns from ``_FIRST_INSTRUMENT_COLUMN``
    on), and its allocations with exact percentages (``37.5`` as written, not its binary
    expansion) for the arithmetic."""
    *values, document = columns
    allocations: tuple[Allocation, ...] = tuple(_ALLOCATION_DECODER.decode(document))
    fields = dict(zip(_INSTRUMENT_NAMES, values, strict=True))
    fields.update(zip(_ALLOCATIONS, allocations, strict=True))
    return InstrumentRead.model_validate(fields), allocations


def build_portfolio(owner: Sequence[Row[Any]], positions: Sequence[Row[Any]]) -> Portfolio:
    """The portfolio from statement 1's rows (the owner, one row per account) and
    statement 2's (the positions with their instruments)."""
    user = UserRead.model_validate(owner[0]._mapping)
    # Rows are read by position, not by name: a Row's attribute lookup cost more than
    # building the position's model (measured at 1,000 positions).
    by_account: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    # Each instrument is converted once, however many accounts hold it.
    instruments: dict[str, InstrumentRead] = {}
    allocations: dict[str, tuple[Allocation, ...]] = {}
    for row in positions:
        position_id, account_id, symbol, quantity, as_of_date = row[:_FIRST_INSTRUMENT_COLUMN]
        by_account[account_id].append((position_id, symbol, quantity, as_of_date))
        if symbol not in instruments:
            instruments[symbol], allocations[symbol] = _instrument(row[_FIRST_INSTRUMENT_COLUMN:])
    account_rows = [
        {name: row._mapping[label] for name, label in _ACCOUNT_LABELS.items()}
        for row in owner
        if row._mapping[_ACCOUNT_LABELS["id"]] is not None
    ]

    accounts: list[PortfolioAccount] = []
    held_value: defaultdict[str, Decimal] = defaultdict(Decimal)  # by symbol, all accounts
    cash_total = Decimal(0)
    with localcontext(prec=PRECISION):
        for account in sorted(account_rows, key=lambda a: (a["account_name"], a["id"])):
            held: list[PortfolioPosition] = []
            positions_value = Decimal(0)
            # By symbol (statement 2's order).
            for position_id, symbol, quantity, as_of_date in by_account[account["id"]]:
                instrument = instruments[symbol]
                value = None
                if instrument.current_price is not None:
                    value = quantity * instrument.current_price
                    positions_value += value
                    held_value[symbol] += value
                held.append(
                    PortfolioPosition(
                        id=position_id,
                        symbol=symbol,
                        quantity=quantity,
                        as_of_date=as_of_date,
                        instrument=instrument,
                        value=value,
                    )
                )
            cash: Decimal = account["cash_balance"]
            cash_total += cash
            accounts.append(
                PortfolioAccount(
                    id=account["id"],
                    account_name=account["account_name"],
                    account_purpose=account["account_purpose"],
                    cash_balance=cash,
                    cash_interest=account["cash_interest"],
                    positions=held,
                    positions_value=positions_value,
                    total_value=cash + positions_value,
                )
            )
        total_value = sum((a.total_value for a in accounts), Decimal(0))

        # Each instrument's value, summed over the accounts that hold it, is spread
        # over its allocations once.
        asset_classes: defaultdict[str, Decimal] = defaultdict(Decimal)
        regions: defaultdict[str, Decimal] = defaultdict(Decimal)
        sectors: defaultdict[str, Decimal] = defaultdict(Decimal)
        for symbol, value in held_value.items():
            by_region, by_sector, by_asset_class = allocations[symbol]  # _ALLOCATIONS' order
            _spread(asset_classes, value, by_asset_class)
            _spread(regions, value, by_region)
            _spread(sectors, value, by_sector)
        asset_classes["cash"] += cash_total

    return Portfolio(
        user=user,
        accounts=accounts,
        total_value=total_value,
        allocation_asset_class=percentages(asset_classes),
        allocation_regions=percentages(regions),
        allocation_sectors=percentages(sectors),
        unpriced_positions=sorted(s for s, i in instruments.items() if i.current_price is None),
        instruments_missing_allocations=sorted(
            s for s, i in instruments.items() if not i.is_classified
        ),
    )


_OWNER = select(*_OWNER_COLUMNS).select_from(
    USERS.outerjoin(ACCOUNTS, ACCOUNTS.c.clerk_user_id == USERS.c.clerk_user_id)
)
_OWNER_BY_ID = _OWNER.where(USERS.c.clerk_user_id == bindparam("key"))
_OWNER_BY_JOB = _OWNER.join(JOBS, JOBS.c.clerk_user_id == USERS.c.clerk_user_id).where(
    JOBS.c.id == bindparam("key")
)


class PortfolioRepository(Repository):
    def load(self, clerk_user_id: str) -> Portfolio:
        """The user's whole portfolio (an unknown user raises ``NotFoundError``)."""
        key = user_key(clerk_user_id)
        return self._build(_OWNER_BY_ID, key, NotFoundError("user", key))

    def for_job(self, job_id: uuid.UUID | str) -> Portfolio:
        """The portfolio of the user a job runs for (an unknown job raises ``NotFoundError``)."""
        key = parse_uuid(job_id, "job id")
        return self._build(_OWNER_BY_JOB, key, NotFoundError("job", key))

    def _build(self, owner: Select[Any], key: object, missing: NotFoundError) -> Portfolio:
        """Statement 1: the owner with their accounts. Statement 2: every position of
        those accounts with its instrument."""
        with self._read() as ex:
            owner_rows = ex.execute(owner, {"key": key}).all()
            if not owner_rows:
                raise missing
            owner_id = owner_rows[0].clerk_user_id
            positions = ex.execute(_POSITIONS, {"owner": owner_id}).all()
        return build_portfolio(owner_rows, positions)

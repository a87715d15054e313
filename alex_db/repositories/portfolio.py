"""The portfolio as the agents read it: one typed object from two SQL statements.

Statement 1 loads the user with their accounts; statement 2 loads every position
of those accounts with its instrument. The rest (values, totals, allocations) is
computed here with exact decimal arithmetic, whatever the number of accounts
and positions.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from sqlalchemy import Row, Select, bindparam, select

from alex_db.errors import NotFoundError
from alex_db.models import Account, Instrument, Job, Position, User
from alex_db.repositories.base import Repository, parse_uuid, table_of
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
# Statement 2 selects every position of the owner with its instrument ("instrument_<name>").
_INSTRUMENT_LABELS = {c.name: f"instrument_{c.name}" for c in INSTRUMENTS.c}
_POSITIONS = (
    select(*POSITIONS.c, *(c.label(_INSTRUMENT_LABELS[c.name]) for c in INSTRUMENTS.c))
    .join(ACCOUNTS, ACCOUNTS.c.id == POSITIONS.c.account_id)
    .join(INSTRUMENTS, INSTRUMENTS.c.symbol == POSITIONS.c.symbol)
    .where(ACCOUNTS.c.clerk_user_id == bindparam("owner"))
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


Split = tuple[tuple[str, Decimal], ...]


def _split(allocation: Mapping[Any, float]) -> Split:
    """An allocation as (key, fraction) pairs, normalised by its own sum (which may be
    off 100 by the allowed rounding). Empty when there is nothing to split by."""
    parts = {k: Decimal(str(v)) for k, v in allocation.items()}
    total = sum(parts.values(), Decimal(0))
    if total <= 0:
        return ()
    return tuple((k, part / total) for k, part in parts.items())


def _spread(weights: defaultdict[str, Decimal], value: Decimal, split: Split) -> None:
    for key, fraction in split:
        weights[key] += value * fraction


def build_portfolio(owner: Sequence[Row[Any]], positions: Sequence[Row[Any]]) -> Portfolio:
    """The portfolio from statement 1's rows (the owner, one row per account) and
    statement 2's (the positions with their instruments)."""
    user = UserRead.model_validate(owner[0]._mapping)
    by_account: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
    for position in positions:
        by_account[position.account_id].append(position)

    asset_classes: defaultdict[str, Decimal] = defaultdict(Decimal)
    regions: defaultdict[str, Decimal] = defaultdict(Decimal)
    sectors: defaultdict[str, Decimal] = defaultdict(Decimal)
    unpriced: set[str] = set()
    unclassified: set[str] = set()
    accounts: list[PortfolioAccount] = []
    # Each instrument is converted and split once, however many accounts hold it.
    instruments: dict[str, tuple[InstrumentRead, Split, Split, Split]] = {}
    account_rows = [
        {name: row._mapping[label] for name, label in _ACCOUNT_LABELS.items()}
        for row in owner
        if row._mapping[_ACCOUNT_LABELS["id"]] is not None
    ]

    with localcontext(prec=PRECISION):
        for account in sorted(account_rows, key=lambda a: (a["account_name"], a["id"])):
            held: list[PortfolioPosition] = []
            positions_value = Decimal(0)
            for position in sorted(by_account[account["id"]], key=lambda p: p.symbol):
                if position.symbol not in instruments:
                    mapping = position._mapping
                    read = InstrumentRead.model_validate(
                        {name: mapping[label] for name, label in _INSTRUMENT_LABELS.items()}
                    )
                    instruments[position.symbol] = (
                        read,
                        _split(read.allocation_asset_class),
                        _split(read.allocation_regions),
                        _split(read.allocation_sectors),
                    )
                instrument, by_asset_class, by_region, by_sector = instruments[position.symbol]
                value = None
                if instrument.current_price is None:
                    unpriced.add(instrument.symbol)
                else:
                    value = position.quantity * instrument.current_price
                    positions_value += value
                    _spread(asset_classes, value, by_asset_class)
                    _spread(regions, value, by_region)
                    _spread(sectors, value, by_sector)
                if not instrument.is_classified:
                    unclassified.add(instrument.symbol)
                held.append(
                    PortfolioPosition(
                        id=position.id,
                        symbol=position.symbol,
                        quantity=position.quantity,
                        as_of_date=position.as_of_date,
                        instrument=instrument,
                        value=value,
                    )
                )
            cash: Decimal = account["cash_balance"]
            asset_classes["cash"] += cash
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

    return Portfolio(
        user=user,
        accounts=accounts,
        total_value=total_value,
        allocation_asset_class=percentages(asset_classes),
        allocation_regions=percentages(regions),
        allocation_sectors=percentages(sectors),
        unpriced_positions=sorted(unpriced),
        instruments_missing_allocations=sorted(unclassified),
    )


class PortfolioRepository(Repository):
    def load(self, clerk_user_id: str) -> Portfolio:
        """The user's whole portfolio (an unknown user raises ``NotFoundError``)."""
        owner = select(*_OWNER_COLUMNS).where(USERS.c.clerk_user_id == clerk_user_id)
        return self._build(owner, NotFoundError("user", clerk_user_id))

    def for_job(self, job_id: uuid.UUID | str) -> Portfolio:
        """The portfolio of the user a job runs for (an unknown job raises ``NotFoundError``)."""
        key = parse_uuid(job_id, "job id")
        owner = (
            select(*_OWNER_COLUMNS)
            .join(JOBS, JOBS.c.clerk_user_id == USERS.c.clerk_user_id)
            .where(JOBS.c.id == key)
        )
        return self._build(owner, NotFoundError("job", key))

    def _build(self, owner: Select[Any], missing: NotFoundError) -> Portfolio:
        """Statement 1: the owner with their accounts. Statement 2: every position of
        those accounts with its instrument."""
        owner = owner.outerjoin(ACCOUNTS, ACCOUNTS.c.clerk_user_id == USERS.c.clerk_user_id)
        with self._read() as ex:
            owner_rows = ex.execute(owner).all()
            if not owner_rows:
                raise missing
            positions = ex.execute(_POSITIONS, {"owner": owner_rows[0].clerk_user_id}).all()
        return build_portfolio(owner_rows, positions)

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
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, localcontext
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, Text, bindparam, cast, select, tuple_

from alex_db.errors import NotFoundError
from alex_db.models import Account, Instrument, Job, Position, User
from alex_db.repositories.base import (
    Repository,
    fetch_by_key,
    parse_uuid,
    table_of,
    user_key,
)
from alex_db.schemas import Portfolio, classified

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
# followed by its instrument's columns (the symbol is the position's), the three
# allocations last, as JSON text: they are decoded here, all rows' in one call
# (measured at 1,000 positions: decoding jsonb in the driver took longer than fetching
# everything else in the statement, and one decoder call per document cost a third
# more than one call for them all).
_POSITION_COLUMNS = ("id", "account_id", "symbol", "quantity", "as_of_date")
_ALLOCATIONS = ("allocation_regions", "allocation_sectors", "allocation_asset_class")
_INSTRUMENT_COLUMNS = tuple(
    c.name for c in INSTRUMENTS.c if c.name not in {"symbol", *_ALLOCATIONS}
)
_FIRST_INSTRUMENT_COLUMN = len(_POSITION_COLUMNS)
_FIRST_ALLOCATION_COLUMN = _FIRST_INSTRUMENT_COLUMN + len(_INSTRUMENT_COLUMNS)
_POSITIONS: Select[Any] = (
    select(
        *(POSITIONS.c[name] for name in _POSITION_COLUMNS),
        *(INSTRUMENTS.c[name].label(f"instrument_{name}") for name in _INSTRUMENT_COLUMNS),
        *(cast(INSTRUMENTS.c[name], Text).label(f"instrument_{name}") for name in _ALLOCATIONS),
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


class _Weights(NamedTuple):
    """The portfolio's value split by one kind of allocation (regions, say), exactly
    (inside ``localcontext(prec=PRECISION)``): each position's value is split by its
    instrument's allocation. The usual allocation sums to exactly 100, so its products
    are summed as they are (``by_hundred``) and divided by 100 once at the end (a shift
    of the exponent); another is normalised by its own sum (which may be off 100 by the
    allowed rounding) into ``exact``; one with nothing to split by adds nothing."""

    exact: defaultdict[str, Decimal]
    by_hundred: defaultdict[str, Decimal]

    def total(self) -> defaultdict[str, Decimal]:
        weights = self.exact.copy()
        for key, weight in self.by_hundred.items():
            weights[key] += weight.scaleb(-2)
        return weights


_ZERO = Decimal(0)


# One decoder for every call: json.loads(..., parse_float=Decimal) builds a new one per
# call, which cost as much as the decoding itself.
_ALLOCATION_DECODER = json.JSONDecoder(parse_float=Decimal)


def _allocations(positions: Sequence[Row[Any]]) -> Iterator[tuple[Allocation, ...]]:
    """Each row's three allocations (``_ALLOCATIONS``' order) with exact percentages
    (``37.5`` as written, not its binary expansion) for the arithmetic."""
    documents = (row[_FIRST_ALLOCATION_COLUMN:] for row in positions)
    # Each document is a JSON object as PostgreSQL wrote it: joined by commas they are
    # one JSON array, decoded in one call.
    decoded = iter(_ALLOCATION_DECODER.decode(f"[{','.join(chain.from_iterable(documents))}]"))
    return zip(decoded, decoded, decoded, strict=True)


def build_portfolio(owner: Sequence[Row[Any]], positions: Sequence[Row[Any]]) -> Portfolio:
    """The portfolio from statement 1's rows (the owner, one row per account) and
    statement 2's (the positions with their instruments).

    The values are computed here; the whole portfolio is then validated in one call
    (measured at 1,000 positions: building each position's and instrument's model in
    its own call cost a third of the time)."""
    # Rows are read by position, not by name: a Row's attribute lookup cost more than
    # building the position (measured at 1,000 positions).
    by_account: defaultdict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    # Each instrument is read once, however many accounts hold it.
    instruments: dict[str, dict[str, Any]] = {}
    unclassified: list[str] = []
    weights = tuple(_Weights(defaultdict(Decimal), defaultdict(Decimal)) for _ in _ALLOCATIONS)
    with localcontext(prec=PRECISION):
        for row, allocation in zip(positions, _allocations(positions), strict=True):
            position_id, account_id, symbol, quantity, as_of_date = row[:_FIRST_INSTRUMENT_COLUMN]
            instrument = instruments.get(symbol)
            if instrument is None:
                instrument = instruments[symbol] = dict(
                    zip(
                        _INSTRUMENT_COLUMNS,
                        row[_FIRST_INSTRUMENT_COLUMN:_FIRST_ALLOCATION_COLUMN],
                        strict=True,
                    )
                )
                instrument["symbol"] = symbol
                instrument.update(zip(_ALLOCATIONS, allocation, strict=True))
                if not classified(*allocation):
                    unclassified.append(symbol)
            price: Decimal | None = instrument["current_price"]
            if price is None:
                value = None
            else:
                value = quantity * price
                # The split, inline (a function call per position cost about 8% of the
                # build at 1,000 positions, measured); exact in this context.
                for (exact, by_hundred), split in zip(weights, allocation, strict=True):
                    total = sum(split.values(), _ZERO)
                    if total == HUNDRED:
                        for key, part in split.items():
                            by_hundred[key] += value * part
                    elif total > 0:
                        scale = value / total
                        for key, part in split.items():
                            exact[key] += scale * part
            by_account[account_id].append(
                {
                    "id": position_id,
                    "symbol": symbol,
                    "quantity": quantity,
                    "as_of_date": as_of_date,
                    "instrument": instrument,
                    "value": value,
                }
            )

        accounts: list[dict[str, Any]] = []
        cash_total = Decimal(0)
        total_value = Decimal(0)
        for row in owner:
            account = {name: row._mapping[label] for name, label in _ACCOUNT_LABELS.items()}
            if account["id"] is None:  # the owner has no accounts
                continue
            held = by_account[account["id"]]  # by symbol (statement 2's order)
            positions_value = sum((p["value"] for p in held if p["value"] is not None), Decimal(0))
            cash: Decimal = account["cash_balance"]
            cash_total += cash
            total_value += cash + positions_value
            accounts.append(
                {
                    **account,
                    "positions": held,
                    "positions_value": positions_value,
                    "total_value": cash + positions_value,
                }
            )
        accounts.sort(key=lambda a: (a["account_name"], a["id"]))

        regions, sectors, asset_classes = (kind.total() for kind in weights)
        asset_classes["cash"] += cash_total

    return Portfolio.model_validate(
        {
            "user": owner[0]._mapping,
            "accounts": accounts,
            "total_value": total_value,
            "allocation_asset_class": percentages(asset_classes),
            "allocation_regions": percentages(regions),
            "allocation_sectors": percentages(sectors),
            "unpriced_positions": sorted(
                s for s, i in instruments.items() if i["current_price"] is None
            ),
            "instruments_missing_allocations": sorted(unclassified),
        }
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
        those accounts with its instrument (in pages of the backend's size where its
        responses are bounded: on the Data API, 500 positions a page)."""
        with self._read() as ex:
            owner_rows = ex.execute(owner, {"key": key}).all()
            if not owner_rows:
                raise missing
            positions = fetch_by_key(
                ex,
                _POSITIONS,
                lambda last: (
                    tuple_(POSITIONS.c.account_id, POSITIONS.c.symbol)
                    > (last.account_id, last.symbol)
                ),
                page_rows=self._capabilities.page_rows("positions"),
                params={"owner": owner_rows[0].clerk_user_id},
            )
        return build_portfolio(owner_rows, positions)

"""instruments: the securities users hold, with their price and allocations."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alex_db.errors import InvalidInputError, InvalidReferenceError
from alex_db.models import Instrument
from alex_db.repositories.base import (
    Repository,
    count_arg,
    delete_one,
    fetch_by_key,
    read_model,
    read_models,
    retried,
    schema_arg,
    table_of,
    text_arg,
    update_one,
    validate,
)
from alex_db.schemas import (
    InstrumentCreate,
    InstrumentRead,
    InstrumentUpdate,
    Price,
    Symbol,
)
from alex_db.vocabulary import InstrumentType

SYMBOL = TypeAdapter(Symbol)
PRICES = TypeAdapter(dict[Symbol, Price])
INSTRUMENT_TYPE = TypeAdapter(InstrumentType)
INSTRUMENTS = table_of(Instrument)
_INSERT = insert(INSTRUMENTS).returning(*INSTRUMENTS.c)
_BY_SYMBOL = select(INSTRUMENTS).where(INSTRUMENTS.c.symbol == bindparam("key"))

_DATA_COLUMNS = (
    "name",
    "instrument_type",
    "current_price",
    "allocation_regions",
    "allocation_sectors",
    "allocation_asset_class",
)


def escape_like(text: str) -> str:
    """Make LIKE's wildcards in user text match literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class InstrumentRepository(Repository):
    def create_instrument(self, instrument: InstrumentCreate) -> InstrumentRead:
        instrument = schema_arg(instrument, InstrumentCreate, "instrument")
        values = instrument.model_dump(exclude_none=True)
        with self._write(key=instrument.symbol) as ex:
            row = ex.execute(_INSERT, values).one()
        return read_model(InstrumentRead, row)

    @retried
    def upsert_many(self, instruments: Iterable[InstrumentCreate]) -> int:
        """Insert new instruments and update changed ones; returns how many rows changed.

        Rows identical to what is stored are left alone (``updated_at`` does not move),
        so loading the same data twice changes nothing.
        """
        checked = [schema_arg(i, InstrumentCreate, "each of instruments") for i in instruments]
        latest = {i.symbol: i for i in checked}  # the last entry for a symbol wins
        rows = [latest[symbol].model_dump() for symbol in sorted(latest)]
        changed = 0
        chunk = self._capabilities.rows_per_insert(len(_DATA_COLUMNS) + 1)
        with self._atomic() as ex:
            for start in range(0, len(rows), chunk):
                upsert = pg_insert(INSTRUMENTS).values(rows[start : start + chunk])
                excluded = upsert.excluded
                stmt = upsert.on_conflict_do_update(
                    constraint="pk_instruments",
                    set_={c: excluded[c] for c in _DATA_COLUMNS},
                    where=or_(
                        *(INSTRUMENTS.c[c].is_distinct_from(excluded[c]) for c in _DATA_COLUMNS)
                    ),
                ).returning(INSTRUMENTS.c.symbol)
                changed += len(ex.execute(stmt).all())
        return changed

    def find_by_symbol(self, symbol: str) -> InstrumentRead | None:
        key = validate(SYMBOL, symbol, "symbol")
        with self._read() as ex:
            row = ex.execute(_BY_SYMBOL, {"key": key}).first()
        return None if row is None else read_model(InstrumentRead, row)

    def find_all(self) -> list[InstrumentRead]:
        """Every instrument, ordered by symbol (no limit: the front end autocompletes on it)."""
        return self._by_symbol(select(INSTRUMENTS))

    def find_by_type(self, instrument_type: str) -> list[InstrumentRead]:
        kind = validate(INSTRUMENT_TYPE, instrument_type, "instrument type")
        return self._by_symbol(select(INSTRUMENTS).where(INSTRUMENTS.c.instrument_type == kind))

    def _by_symbol(self, stmt: Select[Any]) -> list[InstrumentRead]:
        """The instruments ``stmt`` selects, by symbol (in pages where the backend's
        responses are bounded)."""
        page_rows = self._capabilities.page_rows("instruments")
        with self._read() as ex:
            found = fetch_by_key(
                ex,
                stmt.order_by(INSTRUMENTS.c.symbol),
                lambda last: INSTRUMENTS.c.symbol > last.symbol,
                page_rows=page_rows,
            )
        return read_models(InstrumentRead, found)

    def search(self, text: str, *, limit: int = 50) -> list[InstrumentRead]:
        """Instruments whose symbol or name contains ``text`` (case-insensitive; ``%``
        and ``_`` match themselves). Exact symbol first, then symbol prefixes, then
        the rest, each by symbol."""
        needle = text_arg(text, "text", INSTRUMENTS.c.name).strip()
        limit = count_arg(limit, "limit")
        if not needle:
            return []
        escaped = escape_like(needle)
        contains, prefix = f"%{escaped}%", f"{escaped}%"
        symbol_column = INSTRUMENTS.c.symbol
        rank = case(
            (func.upper(symbol_column) == needle.upper(), 0),
            (symbol_column.ilike(prefix, escape="\\"), 1),
            else_=2,
        )
        stmt = (
            # The rank is selected too: a page after the first starts after the last
            # row's (rank, symbol).
            select(INSTRUMENTS, rank.label("search_rank"))
            .where(
                or_(
                    symbol_column.ilike(contains, escape="\\"),
                    INSTRUMENTS.c.name.ilike(contains, escape="\\"),
                )
            )
            .order_by(rank, symbol_column)
        )
        page_rows = self._capabilities.page_rows("instruments")
        with self._read() as ex:
            found = fetch_by_key(
                ex,
                stmt,
                lambda last: tuple_(rank, symbol_column) > (last.search_rank, last.symbol),
                page_rows=page_rows,
                limit=limit,
            )
        return read_models(InstrumentRead, found)

    def update(self, symbol: str, changes: InstrumentUpdate) -> InstrumentRead:
        key = validate(SYMBOL, symbol, "symbol")
        changes = schema_arg(changes, InstrumentUpdate, "changes")
        with self._write(key=key) as ex:
            row = update_one(
                ex,
                INSTRUMENTS,
                INSTRUMENTS.c.symbol == key,
                changes.changes(),
                entity="instrument",
                key=key,
            )
        return read_model(InstrumentRead, row)

    @retried
    def update_prices(self, prices: Mapping[str, Decimal | str | float]) -> int:
        """Set ``current_price`` for any number of symbols in one UPDATE.

        An unknown symbol fails the whole call (nothing is written) with the list of
        unknown symbols. Returns the number of instruments updated.
        """
        if not isinstance(prices, Mapping):
            raise InvalidInputError(
                f"prices must be a mapping of symbol to price, got {type(prices).__name__}"
            )
        checked = validate(PRICES, dict(prices), "prices")
        if not checked:
            return 0
        # One JSON parameter instead of two per symbol: no parameter-count limit, and
        # it works on the Data API, which has no array parameters. Prices travel as
        # strings so no digit is lost.
        document = json.dumps({symbol: str(price) for symbol, price in checked.items()})
        incoming = (
            func.jsonb_each_text(cast(literal(document, String), JSONB))
            .table_valued("key", "value")
            .render_derived(name="incoming")
        )
        stmt = (
            update(INSTRUMENTS)
            .where(INSTRUMENTS.c.symbol == incoming.c.key)
            .values(current_price=cast(incoming.c.value, INSTRUMENTS.c.current_price.type))
            .returning(INSTRUMENTS.c.symbol)
        )
        # Lock the rows in symbol order first: two calls with overlapping symbols then
        # queue behind each other instead of deadlocking. The same statement finds the
        # unknown symbols, so a failing call writes nothing.
        lock = (
            select(INSTRUMENTS.c.symbol)
            .where(INSTRUMENTS.c.symbol.in_(sorted(checked)))
            .order_by(INSTRUMENTS.c.symbol)
            .with_for_update()
        )
        with self._atomic() as ex:
            unknown = sorted(set(checked) - set(ex.scalars(lock)))
            if unknown:
                raise InvalidReferenceError("instrument symbol", unknown)
            return len(set(ex.scalars(stmt)))

    def delete(self, symbol: str) -> None:
        """Delete an instrument nobody holds (one still in positions raises ``InUseError``)."""
        key = validate(SYMBOL, symbol, "symbol")
        with self._write(key=key, deleting=True) as ex:
            delete_one(ex, INSTRUMENTS, INSTRUMENTS.c.symbol == key, "instrument", key)

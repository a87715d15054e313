"""instruments: the securities users hold, with their price and allocations."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

from pydantic import TypeAdapter
from sqlalchemy import String, case, cast, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from alex_db.errors import InvalidReferenceError, translated
from alex_db.models import Instrument
from alex_db.repositories.base import (
    NO_SYNC,
    Repository,
    fetch_by_key,
    rows_per_statement,
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
UPSERT_CHUNK = 1000  # rows per INSERT statement: keeps parameter counts moderate
# Rows per Data API page: an instrument row is about 1 KB in the response's JSON.
PAGE_SIZE = 500

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
    def create_instrument(
        self, instrument: InstrumentCreate, *, session: Session | None = None
    ) -> InstrumentRead:
        with translated(key=instrument.symbol), self._autocommit(session) as s:
            row = instrument.to_orm()
            s.add(row)
            s.flush()
            return InstrumentRead.model_validate(row)

    def upsert_many(
        self, instruments: Iterable[InstrumentCreate], *, session: Session | None = None
    ) -> int:
        """Insert new instruments and update changed ones; returns how many rows changed.

        Rows identical to what is stored are left alone (``updated_at`` does not move),
        so loading the same data twice changes nothing.
        """
        latest = {i.symbol: i for i in instruments}  # the last entry for a symbol wins
        rows = [latest[symbol].model_dump() for symbol in sorted(latest)]
        changed = 0
        with translated(), self._transaction(session) as s:
            chunk = rows_per_statement(s, len(_DATA_COLUMNS) + 1, UPSERT_CHUNK)
            for start in range(0, len(rows), chunk):
                insert = pg_insert(Instrument).values(rows[start : start + chunk])
                excluded = insert.excluded
                stmt = insert.on_conflict_do_update(
                    constraint="pk_instruments",
                    set_={c: excluded[c] for c in _DATA_COLUMNS},
                    where=or_(
                        *(
                            Instrument.__table__.c[c].is_distinct_from(excluded[c])
                            for c in _DATA_COLUMNS
                        )
                    ),
                ).returning(Instrument.symbol)
                changed += len(s.execute(stmt).all())
        return changed

    def find_by_symbol(
        self, symbol: str, *, session: Session | None = None
    ) -> InstrumentRead | None:
        key = validate(SYMBOL, symbol, "symbol")
        with translated(), self._autocommit(session) as s:
            row = s.get(Instrument, key)
            return None if row is None else InstrumentRead.model_validate(row)

    def find_all(self, *, session: Session | None = None) -> list[InstrumentRead]:
        """Every instrument, ordered by symbol (no limit: the front end autocompletes on it)."""
        stmt = select(Instrument).order_by(Instrument.symbol)
        with translated(), self._autocommit(session) as s:
            rows = fetch_by_key(
                s, stmt, lambda last: Instrument.symbol > last.symbol, page_size=PAGE_SIZE
            )
            return [InstrumentRead.model_validate(r) for r in rows]

    def find_by_type(
        self, instrument_type: str, *, session: Session | None = None
    ) -> list[InstrumentRead]:
        kind = validate(INSTRUMENT_TYPE, instrument_type, "instrument type")
        with translated(), self._autocommit(session) as s:
            stmt = (
                select(Instrument)
                .where(Instrument.instrument_type == kind)
                .order_by(Instrument.symbol)
            )
            return [InstrumentRead.model_validate(r) for r in s.scalars(stmt)]

    def search(
        self, text: str, *, limit: int = 50, session: Session | None = None
    ) -> list[InstrumentRead]:
        """Instruments whose symbol or name contains ``text`` (case-insensitive; ``%``
        and ``_`` match themselves). Exact symbol first, then symbol prefixes, then
        the rest, each by symbol."""
        needle = text.strip()
        if not needle:
            return []
        escaped = escape_like(needle)
        contains, prefix = f"%{escaped}%", f"{escaped}%"
        rank = case(
            (func.upper(Instrument.symbol) == needle.upper(), 0),
            (Instrument.symbol.ilike(prefix, escape="\\"), 1),
            else_=2,
        )
        stmt = (
            select(Instrument)
            .where(
                or_(
                    Instrument.symbol.ilike(contains, escape="\\"),
                    Instrument.name.ilike(contains, escape="\\"),
                )
            )
            .order_by(rank, Instrument.symbol)
            .limit(max(1, limit))
        )
        with translated(), self._autocommit(session) as s:
            return [InstrumentRead.model_validate(r) for r in s.scalars(stmt)]

    def update(
        self, symbol: str, changes: InstrumentUpdate, *, session: Session | None = None
    ) -> InstrumentRead:
        key = validate(SYMBOL, symbol, "symbol")
        with translated(key=key), self._autocommit(session) as s:
            row = self._update_one(
                s,
                Instrument,
                Instrument.symbol == key,
                changes.changes(),
                entity="instrument",
                key=key,
            )
            return InstrumentRead.model_validate(row)

    def update_prices(
        self, prices: Mapping[str, Decimal | str | float], *, session: Session | None = None
    ) -> int:
        """Set ``current_price`` for any number of symbols in one statement.

        An unknown symbol fails the whole call (nothing is written) with the list of
        unknown symbols. Returns the number of instruments updated.
        """
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
            update(Instrument)
            .where(Instrument.symbol == incoming.c.key)
            .values(current_price=cast(incoming.c.value, Instrument.__table__.c.current_price.type))
            .returning(Instrument.symbol)
        )
        with translated(), self._transaction(session) as s:
            updated = set(s.scalars(stmt, execution_options=NO_SYNC))
            unknown = sorted(set(checked) - updated)
            if unknown:
                raise InvalidReferenceError("instrument symbol", unknown)
            return len(updated)

    def delete(self, symbol: str, *, session: Session | None = None) -> None:
        """Delete an instrument nobody holds (one still in positions raises ``InUseError``)."""
        key = validate(SYMBOL, symbol, "symbol")
        with translated(key=key, deleting=True), self._autocommit(session) as s:
            self._delete_one(s, Instrument, Instrument.symbol == key, "instrument", key)

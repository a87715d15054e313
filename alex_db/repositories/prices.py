"""price_history: daily closing prices, loaded in bulk and read as series."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    MetaData,
    Numeric,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from alex_db.errors import InvalidInputError, InvalidReferenceError, translated
from alex_db.models import Instrument, PriceHistory
from alex_db.repositories.base import Repository, fetch_by_key, validate
from alex_db.schemas import PriceHistoryCreate, PriceHistoryRead, Symbol

SYMBOL = TypeAdapter(Symbol)
# Rows per Data API page: a price row is about 250 bytes in the response's JSON.
PAGE_SIZE = 3000
PriceRow = tuple[str, dt.date, object, int | None]


def _staging_table(metadata: MetaData) -> Table:
    # A fresh name per call: ON COMMIT DROP tables live until the *outer* transaction
    # ends, and a caller may record prices several times in one transaction.
    return Table(
        f"alex_price_stage_{secrets.token_hex(4)}",
        metadata,
        Column("symbol", String(20)),
        Column("date", Date),
        Column("close_price", Numeric(12, 4)),
        Column("volume", BigInteger),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _merge_from(source: Table) -> Insert:
    """INSERT ... SELECT ... ON CONFLICT: new days are added, changed days updated,
    identical days left untouched (so a reload writes nothing)."""
    stmt = pg_insert(PriceHistory).from_select(
        ["symbol", "date", "close_price", "volume"],
        select(source.c.symbol, source.c.date, source.c.close_price, source.c.volume),
    )
    return _on_conflict(stmt)


def _on_conflict(stmt: Insert) -> Insert:
    excluded = stmt.excluded
    table = PriceHistory.__table__
    return stmt.on_conflict_do_update(
        constraint="pk_price_history",
        set_={"close_price": excluded.close_price, "volume": excluded.volume},
        where=(table.c.close_price.is_distinct_from(excluded.close_price))
        | (table.c.volume.is_distinct_from(excluded.volume)),
    )


class PriceHistoryRepository(Repository):
    def record_prices(
        self, rows: Iterable[PriceHistoryCreate], *, session: Session | None = None
    ) -> int:
        """Idempotent bulk upsert of daily prices; returns the number of distinct
        (symbol, date) rows received. A later row for the same day wins. An unknown
        symbol fails the whole call with nothing written.

        On PostgreSQL this streams the rows with COPY into a temporary table and
        merges them in one statement; on the Data API it sends one upsert statement
        with many parameter sets (BatchExecuteStatement calls sized to its limits).
        """
        latest: dict[tuple[str, dt.date], PriceRow] = {}
        for row in rows:
            if not isinstance(row, PriceHistoryCreate):
                raise InvalidInputError(f"record_prices takes PriceHistoryCreate, got {type(row)}")
            latest[(row.symbol, row.date)] = (row.symbol, row.date, row.close_price, row.volume)
        if not latest:
            return 0
        symbols = sorted({symbol for symbol, _ in latest})
        with translated(), self._transaction(session) as s:
            known = set(s.scalars(select(Instrument.symbol).where(Instrument.symbol.in_(symbols))))
            unknown = [symbol for symbol in symbols if symbol not in known]
            if unknown:
                raise InvalidReferenceError("instrument symbol", unknown)
            values = list(latest.values())
            connection = s.connection()
            if connection.dialect.driver == "psycopg":
                self._copy_and_merge(connection, values)
            else:
                self._insert_in_batches(s, values)
        return len(latest)

    @staticmethod
    def _copy_and_merge(connection: Connection, values: Sequence[PriceRow]) -> None:
        stage = _staging_table(MetaData())
        stage.create(connection)
        driver = connection.connection.driver_connection
        assert driver is not None
        columns = "symbol, date, close_price, volume"
        copy_sql = f'COPY "{stage.name}" ({columns}) FROM STDIN (FORMAT BINARY)'
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(["varchar", "date", "numeric", "int8"])
            for value in values:
                copy.write_row(value)
        connection.execute(_merge_from(stage))

    @staticmethod
    def _insert_in_batches(s: Session, values: Sequence[PriceRow]) -> None:
        # One short statement with many parameter sets: the driver sends it as
        # BatchExecuteStatement calls as large as the request limit allows.
        keys = ("symbol", "date", "close_price", "volume")
        rows = [dict(zip(keys, v, strict=True)) for v in values]
        s.execute(_on_conflict(pg_insert(PriceHistory)), rows)

    def latest_price(
        self, symbol: str, as_of: dt.date | None = None, *, session: Session | None = None
    ) -> PriceHistoryRead | None:
        """The most recent close on or before ``as_of`` (default: the latest there is)."""
        key = validate(SYMBOL, symbol, "symbol")
        stmt = select(PriceHistory).where(PriceHistory.symbol == key)
        if as_of is not None:
            stmt = stmt.where(PriceHistory.date <= as_of)
        stmt = stmt.order_by(PriceHistory.date.desc()).limit(1)
        with translated(), self._autocommit(session) as s:
            row = s.scalars(stmt).one_or_none()
            return None if row is None else PriceHistoryRead.model_validate(row)

    def series(
        self, symbol: str, start: dt.date, end: dt.date, *, session: Session | None = None
    ) -> list[PriceHistoryRead]:
        """Daily closes from ``start`` to ``end`` inclusive, oldest first."""
        key = validate(SYMBOL, symbol, "symbol")
        if start > end:
            raise InvalidInputError(f"series start {start} is after end {end}")
        stmt = (
            select(PriceHistory)
            .where(PriceHistory.symbol == key, PriceHistory.date.between(start, end))
            .order_by(PriceHistory.date)
        )
        with translated(), self._autocommit(session) as s:
            rows = fetch_by_key(
                s, stmt, lambda last: PriceHistory.date > last.date, page_size=PAGE_SIZE
            )
            return [PriceHistoryRead.model_validate(r) for r in rows]

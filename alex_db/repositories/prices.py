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

from alex_db.errors import InvalidInputError, InvalidReferenceError
from alex_db.models import Instrument, PriceHistory
from alex_db.repositories.base import (
    Executor,
    Repository,
    connection_of,
    fetch_by_key,
    read_model,
    retried,
    schema_arg,
    table_of,
    validate,
)
from alex_db.schemas import PriceHistoryCreate, PriceHistoryRead, Symbol

SYMBOL = TypeAdapter(Symbol)
PRICES = table_of(PriceHistory)
_INSTRUMENTS = table_of(Instrument)
SORT_MEMORY = "64MB"
PriceRow = tuple[str, dt.date, object, int | None]


def trading_day(value: object, what: str) -> dt.date:
    """A calendar date. A datetime is refused rather than truncated: which day it falls
    on depends on a time zone the caller did not state."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidInputError(f"{what} must be a date, got {type(value).__name__} {value!r}")
    return value


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


def _merge_from(source: Table, *, update_volume: bool) -> Insert:
    """INSERT ... SELECT ... ON CONFLICT: new days are added, changed days updated,
    identical days left untouched (so a reload writes nothing)."""
    stmt = pg_insert(PRICES).from_select(
        ["symbol", "date", "close_price", "volume"],
        # In key order, as every writer of price_history goes: no lock-order deadlocks.
        select(source.c.symbol, source.c.date, source.c.close_price, source.c.volume).order_by(
            source.c.symbol, source.c.date
        ),
    )
    return _on_conflict(stmt, update_volume=update_volume)


def _on_conflict(stmt: Insert, *, update_volume: bool) -> Insert:
    excluded = stmt.excluded
    table = PRICES
    changed = table.c.close_price.is_distinct_from(excluded.close_price)
    if not update_volume:  # the rows carry no volume: keep the one stored
        return stmt.on_conflict_do_update(
            constraint="pk_price_history",
            set_={"close_price": excluded.close_price},
            where=changed,
        )
    return stmt.on_conflict_do_update(
        constraint="pk_price_history",
        set_={"close_price": excluded.close_price, "volume": excluded.volume},
        where=changed | table.c.volume.is_distinct_from(excluded.volume),
    )


class PriceHistoryRepository(Repository):
    @retried
    def record_prices(
        self, rows: Iterable[PriceHistoryCreate], *, update_volume: bool = True
    ) -> int:
        """Idempotent bulk upsert of daily prices; returns the number of distinct
        (symbol, date) rows received. A later row for the same day wins. An unknown
        symbol fails the whole call with nothing written. ``update_volume=False`` is for
        rows whose source has no volume (a CSV without the column): a day already
        stored keeps its volume, instead of having it replaced by NULL.

        Where the backend can COPY (PostgreSQL through psycopg) the rows stream into a
        temporary table and are merged in one statement; elsewhere (the Data API) one
        upsert statement goes with many parameter sets, in as few requests as the
        backend's limits allow.
        """
        latest: dict[tuple[str, dt.date], PriceRow] = {}
        for row in rows:
            schema_arg(row, PriceHistoryCreate, "each of rows")
            latest[(row.symbol, row.date)] = (row.symbol, row.date, row.close_price, row.volume)
        if not latest:
            return 0
        symbols = sorted({symbol for symbol, _ in latest})
        known_stmt = select(_INSTRUMENTS.c.symbol).where(_INSTRUMENTS.c.symbol.in_(symbols))
        copy = self._capabilities.bulk_load == "copy"
        with self._atomic() as ex:
            known = set(ex.scalars(known_stmt))
            unknown = [symbol for symbol in symbols if symbol not in known]
            if unknown:
                raise InvalidReferenceError("instrument symbol", unknown)
            # Rows are written in (symbol, date) order, as every writer of price_history
            # does, so concurrent loads never deadlock: the merge orders them in SQL
            # (the staging table holds no locks); the batches are sorted here.
            if copy:
                self._copy_and_merge(connection_of(ex), list(latest.values()), update_volume)
            else:
                ordered = [latest[key] for key in sorted(latest)]
                self._insert_in_batches(ex, ordered, update_volume)
        return len(latest)

    @staticmethod
    def _copy_and_merge(
        connection: Connection, values: Sequence[PriceRow], update_volume: bool
    ) -> None:
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
        # The merge sorts the rows (lock order): give it room to sort them in memory
        # (the default 4MB spills 100,000 rows to disk). LOCAL: it ends with the
        # transaction, and a larger work_mem only lets later statements in it use more.
        connection.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        connection.execute(_merge_from(stage, update_volume=update_volume))

    @staticmethod
    def _insert_in_batches(ex: Executor, values: Sequence[PriceRow], update_volume: bool) -> None:
        # One short statement with many parameter sets: the driver sends it as
        # BatchExecuteStatement calls as large as the request limit allows.
        keys = ("symbol", "date", "close_price", "volume")
        rows = [dict(zip(keys, v, strict=True)) for v in values]
        ex.execute(_on_conflict(pg_insert(PRICES), update_volume=update_volume), rows)

    def latest_price(self, symbol: str, as_of: dt.date | None = None) -> PriceHistoryRead | None:
        """The most recent close on or before ``as_of`` (default: the latest there is)."""
        key = validate(SYMBOL, symbol, "symbol")
        if as_of is not None:
            as_of = trading_day(as_of, "as_of")
        stmt = select(PRICES).where(PRICES.c.symbol == key)
        if as_of is not None:
            stmt = stmt.where(PRICES.c.date <= as_of)
        stmt = stmt.order_by(PRICES.c.date.desc()).limit(1)
        with self._read() as ex:
            row = ex.execute(stmt).first()
        return None if row is None else read_model(PriceHistoryRead, row)

    def series(self, symbol: str, start: dt.date, end: dt.date) -> list[PriceHistoryRead]:
        """Daily closes from ``start`` to ``end`` inclusive, oldest first."""
        key = validate(SYMBOL, symbol, "symbol")
        start, end = trading_day(start, "start"), trading_day(end, "end")
        if start > end:
            raise InvalidInputError(f"series start {start} is after end {end}")
        stmt = (
            select(PRICES)
            .where(PRICES.c.symbol == key, PRICES.c.date.between(start, end))
            .order_by(PRICES.c.date)
        )
        page_rows = self._capabilities.page_rows("prices")
        with self._read() as ex:
            found = fetch_by_key(
                ex, stmt, lambda last: PRICES.c.date > last.date, page_rows=page_rows
            )
        return [read_model(PriceHistoryRead, r) for r in found]

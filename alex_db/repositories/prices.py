"""price_history: daily closing prices, loaded in bulk and read as series."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

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
    Text,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import Insert, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from alex_db.backend import NULL, copy_lines
from alex_db.errors import InvalidInputError, InvalidReferenceError
from alex_db.models import Instrument, PriceHistory
from alex_db.price_files import PriceFile, PriceRecord, record_of
from alex_db.repositories.base import (
    Executor,
    Repository,
    connection_of,
    count_arg,
    fetch_by_key,
    read_model,
    read_models,
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


def _staging_table(metadata: MetaData, *extra: Column[int]) -> Table:
    # A fresh name per call: ON COMMIT DROP tables live until the *outer* transaction
    # ends, and a caller may record prices several times in one transaction.
    return Table(
        f"alex_price_stage_{secrets.token_hex(4)}",
        metadata,
        *extra,
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


_PRICE_COLUMNS = ("symbol", "date", "close_price", "volume")
_STAGE_COLUMNS = ("line", *_PRICE_COLUMNS)


CARDINALITY_VIOLATION = "21000"  # ON CONFLICT DO UPDATE met one key twice
# A plain COPY into price_history that fails with one of these (a row stored, or an
# instrument deleted, since the load looked; a deadlock with a concurrent writer) is
# rolled back and the load goes the staging way, which handles all three.
_NOT_DIRECT_SQLSTATES = frozenset({"23505", "23503", "40P01"})
LOAD_BATCH_ROWS = 10_000


@dataclass
class LoadOutcome:
    """What a bulk load found: the rows written, or why nothing was.

    Each list holds the first ``limit`` problems in file order; the counts say how many
    there are in all."""

    rows: int
    symbols: int = 0
    merged: bool = False
    unknown: list[tuple[str, int]] = field(default_factory=list)  # symbol, first line
    unknown_count: int = 0
    repeated: list[tuple[str, dt.date, list[int]]] = field(default_factory=list)
    repeated_count: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # line, what is wrong
    malformed_count: int = 0
    direct: bool = False
    """The rows went straight into ``price_history`` (every one of them was new)."""

    @property
    def problems(self) -> int:
        return self.malformed_count + self.unknown_count + self.repeated_count


class PriceLoad:
    """A bulk load in progress (from :meth:`PriceHistoryRepository.load`).

    Rows go to a temporary table on the server as they are added (COPY where the
    backend can, multi-row INSERTs elsewhere), so the client keeps one batch at a time
    whatever the size of the load. :meth:`finish` then has the server find what is
    wrong (unknown symbols, a day given twice, with the callers' line numbers) and, if
    nothing is, merges everything into ``price_history`` in one statement.
    """

    def __init__(self, ex: Executor, *, copy: bool, update_volume: bool, batch_rows: int) -> None:
        self._ex = ex
        self._copy = copy
        self._update_volume = update_volume
        self._batch_rows = batch_rows
        self._lines: list[str] = []  # COPY text, where the backend can COPY
        self._parameters: list[dict[str, object]] = []  # INSERT parameter sets elsewhere
        self._rows = 0
        self._stage = _staging_table(MetaData(), Column("line", BigInteger))
        self._stage.create(connection_of(ex))

    def add(self, line: int, row: PriceHistoryCreate) -> None:
        """Stage one validated row; ``line`` is the caller's position for it (reported
        back by :meth:`finish`)."""
        schema_arg(row, PriceHistoryCreate, "row")
        self.add_record(line, record_of(row))

    def add_record(self, line: int, record: PriceRecord) -> None:
        """Stage one record from :meth:`alex_db.price_files.PriceFile.records` (or
        :func:`~alex_db.price_files.record_of`): already checked, so not checked again."""
        symbol, day, ordinal, price, volume = record
        if self._copy:
            self._lines.append(f"{line}\t{symbol}\t{day}\t{price}\t{volume or NULL}\n")
            if len(self._lines) >= self._batch_rows:
                self._flush()
            return
        self._parameters.append(
            {
                "line": line,
                "symbol": symbol,
                "date": dt.date.fromordinal(ordinal),
                "close_price": Decimal(price),
                "volume": None if volume is None else int(volume),
            }
        )
        if len(self._parameters) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            copy_lines(connection_of(self._ex), self._stage.name, _STAGE_COLUMNS, self._lines)
            self._rows += len(self._lines)
            self._lines = []
        if self._parameters:
            self._ex.execute(insert(self._stage), self._parameters)
            self._rows += len(self._parameters)
            self._parameters = []

    def finish(self, *, merge: bool = True, limit: int = 20) -> LoadOutcome:
        """Check the staged rows and, when ``merge`` and nothing is wrong, merge them.

        With ``merge=False`` (the caller found problems of its own) every check runs and
        nothing is merged. Returns what was found; ``merged`` says whether the rows
        were written."""
        self._flush()
        stage, ex = self._stage, self._ex
        outcome = LoadOutcome(rows=self._rows)
        by_symbol = (
            select(stage.c.symbol, func.min(stage.c.line).label("first"))
            .group_by(stage.c.symbol)
            .subquery()
        )
        is_unknown = ~exists().where(_INSTRUMENTS.c.symbol == by_symbol.c.symbol)
        symbols, unknown = ex.execute(
            select(func.count(), func.count().filter(is_unknown)).select_from(by_symbol)
        ).one()
        outcome.symbols, outcome.unknown_count = int(symbols), int(unknown)
        if unknown:
            found = ex.execute(
                select(by_symbol.c.symbol, by_symbol.c.first)
                .where(is_unknown)
                .order_by(by_symbol.c.first)
                .limit(limit)
            ).all()
            outcome.unknown = [(symbol, int(first)) for symbol, first in found]
        if not merge or unknown:
            self._find_repeated(outcome, limit)
            return outcome
        # The merge itself finds a day given twice (it cannot update a row twice), so
        # a clean load pays for no separate check; a savepoint keeps the transaction
        # usable to find out which lines they were.
        if self._copy:  # the merge sorts the rows (lock order): let it sort in memory
            connection_of(ex).exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        savepoint = ex.begin_nested()
        try:
            ex.execute(_merge_from(stage, update_volume=self._update_volume))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != CARDINALITY_VIOLATION:
                raise
            savepoint.rollback()
            self._find_repeated(outcome, limit)
            return outcome
        savepoint.commit()
        outcome.merged = True
        return outcome

    def _find_repeated(self, outcome: LoadOutcome, limit: int) -> None:
        stage = self._stage
        first = func.min(stage.c.line)
        repeated = (
            select(
                stage.c.symbol,
                stage.c.date,
                # Text, not an array: the same result type on every backend.
                func.string_agg(
                    cast(stage.c.line, Text), aggregate_order_by(literal(","), stage.c.line)
                ),
            )
            .group_by(stage.c.symbol, stage.c.date)
            .having(func.count() > 1)
        )
        found = self._ex.execute(repeated.order_by(first).limit(limit)).all()
        outcome.repeated = [
            (symbol, day, [int(n) for n in lines.split(",")]) for symbol, day, lines in found
        ]
        if found:
            counted = select(func.count()).select_from(repeated.subquery())
            outcome.repeated_count = int(self._ex.execute(counted).scalar_one())


class _NotAllNewError(Exception):
    """A row a plain COPY could not store as the merge would (or a malformed one)."""


# Each instrument with the first and last day it has prices for (NULL, NULL: none).
_STORED_DAYS = select(
    _INSTRUMENTS.c.symbol,
    select(func.min(PRICES.c.date))
    .where(PRICES.c.symbol == _INSTRUMENTS.c.symbol)
    .scalar_subquery(),
    select(func.max(PRICES.c.date))
    .where(PRICES.c.symbol == _INSTRUMENTS.c.symbol)
    .scalar_subquery(),
)


def _copy_if_all_new(ex: Executor, prices: PriceFile) -> LoadOutcome | None:
    """COPY the file straight into price_history if every row turns out to be new,
    under a savepoint; None (the savepoint rolled back) as soon as one may not be.

    A row is new for sure when its symbol is known, its day comes after the symbol's
    previous row in the file (so no day is given twice) and lies outside the days
    already stored for the symbol. That is decided here as the rows stream, from one
    read of each instrument's first and last stored day; the server's own checks
    (the primary key, the foreign key) catch what changed since.
    """
    connection = connection_of(ex)
    stored: dict[str, tuple[int, int] | None] = {
        symbol: None if first is None else (first.toordinal(), last.toordinal())
        for symbol, first, last in ex.execute(_STORED_DAYS)
    }
    previous: dict[str, int] = {}
    written = 0

    def lines() -> Iterator[str]:
        nonlocal written
        with closing(prices.records()) as records:
            for _, record in records:
                if isinstance(record, str):
                    raise _NotAllNewError
                symbol, day, ordinal, price, volume = record
                before = previous.get(symbol)
                if before is None:
                    if symbol not in stored:
                        raise _NotAllNewError
                    before = -1
                span = stored[symbol]
                if ordinal <= before or (span is not None and span[0] <= ordinal <= span[1]):
                    raise _NotAllNewError
                previous[symbol] = ordinal
                written += 1
                yield f"{symbol}\t{day}\t{price}\t{volume or NULL}\n"

    savepoint = ex.begin_nested()
    try:
        copy_lines(connection, PRICES.name, _PRICE_COLUMNS, lines())
    except _NotAllNewError:
        savepoint.rollback()
        return None
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _NOT_DIRECT_SQLSTATES:
            raise
        savepoint.rollback()
        return None
    savepoint.commit()
    return LoadOutcome(rows=written, symbols=len(previous), merged=True, direct=True)


class PriceHistoryRepository(Repository):
    @contextmanager
    def load(
        self, *, update_volume: bool = True, batch_rows: int = LOAD_BATCH_ROWS
    ) -> Iterator[PriceLoad]:
        """A bulk load of any size, with problems reported by the caller's line numbers::

            with db.price_history.load() as load:
                for line, row in rows:
                    load.add(line, row)
                outcome = load.finish()

        Rows are held on the server until :meth:`PriceLoad.finish` merges them, all in
        one transaction (the caller's block if there is one): leaving the block with an
        exception, or without ``finish``, writes nothing. ``update_volume`` as in
        :meth:`record_prices`.
        """
        count_arg(batch_rows, "batch_rows", minimum=1)
        copy = self._capabilities.bulk_load == "copy"
        with self._atomic() as ex:
            yield PriceLoad(ex, copy=copy, update_volume=update_volume, batch_rows=batch_rows)

    def load_file(
        self,
        prices: PriceFile,
        *,
        batch_rows: int = LOAD_BATCH_ROWS,
        limit: int = 20,
        stage: Callable[[str], None] | None = None,
    ) -> LoadOutcome:
        """Load a CSV file of prices: every row, or (if any row is wrong) none.

        Returns what was written, or every problem the file has (malformed rows,
        unknown symbols, a day given twice: the first ``limit`` of each by line, and
        how many there are), found in one reading of the file. A file without a
        ``volume`` column leaves the volumes already stored as they are. One
        transaction (the caller's block if there is one). ``stage``, if given, is told
        what the load is doing whenever that changes (for a progress display).

        Where the backend can COPY and every row is new (each symbol known, its days
        rising through the file and none of them already stored, as when a history is
        first loaded or extended), the rows are copied straight into ``price_history``
        as they are read, at the speed of a plain COPY. Otherwise the file is read again
        into a staging table, checked there and merged, as :meth:`load` does.
        """
        count_arg(batch_rows, "batch_rows", minimum=1)
        count_arg(limit, "limit", minimum=0)
        tell = stage or (lambda _: None)
        update_volume = prices.has_volume  # HeaderError before anything is sent
        copy = self._capabilities.bulk_load == "copy"
        with self._atomic() as ex:
            if copy:
                tell("loading")
                outcome = _copy_if_all_new(ex, prices)
                if outcome is not None:
                    return outcome
                tell("reading again to merge with stored prices")
            else:
                tell("loading")
            load = PriceLoad(ex, copy=copy, update_volume=update_volume, batch_rows=batch_rows)
            malformed: list[tuple[int, str]] = []
            count = 0
            for line, record in prices.records():
                if isinstance(record, str):
                    count += 1
                    if len(malformed) < limit:
                        malformed.append((line, record))
                else:
                    load.add_record(line, record)
            tell("checking and merging")
            outcome = load.finish(merge=not count, limit=limit)
            outcome.malformed, outcome.malformed_count = malformed, count
            return outcome

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
        lines = (
            f"{symbol}\t{day.isoformat()}\t{price}\t{NULL if volume is None else volume}\n"
            for symbol, day, price, volume in values
        )
        copy_lines(connection, stage.name, _PRICE_COLUMNS, lines)
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
        return read_models(PriceHistoryRead, found)

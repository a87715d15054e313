"""Price CSV files and ``price_history.load_file``.

The reader's shortcut for plain rows must give exactly what the schema gives; a load
goes straight into ``price_history`` only when every row is new, and otherwise (or
when the server finds a row stored since the load looked) takes the staging way with
the same result.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, create_engine, select, text
from sqlalchemy.pool import NullPool

from alex_db import Database
from alex_db.migrations import upgrade
from alex_db.models import PriceHistory
from alex_db.price_files import HeaderError, PriceFile, check_row, record_of
from alex_db.schemas import PriceHistoryCreate
from alex_db.testing.postgres import PostgresServer, scratch_database
from tests.factories import instrument_create


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def through_the_schema(header: list[str], rows: list[list[str]]) -> list[object]:
    """What each row gives when every one goes through the schema (blank rows skipped)."""
    names = [h.strip().lower() for h in header]
    found: list[object] = []
    for fields in rows:
        if not "".join(fields).strip():
            continue
        if len(fields) != len(names):
            found.append(f"expected {len(names)} fields, found {len(fields)}")
            continue
        checked = check_row(dict(zip(names, fields, strict=True)))
        found.append(record_of(checked) if isinstance(checked, PriceHistoryCreate) else checked)
    return found


SYMBOLS = st.sampled_from(["SPY", "spy", " QQQ ", "BRK.B", "^GSPC", "", "S PY", "ſPY", "A" * 21])
DAYS = st.sampled_from(
    ["2024-01-05", "2024-02-29", "2023-02-29", "2024-1-5", " 2024-01-05", "20240105", "x"]
)
PRICES = st.one_of(
    st.from_regex(r"\A-?[0-9]{0,10}(\.[0-9]{0,6})?\Z"),
    st.sampled_from(["1e3", " 1.5", "1.5 ", "+2", "0", "00.5", "12345678.1234", "NaN", "∞"]),
)
VOLUMES = st.one_of(
    st.from_regex(r"\A-?[0-9]{0,20}\Z"),
    st.sampled_from([" ", " 7", "1_000", "9223372036854775807", "9223372036854775808"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(SYMBOLS, DAYS, PRICES, VOLUMES), min_size=1, max_size=40),
    with_volume=st.booleans(),
)
def test_the_shortcut_gives_what_the_schema_gives(
    tmp_path: Path, rows: list[tuple[str, str, str, str]], with_volume: bool
) -> None:
    header = ["symbol", "date", "close_price", *(["volume"] if with_volume else [])]
    table = [list(row) if with_volume else list(row[:3]) for row in rows]
    table = table + table  # the second time round, symbols and dates are remembered
    path = write(tmp_path / "prices.csv", header, table)
    assert [found for _, found in PriceFile(path).records()] == through_the_schema(header, table)


def test_records_carry_lines_and_canonical_text(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "Symbol, DATE ,close_price,volume\n"
        "spy,2024-01-02,470.5,100\n"
        "\n"
        '"SPY","2024-01-03","4.7E+2",\n'
        "SPY,2024-01-04,-1,5\n"
        "SPY,2024-01-05,12.5\n"
    )
    assert list(PriceFile(path).records()) == [
        (2, ("SPY", "2024-01-02", dt.date(2024, 1, 2).toordinal(), "470.5", "100")),
        (4, ("SPY", "2024-01-03", dt.date(2024, 1, 3).toordinal(), "4.7E+2", None)),
        (5, "close_price: Input should be greater than or equal to 0"),
        (6, "expected 4 fields, found 3"),
    ]


def test_a_header_error_is_typed(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,day,close_price\n")
    with pytest.raises(HeaderError, match="missing date"):
        PriceFile(path).columns()


# --- load_file (both backends) -----------------------------------------------------------


def days(first: dt.date, count: int, *, step: int = 1) -> list[dt.date]:
    return [first + dt.timedelta(days=i * step) for i in range(count)]


def stored(db: Database) -> list[tuple[str, dt.date, Decimal, int | None]]:
    with db.transaction() as tx:
        found = tx.session.execute(
            select(
                PriceHistory.symbol,
                PriceHistory.date,
                PriceHistory.close_price,
                PriceHistory.volume,
            ).order_by(PriceHistory.symbol, PriceHistory.date)
        )
        return [tuple(row) for row in found]  # type: ignore[misc]


JAN = dt.date(2024, 1, 1)
COPIES = {"postgresql": True, "data-api": False}  # which backends can go straight in


def test_a_new_history_goes_straight_in(db: Database, tmp_path: Path) -> None:
    db.instruments.upsert_many([instrument_create("SPY"), instrument_create("QQQ")])
    db.price_history.record_prices(
        [PriceHistoryCreate(symbol="SPY", date=JAN, close_price=Decimal(1), volume=7)]
    )
    # Interleaved by day (each symbol's days still rise), before and after what is stored.
    rows = [
        [symbol, day.isoformat(), f"{100 + i}.1234", str(i) if i % 3 else ""]
        for i, day in enumerate(
            days(JAN - dt.timedelta(days=5), 3) + days(JAN + dt.timedelta(1), 3)
        )
        for symbol in ("SPY", "QQQ")
    ]
    path = write(tmp_path / "prices.csv", ["symbol", "date", "close_price", "volume"], rows)
    outcome = db.price_history.load_file(PriceFile(path))
    assert (outcome.merged, outcome.rows, outcome.symbols, outcome.problems) == (True, 12, 2, 0)
    assert outcome.direct is COPIES[db.capabilities.name]
    expected = {
        (s, dt.date.fromisoformat(d), Decimal(p), int(v) if v else None) for s, d, p, v in rows
    }
    expected.add(("SPY", JAN, Decimal("1.0000"), 7))
    assert set(stored(db)) == expected


def test_a_file_that_touches_stored_days_is_merged(db: Database, tmp_path: Path) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    db.price_history.record_prices(
        [
            PriceHistoryCreate(symbol="SPY", date=d, close_price=Decimal(1), volume=7)
            for d in days(JAN, 3)
        ]
    )
    # No volume column: the stored volumes stay; a day inside the stored ones changes.
    path = write(
        tmp_path / "prices.csv",
        ["symbol", "date", "close_price"],
        [["SPY", "2024-01-02", "2.5"], ["SPY", "2024-01-04", "3"]],
    )
    outcome = db.price_history.load_file(PriceFile(path))
    assert (outcome.merged, outcome.rows, outcome.direct) == (True, 2, False)
    assert stored(db) == [
        ("SPY", JAN, Decimal("1.0000"), 7),
        ("SPY", dt.date(2024, 1, 2), Decimal("2.5000"), 7),
        ("SPY", dt.date(2024, 1, 3), Decimal("1.0000"), 7),
        ("SPY", dt.date(2024, 1, 4), Decimal("3.0000"), None),
    ]


def test_days_that_do_not_rise_are_staged_and_checked(db: Database, tmp_path: Path) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    newest_first = [["SPY", d.isoformat(), "10", "1"] for d in reversed(days(JAN, 4))]
    path = write(tmp_path / "down.csv", ["symbol", "date", "close_price", "volume"], newest_first)
    outcome = db.price_history.load_file(PriceFile(path))
    assert (outcome.merged, outcome.rows, outcome.direct) == (True, 4, False)
    assert [row[1] for row in stored(db)] == days(JAN, 4)


def test_every_problem_is_reported_and_nothing_written(db: Database, tmp_path: Path) -> None:
    db.instruments.create_instrument(instrument_create("SPY"))
    path = write(
        tmp_path / "bad.csv",
        ["symbol", "date", "close_price", "volume"],
        [
            ["SPY", "2024-01-01", "1", "1"],  # line 2
            ["SPY", "2024-01-02", "oops", "1"],  # line 3: malformed
            ["GHOST", "2024-01-01", "1", "1"],  # line 4: unknown
            ["SPY", "2024-01-01", "2", "1"],  # line 5: the day of line 2 again
        ],
    )
    outcome = db.price_history.load_file(PriceFile(path), limit=5)
    assert not outcome.merged
    assert outcome.malformed == [(3, "close_price: Input should be a valid decimal")]
    assert outcome.unknown == [("GHOST", 4)]
    assert outcome.repeated == [("SPY", JAN, [2, 5])]
    assert outcome.problems == 3
    assert stored(db) == []


def test_load_file_refuses_bad_arguments(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["symbol", "date", "close_price"], [])
    with pytest.raises(ValueError, match="batch_rows"):
        db.price_history.load_file(PriceFile(path), batch_rows=0)
    with pytest.raises(ValueError, match="limit"):
        db.price_history.load_file(PriceFile(path), limit=-1)
    (tmp_path / "no-header.csv").write_text("")
    with pytest.raises(HeaderError):
        db.price_history.load_file(PriceFile(tmp_path / "no-header.csv"))


# --- what the server finds during a straight load (PostgreSQL only: the Data API
# path never copies) ----------------------------------------------------------------------


@pytest.fixture
def committing(alex_db_server: PostgresServer) -> Iterator[tuple[Database, URL]]:
    """A Database whose loads really commit, on its own scratch database, and its URL
    (for a second connection that changes things in the middle of a load)."""
    with scratch_database(alex_db_server.url, prefix="alex_loads") as url:
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            upgrade(conn)
        try:
            yield Database.from_engine(engine), url
        finally:
            engine.dispose()


def big_file(path: Path, symbol: str, count: int) -> Path:
    rows = [[symbol, d.isoformat(), "10.5", "3"] for d in days(JAN, count)]
    return write(path, ["symbol", "date", "close_price", "volume"], rows)


def meddle_once(url: URL, sql: str) -> Callable[[int], None]:
    """A progress callback that runs ``sql`` on another connection the first time it is
    called (after the load has read its first thousand rows)."""
    done: list[bool] = []

    def progress(_: int) -> None:
        if not done:
            done.append(True)
            other = create_engine(url, poolclass=NullPool)
            with other.begin() as conn:
                conn.execute(text(sql))
            other.dispose()

    return progress


def test_a_row_stored_during_a_straight_load_sends_it_the_staging_way(
    committing: tuple[Database, URL], tmp_path: Path
) -> None:
    db, url = committing
    db.instruments.create_instrument(instrument_create("SPY"))
    path = big_file(tmp_path / "prices.csv", "SPY", 3000)
    # Another writer stores a day near the end of the file while the COPY runs.
    progress = meddle_once(
        url, "INSERT INTO price_history (symbol, date, close_price) VALUES ('SPY', '2031-01-01', 1)"
    )
    assert dt.date(2031, 1, 1) in days(JAN, 3000)
    outcome = db.price_history.load_file(PriceFile(path, progress))
    assert (outcome.merged, outcome.rows, outcome.direct) == (True, 3000, False)
    rows = stored(db)
    assert len(rows) == 3000
    assert ("SPY", dt.date(2031, 1, 1), Decimal("10.5000"), 3) in rows  # the file's value


def test_an_instrument_deleted_during_a_straight_load_is_reported(
    committing: tuple[Database, URL], tmp_path: Path
) -> None:
    db, url = committing
    db.instruments.upsert_many([instrument_create("SPY"), instrument_create("GONE")])
    path = tmp_path / "prices.csv"
    rows = [["SPY", d.isoformat(), "1", "1"] for d in days(JAN, 1500)]
    rows += [["GONE", d.isoformat(), "1", "1"] for d in days(JAN, 10)]
    write(path, ["symbol", "date", "close_price", "volume"], rows)
    progress = meddle_once(url, "DELETE FROM instruments WHERE symbol = 'GONE'")
    outcome = db.price_history.load_file(PriceFile(path, progress))
    assert not outcome.merged
    assert outcome.unknown == [("GONE", 1502)]
    assert stored(db) == []

"""Bulk price load: ``db.price_history.record_prices`` against plain COPY and COPY + merge.

100,000 daily prices (100 symbols x 1,000 days, deterministic values) are loaded into
an empty ``price_history`` table, on the same database in the same run, by:

* alex_db: ``db.price_history.record_prices(rows)`` with ``PriceHistoryCreate`` objects
  built before timing starts (building them is the caller's cost, reported apart);
* baseline (a): plain ``COPY price_history (...) FROM STDIN`` through psycopg, the
  floor for getting rows into the table at all;
* baseline (b): ``COPY`` into a temporary staging table, then ``INSERT INTO
  price_history SELECT ... FROM stage ON CONFLICT (symbol, date) DO UPDATE``, the
  ceiling for an idempotent load.

Each timed run starts from an empty table (TRUNCATE and CHECKPOINT before it, not
timed) and includes the commit. A second part reloads the same 100,000 rows into the
full table (the idempotent reload), for alex_db and baseline (b); the table is rebuilt
and vacuumed before each of those runs.

    uv run python bench/bulk_prices.py
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from benchlib import (
    Recorder,
    Report,
    Stats,
    bench_database,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    samples_line,
    settle,
)

from alex_db import Database
from alex_db.schemas import InstrumentCreate, PriceHistoryCreate

NAME = "bulk_prices"
SYMBOLS = 100
DAYS = 1000
ROWS = SYMBOLS * DAYS
RUNS = 7  # timed runs of each contender (the brief asks for at least 5)
WARMUPS = 1
BUILDS = 3  # how many times the PriceHistoryCreate objects are built (median reported)
TARGET = 0.9  # alex_db must reach this fraction of baseline (b)'s rows per second
FIRST_DAY = dt.date(2022, 1, 3)

COLUMNS = "symbol, date, close_price, volume"
# The same COPY format alex_db uses (binary, explicit types), so the baselines differ
# from it only in what they are meant to measure.
COPY_TYPES = ["varchar", "date", "numeric", "int8"]
COPY_OPTIONS = "(FORMAT BINARY)"

PriceTuple = tuple[str, dt.date, Decimal, int]


def symbols() -> list[str]:
    return [f"PX{i:03d}" for i in range(SYMBOLS)]


def price_tuples() -> list[PriceTuple]:
    """Deterministic rows: a saw-tooth walk around a per-symbol base price."""
    rows = []
    for s, symbol in enumerate(symbols()):
        base = 2_000_000 + s * 150_000  # in 1/10,000 of a dollar: $200.00 + $15.00 a symbol
        for d in range(DAYS):
            wiggle = (s * 7_919 + d * 104_729) % 400_000 - 200_000
            close = Decimal(base + wiggle).scaleb(-4)
            volume = 1_000_000 + (s * 31_337 + d * 7_777) % 5_000_000
            rows.append((symbol, FIRST_DAY + dt.timedelta(days=d), close, volume))
    return rows


def build_models(tuples: Sequence[PriceTuple]) -> list[PriceHistoryCreate]:
    return [
        PriceHistoryCreate(symbol=symbol, date=date, close_price=close, volume=volume)
        for symbol, date, close, volume in tuples
    ]


# --- the baselines -----------------------------------------------------------------------


def copy_rows(cursor: psycopg.Cursor[Any], table: str, tuples: Sequence[PriceTuple]) -> None:
    with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN {COPY_OPTIONS}") as copy:
        copy.set_types(COPY_TYPES)
        for row in tuples:
            copy.write_row(row)


def plain_copy(conn: psycopg.Connection[Any], tuples: Sequence[PriceTuple]) -> None:
    """Baseline (a): COPY straight into price_history, in one transaction."""
    with conn.transaction(), conn.cursor() as cursor:
        copy_rows(cursor, "price_history", tuples)


MERGE = f"""
INSERT INTO price_history ({COLUMNS})
SELECT {COLUMNS} FROM bench_stage
ON CONFLICT (symbol, date) DO UPDATE
SET close_price = EXCLUDED.close_price, volume = EXCLUDED.volume
"""
MERGE_WHERE_CHANGED = (
    MERGE
    + """WHERE price_history.close_price IS DISTINCT FROM EXCLUDED.close_price
   OR price_history.volume IS DISTINCT FROM EXCLUDED.volume
"""
)


def staged_copy(
    conn: psycopg.Connection[Any], tuples: Sequence[PriceTuple], merge: str = MERGE
) -> None:
    """Baseline (b): COPY into a temporary table, merged with INSERT ... ON CONFLICT."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_stage (symbol varchar(20), date date, "
            "close_price numeric(12, 4), volume bigint) ON COMMIT DROP"
        )
        copy_rows(cursor, "bench_stage", tuples)
        cursor.execute(merge)


# --- bookkeeping between runs (never timed) -----------------------------------------------


def empty_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute("TRUNCATE price_history")
    conn.execute("CHECKPOINT")


def full_table(conn: psycopg.Connection[Any], tuples: Sequence[PriceTuple]) -> None:
    """A freshly loaded, vacuumed and analysed table: the state before a reload."""
    conn.execute("TRUNCATE price_history")
    plain_copy(conn, tuples)
    conn.execute("VACUUM (ANALYZE) price_history")
    conn.execute("CHECKPOINT")


def table_digest(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    row = conn.execute(
        "SELECT count(*), md5(string_agg(symbol || date || close_price || coalesce(volume, -1), "
        "',' ORDER BY symbol, date)) FROM price_history"
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def run_rounds(
    recorder: Recorder,
    contenders: Sequence[tuple[str, Callable[[], object]]],
    prepare: Callable[[], None],
    check: Callable[[str], None],
    runs: int,
) -> None:
    """``runs`` rounds; each contender once a round, the order rotating every round."""
    for r in range(runs):
        for i in range(len(contenders)):
            name, fn = contenders[(r + i) % len(contenders)]
            prepare()
            settle()
            recorder.time(name, fn)
            check(name)


A_COPY = "(a) plain COPY"
B_STAGE = "(b) COPY + staging merge"
B_WHERE = "(b') staging merge, DO UPDATE ... WHERE changed"
ALEX = "alex_db record_prices"


def build_timed() -> tuple[list[PriceTuple], list[PriceHistoryCreate], Stats]:
    """The rows as tuples (for the baselines) and as models (for alex_db), and how long
    building the models took."""
    tuples = price_tuples()
    build_times = []
    models: list[PriceHistoryCreate] = []
    for _ in range(BUILDS):
        models = []
        settle()
        start = time.perf_counter()
        models = build_models(tuples)
        build_times.append(time.perf_counter() - start)
    return tuples, models, Stats(tuple(build_times))


def measure(
    tuples: Sequence[PriceTuple], models: Sequence[PriceHistoryCreate]
) -> tuple[list[tuple[str, str]], Recorder, Recorder]:
    """Machine info, then the first-load and the reload timings."""
    with bench_database("bench_prices") as target:
        machine = machine_info(target)
        db = Database.from_url(target.url)
        try:
            db.instruments.upsert_many(
                InstrumentCreate(symbol=s, name=f"Price Bench {s}", instrument_type="etf")
                for s in symbols()
            )
            with psycopg_connect(target.url) as conn:
                # Background vacuums of the previous run's table would land in the next
                # run's timing; this scratch table is vacuumed explicitly instead.
                conn.execute("ALTER TABLE price_history SET (autovacuum_enabled = false)")
                full_table(conn, tuples)
                expected = table_digest(conn)
                assert expected[0] == ROWS

                def check(name: str) -> None:
                    digest = table_digest(conn)
                    assert digest == expected, (name, digest, expected)

                def alex_db() -> None:
                    assert db.price_history.record_prices(models) == ROWS

                contenders: list[tuple[str, Callable[[], object]]] = [
                    (ALEX, alex_db),
                    (A_COPY, lambda: plain_copy(conn, tuples)),
                    (B_STAGE, lambda: staged_copy(conn, tuples)),
                ]
                first = Recorder()
                run_rounds(Recorder(), contenders, lambda: empty_table(conn), check, WARMUPS)
                run_rounds(first, contenders, lambda: empty_table(conn), check, RUNS)

                reload_contenders: list[tuple[str, Callable[[], object]]] = [
                    (ALEX, alex_db),
                    (B_STAGE, lambda: staged_copy(conn, tuples)),
                    (B_WHERE, lambda: staged_copy(conn, tuples, MERGE_WHERE_CHANGED)),
                ]
                again = Recorder()
                refill = lambda: full_table(conn, tuples)  # noqa: E731
                run_rounds(Recorder(), reload_contenders, refill, check, WARMUPS)
                run_rounds(again, reload_contenders, refill, check, RUNS)
        finally:
            db.dispose()
    return machine, first, again


METHOD = [
    f"{ROWS:,} rows: {SYMBOLS} symbols x {DAYS:,} consecutive days from {FIRST_DAY}, "
    "deterministic prices (4 decimals) and volumes; the 100 instruments exist beforehand.",
    "alex_db: `db.price_history.record_prices(models)` through `Database.from_url` (warm "
    "pool), the `PriceHistoryCreate` objects built before timing.",
    f"(a): one psycopg connection, `COPY price_history ({COLUMNS}) FROM STDIN "
    f"{COPY_OPTIONS}` with `set_types({COPY_TYPES})` (the format alex_db uses), rows "
    "given as ready-made tuples, one transaction.",
    "(b): same connection, one transaction: `CREATE TEMPORARY TABLE ... ON COMMIT DROP`, "
    "COPY into it as in (a), then `INSERT INTO price_history SELECT ... ON CONFLICT "
    "(symbol, date) DO UPDATE SET close_price = EXCLUDED.close_price, volume = "
    "EXCLUDED.volume`. (b') adds alex_db's `WHERE ... IS DISTINCT FROM ...` clause, which "
    "makes an identical reload write nothing.",
    "Every timed run includes the commit. Before each first-load run: `TRUNCATE` and "
    "`CHECKPOINT` (not timed). Before each reload run: TRUNCATE, COPY the rows, `VACUUM "
    "(ANALYZE)`, CHECKPOINT (not timed). Autovacuum is off for this scratch table so a "
    "background vacuum never lands in a timing.",
    "After every run the table's row count and an md5 over all rows are checked against "
    "the expected content (not timed).",
    f"{WARMUPS} warm-up round, then {RUNS} rounds; each round runs every contender once, the "
    "order rotating between rounds; `gc.collect()` before each run; `time.perf_counter`.",
    "Ratios are alex_db rows/s divided by the baseline's rows/s (higher is better for "
    f"alex_db; 1.00x means as fast). Target: at least {TARGET}x of (b) on the first load.",
]


def result_rows(report: Report, recorder: Recorder, names: Sequence[str]) -> list[list[str]]:
    table = []
    for name in names:
        stats = recorder.stats(name)
        table.append(
            [
                name,
                fmt_rate(ROWS / stats.median),
                fmt_ms(stats.median),
                f"{fmt_ms(stats.minimum)}-{fmt_ms(stats.maximum)}",
                f"{fmt_rate(ROWS / stats.maximum)}-{fmt_rate(ROWS / stats.minimum)}",
                str(stats.runs),
            ]
        )
        report.raw.append(f"{name}: {samples_line(stats)}")
    return table


def write_report(
    machine: list[tuple[str, str]], first: Recorder, again: Recorder, build: Stats
) -> None:
    report = Report(NAME, "Bulk price load: record_prices vs COPY baselines", machine, METHOD)
    headers = ["contender", "rows/s (median)", "median ms", "min-max ms", "rows/s range", "runs"]
    report.raw.append("first load:")
    report.add_table(
        f"First load: {ROWS:,} rows into an empty table",
        headers,
        result_rows(report, first, [ALEX, A_COPY, B_STAGE]),
    )
    report.raw.append("reload:")
    report.add_table(
        f"Idempotent reload: the same {ROWS:,} rows into the full table",
        headers,
        result_rows(report, again, [ALEX, B_STAGE, B_WHERE]),
    )

    alex = first.stats(ALEX).median
    vs_copy = first.stats(A_COPY).median / alex
    vs_stage = first.stats(B_STAGE).median / alex
    alex_reload = again.stats(ALEX).median
    reload_vs_stage = again.stats(B_STAGE).median / alex_reload
    reload_vs_where = again.stats(B_WHERE).median / alex_reload
    met = "MET" if vs_stage >= TARGET else "MISSED"
    report.add_table(
        "Ratios (rows/s of alex_db / rows/s of the baseline)",
        ["", "ratio"],
        [
            ["first load: alex_db / (a) plain COPY", fmt_ratio(vs_copy)],
            ["first load: alex_db / (b) COPY + staging merge", fmt_ratio(vs_stage)],
            ["reload: alex_db / (b) COPY + staging merge", fmt_ratio(reload_vs_stage)],
            ["reload: alex_db / (b') staging merge WHERE changed", fmt_ratio(reload_vs_where)],
            [f"target: first load >= {TARGET}x of (b)", met],
        ],
    )
    report.add_table(
        f"Building {ROWS:,} PriceHistoryCreate objects (the caller's cost, not in the loads)",
        ["what", "median ms", "min-max ms", "objects/s", "builds"],
        [
            [
                "PriceHistoryCreate(...) x 100,000",
                fmt_ms(build.median),
                f"{fmt_ms(build.minimum)}-{fmt_ms(build.maximum)}",
                fmt_rate(ROWS / build.median),
                str(build.runs),
            ]
        ],
    )
    report.raw.append(f"building the models: {samples_line(build)}")
    report.summary = (
        f"record_prices loads {ROWS:,} rows at {fmt_rate(ROWS / alex)} rows/s: "
        f"{fmt_ratio(vs_copy)} of plain COPY, {fmt_ratio(vs_stage)} of COPY + staging merge "
        f"(target {TARGET}x: {met}); idempotent reload {fmt_ratio(reload_vs_stage)} of (b), "
        f"{fmt_ratio(reload_vs_where)} of (b'); building the models takes "
        f"{fmt_ms(build.median)} ms more."
    )
    report.write()


def main() -> None:
    tuples, models, build = build_timed()
    machine, first, again = measure(tuples, models)
    write_report(machine, first, again, build)


if __name__ == "__main__":
    main()

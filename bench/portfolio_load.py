"""Portfolio load: ``db.portfolio.load(user)`` against the old one-query-per-row pattern.

For users holding 1, 10, 100 and 1,000 positions (spread over a few accounts, every
position a distinct synthetic instrument with valid allocations), it counts the SQL
statements each approach sends and times both on the same database in the same run:

* alex_db: ``db.portfolio.load(clerk_user_id)``, statements counted with SQLAlchemy's
  ``before_cursor_execute`` event on the engine;
* the old access pattern, written the way the old raw-SQL client worked (plain psycopg,
  ``SELECT * FROM ... WHERE ...`` returning dict rows): one query for the user, one for
  the accounts, one per account for its positions and one per position for its
  instrument, then the same totals computed in Python.

Both results are checked to agree (total value, account values, allocations, unpriced
and unclassified symbols) before anything is timed.

    uv run python bench/portfolio_load.py
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import psycopg
from benchlib import (
    Recorder,
    Report,
    Stats,
    analyze,
    bench_database,
    fmt_ms,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    samples_line,
    settle,
)
from psycopg.rows import dict_row
from sqlalchemy import URL, event

from alex_db import Database
from alex_db.repositories.portfolio import _OWNER_BY_ID, _POSITIONS
from alex_db.schemas import AccountCreate, InstrumentCreate, Portfolio, UserCreate
from alex_db.vocabulary import ASSET_CLASSES, REGIONS, SECTORS

NAME = "portfolio_load"
SIZES = (1, 10, 100, 1000)
ACCOUNTS = {1: 1, 10: 3, 100: 4, 1000: 5}  # accounts per user, by number of positions
TRIALS = 5  # each on fresh connections for both approaches
RUNS = {1: 100, 10: 100, 100: 20, 1000: 6}  # timed runs of each approach per trial
WARMUPS = {1: 20, 10: 20, 100: 5, 1000: 2}  # per trial
INSTRUMENTS = 1000
# Round-trip latencies the issue quotes for the Aurora Data API (20-250 ms a statement).
DATA_API_RTT_S = (0.020, 0.250)
SEED = 20261124


# --- data -------------------------------------------------------------------------------


def _split(rng: random.Random, keys: Sequence[str], most: int) -> dict[str, float]:
    """Integer percentages over 1..``most`` distinct keys, summing to exactly 100."""
    chosen = rng.sample(list(keys), rng.randint(1, most))
    cuts = sorted(rng.sample(range(1, 100), len(chosen) - 1))
    bounds = [0, *cuts, 100]
    return {k: float(bounds[i + 1] - bounds[i]) for i, k in enumerate(chosen)}


def synthetic_instruments(count: int) -> list[InstrumentCreate]:
    """Deterministic instruments; about 1% unpriced and 1% unclassified, like real data."""
    rng = random.Random(SEED)
    instruments = []
    for i in range(count):
        priced = i % 97 != 96
        classified = i % 89 != 88
        instruments.append(
            InstrumentCreate(
                symbol=f"SYN{i:04d}",
                name=f"Synthetic Fund {i:04d}",
                instrument_type="etf",
                current_price=Decimal(rng.randint(500, 50_000_00)).scaleb(-2) if priced else None,
                allocation_regions=_split(rng, REGIONS, 3) if classified else {},
                allocation_sectors=_split(rng, SECTORS, 4) if classified else {},
                allocation_asset_class=_split(rng, ASSET_CLASSES, 2) if classified else {},
            )
        )
    return instruments


def load_users(db: Database, symbols: Sequence[str]) -> dict[int, str]:
    """One user per size; positions dealt round-robin over the user's accounts."""
    rng = random.Random(SEED + 1)
    users = {}
    for size in SIZES:
        clerk_user_id = f"bench_user_{size}"
        with db.transaction():
            db.users.create_user(UserCreate(clerk_user_id=clerk_user_id))
            accounts = [
                db.accounts.create_account(
                    clerk_user_id,
                    AccountCreate(
                        account_name=f"Account {a + 1}",
                        cash_balance=Decimal(rng.randint(0, 2_000_000)).scaleb(-2),
                    ),
                )
                for a in range(ACCOUNTS[size])
            ]
            for i, symbol in enumerate(rng.sample(list(symbols), size)):
                quantity = Decimal(rng.randint(1, 100_000)).scaleb(-2)
                db.positions.add_position(accounts[i % len(accounts)].id, symbol, quantity)
        users[size] = clerk_user_id
    return users


# --- the old access pattern --------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """What both approaches must agree on."""

    total_value: Decimal
    account_values: dict[str, Decimal]
    asset_class: dict[str, Decimal]
    regions: dict[str, Decimal]
    sectors: dict[str, Decimal]
    unpriced: list[str]
    unclassified: list[str]


def _add_split(
    weights: defaultdict[str, Decimal], value: Decimal, split: Mapping[str, Any]
) -> None:
    parts = {k: Decimal(str(v)) for k, v in split.items()}
    total = sum(parts.values(), Decimal(0))
    if total > 0:
        for key, part in parts.items():
            weights[key] += value * part / total


def _percent(weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    positive = {k: v for k, v in weights.items() if v > 0}
    total = sum(positive.values(), Decimal(0))
    return {k: (v * 100 / total).quantize(Decimal("0.01")) for k, v in positive.items()}


def old_pattern(conn: psycopg.Connection[dict[str, Any]], clerk_user_id: str) -> tuple[Totals, int]:
    """The old client's portfolio from 2 + accounts + positions queries: (totals, statements)."""
    statements = 0

    def query(sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        nonlocal statements
        statements += 1
        return conn.execute(sql, params).fetchall()

    users = query("SELECT * FROM users WHERE clerk_user_id = %s", (clerk_user_id,))
    if not users:
        raise LookupError(clerk_user_id)
    accounts = query("SELECT * FROM accounts WHERE clerk_user_id = %s", (clerk_user_id,))
    asset_class: defaultdict[str, Decimal] = defaultdict(Decimal)
    regions: defaultdict[str, Decimal] = defaultdict(Decimal)
    sectors: defaultdict[str, Decimal] = defaultdict(Decimal)
    unpriced: set[str] = set()
    unclassified: set[str] = set()
    account_values: dict[str, Decimal] = {}
    with localcontext(prec=64):
        for account in accounts:
            account_value = account["cash_balance"]
            for position in query(
                "SELECT * FROM positions WHERE account_id = %s", (account["id"],)
            ):
                found = query("SELECT * FROM instruments WHERE symbol = %s", (position["symbol"],))
                instrument = found[0]
                if not (
                    instrument["allocation_regions"]
                    and instrument["allocation_sectors"]
                    and instrument["allocation_asset_class"]
                ):
                    unclassified.add(instrument["symbol"])
                price = instrument["current_price"]
                if price is None:
                    unpriced.add(instrument["symbol"])
                    continue
                value = position["quantity"] * price
                account_value += value
                _add_split(asset_class, value, instrument["allocation_asset_class"])
                _add_split(regions, value, instrument["allocation_regions"])
                _add_split(sectors, value, instrument["allocation_sectors"])
            asset_class["cash"] += account["cash_balance"]
            account_values[account["account_name"]] = account_value
        totals = Totals(
            total_value=sum(account_values.values(), Decimal(0)),
            account_values=account_values,
            asset_class=_percent(asset_class),
            regions=_percent(regions),
            sectors=_percent(sectors),
            unpriced=sorted(unpriced),
            unclassified=sorted(unclassified),
        )
    return totals, statements


def check_same(new: Portfolio, old: Totals) -> None:
    """The two approaches must compute the same portfolio (percentages to within a cent:
    alex_db rounds by largest remainder so each breakdown sums to exactly 100)."""
    assert new.total_value == old.total_value, (new.total_value, old.total_value)
    assert {a.account_name: a.total_value for a in new.accounts} == old.account_values
    assert new.unpriced_positions == old.unpriced
    assert new.instruments_missing_allocations == old.unclassified
    for mine, theirs in (
        (new.allocation_asset_class, old.asset_class),
        (new.allocation_regions, old.regions),
        (new.allocation_sectors, old.sectors),
    ):
        assert mine.keys() == theirs.keys(), (mine, theirs)
        assert all(abs(mine[k] - theirs[k]) <= Decimal("0.01") for k in mine), (mine, theirs)


# --- the benchmark ------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeResult:
    positions: int
    accounts: int
    new_statements: int
    old_statements: int
    new: Stats
    old: Stats
    new_back_to_back: Stats
    old_back_to_back: Stats
    floor: Stats


def count_statements(db: Database, fn: Callable[[], object]) -> int:
    """SQL statements ``fn`` sends through alex_db's engine."""
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statements


def driver_floor(db: Database) -> Callable[[psycopg.Connection[Any], str], None]:
    """alex_db's own two statements (as its engine compiles them) sent and fetched in
    plain psycopg, nothing built from the rows: the least any library could spend on this
    machine to load the portfolio in two statements."""
    owner = str(_OWNER_BY_ID.compile(dialect=db.engine.dialect))
    positions = str(_POSITIONS.compile(dialect=db.engine.dialect))

    def floor(conn: psycopg.Connection[Any], clerk_user_id: str) -> None:
        conn.execute(owner, {"key": clerk_user_id}).fetchall()
        conn.execute(positions, {"owner": clerk_user_id}).fetchall()

    return floor


def measure_size(db: Database, url: URL, size: int, clerk_user_id: str) -> SizeResult:
    # Statements, and a correctness check, outside any timing.
    new_statements = count_statements(db, lambda: db.portfolio.load(clerk_user_id))
    portfolio = db.portfolio.load(clerk_user_id)
    with psycopg_connect(url, row_factory=dict_row) as conn:
        old_totals, old_statements = old_pattern(conn, clerk_user_id)
    check_same(portfolio, old_totals)
    held = sum(len(a.positions) for a in portfolio.accounts)
    assert held == size, (held, size)

    floor = driver_floor(db)
    recorder = Recorder()
    for _ in range(TRIALS):
        # Fresh connections (new server backends) for both sides in every trial: on a
        # small VM a round trip costs several times more when the scheduler wakes the
        # backend on another vCPU, and that placement sticks to a connection.
        db.dispose()
        with psycopg_connect(url, row_factory=dict_row) as old_conn:

            def new() -> None:
                db.portfolio.load(clerk_user_id)

            def old() -> None:
                old_pattern(old_conn, clerk_user_id)

            settle()
            for _ in range(WARMUPS[size]):
                new()
                old()
            contenders = (("alex_db", new), ("old", old))
            for run in range(RUNS[size]):
                # Alternate who goes first so drift on a noisy machine hits both. (No
                # gc.collect() per call: it evicts the caches and adds about a millisecond
                # to the next call, which would swamp the sub-millisecond loads.)
                for name, fn in contenders if run % 2 == 0 else contenders[::-1]:
                    recorder.time(name, fn)
            # The same calls back to back: each approach's second call in a row timed.
            for run in range(RUNS[size]):
                for name, fn in contenders if run % 2 == 0 else contenders[::-1]:
                    fn()
                    recorder.time(f"{name} back to back", fn)
        # The driver floor, back to back as well (compare it with alex_db back to back).
        with psycopg_connect(url) as floor_conn:
            for _ in range(WARMUPS[size]):
                floor(floor_conn, clerk_user_id)
            for _ in range(RUNS[size]):
                floor(floor_conn, clerk_user_id)
                recorder.time("floor", lambda: floor(floor_conn, clerk_user_id))
    return SizeResult(
        positions=size,
        accounts=ACCOUNTS[size],
        new_statements=new_statements,
        old_statements=old_statements,
        new=recorder.stats("alex_db"),
        old=recorder.stats("old"),
        new_back_to_back=recorder.stats("alex_db back to back"),
        old_back_to_back=recorder.stats("old back to back"),
        floor=recorder.stats("floor"),
    )


def measure() -> tuple[list[tuple[str, str]], list[SizeResult]]:
    with bench_database("bench_portfolio") as target:
        machine = machine_info(target)
        db = Database.from_url(target.url)
        try:
            instruments = synthetic_instruments(INSTRUMENTS)
            db.instruments.upsert_many(instruments)
            users = load_users(db, [i.symbol for i in instruments])
            analyze(target.url)
            results = [measure_size(db, target.url, size, users[size]) for size in SIZES]
        finally:
            db.dispose()
    return machine, results


METHOD = [
    f"One scratch database migrated with the real Alembic revisions; {INSTRUMENTS:,} "
    "synthetic instruments with valid allocations (every 97th unpriced, every 89th "
    "unclassified); one user per size, positions dealt round-robin over the accounts; "
    "then `ANALYZE`, as autovacuum would, so the planner knows the tables' sizes.",
    "Both sides' sessions run with alex_db's settings (`TimeZone=UTC`).",
    "alex_db: `db.portfolio.load(clerk_user_id)` through `Database.from_url` (warm pool, "
    "autocommit reads). Statements counted with the engine's `before_cursor_execute` event.",
    "old: plain psycopg on one open autocommit connection with `dict_row`: "
    "`SELECT * FROM users WHERE clerk_user_id = %s`, `SELECT * FROM accounts WHERE "
    "clerk_user_id = %s`, then per account `SELECT * FROM positions WHERE account_id = %s` "
    "and per position `SELECT * FROM instruments WHERE symbol = %s`; values, totals and "
    "allocations computed in Python with Decimal. Statements counted in that code.",
    "Before timing, both results are checked to agree (total and account values exactly, "
    "allocation percentages to 0.01, unpriced and unclassified symbols).",
    f"{TRIALS} trials per size, each on fresh connections for both approaches (a new pool "
    "for alex_db, a new psycopg connection for the old pattern), so that no approach keeps "
    "a lucky or unlucky server backend placement for the whole run; in each trial "
    "`gc.collect()`, warm-ups, then runs alternating which approach goes first (garbage "
    "collection stays on: it is part of each approach's cost); `time.perf_counter` around "
    "each call; median over all trials' runs, with the min-max spread.",
    "Back to back (second table, a diagnostic, not the target): in the same trials, each "
    "approach called twice in a row and the second call timed. In the main table every call "
    "follows the other approach's, so its connection's server backend has been idle for "
    "the other's whole run (tens of ms for the old pattern at 100 positions, a few for "
    "alex_db); on a small VM waking an idle backend costs up to a few milliseconds, a fixed "
    "cost that the shorter call pays in full. The second table shows each approach without it.",
    "Driver floor (second table): alex_db's own two statements, compiled by its engine, sent "
    "and fetched in plain psycopg on its own autocommit connection (tuple rows), nothing "
    "built from the rows; timed back to back after the other runs of each trial. It is the "
    "least any library can spend here on a two-statement load, so old/floor is the largest "
    "ratio this machine allows, and alex_db minus floor is the Python work (typing, values, "
    "allocations, validation).",
    "The server is local (same machine, Unix socket or loopback), so a round trip costs tens "
    "of microseconds. The two `@ Data API` columns are not measured: statements x the "
    "20-250 ms per statement the issue quotes for the Aurora Data API, i.e. the latency "
    "the round trips alone would add there.",
]
HEADERS = [
    "positions",
    "accounts",
    "alex_db stmts",
    "old stmts",
    "alex_db median ms",
    "alex_db min-max",
    "old median ms",
    "old min-max",
    "time ratio old/new",
    "alex_db s @ Data API (est.)",
    "old s @ Data API (est.)",
    "runs",
]


def write_report(machine: list[tuple[str, str]], results: Sequence[SizeResult]) -> None:
    report = Report(
        NAME, "Portfolio load: alex_db vs the old query-per-row pattern", machine, METHOD
    )
    rows = []
    summaries = []
    low, high = DATA_API_RTT_S
    for r in results:
        ratio = r.old.median / r.new.median
        rows.append(
            [
                f"{r.positions:,}",
                str(r.accounts),
                str(r.new_statements),
                f"{r.old_statements:,}",
                fmt_ms(r.new.median),
                f"{fmt_ms(r.new.minimum)}-{fmt_ms(r.new.maximum)}",
                fmt_ms(r.old.median),
                f"{fmt_ms(r.old.minimum)}-{fmt_ms(r.old.maximum)}",
                fmt_ratio(ratio),
                f"{r.new_statements * low:.2f}-{r.new_statements * high:.2f}",
                f"{r.old_statements * low:.2f}-{r.old_statements * high:.2f}",
                str(r.new.runs),
            ]
        )
        report.raw.append(f"{r.positions} positions, alex_db: {samples_line(r.new)}")
        report.raw.append(f"{r.positions} positions, old: {samples_line(r.old)}")
        report.raw.append(
            f"{r.positions} positions, alex_db back to back: {samples_line(r.new_back_to_back)}"
        )
        report.raw.append(
            f"{r.positions} positions, old back to back: {samples_line(r.old_back_to_back)}"
        )
        report.raw.append(f"{r.positions} positions, driver floor: {samples_line(r.floor)}")
        summaries.append(
            f"{r.positions:,} pos: {r.new_statements} vs {r.old_statements:,} statements, "
            f"{fmt_ms(r.new.median)} vs {fmt_ms(r.old.median)} ms ({fmt_ratio(ratio)}; back "
            f"to back {fmt_ratio(r.old_back_to_back.median / r.new_back_to_back.median)}; "
            f"driver floor {fmt_ms(r.floor.median)} ms, ceiling "
            f"{fmt_ratio(r.old_back_to_back.median / r.floor.median)})"
        )
    report.add_table("Results (time ratio > 1 means alex_db is faster)", HEADERS, rows)
    report.add_table(
        "Back to back (each approach's second call in a row; a diagnostic), with the driver floor",
        [
            "positions",
            "alex_db median ms",
            "old median ms",
            "time ratio old/new",
            "floor median ms",
            "alex_db above floor ms",
            "ceiling old/floor",
            "runs",
        ],
        [
            [
                f"{r.positions:,}",
                fmt_ms(r.new_back_to_back.median),
                fmt_ms(r.old_back_to_back.median),
                fmt_ratio(r.old_back_to_back.median / r.new_back_to_back.median),
                fmt_ms(r.floor.median),
                fmt_ms(r.new_back_to_back.median - r.floor.median),
                fmt_ratio(r.old_back_to_back.median / r.floor.median),
                str(r.new_back_to_back.runs),
            ]
            for r in results
        ],
    )
    report.summary = "portfolio.load vs old pattern (old/new): " + "; ".join(summaries)
    report.write()


def main() -> None:
    machine, results = measure()
    write_report(machine, results)


if __name__ == "__main__":
    main()

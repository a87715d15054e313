"""Point reads: ``find_by_clerk_id`` and ``find_by_account`` calls per second vs raw psycopg.

Sequential calls on one thread, on the same database in the same run:

* alex_db: ``db.users.find_by_clerk_id(id)`` and ``db.positions.find_by_account(id)``
  through ``Database.from_url`` (warm connection pool, autocommit reads, Pydantic
  ``Read`` models returned);
* raw psycopg: the same query on one open autocommit connection, rows as dicts (the
  shape the old client returned): ``SELECT ... FROM users WHERE clerk_user_id = %s``
  and the positions-join-instruments query of the account, ordered by symbol.

The keys cycle over 50 users, each with one account of 10 positions.

    uv run python bench/point_reads.py
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from benchlib import (
    Recorder,
    Report,
    Stats,
    analyze,
    bench_database,
    fmt_rate,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    settle,
)
from psycopg.rows import dict_row
from sqlalchemy import URL

from alex_db import Database
from alex_db.schemas import AccountCreate, InstrumentCreate, UserCreate

NAME = "point_reads"
USERS = 50
POSITIONS_PER_ACCOUNT = 10
INSTRUMENTS = 40
CALLS = 2000  # calls per round
ROUNDS = 7  # timed rounds of each contender (the spread between rounds is large here)
WARMUP_CALLS = 200
SEED = 20261124

USER_SQL = (
    "SELECT clerk_user_id, display_name, years_until_retirement, target_retirement_income, "
    "asset_class_targets, region_targets, created_at, updated_at "
    "FROM users WHERE clerk_user_id = %s"
)
POSITIONS_SQL = (
    "SELECT p.id, p.account_id, p.symbol, p.quantity, p.as_of_date, p.created_at, "
    "p.updated_at, i.name AS instrument_name, i.instrument_type, i.current_price "
    "FROM positions p JOIN instruments i ON i.symbol = p.symbol "
    "WHERE p.account_id = %s ORDER BY p.symbol"
)


def load_data(db: Database) -> tuple[list[str], list[uuid.UUID]]:
    rng = random.Random(SEED)
    symbols = [f"PR{i:03d}" for i in range(INSTRUMENTS)]
    db.instruments.upsert_many(
        InstrumentCreate(
            symbol=symbol,
            name=f"Point Read Fund {symbol}",
            instrument_type="etf",
            current_price=Decimal(rng.randint(1_000, 90_000)).scaleb(-2),
            allocation_regions={"north_america": 60, "europe": 40},
            allocation_sectors={"technology": 50, "healthcare": 50},
            allocation_asset_class={"equity": 100},
        )
        for symbol in symbols
    )
    users, accounts = [], []
    with db.transaction():
        for u in range(USERS):
            clerk_user_id = f"point_user_{u:03d}"
            db.users.create_user(UserCreate(clerk_user_id=clerk_user_id, display_name=f"User {u}"))
            account = db.accounts.create_account(
                clerk_user_id, AccountCreate(account_name="Taxable")
            )
            for symbol in rng.sample(symbols, POSITIONS_PER_ACCOUNT):
                quantity = Decimal(rng.randint(1, 10_000))
                db.positions.add_position(account.id, symbol, quantity)
            users.append(clerk_user_id)
            accounts.append(account.id)
    return users, accounts


def calls(fn: Callable[[Any], object], keys: Sequence[Any], count: int) -> Callable[[], None]:
    def run() -> None:
        n = len(keys)
        for i in range(count):
            fn(keys[i % n])

    return run


def check_same(
    db: Database, raw: psycopg.Connection[dict[str, Any]], user: str, account: uuid.UUID
) -> None:
    found = db.users.find_by_clerk_id(user)
    row = raw.execute(USER_SQL, (user,)).fetchone()
    assert found is not None
    assert row is not None
    assert found.model_dump() == row, (found, row)
    positions = db.positions.find_by_account(account)
    rows = raw.execute(POSITIONS_SQL, (account,)).fetchall()
    assert [p.model_dump() for p in positions] == rows, (positions, rows)


def measure_call(
    db: Database,
    url: URL,
    keys: Sequence[Any],
    alex_fn: Callable[[Any], object],
    raw_fn: Callable[[psycopg.Connection[dict[str, Any]], Any], object],
) -> tuple[Stats, Stats]:
    recorder = Recorder()
    for r in range(ROUNDS):
        # Fresh connections (new server backends) for both sides every round: on a small
        # VM a round trip costs several times more when the scheduler wakes the backend
        # on another vCPU, and that placement sticks to a connection.
        db.dispose()
        with psycopg_connect(url, row_factory=dict_row) as raw:
            contenders = [
                ("alex_db", calls(alex_fn, keys, CALLS)),
                ("raw psycopg", calls(lambda key: raw_fn(raw, key), keys, CALLS)),
            ]
            calls(alex_fn, keys, WARMUP_CALLS)()
            calls(lambda key: raw_fn(raw, key), keys, WARMUP_CALLS)()
            # Alternate who goes first so drift on a noisy machine hits both.
            for name, fn in contenders if r % 2 == 0 else contenders[::-1]:
                settle()
                recorder.time(name, fn)
    return recorder.stats("alex_db"), recorder.stats("raw psycopg")


def raw_user(raw: psycopg.Connection[dict[str, Any]], key: str) -> object:
    return raw.execute(USER_SQL, (key,)).fetchone()


def raw_positions(raw: psycopg.Connection[dict[str, Any]], key: uuid.UUID) -> object:
    return raw.execute(POSITIONS_SQL, (key,)).fetchall()


def main() -> None:
    with bench_database("bench_reads") as target:
        machine = machine_info(target)
        db = Database.from_url(target.url)
        try:
            users, accounts = load_data(db)
            analyze(target.url)
            with psycopg_connect(target.url, row_factory=dict_row) as raw:
                check_same(db, raw, users[0], accounts[0])
            results: list[tuple[str, Stats, Stats]] = [
                (
                    "users.find_by_clerk_id",
                    *measure_call(db, target.url, users, db.users.find_by_clerk_id, raw_user),
                ),
                (
                    "positions.find_by_account",
                    *measure_call(
                        db, target.url, accounts, db.positions.find_by_account, raw_positions
                    ),
                ),
            ]
        finally:
            db.dispose()

    report = Report(NAME, "Point reads: alex_db repositories vs raw psycopg", machine)
    report.method = [
        f"{USERS} users, each with one account of {POSITIONS_PER_ACCOUNT} positions "
        f"(distinct instruments out of {INSTRUMENTS}); the keys cycle over the users/accounts; "
        "`ANALYZE` after loading, as autovacuum would.",
        "Both sides' sessions run with alex_db's settings (`TimeZone=UTC`).",
        "alex_db: `db.users.find_by_clerk_id(id)` / `db.positions.find_by_account(account_id)` "
        "through `Database.from_url`: a warm pool, a pooled connection switched to autocommit "
        "per call, prebuilt Core statements, Pydantic `UserRead` / `PositionWithInstrument` "
        "models built straight from the result rows.",
        f"raw psycopg: one open autocommit connection with `dict_row`; `{USER_SQL}` with "
        f"`fetchone()`, and `{POSITIONS_SQL}` with `fetchall()`. Both sides select the same "
        "columns and were checked to return the same values before timing.",
        "psycopg prepares a statement after it has run 5 times (its default), for both sides.",
        f"Sequential calls on one thread, {ROUNDS} rounds. Each round opens fresh connections "
        "for both sides (a new pool for alex_db, a new psycopg connection), so no side keeps "
        "a lucky or unlucky server backend placement for the whole run; then "
        f"{WARMUP_CALLS} warm-up calls each, then {CALLS:,} timed calls per contender, "
        "alternating which goes first; `gc.collect()` before each timed block; "
        "`time.perf_counter` around the block; the rate is calls / block time; median, "
        "min and max over the rounds.",
    ]
    rows = []
    summaries = []
    for label, alex, raw_stats in results:
        alex_rate, raw_rate = CALLS / alex.median, CALLS / raw_stats.median
        ratio = alex_rate / raw_rate
        rows.append(
            [
                label,
                fmt_rate(alex_rate),
                f"{fmt_rate(CALLS / alex.maximum)}-{fmt_rate(CALLS / alex.minimum)}",
                f"{alex.median / CALLS * 1e6:.0f}",
                fmt_rate(raw_rate),
                f"{fmt_rate(CALLS / raw_stats.maximum)}-{fmt_rate(CALLS / raw_stats.minimum)}",
                f"{raw_stats.median / CALLS * 1e6:.0f}",
                fmt_ratio(ratio),
                f"{(alex.median - raw_stats.median) / CALLS * 1e6:.0f}",
            ]
        )
        for name, stats in (("alex_db", alex), ("raw psycopg", raw_stats)):
            rates = ", ".join(fmt_rate(CALLS / s) for s in stats.samples)
            seconds = ", ".join(f"{s:.4f}" for s in stats.samples)
            report.raw.append(
                f"{label}, {name}: {stats.runs} rounds of {CALLS} calls; seconds {seconds}; "
                f"calls/s {rates}"
            )
        summaries.append(
            f"{label} {fmt_rate(alex_rate)}/s vs raw {fmt_rate(raw_rate)}/s ({fmt_ratio(ratio)})"
        )
    report.add_table(
        "Results (calls per second, single thread)",
        [
            "call",
            "alex_db calls/s",
            "alex_db min-max",
            "alex_db µs/call",
            "raw calls/s",
            "raw min-max",
            "raw µs/call",
            "ratio alex_db/raw",
            "overhead µs/call",
        ],
        rows,
    )
    report.summary = "; ".join(summaries)
    report.write()


if __name__ == "__main__":
    main()

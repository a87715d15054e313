"""A unit of work of five writes: ``db.transaction()`` vs the same five statements in raw
psycopg in one transaction, on the same database in the same run.

Each unit creates a user, an account for them, two positions in it and a job:

* alex_db: ``with db.transaction():`` around ``create_user``, ``create_account``,
  ``add_position`` twice and ``create_job`` (Pydantic schemas in, ``Read`` models out);
* raw psycopg: one connection, ``with conn.transaction():`` around the same five
  ``INSERT ... RETURNING *`` statements (the upsert for the positions), rows as dicts.

    uv run python bench/unit_of_work.py
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
from benchlib import (
    Recorder,
    Report,
    bench_database,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    settle,
)
from psycopg.rows import dict_row
from sqlalchemy import text

from alex_db import Database
from alex_db.schemas import AccountCreate, InstrumentCreate, JobCreate, UserCreate

NAME = "unit_of_work"
UNITS = 300  # units of work per round and contender
ROUNDS = 7
WARMUP = 30
SYMBOLS = ("UWA", "UWB")

USER_SQL = "INSERT INTO users (clerk_user_id) VALUES (%s) RETURNING *"
ACCOUNT_SQL = (
    "INSERT INTO accounts (clerk_user_id, account_name, cash_balance) VALUES (%s, %s, %s) "
    "RETURNING *"
)
POSITION_SQL = (
    "INSERT INTO positions (account_id, symbol, quantity) VALUES (%s, %s, %s) "
    "ON CONFLICT ON CONSTRAINT uq_positions_account_id_symbol DO UPDATE SET "
    "quantity = excluded.quantity, as_of_date = excluded.as_of_date RETURNING *"
)
JOB_SQL = (
    "INSERT INTO jobs (clerk_user_id, job_type, request_payload) VALUES (%s, %s, %s::jsonb) "
    "RETURNING *"
)
REQUEST = {"analysis": "full", "options": {"include_retirement": True}}


def alex_unit(db: Database, ids: itertools.count[int]) -> Callable[[], None]:
    def run() -> None:
        user = f"uow_alex_{next(ids)}"
        with db.transaction():
            db.users.create_user(UserCreate(clerk_user_id=user))
            account = db.accounts.create_account(
                user, AccountCreate(account_name="Taxable", cash_balance=Decimal("100.00"))
            )
            for symbol in SYMBOLS:
                db.positions.add_position(account.id, symbol, Decimal("12.5"))
            db.jobs.create_job(
                JobCreate(
                    clerk_user_id=user, job_type="portfolio_analysis", request_payload=REQUEST
                )
            )

    return run


def raw_unit(
    conn: psycopg.Connection[dict[str, Any]], ids: itertools.count[int]
) -> Callable[[], None]:
    payload = json.dumps(REQUEST)

    def run() -> None:
        user = f"uow_raw_{next(ids)}"
        with conn.transaction():
            conn.execute(USER_SQL, (user,)).fetchone()
            account = conn.execute(ACCOUNT_SQL, (user, "Taxable", Decimal("100.00"))).fetchone()
            assert account is not None
            for symbol in SYMBOLS:
                conn.execute(POSITION_SQL, (account["id"], symbol, Decimal("12.5"))).fetchone()
            conn.execute(JOB_SQL, (user, "portfolio_analysis", payload)).fetchone()

    return run


def repeat(fn: Callable[[], None], count: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            fn()

    return run


def main() -> None:
    with bench_database("bench_uow") as target:
        machine = machine_info(target)
        db = Database.from_url(target.url)
        recorder = Recorder()
        ids = itertools.count()
        try:
            db.instruments.upsert_many(
                InstrumentCreate(symbol=s, name=f"Fund {s}") for s in SYMBOLS
            )
            for r in range(ROUNDS):
                db.dispose()  # fresh connections for both sides each round (see point_reads)
                with psycopg_connect(target.url, row_factory=dict_row) as raw:
                    contenders = [
                        ("alex_db", alex_unit(db, ids)),
                        ("raw psycopg", raw_unit(raw, ids)),
                    ]
                    for _, fn in contenders:
                        repeat(fn, WARMUP)()
                    for name, fn in contenders if r % 2 == 0 else contenders[::-1]:
                        settle()
                        recorder.time(name, repeat(fn, UNITS))
            with db.engine.connect() as conn:
                jobs = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one()
            assert jobs == 2 * (WARMUP + UNITS) * ROUNDS, jobs
        finally:
            db.dispose()

    alex, raw_stats = recorder.stats("alex_db"), recorder.stats("raw psycopg")
    report = Report(NAME, "A unit of work of five writes: db.transaction() vs raw psycopg", machine)
    report.method = [
        "Each unit: create a user, an account, two positions (upserts) and a job with a "
        "JSON request, in one transaction.",
        "alex_db: `with db.transaction():` around `users.create_user`, "
        "`accounts.create_account`, `positions.add_position` x2 and `jobs.create_job`, "
        "through `Database.from_url` (Pydantic schemas in, `Read` models out).",
        f"raw psycopg: `with conn.transaction():` around `{USER_SQL}`, `{ACCOUNT_SQL}`, "
        f"`{POSITION_SQL}` x2 and `{JOB_SQL}`, each with `fetchone()`, rows as dicts.",
        "Both sides send BEGIN, five statements and COMMIT: 7 round trips.",
        f"{ROUNDS} rounds; each opens fresh connections for both sides, runs {WARMUP} warm-up "
        f"units each, then {UNITS} timed units per contender, alternating which goes first; "
        "`gc.collect()` before each timed block; median, min and max over the rounds. "
        "The number of jobs written is checked at the end.",
    ]
    per_unit = [s / UNITS * 1e3 for s in (alex.median, raw_stats.median)]
    ratio = raw_stats.median / alex.median
    report.add_table(
        "Results (one thread)",
        ["contender", "ms per unit (median)", "min-max", "units/s"],
        [
            [
                name,
                f"{stats.median / UNITS * 1e3:.3f}",
                f"{stats.minimum / UNITS * 1e3:.3f}-{stats.maximum / UNITS * 1e3:.3f}",
                f"{UNITS / stats.median:,.0f}",
            ]
            for name, stats in (("alex_db", alex), ("raw psycopg", raw_stats))
        ],
    )
    for name, stats in (("alex_db", alex), ("raw psycopg", raw_stats)):
        seconds = ", ".join(f"{s:.4f}" for s in stats.samples)
        report.raw.append(f"{name}: {stats.runs} rounds of {UNITS} units; seconds {seconds}")
    report.summary = (
        f"five writes in one transaction: alex_db {per_unit[0]:.3f} ms vs raw psycopg "
        f"{per_unit[1]:.3f} ms per unit ({fmt_ratio(ratio)} of raw's speed; "
        f"{per_unit[0] - per_unit[1]:.3f} ms of overhead per unit)"
    )
    report.write()


if __name__ == "__main__":
    main()

"""Data API calls: HTTP calls per facade operation, alex_db against the stock dialect.

One scratch database, migrated with the real migrations, sits behind the project's RDS
Data API emulator. Two contenders reach it through their own real boto3 ``rds-data``
client, in the same run:

* alex_db: the ``Database`` facade over ``make_data_api_engine`` (the corrected
  ``postgresql+alexdataapi`` dialect and driver);
* stock: the unmodified ``postgresql+auroradataapi`` dialect of sqlalchemy-aurora-data-api
  over aurora-data-api, with the same ORM models (``alex_db.models``), written the way a
  service would with ``sessionmaker(engine, expire_on_commit=False)`` sessions.

For each operation (create user, add position, find_by_account, portfolio.load for 1, 10
and 100 positions, a job's whole lifecycle, record_prices of 10,000 rows) it counts the
Data API calls each contender's client makes, by operation (botocore event hooks on the
client: exact), checks what each returned and what the database stored against the
direct PostgreSQL path (alex_db over psycopg, behind the Data API's back), and times
both through the emulator. A stock operation that fails or returns wrong values is
recorded with its error or the wrong value: that is the finding, not a reason to skip.
It also counts and times a new engine's first connection (the dialect's bootstrap).

    uv run python bench/dataapi_calls.py
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import version
from typing import Any

import sqlalchemy_aurora_data_api
from benchlib import (
    Report,
    Stats,
    bench_database,
    fmt_ms,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    samples_line,
    settle,
)
from pydantic import BaseModel
from sqlalchemy import URL, Engine, create_engine, insert, inspect, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from alex_db import Database
from alex_db.config import Settings
from alex_db.dataapi import data_api_url, make_data_api_engine
from alex_db.models import Account, Instrument, Job, Position, PriceHistory, User
from alex_db.repositories import portfolio
from alex_db.repositories.portfolio import build_portfolio
from alex_db.schemas import (
    AccountCreate,
    InstrumentCreate,
    JobCreate,
    JobRead,
    PositionRead,
    PositionWithInstrument,
    PriceHistoryCreate,
    UserCreate,
    UserRead,
)
from alex_db.testing.calls import count_data_api_calls
from alex_db.testing.dataapi import DataAPIEmulator
from alex_db.vocabulary import ASSET_CLASSES, REGIONS, SECTORS

NAME = "dataapi_calls"
RUNS = 15  # timed runs per contender and operation
WARMUPS = 2
PRICE_RUNS = 5  # record_prices moves 10,000 rows a run
PRICE_WARMUPS = 1
BOOTSTRAP_RUNS = 10  # new engines per contender
SIZES = (1, 10, 100)
ACCOUNTS = {1: 1, 10: 3, 100: 4}  # accounts per portfolio user, by positions
LOOKUP_POSITIONS = 10  # positions in the account find_by_account reads
INSTRUMENTS = 200
PRICE_SYMBOLS = 10
PRICE_ROWS = 10_000
# A quantity at the full precision of positions.quantity (Numeric(20, 8)): 16 significant
# digits, one more than a double carries through PostgreSQL's float8 -> numeric cast.
QUANTITY = Decimal("12345678.87654321")
SEED = 20261124
SHORT = {
    "BeginTransaction": "Begin",
    "ExecuteStatement": "Execute",
    "BatchExecuteStatement": "Batch",
    "CommitTransaction": "Commit",
    "RollbackTransaction": "Rollback",
}
OPS = tuple(SHORT)  # the order breakdowns are listed in


# --- the two contenders ----------------------------------------------------------------


def alex_settings(emulator: DataAPIEmulator, database: str) -> Settings:
    return Settings(
        AURORA_CLUSTER_ARN=emulator.resource_arn,
        AURORA_SECRET_ARN=emulator.secret_arn,
        AURORA_DATABASE=database,
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_RDS_DATA=emulator.endpoint_url,
    )


def alex_engine(settings: Settings, client: Any) -> Engine:
    return make_data_api_engine(data_api_url(settings), settings, client=client)


def stock_engine(emulator: DataAPIEmulator, database: str, client: Any) -> Engine:
    sqlalchemy_aurora_data_api.register_dialects()
    engine: Engine = create_engine(
        URL.create("postgresql+auroradataapi", database=database),
        connect_args={
            "aurora_cluster_arn": emulator.resource_arn,
            "secret_arn": emulator.secret_arn,
            "rds_data_client": client,
        },
    )
    return engine


# --- data ---------------------------------------------------------------------------------


def _split(rng: random.Random, keys: Sequence[str], most: int) -> dict[str, float]:
    """Integer percentages over 1..``most`` distinct keys, summing to exactly 100."""
    chosen = rng.sample(list(keys), rng.randint(1, most))
    cuts = sorted(rng.sample(range(1, 100), len(chosen) - 1))
    bounds = [0, *cuts, 100]
    return {k: float(bounds[i + 1] - bounds[i]) for i, k in enumerate(chosen)}


def synthetic_instruments() -> list[InstrumentCreate]:
    rng = random.Random(SEED)
    return [
        InstrumentCreate(
            symbol=f"B{i:03d}",
            name=f"Bench Fund {i:03d}",
            instrument_type="etf",
            current_price=Decimal(rng.randint(500, 50_000_00)).scaleb(-2),
            allocation_regions=_split(rng, REGIONS, 3),
            allocation_sectors=_split(rng, SECTORS, 4),
            allocation_asset_class=_split(rng, ASSET_CLASSES, 2),
        )
        for i in range(INSTRUMENTS)
    ]


def price_rows(symbols: Sequence[str]) -> list[PriceHistoryCreate]:
    """10,000 deterministic closes: 10 symbols x 1,000 days, prices to 1/100 of a cent."""
    rng = random.Random(SEED + 2)
    start = dt.date(2020, 1, 1)
    days = PRICE_ROWS // len(symbols)
    return [
        PriceHistoryCreate(
            symbol=symbol,
            date=start + dt.timedelta(days=day),
            close_price=Decimal(rng.randint(1_0000, 9_999_9999)).scaleb(-4),
            volume=rng.randint(0, 50_000_000),
        )
        for symbol in symbols
        for day in range(days)
    ]


def _payload(kind: str, size: int) -> dict[str, Any]:
    """A deterministic agent payload of about ``size`` bytes of JSON."""
    rng = random.Random(f"{SEED}-{kind}")
    words = ["allocation", "equity", "bond", "risk", "rebalance", "income", "tax", "horizon"]
    text = " ".join(rng.choice(words) for _ in range(size // 8))
    return {
        "agent": kind,
        "version": 3,
        "content": text,
        "scores": [round(rng.random(), 6) for _ in range(10)],
        "flags": {"complete": True, "warnings": []},
    }


REQUEST_PAYLOAD = {"analysis": "full", "options": {"include_retirement": True}}
PAYLOADS = (
    ("report_payload", _payload("reporter", 6000)),
    ("charts_payload", _payload("charter", 3000)),
    ("retirement_payload", _payload("retirement", 2000)),
    ("summary_payload", _payload("planner", 1000)),
)


@dataclass(frozen=True)
class Fixtures:
    symbols: list[str]
    portfolio_users: dict[int, str]
    lookup_account: uuid.UUID
    alex_account: uuid.UUID  # add_position targets, one account per contender
    stock_account: uuid.UUID
    job_owner: str
    prices: list[PriceHistoryCreate]


def load_fixtures(direct: Database) -> Fixtures:
    """Everything the operations read or hang off, written directly (not measured)."""
    rng = random.Random(SEED + 1)
    instruments = synthetic_instruments()
    direct.instruments.upsert_many(instruments)
    symbols = [i.symbol for i in instruments]
    users: dict[int, str] = {}
    with direct.transaction():
        for size in SIZES:
            owner = f"portfolio_{size}"
            direct.users.create_user(UserCreate(clerk_user_id=owner))
            accounts = [
                direct.accounts.create_account(
                    owner,
                    AccountCreate(
                        account_name=f"Account {a + 1}",
                        cash_balance=Decimal(rng.randint(0, 2_000_000)).scaleb(-2),
                    ),
                )
                for a in range(ACCOUNTS[size])
            ]
            for i, symbol in enumerate(rng.sample(symbols, size)):
                quantity = Decimal(rng.randint(1, 100_000)).scaleb(-2)
                direct.positions.add_position(accounts[i % len(accounts)].id, symbol, quantity)
            users[size] = owner
        ids: dict[str, uuid.UUID] = {}
        for owner in ("lookup", "adder_alex_db", "adder_stock"):
            direct.users.create_user(UserCreate(clerk_user_id=owner))
            ids[owner] = direct.accounts.create_account(
                owner, AccountCreate(account_name="Brokerage")
            ).id
        for symbol in rng.sample(symbols, LOOKUP_POSITIONS):
            quantity = Decimal(rng.randint(1, 10_000_000)).scaleb(-4)
            direct.positions.add_position(ids["lookup"], symbol, quantity)
        direct.users.create_user(UserCreate(clerk_user_id="job_owner"))
    return Fixtures(
        symbols=symbols,
        portfolio_users=users,
        lookup_account=ids["lookup"],
        alex_account=ids["adder_alex_db"],
        stock_account=ids["adder_stock"],
        job_owner="job_owner",
        prices=price_rows(symbols[:PRICE_SYMBOLS]),
    )


# --- checking results -------------------------------------------------------------------


def _show(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _same_instant_naive(stored: object, returned: object) -> bool:
    """A timestamptz read back as a naive datetime with the right UTC wall-clock time."""
    return (
        isinstance(stored, dt.datetime)
        and isinstance(returned, dt.datetime)
        and stored.tzinfo is not None
        and returned.tzinfo is None
        and stored.astimezone(dt.UTC).replace(tzinfo=None) == returned
    )


@dataclass
class _Diff:
    lines: list[str] = field(default_factory=list)
    naive: int = 0  # timestamptz values returned naive, otherwise right


def _diff(stored: object, returned: object, path: str, out: _Diff) -> None:
    if isinstance(stored, Mapping) and isinstance(returned, Mapping):
        for key in sorted(set(stored) | set(returned), key=str):
            _diff(stored.get(key), returned.get(key), f"{path}.{key}" if path else str(key), out)
    elif isinstance(stored, list) and isinstance(returned, list) and len(stored) == len(returned):
        for i, (a, b) in enumerate(zip(stored, returned, strict=True)):
            _diff(a, b, f"{path}[{i}]", out)
    elif _same_instant_naive(stored, returned):
        out.naive += 1
    elif stored != returned or type(stored) is not type(returned):
        out.lines.append(f"{path}: stored {_show(stored)}, returned {_show(returned)}")


def differences(
    stored: BaseModel | Sequence[BaseModel], returned: object, limit: int = 4
) -> list[str]:
    """Where what the call returned differs from what PostgreSQL holds (read directly)."""
    out = _Diff()
    if isinstance(stored, BaseModel):
        assert isinstance(returned, BaseModel)
        _diff(stored.model_dump(), returned.model_dump(), "", out)
    else:
        assert isinstance(returned, list)
        _diff([m.model_dump() for m in stored], [m.model_dump() for m in returned], "", out)
    lines = out.lines
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    if out.naive:
        lines.append(
            f"{out.naive} timestamptz value{'s' if out.naive > 1 else ''} returned naive "
            "(right UTC wall-clock time, offset dropped)"
        )
    return lines


DATETIME_ATTRIBUTES = ("created_at", "updated_at", "started_at", "completed_at")


class NamedRow(tuple[Any, ...]):
    """A result row as ``build_portfolio`` reads it (by position, by name, ``_mapping``),
    made from the stock path's ORM objects."""

    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, names: Sequence[str], values: Sequence[Any]) -> NamedRow:
        row = cls(values)
        row.names = tuple(names)
        return row

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self.names, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self.names.index(name)]
        except ValueError:
            raise AttributeError(name) from None


def portfolio_rows(user: User, positions: Sequence[Position]) -> tuple[list[Any], list[Any]]:
    """The stock path's ORM objects as the two statements' rows of ``portfolio.load``."""
    user_columns = [c.name for c in User.__table__.c]
    account_columns = [c.name for c in Account.__table__.c]
    owner_names = user_columns + [f"account_{c}" for c in account_columns]
    user_values = [getattr(user, c) for c in user_columns]
    owner = [
        NamedRow.of(owner_names, user_values + [getattr(a, c) for c in account_columns])
        for a in user.accounts
    ] or [NamedRow.of(owner_names, user_values + [None] * len(account_columns))]
    names = [*portfolio._POSITION_COLUMNS, *portfolio._INSTRUMENT_COLUMNS, *portfolio._ALLOCATIONS]
    rows = [
        NamedRow.of(
            names,
            [getattr(p, c) for c in portfolio._POSITION_COLUMNS]
            + [getattr(p.instrument, c) for c in portfolio._INSTRUMENT_COLUMNS]
            + [json.dumps(getattr(p.instrument, c)) for c in portfolio._ALLOCATIONS],
        )
        for p in sorted(positions, key=lambda p: (str(p.account_id), p.symbol))
    ]
    return owner, rows


def raw_problems(*rows: object) -> list[str]:
    """Python types the stock driver hands back that the models do not declare: ids as
    str instead of uuid.UUID, timestamptz columns as naive datetimes. Only attributes
    already loaded are looked at (no lazy load)."""
    not_uuid: set[str] = set()
    naive: set[str] = set()
    for row in rows:
        loaded = inspect(row).dict
        kind = type(row).__name__
        for attr in ("id", "account_id", "job_id"):
            value = loaded.get(attr)
            if value is not None and not isinstance(value, uuid.UUID):
                not_uuid.add(f"{kind}.{attr}")
        for attr in DATETIME_ATTRIBUTES:
            value = loaded.get(attr)
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                naive.add(f"{kind}.{attr}")
    problems = []
    if not_uuid:
        problems.append(
            f"Uuid columns come back as str, not uuid.UUID ({', '.join(sorted(not_uuid))})"
        )
    if naive:
        problems.append(
            f"timestamptz columns come back as naive datetimes ({', '.join(sorted(naive))})"
        )
    return problems


# --- the operations ---------------------------------------------------------------------


Run = Callable[[int], object]
Check = Callable[[int, object], list[str]]


@dataclass(frozen=True)
class Operation:
    label: str
    short: str  # in the summary line
    stock_how: str
    alex: Run
    stock: Run
    check_alex: Check
    check_stock: Check
    runs: int = RUNS
    warmups: int = WARMUPS
    reset: Callable[[], None] | None = None  # before every run, not timed


def operations(  # noqa: PLR0915 - one closure per operation and contender reads best here
    db: Database, stock: sessionmaker[Session], direct: Database, fx: Fixtures, url: URL
) -> list[Operation]:
    ops: list[Operation] = []

    # create user ------------------------------------------------------------------------
    def user_create(k: int, side: str) -> UserCreate:
        return UserCreate(
            clerk_user_id=f"new_{side}_{k}",
            display_name="Bench User",
            years_until_retirement=25,
            target_retirement_income=Decimal("85000.00"),
        )

    def create_user_alex(k: int) -> object:
        return db.users.create_user(user_create(k, "alex_db"))

    def create_user_stock(k: int) -> object:
        with stock() as s:
            user = User(**user_create(k, "stock").model_dump())
            s.add(user)
            s.commit()
        return user

    def check_user(k: int, result: object, side: str) -> list[str]:
        stored = direct.users.find_by_clerk_id(f"new_{side}_{k}")
        if stored is None:
            return ["nothing stored"]
        if isinstance(result, User):
            return raw_problems(result) + differences(stored, UserRead.model_validate(result))
        return differences(stored, result)

    ops.append(
        Operation(
            "create user",
            "create user",
            "`s.add(User(**UserCreate(...).model_dump())); s.commit()`",
            create_user_alex,
            create_user_stock,
            lambda k, r: check_user(k, r, "alex_db"),
            lambda k, r: check_user(k, r, "stock"),
        )
    )

    # add position -------------------------------------------------------------------------
    def add_position_alex(k: int) -> object:
        return db.positions.add_position(fx.alex_account, fx.symbols[k], QUANTITY)

    def add_position_stock(k: int) -> object:
        with stock() as s:
            position = Position(
                account_id=fx.stock_account, symbol=fx.symbols[k], quantity=QUANTITY
            )
            s.add(position)
            s.commit()
        return position

    def check_position(result: object) -> list[str]:
        problems = []
        returned = result
        if isinstance(result, Position):
            problems += raw_problems(result)
            returned = PositionRead.model_validate(result)
        assert isinstance(returned, PositionRead)
        stored = direct.positions.find_by_id(returned.id)
        if stored is None:
            return [*problems, "nothing stored"]
        if stored.quantity != QUANTITY:
            problems.append(f"quantity sent {QUANTITY}, stored {stored.quantity}")
        return problems + differences(stored, returned)

    ops.append(
        Operation(
            "add position",
            "add position",
            "`s.add(Position(account_id=..., symbol=..., quantity=...)); s.commit()` "
            "(a plain INSERT of a new position; alex_db's is an upsert)",
            add_position_alex,
            add_position_stock,
            lambda k, r: check_position(r),
            lambda k, r: check_position(r),
        )
    )

    # find_by_account ------------------------------------------------------------------------
    def find_alex(k: int) -> object:
        return db.positions.find_by_account(fx.lookup_account)

    def find_stock(k: int) -> object:
        stmt = (
            select(Position, Instrument.name, Instrument.instrument_type, Instrument.current_price)
            .join(Position.instrument)
            .where(Position.account_id == fx.lookup_account)
            .order_by(Position.symbol)
        )
        with stock() as s:
            return s.execute(stmt).all()

    def check_find(result: object) -> list[str]:
        stored = direct.positions.find_by_account(fx.lookup_account)
        problems: list[str] = []
        if isinstance(result, list) and result and not isinstance(result[0], BaseModel):
            problems += raw_problems(*(row[0] for row in result))
            result = [
                PositionWithInstrument(
                    **PositionRead.model_validate(position).model_dump(),
                    instrument_name=name,
                    instrument_type=kind,
                    current_price=price,
                )
                for position, name, kind, price in result
            ]
        if not isinstance(result, list) or len(result) != len(stored):
            return [*problems, f"expected {len(stored)} positions"]
        return problems + differences(stored, result)

    ops.append(
        Operation(
            f"find_by_account ({LOOKUP_POSITIONS} positions)",
            "find_by_account",
            "`s.execute(select(Position, Instrument.name, Instrument.instrument_type, "
            "Instrument.current_price).join(Position.instrument).where(...)).all()`",
            find_alex,
            find_stock,
            lambda k, r: check_find(r),
            lambda k, r: check_find(r),
        )
    )

    # portfolio.load ---------------------------------------------------------------------------
    def portfolio_ops(size: int) -> Operation:
        owner = fx.portfolio_users[size]

        def alex(k: int) -> object:
            return db.portfolio.load(owner)

        def stock_load(k: int) -> object:
            stmt = (
                select(User)
                .where(User.clerk_user_id == owner)
                .options(
                    selectinload(User.accounts)
                    .selectinload(Account.positions)
                    .selectinload(Position.instrument)
                )
            )
            with stock() as s:
                user = s.scalars(stmt).one()
                positions = [p for account in user.accounts for p in account.positions]
                raw = raw_problems(user, *user.accounts, *positions)
                return build_portfolio(*portfolio_rows(user, positions)), raw

        def check(result: object) -> list[str]:
            problems: list[str] = []
            if isinstance(result, tuple):
                result, problems = result
            stored = direct.portfolio.load(owner)
            return problems + differences(stored, result)

        return Operation(
            f"portfolio.load, {size} position{'s' if size > 1 else ''}",
            f"portfolio.load/{size}",
            "`select(User).options(selectinload(User.accounts).selectinload(Account.positions)"
            ".selectinload(Position.instrument))`, then alex_db's own `build_portfolio`",
            alex,
            stock_load,
            lambda k, r: check(r),
            lambda k, r: check(r),
        )

    ops += [portfolio_ops(size) for size in SIZES]

    # a job's lifecycle ------------------------------------------------------------------------
    def job_alex(k: int) -> object:
        job = db.jobs.create_job(
            JobCreate(
                clerk_user_id=fx.job_owner,
                job_type="portfolio_analysis",
                request_payload=REQUEST_PAYLOAD,
            )
        )
        db.jobs.start(job.id)
        db.jobs.update_report(job.id, PAYLOADS[0][1])
        db.jobs.update_charts(job.id, PAYLOADS[1][1])
        db.jobs.update_retirement(job.id, PAYLOADS[2][1])
        db.jobs.update_summary(job.id, PAYLOADS[3][1])
        return db.jobs.complete(job.id)

    def job_stock(k: int) -> object:
        # Each step in its own session, as the separate agents (Lambdas) do it.
        with stock() as s:
            job = Job(
                clerk_user_id=fx.job_owner,
                job_type="portfolio_analysis",
                request_payload=REQUEST_PAYLOAD,
            )
            s.add(job)
            s.commit()
            job_id = job.id
        started = dt.datetime.now(dt.UTC)
        with stock() as s:
            job = s.get_one(Job, job_id)
            job.status = "running"
            job.started_at = started
            s.commit()
        for column, payload in PAYLOADS:
            with stock() as s:
                job = s.get_one(Job, job_id)
                setattr(job, column, payload)
                s.commit()
        completed = dt.datetime.now(dt.UTC)
        with stock() as s:
            job = s.get_one(Job, job_id)
            job.status = "completed"
            job.completed_at = completed
            s.commit()
        return job, started, completed

    def check_job(result: object) -> list[str]:
        problems: list[str] = []
        sent: list[dt.datetime] = []
        if isinstance(result, tuple):
            job, *sent = result
            problems += raw_problems(job)
            result = JobRead.model_validate(job)
        assert isinstance(result, JobRead)
        stored = direct.jobs.find_by_id(result.id)
        if stored is None:
            return [*problems, "nothing stored"]
        for column, value in zip(("started_at", "completed_at"), sent, strict=False):
            if getattr(stored, column) != value:
                problems.append(
                    f"{column} set to {_show(value)}, stored {_show(getattr(stored, column))}"
                )
        if stored.status != "completed":
            problems.append(f"status {stored.status}")
        for column, payload in PAYLOADS:
            if getattr(stored, column) != payload:
                problems.append(f"{column} stored differs from the payload sent")
        return problems + differences(stored, result)

    ops.append(
        Operation(
            "job lifecycle (create, start, 4 payloads, complete)",
            "job lifecycle",
            "one session per step, as separate agents: `s.add(Job(...))`, then "
            "`job = s.get_one(Job, id)`; set status and `started_at`/`completed_at` to "
            "`datetime.now(UTC)` or one payload column; `s.commit()`",
            job_alex,
            job_stock,
            lambda k, r: check_job(r),
            lambda k, r: check_job(r),
        )
    )

    # record_prices -------------------------------------------------------------------------------
    expected = {(p.symbol, p.date, p.close_price, p.volume) for p in fx.prices}
    dicts = [p.model_dump() for p in fx.prices]

    def empty_prices() -> None:
        with psycopg_connect(url) as conn:
            conn.execute("TRUNCATE price_history")

    def prices_alex(k: int) -> object:
        return db.price_history.record_prices(fx.prices)

    def prices_stock_add_all(k: int) -> object:
        with stock() as s:
            s.add_all(PriceHistory(**row) for row in dicts)
            s.commit()
        return None

    def prices_stock_bulk(k: int) -> object:
        with stock() as s:
            s.execute(insert(PriceHistory), dicts)
            s.commit()
        return None

    def check_prices(k: int, result: object) -> list[str]:
        with psycopg_connect(url) as conn:
            stored = set(
                conn.execute("SELECT symbol, date, close_price, volume FROM price_history")
            )
        problems = []
        if result is not None and result != PRICE_ROWS:
            problems.append(f"returned {result}")
        if stored != expected:
            wrong = sorted(stored - expected)
            problems.append(f"{len(stored):,} rows stored, {len(wrong):,} not as sent")
            problems += [f"stored {_show(row)}" for row in wrong[:2]]
        return problems

    for variant, how, fn in (
        (
            "add_all",
            "`s.add_all(PriceHistory(**row) for row in rows); s.commit()` (the ORM unit of work)",
            prices_stock_add_all,
        ),
        (
            "bulk insert",
            "ORM bulk INSERT: `s.execute(insert(PriceHistory), rows); s.commit()`",
            prices_stock_bulk,
        ),
    ):
        ops.append(
            Operation(
                f"record_prices, {PRICE_ROWS:,} rows (stock: {variant})",
                f"record_prices/{variant}",
                how,
                prices_alex,
                fn,
                check_prices,
                check_prices,
                runs=PRICE_RUNS,
                warmups=PRICE_WARMUPS,
                reset=empty_prices,
            )
        )
    return ops


# --- measuring ------------------------------------------------------------------------------


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= 400 else text[:397] + "..."


@dataclass
class SideResult:
    calls: Counter[str] = field(default_factory=Counter)
    outcome: str = "ok"  # ok | wrong values | FAILED
    details: list[str] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    failed_runs: int = 0
    miscounted_runs: int = 0  # timed runs whose emulator-side count differed

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def stats(self) -> Stats:
        return Stats(tuple(self.samples))


@dataclass
class OperationResult:
    op: Operation
    alex: SideResult
    stock: SideResult


def checked_run(client: Any, run: Run, check: Check, k: int, into: SideResult) -> None:
    """The first run of a contender: its calls counted on the client, its result checked."""
    error: BaseException | None = None
    result: object = None
    with count_data_api_calls(client) as calls:
        try:
            result = run(k)
        except Exception as exc:
            error = exc
    into.calls = Counter(calls.operations)
    if error is not None:
        into.outcome = "FAILED"
        into.details = [first_line(error)]
        return
    into.details = check(k, result)
    if into.details:
        into.outcome = "wrong values"


@contextmanager
def emulator_count(emulator: DataAPIEmulator) -> Iterator[list[int]]:
    total: list[int] = []
    emulator.reset_counts()
    yield total
    total.append(sum(emulator.call_counts.values()))


def timed_run(emulator: DataAPIEmulator, op: Operation, run: Run, k: int, into: SideResult) -> None:
    if op.reset is not None:
        op.reset()
    with emulator_count(emulator) as total:
        start = time.perf_counter()
        try:
            run(k)
        except Exception:
            into.failed_runs += 1
        into.samples.append(time.perf_counter() - start)
    if total[0] != into.total:
        into.miscounted_runs += 1


def measure_operation(
    op: Operation, emulator: DataAPIEmulator, alex_client: Any, stock_client: Any
) -> OperationResult:
    alex, stock = SideResult(), SideResult()
    keys = {"alex": itertools.count(), "stock": itertools.count()}
    contenders = (
        ("alex", alex_client, op.alex, op.check_alex, alex),
        ("stock", stock_client, op.stock, op.check_stock, stock),
    )
    for name, client, run, check, into in contenders:
        if op.reset is not None:
            op.reset()
        checked_run(client, run, check, next(keys[name]), into)
    settle()
    for _ in range(op.warmups):
        for name, _client, run, _check, _into in contenders:
            if op.reset is not None:
                op.reset()
            with suppress(Exception):  # a failing stock operation is timed as it fails
                run(next(keys[name]))
    for i in range(op.runs):
        # Alternate who goes first so that drift on a busy machine hits both.
        for name, _client, run, _check, into in contenders if i % 2 == 0 else contenders[::-1]:
            timed_run(emulator, op, run, next(keys[name]), into)
    return OperationResult(op, alex, stock)


@dataclass
class Bootstrap:
    alex: SideResult
    stock: SideResult


def measure_bootstrap(
    emulator: DataAPIEmulator,
    make_alex: Callable[[], Engine],
    make_stock: Callable[[], Engine],
    alex_client: Any,
    stock_client: Any,
) -> Bootstrap:
    """A new engine's first connection: the dialect's initialisation queries."""
    result = Bootstrap(SideResult(), SideResult())
    contenders = (
        (make_alex, alex_client, result.alex),
        (make_stock, stock_client, result.stock),
    )
    for make, client, into in contenders:
        engine = make()
        try:
            with count_data_api_calls(client) as calls, engine.connect():
                pass
            into.calls = Counter(calls.operations)
        finally:
            engine.dispose()
    settle()
    for i in range(BOOTSTRAP_RUNS):
        for make, _client, into in contenders if i % 2 == 0 else contenders[::-1]:
            engine = make()
            try:
                with emulator_count(emulator) as total:
                    start = time.perf_counter()
                    with engine.connect():
                        pass
                    into.samples.append(time.perf_counter() - start)
                if total[0] != into.total:
                    into.miscounted_runs += 1
            finally:
                engine.dispose()
    return result


@dataclass
class Measured:
    machine: list[tuple[str, str]]
    bootstrap: Bootstrap
    results: list[OperationResult]


def measure() -> Measured:
    with bench_database("bench_dataapi") as target:
        machine = machine_info(target)
        machine += [
            ("boto3 / botocore", f"{version('boto3')} / {version('botocore')}"),
            (
                "aurora-data-api / sqlalchemy-aurora-data-api",
                f"{version('aurora-data-api')} / {version('sqlalchemy-aurora-data-api')}",
            ),
        ]
        database = str(target.url.database)
        direct = Database.from_url(target.url)
        try:
            fixtures = load_fixtures(direct)
            with DataAPIEmulator(target.url) as emulator:
                settings = alex_settings(emulator, database)
                alex_client = emulator.client()
                stock_client = emulator.client()
                bootstrap = measure_bootstrap(
                    emulator,
                    lambda: alex_engine(settings, alex_client),
                    lambda: stock_engine(emulator, database, stock_client),
                    alex_client,
                    stock_client,
                )
                alex_eng = alex_engine(settings, alex_client)
                stock_eng = stock_engine(emulator, database, stock_client)
                try:
                    for engine in (alex_eng, stock_eng):
                        with engine.connect():
                            pass  # each engine's bootstrap out of the way of the counts
                    db = Database.from_engine(alex_eng, settings)
                    stock = sessionmaker(stock_eng, expire_on_commit=False)
                    results = []
                    for op in operations(db, stock, direct, fixtures, target.url):
                        print(f"measuring {op.label} ...", flush=True)
                        results.append(measure_operation(op, emulator, alex_client, stock_client))
                finally:
                    alex_eng.dispose()
                    stock_eng.dispose()
        finally:
            direct.dispose()
    return Measured(machine, bootstrap, results)


# --- the report --------------------------------------------------------------------------------


def breakdown(calls: Counter[str]) -> str:
    parts = [f"{calls[op]} {SHORT[op]}" for op in OPS if calls[op]]
    parts += [f"{n} {op}" for op, n in calls.items() if op not in SHORT]
    return ", ".join(parts) or "none"


def spread(stats: Stats) -> str:
    return f"{fmt_ms(stats.minimum)}-{fmt_ms(stats.maximum)}"


METHOD = [
    "One scratch database migrated with the real Alembic revisions, behind the project's RDS "
    "Data API emulator (`alex_db.testing.dataapi.DataAPIEmulator`, same process, loopback "
    "HTTP). Fixtures written directly over psycopg, not measured: "
    f"{INSTRUMENTS} instruments with valid allocations; one user per portfolio size with "
    f"{', '.join(f'{ACCOUNTS[s]}' for s in SIZES)} accounts for {', '.join(map(str, SIZES))} "
    f"positions; an account holding {LOOKUP_POSITIONS} positions for find_by_account; one "
    "account per contender for add position; a user owning the jobs.",
    "alex_db: `Database.from_engine(make_data_api_engine(data_api_url(settings), settings, "
    "client=...))`. stock: `create_engine('postgresql+auroradataapi://:@/<db>', "
    "connect_args={aurora_cluster_arn, secret_arn, rds_data_client})` after "
    "`sqlalchemy_aurora_data_api.register_dialects()`, the same ORM models, and "
    "`sessionmaker(engine, expire_on_commit=False)` (with the default `expire_on_commit=True`, "
    "reading a returned object after `commit()` reloads it: 3 more calls, Begin + Execute + "
    "Rollback, per object). Each contender has its own real boto3 `rds-data` client "
    "(botocore retries off for both); both engines are warm (bootstrap done) before counting.",
    "Calls: counted on each contender's own client with "
    "`alex_db.testing.calls.count_data_api_calls` (botocore `before-call` hooks: exact, "
    "client-side) in a first, untimed run; the timed runs run without hooks and are checked "
    "against the emulator's server-side counters (any mismatch is reported). The ratio is "
    "stock calls / alex_db calls; for a failed stock operation, the calls it made before failing.",
    "Results: after the counted run, what each contender returned and what the database stored "
    "are compared with alex_db over psycopg reading the same rows directly (Read models "
    "compared field by field; stock ORM objects converted with alex_db's Read schemas, and "
    "their raw attribute types checked: ids must be `uuid.UUID`, timestamptz values "
    "timezone-aware). A stock operation that raises is recorded as FAILED with its error; one "
    "that stores or returns something else as wrong values, with the differences.",
    f"Time: {RUNS} timed runs per contender ({PRICE_RUNS} for record_prices) after "
    f"{WARMUPS} warm-ups ({PRICE_WARMUPS}), alternating which contender goes first; "
    "`time.perf_counter` around each call; median and min-max. record_prices starts every "
    "run from an empty `price_history` (TRUNCATE, not timed); its `PriceHistoryCreate` "
    "objects (alex_db) and row dicts (stock bulk insert) are built before timing, the stock "
    "`add_all` builds its ORM objects inside the timed call. A failing stock operation is "
    "timed until it fails.",
    "The emulator runs locally and answers a call in about a millisecond; the issue quotes "
    "20-250 ms per call for the Aurora Data API, so in production the call counts, not these "
    "local times, set the latency. The local times show client-side and emulator CPU.",
    f"Bootstrap: a new engine's first `engine.connect()` (the dialect's initialisation), "
    f"{BOOTSTRAP_RUNS} new engines per contender on the same client, alternating.",
]


def write_report(measured: Measured) -> None:
    report = Report(
        NAME,
        "Data API calls per facade operation: alex_db vs the stock sqlalchemy-aurora-data-api",
        measured.machine,
        METHOD,
    )
    results = measured.results
    call_rows = []
    time_rows = []
    findings: list[str] = []
    for r in results:
        stock_failed = r.stock.outcome == "FAILED"
        ratio = (
            "n/a" if stock_failed or not r.alex.total else fmt_ratio(r.stock.total / r.alex.total)
        )
        stock_calls = f"{r.stock.total}" + (" (failed)" if stock_failed else "")
        call_rows.append(
            [
                r.op.label,
                str(r.alex.total),
                stock_calls,
                ratio,
                breakdown(r.alex.calls),
                breakdown(r.stock.calls),
                r.alex.outcome,
                r.stock.outcome,
            ]
        )
        always_fails = r.stock.failed_runs == r.stock.stats.runs
        time_ratio = (
            "n/a" if always_fails else fmt_ratio(r.stock.stats.median / r.alex.stats.median)
        )
        time_rows.append(
            [
                r.op.label,
                fmt_ms(r.alex.stats.median),
                spread(r.alex.stats),
                fmt_ms(r.stock.stats.median) + (" (to failure)" if always_fails else ""),
                spread(r.stock.stats),
                time_ratio,
                str(r.alex.stats.runs),
            ]
        )
        for who, res in (("alex_db", r.alex), ("stock", r.stock)):
            report.raw.append(f"{r.op.label}, {who}: {samples_line(res.stats)}")
            if res.details:
                findings.append(
                    f"**{r.op.label}, {who}: {res.outcome}.** " + "; ".join(res.details)
                )
            if res.failed_runs and res.outcome != "FAILED":
                findings.append(f"**{r.op.label}, {who}:** {res.failed_runs} timed runs raised.")
            if res.miscounted_runs:
                findings.append(
                    f"**{r.op.label}, {who}:** {res.miscounted_runs} timed runs made a "
                    "different number of calls than the counted run."
                )
    report.add_table(
        "Data API calls per operation (ratio = stock / alex_db)",
        [
            "operation",
            "alex_db calls",
            "stock calls",
            "ratio",
            "alex_db by operation",
            "stock by operation",
            "alex_db result",
            "stock result",
        ],
        call_rows,
    )
    report.add_table(
        "Wall time through the emulator, ms (ratio = stock / alex_db; > 1 means alex_db is faster)",
        [
            "operation",
            "alex_db median",
            "alex_db min-max",
            "stock median",
            "stock min-max",
            "time ratio",
            "runs each",
        ],
        time_rows,
    )
    boot = measured.bootstrap
    report.add_table(
        "A new engine's first connection (bootstrap)",
        ["contender", "calls", "by operation", "median ms", "min-max ms", "new engines"],
        [
            [
                name,
                str(side.total),
                breakdown(side.calls),
                fmt_ms(side.stats.median),
                spread(side.stats),
                str(side.stats.runs),
            ]
            for name, side in (("alex_db", boot.alex), ("stock", boot.stock))
        ],
    )
    for name, side in (("alex_db", boot.alex), ("stock", boot.stock)):
        report.raw.append(f"bootstrap, {name}: {samples_line(side.stats)}")
        if side.miscounted_runs:
            findings.append(f"**bootstrap, {name}:** {side.miscounted_runs} runs miscounted.")
    how = "\n".join(f"- {r.op.label}: {r.op.stock_how}" for r in results)
    report.add_text("How the stock side does each operation", how)
    print("\nStock path findings")
    for line in findings:
        print(f"- {line}")
    report.add_text(
        "Findings (every result that differed from the database, and every failure)",
        "\n".join(f"- {f}" for f in findings) + "\n\nFields not listed matched the database."
        if findings
        else "None: every result matched the database.",
    )

    failed = [r.op.short for r in results if r.stock.outcome == "FAILED"]
    wrong = [r.op.short for r in results if r.stock.outcome == "wrong values"]
    alex_bad = [r.op.short for r in results if r.alex.outcome != "ok"]
    counts = ", ".join(
        f"{r.op.short} {r.alex.total} vs "
        + (f"failed after {r.stock.total}" if r.stock.outcome == "FAILED" else str(r.stock.total))
        for r in results
    )
    report.summary = (
        f"Data API calls, alex_db vs stock sqlalchemy-aurora-data-api: {counts}; new engine "
        f"{boot.alex.total} vs {boot.stock.total}. Stock failed: {', '.join(failed) or 'none'}; "
        f"stock returned or stored wrong values in {len(wrong)} of {len(results)} operations; "
        "alex_db results "
        + ("all matched the database." if not alex_bad else f"WRONG in {', '.join(alex_bad)}.")
    )
    report.write()


def main() -> None:
    write_report(measure())


if __name__ == "__main__":
    main()

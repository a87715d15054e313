"""The old package's ``Database`` and its five models (``src.models``), on alex_db.

Every method keeps its old name, parameters and defaults and returns the old shapes:
rows as plain dicts of legacy values (:func:`alex_db.compat.client.legacy_value`), ids
as strings, row counts as ints. Underneath, each one is an alex_db repository call, or,
for the old generic ``find_by_id/find_all/create/update/delete``, a Core statement on
the alex_db table, run in the same unit of work. Errors are alex_db's typed errors.
docs/migrating-from-src.md has the replacement of every call and every difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel as PydanticModel
from pydantic import ValidationError
from sqlalchemy import Table, func, select, update

from alex_db import schemas as core_schemas
from alex_db.compat.client import (
    DataAPIClient,
    Row,
    Statements,
    column_values,
    legacy_value,
    round_numeric,
    table_named,
)
from alex_db.compat.deprecation import deprecated
from alex_db.compat.schemas import (
    AccountCreate,
    InstrumentCreate,
    JobCreate,
    JobUpdate,
    PositionCreate,
    UserCreate,
)
from alex_db.database import Database as CoreDatabase
from alex_db.errors import InvalidInputError, NotFoundError
from alex_db.models import Job
from alex_db.repositories.base import count_arg, parse_uuid, table_of, validate
from alex_db.repositories.jobs import ERROR_MESSAGE, STATUS

JOBS = table_of(Job)

__all__ = [
    "AccountCreate",
    "Accounts",
    "BaseModel",
    "DataAPIClient",
    "Database",
    "InstrumentCreate",
    "Instruments",
    "JobCreate",
    "JobUpdate",
    "Jobs",
    "PositionCreate",
    "Positions",
    "UserCreate",
    "Users",
]


# The old tables' column order where alex_db's differs (the old jobs table had
# created_at before started_at): rows are dicts in the old order.
_OLD_ORDER: dict[str, tuple[str, ...]] = {
    "jobs": tuple(
        [c.name for c in JOBS.c if not c.name.endswith("_at")]
        + ["created_at", "started_at", "completed_at", "updated_at"]
    ),
}


def column_names(table: Table) -> tuple[str, ...]:
    return _OLD_ORDER.get(table.name) or tuple(c.name for c in table.c)


def in_old_order(table: Table, row: Row) -> Row:
    names = column_names(table)
    return {**{n: row[n] for n in names if n in row}, **row}


def legacy_row(table: Table, model: PydanticModel, **extra: object) -> Row:
    """A Read model as the old row dict: the old columns in order, legacy values."""
    row = {name: legacy_value(getattr(model, name)) for name in column_names(table)}
    row.update({k: legacy_value(v) for k, v in extra.items()})
    return row


def _core_schema(schema: type[PydanticModel], what: str, **fields: Any) -> Any:
    try:
        return schema.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError.from_validation(what, exc) from None


class BaseModel:
    """What the five models share: the old generic calls, keyed on the table's primary
    key (the old ones keyed on ``id``, which ``users`` and ``instruments`` do not have,
    so they always failed there)."""

    table_name: ClassVar[str | None] = None

    def __init__(self, db: DataAPIClient) -> None:
        if not self.table_name:
            raise ValueError(f"{type(self).__name__} must set table_name")
        self.db = db
        self._core: CoreDatabase = db.core
        self._table = table_named(self.table_name)
        (self._key,) = self._table.primary_key.columns
        self._statements = Statements(db.core)

    def _key_value(self, key: object) -> object:
        if self._key.name == "id":
            return parse_uuid(key, f"{self.table_name} id")  # type: ignore[arg-type]
        if not isinstance(key, str):
            raise InvalidInputError(f"{self._key.name} must be a string, got {type(key).__name__}")
        return key

    def _one(self, key: object) -> Row | None:
        stmt = select(self._table).where(self._key == self._key_value(key))
        rows = self._statements.run(stmt, {}).dicts()
        return in_old_order(self._table, rows[0]) if rows else None

    def find_by_id(self, id: object) -> Row | None:
        deprecated(f"db.{self.table_name}.find_by_id()", f"db.{self.table_name}.find_by_…()")
        return self._one(id)

    def find_all(self, limit: int = 100, offset: int = 0) -> list[Row]:
        """Up to ``limit`` rows from ``offset``, ordered by primary key (the old call had
        no order at all)."""
        deprecated(f"db.{self.table_name}.find_all()", "a repository's find_by_… call")
        stmt = (
            select(self._table)
            .order_by(self._key)
            .limit(count_arg(limit, "limit", minimum=0))
            .offset(count_arg(offset, "offset", minimum=0))
        )
        return [in_old_order(self._table, r) for r in self._statements.run(stmt, {}).dicts()]

    def create(self, data: Mapping[str, Any], returning: str = "id") -> Any:
        """INSERT a row from a dict; the legacy value of ``returning`` (the primary key
        when the table has no ``id``, where the old call failed)."""
        deprecated(f"db.{self.table_name}.create()", f"db.{self.table_name}.create_…(schema)")
        if returning == "id" and "id" not in self._table.c:
            returning = self._key.name
        return self.db._insert(self._table.name, data, returning)

    def update(self, id: object, data: Mapping[str, Any]) -> int:
        """UPDATE the row; 1, or 0 when there is none. An empty ``data`` returns whether
        the row exists (the old call sent broken SQL)."""
        deprecated(f"db.{self.table_name}.update()", f"db.{self.table_name}.update(key, …Update)")
        key = self._key_value(id)
        values = column_values(self._table, data)
        values.pop(self._key.name, None)  # the key is the where clause's, as before
        if not values:
            return 0 if self._one(key) is None else 1
        stmt = update(self._table).where(self._key == key).values(**values)
        return max(self._statements.run(stmt, {}, key=key).rowcount, 0)

    def delete(self, id: object) -> int:
        deprecated(f"db.{self.table_name}.delete()", f"db.{self.table_name}.delete(key)")
        key = self._key_value(id)
        try:
            getattr(self._core, self._repository_name).delete(key)
        except NotFoundError:
            return 0
        return 1

    @property
    def _repository_name(self) -> str:
        return self.table_name or ""


class Users(BaseModel):
    table_name = "users"

    def find_by_clerk_id(self, clerk_user_id: str) -> Row | None:
        deprecated("db.users.find_by_clerk_id()", "db.users.find_by_clerk_id() of alex_db")
        user = self._core.users.find_by_clerk_id(clerk_user_id)
        return None if user is None else legacy_row(self._table, user)

    def create_user(
        self,
        clerk_user_id: str,
        display_name: str | None = None,
        years_until_retirement: int | None = None,
        target_retirement_income: Decimal | float | int | None = None,
    ) -> str:
        deprecated("db.users.create_user(clerk_user_id, ...)", "db.users.create_user(UserCreate)")
        fields: dict[str, Any] = {"clerk_user_id": clerk_user_id}
        if display_name is not None:
            fields["display_name"] = display_name
        if years_until_retirement is not None:
            fields["years_until_retirement"] = years_until_retirement
        if target_retirement_income is not None:
            column = self._table.c.target_retirement_income
            fields["target_retirement_income"] = round_numeric(target_retirement_income, column)
        user = _core_schema(core_schemas.UserCreate, "user", **fields)
        return self._core.users.create_user(user).clerk_user_id


class Instruments(BaseModel):
    table_name = "instruments"

    def find_all(self, limit: int | None = None, offset: int = 0) -> list[Row]:
        """Every instrument by symbol; ``limit`` and ``offset`` are applied (the old call
        accepted and ignored them)."""
        deprecated("db.instruments.find_all()", "db.instruments.find_all() of alex_db")
        return self._find_all(limit, offset)

    def _find_all(self, limit: int | None, offset: int) -> list[Row]:
        rows = [legacy_row(self._table, i) for i in self._core.instruments.find_all()]
        start = count_arg(offset, "offset", minimum=0)
        end = None if limit is None else start + count_arg(limit, "limit", minimum=0)
        return rows[start:end]

    def find_by_symbol(self, symbol: str) -> Row | None:
        """The instrument, or None. A symbol that cannot exist (not a valid symbol) is
        None, as it was; the lookup is case-insensitive (symbols are stored upper case)."""
        deprecated("db.instruments.find_by_symbol()", "db.instruments.find_by_symbol() of alex_db")
        try:
            found = self._core.instruments.find_by_symbol(symbol)
        except InvalidInputError:
            return None
        return None if found is None else legacy_row(self._table, found)

    def create_instrument(self, instrument: Any) -> str:
        """Create from an old or new ``InstrumentCreate``; stores ``current_price`` (the
        old call dropped it), rounded to 4 places as the column would."""
        deprecated(
            "db.instruments.create_instrument(src InstrumentCreate)",
            "db.instruments.create_instrument(alex_db InstrumentCreate)",
        )
        fields = dict(instrument.model_dump())
        if fields.get("current_price") is not None:
            fields["current_price"] = round_numeric(
                fields["current_price"], self._table.c.current_price
            )
        fields = {k: v for k, v in fields.items() if k in self._table.c}
        created = _core_schema(core_schemas.InstrumentCreate, "instrument", **fields)
        return self._core.instruments.create_instrument(created).symbol

    def find_by_type(self, instrument_type: str) -> list[Row]:
        """Instruments of a type by symbol; an unknown type has none (``[]``), as before."""
        deprecated("db.instruments.find_by_type()", "db.instruments.find_by_type() of alex_db")
        try:
            found = self._core.instruments.find_by_type(instrument_type)
        except InvalidInputError:
            return []
        return [legacy_row(self._table, i) for i in found]

    def search(self, query: str) -> list[Row]:
        """At most 20 instruments matching ``query`` in symbol or name (``%`` and ``_``
        match themselves; best matches first). A blank query gives the first 20."""
        deprecated("db.instruments.search()", "db.instruments.search(text, limit=20)")
        if isinstance(query, str) and not query.strip():
            return self._find_all(20, 0)
        found = self._core.instruments.search(query, limit=20)
        return [legacy_row(self._table, i) for i in found]


class Accounts(BaseModel):
    table_name = "accounts"

    def find_by_user(self, clerk_user_id: str) -> list[Row]:
        """The user's accounts, newest first (as before)."""
        deprecated("db.accounts.find_by_user()", "db.accounts.find_by_user() of alex_db")
        found = self._core.accounts.find_by_user(clerk_user_id)
        found.sort(key=lambda a: (a.created_at, str(a.id)), reverse=True)
        return [legacy_row(self._table, a) for a in found]

    def create_account(
        self,
        clerk_user_id: str,
        account_name: str,
        account_purpose: str | None = None,
        cash_balance: Decimal | float | int = Decimal("0"),
        cash_interest: Decimal | float | int = Decimal("0"),
    ) -> str:
        deprecated(
            "db.accounts.create_account(clerk_user_id, account_name, ...)",
            "db.accounts.create_account(clerk_user_id, AccountCreate)",
        )
        account = _core_schema(
            core_schemas.AccountCreate,
            "account",
            account_name=account_name,
            account_purpose=account_purpose,
            cash_balance=round_numeric(cash_balance, self._table.c.cash_balance),
            cash_interest=round_numeric(cash_interest, self._table.c.cash_interest),
        )
        return str(self._core.accounts.create_account(clerk_user_id, account).id)


class Positions(BaseModel):
    table_name = "positions"

    def find_by_account(self, account_id: str) -> list[Row]:
        """The account's positions by symbol, each with ``instrument_name``,
        ``instrument_type`` and ``current_price``."""
        deprecated("db.positions.find_by_account()", "db.positions.find_by_account() of alex_db")
        return [
            legacy_row(
                self._table,
                p,
                instrument_name=p.instrument_name,
                instrument_type=p.instrument_type,
                current_price=p.current_price,
            )
            for p in self._core.positions.find_by_account(account_id)
        ]

    def get_portfolio_value(self, account_id: str) -> dict[str, Any]:
        """``num_positions``, ``total_value`` (priced positions only) and ``total_shares``;
        the sums are floats, 0.0 when empty (the old call gave the int 0)."""
        deprecated("db.positions.get_portfolio_value()", "db.portfolio.load(clerk_user_id)")
        positions = self._core.positions.find_by_account(account_id)
        value = sum(
            (p.quantity * p.current_price for p in positions if p.current_price is not None),
            Decimal(0),
        )
        return {
            "num_positions": len({p.symbol for p in positions}),
            "total_value": float(value),
            "total_shares": float(sum((p.quantity for p in positions), Decimal(0))),
        }

    def add_position(self, account_id: str, symbol: str, quantity: Decimal | float | int) -> str:
        """Hold ``quantity`` of ``symbol`` (replacing the quantity of a position the
        account already has); the position id. The quantity is rounded to 8 places."""
        deprecated("db.positions.add_position()", "db.positions.add_position() of alex_db")
        rounded = round_numeric(quantity, self._table.c.quantity)
        return str(self._core.positions.add_position(account_id, symbol, rounded).id)


class Jobs(BaseModel):
    table_name = "jobs"

    def create_job(
        self, clerk_user_id: str, job_type: str, request_payload: dict[str, Any] | None = None
    ) -> str:
        deprecated(
            "db.jobs.create_job(clerk_user_id, job_type, ...)", "db.jobs.create_job(JobCreate)"
        )
        job = _core_schema(
            core_schemas.JobCreate,
            "job",
            clerk_user_id=clerk_user_id,
            job_type=job_type,
            request_payload=request_payload,
        )
        return str(self._core.jobs.create_job(job).id)

    def update_status(self, job_id: str, status: str, error_message: str | None = None) -> int:
        """The old permissive transition: any status may follow any other (the services'
        retry runs failed -> running -> completed). ``running`` sets ``started_at``;
        ``completed`` and ``failed`` set ``completed_at``; ``running`` and ``pending``
        clear it (a finished time on an unfinished job is refused by the database); an
        ``error_message`` is written when given. Returns 1, or 0 for an unknown job."""
        deprecated(
            "db.jobs.update_status()", "db.jobs.start() / complete() / fail() (a state machine)"
        )
        key = parse_uuid(job_id, "job id")
        target = validate(STATUS, status, "job status")
        values: dict[str, Any] = {"status": target}
        if target == "running":
            values["started_at"] = func.now()
        if target in ("completed", "failed"):
            values["completed_at"] = func.now()
        else:
            values["completed_at"] = None
        if error_message:
            values["error_message"] = validate(ERROR_MESSAGE, error_message, "error_message")
        stmt = update(JOBS).where(JOBS.c.id == key).values(**values)
        return max(self._statements.run(stmt, {}, key=key).rowcount, 0)

    def _payload(self, name: str, job_id: str, payload: Any) -> int:
        # depth 3: the call site is the caller of update_report(), not update_report()
        deprecated(
            f"db.jobs.{name}()", f"db.jobs.{name}() of alex_db (returns the JobRead)", depth=3
        )
        try:
            getattr(self._core.jobs, name)(job_id, payload)
        except NotFoundError:
            return 0
        return 1

    def update_report(self, job_id: str, report_payload: dict[str, Any]) -> int:
        """Store the Reporter's payload: 1, or 0 for an unknown job (the agents' success flag)."""
        return self._payload("update_report", job_id, report_payload)

    def update_charts(self, job_id: str, charts_payload: dict[str, Any]) -> int:
        return self._payload("update_charts", job_id, charts_payload)

    def update_retirement(self, job_id: str, retirement_payload: dict[str, Any]) -> int:
        return self._payload("update_retirement", job_id, retirement_payload)

    def update_summary(self, job_id: str, summary_payload: dict[str, Any]) -> int:
        return self._payload("update_summary", job_id, summary_payload)

    def find_by_user(
        self, clerk_user_id: str, status: str | None = None, limit: int = 20
    ) -> list[Row]:
        """The user's jobs, newest first; a falsy status means all, an unknown status
        matches none, ``limit=0`` gives ``[]``."""
        deprecated("db.jobs.find_by_user()", "db.jobs.find_by_user() of alex_db")
        limit = count_arg(limit, "limit", minimum=0)
        if limit == 0:
            return []
        try:
            found = self._core.jobs.find_by_user(clerk_user_id, status or None, limit)
        except InvalidInputError as exc:
            if status and "job status" in str(exc):
                return []
            raise
        return [legacy_row(self._table, j) for j in found]


class Database:
    """The old entry point: ``db.users``, ``db.instruments``, ``db.accounts``,
    ``db.positions``, ``db.jobs`` and the raw client ``db.client``. ``db.core`` is the
    alex_db ``Database`` underneath, for the calls already migrated."""

    def __init__(
        self,
        cluster_arn: str | None = None,
        secret_arn: str | None = None,
        database: str | None = None,
        region: str | None = None,
        *,
        core: CoreDatabase | None = None,
    ) -> None:
        self.client = DataAPIClient(cluster_arn, secret_arn, database, region, core=core)
        self.core = self.client.core
        self.users = Users(self.client)
        self.instruments = Instruments(self.client)
        self.accounts = Accounts(self.client)
        self.positions = Positions(self.client)
        self.jobs = Jobs(self.client)

    @classmethod
    def wrap(cls, core: CoreDatabase) -> Database:
        """The old API over an alex_db ``Database`` a service already has."""
        return cls(core=core)

    def execute_raw(self, sql: str, parameters: object = None) -> dict[str, Any]:
        deprecated("db.execute_raw()", "tx.session.execute(text(sql), {...})", depth=2)
        return self.client._response(self.client._run_sql(sql, parameters))

    def query_raw(self, sql: str, parameters: object = None) -> list[Row]:
        deprecated("db.query_raw()", "tx.session.execute(text(sql), {...}).mappings()", depth=2)
        return self.client._run_sql(sql, parameters).dicts()

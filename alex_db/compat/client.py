"""The old ``DataAPIClient`` (``src.client``): raw SQL with rds-data-style parameters.

It runs on either backend through alex_db's unit of work: outside a transaction each
call is one autocommit statement, as before; between ``begin_transaction()`` and
``commit_transaction()`` every call (this client's and the facade's) joins one real
transaction, which the old client never managed (its statements never carried the
transaction id). Results come back in the old shapes (``legacy_value``): numerics as
strings at full scale, ids and timestamps as strings, JSON parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    Column,
    CursorResult,
    Date,
    DateTime,
    Executable,
    Numeric,
    Table,
    Uuid,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy import insert as sa_insert
from sqlalchemy import text as sa_text
from sqlalchemy import update as sa_update

from alex_db.compat.config import configured
from alex_db.compat.deprecation import deprecated
from alex_db.errors import AlexDBError, InvalidInputError
from alex_db.models import Base
from alex_db.repositories.base import Repository, parse_uuid, shown

if TYPE_CHECKING:
    from alex_db.database import Database as CoreDatabase
    from alex_db.database import Transaction

__all__ = ["DataAPIClient", "legacy_value", "logger"]

logger = logging.getLogger("alex_db.compat.client")

Row = dict[str, Any]


# --- values: what the old client returned --------------------------------------------


def legacy_timestamp(value: dt.datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC without an offset, the fraction's trailing
    zeros dropped (and the dot when it is zero), as the Data API v2 prints timestamps."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    text = value.isoformat(sep=" ")
    return text.rstrip("0").rstrip(".") if "." in text else text


def legacy_value(value: object) -> Any:
    """A value as the old client returned it: JSON-serialisable with plain ``json.dumps``.

    Numerics are strings at the column's scale (``'5000.00'``; a zero at scale 8 is
    ``'0.00000000'``, the unconfirmed case of the spec, chosen as PostgreSQL prints it);
    uuids, dates and timestamps are strings; JSON is parsed (scalars too: the old client
    left jsonb scalars as JSON text, a bug not kept), and text is never parsed as JSON
    (the old client turned a display name ``"[1, 2]"`` into a list, also not kept)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return legacy_timestamp(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, memoryview):
        return bytes(value)
    return value


# Checked in order: bool before int (bool is an int).
_FIELD_MEMBERS: tuple[tuple[type, str], ...] = (
    (bool, "booleanValue"),
    (int, "longValue"),
    (float, "doubleValue"),
    (bytes, "blobValue"),
)


def _field(value: Any) -> dict[str, Any]:
    """A legacy value as an rds-data ``Field`` (for ``execute``'s raw response)."""
    if value is None:
        return {"isNull": True}
    for kind, member in _FIELD_MEMBERS:
        if isinstance(value, kind):
            return {member: value}
    if isinstance(value, dict | list):
        return {"stringValue": json.dumps(value, separators=(",", ":"), ensure_ascii=False)}
    return {"stringValue": str(value)}


# --- parameters: the rds-data list format ----------------------------------------------


def _timestamp_hint(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


_HINTS: dict[str, Any] = {
    "DECIMAL": Decimal,
    "DATE": dt.date.fromisoformat,
    "TIME": dt.time.fromisoformat,
    "TIMESTAMP": _timestamp_hint,
    "UUID": uuid.UUID,
    "JSON": str,  # JSON text, cast by the SQL that uses it
}
_MEMBERS: dict[str, type | tuple[type, ...]] = {
    "stringValue": str,
    "longValue": int,
    "doubleValue": (float, int),
    "booleanValue": bool,
    "blobValue": (bytes, bytearray),
}


def bind_values(parameters: object) -> dict[str, Any]:
    """Python values from rds-data parameters (``[{"name": .., "value": {member: v}}]``).
    A plain ``{name: value}`` dict is accepted too (the old client let botocore refuse it)."""
    if not parameters:
        return {}
    if isinstance(parameters, Mapping):
        return dict(parameters)
    if not isinstance(parameters, Sequence) or isinstance(parameters, str | bytes):
        raise InvalidInputError(
            f"parameters must be a list of rds-data parameters, got {type(parameters).__name__}"
        )
    values: dict[str, Any] = {}
    for parameter in parameters:
        name, value = _one_parameter(parameter)
        values[name] = value
    return values


def _one_parameter(parameter: object) -> tuple[str, Any]:
    form = "{'name': str, 'value': {'stringValue'|'longValue'|...: value}}"
    if not isinstance(parameter, Mapping):
        raise InvalidInputError(f"each parameter is {form}, got {shown(parameter)}")
    name, value = parameter.get("name"), parameter.get("value")
    if not isinstance(name, str) or not isinstance(value, Mapping) or len(value) != 1:
        raise InvalidInputError(f"each parameter is {form}, got {shown(parameter)}")
    ((member, raw),) = value.items()
    if member == "isNull":
        return name, None
    if member not in _MEMBERS:
        raise InvalidInputError(f"parameter {name}: {member} is not supported")
    if not isinstance(raw, _MEMBERS[member]) or (member != "booleanValue" and raw is True):
        raise InvalidInputError(f"parameter {name}: {member} cannot hold {shown(raw)}")
    hint = parameter.get("typeHint")
    if hint is None or member != "stringValue":
        return name, raw
    if hint not in _HINTS:
        raise InvalidInputError(f"parameter {name}: unknown typeHint {hint!r}")
    try:
        return name, _HINTS[hint](raw)
    except (ValueError, InvalidOperation):
        raise InvalidInputError(f"parameter {name}: {shown(raw)} is not a {hint}") from None


# --- SQL: rds-data's :name placeholders as SQLAlchemy text ------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def _quoted_end(sql: str, start: int) -> int:
    """The index after the quoted literal or identifier starting at ``start``."""
    quote, i = sql[start], start + 1
    while i < len(sql):
        if sql[i] == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _skipped_end(sql: str, i: int) -> int | None:
    """Where a literal, quoted identifier or comment starting at ``i`` ends (None: none)."""
    if sql[i] in "'\"":
        return _quoted_end(sql, i)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    if sql[i] == "$" and (tag := _DOLLAR_TAG.match(sql, i)):
        end = sql.find(tag.group(), tag.end())
        return len(sql) if end < 0 else end + len(tag.group())
    return None


def text_sql(sql: str, names: Collection[str], prefix: str = "") -> str:
    """rds-data SQL as SQLAlchemy ``text()``: ``:name`` (outside literals and comments) is
    a parameter, renamed ``:<prefix>name``; every other colon (``::`` casts, colons in
    literals) is escaped so SQLAlchemy leaves it alone."""
    out: list[str] = []
    missing: list[str] = []
    i = 0
    while i < len(sql):
        end = _skipped_end(sql, i)
        if end is not None:
            out.append(sql[i:end].replace(":", "\\:"))
            i = end
        elif sql.startswith("::", i):
            out.append("\\:\\:")
            i += 2
        elif sql[i] == ":" and (found := _NAME.match(sql, i + 1)):
            name = found.group()
            if name not in names:
                missing.append(name)
            out.append(f":{prefix}{name}")
            i = found.end()
        else:
            out.append("\\:" if sql[i] == ":" else sql[i])
            i += 1
    if missing:
        raise InvalidInputError(f"the SQL uses parameters with no value: :{', :'.join(missing)}")
    return "".join(out)


# --- writes through the old insert/update/delete: values as the old casts made them ---------


def table_named(name: object) -> Table:
    table = Base.metadata.tables.get(name) if isinstance(name, str) else None
    if table is None:
        known = ", ".join(sorted(Base.metadata.tables))
        raise InvalidInputError(f"unknown table {shown(name)} (the tables are {known})")
    return table


def round_numeric(value: object, column: Column[Any]) -> Decimal:
    """A number for a numeric column, rounded to its scale half away from zero, as
    PostgreSQL's assignment cast rounds (``1.005`` -> ``1.01`` at scale 2)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidInputError(f"{column.name} must be a number, got {shown(value)}")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidInputError(f"{column.name} must be a number, got {shown(value)}") from None
    if not number.is_finite():
        raise InvalidInputError(f"{column.name} must be a finite number, got {value}")
    scale = getattr(column.type, "scale", None)
    if scale is None:
        return number
    return number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def column_value(column: Column[Any], value: object) -> object:  # noqa: PLR0911 - per type
    """A Python value ready for ``column`` (what the old client's casts did in SQL)."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, Numeric):
        return round_numeric(value, column)
    if isinstance(kind, Uuid):
        return parse_uuid(value, column.name)  # type: ignore[arg-type]
    if isinstance(kind, JSON):
        if not isinstance(value, dict | list):
            raise InvalidInputError(
                f"{column.name} is JSON: it takes a dict or a list, got {type(value).__name__}"
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{column.name} is not JSON-serialisable: {exc}") from None
        return value
    if isinstance(kind, DateTime) and isinstance(value, str):
        return _timestamp_hint(value)
    if isinstance(kind, DateTime) and isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # the old columns held naive UTC
    if isinstance(kind, Date) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def column_values(table: Table, data: object) -> dict[str, object]:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"data must be a dict of columns, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in table.c)
    if unknown:
        raise InvalidInputError(f"{table.name} has no column {', '.join(unknown)}")
    return {name: column_value(table.c[name], value) for name, value in data.items()}


# --- running statements -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    columns: list[str]
    rows: list[tuple[Any, ...]] | None  # None: the statement returns no rows
    rowcount: int

    def dicts(self) -> list[Row]:
        """Rows as dicts of legacy values (a repeated column name: the later one wins)."""
        return [
            {c: legacy_value(v) for c, v in zip(self.columns, row, strict=True)}
            for row in self.rows or []
        ]


class Statements(Repository):
    """Statements of the compatibility layer, run where every facade call runs (the
    open transaction of this thread or task, else one autocommit statement)."""

    def run(
        self, statement: Executable, values: Mapping[str, Any], *, key: object = None
    ) -> Outcome:
        with self._write(key=key) as ex:
            result = cast(CursorResult[Any], ex.execute(statement, dict(values)))
            if result.returns_rows:
                return Outcome(
                    list(result.keys()), [tuple(r) for r in result.all()], result.rowcount
                )
            return Outcome([], None, result.rowcount)


class _RollbackRequestedError(Exception):
    """Thrown into a transaction block to roll it back."""


class DataAPIClient:
    """The old raw-SQL client, on alex_db (see the module docstring)."""

    def __init__(
        self,
        cluster_arn: str | None = None,
        secret_arn: str | None = None,
        database: str | None = None,
        region: str | None = None,
        *,
        core: CoreDatabase | None = None,
    ) -> None:
        self.cluster_arn, self.secret_arn = cluster_arn, secret_arn
        self.database: str | None = database
        self.region: str | None = region
        if core is None:
            configuration = configured(cluster_arn, secret_arn, database, region)
            core = configuration.core
            self.cluster_arn, self.secret_arn = configuration.cluster_arn, configuration.secret_arn
            self.database, self.region = configuration.database, configuration.region
        self.core = core  # the alex_db Database underneath: the way forward, call by call
        self._statements = Statements(core)
        self._local = threading.local()

    # --- raw SQL ---------------------------------------------------------------------

    def _run_sql(self, sql: str, parameters: object) -> Outcome:
        if not isinstance(sql, str):
            raise InvalidInputError(f"sql must be a string, got {type(sql).__name__}")
        values = bind_values(parameters)
        try:
            return self._statements.run(sa_text(text_sql(sql, values)), values)
        except AlexDBError as exc:  # logged as the old client logged, then raised
            logger.error("Database error: %s", exc)
            raise

    def execute(self, sql: str, parameters: object = None) -> dict[str, Any]:
        """One statement; the response in the rds-data shape (``records`` of Fields and
        ``columnMetadata`` for a statement that returns rows, ``numberOfRecordsUpdated``)."""
        deprecated("client.execute()", "tx.session.execute(text(sql), {...}) in db.transaction()")
        return self._response(self._run_sql(sql, parameters))

    @staticmethod
    def _response(outcome: Outcome) -> dict[str, Any]:
        if outcome.rows is None:
            return {"numberOfRecordsUpdated": max(outcome.rowcount, 0)}
        return {
            "columnMetadata": [{"name": c, "label": c} for c in outcome.columns],
            "records": [[_field(legacy_value(v)) for v in row] for row in outcome.rows],
            "numberOfRecordsUpdated": 0,
        }

    def query(self, sql: str, parameters: object = None) -> list[Row]:
        """The rows as dicts of legacy values (``[]`` for a statement without rows)."""
        deprecated("client.query()", "tx.session.execute(text(sql), {...}).mappings()")
        return self._run_sql(sql, parameters).dicts()

    def query_one(self, sql: str, parameters: object = None) -> Row | None:
        deprecated("client.query_one()", "tx.session.execute(text(sql), {...}).mappings().first()")
        rows = self._run_sql(sql, parameters).dicts()
        return rows[0] if rows else None

    # --- the old generic writes ----------------------------------------------------------

    def insert(self, table: str, data: Mapping[str, Any], returning: str | None = None) -> Any:
        """INSERT one row; the legacy value of the ``returning`` column, else None."""
        deprecated(f"client.insert({table!r}, ...)", "the repository's create method")
        return self._insert(table, data, returning)

    def _insert(self, table: str, data: Mapping[str, Any], returning: str | None) -> Any:
        target = table_named(table)
        values = column_values(target, data)
        if not values:
            raise InvalidInputError(f"insert into {target.name} needs at least one column")
        stmt = sa_insert(target).values(**values)
        if returning is not None:
            if returning not in target.c:
                raise InvalidInputError(f"{target.name} has no column {shown(returning)}")
            stmt = stmt.returning(target.c[returning])
        key = _primary_key_value(target, values)
        outcome = self._statements.run(stmt, {}, key=key)
        return legacy_value(outcome.rows[0][0]) if outcome.rows else None

    def update(
        self,
        table: str,
        data: Mapping[str, Any],
        where: str,
        where_params: Mapping[str, Any] | None = None,
    ) -> int:
        """UPDATE the rows ``where`` matches; the number of rows. An empty ``data`` changes
        nothing and returns how many rows match (the old client sent broken SQL)."""
        deprecated(f"client.update({table!r}, ...)", "the repository's update method")
        return self._update(table, data, where, where_params)

    def _update(
        self,
        table: str,
        data: Mapping[str, Any],
        where: str,
        where_params: Mapping[str, Any] | None,
    ) -> int:
        target = table_named(table)
        values = column_values(target, data)
        condition, binds = self._where(where, where_params)
        if not values:
            from sqlalchemy import func, select

            stmt: Executable = select(func.count()).select_from(target).where(condition)
            outcome = self._statements.run(stmt, binds)
            return int(outcome.rows[0][0]) if outcome.rows else 0
        stmt = sa_update(target).where(condition).values(**values)
        return max(self._statements.run(stmt, binds).rowcount, 0)

    def delete(self, table: str, where: str, where_params: Mapping[str, Any] | None = None) -> int:
        deprecated(f"client.delete({table!r}, ...)", "the repository's delete method")
        return self._delete(table, where, where_params)

    def _delete(self, table: str, where: str, where_params: Mapping[str, Any] | None) -> int:
        target = table_named(table)
        condition, binds = self._where(where, where_params)
        stmt = sa_delete(target).where(condition)
        return max(self._statements.run(stmt, binds, key=binds).rowcount, 0)

    @staticmethod
    def _where(where: str, params: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        # The where parameters get names of their own: a data column of the same name no
        # longer overrides them, or the reverse (the old client merged the two).
        if not isinstance(where, str) or not where.strip():
            raise InvalidInputError("where must be SQL text (without WHERE); use '1=1' for all")
        values = dict(params or {})
        return sa_text(text_sql(where, values, prefix="where_")), {
            f"where_{k}": v for k, v in values.items()
        }

    # --- transactions that contain their statements ------------------------------------

    def _stack(self) -> list[tuple[str, AbstractContextManager[Transaction]]]:
        stack: list[tuple[str, AbstractContextManager[Transaction]]] | None = getattr(
            self._local, "stack", None
        )
        if stack is None:
            stack = self._local.stack = []
        return stack

    def begin_transaction(self) -> str:
        """Open a transaction on this thread: every call until commit or rollback (this
        client's and the facade's) runs in it. Nested, it is a savepoint."""
        deprecated("client.begin_transaction()", "with db.transaction() as tx:")
        block = self.core.transaction()
        block.__enter__()
        transaction_id = str(uuid.uuid4())
        self._stack().append((transaction_id, block))
        return transaction_id

    def _pop(self, transaction_id: str) -> AbstractContextManager[Transaction]:
        stack = self._stack()
        if not stack or stack[-1][0] != transaction_id:
            open_ids = [t for t, _ in stack]
            raise InvalidInputError(
                f"transaction {shown(transaction_id)} is not the innermost open one on this "
                f"thread (open: {open_ids or 'none'})"
            )
        return stack.pop()[1]

    def commit_transaction(self, transaction_id: str) -> None:
        deprecated("client.commit_transaction()", "the end of a db.transaction() block")
        self._pop(transaction_id).__exit__(None, None, None)

    def rollback_transaction(self, transaction_id: str) -> None:
        deprecated("client.rollback_transaction()", "an exception out of db.transaction()")
        signal = _RollbackRequestedError()
        self._pop(transaction_id).__exit__(_RollbackRequestedError, signal, None)

    def open_transactions(self) -> Iterator[str]:
        """The ids of this thread's open transactions, innermost last."""
        return iter([t for t, _ in self._stack()])


def _primary_key_value(table: Table, values: Mapping[str, object]) -> object:
    keys = [values.get(c.name) for c in table.primary_key.columns]
    return keys[0] if len(keys) == 1 else None

"""What every repository shares: where a call runs, id parsing, paged reads, and
single-row updates and deletes.

Repositories speak Core (``insert``/``update``/``select`` on the tables, ``RETURNING``
the row) and build the ``Read`` models straight from the result rows: an ORM entity
in between would add a conversion and an identity map and change nothing.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Connection, Row, Select, Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alex_db.backend import Capabilities
from alex_db.errors import (
    AlreadyExistsError,
    ConflictError,
    DatabaseOperationError,
    InvalidIdError,
    InvalidInputError,
    NotFoundError,
    connection_lost,
    outcome_unknown,
    translate_error,
    translated,
    unencodable,
)
from alex_db.models import Base, User

if TYPE_CHECKING:
    from alex_db.database import Database, Work

T = TypeVar("T")
Repo = TypeVar("Repo", bound="Repository")
logger = logging.getLogger("alex_db")
R = TypeVar("R", bound=BaseModel)

# A connection of the facade's own, or the session of the caller's open transaction:
# both execute Core statements the same way.
Executor = Connection | Session


def connection_of(ex: Executor) -> Connection:
    """The Core connection under an executor (for driver-level work such as COPY)."""
    return ex if isinstance(ex, Connection) else ex.connection()


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (``__table__`` is typed as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def is_too_large(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None), "category", None) == "too_large"


def _validation_input(row: Row[Any] | Mapping[str, Any]) -> Mapping[str, Any]:
    """A row as pydantic validates it fastest: a plain dict by field name (from its
    RowMapping, pydantic reads each field through the Mapping protocol; measured: 10 rows
    of PositionWithInstrument took 54 µs that way, 34 µs as dicts). A mapping as it is."""
    return dict(zip(row._fields, row, strict=True)) if isinstance(row, Row) else row


def read_model(model: type[R], row: Row[Any] | Mapping[str, Any]) -> R:
    """The Read model of one result row, or of a mapping, by the model's field names."""
    return model.model_validate(_validation_input(row))


@functools.cache
def _list_of(model: type[R]) -> TypeAdapter[list[R]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def read_models(model: type[R], rows: Sequence[Row[Any] | Mapping[str, Any]]) -> list[R]:
    """The Read models of result rows (or mappings), validated in one call (measured:
    the 10 rows of an account's positions took 17 µs this way, 40 µs one ``read_model``
    at a time)."""
    return _list_of(model).validate_python([_validation_input(r) for r in rows])


def fetch_by_key(
    ex: Executor,
    stmt: Select[Any],
    key: Callable[[Row[Any]], ColumnElement[bool]],
    *,
    page_rows: int | None,
    limit: int | None = None,
    one_in_parts: Callable[[Select[Any]], Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Sequence[Row[Any]]:
    """Run an ordered SELECT (with ``params`` for its bound parameters). With
    ``page_rows`` (a backend whose responses are bounded) it goes by key in pages
    (``key(last_row)`` is the condition for the rows after the last one seen), halving
    the page when one does not fit; without, it is one statement. A single row that
    does not fit is read by ``one_in_parts`` (given the page's statement; None when
    there is no next row) if there is one."""
    # .all(), not list(result): iterating a result fetches row by row, one driver call
    # per row (measured: a portfolio's 1,000 positions took 5.30 ms iterated, 4.47 ms).
    if page_rows is None:
        return ex.execute(stmt if limit is None else stmt.limit(limit), params).all()
    rows: list[Row[Any]] = []
    size = page_rows if limit is None else min(page_rows, limit)
    while limit is None or len(rows) < limit:
        want = size if limit is None else min(size, limit - len(rows))
        page_stmt = stmt if not rows else stmt.where(key(rows[-1]))
        try:
            page = ex.execute(page_stmt.limit(want), params).all()
        except DBAPIError as exc:
            if not is_too_large(exc) or (want == 1 and one_in_parts is None):
                raise
            if want == 1:
                assert one_in_parts is not None
                page = [] if (row := one_in_parts(page_stmt)) is None else [row]
            else:
                size = max(1, want // 2)
                continue
        rows.extend(page)
        if len(page) < want:
            break
    return rows


def parse_uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidIdError(f"{what} must be a UUID, got {shown(value)}") from None


_CLERK_USER_ID = table_of(User).c.clerk_user_id
MAX_LIMIT = 2**31 - 1
"""The largest ``limit`` a read accepts (beyond it the backends would disagree)."""


def text_arg(value: object, what: str, column: ColumnElement[Any]) -> str:
    """A text argument compared with (or stored in) ``column``: a string, valid Unicode,
    no longer than the column holds. Checked before anything is sent, so both backends
    refuse the same arguments the same way."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise InvalidInputError(
            f"{what} is {len(value):,} characters; the column holds at most {limit}"
        )
    if "\x00" in value:
        raise InvalidInputError(f"{what} contains a NUL character, which text cannot hold")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"{what} is not valid Unicode text (it contains a lone surrogate)"
            ) from None
    return value


def count_arg(value: object, what: str, *, minimum: int = 1, maximum: int = MAX_LIMIT) -> int:
    """An integer argument such as a ``limit``, within ``minimum..maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidInputError(f"{what} must be from {minimum} to {maximum:,}, got {value}")
    return value


def user_key(value: object) -> str:
    """A ``clerk_user_id`` argument (any repository's), checked as its column would."""
    return text_arg(value, "clerk_user_id", _CLERK_USER_ID)


S = TypeVar("S", bound=BaseModel)


def schema_arg(value: object, schema: type[S], what: str) -> S:
    """A schema argument: an instance of ``schema`` (a dict is not validated silently)."""
    if not isinstance(value, schema):
        raise InvalidInputError(f"{what} must be a {schema.__name__}, got {type(value).__name__}")
    return value


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` short enough for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def validate(adapter: TypeAdapter[T], value: object, what: str) -> T:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise InvalidInputError.from_validation(what, exc) from None


def update_one(
    ex: Executor,
    table: Table,
    where: ColumnElement[bool],
    values: Mapping[str, Any],
    *,
    entity: str,
    key: object,
) -> Row[Any]:
    """UPDATE ... RETURNING the row, in one statement; not-found if nothing matched."""
    if not values:
        found = ex.execute(select(table).where(where)).first()
    else:
        found = ex.execute(update(table).where(where).values(**values).returning(*table.c)).first()
    if found is None:
        raise NotFoundError(entity, key)
    return found


def delete_one(
    ex: Executor, table: Table, where: ColumnElement[bool], entity: str, key: object
) -> None:
    stmt = delete(table).where(where).returning(*table.primary_key.columns)
    if ex.execute(stmt).first() is None:
        raise NotFoundError(entity, key)


def create_once(
    ex: Executor,
    table: Table,
    values: Mapping[str, Any],
    *,
    key: uuid.UUID,
    entity: str,
    same: Callable[[Row[Any]], bool],
    insert_values: Mapping[str, Any] | None = None,
) -> Row[Any]:
    """INSERT a row whose id the caller chose, idempotently: a retry with the same id
    and the same content (``same(existing)``) returns the row already there; the same
    id with other content is ``AlreadyExistsError``. One statement when the id is new."""
    stmt = (
        pg_insert(table)
        .values(**(insert_values or {}))
        .on_conflict_do_nothing(index_elements=list(table.primary_key.columns))
        .returning(*table.c)
    )
    for _ in range(3):  # bounded: another writer may keep deleting the row
        row = ex.execute(stmt, dict(values)).first()
        if row is not None:
            return row
        existing = ex.execute(select(table).where(table.c.id == key)).first()
        if existing is None:  # deleted between the two statements: insert it after all
            continue
        if not same(existing):
            raise AlreadyExistsError(entity, key)
        return existing
    raise ConflictError(f"{entity} {key} was deleted by another writer as it was created")


# A deadlock or serialization failure rolls the whole transaction back: a unit of work
# the facade owns can run again from the start. Bounded, with jittered backoff.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 5
_RETRY_BASE_DELAY_S = 0.02

P = ParamSpec("P")
T2 = TypeVar("T2")


def retried(method: Callable[Concatenate[Repo, P], T2]) -> Callable[Concatenate[Repo, P], T2]:
    """Retry a repository call that deadlocked or hit a serialization failure, but only
    when the call is its own unit of work: inside a caller's ``db.transaction()`` the
    error propagates (typed) and that transaction is rolled back, as the caller's
    other work in it is gone too."""

    def call(self: Repo, /, *args: P.args, **kwargs: P.kwargs) -> T2:
        db = self._db
        if db.current_transaction() is not None or db._connection is not None:
            return method(self, *args, **kwargs)
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except DatabaseOperationError as exc:
                if exc.sqlstate not in RETRYABLE_SQLSTATES or attempt == RETRY_ATTEMPTS:
                    raise
                delay = _RETRY_BASE_DELAY_S * 2**attempt * (0.5 + random.random())  # noqa: S311
                logger.info("%s: %s, retrying in %.3f s", method.__name__, exc.sqlstate, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    return functools.update_wrapper(call, method)


class Repository:
    """Base of the facade's repositories. Where a call runs is the ``Database``'s
    choice (:meth:`alex_db.Database._executor`): the open ``db.transaction()`` block
    of this thread or task if there is one, else a unit of work of its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def _capabilities(self) -> Capabilities:
        return self._db.capabilities

    def _read(self, *, key: object = None) -> AbstractContextManager[Executor]:
        """For reads: in autocommit outside a block (one round trip)."""
        return self._unit("read", key, deleting=False)

    def _write(
        self, *, key: object = None, deleting: bool = False
    ) -> AbstractContextManager[Executor]:
        """For a write that is one statement (plus, at most, reads that explain a
        failure): atomic on its own, so in autocommit outside a block. ``key`` names
        the row in the errors; ``deleting`` reads a foreign key error as "in use"."""
        return self._unit("write", key, deleting=deleting)

    def _atomic(self, *, key: object = None) -> AbstractContextManager[Executor]:
        """For work of several statements that must succeed or fail together."""
        return self._unit("atomic", key, deleting=False)

    @contextmanager
    def _unit(self, work: Work, key: object, *, deleting: bool) -> Iterator[Executor]:
        db = self._db
        if not db._schema_checked:
            db.check_schema()
        if work != "atomic" and db._connection is None and db.current_transaction() is None:
            # The common case, kept lean (point reads are measured against raw psycopg):
            # one statement in autocommit on a pooled connection of the same engine (its
            # events see every statement). The option is set per connection: an engine
            # with the option costs about 20 µs more per checkout in event dispatch.
            connected = False
            try:
                with db.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                    connected = True
                    yield conn
            except DBAPIError as exc:
                error = translate_error(exc, key=key, deleting=deleting)
                if work == "write" and connected and connection_lost(error):
                    # An autocommit write commits as it runs: once it may have been
                    # sent, a lost connection leaves its outcome unknown.
                    raise outcome_unknown(exc, "the statement") from exc
                raise error from exc
            except UnicodeEncodeError as exc:  # raised while encoding: nothing was sent
                raise unencodable(exc) from exc
            return
        # The inner translation turns a statement's error into alex_db's before the
        # unit of work sees it (an open block records what spoiled it); the outer one
        # covers connecting, BEGIN and COMMIT.
        with (
            translated(),
            self._db._executor(work) as ex,
            translated(key=key, deleting=deleting),
        ):
            yield ex

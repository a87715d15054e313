"""What every repository shares: units of work, id parsing, single-row updates and deletes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Select, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alex_db.errors import InvalidIdError, InvalidInputError, NotFoundError
from alex_db.models import Base

if TYPE_CHECKING:
    from alex_db.database import Database

M = TypeVar("M", bound=Base)
T = TypeVar("T")

# ORM-enabled UPDATE/DELETE here always target one row by key; there is nothing
# in the identity map to synchronise that RETURNING does not refresh.
NO_SYNC = {"synchronize_session": False}


# The Data API refuses SQL over 65,536 characters; a multi-row VALUES list renders
# each row's parameters into the SQL (about 35 characters a column with the casts).
DATA_API_MAX_SQL = 65_536
_CHARS_PER_VALUE = 48


def is_data_api(s: Session) -> bool:
    return s.get_bind().dialect.driver == "alexdataapi"


def rows_per_statement(s: Session, columns: int, default: int) -> int:
    """How many rows one multi-row INSERT may carry on this session's backend."""
    if is_data_api(s):
        return max(1, (DATA_API_MAX_SQL - 4096) // (_CHARS_PER_VALUE * columns))
    return default


def is_too_large(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None), "category", None) == "too_large"


def fetch_by_key(
    s: Session,
    stmt: Select[M],
    key: Callable[[M], ColumnElement[bool]],
    *,
    page_size: int,
    limit: int | None = None,
) -> list[M]:
    """Run an ordered SELECT of one entity. On the Data API it goes by key in pages
    (``key(last_row)`` is the condition for the rows after the last one seen) that fit
    in its 1 MiB response, halving the page when one does not; elsewhere it is one
    statement."""
    if not is_data_api(s):
        return list(s.scalars(stmt if limit is None else stmt.limit(limit)))
    rows: list[M] = []
    size = page_size if limit is None else min(page_size, limit)
    while limit is None or len(rows) < limit:
        want = size if limit is None else min(size, limit - len(rows))
        page_stmt = stmt if not rows else stmt.where(key(rows[-1]))
        try:
            page = list(s.scalars(page_stmt.limit(want)))
        except DBAPIError as exc:
            if not is_too_large(exc) or want == 1:
                raise
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
        raise InvalidIdError(f"{what} must be a UUID, got {value!r}") from None


def validate(adapter: TypeAdapter[T], value: object, what: str) -> T:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise InvalidInputError.from_validation(what, exc) from None


class Repository:
    """Base of the facade's repositories. A method given ``session=`` runs inside the
    caller's unit of work (and never commits); without one it opens its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def _transaction(self, session: Session | None) -> Iterator[Session]:
        """For work of several statements that must succeed or fail together."""
        if session is not None:
            yield session
            return
        with self._db.session() as own:
            yield own

    @contextmanager
    def _autocommit(self, session: Session | None) -> Iterator[Session]:
        """For reads, and for writes that are a single statement (plus, at most, reads
        that explain a failure): without a caller's session they run in autocommit."""
        if session is not None:
            yield session
            return
        with self._db.autocommit_session() as own:
            yield own

    @staticmethod
    def _update_one(
        s: Session,
        model: type[M],
        where: ColumnElement[bool],
        values: Mapping[str, Any],
        *,
        entity: str,
        key: object,
    ) -> M:
        """UPDATE ... RETURNING the row, in one statement; not-found if nothing matched."""
        if not values:
            found = s.scalars(select(model).where(where)).one_or_none()
        else:
            stmt = update(model).where(where).values(**values).returning(model)
            found = s.scalars(stmt, execution_options=NO_SYNC).one_or_none()
        if found is None:
            raise NotFoundError(entity, key)
        return found

    @staticmethod
    def _delete_one(
        s: Session, model: type[M], where: ColumnElement[bool], entity: str, key: object
    ) -> None:
        stmt = delete(model).where(where).returning(*model.__mapper__.primary_key)
        if s.execute(stmt, execution_options=NO_SYNC).first() is None:
            raise NotFoundError(entity, key)

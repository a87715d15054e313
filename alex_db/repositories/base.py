"""What every repository shares: units of work, id parsing, single-row updates and deletes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, delete, select, update
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
    def _writing(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self._db.session() as own:
            yield own

    @contextmanager
    def _reading(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self._db.read_session() as own:
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

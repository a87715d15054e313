"""positions: how much of each instrument an account holds."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from alex_db.errors import InvalidInputError, translated
from alex_db.models import Instrument, Position
from alex_db.repositories.base import Repository, parse_uuid
from alex_db.schemas import PositionCreate, PositionRead, PositionUpdate, PositionWithInstrument


class PositionRepository(Repository):
    def add_position(
        self,
        account_id: uuid.UUID | str,
        symbol: str,
        quantity: Decimal | str | int,
        *,
        as_of_date: dt.date | None = None,
        session: Session | None = None,
    ) -> PositionRead:
        """Hold ``quantity`` of ``symbol`` in the account: inserts the position, or
        replaces the quantity of the one the account already has (one statement)."""
        key = parse_uuid(account_id, "account id")
        try:
            position = PositionCreate(
                account_id=key, symbol=symbol, quantity=quantity, as_of_date=as_of_date
            )
        except ValidationError as exc:
            raise InvalidInputError.from_validation("position", exc) from None
        insert = pg_insert(Position).values(**position.model_dump(exclude_none=True))
        stmt = insert.on_conflict_do_update(
            constraint="uq_positions_account_id_symbol",
            set_={"quantity": insert.excluded.quantity, "as_of_date": insert.excluded.as_of_date},
        ).returning(Position)
        references = {"account": key, "instrument symbol": position.symbol}
        with translated(key=references), self._autocommit(session) as s:
            row = s.scalars(stmt, execution_options={"populate_existing": True}).one()
            return PositionRead.model_validate(row)

    def find_by_account(
        self, account_id: uuid.UUID | str, *, session: Session | None = None
    ) -> list[PositionWithInstrument]:
        """The account's positions by symbol, each with its instrument's name, type and
        current price (one statement)."""
        key = parse_uuid(account_id, "account id")
        stmt = (
            select(Position, Instrument.name, Instrument.instrument_type, Instrument.current_price)
            .join(Position.instrument)
            .where(Position.account_id == key)
            .order_by(Position.symbol)
        )
        with translated(), self._autocommit(session) as s:
            return [
                PositionWithInstrument(
                    **PositionRead.model_validate(position).model_dump(),
                    instrument_name=name,
                    instrument_type=kind,
                    current_price=price,
                )
                for position, name, kind, price in s.execute(stmt)
            ]

    def find_by_id(
        self, position_id: uuid.UUID | str, *, session: Session | None = None
    ) -> PositionRead | None:
        key = parse_uuid(position_id, "position id")
        with translated(), self._autocommit(session) as s:
            row = s.get(Position, key)
            return None if row is None else PositionRead.model_validate(row)

    def update(
        self,
        position_id: uuid.UUID | str,
        changes: PositionUpdate,
        *,
        session: Session | None = None,
    ) -> PositionRead:
        key = parse_uuid(position_id, "position id")
        with translated(key=key), self._autocommit(session) as s:
            row = self._update_one(
                s, Position, Position.id == key, changes.changes(), entity="position", key=key
            )
            return PositionRead.model_validate(row)

    def delete(self, position_id: uuid.UUID | str, *, session: Session | None = None) -> None:
        key = parse_uuid(position_id, "position id")
        with translated(key=key), self._autocommit(session) as s:
            self._delete_one(s, Position, Position.id == key, "position", key)

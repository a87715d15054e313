"""positions: how much of each instrument an account holds."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alex_db.errors import InvalidInputError
from alex_db.models import Instrument, Position
from alex_db.repositories.base import (
    Repository,
    delete_one,
    fetch_by_key,
    parse_uuid,
    read_model,
    read_models,
    schema_arg,
    table_of,
    update_one,
)
from alex_db.schemas import PositionCreate, PositionRead, PositionUpdate, PositionWithInstrument

POSITIONS = table_of(Position)
_INSTRUMENTS = table_of(Instrument)

_PROPOSED = pg_insert(POSITIONS)
_UPSERT = _PROPOSED.on_conflict_do_update(
    constraint="uq_positions_account_id_symbol",
    set_={"quantity": _PROPOSED.excluded.quantity, "as_of_date": _PROPOSED.excluded.as_of_date},
).returning(*POSITIONS.c)
_BY_ID = select(POSITIONS).where(POSITIONS.c.id == bindparam("key"))
_BY_ACCOUNT = (
    select(
        POSITIONS,
        _INSTRUMENTS.c.name.label("instrument_name"),
        _INSTRUMENTS.c.instrument_type,
        _INSTRUMENTS.c.current_price,
    )
    .join(_INSTRUMENTS, _INSTRUMENTS.c.symbol == POSITIONS.c.symbol)
    .where(POSITIONS.c.account_id == bindparam("account_id"))
    .order_by(POSITIONS.c.symbol)
)


class PositionRepository(Repository):
    def add_position(
        self,
        account_id: uuid.UUID | str,
        symbol: str,
        quantity: Decimal | str | int,
        *,
        as_of_date: dt.date | None = None,
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
        # No as_of_date: the column's default (today), for a new and a replaced quantity.
        values = position.model_dump(exclude_none=True)
        references = {"account": key, "instrument symbol": position.symbol}
        with self._write(key=references) as ex:
            row = ex.execute(_UPSERT, values).one()
        return read_model(PositionRead, row)

    def find_by_account(self, account_id: uuid.UUID | str) -> list[PositionWithInstrument]:
        """The account's positions by symbol, each with its instrument's name, type and
        current price (one statement; on the Data API one per 500 positions)."""
        key = parse_uuid(account_id, "account id")
        with self._read() as ex:
            found = fetch_by_key(
                ex,
                _BY_ACCOUNT,
                lambda last: POSITIONS.c.symbol > last.symbol,
                page_rows=self._capabilities.page_rows("positions"),
                params={"account_id": key},
            )
        return read_models(PositionWithInstrument, found)

    def find_by_id(self, position_id: uuid.UUID | str) -> PositionRead | None:
        key = parse_uuid(position_id, "position id")
        with self._read() as ex:
            row = ex.execute(_BY_ID, {"key": key}).first()
        return None if row is None else read_model(PositionRead, row)

    def update(self, position_id: uuid.UUID | str, changes: PositionUpdate) -> PositionRead:
        key = parse_uuid(position_id, "position id")
        changes = schema_arg(changes, PositionUpdate, "changes")
        with self._write(key=key) as ex:
            row = update_one(
                ex, POSITIONS, POSITIONS.c.id == key, changes.changes(), entity="position", key=key
            )
        return read_model(PositionRead, row)

    def delete(self, position_id: uuid.UUID | str) -> None:
        key = parse_uuid(position_id, "position id")
        with self._write(key=key) as ex:
            delete_one(ex, POSITIONS, POSITIONS.c.id == key, "position", key)

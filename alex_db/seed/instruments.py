"""The reference instruments: 22 ETFs kept in ``instruments.json`` beside this module.

The file is data, not code, so it ships in the wheel as package data and is
validated through :class:`~alex_db.schemas.InstrumentCreate` every time it is
loaded: a bad entry fails with an error naming its symbol instead of reaching
the database.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from alex_db.errors import InvalidInputError
from alex_db.schemas import InstrumentCreate

if TYPE_CHECKING:
    from alex_db.database import Database

SEED_FILE = "instruments.json"


def load_instruments(path: Path | None = None) -> list[InstrumentCreate]:
    """The reference instruments, validated (``path`` replaces the packaged file).

    Raises :class:`~alex_db.errors.InvalidInputError` naming the file and the
    offending symbol when the JSON is malformed, an entry fails the schema, or a
    symbol appears twice.
    """
    if path is None:
        where = f"alex_db/seed/{SEED_FILE}"
        text = resources.files("alex_db.seed").joinpath(SEED_FILE).read_text(encoding="utf-8")
    else:
        where = str(path)
        text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where} is not valid JSON: {exc}") from None
    entries = document.get("instruments") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidInputError(f'{where} must be an object with an "instruments" list')

    instruments: list[InstrumentCreate] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        symbol = entry.get("symbol") if isinstance(entry, dict) else None
        label = f"instrument {symbol or '(no symbol)'} (entry {number} of {where})"
        try:
            instrument = InstrumentCreate.model_validate(entry)
        except ValidationError as exc:
            raise InvalidInputError.from_validation(label, exc) from None
        if instrument.symbol in seen:
            raise InvalidInputError(f"{label}: symbol {instrument.symbol} appears twice")
        seen.add(instrument.symbol)
        instruments.append(instrument)
    return instruments


def seed(db: Database) -> int:
    """Insert or refresh the reference instruments; returns how many rows changed.

    Rows already identical to the file are left alone, so a second run returns 0
    and moves no ``updated_at``. Instruments not in the file are never touched.
    Inside ``db.transaction()`` it is part of that transaction.
    """
    return db.instruments.upsert_many(load_instruments())

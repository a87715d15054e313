"""One small keyword-only factory per table. They flush (to get ids) and never commit."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from alex_db import migrations, models
from alex_db.schemas import InstrumentCreate


def make_user(
    session: Session, *, clerk_user_id: str | None = None, **fields: object
) -> models.User:
    user = models.User(clerk_user_id=clerk_user_id or f"user_{uuid.uuid4().hex[:12]}", **fields)
    session.add(user)
    session.flush()
    return user


def make_instrument(
    session: Session,
    *,
    symbol: str = "SPY",
    name: str = "SPDR S&P 500 ETF Trust",
    instrument_type: str = "etf",
    current_price: Decimal | None = Decimal("450.1234"),
    **fields: object,
) -> models.Instrument:
    instrument = models.Instrument(
        symbol=symbol,
        name=name,
        instrument_type=instrument_type,
        current_price=current_price,
        **fields,
    )
    session.add(instrument)
    session.flush()
    return instrument


def make_account(
    session: Session,
    *,
    user: models.User,
    account_name: str = "401k",
    cash_balance: Decimal = Decimal("0"),
    **fields: object,
) -> models.Account:
    account = models.Account(
        clerk_user_id=user.clerk_user_id,
        account_name=account_name,
        cash_balance=cash_balance,
        **fields,
    )
    session.add(account)
    session.flush()
    return account


def make_position(
    session: Session,
    *,
    account: models.Account,
    instrument: models.Instrument,
    quantity: Decimal = Decimal("10"),
) -> models.Position:
    position = models.Position(account_id=account.id, symbol=instrument.symbol, quantity=quantity)
    session.add(position)
    session.flush()
    return position


def make_job(
    session: Session, *, user: models.User, job_type: str = "portfolio_analysis", **fields: object
) -> models.Job:
    job = models.Job(clerk_user_id=user.clerk_user_id, job_type=job_type, **fields)
    session.add(job)
    session.flush()
    return job


def instrument_create(symbol: str = "SPY", **overrides: object) -> InstrumentCreate:
    """A valid, fully classified InstrumentCreate for facade tests."""
    fields: dict[str, object] = {
        "symbol": symbol,
        "name": f"{symbol} Test Fund",
        "instrument_type": "etf",
        "current_price": Decimal("450.1234"),
        "allocation_regions": {"north_america": 60, "europe": 40},
        "allocation_sectors": {"technology": 30, "healthcare": 15, "financials": 55},
        "allocation_asset_class": {"equity": 100},
    }
    fields.update(overrides)
    return InstrumentCreate.model_validate(fields)


def scripts_with_revision(tmp_path: Path, revision: str) -> Path:
    """A copy of the Alembic scripts plus one extra revision on top of head.
    ``revision`` is the module's source, with ``{down}`` where the head goes."""
    scripts = tmp_path / "alembic"
    shutil.copytree(migrations.script_location(), scripts)
    source = textwrap.dedent(revision.format(down=migrations.head_revision()))
    (scripts / "versions" / "9999_extra.py").write_text(source)
    return scripts

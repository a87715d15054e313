"""The seven tables as declarative SQLAlchemy 2.0 models.

Every model lives here so that ``Base.metadata`` is complete for Alembic. The
conventions that matter elsewhere:

* one naming convention for every constraint and index, so upserts and the
  error translation in :mod:`alex_db.errors` can refer to constraints by name;
* invariants the database can hold are named CHECK constraints;
* ``updated_at`` is kept current by a trigger (created by the migration), so
  writers that bypass the ORM update it too; the ORM only reads it back;
* relationships are ``lazy="raise"``: every query states what it loads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from alex_db.vocabulary import INSTRUMENT_TYPES, JOB_STATUSES, JOB_TYPES

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

# Name of the trigger function the initial migration creates; kept here so tests
# and the migration agree on it.
UPDATED_AT_FUNCTION = "alex_set_updated_at"

# Column shapes used more than once. Precision and scale are part of the
# contract with the services (money to the cent, prices to 1/100 of a cent).
Money = Annotated[Decimal, mapped_column(Numeric(12, 2))]
Price = Annotated[Decimal, mapped_column(Numeric(12, 4))]
Quantity = Annotated[Decimal, mapped_column(Numeric(20, 8))]
Rate = Annotated[Decimal, mapped_column(Numeric(5, 4))]
Json = Annotated[dict[str, Any], mapped_column(JSONB)]
UuidPk = Annotated[
    uuid.UUID, mapped_column(Uuid, primary_key=True, server_default=func.gen_random_uuid())
]


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _json_object(column: str) -> str:
    return f"jsonb_typeof({column}) = 'object'"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: DateTime(timezone=True),
        dt.date: Date,
        str: Text,
    }


class CreatedAtMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The trigger sets it on every UPDATE; FetchedValue tells the ORM to read it back.
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), server_onupdate=FetchedValue()
    )


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "years_until_retirement BETWEEN 0 AND 100", name="years_until_retirement_range"
        ),
        CheckConstraint(
            "target_retirement_income >= 0", name="target_retirement_income_non_negative"
        ),
        CheckConstraint(_json_object("asset_class_targets"), name="asset_class_targets_object"),
        CheckConstraint(_json_object("region_targets"), name="region_targets_object"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    clerk_user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    years_until_retirement: Mapped[int | None] = mapped_column(Integer)
    target_retirement_income: Mapped[Money | None]
    asset_class_targets: Mapped[Json] = mapped_column(
        server_default=text("""'{"equity": 70, "fixed_income": 30}'::jsonb""")
    )
    region_targets: Mapped[Json] = mapped_column(
        server_default=text("""'{"north_america": 50, "international": 50}'::jsonb""")
    )

    accounts: Mapped[list[Account]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )
    jobs: Mapped[list[Job]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )


class Instrument(TimestampMixin, Base):
    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("current_price >= 0", name="current_price_non_negative"),
        CheckConstraint(_in("instrument_type", INSTRUMENT_TYPES), name="instrument_type_allowed"),
        CheckConstraint("symbol = upper(btrim(symbol)) AND symbol <> ''", name="symbol_format"),
        CheckConstraint(_json_object("allocation_regions"), name="allocation_regions_object"),
        CheckConstraint(_json_object("allocation_sectors"), name="allocation_sectors_object"),
        CheckConstraint(
            _json_object("allocation_asset_class"), name="allocation_asset_class_object"
        ),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    instrument_type: Mapped[str | None] = mapped_column(String(50))
    current_price: Mapped[Price | None]
    allocation_regions: Mapped[Json] = mapped_column(server_default=text("'{}'::jsonb"))
    allocation_sectors: Mapped[Json] = mapped_column(server_default=text("'{}'::jsonb"))
    allocation_asset_class: Mapped[Json] = mapped_column(server_default=text("'{}'::jsonb"))


class Account(TimestampMixin, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("cash_interest BETWEEN 0 AND 1", name="cash_interest_range"),
        CheckConstraint("btrim(account_name) <> ''", name="account_name_not_blank"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[UuidPk]
    clerk_user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.clerk_user_id", ondelete="CASCADE"), index=True
    )
    account_name: Mapped[str] = mapped_column(String(255))
    account_purpose: Mapped[str | None]
    cash_balance: Mapped[Money] = mapped_column(server_default=text("0"))
    cash_interest: Mapped[Rate] = mapped_column(server_default=text("0"))

    user: Mapped[User] = relationship(back_populates="accounts", lazy="raise")
    positions: Mapped[list[Position]] = relationship(
        back_populates="account", lazy="raise", passive_deletes=True
    )


class Position(TimestampMixin, Base):
    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("account_id", "symbol"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[UuidPk]
    # Looked up by account through uq_positions_account_id_symbol (account_id leads).
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(20), ForeignKey("instruments.symbol"), index=True)
    quantity: Mapped[Quantity]
    as_of_date: Mapped[dt.date] = mapped_column(server_default=func.current_date())

    account: Mapped[Account] = relationship(back_populates="positions", lazy="raise")
    instrument: Mapped[Instrument] = relationship(lazy="raise")


class PriceHistory(CreatedAtMixin, Base):
    __tablename__ = "price_history"
    __table_args__ = (
        CheckConstraint("close_price >= 0", name="close_price_non_negative"),
        CheckConstraint("volume >= 0", name="volume_non_negative"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    symbol: Mapped[str] = mapped_column(
        String(20), ForeignKey("instruments.symbol"), primary_key=True
    )
    date: Mapped[dt.date] = mapped_column(primary_key=True)
    close_price: Mapped[Price]
    volume: Mapped[int | None] = mapped_column(BigInteger)


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status_allowed"),
        CheckConstraint(_in("job_type", JOB_TYPES), name="job_type_allowed"),
        CheckConstraint(
            "completed_at IS NULL OR status IN ('completed', 'failed')",
            name="completed_at_only_when_finished",
        ),
        # "Jobs by user, newest first" is the services' main listing.
        Index(None, "clerk_user_id", "created_at"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[UuidPk]
    clerk_user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("users.clerk_user_id", ondelete="CASCADE")
    )
    job_type: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"), index=True)
    request_payload: Mapped[Json | None]
    report_payload: Mapped[Json | None]
    charts_payload: Mapped[Json | None]
    retirement_payload: Mapped[Json | None]
    summary_payload: Mapped[Json | None]
    error_message: Mapped[str | None]
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="jobs", lazy="raise")
    agent_logs: Mapped[list[AgentLog]] = relationship(
        back_populates="job", lazy="raise", passive_deletes=True
    )


class AgentLog(CreatedAtMixin, Base):
    __tablename__ = "agent_logs"
    __table_args__ = (
        CheckConstraint("input_tokens >= 0", name="input_tokens_non_negative"),
        CheckConstraint("output_tokens >= 0", name="output_tokens_non_negative"),
        CheckConstraint("execution_time_ms >= 0", name="execution_time_ms_non_negative"),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[UuidPk]
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    agent_name: Mapped[str] = mapped_column(String(100))
    langfuse_trace_id: Mapped[str | None] = mapped_column(String(255))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)

    job: Mapped[Job] = relationship(back_populates="agent_logs", lazy="raise")


TABLES_WITH_UPDATED_AT: tuple[str, ...] = tuple(
    t.name for t in Base.metadata.sorted_tables if "updated_at" in t.c
)

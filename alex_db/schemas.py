"""Pydantic v2 schemas: what may be written, and what reads give back.

For each table there is a ``Create`` schema (validates a new row and builds the
ORM object), an ``Update`` schema (every field optional; only the fields the
caller set are applied) and a ``Read`` schema (``from_attributes``, so
``XRead.model_validate(orm_obj)`` works). Every field carries a description:
the same classes serve as LLM tool and structured-output schemas.

Write schemas mirror the database's limits (lengths, numeric precision and
scale, ranges), so bad input fails here with a clear message before any SQL is
sent; the named CHECK constraints stay as the last line of defence.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from alex_db import models
from alex_db.vocabulary import (
    AssetClass,
    InstrumentType,
    JobStatus,
    JobType,
    Region,
    Sector,
)

# --- shared field types -------------------------------------------------------

ALLOCATION_TOLERANCE = 0.1
"""How far an allocation's sum may stray from 100 (rounding of published weights)."""

K = TypeVar("K", bound=str)


def _sums_to_100(value: dict[K, float]) -> dict[K, float]:
    total = sum(value.values())
    if abs(total - 100) > ALLOCATION_TOLERANCE:
        raise ValueError(
            f"allocation percentages must sum to 100 (±{ALLOCATION_TOLERANCE}), got {total:g}"
        )
    return value


def _empty_or_sums_to_100(value: dict[K, float]) -> dict[K, float]:
    # An empty allocation means "not classified yet" (the Tagger fills it in).
    return value if not value else _sums_to_100(value)


def _required(value: dict[K, float]) -> dict[K, float]:
    if not value:
        raise ValueError("allocation must not be empty")
    return _sums_to_100(value)


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

RegionAllocation = Annotated[dict[Region, Percent], AfterValidator(_empty_or_sums_to_100)]
SectorAllocation = Annotated[dict[Sector, Percent], AfterValidator(_empty_or_sums_to_100)]
AssetClassAllocation = Annotated[dict[AssetClass, Percent], AfterValidator(_empty_or_sums_to_100)]
RequiredRegionAllocation = Annotated[dict[Region, Percent], AfterValidator(_required)]
RequiredSectorAllocation = Annotated[dict[Sector, Percent], AfterValidator(_required)]
RequiredAssetClassAllocation = Annotated[dict[AssetClass, Percent], AfterValidator(_required)]


# Checked on the text as given, before upper-casing: str.upper() maps "ſ" to "S" and
# "ß" to "SS", so checking afterwards would store a symbol nobody typed.
_SYMBOL_TEXT = re.compile(r"[A-Za-z0-9^][A-Za-z0-9.\-=^]*")


def _normalise_symbol(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip(" ")  # surrounding spaces only: "SPY\n" is not a symbol
    if text and not _SYMBOL_TEXT.fullmatch(text):  # empty: the length check says so
        raise ValueError("a symbol is ASCII letters, digits, '.', '-', '=' and '^'")
    return text.upper()


Symbol = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Z0-9^][A-Z0-9.\-=^]*$"),
    # Runs before the constraints above: " spy " is stored as "SPY".
    BeforeValidator(_normalise_symbol),
    Field(description="Ticker symbol, upper case (e.g. SPY, BRK.B).", examples=["SPY"]),
]
ClerkUserId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    Field(description="The user's id from the Clerk authentication service."),
]
Name255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2, allow_inf_nan=False)]
NonNegativeMoney = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4)]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]
# Payload keys are stored exactly as given: the write schemas strip whitespace from
# their string fields, and without this a key "total " would become "total" (and
# merge with a "total" key, losing a value).
_RawKey = Annotated[str, StringConstraints(strip_whitespace=False)]
JsonObject = dict[_RawKey, Any]

MAX_JSON_DEPTH = 100
"""Deepest nesting of objects and arrays a payload may have (the top object is depth 1)."""
MAX_ERROR_MESSAGE_CHARS = 16_384
"""The longest ``error_message`` a failed job may carry (a summary, not a whole log)."""
ErrorMessage = Annotated[str, StringConstraints(max_length=MAX_ERROR_MESSAGE_CHARS)]

DEFAULT_ASSET_CLASS_TARGETS: dict[AssetClass, float] = {"equity": 70, "fixed_income": 30}
DEFAULT_REGION_TARGETS: dict[Region, float] = {"north_america": 50, "international": 50}


# --- base classes ---------------------------------------------------------------


class WriteSchema(BaseModel):
    """Strict input: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL: psycopg refuses it unsent, the Data API sends it
        # and the server refuses it. Refused here, the same on both backends.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text cannot contain the NUL character")
        return value


class UpdateSchema(WriteSchema):
    """Partial update: only the fields the caller set are applied.

    ``NOT_NULL`` lists fields whose column cannot be NULL: setting one of them
    to ``None`` explicitly is rejected here instead of by the database.
    """

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_columns(self) -> Self:
        nulls = sorted(f for f in self.model_fields_set & self.NOT_NULL if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"these fields cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the caller set, ready to apply to an ORM object or an UPDATE."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- users ------------------------------------------------------------------------


class UserFields(BaseModel):
    display_name: Name255 | None = Field(
        default=None, description="How the user is addressed in reports."
    )
    years_until_retirement: int | None = Field(
        default=None, ge=0, le=100, description="Years until the user plans to retire (0-100)."
    )
    target_retirement_income: NonNegativeMoney | None = Field(
        default=None, description="Desired yearly income in retirement, in US dollars."
    )


class UserCreate(UserFields, WriteSchema):
    clerk_user_id: ClerkUserId
    asset_class_targets: RequiredAssetClassAllocation = Field(
        default_factory=lambda: dict(DEFAULT_ASSET_CLASS_TARGETS),
        description="Target allocation by asset class, in percent summing to 100.",
    )
    region_targets: RequiredRegionAllocation = Field(
        default_factory=lambda: dict(DEFAULT_REGION_TARGETS),
        description="Target allocation by region, in percent summing to 100.",
    )

    def to_orm(self) -> models.User:
        return models.User(**self.model_dump())


class UserUpdate(UserFields, UpdateSchema):
    NOT_NULL = frozenset({"asset_class_targets", "region_targets"})

    asset_class_targets: RequiredAssetClassAllocation | None = Field(
        default=None, description="Target allocation by asset class, in percent summing to 100."
    )
    region_targets: RequiredRegionAllocation | None = Field(
        default=None, description="Target allocation by region, in percent summing to 100."
    )


class UserRead(UserFields, ReadSchema):
    clerk_user_id: str = Field(description="The user's id from the Clerk authentication service.")
    asset_class_targets: dict[AssetClass, float] = Field(
        description="Target allocation by asset class, in percent."
    )
    region_targets: dict[Region, float] = Field(
        description="Target allocation by region, in percent."
    )
    created_at: dt.datetime = Field(description="When the user was created (UTC).")
    updated_at: dt.datetime = Field(description="When the user was last changed (UTC).")


# --- instruments ------------------------------------------------------------------


class InstrumentFields(BaseModel):
    instrument_type: InstrumentType | None = Field(
        default=None, description="Kind of instrument (ETF, mutual fund, stock, ...)."
    )
    current_price: Price | None = Field(
        default=None, description="Latest price per unit in US dollars; null when unknown."
    )
    allocation_regions: RegionAllocation = Field(
        default_factory=dict,
        description="Exposure by region in percent summing to 100; empty if not yet classified.",
    )
    allocation_sectors: SectorAllocation = Field(
        default_factory=dict,
        description="Exposure by sector in percent summing to 100; empty if not yet classified.",
    )
    allocation_asset_class: AssetClassAllocation = Field(
        default_factory=dict,
        description="Exposure by asset class, percent summing to 100; empty if not yet classified.",
    )


class InstrumentCreate(InstrumentFields, WriteSchema):
    symbol: Symbol
    name: Name255 = Field(description="Full name of the instrument.")

    def to_orm(self) -> models.Instrument:
        return models.Instrument(**self.model_dump())


class InstrumentUpdate(UpdateSchema):
    NOT_NULL = frozenset(
        {"name", "allocation_regions", "allocation_sectors", "allocation_asset_class"}
    )

    name: Name255 | None = Field(default=None, description="Full name of the instrument.")
    instrument_type: InstrumentType | None = Field(
        default=None, description="Kind of instrument (ETF, mutual fund, stock, ...)."
    )
    current_price: Price | None = Field(
        default=None, description="Latest price per unit in US dollars."
    )
    allocation_regions: RegionAllocation | None = Field(
        default=None, description="Exposure by region in percent summing to 100."
    )
    allocation_sectors: SectorAllocation | None = Field(
        default=None, description="Exposure by sector in percent summing to 100."
    )
    allocation_asset_class: AssetClassAllocation | None = Field(
        default=None, description="Exposure by asset class in percent summing to 100."
    )


def classified(*allocations: Mapping[Any, object]) -> bool:
    """Whether an instrument is classified: none of its allocations is empty."""
    return all(allocations)


class InstrumentRead(ReadSchema):
    symbol: str = Field(description="Ticker symbol.")
    name: str = Field(description="Full name of the instrument.")
    instrument_type: InstrumentType | None = Field(description="Kind of instrument.")
    current_price: Decimal | None = Field(description="Latest price per unit in US dollars.")
    allocation_regions: dict[Region, float] = Field(description="Exposure by region, percent.")
    allocation_sectors: dict[Sector, float] = Field(description="Exposure by sector, percent.")
    allocation_asset_class: dict[AssetClass, float] = Field(
        description="Exposure by asset class, percent."
    )
    created_at: dt.datetime = Field(description="When the instrument was added (UTC).")
    updated_at: dt.datetime = Field(description="When the instrument was last changed (UTC).")

    @property
    def is_classified(self) -> bool:
        """All three allocations are present (the Planner sends the others to the Tagger)."""
        return classified(
            self.allocation_regions, self.allocation_sectors, self.allocation_asset_class
        )


# --- accounts ---------------------------------------------------------------------


class AccountCreate(WriteSchema):
    account_name: Name255 = Field(
        description="The account's name as the user knows it (e.g. '401k', 'Roth IRA')."
    )
    account_purpose: str | None = Field(
        default=None, max_length=10_000, description="What the account is for, in the user's words."
    )
    cash_balance: Money = Field(
        default=Decimal("0"), description="Uninvested cash in the account, in US dollars."
    )
    cash_interest: Rate = Field(
        default=Decimal("0"),
        description="Yearly interest paid on the cash, as a fraction (0.045 = 4.5%).",
    )

    def to_orm(self, clerk_user_id: str) -> models.Account:
        return models.Account(clerk_user_id=clerk_user_id, **self.model_dump())


class AccountUpdate(UpdateSchema):
    NOT_NULL = frozenset({"account_name", "cash_balance", "cash_interest"})

    account_name: Name255 | None = Field(default=None, description="The account's name.")
    account_purpose: str | None = Field(
        default=None, max_length=10_000, description="What the account is for."
    )
    cash_balance: Money | None = Field(default=None, description="Uninvested cash, US dollars.")
    cash_interest: Rate | None = Field(
        default=None, description="Yearly interest on the cash, as a fraction."
    )


class AccountRead(ReadSchema):
    id: uuid.UUID = Field(description="The account's id.")
    clerk_user_id: str = Field(description="The owner's Clerk user id.")
    account_name: str = Field(description="The account's name as the user knows it.")
    account_purpose: str | None = Field(description="What the account is for.")
    cash_balance: Decimal = Field(description="Uninvested cash in the account, in US dollars.")
    cash_interest: Decimal = Field(description="Yearly interest on the cash, as a fraction.")
    created_at: dt.datetime = Field(description="When the account was created (UTC).")
    updated_at: dt.datetime = Field(description="When the account was last changed (UTC).")


# --- positions --------------------------------------------------------------------


class PositionCreate(WriteSchema):
    account_id: uuid.UUID = Field(description="The account holding the position.")
    symbol: Symbol
    quantity: Quantity = Field(description="Units held; more than zero (up to 8 decimals).")
    as_of_date: dt.date | None = Field(
        default=None, description="Date the quantity was last confirmed; today if omitted."
    )

    def to_orm(self) -> models.Position:
        return models.Position(**self.model_dump(exclude_none=True))


class PositionUpdate(UpdateSchema):
    NOT_NULL = frozenset({"quantity", "as_of_date"})

    quantity: Quantity | None = Field(default=None, description="Units held; more than zero.")
    as_of_date: dt.date | None = Field(
        default=None, description="Date the quantity was last confirmed."
    )


class PositionRead(ReadSchema):
    id: uuid.UUID = Field(description="The position's id.")
    account_id: uuid.UUID = Field(description="The account holding the position.")
    symbol: str = Field(description="Ticker symbol of the instrument held.")
    quantity: Decimal = Field(description="Units held.")
    as_of_date: dt.date = Field(description="Date the quantity was last confirmed.")
    created_at: dt.datetime = Field(description="When the position was created (UTC).")
    updated_at: dt.datetime = Field(description="When the position was last changed (UTC).")


class PositionWithInstrument(PositionRead):
    """A position with what the front end shows beside it."""

    instrument_name: str = Field(description="Full name of the instrument held.")
    instrument_type: InstrumentType | None = Field(description="Kind of instrument held.")
    current_price: Decimal | None = Field(
        description="Latest price per unit in US dollars; null when unknown."
    )


# --- price history ----------------------------------------------------------------


class PriceHistoryCreate(WriteSchema):
    symbol: Symbol
    date: dt.date = Field(description="Trading day of the closing price.")
    close_price: Price = Field(description="Closing price per unit in US dollars.")
    volume: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Units traded that day, if known."
    )


class PriceHistoryUpdate(UpdateSchema):
    NOT_NULL = frozenset({"close_price"})

    close_price: Price | None = Field(default=None, description="Closing price, US dollars.")
    volume: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Units traded.")


class PriceHistoryRead(ReadSchema):
    symbol: str = Field(description="Ticker symbol.")
    date: dt.date = Field(description="Trading day.")
    close_price: Decimal = Field(description="Closing price per unit in US dollars.")
    volume: int | None = Field(description="Units traded that day, if known.")
    created_at: dt.datetime = Field(description="When the row was recorded (UTC).")


# --- jobs -------------------------------------------------------------------------


class JobCreate(WriteSchema):
    id: uuid.UUID | None = Field(
        default=None,
        description=(
            "A caller-chosen id, so that retrying a create whose outcome is unknown cannot "
            "make a second job: the same id with the same content returns the job."
        ),
    )
    clerk_user_id: ClerkUserId
    job_type: JobType = Field(description="Which analysis the job runs.")
    request_payload: JsonObject | None = Field(
        default=None, description="The request that started the job, as JSON."
    )

    def to_orm(self) -> models.Job:
        return models.Job(**self.model_dump(exclude_none=True))


class JobUpdate(UpdateSchema):
    """Payloads and the error message. Status changes go through the job transitions."""

    request_payload: JsonObject | None = Field(default=None, description="The request, as JSON.")
    report_payload: JsonObject | None = Field(default=None, description="The Reporter's output.")
    charts_payload: JsonObject | None = Field(default=None, description="The Charter's output.")
    retirement_payload: JsonObject | None = Field(
        default=None, description="The Retirement agent's output."
    )
    summary_payload: JsonObject | None = Field(default=None, description="The Planner's summary.")
    error_message: ErrorMessage | None = Field(default=None, description="Why the job failed.")


class JobRead(ReadSchema):
    id: uuid.UUID = Field(description="The job's id.")
    clerk_user_id: str = Field(description="The user the job runs for.")
    job_type: JobType = Field(description="Which analysis the job runs.")
    status: JobStatus = Field(description="pending, running, completed or failed.")
    request_payload: JsonObject | None = Field(description="The request that started the job.")
    report_payload: JsonObject | None = Field(description="The Reporter's output.")
    charts_payload: JsonObject | None = Field(description="The Charter's output.")
    retirement_payload: JsonObject | None = Field(description="The Retirement agent's output.")
    summary_payload: JsonObject | None = Field(description="The Planner's summary.")
    error_message: str | None = Field(description="Why the job failed, if it did.")
    created_at: dt.datetime = Field(description="When the job was created (UTC).")
    started_at: dt.datetime | None = Field(description="When a worker started it (UTC).")
    completed_at: dt.datetime | None = Field(description="When it completed or failed (UTC).")
    updated_at: dt.datetime = Field(description="When the job was last changed (UTC).")


# --- agent logs -------------------------------------------------------------------


class AgentLogCreate(WriteSchema):
    id: uuid.UUID | None = Field(
        default=None,
        description="A caller-chosen id, so that a retried record cannot log the run twice.",
    )
    job_id: uuid.UUID = Field(description="The job the agent worked on.")
    agent_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Which agent ran (planner, reporter, charter, retirement, tagger)."
    )
    langfuse_trace_id: str | None = Field(
        default=None, max_length=255, description="Trace id in Langfuse, for debugging."
    )
    input_tokens: Int32 | None = Field(default=None, description="Prompt tokens used.")
    output_tokens: Int32 | None = Field(default=None, description="Completion tokens used.")
    execution_time_ms: Int32 | None = Field(default=None, description="Wall time of the run, ms.")

    def to_orm(self) -> models.AgentLog:
        return models.AgentLog(**self.model_dump(exclude_none=True))


class AgentLogUpdate(UpdateSchema):
    langfuse_trace_id: str | None = Field(default=None, max_length=255, description="Trace id.")
    input_tokens: Int32 | None = Field(default=None, description="Prompt tokens used.")
    output_tokens: Int32 | None = Field(default=None, description="Completion tokens used.")
    execution_time_ms: Int32 | None = Field(default=None, description="Wall time of the run, ms.")


class AgentLogRead(ReadSchema):
    id: uuid.UUID = Field(description="The log entry's id.")
    job_id: uuid.UUID = Field(description="The job the agent worked on.")
    agent_name: str = Field(description="Which agent ran.")
    langfuse_trace_id: str | None = Field(description="Trace id in Langfuse.")
    input_tokens: int | None = Field(description="Prompt tokens used.")
    output_tokens: int | None = Field(description="Completion tokens used.")
    execution_time_ms: int | None = Field(description="Wall time of the run, ms.")
    created_at: dt.datetime = Field(description="When the entry was recorded (UTC).")


# --- the portfolio, as agents read it -----------------------------------------------


class PortfolioPosition(ReadSchema):
    id: uuid.UUID = Field(description="The position's id.")
    symbol: str = Field(description="Ticker symbol.")
    quantity: Decimal = Field(description="Units held.")
    as_of_date: dt.date = Field(description="Date the quantity was last confirmed.")
    instrument: InstrumentRead = Field(description="The instrument held.")
    value: Decimal | None = Field(
        description="quantity x current price in US dollars; null when the instrument is unpriced."
    )


class PortfolioAccount(ReadSchema):
    id: uuid.UUID = Field(description="The account's id.")
    account_name: str = Field(description="The account's name.")
    account_purpose: str | None = Field(description="What the account is for.")
    cash_balance: Decimal = Field(description="Uninvested cash, US dollars.")
    cash_interest: Decimal = Field(description="Yearly interest on the cash, as a fraction.")
    positions: list[PortfolioPosition] = Field(description="Holdings, ordered by symbol.")
    positions_value: Decimal = Field(description="Sum of the priced positions' values, US dollars.")
    total_value: Decimal = Field(description="Cash plus positions value, US dollars.")


class Portfolio(ReadSchema):
    """A user's whole portfolio, valued and broken down, as the agents consume it."""

    user: UserRead = Field(description="The portfolio's owner and their targets.")
    accounts: list[PortfolioAccount] = Field(description="The user's accounts, by name.")
    total_value: Decimal = Field(description="All cash plus all priced positions, US dollars.")
    allocation_asset_class: dict[str, Decimal] = Field(
        description="Share of total value by asset class in percent (cash counts as 'cash')."
    )
    allocation_regions: dict[str, Decimal] = Field(
        description="Share of priced positions' value by region, percent."
    )
    allocation_sectors: dict[str, Decimal] = Field(
        description="Share of priced positions' value by sector, percent."
    )
    unpriced_positions: list[str] = Field(
        description="Symbols held whose instrument has no current price (left out of values)."
    )
    instruments_missing_allocations: list[str] = Field(
        description="Symbols held whose instrument lacks an allocation (send these to the Tagger)."
    )

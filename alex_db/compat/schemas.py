"""The old package's Pydantic schemas (``src.schemas``), with their old rules.

They differ from :mod:`alex_db.schemas` on purpose, as the old ones did: unknown fields
are ignored, strings are not stripped, allocations sum to 100 within ±0.05 with no
per-value range. The compatibility layer converts them to alex_db's schemas before
anything is written, so alex_db's own rules (and the database's CHECK constraints)
still apply at the write; docs/migrating-from-src.md lists where they are stricter.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alex_db.vocabulary import (
    AccountType,
    AssetClass,
    InstrumentType,
    JobStatus,
    JobType,
    Region,
    Sector,
)

# The old names of alex_db's vocabularies (same values, same order).
RegionType = Region
AssetClassType = AssetClass
SectorType = Sector

__all__ = [
    "AccountCreate",
    "AccountType",
    "AllocationDict",
    "AssetClassAllocation",
    "AssetClassType",
    "InstrumentCreate",
    "InstrumentResponse",
    "InstrumentType",
    "JobCreate",
    "JobStatus",
    "JobType",
    "JobUpdate",
    "PortfolioAnalysis",
    "PositionCreate",
    "RebalanceRecommendation",
    "RegionAllocation",
    "RegionType",
    "SectorAllocation",
    "SectorType",
    "UserCreate",
]

LEGACY_TOLERANCE = 0.05
"""The old allocation rule: the values sum to 100 within this much."""

K = TypeVar("K", bound=str)


def _sums_to_100(value: dict[K, float], *, allow_empty: bool) -> dict[K, float]:
    if not value:
        if allow_empty:
            return value
        raise ValueError("Allocation cannot be empty")
    total = sum(value.values())
    # NaN compares false with everything: the old rule let it through, this one does not.
    if not abs(total - 100) <= LEGACY_TOLERANCE:
        raise ValueError(f"Allocations must sum to 100 (got {total})")
    return value


class LegacySchema(BaseModel):
    """Pydantic's defaults, as the old schemas had them: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


class AllocationDict(LegacySchema):
    """Had no fields in the old package (its validator never ran); kept for imports."""


class RegionAllocation(LegacySchema):
    allocations: dict[RegionType, float]

    @field_validator("allocations")
    @classmethod
    def _rule(cls, value: dict[Region, float]) -> dict[Region, float]:
        return _sums_to_100(value, allow_empty=True)


class AssetClassAllocation(LegacySchema):
    allocations: dict[AssetClassType, float]

    @field_validator("allocations")
    @classmethod
    def _rule(cls, value: dict[AssetClass, float]) -> dict[AssetClass, float]:
        return _sums_to_100(value, allow_empty=True)


class SectorAllocation(LegacySchema):
    allocations: dict[SectorType, float]

    @field_validator("allocations")
    @classmethod
    def _rule(cls, value: dict[Sector, float]) -> dict[Sector, float]:
        return _sums_to_100(value, allow_empty=True)


class InstrumentCreate(LegacySchema):
    symbol: str = Field(min_length=1, max_length=20, examples=["SPY"])
    name: str = Field(min_length=1, max_length=255)
    instrument_type: InstrumentType
    current_price: Decimal | None = Field(default=None, ge=0, le=999999)
    allocation_regions: dict[RegionType, float]
    allocation_sectors: dict[SectorType, float]
    allocation_asset_class: dict[AssetClassType, float]

    @field_validator("allocation_regions", "allocation_sectors", "allocation_asset_class")
    @classmethod
    def _rule(cls, value: dict[str, float]) -> dict[str, float]:
        return _sums_to_100(value, allow_empty=False)


class InstrumentResponse(InstrumentCreate):
    created_at: dt.datetime
    updated_at: dt.datetime


def _default_asset_classes() -> dict[AssetClass, float]:
    return {"equity": 70, "fixed_income": 30}


def _default_regions() -> dict[Region, float]:
    return {"north_america": 50, "international": 50}


class UserCreate(LegacySchema):
    clerk_user_id: str
    display_name: str | None = Field(default=None, max_length=255)
    years_until_retirement: int | None = Field(default=None, ge=0, le=100)
    target_retirement_income: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    asset_class_targets: dict[AssetClassType, float] | None = Field(
        default_factory=_default_asset_classes
    )
    region_targets: dict[RegionType, float] | None = Field(default_factory=_default_regions)


class AccountCreate(LegacySchema):
    account_name: str = Field(min_length=1, max_length=255)
    account_purpose: str | None = None
    cash_balance: Decimal = Field(default=Decimal("0"), ge=0, decimal_places=2)
    cash_interest: Decimal = Field(default=Decimal("0"), ge=0, le=1, decimal_places=4)


class PositionCreate(LegacySchema):
    account_id: str
    symbol: str = Field(min_length=1, max_length=20)
    quantity: Decimal = Field(gt=0, decimal_places=8)
    as_of_date: dt.date | None = Field(default_factory=dt.date.today)


class JobCreate(LegacySchema):
    clerk_user_id: str
    job_type: JobType
    request_payload: dict[str, Any] | None = None


class JobUpdate(LegacySchema):
    """Vestigial in the old package (no method took it, no ``result_payload`` column)."""

    status: JobStatus
    result_payload: dict[str, Any] | None = None
    error_message: str | None = None


class PortfolioAnalysis(LegacySchema):
    total_value: Decimal = Field(decimal_places=2)
    asset_allocation: dict[AssetClassType, float]
    region_allocation: dict[RegionType, float]
    sector_allocation: dict[SectorType, float]
    risk_score: int = Field(ge=1, le=10)
    recommendations: list[str]


class RebalanceRecommendation(LegacySchema):
    current_allocation: dict[str, float]
    target_allocation: dict[str, float]
    trades: list[dict[str, Any]]
    rationale: str

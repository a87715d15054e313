"""Structured-output schemas of the Alex agents.

The agents answer with these models (``model_json_schema()`` is the JSON Schema
given to the LLM; :func:`tool_definition` wraps it as a function-calling tool).
They are strict: unknown fields are rejected, vocabularies are enums, and
allocations must sum to 100, so a malformed answer fails validation instead of
reaching the database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alex_db.schemas import (
    Percent,
    RequiredAssetClassAllocation,
    RequiredRegionAllocation,
    RequiredSectorAllocation,
    Symbol,
)
from alex_db.vocabulary import AccountType, AssetClass, InstrumentType

RiskLevel = Literal["conservative", "moderate", "aggressive"]
TradeAction = Literal["buy", "sell"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class AgentSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InstrumentClassification(AgentSchema):
    """The Tagger's answer for one instrument: its type and three allocations."""

    symbol: Symbol
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="Full name of the instrument."
    )
    instrument_type: InstrumentType = Field(description="Kind of instrument.")
    allocation_asset_class: RequiredAssetClassAllocation = Field(
        description="Exposure by asset class, percent summing to 100."
    )
    allocation_regions: RequiredRegionAllocation = Field(
        description="Exposure by region, percent summing to 100."
    )
    allocation_sectors: RequiredSectorAllocation = Field(
        description="Exposure by sector, percent summing to 100."
    )


class AllocationGap(AgentSchema):
    asset_class: AssetClass = Field(description="The asset class compared.")
    current_percent: Percent = Field(description="Share of the portfolio today, percent.")
    target_percent: Percent = Field(description="The user's target share, percent.")


class PortfolioAnalysis(AgentSchema):
    """The Planner/Reporter's assessment of a whole portfolio."""

    summary: Text = Field(description="Two to four sentences a non-expert can follow.")
    total_value: Decimal = Field(
        ge=0, decimal_places=2, description="Total portfolio value in US dollars."
    )
    risk_level: RiskLevel = Field(description="Overall risk of the current allocation.")
    diversification_score: int = Field(
        ge=0, le=10, description="0 = a single holding, 10 = broadly diversified."
    )
    asset_allocation: RequiredAssetClassAllocation = Field(
        description="Current allocation by asset class, percent summing to 100."
    )
    gaps: list[AllocationGap] = Field(
        default_factory=list, description="Asset classes that are off the user's targets."
    )
    strengths: list[Text] = Field(default_factory=list, description="What is working well.")
    concerns: list[Text] = Field(default_factory=list, description="Risks and weaknesses.")
    recommendations: list[Text] = Field(
        default_factory=list, description="Concrete next steps, most important first."
    )


class Trade(AgentSchema):
    """One buy or sell the rebalancing proposes."""

    account_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="Name of the account to trade in, as the user knows it."
    )
    account_type: AccountType | None = Field(
        default=None, description="Tax treatment of that account, when known."
    )
    symbol: Symbol
    action: TradeAction = Field(description="buy or sell.")
    quantity: Decimal = Field(
        gt=0, max_digits=20, decimal_places=8, description="Units to trade (more than zero)."
    )
    estimated_value: Decimal = Field(
        ge=0, max_digits=14, decimal_places=2, description="Approximate trade value, US dollars."
    )
    rationale: Text = Field(description="Why this trade, in one sentence.")


class RebalanceRecommendation(AgentSchema):
    """A proposed set of trades that moves the portfolio towards its targets."""

    summary: Text = Field(description="What the rebalancing achieves, in plain words.")
    target_allocation: RequiredAssetClassAllocation = Field(
        description="Asset-class allocation after the trades, percent summing to 100."
    )
    trades: list[Trade] = Field(description="The trades, in the order to place them.")
    estimated_tax_impact: Decimal | None = Field(
        default=None, decimal_places=2, description="Expected realised gains tax, US dollars."
    )
    notes: list[Text] = Field(default_factory=list, description="Caveats the user should know.")


def tool_definition(model: type[BaseModel], name: str | None = None) -> dict[str, Any]:
    """A function-calling tool definition whose parameters are ``model``'s JSON Schema."""
    schema = model.model_json_schema()
    return {
        "name": name or model.__name__,
        "description": (model.__doc__ or model.__name__).strip(),
        "parameters": schema,
    }

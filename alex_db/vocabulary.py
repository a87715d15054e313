"""The domain vocabularies shared by the database, the schemas and the agents.

Each vocabulary is a ``Literal`` type (what Pydantic validates and what LLM tool
schemas list as ``enum``) plus a tuple of its values (what CHECK constraints and
loops use). The tuples are derived from the Literals, so there is one source.
"""

from __future__ import annotations

from typing import Literal, get_args

Region = Literal[
    "north_america",
    "europe",
    "asia",
    "latin_america",
    "africa",
    "middle_east",
    "oceania",
    "global",
    "international",
]
AssetClass = Literal["equity", "fixed_income", "real_estate", "commodities", "cash", "alternatives"]
Sector = Literal[
    "technology",
    "healthcare",
    "financials",
    "consumer_discretionary",
    "consumer_staples",
    "industrials",
    "energy",
    "materials",
    "utilities",
    "real_estate",
    "communication",
    "treasury",
    "corporate",
    "mortgage",
    "government_related",
    "commodities",
    "diversified",
    "other",
]
InstrumentType = Literal["etf", "mutual_fund", "stock", "bond", "bond_fund", "commodity", "reit"]
JobType = Literal[
    "portfolio_analysis",
    "rebalance_recommendation",
    "retirement_projection",
    "risk_assessment",
    "tax_optimization",
    "instrument_research",
]
JobStatus = Literal["pending", "running", "completed", "failed"]
# Exported for the agents' schemas; the accounts table keeps a free-text account_name.
AccountType = Literal[
    "401k", "roth_ira", "traditional_ira", "taxable", "529", "hsa", "pension", "other"
]

REGIONS: tuple[Region, ...] = get_args(Region)
ASSET_CLASSES: tuple[AssetClass, ...] = get_args(AssetClass)
SECTORS: tuple[Sector, ...] = get_args(Sector)
INSTRUMENT_TYPES: tuple[InstrumentType, ...] = get_args(InstrumentType)
JOB_TYPES: tuple[JobType, ...] = get_args(JobType)
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
ACCOUNT_TYPES: tuple[AccountType, ...] = get_args(AccountType)

"""The old ``src`` package's API on alex_db: a service switches by changing its imports
(``from src import Database`` -> ``from alex_db.compat import Database``), then moves
to alex_db's own calls one at a time. Every old call still works, returns what it
returned, and warns once per call site with its replacement
(docs/migrating-from-src.md; ``alex-db check-code PATH`` lists what is left).
"""

from alex_db.compat import client, models, schemas  # noqa: F401 - reachable as attributes
from alex_db.compat.client import DataAPIClient
from alex_db.compat.models import Database
from alex_db.compat.schemas import (
    AccountCreate,
    AccountType,
    AssetClassType,
    InstrumentCreate,
    InstrumentResponse,
    InstrumentType,
    JobCreate,
    JobStatus,
    JobType,
    JobUpdate,
    PortfolioAnalysis,
    PositionCreate,
    RebalanceRecommendation,
    RegionType,
    SectorType,
    UserCreate,
)

__all__ = [
    "AccountCreate",
    "AccountType",
    "AssetClassType",
    "DataAPIClient",
    "Database",
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
    "RegionType",
    "SectorType",
    "UserCreate",
]

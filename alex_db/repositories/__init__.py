"""The facade's repositories, one per table, plus the portfolio read model."""

from alex_db.repositories.accounts import AccountRepository
from alex_db.repositories.agent_logs import AgentLogRepository
from alex_db.repositories.instruments import InstrumentRepository
from alex_db.repositories.jobs import JobRepository
from alex_db.repositories.portfolio import PortfolioRepository
from alex_db.repositories.positions import PositionRepository
from alex_db.repositories.prices import PriceHistoryRepository
from alex_db.repositories.users import UserRepository

__all__ = [
    "AccountRepository",
    "AgentLogRepository",
    "InstrumentRepository",
    "JobRepository",
    "PortfolioRepository",
    "PositionRepository",
    "PriceHistoryRepository",
    "UserRepository",
]

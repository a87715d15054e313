"""Shared fixtures. The database fixtures come from alex_db's own pytest plugin
(``alex_db.testing.plugin``, loaded through its entry point), the same one the
Alex services use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from alex_db import Database
from alex_db.testing.plugin import Backend


@pytest.fixture
def session(alex_db_session: Session) -> Session:
    return alex_db_session


@pytest.fixture
def db(alex_db: Database) -> Database:
    """A Database inside the per-test transaction (rolled back afterwards)."""
    return alex_db


@pytest.fixture
def committed_db(alex_db_backend: Backend) -> Iterator[Database]:
    """A Database on its own engine whose writes really commit (for tests that need
    several connections, e.g. races between threads). Emptied afterwards."""
    engine = alex_db_backend.make_engine()
    database = Database.from_engine(engine, alex_db_backend.settings)
    try:
        yield database
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} CASCADE"))
        engine.dispose()


ALL_TABLES = (
    "agent_logs",
    "jobs",
    "price_history",
    "positions",
    "accounts",
    "instruments",
    "users",
)


def pytest_collection_finish(session: pytest.Session) -> None:
    # SQLAlchemy's and Alembic's dialect suites take about two minutes of mostly waiting:
    # when they are selected, they start now and run beside the rest of the suite.
    selected = {
        (item.callspec.params["suite"], item.callspec.params["target"])
        for item in session.items
        if isinstance(item, pytest.Function)
        and item.nodeid.startswith("tests/test_dialect_suites.py")
    }
    if selected:
        from tests.dialect_suites import start_in_background

        start_in_background(selected)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.dialect_suites import stop_background

    stop_background()

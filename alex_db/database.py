"""The ``Database`` facade: the unit of work and the repositories services call.

    from alex_db import Database

    db = Database()                       # settings from the environment / .env
    user = db.users.find_by_clerk_id("user_123")
    with db.session() as s:               # one transaction for several calls
        account = db.accounts.create_account("user_123", AccountCreate(...), session=s)
        db.positions.add_position(account.id, "SPY", Decimal("10"), session=s)

Each repository call without ``session=`` is its own unit of work: it commits on
success and writes nothing on failure. Reads, and writes that are one statement,
run in autocommit mode: one round trip, no BEGIN/COMMIT.
Methods return Pydantic ``Read`` models, built while the session is open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from alex_db.config import Settings
from alex_db.engine import make_engine, normalise_url, resolve_url
from alex_db.errors import translated
from alex_db.repositories import (
    AccountRepository,
    AgentLogRepository,
    InstrumentRepository,
    JobRepository,
    PortfolioRepository,
    PositionRepository,
    PriceHistoryRepository,
    UserRepository,
)


class Database:
    """Entry point to alex_db. Creating one is cheap: nothing connects until first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._url: URL | None = None
        self._engine: Engine | None = None
        self._owns_engine = True
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._writer: sessionmaker[Session] | None = None
        self._reader: sessionmaker[Session] | None = None

    @classmethod
    def from_url(cls, url: str | URL, settings: Settings | None = None) -> Database:
        db = cls(settings)
        db._url = normalise_url(url)
        return db

    @classmethod
    def from_engine(cls, engine: Engine, settings: Settings | None = None) -> Database:
        """Use an engine the caller owns (``dispose()`` leaves it alone)."""
        db = cls(settings)
        db._engine = engine
        db._owns_engine = False
        return db

    @classmethod
    def for_connection(cls, connection: Connection, settings: Settings | None = None) -> Database:
        """Run everything inside ``connection``'s transaction, one savepoint per unit of
        work (the test fixtures use this: code may commit, the test rolls it all back)."""
        db = cls(settings)
        db._connection = connection
        db._owns_engine = False
        return db

    # --- engine and sessions ----------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._connection is not None:
            return self._connection.engine
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._url = self._url or resolve_url(self.settings)
                    self._engine = make_engine(self._url, self.settings)
        return self._engine

    @property
    def url(self) -> URL:
        return self.engine.url

    def _sessionmakers(self) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        if self._writer is None or self._reader is None:
            if self._connection is not None:
                writer = sessionmaker(
                    bind=self._connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                )
                reader = writer
            else:
                engine = self.engine
                writer = sessionmaker(bind=engine, expire_on_commit=False)
                # The same engine and pool (so its events see every statement), its
                # connections switched to autocommit for the duration of a checkout.
                reader = sessionmaker(
                    bind=engine.execution_options(isolation_level="AUTOCOMMIT"),
                    expire_on_commit=False,
                )
            self._writer, self._reader = writer, reader
        return self._writer, self._reader

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The unit of work: commits on success, rolls back on any exception, always closes."""
        session = self._sessionmakers()[0]()
        try:
            yield session
            with translated():  # a failed commit is alex_db's error to explain
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def autocommit_session(self) -> Iterator[Session]:
        """A session whose every statement is its own transaction: for reads, and for
        writes that are a single statement (atomic on their own). No BEGIN or COMMIT
        round trips: on the Data API a read or such a write is one HTTP call.

        Inside a caller's connection (``for_connection``) it is a savepoint instead."""
        if self._connection is not None:
            with self.session() as session:
                yield session
            return
        session = self._sessionmakers()[1]()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections (only of an engine this Database created)."""
        if self._engine is not None and self._owns_engine:
            self._engine.dispose()

    @property
    def max_payload_bytes(self) -> int:
        return self.settings.max_payload_bytes

    # --- repositories -------------------------------------------------------------

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self)

    @cached_property
    def instruments(self) -> InstrumentRepository:
        return InstrumentRepository(self)

    @cached_property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self)

    @cached_property
    def positions(self) -> PositionRepository:
        return PositionRepository(self)

    @cached_property
    def price_history(self) -> PriceHistoryRepository:
        return PriceHistoryRepository(self)

    @cached_property
    def jobs(self) -> JobRepository:
        return JobRepository(self)

    @cached_property
    def agent_logs(self) -> AgentLogRepository:
        return AgentLogRepository(self)

    @cached_property
    def portfolio(self) -> PortfolioRepository:
        return PortfolioRepository(self)

"""The ``Database`` facade: the unit of work and the repositories services call.

    from alex_db import Database

    db = Database()                       # settings from the environment / .env
    user = db.users.find_by_clerk_id("user_123")
    with db.transaction() as tx:          # one transaction for several calls
        account = tx.accounts.create_account("user_123", AccountCreate(...))
        db.positions.add_position(account.id, "SPY", Decimal("10"))   # joins it too
        tx.session.execute(...)           # a service's own ORM or Core query, same transaction

Outside a block each repository call is its own unit of work: it commits on
success and writes nothing on failure. Reads, and writes that are one statement,
run in autocommit mode: one round trip, no BEGIN/COMMIT.

Inside a block every facade call on the same thread or asyncio task joins the
block's transaction, however it is written (``tx.users`` or ``db.users``):
nothing can commit on its own. The block commits when it ends normally and rolls
back when it ends with an exception; a nested block is a savepoint. Methods
return Pydantic ``Read`` models, safe to keep after the block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from contextvars import ContextVar
from functools import cached_property
from typing import Literal

from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from alex_db import migrations
from alex_db.backend import Capabilities, capabilities_for
from alex_db.config import Settings
from alex_db.engine import make_engine, normalise_url, resolve_url
from alex_db.errors import (
    InvalidInputError,
    InvalidReferenceError,
    InvalidStateTransitionError,
    NotFoundError,
    NotMigratedError,
    TransactionAbortedError,
    TransactionBusyError,
    connection_lost,
    outcome_unknown,
    translate_error,
    translated,
)
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
from alex_db.repositories.base import Executor

# The open unit of work of each Database, per thread and per asyncio task: a new
# thread starts with an empty context, and each task runs in a copy of its creator's.
# Keyed by id(Database) so that two Database objects never share a transaction.
_OPEN: ContextVar[Mapping[int, Transaction] | None] = ContextVar(
    "alex_db_open_transactions", default=None
)

# Errors a repository raises after a statement that changed nothing, or before any
# was sent (bad input; unknown symbols, which update_prices and record_prices find
# before they write): the transaction around it is still good. Anything else (the
# database refused a statement, or the call had already written when it failed)
# spoils the transaction level it ran in.
_HARMLESS = (NotFoundError, InvalidStateTransitionError, InvalidInputError, InvalidReferenceError)


def harmless(exc: BaseException) -> bool:
    """An error that leaves the transaction good: one of ``_HARMLESS`` raised by alex_db
    itself, not a translation of an error the database raised (the database then
    aborted the transaction, whatever the error's class)."""
    return isinstance(exc, _HARMLESS) and not isinstance(exc.__cause__, DBAPIError)


Work = Literal["read", "write", "atomic"]

_UNKNOWN = object()
_UNDEFINED_TABLE = "42P01"
_REVISIONS = text("SELECT version_num FROM alembic_version ORDER BY version_num")


def _commit(commit: Callable[[], object]) -> None:
    """COMMIT, saying only what is known when the connection is lost under it."""
    try:
        commit()
    except DBAPIError as exc:
        if connection_lost(translate_error(exc)):
            raise outcome_unknown(exc, "the COMMIT") from exc
        raise


class Transaction:
    """An open unit of work (what ``with db.transaction() as tx`` gives).

    ``tx.session`` is the SQLAlchemy ``Session`` of the transaction, for a
    service's own queries against :mod:`alex_db.models`; the repositories
    (``tx.users``, ``tx.jobs``, ...) are the ``Database``'s, which join the open
    transaction by themselves. A nested block has its own ``Transaction`` (a
    savepoint) over the same session.
    """

    def __init__(
        self,
        db: Database,
        session: Session,
        parent: Transaction | None = None,
        savepoint: SessionTransaction | None = None,
    ) -> None:
        self._db = db
        self.session = session
        self.parent = parent
        self._savepoint = savepoint
        self._failure: BaseException | None = None
        # The session is used by one thread at a time: a worker thread started inside
        # the block (asyncio.to_thread copies the context) joins it, and each call, and
        # each savepoint's start and end, holds the turn while it runs.
        self._turn: threading.RLock = parent._turn if parent is not None else threading.RLock()
        # The outermost block, and (on it) the innermost block open now: the level of
        # the savepoint stack that every statement lands in.
        self._root: Transaction = parent._root if parent is not None else self
        self._innermost: Transaction = self

    @property
    def nested(self) -> bool:
        """True for a savepoint inside another block."""
        return self.parent is not None

    def _spoil(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise TransactionAbortedError(self._failure)

    def _open_nested(self) -> Transaction:
        """A nested block in this one: a savepoint, the next level of the connection's
        stack (so this block must be the innermost open one)."""
        with self._turn:
            self._check_usable()
            self._check_innermost()
            with translated():
                savepoint = self.session.begin_nested()
            nested = Transaction(self._db, self.session, self, savepoint)
            self._root._innermost = nested
        return nested

    def _close(self) -> None:
        """After the commit or rollback: the session closed, or the level given back."""
        with self._turn:
            if self.parent is None:
                self.session.close()
            elif self._root._innermost is self:
                self._root._innermost = self.parent

    def _check_innermost(self) -> None:
        """Refuse work that would land inside a nested block another task or thread
        has open (call it holding the turn)."""
        if self._root._innermost is not self:
            raise TransactionBusyError(
                "another task or thread of this transaction has a nested block open: "
                "this would run inside it and go if it rolled back; nothing was sent"
            )

    @property
    def users(self) -> UserRepository:
        return self._db.users

    @property
    def instruments(self) -> InstrumentRepository:
        return self._db.instruments

    @property
    def accounts(self) -> AccountRepository:
        return self._db.accounts

    @property
    def positions(self) -> PositionRepository:
        return self._db.positions

    @property
    def price_history(self) -> PriceHistoryRepository:
        return self._db.price_history

    @property
    def jobs(self) -> JobRepository:
        return self._db.jobs

    @property
    def agent_logs(self) -> AgentLogRepository:
        return self._db.agent_logs

    @property
    def portfolio(self) -> PortfolioRepository:
        return self._db.portfolio


class Database:
    """Entry point to alex_db. Creating one is cheap: nothing connects until first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._url: URL | None = None
        self._engine: Engine | None = None
        self._owns_engine = True
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._sessions: sessionmaker[Session] | None = None
        self._schema_checked = False

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
        """Run everything inside ``connection``'s transaction, a savepoint per unit of
        work (the test fixtures use this: code may commit, the test rolls it all back)."""
        db = cls(settings)
        db._connection = connection
        db._owns_engine = False
        return db

    # --- engine -------------------------------------------------------------------------

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

    @cached_property
    def capabilities(self) -> Capabilities:
        """What the backend can do and its limits: the one place that knows which it is."""
        return capabilities_for(self.engine.dialect)

    @property
    def max_payload_bytes(self) -> int:
        return self.settings.max_payload_bytes

    def dispose(self) -> None:
        """Close pooled connections (only of an engine this Database created)."""
        if self._engine is not None and self._owns_engine:
            self._engine.dispose()

    # --- the schema ---------------------------------------------------------------------

    def check_schema(self) -> None:
        """Raise ``NotMigratedError`` unless the database is at this alex_db's head
        revision. Runs once, before the first facade call; on the Data API it reads the
        revision the engine's bootstrap call already fetched (no call of its own)."""
        if self._schema_checked:
            return
        head = migrations.head_revision()
        dialect = self.engine.dialect
        if self._connection is None and not hasattr(dialect, "schema_revisions"):
            with translated(), self.engine.connect():
                pass  # the engine's first connection reads the revisions (alex_db.engine)
        found = getattr(dialect, "schema_revisions", _UNKNOWN)
        if found != (head,):  # unknown, or maybe stale (migrated after the engine started)
            found = self._schema_revisions()
        if found is None:
            raise NotMigratedError(
                "the database is not migrated (it has no alex_db schema): run `alex-db migrate`",
                None,
                head,
            )
        if found != (head,):
            known = migrations.known_revisions()
            ahead = any(revision not in known for revision in found)
            what = (
                "which this alex_db's migrations do not know (did a newer alex_db migrate it?)"
                if ahead
                else f"the latest is {head}: run `alex-db migrate`"
            )
            raise NotMigratedError(
                f"the database is at revision {', '.join(found) or '(none)'}, {what}",
                found,
                head,
            )
        self._schema_checked = True

    def _schema_revisions(self) -> tuple[str, ...] | None:
        """The revisions in alembic_version (None: the table is missing)."""

        def read(conn: Connection) -> tuple[str, ...] | None:
            try:
                # In the caller's transaction (the fixtures'), a savepoint keeps a
                # missing table from aborting it.
                with conn.begin_nested() if conn.in_transaction() else nullcontext():
                    rows = conn.execute(_REVISIONS).scalars().all()
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE:
                    return None
                raise
            return tuple(str(r) for r in rows)

        with translated():
            if self._connection is not None:
                return read(self._connection)
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return read(conn)

    # --- the unit of work -------------------------------------------------------------

    def _session_factory(self) -> sessionmaker[Session]:
        if self._sessions is None:
            if self._connection is not None:
                # Commit releases a savepoint of the caller's transaction (the fixtures').
                self._sessions = sessionmaker(
                    bind=self._connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                )
            else:
                self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        return self._sessions

    def current_transaction(self) -> Transaction | None:
        """The innermost open block of this Database in this thread or task, if any."""
        open_ = _OPEN.get()
        return None if open_ is None else open_.get(id(self))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: every facade call inside joins it; commits when the block
        ends normally, rolls back on an exception. Nested, it is a savepoint that
        rolls back alone. A block whose transaction a failed call spoiled (and whose
        error the caller caught) rolls back and raises ``TransactionAbortedError``."""
        parent = self.current_transaction()
        if parent is None:
            self.check_schema()
            tx = Transaction(self, self._session_factory()())
        else:
            tx = parent._open_nested()
        token = _OPEN.set({**(_OPEN.get() or {}), id(self): tx})
        try:
            try:
                yield tx
            finally:
                _OPEN.reset(token)
            with tx._turn:
                tx._check_usable()
                tx._check_innermost()  # another's nested block is still open: not committed
                with translated():  # a failed commit is alex_db's error to explain
                    if tx._savepoint is not None:
                        tx._savepoint.commit()
                    else:
                        tx.session.flush()  # before the COMMIT: a failure here wrote nothing
                        _commit(tx.session.commit)
        except BaseException:
            # The caller's error is the one to see; a rollback that fails (the
            # connection is gone) leaves nothing committed either.
            with tx._turn, suppress(SQLAlchemyError):
                if tx._savepoint is None:
                    tx.session.rollback()
                elif tx._savepoint.is_active:
                    tx._savepoint.rollback()
            raise
        finally:
            tx._close()

    @contextmanager
    def _executor(self, work: Work) -> Iterator[Executor]:
        """Where a repository call runs when it is not a lone autocommit statement: the
        open block's session if there is one, a savepoint of the caller's connection
        (``for_connection``), or a transaction of its own ("atomic"). A "read" or
        "write" outside all of those runs in autocommit, in ``Repository._unit``."""
        tx = self.current_transaction()
        if tx is not None:
            with tx._turn:
                tx._check_usable()
                tx._check_innermost()
                session = tx.session
                try:
                    session.flush()  # the service's pending ORM changes are visible to it
                    yield session
                except BaseException as exc:
                    if not harmless(exc):
                        tx._spoil(exc)
                    raise
                if work != "read" and session.identity_map:
                    # The facade writes with Core: reload the service's ORM objects on access.
                    session.expire_all()
            return
        if self._connection is not None:
            with self._connection.begin_nested():
                yield self._connection
            return
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                yield conn
            except BaseException:
                with suppress(SQLAlchemyError):
                    transaction.rollback()
                raise
            _commit(transaction.commit)

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

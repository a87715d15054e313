"""PostgreSQL connections, transactions and statement execution with timeouts.

* Calls outside a transaction borrow an autocommit connection from a small
  pool; it is reset with ``DISCARD ALL`` before reuse, so ``SET``, temporary
  tables and prepared statements never leak from one call to the next.
* A transaction owns one connection from ``BeginTransaction`` until it ends.
  It is busy while a call runs on it: a second call fails at once with
  "Transaction is still running a query" (v2 behaviour).
* Each statement runs on a worker thread so that the HTTP call can answer
  after the statement timeout while the statement, with
  ``continueAfterTimeout``, keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from alex_db.testing.dataapi.config import EmulatorConfig
from alex_db.testing.dataapi.errors import ApiError, database_error
from alex_db.testing.dataapi.params import adapters
from alex_db.testing.dataapi.results import TypeCatalog

logger = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.Connection[Any]

# What PgJDBC (and so the service) runs with; results.py relies on these formats.
_SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres "
    "-c bytea_output=hex -c extra_float_digits=3"
)
_ENDED_MEMORY = 10_000  # ended transaction ids remembered for their error message

CAUSE_EXPIRED = "transaction may be expired"
CAUSE_ABORTED = "transaction has been aborted due to an error from a previous call"
CAUSE_TERMINATED = "one previous call resulted in a termination of your transaction"


def transaction_not_found(transaction_id: str, cause: str | None = None) -> ApiError:
    # v2 code per the model (TransactionNotFoundException, 404); the text is the
    # v1 one, "Transaction <id> is not found[: <cause>]" (docs/data-api.md §4.3).
    message = f"Transaction {transaction_id} is not found"
    return ApiError("TransactionNotFoundException", f"{message}: {cause}" if cause else message)


class Job:
    """One statement running on a worker thread, cancellable while it runs."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._running = False

    @contextmanager
    def statement(self) -> Iterator[None]:
        """Mark the statement phase: only then may ``cancel`` reach the server."""
        with self._lock:
            self._running = True
        try:
            yield
        finally:
            # Waits for a cancel request in flight, so it cannot hit the next query.
            with self._lock:
                self._running = False

    def cancel(self) -> None:
        with self._lock:
            if self._running:
                self.conn.cancel_safe()


class Transaction:
    def __init__(self, transaction_id: str, database: str, conn: Connection) -> None:
        self.id = transaction_id
        self.database = database
        self.conn = conn
        self.created = time.monotonic()
        self.last_used = self.created
        self.busy = threading.Lock()
        self.job: Job | None = None
        self.doomed = False  # past its lifetime while busy: end it when the call returns
        self.failure: str | None = None  # the error that put it in the aborted state


class EmulatorStartError(RuntimeError):
    """The emulator cannot serve: its database does not answer."""


class Backend:
    def __init__(
        self,
        database_url: str,
        config: EmulatorConfig,
        application_name: str,
        *,
        serve_any_database: bool = False,
    ) -> None:
        self.config = config
        self.serve_any_database = serve_any_database
        self.types = TypeCatalog()
        params = conninfo_to_dict(database_url)
        self.default_database = str(params.get("dbname") or params.get("user") or "postgres")
        options = (
            f"{params['options']} {_SESSION_OPTIONS}" if params.get("options") else _SESSION_OPTIONS
        )
        self._conninfo = make_conninfo(
            database_url,
            options=options,
            application_name=application_name,
            client_encoding="UTF8",
        )
        self._adapters = adapters()
        self._lock = threading.Lock()
        self._idle: dict[str, list[Connection]] = {}
        self._live: set[Connection] = set()
        self._jobs: set[Job] = set()
        self._transactions: dict[str, Transaction] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()
        self._closing = False
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="dataapi-reaper", daemon=True)
        self._reaper.start()

    # -- connections -------------------------------------------------------

    def check(self) -> None:
        """Fail now, with PostgreSQL's reason, if the database cannot be reached."""
        try:
            conn = psycopg.connect(
                make_conninfo(self._conninfo, dbname=self.default_database), connect_timeout=10
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise EmulatorStartError(
                f"the emulator's database {self.default_database!r} cannot be reached: {reason}"
            ) from None
        conn.close()

    def _connect(self, database: str) -> Connection:
        if database != self.default_database and not self.serve_any_database:
            # The emulated cluster holds one database; others do not exist in it.
            raise ApiError(
                "DatabaseErrorException",
                f'FATAL: database "{database}" does not exist; SQLState: 3D000',
            )
        try:
            conn = psycopg.connect(
                make_conninfo(self._conninfo, dbname=database),
                autocommit=True,
                prepare_threshold=None,  # DISCARD ALL drops prepared statements
                context=self._adapters,
                cursor_factory=psycopg.RawCursor,  # $n placeholders, no % escaping
            )
        except psycopg.OperationalError as exc:
            if database != self.default_database and not self._database_exists(database):
                # Unconfirmed how the service words this; PostgreSQL's FATAL in the v2 layout.
                raise ApiError(
                    "DatabaseErrorException",
                    f'FATAL: database "{database}" does not exist; SQLState: 3D000',
                ) from exc
            logger.warning("cannot connect to PostgreSQL: %s", exc)
            raise ApiError("DatabaseUnavailableException") from exc
        with self._lock:
            self._live.add(conn)
        return conn

    def _database_exists(self, database: str) -> bool:
        try:
            conn = self.acquire(self.default_database)
        except ApiError:
            return False
        try:
            row = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = $1", [database]
            ).fetchone()
            return row is not None
        finally:
            self.release(conn, self.default_database)

    def acquire(self, database: str) -> Connection:
        """An autocommit connection with a clean session."""
        with self._lock:
            if self._closing:
                raise ApiError("ServiceUnavailableError")
            idle = self._idle.get(database)
            if idle:
                return idle.pop()
        return self._connect(database)

    def release(self, conn: Connection, database: str) -> None:
        """Reset the session and keep the connection for reuse (or close it)."""
        try:
            if not conn.closed and not conn.broken:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                conn.execute("DISCARD ALL")
                with self._lock:
                    idle = self._idle.setdefault(database, [])
                    if not self._closing and len(idle) < self.config.idle_connections:
                        idle.append(conn)
                        return
        except psycopg.Error as exc:
            logger.info("dropping a connection that failed to reset: %s", exc)
        self._close(conn)

    def _close(self, conn: Connection) -> None:
        with self._lock:
            self._live.discard(conn)
        with contextlib.suppress(psycopg.Error):
            conn.close()

    # -- statements ----------------------------------------------------------

    def run(
        self,
        conn: Connection,
        work: Callable[[Job], T],
        release: Callable[[BaseException | None], None],
        *,
        keep_running: bool = False,
        transaction: Transaction | None = None,
    ) -> T:
        """Run ``work`` on a worker thread within the statement timeout.

        ``release`` runs on the worker when ``work`` is over, whether or not
        the caller is still waiting (with ``keep_running`` it may not be).
        """
        job = Job(conn)

        def target() -> None:
            try:
                job.result = work(job)
            except BaseException as exc:
                job.error = exc
            finally:
                try:
                    release(job.error)
                finally:
                    with self._lock:
                        self._jobs.discard(job)
                    job.done.set()

        with self._lock:
            closing = self._closing
            if not closing:
                self._jobs.add(job)
        if closing:
            release(None)
            raise ApiError("ServiceUnavailableError")
        if transaction is not None:
            transaction.job = job
        threading.Thread(target=target, name="dataapi-statement", daemon=True).start()
        timeout = self.config.statement_timeout
        if not job.done.wait(timeout):
            pid = conn.info.backend_pid
            if keep_running:
                raise _timeout(timeout, pid, running=True)
            job.cancel()
            job.done.wait()
            error = job.error
            if isinstance(error, pg_errors.QueryCanceled) or isinstance(
                error and error.__cause__, pg_errors.QueryCanceled
            ):
                raise _timeout(timeout, pid, running=False) from error
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    # -- transactions --------------------------------------------------------

    def begin(self, database: str) -> str:
        conn = self.acquire(database)
        try:
            conn.execute("BEGIN")
        except psycopg.Error as exc:
            self.release(conn, database)
            raise database_error(exc, include_detail=self.config.include_error_detail) from exc
        # Opaque, base64-like and well under the 192-character limit of the model.
        transaction_id = secrets.token_urlsafe(48)
        with self._lock:
            self._transactions[transaction_id] = Transaction(transaction_id, database, conn)
        return transaction_id

    def lease(self, transaction_id: str) -> Transaction:
        """The transaction, marked busy for this call."""
        with self._lock:
            txn = self._transactions.get(transaction_id)
            if txn is None:
                raise transaction_not_found(transaction_id, self._ended.get(transaction_id))
        if not txn.busy.acquire(blocking=False):
            raise ApiError("DatabaseErrorException", "Transaction is still running a query")
        now = time.monotonic()
        if self._expired(txn, now):
            self._end(txn, CAUSE_EXPIRED)
            txn.busy.release()
            raise transaction_not_found(transaction_id, CAUSE_EXPIRED)
        txn.last_used = now
        return txn

    def unlease(self, txn: Transaction, error: BaseException | None) -> None:
        """The call on ``txn`` is over; apply the post-error policy."""
        txn.job = None
        txn.last_used = time.monotonic()
        try:
            if txn.conn.broken or txn.conn.closed:
                self._end(txn, CAUSE_TERMINATED)
            elif txn.doomed:
                self._end(txn, CAUSE_EXPIRED)
            elif error is not None and self.config.post_error_policy == "v1":
                self._end(txn, CAUSE_ABORTED)
            elif (
                isinstance(error, ApiError)
                and txn.failure is None
                and txn.conn.info.transaction_status == TransactionStatus.INERROR
            ):
                txn.failure = error.message.rsplit("; SQLState: ", 1)[0]
        finally:
            txn.busy.release()

    def finish(self, transaction_id: str, *, commit: bool) -> None:
        """CommitTransaction / RollbackTransaction."""
        txn = self.lease(transaction_id)
        try:
            conn = txn.conn
            failed = conn.info.transaction_status == TransactionStatus.INERROR
            try:
                conn.execute("ROLLBACK" if failed or not commit else "COMMIT")
            except psycopg.Error as exc:  # e.g. a deferred constraint or serialization failure
                raise database_error(exc, include_detail=self.config.include_error_detail) from exc
            finally:
                self._end(txn, None, rollback=False)
            if failed and commit:
                # PostgreSQL answers COMMIT of an aborted transaction with a silent
                # ROLLBACK; PgJDBC turns that into an error, and so (unconfirmed) does the service.
                cause = txn.failure or "ERROR: current transaction is aborted"
                raise ApiError(
                    "DatabaseErrorException",
                    "ERROR: The database returned ROLLBACK, so the transaction cannot be "
                    f"committed. Transaction failure cause is <<{cause}>>; SQLState: 25P02",
                )
        finally:
            txn.busy.release()

    def _end(self, txn: Transaction, cause: str | None, *, rollback: bool = True) -> None:
        """Forget ``txn`` (its caller holds ``busy``) and give its connection back."""
        with self._lock:
            if self._transactions.pop(txn.id, None) is None:
                return
            self._ended[txn.id] = cause or ""
            while len(self._ended) > _ENDED_MEMORY:
                self._ended.popitem(last=False)
        if rollback and not txn.conn.closed and not txn.conn.broken:
            try:
                txn.conn.execute("ROLLBACK")
            except psycopg.Error as exc:
                logger.info("rollback of transaction %s failed: %s", txn.id, exc)
        self.release(txn.conn, txn.database)

    def _expired(self, txn: Transaction, now: float) -> bool:
        return (
            now - txn.last_used > self.config.transaction_idle_timeout
            or now - txn.created > self.config.transaction_max_lifetime
        )

    def _reap(self) -> None:
        """Roll back transactions idle too long or older than their lifetime."""
        interval = max(0.02, min(1.0, self.config.transaction_idle_timeout / 4))
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._lock:
                candidates = [t for t in self._transactions.values() if self._expired(t, now)]
            for txn in candidates:
                if txn.busy.acquire(blocking=False):
                    try:
                        if self._expired(txn, time.monotonic()):
                            self._end(txn, CAUSE_EXPIRED)
                    finally:
                        txn.busy.release()
                elif now - txn.created > self.config.transaction_max_lifetime:
                    txn.doomed = True  # ended by unlease once the running call returns
                    job = txn.job
                    if job is not None:
                        job.cancel()

    @property
    def open_transactions(self) -> int:
        with self._lock:
            return len(self._transactions)

    # -- shutdown ------------------------------------------------------------

    def close(self, wait: float = 10.0) -> None:
        """Cancel running statements, roll back open transactions, close every connection."""
        self._stop.set()
        with self._lock:
            self._closing = True
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + wait
        for job in jobs:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            transactions = list(self._transactions.values())
        for txn in transactions:
            if txn.busy.acquire(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    self._end(txn, CAUSE_TERMINATED)
                finally:
                    txn.busy.release()
        with self._lock:
            remaining = list(self._live)
            self._idle.clear()
        for conn in remaining:  # a statement that ignored its cancel: closing ends its transaction
            self._close(conn)
        self._reaper.join(timeout=wait)


def _timeout(seconds: float, backend_pid: int, *, running: bool) -> ApiError:
    # The service's text is not documented (docs/data-api.md §5.3); the code and the
    # dbConnectionId member are the model's.
    fate = "keeps running (continueAfterTimeout)" if running else "was cancelled"
    return ApiError(
        "StatementTimeoutException",
        f"The statement didn't finish within {seconds:g} seconds and {fate}",
        dbConnectionId=backend_pid,
    )

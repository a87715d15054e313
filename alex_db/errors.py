"""Typed errors. Everything alex_db raises on purpose derives from :class:`AlexDBError`.

Database integrity errors are translated by the *name* of the constraint that
fired (the naming convention in :mod:`alex_db.models` makes every name known),
never by matching message text. A backend reports that name its own way:
psycopg in ``diag.constraint_name``; the Data API backend extracts it in its
driver layer and exposes the same attributes (see :func:`integrity_details`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc


class AlexDBError(Exception):
    """Base class of every error alex_db raises on purpose."""


class InvalidInputError(AlexDBError, ValueError):
    """An argument failed validation; the call wrote nothing. Raised before anything is
    sent, except for the subclasses that say the database or the service refused it."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

    @classmethod
    def from_validation(cls, what: str, exc: ValidationError) -> InvalidInputError:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in exc.errors()
        )
        return cls(f"invalid {what}: {details}", [dict(e) for e in exc.errors()])


class InvalidIdError(InvalidInputError):
    """An id that is not a valid UUID."""


class InvalidValueError(InvalidInputError):
    """The database refused a value (SQLSTATE class 22: out of range, too long, not
    valid for its type). The statement wrote nothing; an open transaction is spoiled."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class RequestTooLargeError(InvalidInputError):
    """The Data API refused a request over its size limit, unread: nothing ran."""


class NotFoundError(AlexDBError, LookupError):
    """The row to update, delete or transition does not exist."""

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!s} not found")
        self.entity = entity
        self.key = key


class ConflictError(AlexDBError):
    """The write conflicts with rows already in the database."""


class AlreadyExistsError(ConflictError):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!s} already exists")
        self.entity = entity
        self.key = key


class InUseError(ConflictError):
    """The row is still referenced (for example an instrument that positions hold)."""

    def __init__(self, entity: str, key: object, referenced_by: str) -> None:
        super().__init__(f"{entity} {key!s} is still referenced by {referenced_by}")
        self.entity = entity
        self.key = key
        self.referenced_by = referenced_by


class InvalidReferenceError(AlexDBError):
    """A reference to a user, account, instrument or job that does not exist."""

    def __init__(self, entity: str, keys: object) -> None:
        super().__init__(f"unknown {entity}: {keys!s}")
        self.entity = entity
        self.keys = keys


class ConstraintViolationError(AlexDBError):
    """A CHECK or NOT NULL constraint rejected a value that got past the schemas."""

    def __init__(self, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


class InvalidStateTransitionError(AlexDBError):
    """A job transition the status machine does not allow; nothing was changed."""

    def __init__(self, job_id: object, current: str, requested: str) -> None:
        super().__init__(f"job {job_id!s} is {current}; it cannot become {requested}")
        self.job_id = job_id
        self.current = current
        self.requested = requested


class PayloadTooLargeError(InvalidInputError):
    def __init__(self, column: str, size: int, limit: int) -> None:
        super().__init__(f"{column} is {size:,} bytes of JSON; the limit is {limit:,} bytes")
        self.column = column
        self.size = size
        self.limit = limit


class DatabaseConnectionError(AlexDBError):
    """The connection failed or dropped; the transaction was rolled back."""


class DatabaseOperationError(AlexDBError):
    """The database refused or aborted a statement for a reason not covered above
    (a timeout, a lock, a serialization failure); ``sqlstate`` says which."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class ConfigurationError(AlexDBError):
    """The settings do not describe a usable database (or the service refused them)."""


class NotMigratedError(ConfigurationError):
    """The database's schema is missing, or at another revision than this alex_db's
    migrations: run ``alex-db migrate``. Checked once per engine, at first use."""

    def __init__(self, message: str, found: tuple[str, ...] | None, head: str) -> None:
        super().__init__(message)
        self.found = found
        self.head = head


class ResultTooLargeError(AlexDBError):
    """A result does not fit in one Data API response (1 MiB), even one row at a time."""


class CommitOutcomeUnknownError(DatabaseConnectionError):
    """The commit call failed without an answer: the transaction may or may not have
    been committed. It is never re-sent; check before retrying the work."""


class DatabaseResumingError(DatabaseConnectionError):
    """Aurora was resuming from auto-pause; nothing was written. Retry the call."""


class TransactionAbortedError(AlexDBError):
    """A call inside ``db.transaction()`` failed and spoiled its transaction; the
    caller caught the error, but nothing more can run in it and it cannot commit.
    The block rolls back (nothing of it was written). To go on after an expected
    error, make the call in a nested block: its savepoint rolls back alone."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"an earlier call in this transaction failed ({type(cause).__name__}: {cause}); "
            "it cannot go on or commit, and the block rolls it back: nothing in it is written"
        )
        self.cause = cause


class TransactionBusyError(AlexDBError, RuntimeError):
    """A call, or a nested block, would have run inside a nested block that another
    task or thread of the same transaction has open: savepoints are one stack on the
    transaction's connection, so that block's rollback would have discarded it
    silently. Nothing was sent. Wait for the other's block to end first, or start the
    tasks outside the block, each with a transaction of its own."""


class PostgresUnavailableError(AlexDBError, RuntimeError):
    """No PostgreSQL server could be found or started (the embedded one included)."""


class UnsafeOperationError(AlexDBError):
    """A destructive operation was refused by a safety guard."""


# --- integrity error translation ---------------------------------------------------

# What a foreign key violation means, by constraint name: on INSERT/UPDATE the
# referenced row is missing; on DELETE the row is still referenced.
_FOREIGN_KEYS: dict[str, tuple[str, str]] = {
    # constraint: (the missing referenced entity, the referencing table)
    "fk_accounts_clerk_user_id_users": ("user", "accounts"),
    "fk_jobs_clerk_user_id_users": ("user", "jobs"),
    "fk_positions_account_id_accounts": ("account", "positions"),
    "fk_positions_symbol_instruments": ("instrument symbol", "positions"),
    "fk_price_history_symbol_instruments": ("instrument symbol", "price_history"),
    "fk_agent_logs_job_id_jobs": ("job", "agent_logs"),
}
_UNIQUE: dict[str, str] = {
    "pk_users": "user",
    "pk_instruments": "instrument",
    "pk_accounts": "account",
    "pk_positions": "position",
    "pk_jobs": "job",
    "pk_agent_logs": "agent log",
    "pk_price_history": "price",
    "uq_positions_account_id_symbol": "position",
}

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
NOT_NULL_VIOLATION = "23502"
CHECK_VIOLATION = "23514"


@dataclass(frozen=True)
class IntegrityDetails:
    sqlstate: str | None
    constraint: str | None
    column: str | None
    message: str


def integrity_details(error: sa_exc.DBAPIError) -> IntegrityDetails:
    """SQLSTATE, constraint and column of a driver error, whichever backend raised it."""
    orig = error.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg
        return IntegrityDetails(
            sqlstate=getattr(orig, "sqlstate", None),
            constraint=diag.constraint_name,
            column=diag.column_name,
            message=diag.message_primary or str(orig),
        )
    # The Data API driver layer attaches the same facts (alex_db.dataapi).
    return IntegrityDetails(
        sqlstate=getattr(orig, "sqlstate", None),
        constraint=getattr(orig, "constraint_name", None),
        column=getattr(orig, "column_name", None),
        message=str(orig),
    )


def _key_for(key: object, entity: str) -> object:
    # A call that writes several references passes {entity: key} to name the right one.
    return key.get(entity) if isinstance(key, Mapping) else key


def translate_integrity_error(
    error: sa_exc.DBAPIError, *, key: object = None, deleting: bool = False
) -> AlexDBError:
    """The domain error for an integrity error, chosen by constraint name."""
    details = integrity_details(error)
    name = details.constraint
    if details.sqlstate == UNIQUE_VIOLATION and name in _UNIQUE:
        return AlreadyExistsError(_UNIQUE[name], _key_for(key, _UNIQUE[name]))
    if details.sqlstate == FOREIGN_KEY_VIOLATION and name in _FOREIGN_KEYS:
        entity, referencing = _FOREIGN_KEYS[name]
        if deleting:
            return InUseError(entity.removesuffix(" symbol"), _key_for(key, entity), referencing)
        return InvalidReferenceError(entity, _key_for(key, entity))
    if details.sqlstate == NOT_NULL_VIOLATION:
        return ConstraintViolationError(None, f"{details.column or 'a column'} cannot be null")
    if details.sqlstate == CHECK_VIOLATION or name:
        return ConstraintViolationError(name, f"rejected by constraint {name}: {details.message}")
    return ConstraintViolationError(None, details.message)


def translate_error(  # noqa: PLR0911 - one return per kind of error
    exc: sa_exc.DBAPIError, *, key: object = None, deleting: bool = False
) -> AlexDBError:
    """The alex_db error for a database error (see :func:`translated`)."""
    if isinstance(exc, sa_exc.IntegrityError):
        return translate_integrity_error(exc, key=key, deleting=deleting)
    category = getattr(exc.orig, "category", None)
    if category == "configuration":
        return ConfigurationError(str(exc.orig))
    if category == "too_large":
        return ResultTooLargeError(f"the result does not fit in one Data API response: {exc.orig}")
    if category == "commit_unknown":
        return CommitOutcomeUnknownError(
            f"the commit failed without an answer; it may or may not have happened "
            f"(it is never re-sent): {exc.orig}"
        )
    if category == "refused":
        return DatabaseOperationError(
            f"the Data API refused the call (it did not run): {exc.orig}", None
        )
    if category == "no_answer":
        return DatabaseConnectionError(
            f"the call got no answer; it may or may not have run: {exc.orig}"
        )
    if category == "request_too_large":
        return RequestTooLargeError(
            f"the request is too large for the Data API (it did not run; send less per "
            f"call): {exc.orig}"
        )
    if category == "resuming":
        return DatabaseResumingError(
            f"Aurora is resuming from auto-pause; nothing was written, retry shortly: {exc.orig}"
        )
    details = integrity_details(exc)
    if missing := _MISSING_DATABASE.search(str(exc.orig)):
        return ConfigurationError(
            f'database "{missing.group(1)}" does not exist on the server; '
            f"{_database_variable(exc)} names it"
        )
    if details.sqlstate is not None and details.sqlstate.startswith("22"):
        return InvalidValueError(
            f"the database refused a value: {details.message}", details.sqlstate
        )
    lost = details.sqlstate is None or details.sqlstate.startswith("08")
    if exc.connection_invalidated or (lost and isinstance(exc, sa_exc.OperationalError)):
        return DatabaseConnectionError(
            f"the database connection failed or could not be made; nothing was written "
            f"(any open transaction was rolled back): {exc.orig}"
        )
    return DatabaseOperationError(
        f"the database rejected the statement: {details.message}", details.sqlstate
    )


_MISSING_DATABASE = re.compile(r'FATAL:\s+database "([^"]*)" does not exist')


def _database_variable(exc: sa_exc.DBAPIError) -> str:
    """The setting that chose the database, by the driver that reached the server."""
    if type(exc.orig).__module__.startswith("alex_db.dataapi"):
        return "AURORA_DATABASE (default alex)"
    return "the path of DATABASE_URL (or --database-url)"


def connection_lost(error: AlexDBError) -> bool:
    """The connection failed under a call (not a resuming cluster, which ran nothing)."""
    return isinstance(error, DatabaseConnectionError) and not isinstance(
        error, DatabaseResumingError | CommitOutcomeUnknownError
    )


def outcome_unknown(exc: sa_exc.DBAPIError, what: str) -> CommitOutcomeUnknownError:
    """The connection was lost after ``what`` may have reached the server."""
    return CommitOutcomeUnknownError(
        f"the connection was lost after {what} was sent: it may or may not have been "
        f"written (it is never re-sent; see the README on retrying safely): {exc.orig}"
    )


@contextmanager
def translated(*, key: object = None, deleting: bool = False) -> Iterator[None]:
    """Turn database errors raised inside the block into alex_db errors."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise translate_error(exc, key=key, deleting=deleting) from exc
    except UnicodeEncodeError as exc:
        raise unencodable(exc) from exc


def unencodable(exc: UnicodeEncodeError) -> InvalidInputError:
    """Text the drivers cannot encode is refused while the request is being built:
    nothing was sent."""
    return InvalidInputError(
        f"text that is not valid Unicode (a lone surrogate?) cannot be stored: {exc.reason} "
        f"at position {exc.start}; nothing was sent"
    )

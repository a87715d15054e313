"""alex_db: the data layer of the Alex financial planner.

from alex_db import Database
db = Database()            # configured from the environment; connects on first use
"""

from alex_db.database import Database, Transaction
from alex_db.errors import (
    AlexDBError,
    AlreadyExistsError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    ConstraintViolationError,
    DatabaseConnectionError,
    DatabaseOperationError,
    DatabaseResumingError,
    InUseError,
    InvalidIdError,
    InvalidInputError,
    InvalidReferenceError,
    InvalidStateTransitionError,
    InvalidValueError,
    NotFoundError,
    NotMigratedError,
    PayloadTooLargeError,
    PostgresUnavailableError,
    RequestTooLargeError,
    ResultTooLargeError,
    TransactionAbortedError,
    TransactionBusyError,
    UnsafeOperationError,
)

__all__ = [
    "AlexDBError",
    "AlreadyExistsError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "ConstraintViolationError",
    "Database",
    "DatabaseConnectionError",
    "DatabaseOperationError",
    "DatabaseResumingError",
    "InUseError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidReferenceError",
    "InvalidStateTransitionError",
    "InvalidValueError",
    "NotFoundError",
    "NotMigratedError",
    "PayloadTooLargeError",
    "PostgresUnavailableError",
    "RequestTooLargeError",
    "ResultTooLargeError",
    "Transaction",
    "TransactionAbortedError",
    "TransactionBusyError",
    "UnsafeOperationError",
]

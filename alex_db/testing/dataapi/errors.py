"""Errors as the service sends them: a code, an HTTP status and a ``{"message"}`` body.

The table is the botocore model's (docs/data-api.md §4.1). ``ValidationException`` and
the other codes the model does not name are what v2 sends for malformed
requests (docs/data-api.md §4.3); botocore turns them into a plain ``ClientError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

EXECUTE = "ExecuteStatement"
BATCH = "BatchExecuteStatement"
BEGIN = "BeginTransaction"
COMMIT = "CommitTransaction"
ROLLBACK = "RollbackTransaction"
EXECUTE_SQL = "ExecuteSql"

_STD5 = frozenset({EXECUTE, BATCH, BEGIN, COMMIT, ROLLBACK})
_ALL6 = _STD5 | {EXECUTE_SQL}


@dataclass(frozen=True)
class Shape:
    status: int
    operations: frozenset[str]
    has_message: bool = True


# docs/data-api.md §4.1, one row per modelled error shape.
MODELLED: dict[str, Shape] = {
    "AccessDeniedException": Shape(403, _ALL6),
    "BadRequestException": Shape(400, _ALL6),
    "DatabaseErrorException": Shape(400, _STD5),
    "DatabaseNotFoundException": Shape(404, _STD5),
    "DatabaseResumingException": Shape(400, frozenset({EXECUTE, BATCH, BEGIN})),
    "DatabaseUnavailableException": Shape(504, _STD5, has_message=False),
    "ForbiddenException": Shape(403, _ALL6),
    "HttpEndpointNotEnabledException": Shape(400, _STD5),
    "InternalServerErrorException": Shape(500, _ALL6, has_message=False),
    "InvalidResourceStateException": Shape(400, _STD5),
    "InvalidSecretException": Shape(400, _STD5),
    "NotFoundException": Shape(404, frozenset({COMMIT, ROLLBACK})),
    "SecretsErrorException": Shape(400, _STD5),
    "ServiceUnavailableError": Shape(503, _ALL6, has_message=False),
    "StatementTimeoutException": Shape(400, _STD5),
    "TransactionNotFoundException": Shape(404, _STD5),
    "UnsupportedResultException": Shape(400, frozenset({EXECUTE})),
}

# Codes outside the model, with the statuses AWS front ends use for them.
UNMODELLED_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "SerializationException": 400,
    "MissingAuthenticationTokenException": 403,
    "UnknownOperationException": 404,
    "RequestEntityTooLargeException": 413,
}


class ApiError(Exception):
    """An error response: ``x-amzn-ErrorType: <code>`` and a JSON body."""

    def __init__(self, code: str, message: str = "", **members: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.members = members

    @property
    def status(self) -> int:
        shape = MODELLED.get(self.code)
        if shape is not None:
            return shape.status
        return UNMODELLED_STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        shape = MODELLED.get(self.code)
        if shape is not None and not shape.has_message:
            return {}
        return {"message": self.message, **self.members}


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def constraint(field: str, value: object, rule: str) -> ApiError:
    """The AWS (Coral) wording for a request member that breaks a model constraint.

    Long values (a 70,000-character ``sql``) are left out of the message.
    """
    if value is None:
        subject = "Value null"
    elif len(str(value)) <= 256:
        subject = f"Value '{value}'"
    else:
        subject = "Value"
    return validation(
        f"1 validation error detected: {subject} at '{field}' failed to satisfy "
        f"constraint: Member must {rule}"
    )


def database_error(
    exc: psycopg.Error,
    *,
    include_detail: bool,
    position_map: Callable[[int], int] | None = None,
) -> ApiError:
    """A PostgreSQL error in the v2 layout (docs/data-api.md §4.4).

    ``ERROR: <msg>; [Detail: ...;] [Hint: ...;] [Position: n;] [Where: ...;] SQLState: xxxxx``.
    The v2 samples captured from the service carry no ``Detail`` even where
    PostgreSQL sends one (not-null and foreign-key violations), so it is left
    out unless ``include_detail``.
    """
    diag = exc.diag
    if diag.sqlstate is None or diag.message_primary is None:
        # Raised by the driver, not the server (e.g. a broken connection).
        return ApiError("DatabaseErrorException", str(exc).strip())
    parts = [f"{diag.severity or 'ERROR'}: {diag.message_primary}"]
    if include_detail and diag.message_detail:
        parts.append(f"Detail: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"Hint: {diag.message_hint}")
    if diag.statement_position:
        position = int(diag.statement_position)
        if position_map is not None:
            position = position_map(position)
        parts.append(f"Position: {position}")
    if diag.context:
        parts.append(f"Where: {diag.context}")
    parts.append(f"SQLState: {diag.sqlstate}")
    return ApiError("DatabaseErrorException", "; ".join(parts))

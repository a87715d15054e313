"""A DB-API 2.0 driver for the RDS Data API: ``aurora-data-api`` with its defects corrected.

It keeps aurora-data-api's connection and cursor classes as the base and changes
what matters for a financial data layer (each change is listed in the README so
it can go upstream):

* **No transaction for reads.** aurora-data-api opens a Data API transaction in
  every ``cursor()`` call, so a one-statement read costs three HTTP calls. Here a
  transaction begins lazily, at the first statement of a non-autocommit
  connection, and an ``autocommit`` connection sends statements without one.
* **Typed parameters.** ``uuid.UUID`` gets the ``UUID`` type hint, ``Decimal``
  is sent as a plain-notation string with the ``DECIMAL`` hint (never a double),
  dates get ``DATE``; a ``dict``/``list`` is sent as JSON text.
* **Typed results.** ``timestamptz`` (which the service returns in UTC without
  an offset) becomes an aware ``datetime``; ``timestamp`` fractions with their
  trailing zeros dropped parse; ``uuid`` becomes ``uuid.UUID``.
* **Errors by SQLSTATE.** A SQL error becomes the DB-API class its SQLSTATE
  belongs to (``IntegrityError`` for 23xxx, ...), carrying ``sqlstate``,
  ``constraint_name`` and ``column_name`` the way psycopg's ``diag`` does. The
  Data API reports these only inside the message text, so this is the one place
  that reads it. Service errors (wrong ARN, disabled endpoint, bad secret) become
  :class:`DataAPIConfigurationError` with what to fix.
* **Resume-safe.** ``DatabaseResumingException`` (and "communications link
  failure") is retried with exponential backoff up to a deadline, only where
  the statement provably did not run: ``BeginTransaction``, or a statement sent
  outside a transaction. A commit is never re-sent (botocore's own retries are
  off for this client, see :func:`make_client`).
* **Batches by size.** ``executemany`` sends ``BatchExecuteStatement`` calls as
  large as the 4 MiB request limit allows, not a fixed 1,000 sets.
* **Limits checked before sending.** SQL over 65,536 characters is refused
  locally with a clear error instead of being sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import aurora_data_api
from aurora_data_api import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
)

from alex_db.dataapi.limits import MAX_REQUEST_BYTES, MAX_SQL_LENGTH

logger = logging.getLogger("alex_db.dataapi")

apilevel = "2.0"
Binary = bytes  # DB-API type constructor: bytes travel as blobValue
threadsafety = 1  # connections must not be shared between threads; the module may be
paramstyle = "named"

# Room for the request's own members, headers and JSON framing around parameter sets.
_REQUEST_HEADROOM = 64 * 1024

__all__ = [
    "Binary",
    "DataAPIConfigurationError",
    "DataError",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "ResponseTooLargeError",
    "Warning",
    "apilevel",
    "connect",
    "paramstyle",
    "threadsafety",
]


# --- errors --------------------------------------------------------------------------


class _Detailed:
    """psycopg-like facts about a database error, for alex_db's error translation."""

    sqlstate: str | None = None
    constraint_name: str | None = None
    column_name: str | None = None
    service_code: str | None = None
    # what alex_db should make of it: "configuration", "too_large", "resuming", "lost"
    category: str | None = None


class DataAPIDatabaseError(_Detailed, DatabaseError):
    pass


class DataAPIIntegrityError(_Detailed, IntegrityError):
    pass


class DataAPIDataError(_Detailed, DataError):
    pass


class DataAPIProgrammingError(_Detailed, ProgrammingError):
    pass


class DataAPIOperationalError(_Detailed, OperationalError):
    pass


class DataAPIInternalError(_Detailed, InternalError):
    pass


class DataAPINotSupportedError(_Detailed, NotSupportedError):
    pass


class DataAPIConfigurationError(_Detailed, InterfaceError):
    """The Data API refused the call because of how it is configured (ARN, secret,
    endpoint, credentials): retrying will not help; the message says what to fix."""

    category = "configuration"


class ResponseTooLargeError(_Detailed, OperationalError):
    """The result exceeded the 1 MiB response limit (the statement itself ran fine)."""

    category = "too_large"


class RequestTooLargeError(_Detailed, DataError):
    """The request exceeded the Data API's 4 MiB limit: the service refused it unread, so
    nothing ran. Retrying cannot help; send less per call."""

    category = "request_too_large"


class TransactionLostError(_Detailed, OperationalError):
    """The Data API no longer knows the transaction (expired, or ended by an error)."""

    category = "lost"


class NoAnswerError(_Detailed, OperationalError):
    """The request went out and no answer came back (the connection closed, the read
    timed out): the call may or may not have run."""

    category = "no_answer"
    sqlstate = "08006"


class RefusedError(_Detailed, OperationalError):
    """The Data API refused a call mid-session for a reason that is usually configuration
    (a secret rotated away, the endpoint disabled): the call did not run."""

    category = "refused"


class NotSentError(_Detailed, OperationalError):
    """The Data API could not be reached mid-session: the request was not sent."""

    sqlstate = "08001"


class ResumingError(_Detailed, OperationalError):
    """The cluster was still resuming when the retry deadline passed, or resumed in
    the middle of a transaction (which cannot be retried safely)."""

    category = "resuming"


_SQLSTATE_CLASSES: dict[str, type[DatabaseError]] = {
    "23": DataAPIIntegrityError,
    "22": DataAPIDataError,
    "42": DataAPIProgrammingError,
    "0A": DataAPINotSupportedError,
    "08": DataAPIOperationalError,
    "40": DataAPIOperationalError,
    "53": DataAPIOperationalError,
    "55": DataAPIOperationalError,
    "57": DataAPIOperationalError,
    "58": DataAPIOperationalError,
    "25": DataAPIInternalError,
    "XX": DataAPIInternalError,
}

_CONFIGURATION_CODES = {
    "AccessDeniedException": "the credentials may not call rds-data for this cluster (IAM)",
    "ForbiddenException": "the credentials may not call rds-data for this cluster (IAM)",
    "HttpEndpointNotEnabledException": (
        "enable the Data API (HTTP endpoint) on the cluster, and check AURORA_CLUSTER_ARN"
    ),
    "InvalidSecretException": "AURORA_SECRET_ARN's secret is not valid for this cluster",
    "SecretsErrorException": "check AURORA_SECRET_ARN and that the secret can be read",
    "NotFoundException": "check AURORA_CLUSTER_ARN and AURORA_SECRET_ARN",
    "DatabaseNotFoundException": "the cluster has no DB instance; check AURORA_CLUSTER_ARN",
    "BadRequestException": "the request was refused; check the ARNs and the database name",
}

# Requests the service refused without reading them (nothing ran), by error code.
_UNREAD: dict[str, type[Error]] = {
    "RequestEntityTooLargeException": RequestTooLargeError,
    "SerializationException": DataAPIDataError,  # a parameter it cannot read (an int64?)
    "ValidationException": DataAPIProgrammingError,
}

_SQLSTATE = re.compile(r"SQLState: ([0-9A-Z]{5})\s*$")
_CONSTRAINT = re.compile(r'constraint "([^"]+)"')
_COLUMN = re.compile(r'column "([^"]+)"')
_RESUMING_TEXT = "communications link failure"


def _primary_message(message: str) -> str:
    text = message.removeprefix("ERROR: ")
    return re.split(r"[;\n]\s*(?:Detail|Hint|Position|Where|SQLState):", text, maxsplit=1)[
        0
    ].strip()


def _error_from_client_error(error: ClientError) -> Error:
    info = error.response.get("Error", {})
    code = str(info.get("Code", ""))
    message = str(info.get("Message", "") or error)
    result: Error
    if code == "DatabaseErrorException" and (found := _SQLSTATE.search(message)):
        sqlstate = found.group(1)
        cls = _SQLSTATE_CLASSES.get(sqlstate[:2], DataAPIDatabaseError)
        result = cls(message)
        primary = _primary_message(message)
        detailed: Any = result
        detailed.sqlstate = sqlstate
        if constraint := _CONSTRAINT.search(primary):
            detailed.constraint_name = constraint.group(1)
        if sqlstate == "23502" and (column := _COLUMN.search(primary)):
            detailed.column_name = column.group(1)
    elif code == "DatabaseResumingException" or _RESUMING_TEXT in message.lower():
        result = ResumingError(f"{code}: {message}")
    elif code in _CONFIGURATION_CODES:
        result = DataAPIConfigurationError(f"{code}: {message} ({_CONFIGURATION_CODES[code]})")
    elif code == "UnsupportedResultException" and "size limit" in message:
        result = ResponseTooLargeError(f"{code}: {message}")
    elif code == "UnsupportedResultException":
        result = DataAPINotSupportedError(
            f"{code}: {message} (the Data API cannot return this type: select it cast to text)"
        )
    elif code == "TransactionNotFoundException" or "is not found" in message:
        result = TransactionLostError(f"{code}: {message}")
    elif code == "StatementTimeoutException":
        result = DataAPIOperationalError(f"{code}: {message}")
        result.sqlstate = "57014"
    elif code in _UNREAD:
        result = _UNREAD[code](f"{code}: {message}")
    elif code == "DatabaseErrorException":
        result = DataAPIOperationalError(f"{code}: {message}")
    else:
        result = DataAPIOperationalError(f"{code or 'error'}: {message}")
    result.service_code = code
    return result


def _is_busy(error: ClientError) -> bool:
    message = str(error.response.get("Error", {}).get("Message", ""))
    return "still running a query" in message


def _first_words(sql: str) -> str:
    return " ".join(sql.split()[:4])


# Statements that may run long and are safe to leave running past the call timeout
# (the Data API's advice for DDL): they get continueAfterTimeout.
_DDL = re.compile(
    r"^\s*(CREATE|ALTER|DROP|COMMENT|REINDEX|CLUSTER|VACUUM|ANALYZE|REFRESH)\b", re.IGNORECASE
)


def _is_resuming(error: ClientError) -> bool:
    info = error.response.get("Error", {})
    return info.get("Code") == "DatabaseResumingException" or (
        _RESUMING_TEXT in str(info.get("Message", "")).lower()
    )


# --- parameters and results ----------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise DataAPIDataError(f"{value} cannot be stored in a numeric column here")
    return format(value, "f")  # never exponent notation


def _encode_datetime(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ")


_INT64 = range(-(2**63), 2**63)


def _utf8_text(value: str) -> str:
    # Refuse what psycopg refuses, before sending: a lone surrogate is not UTF-8 text.
    value.encode("utf-8")
    return value


# Python type -> (Field member, how to render the value, typeHint). Checked in order:
# bool before int (bool is an int), datetime before date (datetime is a date).
_ENCODERS: tuple[tuple[type | tuple[type, ...], str, Callable[[Any], Any], str | None], ...] = (
    (bool, "booleanValue", bool, None),
    (int, "longValue", int, None),
    (float, "doubleValue", float, None),  # non-finite: see encode_parameter
    (Decimal, "stringValue", _decimal_text, "DECIMAL"),
    (uuid.UUID, "stringValue", str, "UUID"),
    (dt.datetime, "stringValue", _encode_datetime, "TIMESTAMP"),
    (dt.date, "stringValue", lambda v: v.isoformat(), "DATE"),
    (dt.time, "stringValue", lambda v: v.isoformat(), "TIME"),
    ((bytes, bytearray, memoryview), "blobValue", bytes, None),
    ((dict, list), "stringValue", lambda v: json.dumps(v, separators=(",", ":")), "JSON"),
    (str, "stringValue", _utf8_text, None),
)


def encode_parameter(name: str, value: object) -> dict[str, Any]:
    """One SqlParameter for a Python value."""
    if value is None:
        return {"name": name, "value": {"isNull": True}}
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        # longValue is 64-bit. psycopg sends such an integer as numeric, so the database
        # judges it (a numeric column takes it, a bigint one is out of range): the same.
        return {"name": name, "value": {"stringValue": str(value)}, "typeHint": "DECIMAL"}
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no Infinity or NaN for doubleValue: PostgreSQL's own spelling as text,
        # cast to the column's type by the dialect (Float parameters render a cast).
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return {"name": name, "value": {"stringValue": text}}
    for kind, member, render, hint in _ENCODERS:
        if isinstance(value, kind):
            parameter: dict[str, Any] = {"name": name, "value": {member: render(value)}}
            if hint:
                parameter["typeHint"] = hint
            return parameter
    raise DataAPINotSupportedError(f"cannot send a {type(value).__name__} to the Data API")


_TIMESTAMP = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?"
)


def _timestamp(text: str) -> dt.datetime:
    """The forms Data API implementations send: a space or a ``T``, any fraction length
    (the service drops trailing zeros, and the dot when the fraction is 0), and no zone,
    ``Z`` or an offset (a timestamptz is UTC when no zone is given)."""
    found = _TIMESTAMP.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not a timestamp: {text!r}")
    fraction = (found["fraction"] or "").ljust(6, "0")
    if len(fraction) > 6:
        raise ValueError(f"more than microsecond precision: {text!r}")
    value = dt.datetime.fromisoformat(f"{found['day']} {found['time']}.{fraction}")
    zone = found["zone"]
    if zone is None:
        return value
    if zone == "Z":
        return value.replace(tzinfo=dt.UTC)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return value.replace(tzinfo=dt.timezone(sign * offset))


def _timestamptz(text: str) -> dt.datetime:
    value = _timestamp(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "numeric": Decimal,
    "decimal": Decimal,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
    "uuid": uuid.UUID,
}


def decode_field(field: Mapping[str, Any], type_name: str | None) -> Any:
    if field.get("isNull"):
        return None
    if "arrayValue" in field:
        return _decode_array(field["arrayValue"], type_name)
    (value,) = field.values()
    decoder = _DECODERS.get((type_name or "").lower())
    if decoder is not None and isinstance(value, str):
        return decoder(value)
    return value


def _decode_records(
    records: Sequence[Sequence[Mapping[str, Any]]],
    types: Sequence[str | None],
    description: Sequence[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    try:
        return [
            tuple(decode_field(f, t) for f, t in zip(record, types, strict=True))
            for record in records
        ]
    except (ValueError, ArithmeticError) as exc:
        # Find the value that failed, to name it (decoding again costs only on this path).
        for record in records:
            for field, type_name, column in zip(record, types, description, strict=True):
                try:
                    decode_field(field, type_name)
                except (ValueError, ArithmeticError):
                    raise DataAPIDataError(
                        f"cannot decode column {column[0]!r} ({type_name}) value "
                        f"{next(iter(field.values()))!r}"
                    ) from exc
        raise DataAPIDataError(f"cannot decode a result value ({exc})") from exc


def _decode_array(array: Mapping[str, Any], type_name: str | None) -> list[Any]:
    if "arrayValues" in array:
        return [_decode_array(inner, type_name) for inner in array["arrayValues"]]
    (values,) = array.values()
    element = (type_name or "").lower().removeprefix("_")
    decoder = _DECODERS.get(element)
    if decoder is None:
        return list(values)
    return [None if v is None else decoder(v) for v in values]


# --- connection and cursor -----------------------------------------------------------


class Contact:
    """Shared by an engine's connections: whether the Data API has ever answered them.
    Before that, a failure to reach it is a configuration problem; after, a failed call."""

    answered = False


class Connection(aurora_data_api.AuroraDataAPIClient):
    """One logical database connection; its Data API transaction begins lazily."""

    def __init__(
        self,
        *,
        client: Any,
        resource_arn: str,
        secret_arn: str,
        database: str,
        resume_deadline_s: float = 60.0,
        continue_after_timeout: bool = False,
        initial_backoff_s: float = 0.5,
        busy_wait_s: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        contact: Contact | None = None,
    ) -> None:
        super().__init__(
            dbname=database,
            aurora_cluster_arn=resource_arn,
            secret_arn=secret_arn,
            rds_data_client=client,
            continue_after_timeout=continue_after_timeout or None,
        )
        self._transaction_id: str | None = None
        self._contact = contact or Contact()
        self.autocommit = False
        # BeginTransaction has no isolation setting: a level other than the server's
        # default (READ COMMITTED) is set by the transaction's first statement.
        self.isolation_level: str | None = None
        self.resume_deadline_s = resume_deadline_s
        self.initial_backoff_s = initial_backoff_s
        self.busy_wait_s = busy_wait_s
        self._busy = False  # a statement of this transaction runs on after its call timed out
        self._sleep = sleep

    # The Data API client, for tests and benchmarks that count its calls.
    @property
    def client(self) -> Any:
        return self._client

    def call(self, operation: str, *, retry_if_resuming: bool, **request: Any) -> Any:
        """Send one Data API call and translate its errors.

        Two waits are built in, both for calls that provably did not run:
        a resuming cluster is retried with exponential backoff until
        ``resume_deadline_s`` when ``retry_if_resuming``; and after a statement
        that outlived the call timeout with ``continueAfterTimeout`` (long DDL),
        calls on the same transaction wait while it is "still running a query".
        """
        now = time.monotonic()
        resume_deadline = now + self.resume_deadline_s
        busy_deadline = now + self.busy_wait_s
        delay, attempt = self.initial_backoff_s, 1
        while True:
            try:
                response = getattr(self._client, operation)(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                waiting = time.monotonic() + delay
                if retry_if_resuming and _is_resuming(exc) and waiting < resume_deadline:
                    logger.warning(
                        "Aurora is resuming (%s); retrying %s in %.2f s (attempt %d)",
                        code,
                        operation,
                        delay,
                        attempt,
                    )
                elif self._busy and _is_busy(exc) and waiting < busy_deadline:
                    logger.info("a long statement is still running; waiting %.2f s", delay)
                elif code == "StatementTimeoutException" and request.get("continueAfterTimeout"):
                    # The statement goes on running on the server (continueAfterTimeout).
                    logger.warning(
                        "%s outlived the Data API call timeout and continues on the server",
                        _first_words(request.get("sql", "")),
                    )
                    self._busy = "transactionId" in request
                    return {}
                else:
                    error = _error_from_client_error(exc)
                    if self._contact.answered and isinstance(error, DataAPIConfigurationError):
                        # It worked before: this is a failed call, not a configuration
                        # that never worked. The call was refused, so it did not run.
                        raise RefusedError(str(error)) from exc
                    raise error from exc
                self._sleep(delay)
                delay, attempt = min(delay * 2, 8.0), attempt + 1
                continue
            except (EndpointConnectionError, ConnectTimeoutError) as exc:
                if self._contact.answered:
                    raise NotSentError(f"cannot reach the Data API ({exc})") from exc
                raise DataAPIConfigurationError(
                    f"cannot reach the Data API ({exc}); check the AWS region, credentials "
                    "and AWS_ENDPOINT_URL_RDS_DATA"
                ) from exc
            except HTTPClientError as exc:  # sent; the answer never came
                raise NoAnswerError(f"{operation} got no answer ({exc})") from exc
            except BotoCoreError as exc:  # credentials, region: nothing was sent
                raise DataAPIConfigurationError(
                    f"cannot call the Data API ({exc}); check the AWS region, credentials "
                    "and AWS_ENDPOINT_URL_RDS_DATA"
                ) from exc
            self._busy = False
            self._contact.answered = True
            return response

    def begin(self) -> str:
        if self._transaction_id is None:
            response = self.call(
                "begin_transaction",
                retry_if_resuming=True,
                resourceArn=self._aurora_cluster_arn,
                secretArn=self._secret_arn,
                database=self._dbname,
            )
            tid = response["transactionId"]
            if self.isolation_level is not None:
                try:
                    self.call(
                        "execute_statement",
                        retry_if_resuming=False,
                        resourceArn=self._aurora_cluster_arn,
                        secretArn=self._secret_arn,
                        database=self._dbname,
                        transactionId=tid,
                        sql=f"SET TRANSACTION ISOLATION LEVEL {self.isolation_level}",
                    )
                except Error:
                    self._release(tid)
                    raise
            self._transaction_id = tid
        return self._transaction_id

    def commit(self) -> None:
        tid, self._transaction_id = self._transaction_id, None
        if tid is None:
            return
        try:
            response = self.call(
                "commit_transaction",
                retry_if_resuming=False,
                resourceArn=self._aurora_cluster_arn,
                secretArn=self._secret_arn,
                transactionId=tid,
            )
        except TransactionLostError:
            raise  # the service no longer knows it: nothing to release
        except (NoAnswerError, NotSentError) as exc:
            # Never re-send a commit. The request may have run: the outcome is unknown.
            # Release the transaction now in case it did not (if it did, the rollback
            # finds nothing), rather than leave its locks until the 3-minute expiry.
            self._release(tid)
            exc.category = "commit_unknown"
            raise
        except Error:
            # Answered with an error: the commit did not run. Release the transaction.
            self._release(tid)
            raise
        if response.get("transactionStatus") != "Transaction Committed":
            raise DataAPIOperationalError(f"the commit was not confirmed: {response}")

    def _release(self, tid: str) -> None:
        self._transaction_id = tid
        with contextlib.suppress(Error):
            self.rollback()

    def rollback(self) -> None:
        tid, self._transaction_id = self._transaction_id, None
        if tid is None:
            return
        # A transaction the service already ended (expired, or after an error) has
        # nothing left to undo.
        with contextlib.suppress(TransactionLostError):
            self.call(
                "rollback_transaction",
                retry_if_resuming=False,
                resourceArn=self._aurora_cluster_arn,
                secretArn=self._secret_arn,
                transactionId=tid,
            )

    def cursor(self) -> Cursor:
        return Cursor(self)

    def close(self) -> None:
        self.rollback()


class Cursor(aurora_data_api.AuroraDataAPICursor):
    """aurora-data-api's cursor with lazy transactions, typed parameters and results,
    size-bounded batches and translated errors. Fetching is the base class's."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(
            client=connection.client,
            dbname=connection._dbname,
            aurora_cluster_arn=connection._aurora_cluster_arn,
            secret_arn=connection._secret_arn,
        )
        self.connection = connection

    def prepare_param(self, param_name: str, param_value: object) -> dict[str, Any]:
        return encode_parameter(param_name, param_value)

    def _base_request(self, sql: str) -> tuple[dict[str, Any], bool]:
        if len(sql) > MAX_SQL_LENGTH:
            raise DataAPIProgrammingError(
                f"the statement is {len(sql):,} characters; the Data API accepts at most "
                f"{MAX_SQL_LENGTH:,} (send fewer rows per statement)"
            )
        conn = self.connection
        request: dict[str, Any] = {
            "resourceArn": conn._aurora_cluster_arn,
            "secretArn": conn._secret_arn,
            "database": conn._dbname,
            "sql": sql,
        }
        in_transaction = not conn.autocommit
        if in_transaction:
            request["transactionId"] = conn.begin()
        if conn._continue_after_timeout or _DDL.match(sql):
            request["continueAfterTimeout"] = True
        return request, in_transaction

    def _set_result(self, response: dict[str, Any]) -> None:
        self._paging_state = None
        self._current_response = response
        self._iterator = iter(self)

    def execute(self, operation: str, parameters: Mapping[str, Any] | None = None) -> None:
        self.description = None
        request, in_transaction = self._base_request(operation)
        request["includeResultMetadata"] = True
        if parameters:
            request["parameters"] = self._format_parameter_set(parameters)
        response = self.connection.call(
            "execute_statement", retry_if_resuming=not in_transaction, **request
        )
        metadata = response.get("columnMetadata") or []
        if "records" in response and metadata:
            types = [column.get("typeName") for column in metadata]
            self.description = [
                (column.get("label") or column.get("name"), column.get("typeName")) + (None,) * 5
                for column in metadata
            ]
            records = _decode_records(response["records"], types, self.description)
            self._set_result({"records": records})
        else:
            self._set_result({"numberOfRecordsUpdated": response.get("numberOfRecordsUpdated", -1)})

    def executemany(self, operation: str, seq_of_parameters: Sequence[Mapping[str, Any]]) -> None:
        """BatchExecuteStatement calls as large as the 4 MiB request limit allows."""
        self.description = None
        request, in_transaction = self._base_request(operation)
        budget = MAX_REQUEST_BYTES - _REQUEST_HEADROOM - len(operation.encode())
        batch: list[list[dict[str, Any]]] = []
        size = sent = 0

        def send() -> None:
            nonlocal sent
            if batch:
                self.connection.call(
                    "batch_execute_statement",
                    retry_if_resuming=not in_transaction,
                    parameterSets=batch,
                    **request,
                )
                sent += len(batch)

        for parameters in seq_of_parameters:
            encoded = self._format_parameter_set(parameters)
            # JSON size of the set as botocore sends it (blobs grow by a third in base64)
            cost = len(json.dumps(encoded, default=lambda b: "x" * (len(b) * 4 // 3 + 4)))
            if batch and size + cost > budget:
                send()
                batch, size = [], 0
            batch.append(encoded)
            size += cost
        send()
        self._set_result({"numberOfRecordsUpdated": sent})


def connect(**kwargs: Any) -> Connection:
    """DB-API ``connect``: the keyword arguments are :class:`Connection`'s."""
    return Connection(**kwargs)

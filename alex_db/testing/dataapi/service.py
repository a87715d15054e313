"""The rds-data operations: request validation, ARN checks, faults, and execution."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

import psycopg
from psycopg.pq import ExecStatus

from alex_db.testing.dataapi import errors
from alex_db.testing.dataapi.backend import Backend, Job, Transaction
from alex_db.testing.dataapi.config import EmulatorConfig
from alex_db.testing.dataapi.errors import ApiError, constraint, database_error, validation
from alex_db.testing.dataapi.params import bind
from alex_db.testing.dataapi.results import (
    ResultOptions,
    attributes,
    column_metadata,
    columns_of,
    render_json,
    render_records,
)
from alex_db.testing.dataapi.sql import MultipleStatementsError, ParsedSql, parse

DEFAULT_RESOURCE_ARN = "arn:aws:rds:us-east-1:000000000000:cluster:alex-local"
DEFAULT_SECRET_ARN = (
    "arn:aws:secretsmanager:us-east-1:000000000000:secret:alex-local-dataapi-AbCdEf"  # noqa: S105
)

_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[A-Za-z][A-Za-z0-9-]*")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@!-]+")

_ARN = (str, True, 11, 570)
# Request members per operation: (type, required, min length, max length) (docs/data-api.md §1).
_MEMBERS: dict[str, dict[str, tuple[type, bool, int, int | None]]] = {
    errors.EXECUTE: {
        "resourceArn": _ARN,
        "secretArn": _ARN,
        "sql": (str, True, 0, None),  # max is the configured SQL limit
        "database": (str, False, 0, 64),
        "schema": (str, False, 0, 64),
        "parameters": (list, False, 0, None),
        "transactionId": (str, False, 0, 192),
        "includeResultMetadata": (bool, False, 0, None),
        "continueAfterTimeout": (bool, False, 0, None),
        "resultSetOptions": (dict, False, 0, None),
        "formatRecordsAs": (str, False, 0, None),
    },
    errors.BATCH: {
        "resourceArn": _ARN,
        "secretArn": _ARN,
        "sql": (str, True, 0, None),
        "database": (str, False, 0, 64),
        "schema": (str, False, 0, 64),
        "parameterSets": (list, False, 0, None),
        "transactionId": (str, False, 0, 192),
    },
    errors.BEGIN: {
        "resourceArn": _ARN,
        "secretArn": _ARN,
        "database": (str, False, 0, 64),
        "schema": (str, False, 0, 64),
    },
    errors.COMMIT: {"resourceArn": _ARN, "secretArn": _ARN, "transactionId": (str, True, 0, 192)},
    errors.ROLLBACK: {"resourceArn": _ARN, "secretArn": _ARN, "transactionId": (str, True, 0, 192)},
}
_ENUMS = {
    "formatRecordsAs": ("NONE", "JSON"),
    "resultSetOptions.decimalReturnType": ("STRING", "DOUBLE_OR_LONG"),
    "resultSetOptions.longReturnType": ("STRING", "LONG"),
}

_FAULT_MESSAGES = {
    "DatabaseResumingException": (
        "The Aurora DB instance {instance} is resuming after being auto-paused. "
        "Please wait a few seconds and try again."
    ),
    "HttpEndpointNotEnabledException": "HttpEndpoint is not enabled for cluster {cluster}",
    "InvalidSecretException": "The secret {secret} isn't valid",
}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Faults:
    """Switches that make calls fail the way the service can, for client error handling."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.remaining = 0
            self.code = "DatabaseResumingException"
            self.http_endpoint_enabled = True
            self.secret_valid = True
            # operation -> "before" (close the connection without running the call) or
            # "after" (run it, then close without answering): a lost request or answer.
            self.drops: dict[str, str] = {}

    def fail_next(self, count: int, code: str = "DatabaseResumingException") -> None:
        if code not in errors.MODELLED:
            raise ValueError(f"{code} is not an error the rds-data model defines")
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self.remaining = count
            self.code = code

    def drop_next(self, operation: str, when: str) -> None:
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        with self._lock:
            self.drops[operation] = when

    def take_drop(self, operation: str) -> str | None:
        with self._lock:
            return self.drops.pop(operation, None)

    def take(self, operation: str) -> str | None:
        """The code to fail this call with, if an injected failure applies to it."""
        with self._lock:
            if self.remaining and operation in errors.MODELLED[self.code].operations:
                self.remaining -= 1
                return self.code
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "failNext": self.remaining,
                "code": self.code,
                "httpEndpointEnabled": self.http_endpoint_enabled,
                "secretValid": self.secret_valid,
            }


class Service:
    def __init__(
        self,
        backend: Backend,
        config: EmulatorConfig,
        resource_arn: str | None,
        secret_arn: str | None,
    ) -> None:
        for arn, pattern, what in [
            (resource_arn, _CLUSTER_ARN, "cluster"),
            (secret_arn, _SECRET_ARN, "secret"),
        ]:
            if arn is not None and not pattern.fullmatch(arn):
                raise ValueError(f"not a well-formed {what} ARN: {arn}")
        self.backend = backend
        self.config = config
        self._only_resource = resource_arn
        self._only_secret = secret_arn
        self.resource_arn = resource_arn or DEFAULT_RESOURCE_ARN
        self.secret_arn = secret_arn or DEFAULT_SECRET_ARN
        self.faults = Faults()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._pause_lock = threading.Lock()
        self._last_call = time.monotonic()
        self._resuming_until = 0.0

    # -- counters --------------------------------------------------------------

    def count(self, operation: str) -> None:
        with self._counts_lock:
            self._counts[operation] += 1

    @property
    def call_counts(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    # -- entry point ---------------------------------------------------------------

    def call(self, operation: str, body: bytes) -> bytes:
        """Answer one operation; raises ApiError for an error response."""
        self.count(operation)
        try:
            request = json.loads(body or b"{}")
        except ValueError as exc:
            raise ApiError("SerializationException", "The request body is not valid JSON") from exc
        if not isinstance(request, dict):
            raise ApiError("SerializationException", "The request body must be a JSON object")
        if operation == errors.EXECUTE_SQL:
            # Deprecated and unsupported on v2 (docs/data-api.md §1.4); the v2 code is
            # unconfirmed, BadRequestException is modelled for the operation.
            raise ApiError(
                "BadRequestException",
                "ExecuteSql isn't supported for Aurora Serverless v2 and provisioned DB "
                "clusters. Use ExecuteStatement instead.",
            )
        self._validate(operation, request)
        self._check_access(operation, request)
        injected = self.faults.take(operation) or self._paused(operation)
        if injected is not None:
            raise self._fault(injected)
        if operation == errors.EXECUTE:
            return self._execute(request)
        if operation == errors.BATCH:
            return self._batch(request)
        if operation == errors.BEGIN:
            database = request.get("database") or self.backend.default_database
            return _dumps({"transactionId": self.backend.begin(database)})
        if operation == errors.COMMIT:
            self.backend.finish(request["transactionId"], commit=True)
            return _dumps({"transactionStatus": "Transaction Committed"})
        self.backend.finish(request["transactionId"], commit=False)
        return _dumps({"transactionStatus": "Rollback Complete"})

    # -- validation ---------------------------------------------------------------

    def _validate(self, operation: str, request: dict[str, Any]) -> None:
        for member, (kind, required, low, high) in _MEMBERS[operation].items():
            value = request.get(member)
            if value is None:
                if required:
                    raise constraint(member, None, "not be null")
                continue
            if not isinstance(value, kind):
                raise ApiError("SerializationException", f"{member}: expected {kind.__name__}")
            if isinstance(value, str):
                limit = self.config.max_sql_length if member == "sql" else high
                if limit is not None and len(value) > limit:
                    rule = f"have length less than or equal to {limit}"
                    raise constraint(member, value, rule)
                if len(value) < low:
                    raise constraint(member, value, f"have length greater than or equal to {low}")
        options = request.get("resultSetOptions") or {}
        for path, allowed in _ENUMS.items():
            head, _, tail = path.partition(".")
            value = options.get(tail) if tail else request.get(head)
            if value is not None and value not in allowed:
                raise constraint(path, value, f"satisfy enum value set: [{', '.join(allowed)}]")
        if "schema" in request:
            raise validation("The schema parameter isn't supported")  # v2 (docs/data-api.md §4.3)

    def _check_access(self, operation: str, request: dict[str, Any]) -> None:
        resource, secret = request["resourceArn"], request["secretArn"]
        cluster = resource.rsplit(":", 1)[-1]
        # Unconfirmed how the service answers a malformed ARN; ValidationException
        # is what v2 uses for malformed requests.
        if not _CLUSTER_ARN.fullmatch(resource):
            raise validation(f"Invalid resource ARN: {resource}")
        if self._only_resource is not None and resource != self._only_resource:
            # A cluster the service cannot reach over the Data API: the error users
            # report for a wrong or disabled cluster (docs/data-api.md §4.3).
            raise ApiError(
                "HttpEndpointNotEnabledException",
                f"HttpEndpoint is not enabled for cluster {cluster}",
            )
        if not self.faults.http_endpoint_enabled:
            raise self._fault("HttpEndpointNotEnabledException", resource=resource, secret=secret)
        if not _SECRET_ARN.fullmatch(secret) or (
            self._only_secret is not None and secret != self._only_secret
        ):
            # A secret that cannot be fetched: SecretsErrorException per the model
            # ("not found"); the text is Secrets Manager's. Unconfirmed.
            raise ApiError(
                "SecretsErrorException",
                f"Error fetching secret {secret} : "
                "Secrets Manager can't find the specified secret.",
            )
        if not self.faults.secret_valid:
            raise self._fault("InvalidSecretException", resource=resource, secret=secret)

    def _paused(self, operation: str) -> str | None:
        """DatabaseResumingException while the simulated instance is paused or resuming."""
        code = "DatabaseResumingException"
        pause_after = self.config.auto_pause_after
        with self._pause_lock:
            now = time.monotonic()
            idle = now - self._last_call
            self._last_call = max(
                now, self._resuming_until
            )  # the idle clock restarts after a resume
            if pause_after is None or operation not in errors.MODELLED[code].operations:
                return None
            if now < self._resuming_until:
                return code
            # Aurora does not pause while connections are open, so not with a transaction.
            if idle > pause_after and self.backend.open_transactions == 0:
                self._resuming_until = self._last_call = now + self.config.resume_duration
                return code
        return None

    def _fault(
        self, code: str, *, resource: str | None = None, secret: str | None = None
    ) -> ApiError:
        resource = resource or self.resource_arn
        cluster = resource.rsplit(":", 1)[-1]
        template = _FAULT_MESSAGES.get(code, "{code} (injected by the Data API emulator)")
        message = template.format(
            code=code,
            cluster=cluster,
            instance=f"{cluster}-instance-1",
            secret=secret or self.secret_arn,
        )
        if code == "StatementTimeoutException":
            return ApiError(code, message, dbConnectionId=0)
        return ApiError(code, message)

    # -- statements ---------------------------------------------------------------

    def _parse(self, sql: str) -> ParsedSql:
        try:
            return parse(sql)
        except MultipleStatementsError:
            raise validation("Multistatements aren't supported.") from None

    def _lease(self, request: dict[str, Any]) -> tuple[Any, str, Any, Transaction | None]:
        """(connection, database, release callback, transaction) for one call."""
        transaction_id = request.get("transactionId")
        if transaction_id:
            txn = self.backend.lease(transaction_id)
            # The transaction's database wins over a different `database` member
            # (unconfirmed what the service does with a mismatch).
            return txn.conn, txn.database, lambda error: self.backend.unlease(txn, error), txn
        database = request.get("database") or self.backend.default_database
        conn = self.backend.acquire(database)
        return conn, database, lambda error: self.backend.release(conn, database), None

    def _db_error(self, exc: psycopg.Error, parsed: ParsedSql) -> ApiError:
        return database_error(
            exc,
            include_detail=self.config.include_error_detail,
            position_map=parsed.original_position,
        )

    def _execute(self, request: dict[str, Any]) -> bytes:
        parsed = self._parse(request["sql"])
        values = bind(parsed, request.get("parameters"))
        rs_options = request.get("resultSetOptions") or {}
        options = ResultOptions(
            decimal_as_number=rs_options.get("decimalReturnType") == "DOUBLE_OR_LONG",
            long_as_string=rs_options.get("longReturnType") == "STRING",
        )
        json_mode = request.get("formatRecordsAs") == "JSON"
        with_metadata = bool(request.get("includeResultMetadata")) and not json_mode
        conn, database, release, txn = self._lease(request)

        def work(job: Job) -> bytes:
            cursor = conn.cursor()
            try:
                with job.statement():
                    cursor.execute(parsed.text, values)
            except psycopg.Error as exc:
                raise self._db_error(exc, parsed) from exc
            result = cursor.pgresult
            if result is None or result.status != ExecStatus.TUPLES_OK:
                # DML and DDL: no columnMetadata even when asked for (docs/data-api.md §3.2).
                return _dumps(
                    {"generatedFields": [], "numberOfRecordsUpdated": max(cursor.rowcount, 0)}
                )
            oids = [result.ftype(i) for i in range(result.nfields)]
            columns = columns_of(result, self.backend.types.resolve(conn, database, oids))
            if json_mode:
                return render_json(
                    result, columns, options, self.config.max_formatted_records_bytes
                )
            metadata = None
            if with_metadata:
                attrs = attributes(conn, columns)
                metadata = [
                    column_metadata(c, attrs.get((c.table_oid, c.table_column))) for c in columns
                ]
            return render_records(
                result, columns, options, metadata, self.config.max_response_bytes
            )

        return self.backend.run(
            conn,
            work,
            release,
            keep_running=bool(request.get("continueAfterTimeout")),
            transaction=txn,
        )

    def _batch(self, request: dict[str, Any]) -> bytes:
        parsed = self._parse(request["sql"])
        sets = request.get("parameterSets") or []
        rows = [bind(parsed, s, f"parameterSets.{i}.member") for i, s in enumerate(sets, start=1)]
        conn, _, release, txn = self._lease(request)

        def work(job: Job) -> bytes:
            try:
                with job.statement():
                    if rows:
                        # Outside a transaction the whole call is atomic, as a JDBC
                        # batch sent with one Sync is (unconfirmed for the service).
                        if txn is None:
                            conn.execute("BEGIN")
                        conn.cursor().executemany(parsed.text, rows)  # pipelined
                        if txn is None:
                            conn.execute("COMMIT")
            except psycopg.Error as exc:
                raise self._db_error(exc, parsed) from exc
            # generatedFields are always empty on Aurora PostgreSQL (docs/data-api.md §1.2).
            return (
                b'{"updateResults":[' + b",".join([b'{"generatedFields":[]}'] * len(rows)) + b"]}"
            )

        return self.backend.run(conn, work, release, transaction=txn)

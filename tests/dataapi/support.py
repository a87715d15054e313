"""Helpers for the emulator's contract tests: a thin layer over a real boto3 client.

``Api`` fills in the ARNs and strips ``ResponseMetadata`` so a test can compare
the rest of a response with docs/data-api.md field by field; ``fails`` returns the
botocore ``ClientError`` of a call that must fail, with its raw HTTP status and
headers still attached.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import boto3
import psycopg
from botocore.config import Config
from botocore.exceptions import ClientError

from alex_db.testing.dataapi import DataAPIEmulator

# Method names of the boto3 client per rds-data operation.
METHODS = {
    "ExecuteStatement": "execute_statement",
    "BatchExecuteStatement": "batch_execute_statement",
    "BeginTransaction": "begin_transaction",
    "CommitTransaction": "commit_transaction",
    "RollbackTransaction": "rollback_transaction",
    "ExecuteSql": "execute_sql",
}


def make_client(endpoint_url: str, *, max_attempts: int | None = None) -> Any:
    """A real botocore rds-data client pointed at the emulator."""
    config = (
        Config(retries={"mode": "standard", "total_max_attempts": max_attempts})
        if max_attempts
        else None
    )
    return boto3.client(
        "rds-data",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


def param(name: str, type_hint: str | None = None, **field: Any) -> dict[str, Any]:
    """An SqlParameter: ``param("id", longValue=1)``, ``param("u", "UUID", stringValue=...)``."""
    parameter: dict[str, Any] = {"name": name, "value": field}
    if type_hint is not None:
        parameter["typeHint"] = type_hint
    return parameter


def strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class Api:
    def __init__(self, emulator: DataAPIEmulator, client: Any | None = None) -> None:
        self.emulator = emulator
        self.client = client or make_client(emulator.endpoint_url)

    @property
    def arns(self) -> dict[str, str]:
        return {"resourceArn": self.emulator.resource_arn, "secretArn": self.emulator.secret_arn}

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """The raw response (minus ResponseMetadata) of one operation."""
        arguments = {**self.arns, **kwargs}
        if operation == "ExecuteSql":
            arguments = {
                "dbClusterOrInstanceArn": arguments.pop("resourceArn"),
                "awsSecretStoreArn": arguments.pop("secretArn"),
                **arguments,
            }
        return strip(getattr(self.client, METHODS[operation])(**arguments))

    def fails(self, operation: str, **kwargs: Any) -> ClientError:
        try:
            self.call(operation, **kwargs)
        except ClientError as exc:
            return exc
        raise AssertionError(f"{operation} succeeded but should have failed")

    def execute(
        self, sql: str, parameters: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if parameters is not None:
            kwargs["parameters"] = parameters
        return self.call("ExecuteStatement", sql=sql, **kwargs)

    def execute_fails(
        self, sql: str, parameters: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> ClientError:
        if parameters is not None:
            kwargs["parameters"] = parameters
        return self.fails("ExecuteStatement", sql=sql, **kwargs)

    def value(
        self, sql: str, parameters: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The single Field of a one-row, one-column result."""
        records = self.execute(sql, parameters, **kwargs)["records"]
        assert len(records) == 1
        assert len(records[0]) == 1
        field: dict[str, Any] = records[0][0]
        return field

    def begin(self, **kwargs: Any) -> str:
        transaction_id: str = self.call("BeginTransaction", **kwargs)["transactionId"]
        return transaction_id

    def commit(self, transaction_id: str) -> dict[str, Any]:
        return self.call("CommitTransaction", transactionId=transaction_id)

    def rollback(self, transaction_id: str) -> dict[str, Any]:
        return self.call("RollbackTransaction", transactionId=transaction_id)


def error(exc: ClientError) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a failed call, as botocore parsed them."""
    response: dict[str, Any] = exc.response  # type: ignore[assignment]
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def raw_post(
    endpoint_url: str,
    path: str,
    body: bytes | dict[str, Any],
    *,
    signed: bool = True,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One HTTP request without botocore, for input botocore would never send."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    url = urlsplit(endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if signed:  # the emulator checks that a SigV4 header is there, not the signature
        headers["Authorization"] = (
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/rds-data/aws4_request"
        )
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(payload or b"{}"),
        )
    finally:
        conn.close()


def http_json(
    endpoint_url: str, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    url = urlsplit(endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def port_of(emulator: DataAPIEmulator) -> int:
    return int(emulator.endpoint_url.rsplit(":", 1)[1])


def backends(pg: psycopg.Connection[Any], port: int) -> list[tuple[str, str]]:
    """(state, query) of the PostgreSQL sessions held by the emulator on ``port``."""
    rows = pg.execute(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = %s",
        [f"alex-db-dataapi:{port}"],
    ).fetchall()
    return [(str(state), str(query)) for state, query in rows]

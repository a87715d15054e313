"""Routes, response shapes, the error wire format and request validation (docs/data-api.md §1, §4.2)."""

from __future__ import annotations

import json
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ParamValidationError

from alex_db.testing.dataapi import DataAPIEmulator
from tests.dataapi.support import Api, error, http_json, raw_post


def test_execute_statement_route(api: Api) -> None:
    """§1 ExecuteStatement: POST /Execute answers 200 with the documented members."""
    response = api.client.execute_statement(**api.arns, sql="SELECT 1 AS one")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert response["ResponseMetadata"]["RequestId"]
    assert response["records"] == [[{"longValue": 1}]]
    assert response["numberOfRecordsUpdated"] == 0
    assert "columnMetadata" not in response  # includeResultMetadata defaults to false (§1.1)
    assert "formattedRecords" not in response


def test_batch_execute_route(api: Api, table: str) -> None:
    """§1 BatchExecuteStatement: POST /BatchExecute answers 200 with updateResults."""
    response = api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty) VALUES (:q)",
        parameterSets=[[{"name": "q", "value": {"longValue": 1}}]],
    )
    assert response == {"updateResults": [{"generatedFields": []}]}


def test_transaction_routes(api: Api) -> None:
    """§1.3: Begin returns an opaque id of at most 192 characters; Commit and Rollback their statuses."""
    first = api.begin()
    assert isinstance(first, str)
    assert 0 < len(first) <= 192
    assert api.commit(first) == {"transactionStatus": "Transaction Committed"}
    second = api.begin()
    assert second != first
    assert api.rollback(second) == {"transactionStatus": "Rollback Complete"}


def test_execute_sql_is_unsupported(api: Api) -> None:
    """§1.4: ExecuteSql is deprecated and not supported on v2 (answered as BadRequestException)."""
    exc = api.fails("ExecuteSql", sqlStatements="SELECT 1")
    code, status, message = error(exc)
    assert (code, status) == ("BadRequestException", 400)
    assert "ExecuteSql isn't supported" in message
    assert isinstance(exc, api.client.exceptions.BadRequestException)


def test_error_wire_format(api: Api) -> None:
    """§4.2: the code travels in x-amzn-ErrorType, the text in a {"message"} body, with the model's status."""
    exc = api.execute_fails("SELECT * FROM no_such_table_xyz")
    response: dict[str, Any] = exc.response  # type: ignore[assignment]
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "DatabaseErrorException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "DatabaseErrorException"
    assert response["Error"]["Message"].startswith(
        'ERROR: relation "no_such_table_xyz" does not exist'
    )
    # Modelled codes become the client's own exception classes.
    assert isinstance(exc, api.client.exceptions.DatabaseErrorException)


def test_unmodelled_code_is_a_plain_client_error(api: Api) -> None:
    """§4.2: ValidationException is not modelled; botocore raises a plain ClientError with that code."""
    exc = api.execute_fails("SELECT 1; SELECT 2")
    assert error(exc) == ("ValidationException", 400, "Multistatements aren't supported.")
    assert type(exc).__name__ == "ClientError"


def test_raw_error_body_is_message_only(emulator: DataAPIEmulator) -> None:
    """§4.2: the raw error body is exactly {"message": ...}; memberless shapes send {}."""
    arns = {"resourceArn": emulator.resource_arn, "secretArn": emulator.secret_arn}
    status, headers, body = raw_post(
        emulator.endpoint_url, "/Execute", {**arns, "sql": "SELECT 1; SELECT 2"}
    )
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert body == {"message": "Multistatements aren't supported."}
    emulator.fail_next(1, "DatabaseUnavailableException")
    status, headers, body = raw_post(emulator.endpoint_url, "/Execute", {**arns, "sql": "SELECT 1"})
    assert (status, headers["x-amzn-errortype"], body) == (504, "DatabaseUnavailableException", {})


def test_unknown_route(emulator: DataAPIEmulator) -> None:
    """§1: only the six operation routes exist; anything else is 404."""
    status, headers, _ = raw_post(emulator.endpoint_url, "/Nope", {})
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")


def test_unsigned_request_is_rejected(emulator: DataAPIEmulator) -> None:
    """§1: requests are SigV4-signed; one without an Authorization header is refused with 403."""
    arns = {"resourceArn": emulator.resource_arn, "secretArn": emulator.secret_arn}
    status, headers, body = raw_post(
        emulator.endpoint_url, "/Execute", {**arns, "sql": "SELECT 1"}, signed=False
    )
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    assert body == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize(
    ("body", "code", "pattern"),
    [
        (b"{not json", "SerializationException", "not valid JSON"),
        (b"[1, 2]", "SerializationException", "JSON object"),
        (
            {"secretArn": "x" * 20, "sql": "SELECT 1"},
            "ValidationException",
            "Value null at 'resourceArn'",
        ),
        (
            {"sql": 1, "resourceArn": "a" * 20, "secretArn": "b" * 20},
            "SerializationException",
            "sql",
        ),
        (
            {
                "resourceArn": "a" * 20,
                "secretArn": "b" * 20,
                "sql": "SELECT 1",
                "formatRecordsAs": "XML",
            },
            "ValidationException",
            r"'XML' at 'formatRecordsAs' .* enum value set: \[NONE, JSON\]",
        ),
        (
            {
                "resourceArn": "a" * 20,
                "secretArn": "b" * 20,
                "sql": "SELECT 1",
                "resultSetOptions": {"decimalReturnType": "FLOAT"},
            },
            "ValidationException",
            "resultSetOptions.decimalReturnType",
        ),
    ],
)
def test_malformed_requests(emulator: DataAPIEmulator, body: Any, code: str, pattern: str) -> None:
    """§1.1: the service validates what botocore does not (JSON shape, required members, enums)."""
    status, headers, payload = raw_post(emulator.endpoint_url, "/Execute", body)
    assert (status, headers["x-amzn-errortype"]) == (400, code)
    assert re.search(pattern, payload["message"])


def test_botocore_checks_minimum_lengths_client_side(api: Api) -> None:
    """§5.1: botocore enforces only min lengths (an ARN shorter than 11 never reaches the server)."""
    with pytest.raises(ParamValidationError):
        api.client.execute_statement(
            resourceArn="arn", secretArn=api.arns["secretArn"], sql="SELECT 1"
        )
    assert api.emulator.call_counts == {}


def test_call_counts(api: Api, table: str) -> None:
    """Issue 4: the emulator counts calls by operation, failed ones included."""
    api.execute("SELECT 1")
    api.execute_fails("SELECT 1; SELECT 2")
    transaction_id = api.begin()
    api.call(
        "BatchExecuteStatement",
        sql=f"INSERT INTO {table} (qty) VALUES (1)",
        parameterSets=[[]],
        transactionId=transaction_id,
    )
    api.rollback(transaction_id)
    assert api.emulator.call_counts == {
        "ExecuteStatement": 2,
        "BeginTransaction": 1,
        "BatchExecuteStatement": 1,
        "RollbackTransaction": 1,
    }
    api.emulator.reset_counts()
    assert api.emulator.call_counts == {}


def test_control_endpoints_over_http(api: Api) -> None:
    """Issue 4: another process drives faults and reads counters over /_emulator/..."""
    url = api.emulator.endpoint_url
    api.execute("SELECT 1")
    assert http_json(url, "GET", "/_emulator/calls") == (200, {"calls": {"ExecuteStatement": 1}})
    assert http_json(url, "DELETE", "/_emulator/calls") == (200, {"calls": {}})

    status, state = http_json(url, "POST", "/_emulator/faults", {"failNext": 2})
    assert (status, state["failNext"], state["code"]) == (200, 2, "DatabaseResumingException")
    assert error(api.execute_fails("SELECT 1"))[0] == "DatabaseResumingException"
    assert http_json(url, "GET", "/_emulator/faults")[1]["failNext"] == 1

    http_json(url, "POST", "/_emulator/faults", {"httpEndpointEnabled": False})
    assert error(api.execute_fails("SELECT 1"))[0] == "HttpEndpointNotEnabledException"
    http_json(url, "POST", "/_emulator/faults", {"httpEndpointEnabled": True, "secretValid": False})
    assert error(api.execute_fails("SELECT 1"))[0] == "InvalidSecretException"

    assert http_json(url, "DELETE", "/_emulator/faults") == (
        200,
        {
            "failNext": 0,
            "code": "DatabaseResumingException",
            "httpEndpointEnabled": True,
            "secretValid": True,
        },
    )
    assert api.execute("SELECT 1")["records"] == [[{"longValue": 1}]]

    status, info = http_json(url, "GET", "/_emulator")
    assert status == 200
    assert info == {
        "endpointUrl": url,
        "resourceArn": api.emulator.resource_arn,
        "secretArn": api.emulator.secret_arn,
        "openTransactions": 0,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"failNext": 1, "code": "NoSuchException"},
        {"failNext": "3"},
        {"bogus": 1},
        {"secretValid": "no"},
    ],
)
def test_control_endpoint_rejects_bad_settings(
    emulator: DataAPIEmulator, body: dict[str, Any]
) -> None:
    """Issue 4: fault settings are validated; only modelled codes can be injected."""
    status, payload = http_json(emulator.endpoint_url, "POST", "/_emulator/faults", body)
    assert status == 400
    assert payload["message"]
    assert http_json(emulator.endpoint_url, "GET", "/_emulator/faults")[1]["failNext"] == 0


def test_invalid_content_length(emulator: DataAPIEmulator) -> None:
    """§1: a request whose length cannot be read is refused and the connection closed."""
    url = urlsplit(emulator.endpoint_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /Execute HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 x\r\n"
            b"Content-Length: abc\r\n\r\n{}"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"x-amzn-ErrorType: SerializationException" in head
    assert json.loads(body) == {"message": "Invalid Content-Length"}


def _with_parameters(emulator: DataAPIEmulator, parameters: Any) -> dict[str, Any]:
    return {
        "resourceArn": emulator.resource_arn,
        "secretArn": emulator.secret_arn,
        "sql": "SELECT :p",
        "parameters": parameters,
    }


@pytest.mark.parametrize(
    ("parameters", "code", "text"),
    [
        ({"p": 1}, "SerializationException", "parameters: expected list"),
        (["p"], "SerializationException", "parameters.1.member must be an object"),
        (
            [{"name": "p", "value": {"longValue": 1, "stringValue": "1"}}],
            "ValidationException",
            "exactly one member",
        ),
        ([{"name": "p", "value": {}}], "ValidationException", "exactly one member"),
        (
            [{"name": "p", "value": {"intValue": 1}}],
            "SerializationException",
            "unexpected Field member 'intValue'",
        ),
        (
            [{"name": "p", "value": {"longValue": "1"}}],
            "SerializationException",
            "unexpected Field member",
        ),
        (
            [{"name": "p", "value": {"doubleValue": True}}],
            "SerializationException",
            "unexpected Field member",
        ),
        (
            [{"name": "p", "value": {"blobValue": "not base64!"}}],
            "SerializationException",
            "not base64",
        ),
    ],
)
def test_malformed_parameters(
    emulator: DataAPIEmulator, parameters: Any, code: str, text: str
) -> None:
    """§2.1: malformed SqlParameter lists and Field unions (which botocore would not send) are refused."""
    status, headers, body = raw_post(
        emulator.endpoint_url, "/Execute", _with_parameters(emulator, parameters)
    )
    assert (status, headers["x-amzn-errortype"]) == (400, code)
    assert text in body["message"]


def test_long_value_out_of_range(api: Api) -> None:
    """§2.1: longValue is a 64-bit integer; botocore does not check the range, the server does."""
    exc = api.execute_fails("SELECT :p", [{"name": "p", "value": {"longValue": 2**63}}])
    assert error(exc)[:2] == ("SerializationException", 400)


def test_parameter_without_value(api: Api) -> None:
    """§2.1: SqlParameter.value is optional in the model, but a parameter needs one."""
    exc = api.execute_fails("SELECT :p", [{"name": "p"}])
    assert error(exc) == (
        "ValidationException",
        400,
        "1 validation error detected: Value null at 'parameters.1.member.value' failed to "
        "satisfy constraint: Member must not be null",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_emulator/nothing"), ("POST", "/_emulator/calls"), ("DELETE", "/_emulator")],
)
def test_unknown_control_requests(emulator: DataAPIEmulator, method: str, path: str) -> None:
    """Issue 4: the control paths answer only what they define."""
    status, payload = http_json(
        emulator.endpoint_url, method, path, {} if method != "GET" else None
    )
    assert status in (404, 501)
    if status == 404:
        assert payload["message"]


def test_control_faults_invalid_json(emulator: DataAPIEmulator) -> None:
    """Issue 4: a fault request that is not JSON is refused."""
    status, _, body = raw_post(emulator.endpoint_url, "/_emulator/faults", b"{oops", signed=False)
    assert status == 400
    assert body["message"]


def test_malformed_parameter_set(emulator: DataAPIEmulator) -> None:
    """§1.2: each entry of parameterSets must itself be a list of SqlParameter."""
    body = {
        "resourceArn": emulator.resource_arn,
        "secretArn": emulator.secret_arn,
        "sql": "SELECT 1",
        "parameterSets": [{"name": "p"}],
    }
    status, headers, payload = raw_post(emulator.endpoint_url, "/BatchExecute", body)
    assert (status, headers["x-amzn-errortype"]) == (400, "SerializationException")
    assert payload["message"] == "parameterSets.1.member must be a list"
